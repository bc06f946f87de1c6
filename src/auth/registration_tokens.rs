//! Registration tokens: the validity check clients make before they
//! register, and the admin API that manages the tokens (Synapse's shapes
//! and validation).

use super::admin::require_admin;
use super::{Auth, Requester};
use crate::clock::{Random, Timestamp};
use crate::error::{Error, Result};
use crate::store::RegistrationToken;
use serde_json::{Map, Value};

/// Synapse's alphabet for tokens: `[A-Za-z0-9._~-]`.
fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-')
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_param(message)
}

fn is_valid(t: &RegistrationToken, now: Timestamp) -> bool {
    t.uses_allowed.is_none_or(|n| t.pending + t.completed < n)
        && t.expires_ts.is_none_or(|e| e > now)
}

impl Auth {
    /// `GET /_matrix/client/v1/register/m.login.registration_token/validity`.
    pub async fn registration_token_validity(&self, token: &str) -> Result<bool> {
        if !self.config.registration_requires_token {
            return Err(Error::forbidden("Registration tokens are not enabled"));
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
            .ok_or_else(|| Error::not_found(format!("No such registration token: {token}")))
    }

    /// `POST /_synapse/admin/v1/registration_tokens/new`.
    pub async fn create_registration_token(
        &self,
        requester: &Requester,
        body: &Map<String, Value>,
    ) -> Result<RegistrationToken> {
        require_admin(requester)?;
        let uses_allowed = self.uses_allowed(body)?.flatten();
        let expires_ts = self.expiry_time(body)?.flatten();
        let given = match body.get("token") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => {
                if t.is_empty() || t.len() > 64 {
                    return Err(invalid(
                        "token must not be empty and must not be longer than 64 characters",
                    ));
                }
                if !t.chars().all(allowed) {
                    return Err(invalid(
                        "token must consist only of characters matched by the regex [A-Za-z0-9._~-]",
                    ));
                }
                Some(t.clone())
            }
            Some(_) => return Err(invalid("token must be a string")),
        };
        let length = match body.get("length") {
            None => 16,
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.as_i64().unwrap_or(0),
            Some(_) => return Err(invalid("length must be an integer")),
        };
        if given.is_none() && !(1..=64).contains(&length) {
            return Err(invalid(
                "length must be greater than zero and not greater than 64",
            ));
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
                return Err(invalid(format!("Token already exists: {}", new.token)));
            }
        }
        Err(Error::internal(
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
            .ok_or_else(|| Error::not_found(format!("No such registration token: {token}")))
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
            return Err(Error::not_found(format!(
                "No such registration token: {token}"
            )));
        }
        Ok(())
    }

    /// `uses_allowed` of a body: absent → `None`; null → `Some(None)`.
    fn uses_allowed(&self, body: &Map<String, Value>) -> Result<Option<Option<i64>>> {
        match body.get("uses_allowed") {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n >= 0) => Ok(Some(n.as_i64())),
            Some(_) => Err(invalid(
                "uses_allowed must be a non-negative integer or null",
            )),
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
                    return Err(invalid("expiry_time must not be in the past"));
                }
                Ok(Some(Some(t)))
            }
            Some(_) => Err(invalid("expiry_time must be an integer or null")),
        }
    }
}

fn random_token(rng: &dyn Random, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";
    crate::clock::random_from(rng, len, ALPHABET)
}
