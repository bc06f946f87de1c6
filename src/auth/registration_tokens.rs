//! Registration tokens: the validity check clients make before they
//! register, and the admin API that manages the tokens (Synapse's shapes
//! and validation). They refuse with [`RegistrationTokenError`], rendered
//! as Matrix errors by `http/error/registration_tokens.rs`.

use super::admin::{require_admin, NotAdmin};
use super::{Auth, Requester};
use crate::clock::{Random, Timestamp};
use crate::store::RegistrationToken;
use serde_json::{Map, Value};

type Result<T, E = RegistrationTokenError> = std::result::Result<T, E>;

/// Why the validity check or the registration-token admin API refuses.
#[derive(Debug)]
pub enum RegistrationTokenError {
    /// `registration_requires_token` is off: there is no validity to check.
    Disabled,
    /// The requester is not a server admin.
    NotAdmin,
    /// No token of this name (the name, as asked for).
    UnknownToken(String),
    /// A chosen `token` is empty or longer than 64 characters.
    TokenLength,
    /// A chosen `token` has a character outside `[A-Za-z0-9._~-]`.
    TokenCharacters,
    /// `token` is neither a string nor null.
    TokenNotString,
    /// `length` is not an integer.
    LengthNotInteger,
    /// `length` (of a generated token) is not within 1..=64.
    LengthOutOfRange,
    /// A chosen `token` exists already (its name).
    TokenExists(String),
    /// `uses_allowed` is neither a non-negative integer nor null.
    InvalidUsesAllowed,
    /// `expiry_time` is in the past.
    ExpiryInPast,
    /// `expiry_time` is neither an integer nor null.
    InvalidExpiryTime,
    /// Logged where it happened.
    Internal,
}

internal_error!(RegistrationTokenError, store);

impl From<NotAdmin> for RegistrationTokenError {
    fn from(NotAdmin: NotAdmin) -> Self {
        RegistrationTokenError::NotAdmin
    }
}

/// Synapse's alphabet for tokens: `[A-Za-z0-9._~-]`.
fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-')
}

fn is_valid(t: &RegistrationToken, now: Timestamp) -> bool {
    t.uses_allowed.is_none_or(|n| t.pending + t.completed < n)
        && t.expires_ts.is_none_or(|e| e > now)
}

impl Auth {
    /// `GET /_matrix/client/v1/register/m.login.registration_token/validity`.
    pub async fn registration_token_validity(&self, token: &str) -> Result<bool> {
        if !self.config.registration_requires_token {
            return Err(RegistrationTokenError::Disabled);
        }
        Ok(self
            .store
            .registration()
            .get_registration_token(token)
            .await?
            .is_some_and(|t| is_valid(&t, self.now())))
    }

    /// `GET /_synapse/admin/v1/registration_tokens[?valid=true|false]`.
    pub async fn list_registration_tokens(
        &self,
        requester: &Requester,
        valid: Option<bool>,
    ) -> Result<Vec<RegistrationToken>> {
        require_admin(requester)?;
        let now = self.now();
        let mut tokens = self.store.registration().list_registration_tokens().await?;
        if let Some(want) = valid {
            tokens.retain(|t| is_valid(t, now) == want);
        }
        Ok(tokens)
    }

    pub async fn get_registration_token(
        &self,
        requester: &Requester,
        token: &str,
    ) -> Result<RegistrationToken> {
        require_admin(requester)?;
        self.store
            .registration()
            .get_registration_token(token)
            .await?
            .ok_or_else(|| RegistrationTokenError::UnknownToken(token.to_owned()))
    }

    /// `POST /_synapse/admin/v1/registration_tokens/new`.
    pub async fn create_registration_token(
        &self,
        requester: &Requester,
        body: &Map<String, Value>,
    ) -> Result<RegistrationToken> {
        require_admin(requester)?;
        self.create_registration_token_for_admin(body).await
    }

    /// A new registration token from the admin API's body (`token`,
    /// `length`, `uses_allowed`, `expiry_time`), for a caller known to be
    /// an admin (the admin API's requester, or the command line).
    pub async fn create_registration_token_for_admin(
        &self,
        body: &Map<String, Value>,
    ) -> Result<RegistrationToken> {
        let uses_allowed = self.uses_allowed(body)?.flatten();
        let expires_ts = self.expiry_time(body)?.flatten();
        let given = match body.get("token") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => {
                if t.is_empty() || t.len() > 64 {
                    return Err(RegistrationTokenError::TokenLength);
                }
                if !t.chars().all(allowed) {
                    return Err(RegistrationTokenError::TokenCharacters);
                }
                Some(t.clone())
            }
            Some(_) => return Err(RegistrationTokenError::TokenNotString),
        };
        let length = match body.get("length") {
            None => 16,
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.as_i64().unwrap_or(0),
            Some(_) => return Err(RegistrationTokenError::LengthNotInteger),
        };
        if given.is_none() && !(1..=64).contains(&length) {
            return Err(RegistrationTokenError::LengthOutOfRange);
        }
        for _ in 0..10 {
            let token = match &given {
                Some(t) => t.clone(),
                None => random_token(self.rng.as_ref(), length as usize),
            };
            let new = RegistrationToken {
                token,
                uses_allowed,
                pending: 0,
                completed: 0,
                expires_ts,
            };
            if self
                .store
                .registration()
                .create_registration_token(&new)
                .await?
            {
                return Ok(new);
            }
            if given.is_some() {
                return Err(RegistrationTokenError::TokenExists(new.token));
            }
        }
        Err(RegistrationTokenError::internal(
            "could not generate a free registration token",
        ))
    }

    /// `PUT /_synapse/admin/v1/registration_tokens/{token}`.
    pub async fn update_registration_token(
        &self,
        requester: &Requester,
        token: &str,
        body: &Map<String, Value>,
    ) -> Result<RegistrationToken> {
        require_admin(requester)?;
        let uses_allowed = self.uses_allowed(body)?;
        let expires_ts = self.expiry_time(body)?;
        self.store
            .registration()
            .update_registration_token(token, uses_allowed, expires_ts)
            .await?
            .ok_or_else(|| RegistrationTokenError::UnknownToken(token.to_owned()))
    }

    /// `DELETE /_synapse/admin/v1/registration_tokens/{token}`.
    pub async fn delete_registration_token(
        &self,
        requester: &Requester,
        token: &str,
    ) -> Result<()> {
        require_admin(requester)?;
        if !self
            .store
            .registration()
            .delete_registration_token(token)
            .await?
        {
            return Err(RegistrationTokenError::UnknownToken(token.to_owned()));
        }
        Ok(())
    }

    /// `uses_allowed` of a body: absent → `None`; null → `Some(None)`.
    fn uses_allowed(&self, body: &Map<String, Value>) -> Result<Option<Option<i64>>> {
        match body.get("uses_allowed") {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n >= 0) => Ok(Some(n.as_i64())),
            Some(_) => Err(RegistrationTokenError::InvalidUsesAllowed),
        }
    }

    /// `expiry_time` of a body, the wire name of `expires_ts` (milliseconds,
    /// not in the past).
    fn expiry_time(&self, body: &Map<String, Value>) -> Result<Option<Option<i64>>> {
        match body.get("expiry_time") {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
                let t = n.as_i64().unwrap_or(i64::MAX);
                if t < self.now() {
                    return Err(RegistrationTokenError::ExpiryInPast);
                }
                Ok(Some(Some(t)))
            }
            Some(_) => Err(RegistrationTokenError::InvalidExpiryTime),
        }
    }
}

fn random_token(rng: &dyn Random, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";
    crate::clock::random_from(rng, len, ALPHABET)
}
