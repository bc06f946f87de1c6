//! mxauth's configuration: one YAML file with Synapse's `homeserver.yaml` key
//! names and shapes, so an admin can point mxauth at their whole homeserver.yaml.
//!
//! * Keys mxauth implements are parsed into [`Config`].
//! * Synapse keys that are not (yet) about auth are accepted, ignored and listed
//!   in [`Loaded::ignored_keys`] (see `config/synapse_keys.rs`).
//! * mxauth's own settings, which Synapse has no key for, live under `mxauth:`.
//! * Any other key, anywhere, is an error naming its path (`listeners[0].port`)
//!   and, when one is close, the key that was probably meant.
//!
//! Relative paths (SQLite database, `registration_shared_secret_path`) are
//! relative to the current directory, as in Synapse.

mod appservice;
mod email;
mod modules;
pub mod oidc;
mod ratelimit;
mod sessions;
mod synapse_keys;
#[cfg(test)]
mod tests;
mod usage;
mod yaml;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_yaml::Value;
use zeroize::Zeroizing;

pub use self::appservice::{AppServiceConfig, Namespace};
pub use self::email::{AllowedThreepid, EmailConfig, ThreepidConfig};
pub use self::modules::{
    JwtConfig, LdapProviderConfig, LdapSearch, ModuleConfig, RestProviderConfig, LDAP_MODULE,
    REST_MODULE,
};
pub use self::oidc::{LoginViaExistingSession, OidcProviderConfig, SsoConfig};
pub use self::ratelimit::{RateLimit, RateLimitConfig};
pub use self::sessions::SessionConfig;
pub use self::usage::UsageConfig;
use self::yaml::{as_bool, as_list, as_port, as_string, KResult, KeyError, Map, Node};

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The Matrix server name (`example.com`): the domain part of user IDs.
    /// Required in a file; `"localhost"` for [`Config::default`].
    pub server_name: String,
    /// The public URL of the client API, normalised to end with `/`.
    pub public_baseurl: Option<String>,
    /// The `http` listeners (Synapse's `metrics`, `manhole` and `replication`
    /// listeners are accepted and left out).
    pub listeners: Vec<Listener>,
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
    /// `server_notices.system_mxid_localpart`: exempt from auth blocking.
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
    /// `macaroon_secret_key` (or `_path`): guest access tokens that Synapse
    /// minted as macaroons with this key are accepted.
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
}

/// Synapse's `user_consent` block, the parts about auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentConfig {
    /// `version`: the policy's current version.
    pub version: String,
    /// `template_dir`: holds `<lang>/<version>.html`.
    pub template_dir: std::path::PathBuf,
    /// `require_at_registration`: registration has an `m.login.terms` stage.
    pub require_at_registration: bool,
    /// `policy_name`, default "Privacy Policy".
    pub policy_name: String,
}

/// reCAPTCHA for registration (`m.login.recaptcha`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecaptchaConfig {
    /// `recaptcha_public_key` (or `_path`): the site key clients show.
    pub public_key: String,
    /// `recaptcha_private_key` (or `_path`): the secret sent to siteverify.
    pub private_key: Secret,
    /// `recaptcha_siteverify_api`, default Google's.
    pub siteverify_api: String,
}

/// `matrix:`: the homeserver that delegates its authentication to mxauth
/// (Synapse's `matrix_authentication_service` seam), in MAS's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixConfig {
    /// `kind`: only `synapse`.
    pub kind: String,
    /// `homeserver`: the server name; must equal `server_name` when both are set.
    pub homeserver: String,
    /// `endpoint`: the homeserver's base URL, normalised to end with `/`.
    pub endpoint: String,
    /// `secret`, or read from `secret_path` / `secret_file`: authenticates both
    /// directions (Synapse's introspection calls, mxauth's `/_synapse/mas` calls).
    pub secret: Secret,
    /// `account_management_uri` for the discovery document; default
    /// `public_baseurl`.
    pub account_management_uri: Option<String>,
}

/// One `http` listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    /// Each a valid IP address; default `["::", "0.0.0.0"]` as in Synapse.
    pub bind_addresses: Vec<String>,
    /// YAML key `type`; always `"http"` in [`Config::listeners`].
    pub kind: String,
    /// Always false: `tls: true` is refused at load (put mxauth behind a reverse proxy).
    pub tls: bool,
    /// Trust `X-Forwarded-For` / `X-Forwarded-Proto` from the proxy.
    pub x_forwarded: bool,
    pub resources: Vec<ListenerResource>,
}

/// One entry of a listener's `resources`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerResource {
    /// Synapse resource names (`client`, `federation`, ...).
    pub names: Vec<String>,
    pub compress: bool,
}

/// The database (`database:` in homeserver.yaml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseConfig {
    /// `name: sqlite3`, `args: {database: PATH}`; `:memory:` is an in-memory database.
    Sqlite { path: PathBuf },
    /// `name: psycopg2` (or `psycopg`), `args: {user, password, database (or dbname),
    /// host, port, cp_min, cp_max}`.
    Postgres {
        user: Option<String>,
        password: Option<Secret>,
        database: String,
        /// Default `"localhost"`; a value starting with `/` is a Unix socket directory.
        host: String,
        port: u16,
        cp_min: Option<u32>,
        cp_max: Option<u32>,
    },
}

/// Whether passwords may be used (`password_config.enabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordEnabled {
    /// `true` (the default): log in and re-authenticate with a password.
    #[default]
    Yes,
    /// `false`: no password use at all.
    No,
    /// `"only_for_reauth"`: users who have a password may use it for
    /// user-interactive re-authentication, but not to log in.
    OnlyForReauth,
}

/// `password_config:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordConfig {
    pub enabled: PasswordEnabled,
    /// Check passwords against the local database (default true).
    pub localdb_enabled: bool,
    /// Appended to passwords before bcrypt hashing (Synapse's pepper; default empty).
    pub pepper: Secret,
    pub policy: PasswordPolicy,
}

