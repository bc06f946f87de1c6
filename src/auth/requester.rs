//! Request authentication: "whose request is this?". The hottest path of
//! the product: a checksum check, then the token cache (`token_cache.rs`)
//! or one indexed lookup, no database write (but one, once, for a token
//! issued with a refresh token: its first use ends the retry window of the
//! refresh token it replaced).

use super::identifiers::{stored_user_id, DeviceId, OwnedUserId};
use super::{macaroon, tokens, Auth};
use std::sync::Arc;

/// The authenticated user of a request. Its IDs are typed: they are read
/// from the store and parsed once here, so the rules never see a string
/// that is no user ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub user_id: OwnedUserId,
    pub device_id: Option<DeviceId>,
    pub token_id: i64,
    pub is_guest: bool,
    pub admin: bool,
    /// For a puppet token: the admin acting as `user_id`.
    pub puppet_owner: Option<OwnedUserId>,
    /// When the token expires, if it does.
    pub valid_until_ts: Option<i64>,
    /// Set for a request made with an application service's `as_token`.
    pub app_service_id: Option<String>,
    /// An OAuth grant's client and scope (space-separated, as granted);
    /// `None` for a legacy token (the full scope).
    pub oauth_client_id: Option<String>,
    pub scope: Option<String>,
}

/// Why a request does not identify a requester: what went wrong, for the
/// HTTP layer to say in the protocol of the endpoint (the Matrix error in
/// `http/error.rs`; an OAuth resource server would say `invalid_token`).
#[derive(Debug)]
pub enum AuthnError {
    /// No token where one is required (an application service's
    /// registration or login).
    MissingToken,
    /// Unknown, revoked or malformed, its user deactivated, or an
    /// application service's token from an address it may not use.
    UnknownToken,
    /// Expired: the client may log in again (a soft logout).
    Expired,
    /// Its user is locked.
    UserLocked,
    /// An application service masquerading as a user outside its namespaces.
    NotInNamespace,
    /// An application service masquerading as a user it has not registered.
    NotRegistered,
    /// An application service using a device its user does not have.
    UnknownDevice,
    /// The database failed (logged where it happened).
    Internal,
}

internal_error!(AuthnError, store);

/// What a locked user's token gets. Everywhere it answers
/// [`AuthnError::UserLocked`] (nothing is deleted: once unlocked, it works
/// again), but where the spec lets a locked user act: `POST /logout` and
/// `/logout/all` (Synapse's `allow_locked=True`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfLocked {
    Refuse,
    Allow,
}

/// The device every guest gets (Synapse's `GUEST_DEVICE_ID`): guests may
/// not choose their device ID, and a guest macaroon names none.
pub const GUEST_DEVICE_ID: &str = "guest_device";

impl Auth {
    /// Resolves an access token whose user is not locked
    /// ([`Auth::authenticate_token`] with [`IfLocked::Refuse`]).
    pub async fn authenticate(&self, token: &str) -> Result<Requester, AuthnError> {
        self.authenticate_token(token, IfLocked::Refuse).await
    }

    /// Resolves an access token: a well-formed `syt_` token (or a legacy
    /// macaroon imported from Synapse) from the token cache or by one indexed
    /// lookup; failing
    /// that, a Synapse guest macaroon by its signature. No database
    /// write: the token's use is recorded in the next batch; only the first
    /// use of a token issued with a refresh token is written at once.
    pub async fn authenticate_token(
        &self,
        token: &str,
        if_locked: IfLocked,
    ) -> Result<Requester, AuthnError> {
        let macaroon = !tokens::is_well_formed(token) && macaroon::looks_like_macaroon(token);
        if !macaroon && !tokens::is_well_formed(token) {
            return Err(AuthnError::UnknownToken);
        }
        let hash = tokens::hash_token(token);
        let owner = match self.token_cache.get(&hash) {
            Ok(owner) => owner,
            Err(ticket) => match self.store.access_tokens().get_token_owner(&hash).await? {
                Some(owner) => {
                    let owner = Arc::new(owner);
                    self.token_cache.insert(ticket, owner.clone());
                    owner
                }
                None if macaroon => return self.authenticate_guest_macaroon(token).await,
                None => return Err(AuthnError::UnknownToken),
            },
        };
        let now = self.now();
        if owner.valid_until_ts.is_some_and(|until| until <= now) {
            return Err(AuthnError::Expired);
        }
        if owner.user_deactivated {
            return Err(AuthnError::UnknownToken);
        }
        if owner.user_locked && if_locked == IfLocked::Refuse {
            return Err(AuthnError::UserLocked);
        }
        // A row no Matrix server could have written is refused as if it
        // were not there (and logged).
        let user_id = stored_user_id(&owner.user_id).ok_or(AuthnError::UnknownToken)?;
        let puppet_owner = match owner.puppet_owner.as_deref() {
            None => None,
            Some(p) => Some(stored_user_id(p).ok_or(AuthnError::UnknownToken)?),
        };
        if owner.refresh_token_id.is_some() && owner.first_used_ts.is_none() {
            self.store
                .access_tokens()
                .set_token_first_used(owner.token_id, now)
                .await?;
            self.token_cache.forget(&hash);
        }
        self.usage.record_token_use(owner.token_id, now);
        Ok(Requester {
            user_id,
            device_id: owner.device_id.clone().map(DeviceId::from_stored),
            token_id: owner.token_id,
            is_guest: owner.user_is_guest,
            admin: owner.user_admin,
            puppet_owner,
            valid_until_ts: owner.valid_until_ts,
            app_service_id: None,
            oauth_client_id: owner.oauth_client_id.clone(),
            scope: owner.scope.clone(),
        })
    }

    /// A guest token Synapse minted (not stored anywhere): valid while its
    /// user exists and is still a guest, as in Synapse.
    async fn authenticate_guest_macaroon(&self, token: &str) -> Result<Requester, AuthnError> {
        let key = self
            .config
            .macaroon_secret_key
            .as_ref()
            .ok_or(AuthnError::UnknownToken)?;
        let user_id = macaroon::verify_guest_token(token, key.expose().as_bytes(), self.now())
            .ok_or(AuthnError::UnknownToken)?;
        let user = self
            .store
            .users()
            .get_user(&user_id)
            .await?
            .filter(|u| u.is_guest && !u.deactivated)
            .ok_or(AuthnError::UnknownToken)?;
        Ok(Requester {
            user_id: stored_user_id(&user.user_id).ok_or(AuthnError::UnknownToken)?,
            // Every guest has this one device, as at Synapse.
            device_id: Some(DeviceId::from_stored(GUEST_DEVICE_ID.to_owned())),
            token_id: GUEST_MACAROON_TOKEN_ID,
            is_guest: true,
            admin: false,
            puppet_owner: None,
            valid_until_ts: None,
            app_service_id: None,
            oauth_client_id: None,
            scope: None,
        })
    }
}

/// Synapse's guest macaroons have no token row.
pub const GUEST_MACAROON_TOKEN_ID: i64 = -2;
