use std::io::Write;
use std::path::Path;

use super::*;

const ORIGIN: &str = "/etc/matrix/homeserver.yaml";

fn load(text: &str) -> Result<Loaded, ConfigError> {
    Config::from_yaml_str(text, Path::new(ORIGIN))
}

fn config(text: &str) -> Config {
    match load(text) {
        Ok(loaded) => loaded.config,
        Err(e) => panic!("expected the config to load, got: {e}"),
    }
}

/// The key path and the full Display of a Parse error.
fn parse_error(text: &str) -> (String, String) {
    match load(text) {
        Ok(loaded) => panic!("expected an error, loaded {loaded:?}"),
        Err(e) => {
            let shown = e.to_string();
            match e {
                ConfigError::Parse { path, .. } => (path, shown),
                other => panic!("expected a Parse error, got {other:?}"),
            }
        }
    }
}

const MINIMAL: &str = "server_name: example.com\n";

#[test]
fn minimal_file_gets_defaults() {
    let loaded = load(MINIMAL).expect("minimal config loads");
    assert!(loaded.ignored_keys.is_empty());
    let c = loaded.config;
    let defaults = Config::default();
    assert_eq!(c.server_name, "example.com");
    assert_eq!(c.public_baseurl, None);
    assert_eq!(c.listeners, defaults.listeners);
    assert_eq!(
        c.database,
        DatabaseConfig::Sqlite {
            path: PathBuf::from("./data/mxauth.db")
        }
    );
    assert!(!c.enable_registration);
    assert!(!c.enable_registration_without_verification);
    assert!(c.registration_shared_secret.is_none());
    assert_eq!(c.bcrypt_rounds, 12);
    assert!(!c.allow_guest_access);
    assert_eq!(c.password_config, PasswordConfig::default());
    assert!(c.password_config.login_enabled());
    assert!(c.password_config.reauth_enabled());
    assert!(c.password_config.localdb_enabled);
    assert!(c.password_config.pepper.is_empty());
    assert!(!c.password_config.policy.enabled);
    assert_eq!(c.password_config.policy.minimum_length, 0);
    assert_eq!(c.mxauth.uia_session_lifetime_ms, 48 * 3_600_000);
    assert_eq!(c.mxauth.max_request_body_bytes, 65_536);
    assert_eq!(c.mxauth.token_last_used_flush_ms, 60_000);
    assert!(c.mxauth.password_hashing_concurrency >= 1);
    assert_eq!(c.mxauth.header_read_timeout_ms, 10_000);
    assert_eq!(c.mxauth.max_connections, 1024);
    assert_eq!(c.mxauth.shutdown_timeout_ms, 10_000);
}

#[test]
fn default_config_has_one_local_http_listener_and_sqlite() {
    let c = Config::default();
    assert_eq!(c.server_name, "localhost");
    assert_eq!(c.listeners.len(), 1);
    let l = &c.listeners[0];
    assert_eq!(l.port, 8008);
    assert_eq!(l.bind_addresses, vec!["127.0.0.1".to_owned()]);
    assert_eq!(l.kind, "http");
    assert!(!l.tls);
    assert_eq!(c.database.url(), "sqlite://./data/mxauth.db?mode=rwc");
}

/// A homeserver.yaml as Synapse's `generate` writes it, grown the way real ones
/// do: media, logging, caches, email, OIDC, workers' keys, metrics listener.
const REALISTIC: &str = r##"
# Configuration file for Synapse.
server_name: "matrix.example.org"
pid_file: /data/homeserver.pid
public_baseurl: https://matrix.example.org
listeners:
  - port: 8008
    tls: false
    type: http
    x_forwarded: true
    bind_addresses: ['::1', '127.0.0.1']
    resources:
      - names: [client, federation]
        compress: false
  - port: 9000
    type: metrics
    bind_addresses: ['0.0.0.0']
  - port: 9093
    type: http
    resources:
      - names: [replication]
database:
  name: psycopg2
  txn_limit: 10000
  args:
    user: synapse_user
    password: secretpassword
    dbname: synapse
    host: db.internal
    port: 5433
    cp_min: 5
    cp_max: 10
    sslmode: prefer
    keepalives_idle: 10
log_config: "/data/matrix.example.org.log.config"
media_store_path: /data/media_store
max_upload_size: 50M
url_preview_enabled: false
registration_shared_secret: "Oi8h4q;Jv.Xz&~rT"
enable_registration: false
report_stats: true
macaroon_secret_key: "kC2#s@Vb"
form_secret: "y9,Qp"
signing_key_path: "/data/matrix.example.org.signing.key"
trusted_key_servers:
  - server_name: "matrix.org"
suppress_key_server_warning: true
federation_domain_whitelist:
  - example.com
presence:
  enabled: true
caches:
  global_factor: 1.0
  per_cache_factors:
    get_users_who_share_room_with_user: 2.0
event_cache_size: 10K
enable_metrics: true
retention:
  enabled: false
email:
  smtp_host: mail.example.org
  notif_from: "Your Friendly %(app)s homeserver <noreply@example.org>"