/// `password_config.policy:` (MSC2000).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PasswordPolicy {
    /// Default false, as in Synapse: when false, no rule below is enforced.
    pub enabled: bool,
    pub minimum_length: usize,
    pub require_digit: bool,
    pub require_symbol: bool,
    pub require_lowercase: bool,
    pub require_uppercase: bool,
}

/// `mxauth:`: settings Synapse has no key for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxauthConfig {
    /// Key `uia_session_lifetime` (duration), default 48h.
    pub uia_session_lifetime_ms: u64,
    /// Key `max_request_body_size` (size), default 64 KiB.
    pub max_request_body_bytes: usize,
    /// Key `password_hashing_concurrency`: how many password hashes run at once;
    /// default the number of CPUs, at least 1.
    pub password_hashing_concurrency: usize,
    /// Key `token_last_used_flush_interval` (duration), default 60s.
    pub token_last_used_flush_ms: u64,
    /// Key `header_read_timeout` (duration), default 10s: a connection
    /// that has not sent a whole request head this long after it started
    /// one (or after its previous response) is closed.
    pub header_read_timeout_ms: u64,
    /// Key `max_connections`, default 1024: connections open at once, over
    /// all listeners; more wait to be accepted until one closes.
    pub max_connections: usize,
    /// Key `shutdown_timeout` (duration), default 10s: how long a stopping
    /// server lets open connections finish before it drops them (the final
    /// flush of last-used times and client IPs runs after either way).
    pub shutdown_timeout_ms: u64,
}

/// A secret string. `Debug` and `Display` print `[redacted]`; [`Secret::expose`]
/// gives the value. The memory is wiped on drop. Equality is constant-time.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

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

// ---------------------------------------------------------------------------
// Secret
// ---------------------------------------------------------------------------

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

// ---------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------

const DEFAULT_BIND_ADDRESSES: [&str; 2] = ["::", "0.0.0.0"];
const DEFAULT_BCRYPT_ROUNDS: u32 = 12;
const DEFAULT_SQLITE_PATH: &str = "./data/mxauth.db";

impl Default for Config {
    /// No file: server name `localhost`, one http listener on 127.0.0.1:8008
    /// serving `client`, SQLite at `./data/mxauth.db`, everything else default.
    fn default() -> Self {
        Config {
            server_name: "localhost".to_owned(),
            public_baseurl: None,
            listeners: vec![Listener {
                port: 8008,
                bind_addresses: vec!["127.0.0.1".to_owned()],
                kind: "http".to_owned(),
                tls: false,
                x_forwarded: false,
                resources: vec![ListenerResource {
                    names: vec!["client".to_owned()],
                    compress: false,
                }],
            }],
            database: DatabaseConfig::default(),
            enable_registration: false,
            enable_registration_without_verification: false,
            registration_shared_secret: None,
            password_config: PasswordConfig::default(),
            bcrypt_rounds: DEFAULT_BCRYPT_ROUNDS,
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
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig::Sqlite {
            path: PathBuf::from(DEFAULT_SQLITE_PATH),
        }
    }
}

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig {
            enabled: PasswordEnabled::Yes,
            localdb_enabled: true,
            pepper: Secret::default(),
            policy: PasswordPolicy::default(),
        }
    }
}

impl PasswordConfig {
    /// Whether `m.login.password` login is offered (Synapse's
    /// `password_enabled_for_login`).
    pub fn login_enabled(&self) -> bool {
        self.enabled == PasswordEnabled::Yes
    }

    /// Whether a password may be used for user-interactive re-authentication
    /// (Synapse's `password_enabled_for_reauth`).
    pub fn reauth_enabled(&self) -> bool {
        matches!(
            self.enabled,
            PasswordEnabled::Yes | PasswordEnabled::OnlyForReauth
        )
    }
}

impl Default for MxauthConfig {
    fn default() -> Self {
        MxauthConfig {
            uia_session_lifetime_ms: 48 * 60 * 60 * 1000,
            max_request_body_bytes: 64 * 1024,
            password_hashing_concurrency: default_hashing_concurrency(),
            token_last_used_flush_ms: 60 * 1000,
            header_read_timeout_ms: 10 * 1000,
            max_connections: 1024,
            shutdown_timeout_ms: 10 * 1000,
        }
    }
}

fn default_hashing_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1)
}

// ---------------------------------------------------------------------------
// Database URL
// ---------------------------------------------------------------------------

/// Everything but RFC 3986 unreserved characters, for user, password, database
/// name and query values.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// For SQLite paths: sqlx percent-decodes the path and splits it at `?`.
const SQLITE_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b'%')
    .add(b'?')
    .add(b'#')
    .add(b' ');

fn enc(s: &str, set: &'static percent_encoding::AsciiSet) -> String {
    percent_encoding::utf8_percent_encode(s, set).to_string()
}

