//! The admin API's rules: shared-secret registration (Synapse's nonce +
//! HMAC-SHA1 scheme), admin status, puppet tokens and Synapse's
//! `override_ratelimit`. They refuse with [`AdminError`] (and
//! [`NotAdmin`], the check every admin API shares), which the HTTP layer
//! renders as Matrix errors (`http/error/admin.rs`).

use super::blocking::Blocked;
use super::identifiers::{is_local, UserId};
use super::password::HashError;
use super::register::RegisterError;
use super::session::SessionError;
use super::{Auth, Requester, Session};
use crate::clock::random_string;
use crate::store::{RateLimitOverride, StoreResult};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// How long a nonce may be used after it was handed out.
pub const NONCE_LIFETIME_MS: i64 = 60_000;
/// At most this many nonces are kept (anyone may ask for one); a new one
/// beyond it drops the oldest.
pub const MAX_OUTSTANDING_NONCES: i64 = 1000;
/// The user types Synapse knows.
pub const USER_TYPES: &[&str] = &["support", "bot"];

/// A parsed `POST /_synapse/admin/v1/register` body.
pub struct SharedSecretRegistration {
    pub nonce: String,
    pub username: String,
    pub password: super::password::Password,
    pub admin: bool,
    pub user_type: Option<String>,
    pub displayname: Option<String>,
    pub mac: String,
}