oidc_providers:
  - idp_id: google
    idp_name: Google
    issuer: "https://accounts.google.com/"
    client_id: "abc"
    client_secret: "def"
password_config:
  enabled: true
  pepper: "EVEN_MORE_SECRET"
  policy:
    enabled: true
    minimum_length: 15
    require_digit: true
    require_symbol: true
    require_lowercase: true
    require_uppercase: true
bcrypt_rounds: 14
allow_guest_access: false
auto_join_rooms:
  - "#welcome:matrix.example.org"
user_directory:
  enabled: true
  search_all_users: true
experimental_features:
  msc3266_enabled: true
mxauth:
  uia_session_lifetime: 30m
  max_request_body_size: 1M
  password_hashing_concurrency: 2
  token_last_used_flush_interval: 15s
  header_read_timeout: 5s
  max_connections: 200
  shutdown_timeout: 3s
# vim:ft=yaml
"##;

#[test]
fn realistic_homeserver_yaml_loads_and_lists_ignored_keys() {
    let loaded = load(REALISTIC).expect("realistic homeserver.yaml loads");
    assert_eq!(
        loaded.ignored_keys,
        vec![
            "auto_join_rooms",
            "caches",
            "enable_metrics",
            "event_cache_size",
            "experimental_features",
            "federation_domain_whitelist",
            "form_secret",
            "log_config",
            "max_upload_size",
            "media_store_path",
            "pid_file",
            "presence",
            "report_stats",
            "retention",
            "signing_key_path",
            "suppress_key_server_warning",
            "trusted_key_servers",
            "url_preview_enabled",
            "user_directory",
        ]
    );
    let c = loaded.config;
    assert_eq!(c.server_name, "matrix.example.org");
    assert_eq!(c.oidc_providers.len(), 1);
    assert_eq!(c.oidc_providers[0].idp_id, "oidc-google");
    assert_eq!(c.oidc_providers[0].scopes, vec!["openid"]);
    assert_eq!(
        c.public_baseurl.as_deref(),
        Some("https://matrix.example.org/")
    );
    // The metrics listener is left out.
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(
        c.listeners[0],
        Listener {
            port: 8008,
            bind_addresses: vec!["::1".to_owned(), "127.0.0.1".to_owned()],
            kind: "http".to_owned(),
            tls: false,
            x_forwarded: true,
            resources: vec![ListenerResource {
                names: vec!["client".to_owned(), "federation".to_owned()],
                compress: false,
            }],
        }
    );
    assert_eq!(c.listeners[1].port, 9093);
    assert_eq!(c.listeners[1].bind_addresses, vec!["::", "0.0.0.0"]);
    assert!(!c.listeners[1].x_forwarded);
    assert_eq!(
        c.database,
        DatabaseConfig::Postgres {
            user: Some("synapse_user".to_owned()),
            password: Some(Secret::new("secretpassword")),
            database: "synapse".to_owned(),
            host: "db.internal".to_owned(),
            port: 5433,
            cp_min: Some(5),
            cp_max: Some(10),
        }
    );
    assert_eq!(
        c.database.url(),
        "postgres://synapse_user:secretpassword@db.internal:5433/synapse"
    );
    assert_eq!(
        c.registration_shared_secret.as_ref().map(Secret::expose),
        Some("Oi8h4q;Jv.Xz&~rT")
    );
    assert_eq!(c.bcrypt_rounds, 14);
    assert_eq!(c.password_config.pepper.expose(), "EVEN_MORE_SECRET");
    assert_eq!(
        c.password_config.policy,
        PasswordPolicy {
            enabled: true,
            minimum_length: 15,
            require_digit: true,
            require_symbol: true,
            require_lowercase: true,
            require_uppercase: true,
        }
    );
    assert_eq!(
        c.mxauth,
        MxauthConfig {
            uia_session_lifetime_ms: 30 * 60_000,
            max_request_body_bytes: 1 << 20,
            password_hashing_concurrency: 2,
            token_last_used_flush_ms: 15_000,
            header_read_timeout_ms: 5_000,
            max_connections: 200,
            shutdown_timeout_ms: 3_000,
        }
    );
}

#[test]
fn synapse_generated_sqlite_config_loads() {
    // What `python -m synapse.app.homeserver --generate-config` writes.
    let text = r#"
server_name: "my.domain.name"
pid_file: /path/to/homeserver.pid
listeners:
  - port: 8008
    tls: false
    type: http
    x_forwarded: true
    bind_addresses: ['::1', '127.0.0.1']
    resources:
      - names: [client, federation]
        compress: false
database:
  name: sqlite3
  args:
    database: /path/to/homeserver.db
log_config: "/path/to/my.domain.name.log.config"
media_store_path: /path/to/media_store
registration_shared_secret: "abc"
report_stats: false
macaroon_secret_key: "def"
form_secret: "ghi"
signing_key_path: "/path/to/my.domain.name.signing.key"
trusted_key_servers:
  - server_name: "matrix.org"
"#;
    let loaded = load(text).expect("generated config loads");
    assert_eq!(
        loaded.config.database,
        DatabaseConfig::Sqlite {
            path: PathBuf::from("/path/to/homeserver.db")
        }
    );
    assert_eq!(
        loaded.config.database.url(),
        "sqlite:///path/to/homeserver.db?mode=rwc"
    );
    // macaroon_secret_key is read (Synapse's guest macaroons).
    assert_eq!(loaded.ignored_keys.len(), 7);
    assert!(loaded
        .ignored_keys
        .contains(&"trusted_key_servers".to_owned()));
}