impl DatabaseConfig {
    /// A connection URL for sqlx: `sqlite://PATH?mode=rwc` (`sqlite::memory:` for
    /// `:memory:`), or `postgres://user:password@host:port/database` with user,
    /// password and database percent-encoded. A host starting with `/` is a Unix
    /// socket directory; it and an IPv6 host go in the query:
    /// `postgres:///database?host=%2Fdir&port=5432&user=u&password=p`
    /// (the `postgres://user@/db` form has an empty host, which sqlx refuses).
    ///
    /// The URL contains the password: do not log it.
    pub fn url(&self) -> String {
        match self {
            DatabaseConfig::Sqlite { path } => {
                let path = path.to_string_lossy();
                if path == ":memory:" {
                    "sqlite::memory:".to_owned()
                } else {
                    format!("sqlite://{}?mode=rwc", enc(&path, SQLITE_PATH))
                }
            }
            DatabaseConfig::Postgres {
                user,
                password,
                database,
                host,
                port,
                ..
            } => {
                let database = enc(database, COMPONENT);
                if host.starts_with('/') || host.contains(':') {
                    // A socket directory can't be the URL's host (`postgres://user@/db`
                    // has an empty host, which URL parsers refuse), and sqlx keeps the
                    // brackets of an IPv6 host: both go in the query instead.
                    let mut url = format!(
                        "postgres:///{database}?host={}&port={port}",
                        enc(host, COMPONENT)
                    );
                    if let Some(user) = user {
                        url.push_str("&user=");
                        url.push_str(&enc(user, COMPONENT));
                    }
                    if let Some(password) = password {
                        url.push_str("&password=");
                        url.push_str(&enc(password.expose(), COMPONENT));
                    }
                    return url;
                }
                let mut userinfo = String::new();
                if let Some(user) = user {
                    userinfo.push_str(&enc(user, COMPONENT));
                }
                if let Some(password) = password {
                    userinfo.push(':');
                    userinfo.push_str(&enc(password.expose(), COMPONENT));
                }
                if !userinfo.is_empty() {
                    userinfo.push('@');
                }
                format!("postgres://{userinfo}{host}:{port}/{database}")
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// Top-level keys mxauth parses itself.
const TOP_LEVEL_KEYS: &[&str] = &[
    "server_name",
    "public_baseurl",
    "listeners",
    "database",
    "databases",
    "database_path",
    "enable_registration",
    "disable_registration",
    "enable_registration_without_verification",
    "registration_shared_secret",
    "registration_shared_secret_path",
    "password_config",
    "bcrypt_rounds",
    "allow_guest_access",
    "mxauth",
    "matrix",
    "registration_requires_token",
    "enable_registration_captcha",
    "recaptcha_public_key",
    "recaptcha_public_key_path",
    "recaptcha_private_key",
    "recaptcha_private_key_path",
    "recaptcha_siteverify_api",
    "user_consent",
    "ui_auth",
    "app_service_config_files",
    "hs_disabled",
    "hs_disabled_message",
    "admin_contact",
];

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
        let mut root: Value = serde_yaml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: origin.to_owned(),
            message: e.to_string(),
        })?;
        // PyYAML (and so Synapse) applies `<<` merge keys; serde_yaml leaves them.
        root.apply_merge().map_err(|e| ConfigError::Syntax {
            file: origin.to_owned(),
            message: e.to_string(),
        })?;
        parse_root(&root).map_err(|e| ConfigError::Parse {
            file: origin.to_owned(),
            path: e.path,
            message: e.message,
        })
    }
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
        if TOP_LEVEL_KEYS.contains(&key)
            || email::THREEPID_TOP_LEVEL_KEYS.contains(&key)
            || usage::KEYS.contains(&key)
            || modules::MODULE_TOP_LEVEL_KEYS.contains(&key)
            || oidc::TOP_LEVEL_KEYS.contains(&key)
            || ratelimit::KEYS.contains(&key)
            || sessions::KEYS.contains(&key)
        {
            continue;
        }
        if synapse_keys::is_ignored_synapse_key(key) {
            ignored_keys.push(key.to_owned());
            continue;
        }
        return Err(KeyError::new(
            key,
            yaml::unknown_key_message(
                key,
                TOP_LEVEL_KEYS
                    .iter()
                    .copied()
                    .chain(email::THREEPID_TOP_LEVEL_KEYS.iter().copied())
                    .chain(usage::KEYS.iter().copied())
                    .chain(modules::MODULE_TOP_LEVEL_KEYS.iter().copied())
                    .chain(oidc::TOP_LEVEL_KEYS.iter().copied())
                    .chain(ratelimit::KEYS.iter().copied())
                    .chain(sessions::KEYS.iter().copied())
                    .chain(synapse_keys::all()),
            ),
        ));
    }
    ignored_keys.sort();
    ignored_keys.dedup();

    if let Some(l) = top.get("databases") {
        return Err(KeyError::new(
            l.path,
            "several databases are not supported by mxauth; use a single `database:` section",
        ));
    }
    if let Some(l) = top.get("database_path") {
        return Err(KeyError::new(
            l.path,
            "no longer supported (as in recent Synapse); use \
             `database: {name: sqlite3, args: {database: PATH}}`",
        ));
    }

    let server_name = match top.get("server_name") {
        Some(l) => {
            let name = as_string(l.node())?;
            validate_server_name(&name).map_err(|m| KeyError::new(&l.path, m))?;
            name
        }
        None => {
            return Err(KeyError::new(
                "server_name",
                "missing: the Matrix server name is required (for example `example.com`)",
            ))
        }
    };

    let public_baseurl = top
        .get("public_baseurl")
        .map(|l| parse_public_baseurl(l.node()))
        .transpose()?;

    let listeners = match top.get("listeners") {
        Some(l) => parse_listeners(l.node())?,
        None => Config::default().listeners,
    };

    let database = match top.get("database") {
        Some(l) => parse_database(l.node())?,
        None => DatabaseConfig::default(),
    };

    let mut enable_registration = top.bool_or("enable_registration", false)?;
    // Synapse still honours the old inverse key, and it wins.
    if let Some(l) = top.get("disable_registration") {
        enable_registration = !as_bool(l.node())?;
    }
    let enable_registration_without_verification =
        top.bool_or("enable_registration_without_verification", false)?;
    let registration_requires_token = top.bool_or("registration_requires_token", false)?;
    let app_services = match top.get("app_service_config_files") {
        Some(l) => {
            let mut files = Vec::new();
            for item in as_list(l.node())? {
                files.push(as_string(item.node())?);
            }
            appservice::load_all(&files).map_err(|m| KeyError::new(&l.path, m))?
        }
        None => Vec::new(),
    };
    let hs_disabled = top.bool_or("hs_disabled", false)?;
    let hs_disabled_message = top.string("hs_disabled_message")?.unwrap_or_default();
    let admin_contact = top.string("admin_contact")?;
    // Synapse's server_notices block belongs to rooms; only the localpart
    // of its user matters here (it is exempt from auth blocking).
    let server_notices_localpart = match top.get("server_notices") {
        Some(l) => match l.value {
            Value::Mapping(m) => m
                .get(Value::String("system_mxid_localpart".into()))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| Some("notices".to_owned())),
            _ => None,
        },
        None => None,
    };
    let ui_auth_session_timeout_ms = match top.get("ui_auth") {
        Some(l) => {
            let map = Map::from_node(l.node())?;
            map.check_keys(&["session_timeout"], &[])?;
            match map.get("session_timeout") {
                Some(t) => yaml::as_duration_ms(t.node())?,
                None => 0,
            }
        }
        None => 0,
    };
    let sessions = sessions::parse(&top)?;
    let user_consent = match top.get("user_consent") {
        Some(l) => Some(parse_consent(l.node())?),
        None => None,
    };
    let recaptcha = parse_recaptcha(&top)?;
    let usage = usage::parse(&top)?;
    let rate_limits = ratelimit::parse(&top)?;
    let macaroon_secret_key = usage::parse_macaroon_secret(&top)?;
    let email = email::parse_email(&top)?;
    let threepids = email::parse_threepids(&top, email.is_some())?;
    if enable_registration
        && !enable_registration_without_verification
        && !registration_requires_token
        && recaptcha.is_none()
        && !threepids
            .registrations_require_3pid
            .iter()
            .any(|m| m == "email")
    {
        let key = if top.contains("disable_registration") {
            "disable_registration"
        } else {
            "enable_registration"
        };
        return Err(KeyError::new(
            key,
            "You have enabled open registration without any verification. This is a known \
             vector for spam and abuse. If you would like to allow public registration, please \
             consider adding email, captcha, or token-based verification. Otherwise this check \
             can be removed by setting the `enable_registration_without_verification` config \
             option to `true`.",
        ));
    }

    let registration_shared_secret = parse_shared_secret(&top)?;
    let modules = modules::parse_modules(&top)?;
    let jwt = modules::parse_jwt(&top)?;

    let password_config = match top.get("password_config") {
        Some(l) => parse_password_config(l.node())?,
        None => PasswordConfig::default(),
    };

    let bcrypt_rounds = top.u32_or("bcrypt_rounds", DEFAULT_BCRYPT_ROUNDS)?;
    if !(4..=31).contains(&bcrypt_rounds) {
        return Err(KeyError::new(
            top.path_of("bcrypt_rounds"),
            format!("must be between 4 and 31, found {bcrypt_rounds}"),
        ));
    }

    let allow_guest_access = top.bool_or("allow_guest_access", false)?;

    let mxauth = match top.get("mxauth") {
        Some(l) => parse_mxauth(l.node())?,
        None => MxauthConfig::default(),
    };

    let matrix = match top.get("matrix") {
        Some(l) => Some(parse_matrix(l.node(), &server_name)?),
        None => None,
    };
    if matrix.is_some() && public_baseurl.is_none() {
        return Err(KeyError::new(
            "public_baseurl",
            "missing: required with `matrix:` (it is the issuer the homeserver is told about)",
        ));
    }

    let oidc_providers = oidc::parse_oidc_providers(&top)?;
    if !oidc_providers.is_empty() && public_baseurl.is_none() {
        return Err(KeyError::new(
            "public_baseurl",
            "missing: required with `oidc_providers` (the callback URL is built from it)",
        ));
    }
    let sso = oidc::parse_sso(&top)?;
    let login_via_existing_session = oidc::parse_login_via_existing_session(&top)?;

    Ok(Loaded {
        config: Config {
            server_name,
            public_baseurl,
            listeners,
            database,
            enable_registration,
            enable_registration_without_verification,
            registration_shared_secret,
            password_config,
            bcrypt_rounds,
            allow_guest_access,
            email,
            threepids,
            mxauth,
            matrix,
            registration_requires_token,
            recaptcha,
            user_consent,
            ui_auth_session_timeout_ms,
            sessions,
            app_services,
            hs_disabled,
            hs_disabled_message,
            admin_contact,
            server_notices_localpart,
            usage,
            macaroon_secret_key,
            modules,
            jwt,
            oidc_providers,
            sso,
            login_via_existing_session,
            rate_limits,
        },
        ignored_keys,
    })
}

