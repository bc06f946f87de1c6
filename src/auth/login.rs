//! Password login, and the password check that UIA's `m.login.password`
//! shares with it. Unknown users and wrong passwords look the same to the
//! client, in body and in time.

use super::identifiers::{qualify, DeviceId, UserIdentifier};
use super::password::Verified;
use super::ratelimit::{address_key, Limiter};
use super::{Auth, Session};
use crate::error::{ErrCode, Error, Result};
use crate::store::User;

pub const LOGIN_TYPE_PASSWORD: &str = "m.login.password";
pub const APP_SERVICE_LOGIN_TYPE: &str = "m.login.application_service";

impl Auth {
    /// The login types `GET /login` offers: `m.login.password` when
    /// passwords may log in (checked locally or by a provider), then the
    /// providers' types.
    pub fn login_flows(&self) -> Vec<&str> {
        let mut flows = Vec::new();
        let pc = &self.config.password_config;
        if pc.login_enabled()
            && (pc.localdb_enabled || self.providers.fields(LOGIN_TYPE_PASSWORD).is_some())
        {
            flows.push(LOGIN_TYPE_PASSWORD);
        }
        flows.extend(self.provider_login_types());
        if !self.app_services.is_empty() {
            flows.push(APP_SERVICE_LOGIN_TYPE);
        }
        flows
    }

    /// `POST /login` with `m.login.password` or a provider's login type.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        login_type: &str,
        body: &serde_json::Map<String, serde_json::Value>,
        device_id: Option<DeviceId>,
        initial_device_display_name: Option<&str>,
    ) -> Result<Session> {
        let key = failed_attempts_key(login_type, body, self.server_name());
        self.with_failed_attempts(
            key.as_deref(),
            self.login_through_providers(login_type, body, device_id, initial_device_display_name),
        )
        .await
    }

    /// `m.login.application_service`: an application service logs in one
    /// of its users, or its sender, with its `as_token`, from an address
    /// its `ip_range_whitelist` allows (`ip`: the client's).
    pub async fn login_as_app_service(
        &self,
        token: Option<&str>,
        ip: Option<&str>,
        identifier: &UserIdentifier,
        device_id: Option<DeviceId>,
        display_name: Option<&str>,
    ) -> Result<Session> {
        let service = self.require_app_service(token, ip)?;
        let UserIdentifier::User(typed) = identifier else {
            return Err(Error::new(
                400,
                ErrCode::Unknown,
                "Unknown login identifier type",
            ));
        };
        let refuse = || Error::forbidden("This application service cannot log in as this user");
        let uid = qualify(typed, self.server_name()).ok_or_else(refuse)?;
        if !service.is_interested_in_user(&uid, self.server_name()) {
            return Err(refuse());
        }
        if uid == super::identifiers::user_id(&service.config.sender_localpart, self.server_name())
        {
            self.ensure_app_service_sender(service).await?;
        }
        let user = self
            .store
            .users()
            .get_user(&uid)
            .await?
            .ok_or_else(refuse)?;
        if user.deactivated {
            return Err(user_deactivated());
        }
        if service.config.rate_limited {
            self.start_login_session(&uid, None, device_id, display_name)
                .await
        } else {
            self.start_session(&uid, device_id, display_name).await
        }
    }

    /// `rc_login.address`, before any credential of a `/login` is looked
    /// at; an application service's login (its `as_token` in `token`) is
    /// exempt when its registration says `rate_limited: false`.
    pub async fn limit_login_address(
        &self,
        ip: Option<&str>,
        app_service_token: Option<&str>,
    ) -> Result<()> {
        if let Some(token) = app_service_token {
            if self
                .app_service_by_token(token)
                .is_some_and(|s| !s.config.rate_limited)
            {
                return Ok(());
            }
        }
        self.ratelimit(Limiter::LoginAddress, address_key(ip)).await
    }

    /// Checks a password for the user an identifier names. `Ok(None)` for
    /// bad credentials (unknown user, wrong password, a deactivated
    /// account's wrong password), after the same work each time; only the
    /// right password learns that an account is deactivated or locked
    /// (errors of their own, as the spec says). A good bcrypt hash is
    /// upgraded to argon2id. Answers the user and the credentials version
    /// of the hash verified.
    pub(crate) async fn check_password(
        &self,
        identifier: &UserIdentifier,
        password: &str,
    ) -> Result<Option<(String, i64)>> {
        let user = match identifier {
            UserIdentifier::User(typed) => self.find_user_for_login(typed).await?,
            UserIdentifier::ThirdParty { medium, address } => {
                self.find_user_by_threepid(medium, address).await?
            }
            // No phone numbers are bound to accounts.
            UserIdentifier::Phone { .. } => None,
        };
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let verified = self.hasher.verify(password, stored).await?;
        let Some(user) = user else { return Ok(None) };
        let Verified::Yes { rehash } = verified else {
            return Ok(None);
        };
        if user.deactivated {
            return Err(user_deactivated());
        }
        if user.locked {
            return Err(user_locked());
        }
        if rehash {
            let hash = self.hash_password(password).await?;
            // Not over a password changed meanwhile.
            if self
                .store
                .users()
                .upgrade_password_hash(&user.user_id, user.credentials_version, &hash)
                .await?
            {
                tracing::info!(user_id = %user.user_id, "password hash upgraded to argon2id");
            }
        }
        Ok(Some((user.user_id, user.credentials_version)))
    }

    /// The user a typed name means: the exact ID if it exists, else the one
    /// user whose ID matches case-insensitively (several: none).
    async fn find_user_for_login(&self, typed: &str) -> Result<Option<User>> {
        let Some(candidate) = qualify(typed, self.server_name()) else {
            return Ok(None);
        };
        let mut users = self
            .store
            .users()
            .get_users_case_insensitive(&candidate)
            .await?;
        if let Some(i) = users.iter().position(|u| u.user_id == candidate) {
            return Ok(Some(users.swap_remove(i)));
        }
        if users.len() == 1 {
            return Ok(users.pop());
        }
        if users.len() > 1 {
            tracing::warn!("several users match a login case-insensitively; refusing");
        }
        Ok(None)
    }
}

