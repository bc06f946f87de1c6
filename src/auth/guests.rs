//! Guest access, as Synapse does it: `POST /register?kind=guest` (no UIA,
//! a generated numeric user ID, the device `guest_device`), and upgrading
//! a guest to a normal account by registering its localpart with
//! `guest_access_token` in the body (Synapse's `check_username` and
//! `register_user(guest_access_token=…)`). Which endpoints guests may use
//! is decided by the HTTP extractors (`Authed` refuses them).

use super::identifiers::{local_localpart, user_id};
use super::register_error::RegisterError;
use super::{tokens, Auth, Session};
use crate::store::NewUser;
use serde_json::{Map, Value};

pub use super::requester::GUEST_DEVICE_ID;

/// The body key naming the guest being upgraded. Kept in the UIA session
/// only as the token's SHA-256 (hex): tokens are never stored as sent.
const GUEST_TOKEN_KEY: &str = "guest_access_token";

type Result<T> = std::result::Result<T, RegisterError>;

impl Auth {
    /// `POST /register?kind=guest`: allowed by `allow_guest_access` alone
    /// (not by `enable_registration`, as in Synapse).
    #[tracing::instrument(skip_all)]
    pub async fn register_guest(&self, body: &Map<String, Value>) -> Result<Session> {
        if !self.config.allow_guest_access {
            return Err(RegisterError::GuestAccessDisabled);
        }
        self.check_auth_blocking(None).await?;
        let display_name = match body.get("initial_device_display_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(RegisterError::NotAString("initial_device_display_name")),
        };
        if let Some(name) = display_name {
            super::check_device_display_name(name)?;
        }
        let user_id = self.create_guest_user().await?;
        let device = super::identifiers::DeviceId::parse(GUEST_DEVICE_ID)?;
        Ok(self
            .start_session(
                &user_id,
                Some(device),
                display_name,
                &super::SessionOptions::default(),
            )
            .await?)
    }

    /// A new guest with a generated ten-digit localpart and no password.
    async fn create_guest_user(&self) -> Result<String> {
        let mut new = NewUser {
            is_guest: true,
            created_ts: self.now(),
            ..NewUser::default()
        };
        for _ in 0..20 {
            let mut bytes = [0u8; 8];
            self.rng.fill(&mut bytes);
            let n = 1_000_000_000 + u64::from_le_bytes(bytes) % 9_000_000_000;
            new.user_id = user_id(&n.to_string(), self.server_name());
            if self.store.users().create_user(&new).await? {
                return Ok(new.user_id);
            }
        }
        Err(RegisterError::internal(
            "could not generate a free guest user ID",
        ))
    }

    /// Before UIA: when the body carries `guest_access_token`, checks that
    /// it is a live token of the guest `localpart` (401 for an unknown
    /// token, 403 M_FORBIDDEN for another user's or a non-guest's) and
    /// answers true: the taken username is then fine. False without one.
    pub(crate) async fn check_guest_upgrade(
        &self,
        localpart: &str,
        raw_body: &Map<String, Value>,
    ) -> Result<bool> {
        let token = match raw_body.get(GUEST_TOKEN_KEY) {
            None | Some(Value::Null) => return Ok(false),
            Some(Value::String(t)) => t,
            Some(_) => return Err(RegisterError::NotAString("guest_access_token")),
        };
        if !tokens::is_well_formed(token) {
            return Err(RegisterError::UnknownGuestToken);
        }
        self.guest_of_token_hash(&tokens::hash_token(token), localpart)
            .await?;
        Ok(true)
    }

    /// The user ID of the guest whose token has this hash, when it is the
    /// guest `localpart`.
    async fn guest_of_token_hash(&self, hash: &[u8], localpart: &str) -> Result<String> {
        let owner = self
            .store
            .access_tokens()
            .get_token_owner(hash)
            .await?
            .ok_or(RegisterError::UnknownGuestToken)?;
        if owner.user_deactivated || owner.valid_until_ts.is_some_and(|u| u <= self.now()) {
            return Err(RegisterError::UnknownGuestToken);
        }
        if !owner.user_is_guest
            || owner.puppet_owner.is_some()
            || local_localpart(&owner.user_id, self.server_name()) != Some(localpart)
        {
            return Err(RegisterError::NotThisGuest);
        }
        Ok(owner.user_id)
    }

    /// After UIA: when the session's body names a guest to upgrade (and a
    /// username), the guest's user ID; `None` when this is no upgrade. The
    /// registration's transaction makes it a normal user.
    pub(crate) async fn guest_to_upgrade(
        &self,
        params: &Map<String, Value>,
        username: Option<&str>,
    ) -> Result<Option<String>> {
        let (Some(Value::String(hash_hex)), Some(username)) =
            (params.get(GUEST_TOKEN_KEY), username)
        else {
            return Ok(None);
        };
        let hash = hex::decode(hash_hex).map_err(|_| RegisterError::NotThisGuest)?;
        let guest = self
            .guest_of_token_hash(&hash, &username.to_lowercase())
            .await?;
        Ok(Some(guest))
    }
}

/// The registration body as UIA keeps it: `guest_access_token` replaced by
/// its SHA-256 in hex (the same for every request of a session, so the
/// "no key may change" rule still holds).
pub(crate) fn hide_guest_token(body: &Map<String, Value>) -> Map<String, Value> {
    let mut body = body.clone();
    if let Some(Value::String(token)) = body.get(GUEST_TOKEN_KEY) {
        let hashed = hex::encode(tokens::hash_token(token));
        body.insert(GUEST_TOKEN_KEY.to_owned(), Value::String(hashed));
    }
    body
}