/// A Matrix server name: `hostname [ ":" port ]` where hostname is an IPv4
/// address, `[` IPv6 address `]`, or a DNS name of `A-Z a-z 0-9 - .` (at most
/// 255 characters); port is 1 to 5 digits.
fn validate_server_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "`{name}` is not a valid Matrix server name ({why}); expected a host name, an IPv4 \
             address or a [bracketed] IPv6 address, optionally followed by :port"
        ))
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    let (host, port) = if let Some(rest) = name.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return bad("`[` without a closing `]`");
        };
        let (v6, after) = (&rest[..end], &rest[end + 1..]);
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("the part in brackets is not an IPv6 address");
        }
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return bad("unexpected text after `]`"),
            },
        }
    } else {
        match name.rsplit_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(name), None),
        }
    };
    if let Some(host) = host {
        if host.is_empty() {
            return bad("the host name is empty");
        }
        if host.len() > 255 {
            return bad("the host name is longer than 255 characters");
        }
        if let Some(c) = host
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
        {
            return bad(&format!("the host name contains `{c}`"));
        }
    }
    if let Some(port) = port {
        if port.is_empty()
            || port.len() > 5
            || !port.bytes().all(|b| b.is_ascii_digit())
            || !matches!(port.parse::<u32>(), Ok(p) if p <= 65535)
        {
            return bad("the port must be a number from 0 to 65535");
        }
    }
    Ok(())
}