/// 403 M_USER_DEACTIVATED: the spec's answer to a login of a deactivated account.
pub(crate) fn user_deactivated() -> Error {
    Error::new(
        403,
        ErrCode::UserDeactivated,
        "This account has been deactivated",
    )
}

/// 401 M_USER_LOCKED with `soft_logout`, as the spec says for locked accounts.
pub(crate) fn user_locked() -> Error {
    Error::new(401, ErrCode::UserLocked, "User account has been locked")
        .with_extra("soft_logout", true)
}

/// A deactivated or locked account gets no new session.
pub(crate) fn check_may_log_in(user: &User) -> Result<()> {
    if user.deactivated {
        return Err(user_deactivated());
    }
    if user.locked {
        return Err(user_locked());
    }
    Ok(())
}

/// The `rc_login.failed_attempts` bucket of a login: the lower-cased full
/// user ID it names (`alice`, `@Alice:hs` and `ALICE` are one bucket,
/// whether or not the user exists), or the canonical address of a login by
/// email. `None` for a login without an identifier (JWT) or with one that
/// does not parse (it fails before any credential is checked).
pub(crate) fn failed_attempts_key(
    login_type: &str,
    body: &serde_json::Map<String, serde_json::Value>,
    server_name: &str,
) -> Option<String> {
    if login_type == super::providers::jwt::LOGIN_TYPE_JWT {
        return None;
    }
    match super::identifiers::parse_identifier(body).ok()? {
        UserIdentifier::User(typed) => Some(qualify(&typed, server_name)?.to_lowercase()),
        UserIdentifier::ThirdParty { medium, address } => {
            let address = if medium == super::threepids::MEDIUM_EMAIL {
                super::threepids::canonicalise_email(&address).unwrap_or(address)
            } else {
                address
            };
            Some(format!("{medium}:{address}"))
        }
        UserIdentifier::Phone { country, phone } => Some(format!("msisdn:{country}{phone}")),
    }
}