// ----- unknown keys -----

#[test]
fn top_level_typo_names_the_key_and_suggests() {
    let (path, shown) =
        parse_error("server_name: example.com\npassword_confg:\n  enabled: false\n");
    assert_eq!(path, "password_confg");
    assert_eq!(
        shown,
        "/etc/matrix/homeserver.yaml: password_confg: unknown key `password_confg`; \
         did you mean `password_config`?"
    );
}

#[test]
fn top_level_typo_of_an_ignored_synapse_key_suggests_it() {
    let (path, shown) = parse_error("server_name: example.com\nmedia_store_pth: /data\n");
    assert_eq!(path, "media_store_pth");
    assert!(
        shown.ends_with("did you mean `media_store_path`?"),
        "{shown}"
    );
}

#[test]
fn unknown_key_far_from_any_gets_no_suggestion() {
    let (path, shown) = parse_error("server_name: example.com\nzzqx: 1\n");
    assert_eq!(path, "zzqx");
    assert!(shown.ends_with("unknown key `zzqx`"), "{shown}");
}

#[test]
fn typo_in_password_policy_names_the_nested_path() {
    let text = "server_name: example.com\npassword_config:\n  policy:\n    minimum_lenght: 8\n";
    let (path, shown) = parse_error(text);
    assert_eq!(path, "password_config.policy.minimum_lenght");
    assert!(
        shown.ends_with(
            "password_config.policy.minimum_lenght: unknown key `minimum_lenght`; \
             did you mean `minimum_length`?"
        ),
        "{shown}"
    );
}

#[test]
fn unknown_keys_in_every_section_are_errors() {
    let cases = [
        (
            "listeners:\n  - port: 8008\n    prot: 1\n",
            "listeners[0].prot",
            Some("port"),
        ),
        (
            "listeners:\n  - port: 8008\n    resources:\n      - names: [client]\n        compres: true\n",
            "listeners[0].resources[0].compres",
            Some("compress"),
        ),
        (
            "database:\n  name: sqlite3\n  arg: {}\n",
            "database.arg",
            Some("args"),
        ),
        (
            "database:\n  name: psycopg2\n  args:\n    database: s\n    passwrd: x\n",
            "database.args.passwrd",
            Some("password"),
        ),
        (
            "database:\n  name: sqlite3\n  args:\n    database: x.db\n    user: me\n",
            "database.args.user",
            None,
        ),
        ("password_config:\n  pepperr: x\n", "password_config.pepperr", Some("pepper")),
        (
            "mxauth:\n  uia_session_lifetme: 1h\n",
            "mxauth.uia_session_lifetme",
            Some("uia_session_lifetime"),
        ),
    ];
    for (body, want_path, suggestion) in cases {
        let text = format!("server_name: example.com\n{body}");
        let (path, shown) = parse_error(&text);
        assert_eq!(path, want_path, "for {body:?}");
        match suggestion {
            Some(s) => assert!(shown.ends_with(&format!("did you mean `{s}`?")), "{shown}"),
            None => assert!(!shown.contains("did you mean"), "{shown}"),
        }
    }
}

#[test]
fn ignored_sub_keys_of_known_sections_are_accepted() {
    let text = r#"
server_name: example.com
listeners:
  - port: 8008
    tag: main
    request_id_header: X-Request-ID
database:
  name: psycopg
  allow_unsafe_locale: true
  txn_limit: 10
  args:
    database: synapse
    cp_reconnect: true
    keepalives: 1
    keepalives_interval: 5
    sslmode: disable
"#;
    let c = config(text);
    assert_eq!(c.listeners[0].port, 8008);
    assert_eq!(
        c.database.url(),
        "postgres://localhost:5432/synapse",
        "no user, default host and port"
    );
}

// ----- types and values -----

#[test]
fn wrong_type_for_listener_port() {
    let (path, shown) =
        parse_error("server_name: example.com\nlisteners:\n  - port: \"8008\"\n    type: http\n");
    assert_eq!(path, "listeners[0].port");
    assert_eq!(
        shown,
        "/etc/matrix/homeserver.yaml: listeners[0].port: expected a port number (0-65535), \
         found the string `8008`"
    );
    let (path, shown) = parse_error("server_name: example.com\nlisteners:\n  - port: 70000\n");
    assert_eq!(path, "listeners[0].port");
    assert!(
        shown.contains("expected a port number (0-65535)"),
        "{shown}"
    );
}

#[test]
fn listener_tls_is_refused() {
    let text = "server_name: example.com\nlisteners:\n  - port: 8448\n    tls: true\n";
    let (path, shown) = parse_error(text);
    assert_eq!(path, "listeners[0].tls");
    assert!(
        shown.ends_with(
            "listeners[0].tls: mxauth does not terminate TLS; put it behind a reverse proxy"
        ),
        "{shown}"
    );
}