fn parse_public_baseurl(node: Node<'_>) -> KResult<String> {
    let mut text = as_string(node)?;
    let err = |m: String| KeyError::new(node.path, m);
    let parsed =
        url::Url::parse(&text).map_err(|e| err(format!("`{text}` is not a valid URL: {e}")))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(err(format!(
            "`{text}` must be an http:// or https:// URL, not {}://",
            parsed.scheme()
        )));
    }
    if matches!(parsed.host_str(), None | Some("")) {
        return Err(err(format!("`{text}` has no host")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(err(format!(
            "`{text}` must not have a query (`?`) or fragment (`#`)"
        )));
    }
    if !text.ends_with('/') {
        text.push('/');
    }
    Ok(text)
}

// ----- listeners -----

const LISTENER_KEYS: &[&str] = &[
    "port",
    "bind_addresses",
    "bind_address",
    "type",
    "tls",
    "x_forwarded",
    "resources",
    "path",
    "mode",
];
/// Synapse listener keys accepted and ignored: `tag` (a label in Synapse's
/// logs), `request_id_header` (request IDs from the proxy), `additional_resources`
/// (Synapse module web resources).
const LISTENER_IGNORED_KEYS: &[&str] = &["tag", "request_id_header", "additional_resources"];
/// Synapse listener types that mxauth accepts and leaves out of `listeners`.
const IGNORED_LISTENER_TYPES: &[&str] = &["metrics", "manhole", "replication"];
const RESOURCE_KEYS: &[&str] = &["names", "compress"];
/// Synapse's `KNOWN_RESOURCES` (synapse/config/server.py).
const KNOWN_RESOURCES: &[&str] = &[
    "client",
    "consent",
    "federation",
    "health",
    "keys",
    "media",
    "metrics",
    "openid",
    "replication",
    "static",
];

fn parse_listeners(node: Node<'_>) -> KResult<Vec<Listener>> {
    let mut listeners = Vec::new();
    for item in as_list(node)? {
        if let Some(listener) = parse_listener(item.node())? {
            listeners.push(listener);
        }
    }
    if listeners.is_empty() {
        return Err(KeyError::new(
            node.path,
            "no listener of type `http`: mxauth needs one to serve the client API",
        ));
    }
    Ok(listeners)
}

/// `None` for a listener type mxauth ignores.
fn parse_listener(node: Node<'_>) -> KResult<Option<Listener>> {
    if node.value.is_null() {
        return Err(KeyError::new(
            node.path,
            "expected a listener (a mapping with `port`, `type`, ...), found nothing",
        ));
    }
    let map = Map::from_node(node)?;
    let kind = map.string("type")?.unwrap_or_else(|| "http".to_owned());
    if IGNORED_LISTENER_TYPES.contains(&kind.as_str()) {
        return Ok(None);
    }
    if kind != "http" {
        let suggestion = yaml::suggest(
            &kind,
            std::iter::once("http").chain(IGNORED_LISTENER_TYPES.iter().copied()),
        );
        let hint = suggestion.map_or(String::new(), |s| format!("; did you mean `{s}`?"));
        return Err(KeyError::new(
            map.path_of("type"),
            format!(
                "unknown listener type `{kind}` (mxauth serves `http`; `metrics`, `manhole` \
                 and `replication` are accepted and ignored){hint}"
            ),
        ));
    }
    map.check_keys(LISTENER_KEYS, LISTENER_IGNORED_KEYS)?;

    if let Some(l) = map.get("path") {
        return Err(KeyError::new(
            l.path,
            "Unix socket listeners are not supported by mxauth; use `port`",
        ));
    }
    if let Some(l) = map.get("mode") {
        return Err(KeyError::new(
            l.path,
            "only meaningful for a Unix socket listener, which mxauth does not support",
        ));
    }
    let port = match map.get("port") {
        Some(l) => as_port(l.node())?,
        None => {
            return Err(KeyError::new(
                map.path_of("port"),
                "missing: every listener needs a port",
            ))
        }
    };

    let mut bind_addresses = Vec::new();
    if let Some(l) = map.get("bind_addresses") {
        for item in as_list(l.node())? {
            bind_addresses.push(parse_ip(item.node())?);
        }
    }
    if let Some(l) = map.get("bind_address") {
        bind_addresses.push(parse_ip(l.node())?);
    }
    if bind_addresses.is_empty() {
        bind_addresses = DEFAULT_BIND_ADDRESSES.map(str::to_owned).to_vec();
    }

    let tls = map.bool_or("tls", false)?;
    if tls {
        return Err(KeyError::new(
            map.path_of("tls"),
            "mxauth does not terminate TLS; put it behind a reverse proxy",
        ));
    }
    let x_forwarded = map.bool_or("x_forwarded", false)?;

    let mut resources = Vec::new();
    if let Some(l) = map.get("resources") {
        for item in as_list(l.node())? {
            resources.push(parse_resource(item.node())?);
        }
    }

    Ok(Some(Listener {
        port,
        bind_addresses,
        kind,
        tls,
        x_forwarded,
        resources,
    }))
}

fn parse_ip(node: Node<'_>) -> KResult<String> {
    let text = as_string(node)?;
    if text.parse::<IpAddr>().is_err() {
        return Err(KeyError::new(
            node.path,
            format!("`{text}` is not an IP address (such as `0.0.0.0`, `::` or `127.0.0.1`)"),
        ));
    }
    Ok(text)
}

fn parse_resource(node: Node<'_>) -> KResult<ListenerResource> {
    let map = Map::from_node(node)?;
    map.check_keys(RESOURCE_KEYS, &[])?;
    let mut names = Vec::new();
    if let Some(l) = map.get("names") {
        for item in as_list(l.node())? {
            let name = as_string(item.node())?;
            if !KNOWN_RESOURCES.contains(&name.as_str()) {
                let hint = yaml::suggest(&name, KNOWN_RESOURCES.iter().copied())
                    .map_or(String::new(), |s| format!("; did you mean `{s}`?"));
                return Err(KeyError::new(
                    item.path,
                    format!(
                        "unknown resource `{name}` (known: {}){hint}",
                        KNOWN_RESOURCES.join(", ")
                    ),
                ));
            }
            names.push(name);
        }
    }
    let compress = map.bool_or("compress", false)?;
    Ok(ListenerResource { names, compress })
}

// ----- database -----

const DATABASE_KEYS: &[&str] = &["name", "args"];
/// Synapse database keys accepted and ignored: `txn_limit` (Synapse recycles
/// connections after N transactions), `allow_unsafe_locale` (Synapse's check of
/// the PostgreSQL collation), `data_stores` (which Synapse stores live in the
/// database).
const DATABASE_IGNORED_KEYS: &[&str] = &["txn_limit", "allow_unsafe_locale", "data_stores"];
const SQLITE_ARGS: &[&str] = &["database"];
/// SQLite args accepted and ignored: Synapse's pool sizes (it always uses one
/// connection for SQLite).
const SQLITE_IGNORED_ARGS: &[&str] = &["cp_min", "cp_max", "check_same_thread"];
const POSTGRES_ARGS: &[&str] = &[
    "user", "password", "database", "dbname", "host", "port", "cp_min", "cp_max", "sslmode",
];
/// PostgreSQL args accepted and ignored: Twisted's pool reconnection, libpq TCP
/// keepalives, connection timeout and application name.
const POSTGRES_IGNORED_ARGS: &[&str] = &[
    "cp_reconnect",
    "cp_openfun",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "connect_timeout",
    "application_name",
];

fn parse_database(node: Node<'_>) -> KResult<DatabaseConfig> {
    let map = Map::from_node(node)?;
    map.check_keys(DATABASE_KEYS, DATABASE_IGNORED_KEYS)?;
    let name = map.string("name")?.unwrap_or_else(|| "sqlite3".to_owned());
    let args_path = map.path_of("args");
    let args = match map.get("args") {
        Some(l) => Map::from_value(l.value, &l.path)?,
        None => Map::from_value(&Value::Null, &args_path)?,
    };
    match name.as_str() {
        "sqlite3" => {
            args.check_keys(SQLITE_ARGS, SQLITE_IGNORED_ARGS)?;
            let path = args.string("database")?.ok_or_else(|| {
                KeyError::new(
                    args.path_of("database"),
                    "missing: the SQLite database file (or `:memory:`)",
                )
            })?;
            if path.is_empty() {
                return Err(KeyError::new(
                    args.path_of("database"),
                    "must not be empty: the SQLite database file (or `:memory:`)",
                ));
            }
            Ok(DatabaseConfig::Sqlite {
                path: PathBuf::from(path),
            })
        }
        "psycopg2" | "psycopg" => parse_postgres(&args),
        other => {
            let hint = yaml::suggest(other, ["sqlite3", "psycopg2", "psycopg"])
                .map_or(String::new(), |s| format!("; did you mean `{s}`?"));
            Err(KeyError::new(
                map.path_of("name"),
                format!(
                    "unknown database `{other}`: expected `sqlite3` or `psycopg2` (PostgreSQL){hint}"
                ),
            ))
        }
    }
}

fn parse_postgres(args: &Map<'_>) -> KResult<DatabaseConfig> {
    args.check_keys(POSTGRES_ARGS, POSTGRES_IGNORED_ARGS)?;
    let user = args.string("user")?;
    let password = args.secret("password")?.map(Secret::new);
    let database = match (args.get("database"), args.get("dbname")) {
        (Some(_), Some(l)) => {
            return Err(KeyError::new(
                l.path,
                "`database` and `dbname` are the same setting; keep one",
            ))
        }
        (Some(l), None) | (None, Some(l)) => as_string(l.node())?,
        (None, None) => {
            return Err(KeyError::new(
                args.path_of("database"),
                "missing: the PostgreSQL database name (`database` or `dbname`)",
            ))
        }
    };
    let host = args
        .string("host")?
        .unwrap_or_else(|| "localhost".to_owned());
    let valid_host = host.starts_with('/')
        || host.parse::<IpAddr>().is_ok()
        || (!host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')));
    if !valid_host {
        return Err(KeyError::new(
            args.path_of("host"),
            format!(
                "`{host}` is not a host name, an IP address or a Unix socket directory \
                 (starting with `/`)"
            ),
        ));
    }
    let port = match args.get("port") {
        Some(l) => as_port(l.node())?,
        None => 5432,
    };
    let cp_min = args.opt_u32("cp_min")?;
    let cp_max = args.opt_u32("cp_max")?;
    if cp_max == Some(0) {
        return Err(KeyError::new(args.path_of("cp_max"), "must be at least 1"));
    }
    if let (Some(min), Some(max)) = (cp_min, cp_max) {
        if min > max {
            return Err(KeyError::new(
                args.path_of("cp_min"),
                format!("must not be larger than cp_max ({min} > {max})"),
            ));
        }
    }
    // mxauth's PostgreSQL client has no TLS: refuse a mode that requires it
    // rather than connecting in plain text when the admin asked for TLS.
    if let Some(mode) = args.string("sslmode")? {
        match mode.as_str() {
            "disable" | "allow" | "prefer" => {}
            "require" | "verify-ca" | "verify-full" => {
                return Err(KeyError::new(
                    args.path_of("sslmode"),
                    format!(
                        "`{mode}` needs TLS to PostgreSQL, which mxauth does not support yet; \
                         connect over a Unix socket or a trusted network and use `disable` or \
                         `prefer`"
                    ),
                ))
            }
            other => {
                return Err(KeyError::new(
                    args.path_of("sslmode"),
                    format!(
                        "unknown sslmode `{other}` (expected disable, allow, prefer, require, \
                         verify-ca or verify-full)"
                    ),
                ))
            }
        }
    }
    Ok(DatabaseConfig::Postgres {
        user,
        password,
        database,
        host,
        port,
        cp_min,
        cp_max,
    })
}

// ----- registration shared secret -----

fn parse_shared_secret(top: &Map<'_>) -> KResult<Option<Secret>> {
    let inline = top.secret("registration_shared_secret")?;
    let path = top.string("registration_shared_secret_path")?;
    match (inline, path) {
        (Some(_), Some(_)) => Err(KeyError::new(
            top.path_of("registration_shared_secret_path"),
            "You have configured both `registration_shared_secret` and \
             `registration_shared_secret_path`. These are mutually incompatible.",
        )),
        // An empty secret disables shared-secret registration, as in Synapse.
        (Some(secret), None) => Ok(Some(secret).filter(|s| !s.is_empty()).map(Secret::new)),
        (None, Some(file)) => {
            let key = top.path_of("registration_shared_secret_path");
            let text = std::fs::read_to_string(&file)
                .map_err(|e| KeyError::new(&key, format!("cannot read `{file}`: {e}")))?;
            let text = Zeroizing::new(text);
            let secret = text.trim();
            if secret.is_empty() {
                return Err(KeyError::new(&key, format!("the file `{file}` is empty")));
            }
            Ok(Some(Secret::new(secret)))
        }
        (None, None) => Ok(None),
    }
}

// ----- password_config -----

const PASSWORD_CONFIG_KEYS: &[&str] = &["enabled", "localdb_enabled", "pepper", "policy"];
const POLICY_KEYS: &[&str] = &[
    "enabled",
    "minimum_length",
    "require_digit",
    "require_symbol",
    "require_lowercase",
    "require_uppercase",
];

fn parse_password_config(node: Node<'_>) -> KResult<PasswordConfig> {
    let map = Map::from_node(node)?;
    map.check_keys(PASSWORD_CONFIG_KEYS, &[])?;
    let enabled = match map.get("enabled") {
        None => PasswordEnabled::Yes,
        Some(l) => match l.value {
            Value::String(s) if s == "only_for_reauth" => PasswordEnabled::OnlyForReauth,
            _ => match as_bool(l.node()) {
                Ok(true) => PasswordEnabled::Yes,
                Ok(false) => PasswordEnabled::No,
                Err(_) => {
                    return Err(KeyError::new(
                        l.path,
                        format!(
                            "expected true, false or \"only_for_reauth\", found {}",
                            yaml::describe(l.value)
                        ),
                    ))
                }
            },
        },
    };
    let localdb_enabled = map.bool_or("localdb_enabled", true)?;
    let pepper = map.secret("pepper")?.map(Secret::new).unwrap_or_default();
    let policy = match map.get("policy") {
        Some(l) => parse_policy(l.node())?,
        None => PasswordPolicy::default(),
    };
    Ok(PasswordConfig {
        enabled,
        localdb_enabled,
        pepper,
        policy,
    })
}

fn parse_policy(node: Node<'_>) -> KResult<PasswordPolicy> {
    let map = Map::from_node(node)?;
    map.check_keys(POLICY_KEYS, &[])?;
    Ok(PasswordPolicy {
        enabled: map.bool_or("enabled", false)?,
        minimum_length: map.usize_or("minimum_length", 0)?,
        require_digit: map.bool_or("require_digit", false)?,
        require_symbol: map.bool_or("require_symbol", false)?,
        require_lowercase: map.bool_or("require_lowercase", false)?,
        require_uppercase: map.bool_or("require_uppercase", false)?,
    })
}

// ----- mxauth -----

const MXAUTH_KEYS: &[&str] = &[
    "uia_session_lifetime",
    "max_request_body_size",
    "password_hashing_concurrency",
    "token_last_used_flush_interval",
    ratelimit::MXAUTH_KEY,
    "header_read_timeout",
    "max_connections",
    "shutdown_timeout",
];

/// Google's siteverify endpoint, Synapse's default.
const DEFAULT_SITEVERIFY: &str = "https://www.recaptcha.net/recaptcha/api/siteverify";

/// A string key given inline or as `<key>_path` (a file read at load).
fn inline_or_file(top: &Map<'_>, key: &str) -> KResult<Option<String>> {
    let path_key = format!("{key}_path");
    match (top.secret(key)?, top.string(&path_key)?) {
        (Some(_), Some(_)) => Err(KeyError::new(
            top.path_of(&path_key),
            format!("set either `{key}` or `{path_key}`, not both"),
        )),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                KeyError::new(top.path_of(&path_key), format!("cannot read `{file}`: {e}"))
            })?;
            Ok(Some(Zeroizing::new(text).trim().to_owned()))
        }
        (None, None) => Ok(None),
    }
}

