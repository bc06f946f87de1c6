//! The rules of mxauth: who may do what. Nothing here knows HTTP or SQL:
//! requests arrive as parsed values, state goes through [`Store`].
//!
//! [`Auth`] holds what the rules need (config, store, clock, randomness,
//! the password hasher) and each submodule adds the operations of one area.

/// `Internal` for a domain error of the rules: `T::internal(cause)` and
/// (with `store`) `From<StoreError>` log the cause where it happened
/// (`telemetry::log_internal`); the client sees a bare 500.
macro_rules! internal_error {
    ($t:ident) => {
        impl $t {
            /// Log `cause` and give `Internal`.
            #[track_caller]
            pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
                crate::telemetry::log_internal(cause);
                $t::Internal
            }
        }
    };
    ($t:ident, store) => {
        internal_error!($t);
        impl From<crate::store::StoreError> for $t {
            #[track_caller]
            fn from(e: crate::store::StoreError) -> Self {
                $t::internal(e)
            }
        }
    };
}

/// `From` for another area's error wrapped in a variant; with the pattern
/// of its `Internal`, that one stays ours (`Internal`, logged already).
macro_rules! wrap_error {
    ($from:ty => $to:ident :: $variant:ident) => {
        impl From<$from> for $to {
            fn from(e: $from) -> Self {
                $to::$variant(e)
            }
        }
    };
    ($from:ty => $to:ident :: $variant:ident, $internal:pat) => {
        impl From<$from> for $to {
            fn from(e: $from) -> Self {
                match e {
                    $internal => $to::Internal,
                    e => $to::$variant(e),
                }
            }
        }
    };
}

pub mod account;
pub mod activity;
pub mod admin;
pub mod admin_devices;
pub mod admin_lookups;
pub mod admin_users;
pub mod appservice;
pub mod blocking;
pub mod captcha;
pub mod devices;
pub mod guests;
pub mod health;
pub mod homeserver;
pub mod identifiers;
pub mod import_synapse;
pub mod introspect;
pub mod login;
pub mod macaroon;
pub mod mail;
pub mod manage;
mod mau_count;
pub mod oauth;
pub mod password;
pub mod policy;
pub mod providers;
pub mod ratelimit;
pub mod refresh;
pub mod register;
mod register_error;
pub mod registration_tokens;
pub mod requester;
pub mod session;
pub mod sso;
#[cfg(test)]
pub(crate) mod test_support;
pub mod threepids;
pub mod token_cache;
pub mod tokens;
pub mod uia;
mod usage;
pub mod user_admin;
pub mod user_counts;
pub mod writes;

use crate::clock::{random_upper, Clock, Random};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;
use password::PasswordHasher;
use std::sync::Arc;

pub use refresh::RefreshError;
pub use requester::Requester;
pub use session::{OAuthBinding, SessionOptions};
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
    /// Request authentication's cache of token owners.
    pub token_cache: Arc<token_cache::TokenCache>,
    /// The admin user list's totals, kept a few seconds.
    pub user_counts: Arc<user_counts::UserCounts>,
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
    /// This server's metrics (its own registry), counted by every layer.
    pub metrics: Arc<Metrics>,
}

/// What a client gets after a login or a registration.
#[derive(Debug)]
pub struct Session {
    pub user_id: String,
    pub device_id: String,
    pub access_token: tokens::IssuedToken,
    /// Issued when the session is refreshable.
    pub refresh_token: Option<tokens::IssuedToken>,
    /// When the access token stops working, if it does.
    pub valid_until_ts: Option<i64>,
    /// An OAuth grant's scope (space-separated, as granted); `None` for a
    /// legacy session.
    pub scope: Option<String>,
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
        let metrics = Arc::new(Metrics::new());
        hasher.report_to(metrics.clone());
        store.report_pool_waits_to(metrics.db_pool_acquire_wait.clone());
        let usage = UsageRecorder::new(store.clone());
        let token_cache = Arc::new(token_cache::TokenCache::new(
            config.mxauth.token_cache_bytes,
            token_cache::CacheCounters::of(&metrics),
        ));
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
            token_cache,
            user_counts: Arc::default(),
            homeserver: None,
            captcha: None,
            mailer: None,
            upstream_oidc: None,
            app_services,
            providers,
            uia_stages,
            metrics,
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