#[test]
fn listener_types_and_addresses() {
    let (path, _) = parse_error(
        "server_name: example.com\nlisteners:\n  - port: 1\n    bind_addresses: ['0.0.0.0', 'localhost']\n",
    );
    assert_eq!(path, "listeners[0].bind_addresses[1]");

    let (path, shown) =
        parse_error("server_name: example.com\nlisteners:\n  - port: 1\n    type: htp\n");
    assert_eq!(path, "listeners[0].type");
    assert!(shown.ends_with("did you mean `http`?"), "{shown}");

    let (path, shown) = parse_error(
        "server_name: example.com\nlisteners:\n  - port: 1\n    resources:\n      - names: [client, federatoin]\n",
    );
    assert_eq!(path, "listeners[0].resources[0].names[1]");
    assert!(shown.ends_with("did you mean `federation`?"), "{shown}");

    // Only ignored listener types: nothing to serve.
    let (path, shown) =
        parse_error("server_name: example.com\nlisteners:\n  - port: 9000\n    type: metrics\n");
    assert_eq!(path, "listeners");
    assert!(shown.contains("no listener of type `http`"), "{shown}");

    // `bind_address` (singular, older Synapse) is appended.
    let c =
        config("server_name: example.com\nlisteners:\n  - port: 1\n    bind_address: '10.0.0.1'\n");
    assert_eq!(c.listeners[0].bind_addresses, vec!["10.0.0.1"]);

    let (path, _) = parse_error("server_name: example.com\nlisteners:\n  - path: /run/s.sock\n");
    assert_eq!(path, "listeners[0].path");
}

#[test]
fn wrong_types_name_the_key() {
    let cases = [
        (
            "enable_registration: maybe\n",
            "enable_registration",
            "expected true or false",
        ),
        (
            "allow_guest_access: 1\n",
            "allow_guest_access",
            "expected true or false",
        ),
        (
            "bcrypt_rounds: twelve\n",
            "bcrypt_rounds",
            "expected a whole number",
        ),
        ("listeners: {port: 8008}\n", "listeners", "expected a list"),
        (
            "password_config: [1]\n",
            "password_config",
            "expected a mapping",
        ),
        (
            "password_config:\n  enabled: sometimes\n",
            "password_config.enabled",
            "expected true, false or \"only_for_reauth\"",
        ),
        (
            "password_config:\n  policy:\n    minimum_length: -1\n",
            "password_config.policy.minimum_length",
            "expected a whole number",
        ),
        (
            "database:\n  name: psycopg2\n  args:\n    database: s\n    password: 1234\n",
            "database.args.password",
            "expected a string (put the value in quotes",
        ),
    ];
    for (body, want_path, want_message) in cases {
        let (path, shown) = parse_error(&format!("server_name: example.com\n{body}"));
        assert_eq!(path, want_path, "for {body:?}");
        assert!(shown.contains(want_message), "for {body:?}: {shown}");
    }
}

#[test]
fn yaml_1_1_booleans_are_accepted_as_in_synapse() {
    let c = config("server_name: example.com\nallow_guest_access: yes\n");
    assert!(c.allow_guest_access);
}

#[test]
fn bcrypt_rounds_range() {
    let (path, shown) = parse_error("server_name: example.com\nbcrypt_rounds: 3\n");
    assert_eq!(path, "bcrypt_rounds");
    assert!(
        shown.ends_with("must be between 4 and 31, found 3"),
        "{shown}"
    );
    assert_eq!(
        config("server_name: example.com\nbcrypt_rounds: 31\n").bcrypt_rounds,
        31
    );
}

#[test]
fn server_name_must_be_a_valid_matrix_server_name() {
    for good in [
        "example.com",
        "example.com:8448",
        "localhost",
        "1.2.3.4",
        "1.2.3.4:80",
        "[::1]",
        "[2001:db8::1]:8448",
    ] {
        assert_eq!(
            config(&format!("server_name: '{good}'\n")).server_name,
            good
        );
    }
    for bad in [
        "",
        "exa mple.com",
        "example.com:",
        "example.com:99999",
        "example.com:port",
        "user@example.com",
        "[::1",
        "[not-ipv6]",
        "https://example.com",
    ] {
        let (path, shown) = parse_error(&format!("server_name: '{bad}'\n"));
        assert_eq!(path, "server_name", "for {bad:?}");
        assert!(
            shown.contains("is not a valid Matrix server name"),
            "for {bad:?}: {shown}"
        );
    }
    let (path, shown) = parse_error("enable_registration: false\n");
    assert_eq!(path, "server_name");
    assert!(shown.contains("missing"), "{shown}");
}

