//! `database:` (Synapse's `sqlite3` and `psycopg2` blocks) and the URL
//! mxauth connects with.

use super::*;

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

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig::Sqlite {
            path: PathBuf::from(DEFAULT_SQLITE_PATH),
        }
    }
}

// ---------------------------------------------------------------------------
// Database URL
// ---------------------------------------------------------------------------

/// Everything but RFC 3986 unreserved characters, for user, password, database
/// name and query values.
pub(super) const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// For SQLite paths: sqlx percent-decodes the path and splits it at `?`.
pub(super) const SQLITE_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b'%')
    .add(b'?')
    .add(b'#')
    .add(b' ');

pub(super) fn enc(s: &str, set: &'static percent_encoding::AsciiSet) -> String {
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

// ----- database -----

pub(super) const DATABASE_KEYS: &[&str] = &["name", "args"];
/// Synapse database keys accepted and ignored: `txn_limit` (Synapse recycles
/// connections after N transactions), `allow_unsafe_locale` (Synapse's check of
/// the PostgreSQL collation), `data_stores` (which Synapse stores live in the
/// database).
pub(super) const DATABASE_IGNORED_KEYS: &[&str] =
    &["txn_limit", "allow_unsafe_locale", "data_stores"];
pub(super) const SQLITE_ARGS: &[&str] = &["database"];
/// SQLite args accepted and ignored: Synapse's pool sizes (it always uses one
/// connection for SQLite).
pub(super) const SQLITE_IGNORED_ARGS: &[&str] = &["cp_min", "cp_max", "check_same_thread"];
pub(super) const POSTGRES_ARGS: &[&str] = &[
    "user", "password", "database", "dbname", "host", "port", "cp_min", "cp_max", "sslmode",
];
/// PostgreSQL args accepted and ignored: Twisted's pool reconnection, libpq TCP
/// keepalives, connection timeout and application name.
pub(super) const POSTGRES_IGNORED_ARGS: &[&str] = &[
    "cp_reconnect",
    "cp_openfun",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "connect_timeout",
    "application_name",
];

pub(super) fn parse_database(node: Node<'_>) -> KResult<DatabaseConfig> {
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

pub(super) fn parse_postgres(args: &Map<'_>) -> KResult<DatabaseConfig> {
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
