//! mxauth's configuration: one YAML file with Synapse's `homeserver.yaml` key
//! names and shapes, so an admin can point mxauth at their whole homeserver.yaml.
//!
//! * Keys mxauth implements are parsed into [`Config`], each by the file of
//!   its section (`config/<section>.rs`: its keys, types, parser and tests).
//! * Synapse keys that are not (yet) about auth are accepted, ignored and listed
//!   in [`Loaded::ignored_keys`] (see `config/synapse_keys.rs`).
//! * mxauth's own settings, which Synapse has no key for, live under `mxauth:`.
//! * Any other key, anywhere, is an error naming its path (`listeners[0].port`)
//!   and, when one is close, the key that was probably meant.
//!
//! [`Config`] is the runtime view the rules read: values parsed, checked
//! and defaulted at load (`server_name` a ruma `ServerName`, durations in
//! milliseconds, secrets read from their files), never the file's shapes.
//!
//! Relative paths (SQLite database, `registration_shared_secret_path`) are
//! relative to the current directory, as in Synapse.

mod appservice;
mod captcha;
mod consent;
mod database;
mod email;
mod guests;
mod listeners;
mod matrix;
mod metrics;
mod modules;
mod mxauth;
mod oauth;
pub mod oidc;
mod password;
mod ratelimit;
mod registration;
mod secret;
mod server;
mod sessions;
mod synapse_keys;
mod synapse_source;
mod templates;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod ui_auth;
mod usage;
mod yaml;

/// Synapse's duration syntax (`500ms`, `30s`, `5m`, `48h`, `7d`, `1w`,
/// `1y`, or milliseconds), for the command line's options.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    yaml::parse_duration_ms(s)
}

use std::path::{Path, PathBuf};

use ruma_common::OwnedServerName;
use serde_yaml::Value;