#[test]
fn public_baseurl_is_validated_and_normalised() {
    let c = config("server_name: example.com\npublic_baseurl: https://matrix.example.com/base\n");
    assert_eq!(
        c.public_baseurl.as_deref(),
        Some("https://matrix.example.com/base/")
    );
    let c = config("server_name: example.com\npublic_baseurl: http://localhost:8008/\n");
    assert_eq!(c.public_baseurl.as_deref(), Some("http://localhost:8008/"));
    for bad in [
        "matrix.example.com",
        "ftp://example.com/",
        "https://example.com/?a=b",
    ] {
        let (path, _) = parse_error(&format!(
            "server_name: example.com\npublic_baseurl: '{bad}'\n"
        ));
        assert_eq!(path, "public_baseurl", "for {bad:?}");
    }
}

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
    let (path, _) =
        parse_error("server_name: example.com\ndatabase:\n  name: psycopg2\n  args: {user: u}\n");
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
    let opts = SqliteConnectOptions::from_str(&sqlite.url()).expect("sqlx parses the sqlite URL");
    assert_eq!(opts.get_filename(), Path::new("/data/a b?c%.db"));
}

// ----- registration -----

#[test]
fn registration_without_verification_is_refused_like_synapse() {
    let (path, shown) = parse_error("server_name: example.com\nenable_registration: true\n");
    assert_eq!(path, "enable_registration");
    assert!(
        shown.contains("You have enabled open registration without any verification."),
        "{shown}"
    );
    assert!(
        shown.contains("`enable_registration_without_verification` config option to `true`"),
        "{shown}"
    );
    let c = config(
        "server_name: example.com\nenable_registration: true\nenable_registration_without_verification: true\n",
    );
    assert!(c.enable_registration);
    assert!(c.enable_registration_without_verification);

    // The old inverse key still works as in Synapse, and is checked the same way.
    let (path, _) = parse_error("server_name: example.com\ndisable_registration: false\n");
    assert_eq!(path, "disable_registration");
}

#[test]
fn shared_secret_and_secret_path_are_exclusive() {
    let text = "server_name: example.com\nregistration_shared_secret: a\nregistration_shared_secret_path: /x\n";
    let (path, shown) = parse_error(text);
    assert_eq!(path, "registration_shared_secret_path");
    assert!(shown.contains("mutually incompatible"), "{shown}");
}

#[test]
fn shared_secret_path_is_read_at_load() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "  s3cret-from-file  ").expect("write secret");
    let text = format!(
        "server_name: example.com\nregistration_shared_secret_path: '{}'\n",
        file.path().display()
    );
    let c = config(&text);
    assert_eq!(
        c.registration_shared_secret.as_ref().map(Secret::expose),
        Some("s3cret-from-file")
    );

    let (path, shown) = parse_error(
        "server_name: example.com\nregistration_shared_secret_path: /nonexistent/mxauth/secret\n",
    );
    assert_eq!(path, "registration_shared_secret_path");
    assert!(
        shown.contains("cannot read `/nonexistent/mxauth/secret`"),
        "{shown}"
    );

    // An empty inline secret disables shared-secret registration, as in Synapse.
    let c = config("server_name: example.com\nregistration_shared_secret: ''\n");
    assert!(c.registration_shared_secret.is_none());
}

// ----- password_config -----

#[test]
fn password_enabled_only_for_reauth() {
    let c = config("server_name: example.com\npassword_config:\n  enabled: only_for_reauth\n");
    assert_eq!(c.password_config.enabled, PasswordEnabled::OnlyForReauth);
    assert!(!c.password_config.login_enabled());
    assert!(c.password_config.reauth_enabled());

    let c = config(
        "server_name: example.com\npassword_config:\n  enabled: false\n  localdb_enabled: false\n",
    );
    assert!(!c.password_config.login_enabled());
    assert!(!c.password_config.reauth_enabled());
    assert!(!c.password_config.localdb_enabled);

    // An empty section and a null pepper are the defaults.
    let c = config("server_name: example.com\npassword_config:\n  pepper:\n");
    assert_eq!(c.password_config, PasswordConfig::default());
}

// ----- mxauth section and durations -----

#[test]
fn durations_accept_synapse_syntax() {
    let cases: [(&str, u64); 10] = [
        ("1500", 1500),
        ("'250'", 250),
        ("500ms", 500),
        ("30s", 30_000),
        ("5m", 300_000),
        ("48h", 172_800_000),
        ("2d", 172_800_000),
        ("1w", 604_800_000),
        ("1y", 31_536_000_000),
        ("0010s", 10_000),
    ];
    for (text, want) in cases {
        let c = config(&format!(
            "server_name: example.com\nmxauth:\n  uia_session_lifetime: {text}\n"
        ));
        assert_eq!(c.mxauth.uia_session_lifetime_ms, want, "for {text}");
    }
    for bad in [
        "5x",
        "h",
        "-5s",
        "1.5h",
        "5 m",
        "0",
        "99999999999999999999y",
        "[1]",
    ] {
        let (path, shown) = parse_error(&format!(
            "server_name: example.com\nmxauth:\n  token_last_used_flush_interval: {bad}\n"
        ));
        assert_eq!(path, "mxauth.token_last_used_flush_interval", "for {bad}");
        assert!(
            shown.contains("duration") || shown.contains("longer than zero"),
            "for {bad}: {shown}"
        );
    }
}