fn parse_recaptcha(top: &Map<'_>) -> KResult<Option<RecaptchaConfig>> {
    if !top.bool_or("enable_registration_captcha", false)? {
        return Ok(None);
    }
    let need = |key: &str| -> KResult<String> {
        inline_or_file(top, key)?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                KeyError::new(
                    key,
                    "missing: required with `enable_registration_captcha: true`",
                )
            })
    };
    let public_key = need("recaptcha_public_key")?;
    let private_key = Secret::new(need("recaptcha_private_key")?);
    let siteverify_api = match top.get("recaptcha_siteverify_api") {
        Some(l) => {
            let url = as_string(l.node())?;
            let parsed = url::Url::parse(&url)
                .map_err(|e| KeyError::new(&l.path, format!("`{url}` is not a valid URL: {e}")))?;
            if parsed.scheme() != "http" && parsed.scheme() != "https" {
                return Err(KeyError::new(&l.path, "must be an http:// or https:// URL"));
            }
            url
        }
        None => DEFAULT_SITEVERIFY.to_owned(),
    };
    Ok(Some(RecaptchaConfig {
        public_key,
        private_key,
        siteverify_api,
    }))
}

const CONSENT_KEYS: &[&str] = &[
    "version",
    "template_dir",
    "require_at_registration",
    "policy_name",
];
/// Synapse's consent keys about server notices and event blocking, which
/// are not mxauth's: accepted and ignored.
const CONSENT_IGNORED_KEYS: &[&str] = &[
    "server_notice_content",
    "send_server_notice_to_guests",
    "block_events_error",
];

