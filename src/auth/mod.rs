//! The rules of mxauth: who may do what. Nothing here knows HTTP or SQL:
//! requests arrive as parsed values, state goes through [`Store`].
//!
//! [`Auth`] holds what the rules need (config, store, clock, randomness,
//! the password hasher) and each submodule adds the operations of one area.

pub mod account;
pub mod activity;
pub mod admin;
pub mod appservice;
pub mod blocking;
pub mod captcha;
pub mod devices;
pub mod guests;
pub mod homeserver;
pub mod identifiers;
pub mod introspect;
pub mod login;
pub mod macaroon;
pub mod mail;
pub mod password;
pub mod policy;
pub mod providers;
pub mod ratelimit;
pub mod register;
pub mod registration_tokens;
pub mod requester;
pub mod sso;
#[cfg(test)]
pub(crate) mod test_support;
pub mod threepids;
pub mod tokens;
pub mod uia;
mod usage;
pub mod writes;

use crate::clock::{random_upper, Clock, Random};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{NewAccessToken, Store};
use password::PasswordHasher;
use std::sync::Arc;

pub use requester::Requester;
pub use usage::UsageRecorder;

/// The rules engine. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Random>,
    pub hasher: PasswordHasher,
    pub usage: UsageRecorder,
    /// The homeserver that delegates its auth here, if any.
    pub homeserver: Option<Arc<dyn homeserver::HomeserverApi>>,
    /// The application services of `app_service_config_files`.
    pub app_services: Arc<Vec<appservice::AppService>>,
    /// The verifier of `m.login.recaptcha`, when captcha is enabled.
    pub captcha: Option<Arc<dyn captcha::CaptchaVerifier>>,
    /// The auth providers (`modules:` and the library's), in order.
    pub providers: Arc<providers::Providers>,
    /// The UIA stages, built-in and the providers' login types
    /// (`uia/registry.rs`; built again when the providers are set).
    pub uia_stages: Arc<uia::Stages>,
    /// What sends the validation mails, when `email:` is configured.
    pub mailer: Option<Arc<dyn mail::Mailer>>,
    /// What talks HTTP to the `oidc_providers`, when there are any.
    pub upstream_oidc: Option<Arc<dyn sso::upstream::UpstreamOidc>>,
}

/// What a client gets after a login or a registration.
#[derive(Debug)]
pub struct Session {
    pub user_id: String,
    pub device_id: String,
    pub access_token: tokens::IssuedToken,
    /// When the token stops working (`session_lifetime`), if it does.
    pub valid_until_ts: Option<i64>,
}

