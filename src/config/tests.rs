//! Tests about the file as a whole: defaults, real homeserver.yaml files,
//! unknown keys at any level, types, YAML itself, and the key lists. Each
//! section's own tests are in its file.

use std::io::Write;
use std::path::PathBuf;

use super::testing::*;
use super::*;

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
  token_cache_size: 4M
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
    // The metrics listener is kept, and served: `enable_metrics: true`.
    assert!(c.enable_metrics);
    assert_eq!(c.listeners.len(), 3);
    assert_eq!(c.listeners[1].kind, "metrics");
    assert_eq!(c.listeners[1].port, 9000);
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
    assert_eq!(c.listeners[2].port, 9093);
    assert_eq!(c.listeners[2].bind_addresses, vec!["::", "0.0.0.0"]);
    assert!(!c.listeners[2].x_forwarded);
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
            token_cache_bytes: 4 * 1024 * 1024,
            log_format: crate::config::LogFormat::Text,
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
    for key in section_keys() {
        assert!(
            !synapse_keys::is_ignored_synapse_key(key),
            "{key} is both parsed and ignored"
        );
    }
    let mut parsed: Vec<&str> = section_keys().collect();
    let count = parsed.len();
    parsed.sort_unstable();
    parsed.dedup();
    assert_eq!(parsed.len(), count, "a key is parsed by two sections");
    // A few keys every real homeserver.yaml has.
    for key in [
        "media_store_path",
        "log_config",
        "signing_key_path",
        "report_stats",
    ] {
        assert!(synapse_keys::NOT_AUTH.contains(&key), "{key}");
    }
    // Implemented or refused, never ignored (the loop above covers them).
    for key in usage::KEYS.iter().chain(sessions::KEYS) {
        assert!(section_keys().any(|k| k == *key), "{key}");
    }
}