pub use self::appservice::{AppServiceConfig, Namespace};
pub use self::captcha::RecaptchaConfig;
pub use self::consent::ConsentConfig;
pub use self::database::DatabaseConfig;
pub use self::email::{AllowedThreepid, EmailConfig, ThreepidConfig};
pub use self::listeners::{Listener, ListenerResource};
pub use self::matrix::MatrixConfig;
pub use self::modules::{
    JwtConfig, LdapProviderConfig, LdapSearch, ModuleConfig, RestProviderConfig, LDAP_MODULE,
    REST_MODULE,
};
pub use self::mxauth::{LogFormat, MxauthConfig};
pub use self::oauth::{ApplicationType, ClientAuthMethod, OAuthConfig, StaticClient};
pub use self::oidc::{LoginViaExistingSession, OidcProviderConfig, SsoConfig};
pub use self::password::{PasswordConfig, PasswordEnabled, PasswordPolicy};
pub use self::ratelimit::{RateLimit, RateLimitConfig};
pub use self::secret::Secret;
pub use self::sessions::SessionConfig;
pub use self::synapse_source::SynapseSourceConfig;
pub use self::templates::TemplatesConfig;
pub use self::usage::UsageConfig;
use self::yaml::{KResult, KeyError, Map};

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The Matrix server name (`example.com`): the domain part of user IDs.
    /// Required in a file; `"localhost"` for [`Config::default`].
    pub server_name: OwnedServerName,
    /// The public URL of the client API, normalised to end with `/`.
    pub public_baseurl: Option<String>,
    /// The `http` and `metrics` listeners (Synapse's `manhole` and
    /// `replication` listeners are accepted and left out).
    pub listeners: Vec<Listener>,
    /// `enable_metrics`: serve the Prometheus metrics on the `metrics`
    /// listeners and resources (`config/metrics.rs`); default false.
    pub enable_metrics: bool,
    pub database: DatabaseConfig,
    pub enable_registration: bool,
    pub enable_registration_without_verification: bool,
    /// From `registration_shared_secret`, or read from the file named by
    /// `registration_shared_secret_path` at load. An empty inline value means
    /// "shared-secret registration disabled", as in Synapse.
    pub registration_shared_secret: Option<Secret>,
    pub password_config: PasswordConfig,
    /// bcrypt cost for new bcrypt hashes (4..=31, default 12).
    pub bcrypt_rounds: u32,
    pub allow_guest_access: bool,
    /// `email:`: sending validation mails (`m.login.email.identity`).
    pub email: Option<EmailConfig>,
    /// The top-level 3PID keys.
    pub threepids: ThreepidConfig,
    /// mxauth's own section (`mxauth:`).
    pub mxauth: MxauthConfig,
    /// The homeserver mxauth serves as its auth service (`matrix:`, the
    /// section of Element's matrix-authentication-service config).
    pub matrix: Option<MatrixConfig>,
    /// `registration_requires_token`: registration needs a token made with
    /// the admin API (`m.login.registration_token`).
    pub registration_requires_token: bool,
    /// `enable_registration_captcha` with the `recaptcha_*` keys.
    pub recaptcha: Option<RecaptchaConfig>,
    /// `user_consent`: the policy users accept (`m.login.terms`).
    pub user_consent: Option<ConsentConfig>,
    /// `hs_disabled`: refuse logins, registrations and new tokens.
    pub hs_disabled: bool,
    /// `hs_disabled_message`: said to the refused.
    pub hs_disabled_message: String,
    /// `admin_contact`: given with resource-limit errors.
    pub admin_contact: Option<String>,
    /// `server_notices.system_mxid_localpart`: exempt from auth blocking
    /// (see [`Config::server_notices_user_id`]).
    pub server_notices_localpart: Option<String>,
    /// `app_service_config_files`, read at load.
    pub app_services: Vec<AppServiceConfig>,
    /// `ui_auth.session_timeout` (duration; 0 = off): after a user passes
    /// UIA with a token, device deletion skips UIA for that long.
    pub ui_auth_session_timeout_ms: u64,
    /// `session_lifetime` and `nonrefreshable_access_token_lifetime`: how
    /// long the token of a login or registration works.
    pub sessions: SessionConfig,
    /// Monthly active users and client-IP tracking (Synapse's top-level
    /// `limit_usage_by_mau`, `track_*_user_ips`, `user_ips_max_age`, ...).
    pub usage: UsageConfig,
    /// `macaroon_secret_key` (or `_path`), else, as in Synapse,
    /// `registration_shared_secret`: guest access tokens that Synapse minted
    /// as macaroons with this key are accepted.
    pub macaroon_secret_key: Option<Secret>,
    /// `modules:`: the built-in auth providers, in the order they are asked.
    pub modules: Vec<ModuleConfig>,
    /// `jwt_config:` with `enabled: true`: `org.matrix.login.jwt`.
    pub jwt: Option<JwtConfig>,
    /// `oidc_providers`: single sign-on through upstream OpenID Connect.
    pub oidc_providers: Vec<OidcProviderConfig>,
    /// `sso`: where the browser may go back to without a confirmation page.
    pub sso: SsoConfig,
    /// `login_via_existing_session`: `POST /login/get_token` (MSC3882).
    pub login_via_existing_session: LoginViaExistingSession,
    /// The `rc_*` rate limits and mxauth's own (`mxauth.rate_limits`).
    pub rate_limits: RateLimitConfig,
    /// `templates`: the admin's overrides of the HTML pages.
    pub templates: TemplatesConfig,
    /// `mxauth.oauth`: the OAuth 2.0 API; `None` when it is off.
    pub oauth: Option<OAuthConfig>,
}

/// A loaded configuration and the Synapse keys it accepted without using them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub config: Config,
    /// Top-level Synapse keys present in the file that mxauth ignores, sorted.
    pub ignored_keys: Vec<String>,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML (the message has the line and column).
    #[error("{}: invalid YAML: {message}", file.display())]
    Syntax { file: PathBuf, message: String },
    /// A key is unknown, missing, of the wrong type or has a bad value.
    /// `path` is the key's path, such as `password_config.policy.minimum_length`
    /// or `listeners[0].port` (empty for the document as a whole).
    #[error("{}", location(file, path, message))]
    Parse {
        file: PathBuf,
        path: String,
        message: String,
    },
}