fn parse_consent(node: Node<'_>) -> KResult<ConsentConfig> {
    let map = Map::from_node(node)?;
    map.check_keys(CONSENT_KEYS, CONSENT_IGNORED_KEYS)?;
    // YAML reads `version: 1.0` as a number; Synapse uses it as text.
    let version = match map.get("version") {
        Some(l) => match l.value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(KeyError::new(l.path, "expected a version string")),
        },
        None => {
            return Err(KeyError::new(
                map.path_of("version"),
                "missing: the policy version",
            ))
        }
    };
    let template_dir = match map.string("template_dir")? {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            return Err(KeyError::new(
                map.path_of("template_dir"),
                "missing: the folder holding <lang>/<version>.html",
            ))
        }
    };
    let page = template_dir.join("en").join(format!("{version}.html"));
    if !page.is_file() {
        return Err(KeyError::new(
            map.path_of("template_dir"),
            format!("no policy page at `{}`", page.display()),
        ));
    }
    Ok(ConsentConfig {
        version,
        template_dir,
        require_at_registration: map.bool_or("require_at_registration", false)?,
        policy_name: map
            .string("policy_name")?
            .unwrap_or_else(|| "Privacy Policy".to_owned()),
    })
}

const MATRIX_KEYS: &[&str] = &[
    "kind",
    "homeserver",
    "endpoint",
    "secret",
    "secret_path",
    "secret_file",
    "account_management_uri",
];