#[test]
fn mxauth_sizes_and_concurrency() {
    let c = config("server_name: example.com\nmxauth:\n  max_request_body_size: 128K\n");
    assert_eq!(c.mxauth.max_request_body_bytes, 131_072);
    let c = config("server_name: example.com\nmxauth:\n  max_request_body_size: 1000\n");
    assert_eq!(c.mxauth.max_request_body_bytes, 1000);
    let (path, _) =
        parse_error("server_name: example.com\nmxauth:\n  max_request_body_size: 1KB\n");
    assert_eq!(path, "mxauth.max_request_body_size");
    let (path, shown) =
        parse_error("server_name: example.com\nmxauth:\n  password_hashing_concurrency: 0\n");
    assert_eq!(path, "mxauth.password_hashing_concurrency");
    assert!(shown.ends_with("must be at least 1"), "{shown}");
}

// ----- Secret -----

#[test]
fn secret_never_prints_its_value() {
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s:?}"), "[redacted]");
    assert_eq!(format!("{s}"), "[redacted]");
    assert_eq!(s.expose(), "hunter2");
    assert_eq!(s.clone(), s);

    let deserialized: Secret = serde_yaml::from_str("hunter3").expect("secret from yaml");
    assert_eq!(deserialized.expose(), "hunter3");

    // Nor does the config that holds secrets.
    let c = config(
        "server_name: example.com\nregistration_shared_secret: hunter2\npassword_config:\n  pepper: pepper42\n\
         database:\n  name: psycopg2\n  args: {database: s, password: dbpass99}\n",
    );
    let shown = format!("{c:?}");
    for secret in ["hunter2", "pepper42", "dbpass99"] {
        assert!(!shown.contains(secret), "{secret} leaked in {shown}");
    }

    // A secret of the wrong type is not echoed in the error either.
    for body in [
        "registration_shared_secret: 987654321\n",
        "password_config:\n  pepper: 987654321\n",
        "database:\n  name: psycopg2\n  args: {database: s, password: 987654321}\n",
    ] {
        let (_, shown) = parse_error(&format!("server_name: example.com\n{body}"));
        assert!(shown.contains("expected a string"), "{shown}");
        assert!(!shown.contains("987654321"), "secret echoed: {shown}");
    }
}

// ----- file-level -----

#[test]
fn load_reads_a_file_and_reports_io_errors() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(MINIMAL.as_bytes()).expect("write config");
    let loaded = Config::load(file.path()).expect("loads from file");
    assert_eq!(loaded.config.server_name, "example.com");

    match Config::load(Path::new("/nonexistent/mxauth/homeserver.yaml")) {
        Err(ConfigError::Io { path, .. }) => {
            assert_eq!(path, Path::new("/nonexistent/mxauth/homeserver.yaml"))
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
}

#[test]
fn syntax_errors_and_non_mapping_documents() {
    match load("server_name: [unclosed\n") {
        Err(ConfigError::Syntax { file, message }) => {
            assert_eq!(file, Path::new(ORIGIN));
            assert!(message.contains("line"), "{message}");
        }
        other => panic!("expected a Syntax error, got {other:?}"),
    }
    let (path, shown) = parse_error("- a\n- b\n");
    assert_eq!(path, "");
    assert_eq!(
        shown,
        "/etc/matrix/homeserver.yaml: expected a mapping of keys at the top level, found a list"
    );
    // Duplicate keys are refused by the YAML parser.
    assert!(matches!(
        load("server_name: a.com\nserver_name: b.com\n"),
        Err(ConfigError::Syntax { .. })
    ));
}

#[test]
fn yaml_merge_keys_are_applied() {
    let text = r#"
server_name: example.com
x-base: &base
  port: 8008
  type: http
listeners:
  - <<: *base
    x_forwarded: true
"#;
    // `x-base` is not a key mxauth or Synapse knows.
    let (path, _) = parse_error(text);
    assert_eq!(path, "x-base");
    let text = r#"
server_name: example.com
listeners:
  - &l {port: 8008, type: http}
  - <<: *l
    port: 8009
"#;
    let c = config(text);
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.listeners[1].port, 8009);
}

#[test]
fn synapse_key_lists_are_disjoint_and_do_not_shadow_mxauth_keys() {
    let mut all: Vec<&str> = synapse_keys::all().collect();
    let count = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), count, "a key is listed twice");
    for key in TOP_LEVEL_KEYS {
        assert!(
            !synapse_keys::is_ignored_synapse_key(key),
            "{key} is both parsed and ignored"
        );
    }
    // A few keys every real homeserver.yaml has.
    for key in [
        "media_store_path",
        "log_config",
        "signing_key_path",
        "report_stats",
    ] {
        assert!(synapse_keys::NOT_AUTH.contains(&key), "{key}");
    }
    for key in usage::KEYS {
        assert!(
            !synapse_keys::is_ignored_synapse_key(key),
            "{key} is both parsed and ignored"
        );
    }
    // Implemented or refused, never ignored.
    for key in super::sessions::KEYS {
        assert!(
            !synapse_keys::is_ignored_synapse_key(key),
            "{key} is both parsed and ignored"
        );
    }
}

