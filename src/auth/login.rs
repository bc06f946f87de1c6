//! Password login, and the password check that UIA's `m.login.password`
//! shares with it. Unknown users and wrong passwords look the same to the
//! client, in body and in time.

use super::blocking::Blocked;
use super::identifiers::{qualify, DeviceId, IdentifierError, UserIdentifier};
use super::password::{HashError, Verified};
use super::ratelimit::{address_key, LimitExceeded, Limiter};
use super::requester::AuthnError;
use super::session::{SessionError, SessionOptions};
use super::{Auth, Session};
use crate::store::User;

pub const LOGIN_TYPE_PASSWORD: &str = "m.login.password";
pub const APP_SERVICE_LOGIN_TYPE: &str = "m.login.application_service";

/// Why a credential check refuses: the rules' answer, which the HTTP
/// layer renders as the Matrix error (`From<LoginError> for Error`).
#[derive(Debug)]
pub enum LoginError {
    /// Unknown user, wrong password, a provider that said no, a user of
    /// another server: one answer for all, so none tells which.
    BadCredentials,
    /// Good credentials of another user than the one re-authenticating.
    WrongUser,
    /// The right password of a deactivated account.
    Deactivated,
    /// The right password of a locked account.
    Locked,
    /// A login type no provider offers.
    UnknownLoginType,
    /// Passwords may not log in (or re-authenticate) here.
    PasswordLoginDisabled,
    /// A field the login type needs is missing.
    MissingParam(String),
    /// A field has the wrong type.
    InvalidParam(String),
    /// The identifier is malformed.
    BadIdentifier(IdentifierError),
    /// A JSON Web Token that does not validate, and why.
    BadJwt(String),
    /// An application service's `as_token` is missing or not one.
    AppService(AuthnError),
    /// An application service logging in a user outside its namespaces,
    /// or one that does not exist.
    NotThisServicesUser,
    /// No session could be opened for the user.
    Session(SessionError),
    /// Too many failures for this account, or the hashing queue is full.
    LimitExceeded(LimitExceeded),
    /// Auth blocking refuses the account a provider's user would get.
    Blocked(Blocked),
    /// Logged where it happened.
    Internal,
}

internal_error!(LoginError, store);

impl LoginError {
    /// Counted against `rc_login.failed_attempts`.
    pub fn is_credential_failure(&self) -> bool {
        matches!(self, LoginError::BadCredentials | LoginError::WrongUser)
    }
}

wrap_error!(LimitExceeded => LoginError::LimitExceeded);

wrap_error!(Blocked => LoginError::Blocked, Blocked::Internal);

wrap_error!(SessionError => LoginError::Session, SessionError::Internal);

wrap_error!(AuthnError => LoginError::AppService, AuthnError::Internal);

wrap_error!(IdentifierError => LoginError::BadIdentifier);