impl Auth {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
    ) -> Self {
        let hasher = PasswordHasher::new(
            config.mxauth.password_hashing_concurrency,
            config.password_config.pepper.clone(),
        );
        let usage = UsageRecorder::new(store.clone());
        let app_services = Arc::new(
            config
                .app_services
                .iter()
                .cloned()
                .map(appservice::AppService::new)
                .collect(),
        );
        let providers = Arc::<providers::Providers>::default();
        let uia_stages = Arc::new(uia::registry::stages(&providers));
        Auth {
            config,
            store,
            clock,
            rng,
            hasher,
            usage,
            homeserver: None,
            captcha: None,
            mailer: None,
            upstream_oidc: None,
            app_services,
            providers,
            uia_stages,
        }
    }

    /// Verifies `m.login.recaptcha` with `verifier`.
    pub fn with_captcha(mut self, verifier: Arc<dyn captcha::CaptchaVerifier>) -> Self {
        self.captcha = Some(verifier);
        self
    }

    /// Sends the validation mails with `mailer`.
    pub fn with_mailer(mut self, mailer: Arc<dyn mail::Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Talks to the upstream OpenID Connect providers with `client`.
    pub fn with_upstream_oidc(mut self, client: Arc<dyn sso::upstream::UpstreamOidc>) -> Self {
        self.upstream_oidc = Some(client);
        self
    }

    /// Keeps `api`'s homeserver in step with users and devices.
    pub fn with_homeserver(mut self, api: Arc<dyn homeserver::HomeserverApi>) -> Self {
        self.homeserver = Some(api);
        self
    }

    pub fn server_name(&self) -> &str {
        self.config.server_name.as_str()
    }

    pub(crate) fn now(&self) -> crate::clock::Timestamp {
        self.clock.now_ms()
    }

    pub(crate) fn salt(&self) -> [u8; 16] {
        let mut salt = [0u8; 16];
        self.rng.fill(&mut salt);
        salt
    }

    pub(crate) async fn hash_password(
        &self,
        password: &str,
    ) -> std::result::Result<String, password::HashError> {
        self.hasher.hash(password, self.salt()).await
    }

    /// A new device ID as Synapse makes them: ten upper-case letters.
    pub(crate) fn new_device_id(&self) -> String {
        random_upper(self.rng.as_ref(), 10)
    }

    /// Makes sure the device exists and issues an access token for it,
    /// unless auth blocking refuses the user a new token.
    pub(crate) async fn start_session(
        &self,
        user_id: &str,
        device_id: Option<identifiers::DeviceId>,
        display_name: Option<&str>,
    ) -> Result<Session> {
        self.check_auth_blocking(Some(user_id)).await?;
        self.open_session_checked(user_id, None, device_id, display_name)
            .await
    }

    /// [`Auth::start_session`] for a login: counted by `rc_login.account`
    /// (per user, lower-cased) once the credentials are good. A password
    /// login passes the credentials version it verified: no token if the
    /// password changed meanwhile.
    pub(crate) async fn start_login_session(
        &self,
        user_id: &str,
        credentials_version: Option<i64>,
        device_id: Option<identifiers::DeviceId>,
        display_name: Option<&str>,
    ) -> Result<Session> {
        self.ratelimit(ratelimit::Limiter::LoginAccount, &user_id.to_lowercase())
            .await?;
        self.check_auth_blocking(Some(user_id)).await?;
        self.open_session_checked(user_id, credentials_version, device_id, display_name)
            .await
    }

    /// [`Auth::start_session`] without auth blocking: for the admin API.
    pub(crate) async fn open_session(
        &self,
        user_id: &str,
        device_id: Option<identifiers::DeviceId>,
        display_name: Option<&str>,
    ) -> Result<Session> {
        self.open_session_checked(user_id, None, device_id, display_name)
            .await
    }

    async fn open_session_checked(
        &self,
        user_id: &str,
        credentials_version: Option<i64>,
        device_id: Option<identifiers::DeviceId>,
        display_name: Option<&str>,
    ) -> Result<Session> {
        if let Some(name) = display_name {
            check_device_display_name(name)?;
        }
        let device_id = match device_id {
            Some(d) => d.into_string(),
            None => self.new_device_id(),
        };
        let created = self
            .store
            .devices()
            .ensure_device(user_id, &device_id, display_name)
            .await?;
        self.provision_session(user_id, &device_id, display_name.filter(|_| created))
            .await?;
        match self
            .issue_access_token(user_id, &device_id, credentials_version)
            .await
        {
            Ok((access_token, valid_until_ts)) => Ok(Session {
                user_id: user_id.to_owned(),
                device_id,
                access_token,
                valid_until_ts,
            }),
            Err(e) => {
                if created {
                    // The device was made for this session only.
                    self.store
                        .devices()
                        .delete_devices(user_id, std::slice::from_ref(&device_id))
                        .await?;
                }
                Err(e)
            }
        }
    }

    /// A new access token for a device the homeserver knows (and when it
    /// expires, `session_lifetime`), unless the
    /// user was deactivated or (with `credentials_version`) changed their
    /// password since: then 403 as for any login of a deactivated user or
    /// with a wrong password.
    pub(crate) async fn issue_access_token(
        &self,
        user_id: &str,
        device_id: &str,
        credentials_version: Option<i64>,
    ) -> Result<(tokens::IssuedToken, Option<i64>)> {
        let (token, row) = self.new_access_token(user_id, device_id);
        let created = writes::create_session_token(&*self.store, &row, credentials_version).await?;
        if created.is_some() {
            return Ok((token, row.valid_until_ts));
        }
        let deactivated = self
            .store
            .users()
            .get_user(user_id)
            .await?
            .is_none_or(|u| u.deactivated);
        Err(if deactivated {
            login::LoginError::Deactivated.into()
        } else {
            Error::forbidden("Invalid username or password")
        })
    }

    /// A new access token for the device and the row that stores it.
    pub(crate) fn new_access_token(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> (tokens::IssuedToken, NewAccessToken) {
        let localpart = identifiers::local_localpart(user_id, self.server_name()).unwrap_or("");
        let token = tokens::generate(tokens::ACCESS_TOKEN_PREFIX, localpart, self.rng.as_ref());
        let now = self.now();
        let row = NewAccessToken {
            token_hash: token.hash(),
            user_id: user_id.to_owned(),
            device_id: Some(device_id.to_owned()),
            puppet_owner: None,
            created_ts: now,
            // `session_lifetime` is fixed when the token is made, as in Synapse.
            valid_until_ts: self.config.sessions.token_valid_until(now),
        };
        (token, row)
    }
}

/// A device display name over [`identifiers::MAX_DEVICE_DISPLAY_NAME_LEN`]
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayNameTooLong;

pub(crate) fn check_device_display_name(name: &str) -> std::result::Result<(), DisplayNameTooLong> {
    if name.chars().count() > identifiers::MAX_DEVICE_DISPLAY_NAME_LEN {
        return Err(DisplayNameTooLong);
    }
    Ok(())
}
