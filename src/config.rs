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
mod database;
mod email;
mod listeners;
mod matrix;
mod modules;
mod mxauth;
pub mod oidc;
mod password;
mod ratelimit;
mod registration;
mod sessions;
mod synapse_keys;
mod templates;
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
pub use self::database::DatabaseConfig;
use self::database::*;
pub use self::email::{AllowedThreepid, EmailConfig, ThreepidConfig};
use self::listeners::*;
pub use self::listeners::{Listener, ListenerResource};
pub use self::matrix::MatrixConfig;
use self::matrix::*;
pub use self::modules::{
    JwtConfig, LdapProviderConfig, LdapSearch, ModuleConfig, RestProviderConfig, LDAP_MODULE,
    REST_MODULE,
};
pub use self::mxauth::MxauthConfig;
use self::mxauth::*;
pub use self::oidc::{LoginViaExistingSession, OidcProviderConfig, SsoConfig};
use self::password::*;
pub use self::password::{PasswordConfig, PasswordEnabled, PasswordPolicy};
pub use self::ratelimit::{RateLimit, RateLimitConfig};
use self::registration::*;
pub use self::registration::{ConsentConfig, RecaptchaConfig};
pub use self::sessions::SessionConfig;
pub use self::templates::TemplatesConfig;
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
    /// `templates`: the admin's overrides of the HTML pages.
    pub templates: TemplatesConfig,
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
            templates: TemplatesConfig::default(),
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
            || templates::KEYS.contains(&key)
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
                    .chain(templates::KEYS.iter().copied())
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
    let templates = templates::parse(&top)?;

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
            templates,
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