impl From<HashError> for LoginError {
    fn from(e: HashError) -> Self {
        match e {
            // Callers refuse an over-long password as a wrong one first.
            HashError::TooLong => LoginError::BadCredentials,
            HashError::Busy(wait) => LoginError::LimitExceeded(wait),
            HashError::Internal => LoginError::Internal,
        }
    }
}

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

    /// `POST /login` with `m.login.password` or a provider's login type:
    /// the credentials checked under `rc_login.failed_attempts`, then a
    /// session for the user.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        login_type: &str,
        body: &serde_json::Map<String, serde_json::Value>,
        device_id: Option<DeviceId>,
        initial_device_display_name: Option<&str>,
        options: &SessionOptions,
    ) -> Result<Session, LoginError> {
        let key = failed_attempts_key(login_type, body, self.server_name());
        let found = self
            .counting_failures(
                key.as_deref(),
                self.check_login(login_type, body),
                |outcome| {
                    outcome
                        .as_ref()
                        .is_err_and(LoginError::is_credential_failure)
                },
            )
            .await?;
        self.finish_login(found, device_id, initial_device_display_name, options)
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
        options: &SessionOptions,
    ) -> Result<Session, LoginError> {
        let service = self.require_app_service(token, ip)?;
        let UserIdentifier::User(typed) = identifier else {
            return Err(IdentifierError::UnknownType.into());
        };
        let uid = qualify(typed, self.server_name()).ok_or(LoginError::NotThisServicesUser)?;
        if !service.is_interested_in_user(&uid, self.server_name()) {
            return Err(LoginError::NotThisServicesUser);
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
            .ok_or(LoginError::NotThisServicesUser)?;
        if user.deactivated {
            return Err(LoginError::Deactivated);
        }
        let session = if service.config.rate_limited {
            self.start_login_session(&uid, None, device_id, display_name, options)
                .await?
        } else {
            self.start_session(&uid, device_id, display_name, options)
                .await?
        };
        Ok(session)
    }

    /// `rc_login.address`, before any credential of a `/login` is looked
    /// at; an application service's login (its `as_token` in `token`) is
    /// exempt when its registration says `rate_limited: false`.
    pub async fn limit_login_address(
        &self,
        ip: Option<&str>,
        app_service_token: Option<&str>,
    ) -> Result<(), LoginError> {
        if let Some(token) = app_service_token {
            if self
                .app_service_by_token(token)
                .is_some_and(|s| !s.config.rate_limited)
            {
                return Ok(());
            }
        }
        Ok(self
            .ratelimit(Limiter::LoginAddress, address_key(ip))
            .await??)
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
    ) -> Result<Option<(String, i64)>, LoginError> {
        let user = match identifier {
            UserIdentifier::User(typed) => self.find_user_for_login(typed).await?,
            UserIdentifier::ThirdParty { medium, address } => {
                self.find_user_by_threepid(medium, address).await?
            }
        };
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let verified = self.hasher.verify(password, stored).await?;
        let Some(user) = user else { return Ok(None) };
        let Verified::Yes { rehash } = verified else {
            return Ok(None);
        };
        check_may_log_in(&user)?;
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
    async fn find_user_for_login(&self, typed: &str) -> Result<Option<User>, LoginError> {
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

/// A deactivated or locked account gets no new session.
pub(crate) fn check_may_log_in(user: &User) -> Result<(), LoginError> {
    if user.deactivated {
        return Err(LoginError::Deactivated);
    }
    if user.locked {
        return Err(LoginError::Locked);
    }
    Ok(())
}

/// The `rc_login.failed_attempts` bucket of a login: the lower-cased full
/// user ID it names (`alice`, `@Alice:hs` and `ALICE` are one bucket,
/// whether or not the user exists), the canonical address of a login by
/// email, or the msisdn of a login by phone (`m.id.phone` "07700 900123"
/// in GB and "+447700900123" are one bucket; `m.id.thirdparty`'s msisdn
/// is taken as given, as Synapse does). `None` for a login without an
/// identifier (JWT) or with one that does not parse (it fails before any
/// credential is checked).
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(body: serde_json::Value) -> Option<String> {
        failed_attempts_key(LOGIN_TYPE_PASSWORD, body.as_object().unwrap(), "hs")
    }

    #[test]
    fn every_form_of_a_phone_number_is_one_failed_attempts_bucket() {
        let phone = |country: &str, phone: &str| {
            key(json!({"identifier": {"type": "m.id.phone", "country": country, "phone": phone}}))
        };
        let msisdn = |address: &str| {
            key(json!({"identifier":
                {"type": "m.id.thirdparty", "medium": "msisdn", "address": address}}))
        };
        let bucket = Some("msisdn:447700900123".to_owned());
        assert_eq!(phone("GB", "07700 900123"), bucket);
        assert_eq!(phone("US", "+44 7700 900123"), bucket);
        assert_eq!(msisdn("447700900123"), bucket);
        // m.id.thirdparty's address as given, as Synapse keys it.
        assert_eq!(
            msisdn("+447700900123").as_deref(),
            Some("msisdn:+447700900123")
        );
        // Refused before any credential is checked.
        assert_eq!(phone("GB", "not a number"), None);
    }
}