#[test]
fn matrix_section_for_synapse_delegation() {
    let base = "server_name: example.org\npublic_baseurl: https://auth.example.org\n";
    let ok = load(&format!(
        "{base}matrix:\n  kind: synapse\n  homeserver: example.org\n  endpoint: http://localhost:8008\n  secret: s3cret\n"
    ))
    .unwrap();
    let m = ok.config.matrix.unwrap();
    assert_eq!(m.endpoint, "http://localhost:8008/");
    assert_eq!(m.secret.expose(), "s3cret");
    assert_eq!(m.homeserver, "example.org");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, "from-file\n").unwrap();
    let ok = load(&format!(
        "{base}matrix:\n  endpoint: http://localhost:8008/\n  secret_path: {}\n",
        file.display()
    ))
    .unwrap();
    assert_eq!(ok.config.matrix.unwrap().secret.expose(), "from-file");

    for (yaml, path) in [
        (
            "matrix:\n  endpoint: http://h/\n  secret: x\n  kind: dendrite\n",
            "matrix.kind",
        ),
        (
            "matrix:\n  endpoint: http://h/\n  secret: x\n  homeserver: other.org\n",
            "matrix.homeserver",
        ),
        ("matrix:\n  secret: x\n", "matrix.endpoint"),
        ("matrix:\n  endpoint: http://h/\n", "matrix.secret"),
        (
            "matrix:\n  endpoint: http://h/\n  secrett: x\n",
            "matrix.secrett",
        ),
    ] {
        let err = load(&format!("{base}{yaml}")).unwrap_err();
        assert_eq!(err.key_path(), Some(path), "{err}");
    }
    let err = load("server_name: example.org\nmatrix:\n  endpoint: http://h/\n  secret: x\n")
        .unwrap_err();
    assert_eq!(err.key_path(), Some("public_baseurl"), "{err}");
}

#[test]
fn user_consent_needs_its_policy_page() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("en")).unwrap();
    std::fs::write(dir.path().join("en/1.0.html"), "<p>policy</p>").unwrap();
    let ok = load(&format!(
        "server_name: example.org\nuser_consent:\n  template_dir: {}\n  version: 1.0\n  require_at_registration: true\n  server_notice_content: {{msgtype: m.text, body: hi}}\n",
        dir.path().display()
    ))
    .unwrap();
    let consent = ok.config.user_consent.unwrap();
    assert_eq!(consent.version, "1.0");
    assert_eq!(consent.policy_name, "Privacy Policy");
    assert!(consent.require_at_registration);
    let err = load(&format!(
        "server_name: example.org\nuser_consent:\n  template_dir: {}\n  version: 2.0\n",
        dir.path().display()
    ))
    .unwrap_err();
    assert_eq!(err.key_path(), Some("user_consent.template_dir"), "{err}");
    let err = load("server_name: example.org\nuser_consent:\n  template_dir: /x\n").unwrap_err();
    assert_eq!(err.key_path(), Some("user_consent.version"), "{err}");
}

#[test]
fn registration_is_verified_by_a_token_a_captcha_or_an_email() {
    let base = "server_name: example.org\nenable_registration: true\n";
    assert!(load(base).is_err());
    assert!(load(&format!("{base}registration_requires_token: true\n")).is_ok());
    assert!(load(&format!(
        "{base}enable_registration_captcha: true\nrecaptcha_public_key: p\nrecaptcha_private_key: s\n"
    ))
    .is_ok());
    assert!(load(&format!(
        "{base}registrations_require_3pid: [email]\nemail:\n  smtp_host: localhost\n  notif_from: 'Server <noreply@example.org>'\n"
    ))
    .is_ok());
}