/// The MAC Synapse defines: HMAC-SHA1 over `nonce\0username\0password\0admin|notadmin[\0user_type]`, hex.
pub fn registration_mac(
    secret: &str,
    nonce: &str,
    username: &str,
    password: &str,
    admin: bool,
    user_type: Option<&str>,
) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(nonce.as_bytes());
    mac.update(b"\x00");
    mac.update(username.as_bytes());
    mac.update(b"\x00");
    mac.update(password.as_bytes());
    mac.update(b"\x00");
    mac.update(if admin { b"admin" } else { b"notadmin" });
    if let Some(t) = user_type {
        mac.update(b"\x00");
        mac.update(t.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

impl Auth {
    fn shared_secret(&self) -> Result<&str, AdminError> {
        self.config
            .registration_shared_secret
            .as_ref()
            .map(|s| s.expose())
            .ok_or(AdminError::SharedSecretDisabled)
    }

    /// `GET /_synapse/admin/v1/register`: a single-use nonce, kept in the
    /// database so that any process can take it.
    pub async fn new_registration_nonce(&self) -> Result<String, AdminError> {
        self.shared_secret()?;
        let nonce = random_string(self.rng.as_ref(), 64);
        self.store
            .registration()
            .create_registration_nonce(&nonce, self.now())
            .await?;
        self.store
            .registration()
            .trim_registration_nonces(MAX_OUTSTANDING_NONCES)
            .await?;
        Ok(nonce)
    }

    /// Deletes the nonces too old to be used; returns how many went.
    pub async fn sweep_registration_nonces(&self) -> StoreResult<u64> {
        self.store
            .registration()
            .sweep_registration_nonces(self.now() - NONCE_LIFETIME_MS)
            .await
    }

    /// `POST /_synapse/admin/v1/register`.
    #[tracing::instrument(skip_all)]
    pub async fn register_with_shared_secret(
        &self,
        req: SharedSecretRegistration,
    ) -> Result<Session, AdminError> {
        let secret = self.shared_secret()?;
        let fresh_since = self.now() - NONCE_LIFETIME_MS;
        if !self
            .store
            .registration()
            .take_registration_nonce(&req.nonce, fresh_since)
            .await?
        {
            return Err(AdminError::UnknownNonce);
        }
        if req.username.chars().count() > 512 || req.username.contains('\0') {
            return Err(AdminError::InvalidUsername);
        }
        if req.password.chars().count() > 512 || req.password.contains('\0') {
            return Err(AdminError::InvalidPassword);
        }
        check_user_type(req.user_type.as_deref())?;
        let want = registration_mac(
            secret,
            &req.nonce,
            &req.username,
            &req.password,
            req.admin,
            req.user_type.as_deref(),
        );
        let got = req.mac.to_ascii_lowercase();
        if !bool::from(want.as_bytes().ct_eq(got.as_bytes())) {
            return Err(AdminError::BadMac);
        }
        let hash = self.hash_password(&req.password).await?;
        let user_id = self
            .create_user_by_admin(
                &req.username,
                Some(hash),
                req.admin,
                req.user_type,
                req.displayname,
            )
            .await?;
        Ok(self
            .open_session(&user_id, None, None, &super::SessionOptions::default())
            .await?)
    }

    /// Creates a user on an admin's word (no registration rules but the
    /// localpart's).
    pub async fn create_user_by_admin(
        &self,
        localpart: &str,
        password_hash: Option<String>,
        admin: bool,
        user_type: Option<String>,
        displayname: Option<String>,
    ) -> Result<String, AdminError> {
        check_user_type(user_type.as_deref())?;
        // As Synapse's `register_user`: named after the localpart unless
        // a name is given.
        let displayname = displayname.or_else(|| Some(localpart.to_lowercase()));
        // One statement: never a user without the admin flag or type asked for.
        let new = crate::store::NewUser {
            password_hash,
            admin,
            user_type,
            displayname: displayname.clone(),
            ..crate::store::NewUser::default()
        };
        let user_id = self.create_local_user_as(Some(localpart), new).await?;
        self.provision_new_user(&user_id, displayname.as_deref())
            .await?;
        Ok(user_id)
    }
}

impl Auth {
    /// `POST /_synapse/admin/v1/users/{user_id}/login`: a token with which
    /// an admin acts as `user_id` (a puppet token). It has no device and
    /// remembers the admin who made it; `valid_until_ts` bounds it.
    pub async fn login_as_user(
        &self,
        requester: &Requester,
        user_id: &UserId,
        valid_until_ts: Option<i64>,
    ) -> Result<super::tokens::IssuedToken, AdminError> {
        require_admin(requester)?;
        if !is_local(user_id, self.server_name()) {
            return Err(AdminError::PuppetOfRemoteUser);
        }
        let localpart = user_id.localpart();
        if requester.user_id == user_id {
            return Err(AdminError::PuppetOfSelf);
        }
        if self
            .store
            .users()
            .get_user(user_id.as_str())
            .await?
            .is_none()
        {
            return Err(AdminError::UnknownPuppet);
        }
        // As Synapse: the token is the admin's, so the admin is checked.
        self.check_auth_blocking(Some(requester.user_id.as_str()))
            .await?;
        let token = super::tokens::generate(
            super::tokens::ACCESS_TOKEN_PREFIX,
            localpart,
            self.rng.as_ref(),
        );
        self.store
            .access_tokens()
            .create_access_token(&crate::store::NewAccessToken {
                token_hash: token.hash(),
                user_id: user_id.to_string(),
                device_id: None,
                puppet_owner: Some(requester.user_id.to_string()),
                created_ts: self.now(),
                valid_until_ts,
                ..Default::default()
            })
            .await?;
        tracing::info!(admin = %requester.user_id, %user_id, "puppet token created");
        Ok(token)
    }
    /// Synapse's `override_ratelimit` admin API: the user's override, if
    /// any (`None` to read, `Some(Some(v))` to set, `Some(None)` to delete).
    /// Kept for the homeserver's limits on logged-in users; it lifts none
    /// of mxauth's (see `auth::ratelimit`).
    pub async fn ratelimit_override(
        &self,
        requester: &Requester,
        user_id: &UserId,
        change: Option<Option<RateLimitOverride>>,
    ) -> Result<Option<RateLimitOverride>, AdminError> {
        require_admin(requester)?;
        if !is_local(user_id, self.server_name()) {
            return Err(AdminError::OverrideOfRemoteUser);
        }
        let user_id = user_id.as_str();
        if self.store.users().get_user(user_id).await?.is_none() {
            return Err(AdminError::UnknownOverrideUser);
        }
        match change {
            None => Ok(self
                .store
                .rate_limits()
                .get_ratelimit_override(user_id)
                .await?),
            Some(Some(value)) => {
                self.store
                    .rate_limits()
                    .set_ratelimit_override(user_id, value)
                    .await?;
                tracing::info!(admin = %requester.user_id, user_id, "rate-limit override set");
                Ok(Some(value))
            }
            Some(None) => {
                self.store
                    .rate_limits()
                    .delete_ratelimit_override(user_id)
                    .await?;
                Ok(None)
            }
        }
    }
}

/// A `user_type` must be one Synapse knows.
pub fn check_user_type(user_type: Option<&str>) -> Result<(), AdminError> {
    match user_type {
        Some(t) if !USER_TYPES.contains(&t) => Err(AdminError::InvalidUserType),
        _ => Ok(()),
    }
}

/// Every admin API asks this first: is the requester a server admin?
pub fn require_admin(requester: &Requester) -> Result<(), NotAdmin> {
    if requester.admin {
        Ok(())
    } else {
        Err(NotAdmin)
    }
}

/// The requester is not a server admin (nor, for `whois`, the user asked
/// about).
#[derive(Debug)]
pub struct NotAdmin;

/// Why an admin API refuses.
#[derive(Debug)]
pub enum AdminError {
    /// `registration_shared_secret` is not configured.
    SharedSecretDisabled,
    /// The nonce was never handed out, is used, or is too old.
    UnknownNonce,
    /// A shared-secret registration's username is over 512 characters or
    /// holds a NUL.
    InvalidUsername,
    /// A shared-secret registration's password is over 512 characters or
    /// holds a NUL.
    InvalidPassword,
    /// A `user_type` Synapse does not know.
    InvalidUserType,
    /// The registration's MAC is not the one the shared secret gives.
    BadMac,
    /// See [`NotAdmin`].
    NotAdmin,
    /// A puppet token for a user of another server, or for what is no user
    /// ID at all.
    PuppetOfRemoteUser,
    /// A puppet token for the admin asking.
    PuppetOfSelf,
    /// A puppet token for a local user who does not exist.
    UnknownPuppet,
    /// `override_ratelimit` of a user of another server, or of what is no
    /// user ID at all.
    OverrideOfRemoteUser,
    /// `override_ratelimit` of a local user who does not exist.
    UnknownOverrideUser,
    /// `whois` of a user of another server, or of what is no user ID at
    /// all.
    WhoisOfRemoteUser,
    /// The new password cannot be hashed (too long, queue full).
    Hash(HashError),
    /// Auth blocking refuses the admin a puppet token.
    Blocked(Blocked),
    /// The registration rules refuse the new user (its localpart, user
    /// in use).
    Register(RegisterError),
    /// No session could be opened for the new user.
    Session(SessionError),
    /// Logged where it happened.
    Internal,
}

internal_error!(AdminError, store);

impl AdminError {}

impl From<NotAdmin> for AdminError {
    fn from(NotAdmin: NotAdmin) -> Self {
        AdminError::NotAdmin
    }
}

wrap_error!(HashError => AdminError::Hash, HashError::Internal);

wrap_error!(Blocked => AdminError::Blocked, Blocked::Internal);

wrap_error!(RegisterError => AdminError::Register, RegisterError::Internal);

wrap_error!(SessionError => AdminError::Session, SessionError::Internal);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_matches_synapse_definition() {
        // Computed with Python: hmac.new(b"secret", b"abc\x00alice\x00pw\x00admin", hashlib.sha1).hexdigest()
        assert_eq!(
            registration_mac("secret", "abc", "alice", "pw", true, None),
            "dc5ed98b283077684552e3f72d67f26b3366bf58"
        );
        assert_eq!(
            registration_mac("secret", "abc", "alice", "pw", false, Some("bot")),
            "24aa4ce0a91cc14c8d7b06e2c344d3d698805c6e"
        );
    }
}
