//! Request authentication: "whose request is this?". The hottest path of
//! the product: a checksum check, one indexed lookup, no database write.

use super::{macaroon, tokens, Auth};
use crate::error::{Error, Result};

/// The authenticated user of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub user_id: String,
    pub device_id: Option<String>,
    pub token_id: i64,
    pub is_guest: bool,
    pub admin: bool,
    /// For a puppet token: the admin acting as `user_id`.
    pub puppet_owner: Option<String>,
    /// When the token expires, if it does.
    pub valid_until_ts: Option<i64>,
    /// Set for a request made with an application service's `as_token`.
    pub app_service_id: Option<String>,
}

impl Auth {
    /// Resolves an access token: a well-formed `syt_` token (or a legacy
    /// macaroon imported from Synapse) by one indexed lookup; failing
    /// that, a Synapse guest macaroon by its signature. No database
    /// write: the token's use is recorded in the next batch.
    pub async fn authenticate(&self, token: &str) -> Result<Requester> {
        let macaroon = !tokens::is_well_formed(token) && macaroon::looks_like_macaroon(token);
        if !macaroon && !tokens::is_well_formed(token) {
            return Err(Error::unknown_token(false));
        }
        let owner = match self
            .store
            .access_tokens()
            .get_token_owner(&tokens::hash_token(token))
            .await?
        {
            Some(owner) => owner,
            None if macaroon => return self.authenticate_guest_macaroon(token).await,
            None => return Err(Error::unknown_token(false)),
        };
        let now = self.now();
        if owner.valid_until_ts.is_some_and(|until| until <= now) {
            return Err(Error::unknown_token(true));
        }
        if owner.user_deactivated {
            return Err(Error::unknown_token(false));
        }
        if owner.user_locked {
            return Err(super::login::user_locked());
        }
        self.usage.record_token_use(owner.token_id, now);
        Ok(Requester {
            user_id: owner.user_id,
            device_id: owner.device_id,
            token_id: owner.token_id,
            is_guest: owner.user_is_guest,
            admin: owner.user_admin,
            puppet_owner: owner.puppet_owner,
            valid_until_ts: owner.valid_until_ts,
            app_service_id: None,
        })
    }

    /// A guest token Synapse minted (not stored anywhere): valid while its
    /// user exists and is still a guest, as in Synapse.
    async fn authenticate_guest_macaroon(&self, token: &str) -> Result<Requester> {
        let key = self
            .config
            .macaroon_secret_key
            .as_ref()
            .ok_or_else(|| Error::unknown_token(false))?;
        let user_id = macaroon::verify_guest_token(token, key.expose().as_bytes(), self.now())
            .ok_or_else(|| Error::unknown_token(false))?;
        let user = self
            .store
            .users()
            .get_user(&user_id)
            .await?
            .filter(|u| u.is_guest && !u.deactivated)
            .ok_or_else(|| Error::unknown_token(false))?;
        Ok(Requester {
            user_id: user.user_id,
            device_id: None,
            token_id: GUEST_MACAROON_TOKEN_ID,
            is_guest: true,
            admin: false,
            puppet_owner: None,
            valid_until_ts: None,
            app_service_id: None,
        })
    }
}

/// Synapse's guest macaroons have no token row.
pub const GUEST_MACAROON_TOKEN_ID: i64 = -2;