fn location(file: &Path, path: &str, message: &str) -> String {
    if path.is_empty() {
        format!("{}: {message}", file.display())
    } else {
        format!("{}: {path}: {message}", file.display())
    }
}

impl ConfigError {
    /// The key path of a [`ConfigError::Parse`] error.
    pub fn key_path(&self) -> Option<&str> {
        match self {
            ConfigError::Parse { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl Default for Config {
    /// No file: server name `localhost`, one http listener on 127.0.0.1:8008
    /// serving `client`, SQLite at `./data/mxauth.db`, everything else default.
    fn default() -> Self {
        Config {
            server_name: server::parse_server_name("localhost").expect("a valid server name"),
            public_baseurl: None,
            listeners: listeners::default_listeners(),
            enable_metrics: false,
            database: DatabaseConfig::default(),
            enable_registration: false,
            enable_registration_without_verification: false,
            registration_shared_secret: None,
            password_config: PasswordConfig::default(),
            bcrypt_rounds: password::DEFAULT_BCRYPT_ROUNDS,
            allow_guest_access: false,
            email: None,
            threepids: ThreepidConfig::default(),
            mxauth: MxauthConfig::default(),
            matrix: None,
            registration_requires_token: false,
            recaptcha: None,
            user_consent: None,
            ui_auth_session_timeout_ms: 0,
            sessions: SessionConfig::default(),
            app_services: Vec::new(),
            hs_disabled: false,
            hs_disabled_message: String::new(),
            admin_contact: None,
            server_notices_localpart: None,
            usage: UsageConfig::default(),
            macaroon_secret_key: None,
            modules: Vec::new(),
            jwt: None,
            oidc_providers: Vec::new(),
            sso: SsoConfig::default(),
            login_via_existing_session: LoginViaExistingSession::default(),
            rate_limits: RateLimitConfig::default(),
            templates: TemplatesConfig::default(),
            oauth: None,
        }
    }
}

impl Config {
    /// The user ID of `server_notices.system_mxid_localpart` on this server.
    pub fn server_notices_user_id(&self) -> Option<String> {
        self.server_notices_localpart
            .as_deref()
            .map(|localpart| format!("@{localpart}:{}", self.server_name))
    }
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// The top-level keys of every section, each list in its section's file.
const SECTION_KEYS: &[&[&str]] = &[
    server::KEYS,
    listeners::KEYS,
    metrics::KEYS,
    database::KEYS,
    registration::KEYS,
    password::KEYS,
    guests::KEYS,
    mxauth::KEYS,
    matrix::KEYS,
    captcha::KEYS,
    consent::KEYS,
    ui_auth::KEYS,
    appservice::KEYS,
    email::KEYS,
    usage::KEYS,
    modules::KEYS,
    oidc::KEYS,
    ratelimit::KEYS,
    sessions::KEYS,
    templates::KEYS,
];

/// Every top-level key a section parses.
fn section_keys() -> impl Iterator<Item = &'static str> {
    SECTION_KEYS.iter().flat_map(|keys| keys.iter().copied())
}

impl Config {
    /// Read and parse the file at `path`.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml_str(&text, path)
    }

    /// Parse `text`; `origin` is the file name used in error messages.
    pub fn from_yaml_str(text: &str, origin: &Path) -> Result<Loaded, ConfigError> {
        let root = read_document(text, origin)?;
        parse_root(&root).map_err(|e| ConfigError::Parse {
            file: origin.to_owned(),
            path: e.path,
            message: e.message,
        })
    }
}

/// The YAML tree of a config file's text, `<<` merge keys applied as
/// PyYAML (and so Synapse) applies them; `origin` names the file in errors.
pub(crate) fn read_document(text: &str, origin: &Path) -> Result<Value, ConfigError> {
    let syntax = |e: serde_yaml::Error| ConfigError::Syntax {
        file: origin.to_owned(),
        message: e.to_string(),
    };
    let mut root: Value = serde_yaml::from_str(text).map_err(syntax)?;
    root.apply_merge().map_err(syntax)?;
    Ok(root)
}

fn parse_root(root: &Value) -> KResult<Loaded> {
    let top = match root {
        Value::Mapping(_) | Value::Null => Map::from_value(root, "")?,
        other => {
            return Err(KeyError::new(
                "",
                format!(
                    "expected a mapping of keys at the top level, found {}",
                    yaml::describe(other)
                ),
            ))
        }
    };

    // Unknown top-level keys first, so a typo is reported as a typo rather than
    // as a missing key.
    let mut ignored_keys = Vec::new();
    for key in top.keys() {
        if section_keys().any(|k| k == key) {
            continue;
        }
        if synapse_keys::is_ignored_synapse_key(key) {
            ignored_keys.push(key.to_owned());
            continue;
        }
        return Err(KeyError::new(
            key,
            yaml::unknown_key_message(key, section_keys().chain(synapse_keys::all())),
        ));
    }
    ignored_keys.sort();
    ignored_keys.dedup();

    // Then each section. The checks that span sections (open registration
    // needs a captcha, a token or an email; `matrix:` and `oidc_providers`
    // need `public_baseurl`) are made by the later section.
    let server = server::parse(&top)?;
    let listeners = listeners::parse(&top)?;
    let enable_metrics = metrics::parse(&top)?;
    let database = database::parse(&top)?;
    let registration = registration::parse(&top)?;
    let app_services = appservice::parse(&top, &server.server_name)?;
    let ui_auth_session_timeout_ms = ui_auth::parse(&top)?;
    let sessions = sessions::parse(&top)?;
    let user_consent = consent::parse(&top)?;
    let recaptcha = captcha::parse(&top)?;
    let usage = usage::parse(&top)?;
    let rate_limits = ratelimit::parse(&top)?;
    let guests = guests::parse(&top)?;
    // As Synapse: without its own key, the shared secret signs guests' macaroons.
    let macaroon_secret_key = guests
        .macaroon_secret_key
        .clone()
        .or_else(|| registration.registration_shared_secret.clone());
    let email = email::parse_email(&top)?;
    let threepids = email::parse_threepids(&top, email.is_some())?;
    registration::check_verified(&top, &registration, recaptcha.is_some(), &threepids)?;
    let modules = modules::parse_modules(&top)?;
    let jwt = modules::parse_jwt(&top)?;
    let passwords = password::parse(&top)?;
    let mxauth = mxauth::parse(&top)?;
    let public_baseurl = server.public_baseurl.as_deref();
    let matrix = matrix::parse(&top, &server.server_name, public_baseurl)?;
    let sso = oidc::parse(&top, public_baseurl)?;
    let templates = templates::parse(&top)?;
    let oauth = oauth::parse(&top, public_baseurl)?;

    Ok(Loaded {
        config: Config {
            server_name: server.server_name,
            public_baseurl: server.public_baseurl,
            listeners,
            enable_metrics,
            database,
            enable_registration: registration.enable_registration,
            enable_registration_without_verification: registration
                .enable_registration_without_verification,
            registration_shared_secret: registration.registration_shared_secret,
            password_config: passwords.password_config,
            bcrypt_rounds: passwords.bcrypt_rounds,
            allow_guest_access: guests.allow_guest_access,
            email,
            threepids,
            mxauth,
            matrix,
            registration_requires_token: registration.registration_requires_token,
            recaptcha,
            user_consent,
            ui_auth_session_timeout_ms,
            sessions,
            app_services,
            hs_disabled: server.hs_disabled,
            hs_disabled_message: server.hs_disabled_message,
            admin_contact: server.admin_contact,
            server_notices_localpart: server.server_notices_localpart,
            usage,
            // As Synapse: without its own key, the shared secret signs guests' macaroons.
            macaroon_secret_key,
            modules,
            jwt,
            oidc_providers: sso.oidc_providers,
            sso: sso.sso,
            login_via_existing_session: sso.login_via_existing_session,
            rate_limits,
            templates,
            oauth,
        },
        ignored_keys,
    })
}
