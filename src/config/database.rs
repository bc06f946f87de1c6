//! `database:` (Synapse's `sqlite3` and `psycopg2` blocks) and the URL
//! mxauth connects with.

use std::net::IpAddr;
use std::path::PathBuf;

use serde_yaml::Value;

use super::yaml::{self, as_port, as_string, KResult, KeyError, Map, Node};
use super::Secret;

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &["database", "databases", "database_path"];

const DEFAULT_SQLITE_PATH: &str = "./data/mxauth.db";

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

pub(super) fn parse(top: &Map<'_>) -> KResult<DatabaseConfig> {
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
    match top.get("database") {
        Some(l) => parse_database(l.node()),
        None => Ok(DatabaseConfig::default()),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;
    use std::path::PathBuf;

    #[test]
    fn unknown_database_name() {
        let (path, shown) =
            parse_error("server_name: example.com\ndatabase:\n  name: postgres\n  args: {}\n");
        assert_eq!(path, "database.name");
        assert!(
            shown.contains("unknown database `postgres`: expected `sqlite3` or `psycopg2`"),
            "{shown}"
        );
        let (path, shown) = parse_error("server_name: example.com\ndatabase:\n  name: sqlite\n");
        assert_eq!(path, "database.name");
        assert!(shown.ends_with("did you mean `sqlite3`?"), "{shown}");
    }

    #[test]
    fn database_details() {
        let (path, _) = parse_error("server_name: example.com\ndatabase:\n  name: sqlite3\n");
        assert_eq!(path, "database.args.database");
        let (path, _) = parse_error(
            "server_name: example.com\ndatabase:\n  name: psycopg2\n  args: {user: u}\n",
        );
        assert_eq!(path, "database.args.database");
        let (path, _) = parse_error(
            "server_name: example.com\ndatabase:\n  name: psycopg2\n  args: {database: a, dbname: b}\n",
        );
        assert_eq!(path, "database.args.dbname");
        let (path, shown) = parse_error(
            "server_name: example.com\ndatabase:\n  name: psycopg2\n  args: {database: a, sslmode: verify-full}\n",
        );
        assert_eq!(path, "database.args.sslmode");
        assert!(shown.contains("needs TLS"), "{shown}");
        let (path, _) = parse_error(
            "server_name: example.com\ndatabase:\n  name: psycopg2\n  args: {database: a, cp_min: 5, cp_max: 2}\n",
        );
        assert_eq!(path, "database.args.cp_min");
        let (path, shown) = parse_error(
            "server_name: example.com\ndatabase:\n  name: psycopg2\n  args: {database: a, host: 'db/x'}\n",
        );
        assert_eq!(path, "database.args.host");
        assert!(shown.contains("is not a host name"), "{shown}");
        let (path, _) = parse_error("server_name: example.com\ndatabases:\n  main: {}\n");
        assert_eq!(path, "databases");
        let c = config(
            "server_name: example.com\ndatabase:\n  name: sqlite3\n  args:\n    database: ':memory:'\n",
        );
        assert_eq!(c.database.url(), "sqlite::memory:");
    }

    #[test]
    fn database_url_percent_encodes() {
        let db = DatabaseConfig::Postgres {
            user: Some("sy@n apse".to_owned()),
            password: Some(Secret::new("p@ss:w/rd?#%")),
            database: "my db".to_owned(),
            host: "db.example.com".to_owned(),
            port: 5432,
            cp_min: None,
            cp_max: None,
        };
        assert_eq!(
            db.url(),
            "postgres://sy%40n%20apse:p%40ss%3Aw%2Frd%3F%23%25@db.example.com:5432/my%20db"
        );

        let socket = DatabaseConfig::Postgres {
            user: Some("synapse".to_owned()),
            password: Some(Secret::new("a+b c")),
            database: "synapse".to_owned(),
            host: "/var/run/postgresql".to_owned(),
            port: 5432,
            cp_min: None,
            cp_max: None,
        };
        assert_eq!(
            socket.url(),
            "postgres:///synapse?host=%2Fvar%2Frun%2Fpostgresql&port=5432&user=synapse&password=a%2Bb%20c"
        );

        let v6 = DatabaseConfig::Postgres {
            user: None,
            password: None,
            database: "s".to_owned(),
            host: "::1".to_owned(),
            port: 5433,
            cp_min: None,
            cp_max: None,
        };
        assert_eq!(v6.url(), "postgres:///s?host=%3A%3A1&port=5433");

        let sqlite = DatabaseConfig::Sqlite {
            path: PathBuf::from("/data/a b?c%.db"),
        };
        assert_eq!(sqlite.url(), "sqlite:///data/a%20b%3Fc%25.db?mode=rwc");

        // sqlx reads the URLs back to the same values.
        use sqlx::postgres::PgConnectOptions;
        use sqlx::sqlite::SqliteConnectOptions;
        use std::str::FromStr;
        let opts = PgConnectOptions::from_str(&db.url()).expect("sqlx parses the postgres URL");
        assert_eq!(opts.get_username(), "sy@n apse");
        assert_eq!(opts.get_database(), Some("my db"));
        assert_eq!(opts.get_host(), "db.example.com");
        assert_eq!(opts.get_port(), 5432);
        let opts = PgConnectOptions::from_str(&socket.url()).expect("sqlx parses the socket URL");
        assert_eq!(
            opts.get_socket(),
            Some(&PathBuf::from("/var/run/postgresql"))
        );
        assert_eq!(opts.get_database(), Some("synapse"));
        assert_eq!(opts.get_username(), "synapse");
        let opts = PgConnectOptions::from_str(&v6.url()).expect("sqlx parses the IPv6 URL");
        assert_eq!(opts.get_host(), "::1");
        assert_eq!(opts.get_port(), 5433);
        let opts =
            SqliteConnectOptions::from_str(&sqlite.url()).expect("sqlx parses the sqlite URL");
        assert_eq!(opts.get_filename(), Path::new("/data/a b?c%.db"));
    }
}
