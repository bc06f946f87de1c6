//! TEMPORARY stand-in with the agreed API; replaced by the config branch.
use std::path::PathBuf;

#[derive(Clone)]
pub struct Secret(zeroize::Zeroizing<String>);
impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(zeroize::Zeroizing::new(s.into()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}
#[derive(Debug, Clone)]
pub struct Config {
    pub server_name: String,
    pub public_baseurl: Option<String>,
    pub listeners: Vec<Listener>,
    pub database: DatabaseConfig,
    pub enable_registration: bool,
    pub enable_registration_without_verification: bool,
    pub registration_shared_secret: Option<Secret>,
    pub password_config: PasswordConfig,
    pub bcrypt_rounds: u32,
    pub allow_guest_access: bool,
    pub mxauth: MxauthConfig,
}
#[derive(Debug, Clone)]
pub struct Listener {
    pub port: u16,
    pub bind_addresses: Vec<String>,
    pub kind: String,
    pub tls: bool,
    pub x_forwarded: bool,
    pub resources: Vec<ListenerResource>,
}
#[derive(Debug, Clone)]
pub struct ListenerResource {
    pub names: Vec<String>,
    pub compress: bool,
}
#[derive(Debug, Clone)]
pub enum DatabaseConfig {
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        user: Option<String>,
        password: Option<Secret>,
        database: String,
        host: String,
        port: u16,
        cp_min: Option<u32>,
        cp_max: Option<u32>,
    },
}
impl DatabaseConfig {
    pub fn url(&self) -> String {
        match self {
            DatabaseConfig::Sqlite { path } => format!("sqlite://{}?mode=rwc", path.display()),
            DatabaseConfig::Postgres {
                database,
                host,
                port,
                user,
                ..
            } => format!(
                "postgres://{}@{host}:{port}/{database}",
                user.clone().unwrap_or_default()
            ),
        }
    }
}
#[derive(Debug, Clone)]
pub struct PasswordConfig {
    pub enabled: bool,
    pub localdb_enabled: bool,
    pub pepper: Secret,
    pub policy: PasswordPolicy,
}
impl PasswordConfig {
    pub fn login_enabled(&self) -> bool {
        self.enabled
    }
    pub fn reauth_enabled(&self) -> bool {
        self.enabled
    }
}
#[derive(Debug, Clone, Default)]
pub struct PasswordPolicy {
    pub enabled: bool,
    pub minimum_length: usize,
    pub require_digit: bool,
    pub require_symbol: bool,
    pub require_lowercase: bool,
    pub require_uppercase: bool,
}
#[derive(Debug, Clone)]
pub struct MxauthConfig {
    pub uia_session_lifetime_ms: u64,
    pub max_request_body_bytes: usize,
    pub password_hashing_concurrency: usize,
    pub token_last_used_flush_ms: u64,
}
impl Default for Config {
    fn default() -> Self {
        Config {
            server_name: "localhost".into(),
            public_baseurl: None,
            listeners: vec![Listener {
                port: 8008,
                bind_addresses: vec!["127.0.0.1".into()],
                kind: "http".into(),
                tls: false,
                x_forwarded: false,
                resources: vec![],
            }],
            database: DatabaseConfig::Sqlite {
                path: "./data/mxauth.db".into(),
            },
            enable_registration: false,
            enable_registration_without_verification: false,
            registration_shared_secret: None,
            password_config: PasswordConfig {
                enabled: true,
                localdb_enabled: true,
                pepper: Secret::new(""),
                policy: PasswordPolicy::default(),
            },
            bcrypt_rounds: 12,
            allow_guest_access: false,
            mxauth: MxauthConfig {
                uia_session_lifetime_ms: 48 * 3600 * 1000,
                max_request_body_bytes: 65536,
                password_hashing_concurrency: 2,
                token_last_used_flush_ms: 60_000,
            },
        }
    }
}
pub struct Loaded {
    pub config: Config,
    pub ignored_keys: Vec<String>,
}
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);
impl Config {
    pub fn load(path: &std::path::Path) -> Result<Loaded, ConfigError> {
        Err(ConfigError(format!("{}: not yet", path.display())))
    }
}