fn parse_matrix(node: Node<'_>, server_name: &str) -> KResult<MatrixConfig> {
    let map = Map::from_node(node)?;
    map.check_keys(MATRIX_KEYS, &[])?;
    let kind = map.string("kind")?.unwrap_or_else(|| "synapse".to_owned());
    if kind != "synapse" {
        return Err(KeyError::new(
            map.path_of("kind"),
            format!("`{kind}` is not supported: the only kind is `synapse`"),
        ));
    }
    let homeserver = map
        .string("homeserver")?
        .unwrap_or_else(|| server_name.to_owned());
    if homeserver != server_name {
        return Err(KeyError::new(
            map.path_of("homeserver"),
            format!("`{homeserver}` differs from server_name `{server_name}`"),
        ));
    }
    let endpoint = match map.get("endpoint") {
        Some(l) => parse_public_baseurl(l.node())?,
        None => {
            return Err(KeyError::new(
                map.path_of("endpoint"),
                "missing: the homeserver's URL (for example `http://localhost:8008/`)",
            ))
        }
    };
    let account_management_uri = match map.get("account_management_uri") {
        Some(l) => Some(parse_public_baseurl(l.node())?),
        None => None,
    };
    let inline = map.secret("secret")?;
    let file_key = ["secret_path", "secret_file"]
        .into_iter()
        .find(|k| map.contains(k));
    let secret = match (inline, file_key) {
        (Some(_), Some(k)) => {
            return Err(KeyError::new(
                map.path_of(k),
                format!("set either `secret` or `{k}`, not both"),
            ))
        }
        (Some(s), None) if !s.is_empty() => Secret::new(s),
        (None, Some(k)) => {
            let file = map.string(k)?.unwrap_or_default();
            let text = std::fs::read_to_string(&file)
                .map_err(|e| KeyError::new(map.path_of(k), format!("cannot read `{file}`: {e}")))?;
            let text = Zeroizing::new(text);
            if text.trim().is_empty() {
                return Err(KeyError::new(
                    map.path_of(k),
                    format!("the file `{file}` is empty"),
                ));
            }
            Secret::new(text.trim())
        }
        _ => {
            return Err(KeyError::new(
                map.path_of("secret"),
                "missing: the secret shared with the homeserver",
            ))
        }
    };
    Ok(MatrixConfig {
        kind,
        homeserver,
        endpoint,
        secret,
        account_management_uri,
    })
}

fn parse_mxauth(node: Node<'_>) -> KResult<MxauthConfig> {
    let map = Map::from_node(node)?;
    map.check_keys(MXAUTH_KEYS, &[])?;
    let defaults = MxauthConfig::default();
    let positive_duration = |key: &str, default: u64| -> KResult<u64> {
        match map.get(key) {
            None => Ok(default),
            Some(l) => {
                let ms = yaml::as_duration_ms(l.node())?;
                if ms == 0 {
                    return Err(KeyError::new(l.path, "must be longer than zero"));
                }
                Ok(ms)
            }
        }
    };
    let uia_session_lifetime_ms =
        positive_duration("uia_session_lifetime", defaults.uia_session_lifetime_ms)?;
    let token_last_used_flush_ms = positive_duration(
        "token_last_used_flush_interval",
        defaults.token_last_used_flush_ms,
    )?;
    let max_request_body_bytes = match map.get("max_request_body_size") {
        None => defaults.max_request_body_bytes,
        Some(l) => {
            let bytes = yaml::as_size_bytes(l.node())?;
            if bytes == 0 {
                return Err(KeyError::new(l.path, "must be larger than zero"));
            }
            usize::try_from(bytes)
                .map_err(|_| KeyError::new(&l.path, "too large for this machine"))?
        }
    };
    let password_hashing_concurrency = map.usize_or(
        "password_hashing_concurrency",
        defaults.password_hashing_concurrency,
    )?;
    if password_hashing_concurrency == 0 {
        return Err(KeyError::new(
            map.path_of("password_hashing_concurrency"),
            "must be at least 1",
        ));
    }
    let header_read_timeout_ms =
        positive_duration("header_read_timeout", defaults.header_read_timeout_ms)?;
    let shutdown_timeout_ms = match map.get("shutdown_timeout") {
        None => defaults.shutdown_timeout_ms,
        Some(l) => yaml::as_duration_ms(l.node())?,
    };
    let max_connections = map.usize_or("max_connections", defaults.max_connections)?;
    if max_connections == 0 {
        return Err(KeyError::new(
            map.path_of("max_connections"),
            "must be at least 1",
        ));
    }
    Ok(MxauthConfig {
        uia_session_lifetime_ms,
        max_request_body_bytes,
        password_hashing_concurrency,
        token_last_used_flush_ms,
        header_read_timeout_ms,
        max_connections,
        shutdown_timeout_ms,
    })
}