#[test]
fn app_service_registration_files() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let good = write(
        "irc.yaml",
        "id: irc\nurl: http://localhost:9999\nas_token: aaa\nhs_token: hhh\nsender_localpart: ircbot\n\
         namespaces:\n  users: [{regex: '@irc_.*', exclusive: true}]\n  aliases: []\n  rooms: []\n\
         rate_limited: false\nip_range_whitelist: ['127.0.0.0/8', '::1']\nprotocols: [irc]\n",
    );
    let ok = load(&format!(
        "server_name: example.org\napp_service_config_files: ['{good}']\n"
    ))
    .unwrap();
    let a = &ok.config.app_services[0];
    assert_eq!(
        (a.id.as_str(), a.sender_localpart.as_str()),
        ("irc", "ircbot")
    );
    assert_eq!(
        a.users,
        vec![crate::config::Namespace {
            regex: "@irc_.*".into(),
            exclusive: true
        }]
    );
    assert_eq!(a.ip_range_whitelist.len(), 2);
    assert!(!a.rate_limited);

    let bad_regex = write("bad.yaml", "id: b\nas_token: x\nhs_token: y\nsender_localpart: b\nnamespaces:\n  users: [{regex: '(', exclusive: true}]\n");
    let err = load(&format!(
        "server_name: example.org\napp_service_config_files: ['{bad_regex}']\n"
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("namespaces.users[0].regex"),
        "{err}"
    );
    assert!(err.to_string().contains("bad.yaml"), "{err}");
    let no_token = write("nt.yaml", "id: c\nhs_token: y\nsender_localpart: c\n");
    let err = load(&format!(
        "server_name: example.org\napp_service_config_files: ['{no_token}']\n"
    ))
    .unwrap_err();
    assert!(err.to_string().contains("as_token: missing"), "{err}");
    let bad_ip = write(
        "ip.yaml",
        "id: d\nas_token: z\nhs_token: y\nsender_localpart: d\nip_range_whitelist: [nonsense]\n",
    );
    let err = load(&format!(
        "server_name: example.org\napp_service_config_files: ['{bad_ip}']\n"
    ))
    .unwrap_err();
    assert!(err.to_string().contains("ip_range_whitelist[0]"), "{err}");
    let same_id = write(
        "dup.yaml",
        "id: irc\nas_token: other\nhs_token: y\nsender_localpart: e\n",
    );
    let err = load(&format!(
        "server_name: example.org\napp_service_config_files: ['{good}', '{same_id}']\n"
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("`irc` is used by another"),
        "{err}"
    );
    let same_token = write(
        "dup2.yaml",
        "id: other\nas_token: aaa\nhs_token: y\nsender_localpart: f\n",
    );
    let err = load(&format!(
        "server_name: example.org\napp_service_config_files: ['{good}', '{same_token}']\n"
    ))
    .unwrap_err();
    assert!(err.to_string().contains("as_token"), "{err}");
}

#[test]
fn monthly_active_user_and_client_ip_keys() {
    let base = "server_name: example.org\n";
    let c = load(base).unwrap().config;
    assert_eq!(c.usage, UsageConfig::default());
    assert_eq!(c.usage.user_ips_max_age_ms, Some(28 * 24 * 3600 * 1000));
    assert!(!c.usage.counts_mau());

    let c = load(&format!(
        "{base}limit_usage_by_mau: true\nmax_mau_value: 50\nmau_trial_days: 2\n\
         mau_appservice_trial_days: {{bridge: 7}}\n\
         mau_limit_reserved_threepids:\n  - {{medium: email, address: Boss@Example.org}}\n\
         track_appservice_user_ips: true\ntrack_puppeted_user_ips: yes\n\
         user_ips_max_age: 1d\nmacaroon_secret_key: 'sekrit'\n"
    ))
    .unwrap()
    .config;
    assert!(c.usage.limit_usage_by_mau && c.usage.counts_mau());
    assert_eq!(c.usage.max_mau_value, 50);
    assert_eq!(c.usage.mau_trial_days, 2);
    assert_eq!(c.usage.mau_appservice_trial_days.get("bridge"), Some(&7));
    assert!(c.usage.is_reserved_threepid("email", "boss@example.org"));
    assert!(!c.usage.is_reserved_threepid("email", "other@example.org"));
    assert!(c.usage.track_appservice_user_ips && c.usage.track_puppeted_user_ips);
    assert_eq!(c.usage.user_ips_max_age_ms, Some(24 * 3600 * 1000));
    assert_eq!(
        c.macaroon_secret_key.as_ref().map(Secret::expose),
        Some("sekrit")
    );

    // As in Synapse: max_mau_value only counts with the limit on; null
    // user_ips_max_age keeps client IPs forever.
    let c = load(&format!(
        "{base}max_mau_value: 50\nuser_ips_max_age: null\n"
    ))
    .unwrap()
    .config;
    assert_eq!(c.usage.max_mau_value, 0);
    assert_eq!(c.usage.user_ips_max_age_ms, None);

    let err = load(&format!(
        "{base}mau_limit_reserved_threepids:\n  - {{medium: email}}\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("mau_limit_reserved_threepids"), "{err}");
    assert!(err.contains("address"), "{err}");
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "key-from-file").unwrap();
    let path = file.path().display();
    let c = load(&format!("{base}macaroon_secret_key_path: '{path}'\n"))
        .unwrap()
        .config;
    assert_eq!(
        c.macaroon_secret_key.as_ref().map(Secret::expose),
        Some("key-from-file")
    );
    let err = load(&format!(
        "{base}macaroon_secret_key: x\nmacaroon_secret_key_path: '{path}'\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("macaroon_secret_key_path"), "{err}");
    let err = load(&format!("{base}macaroon_secret_key: ''\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("must not be empty"), "{err}");
    let err = load(&format!("{base}user_ips_max_age: soon\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("user_ips_max_age"), "{err}");
}

#[test]
fn http_server_bounds_are_checked() {
    for (body, path) in [
        ("mxauth:\n  max_connections: 0\n", "mxauth.max_connections"),
        (
            "mxauth:\n  header_read_timeout: 0s\n",
            "mxauth.header_read_timeout",
        ),
        (
            "mxauth:\n  shutdown_timeout: soon\n",
            "mxauth.shutdown_timeout",
        ),
    ] {
        let (got, shown) = parse_error(&format!("server_name: example.com\n{body}"));
        assert_eq!(got, path, "{shown}");
    }
    // A shutdown deadline of zero drops open connections at once.
    let c = config("server_name: example.com\nmxauth:\n  shutdown_timeout: 0s\n");
    assert_eq!(c.mxauth.shutdown_timeout_ms, 0);
}
