//! The provider contract: ordering, local database last, declared fields,
//! erroring and slow providers skipped, conflicting registrations refused
//! at start, `on_logged_out`, UIA through a provider's login type, and
//! `password_config` (`localdb_enabled`, `enabled: only_for_reauth`).

use crate::both;
use crate::support::*;
use mxauth::auth::providers::{
    AuthChecker, AuthProvider, Authenticated, NewUserProfile, ProviderError, ProviderResult,
};
use mxauth::config::PasswordEnabled;
use reqwest::StatusCode;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CUSTOM_TYPE: &str = "com.example.login.token";

/// What the providers were asked, in order.
type Log = Arc<Mutex<Vec<String>>>;

enum Behaviour {
    /// Accepts `(user, secret)` pairs: the secret is in the checker's first field.
    Accepts(Vec<(&'static str, &'static str)>),
    Errors,
    Hangs,
}

/// A provider of the test's own, with a name, its checkers and behaviour.
struct TestProvider {
    name: &'static str,
    checkers: Vec<AuthChecker>,
    behaviour: Behaviour,
    /// The user ID it answers with: `@<user><suffix>:server`.
    suffix: &'static str,
    log: Log,
}

impl TestProvider {
    fn new(
        name: &'static str,
        checkers: &[(&str, &[&str])],
        behaviour: Behaviour,
        log: &Log,
    ) -> Self {
        TestProvider {
            name,
            checkers: checkers
                .iter()
                .map(|(t, f)| AuthChecker::new(*t, f))
                .collect(),
            behaviour,
            suffix: "",
            log: log.clone(),
        }
    }

    fn answering_as(mut self, suffix: &'static str) -> Self {
        self.suffix = suffix;
        self
    }
}

#[async_trait::async_trait]
impl AuthProvider for TestProvider {
    fn name(&self) -> &str {
        self.name
    }

    fn auth_checkers(&self) -> Vec<AuthChecker> {
        self.checkers.clone()
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(500)
    }

    async fn check_auth(
        &self,
        user: &str,
        login_type: &str,
        login_dict: &Map<String, Value>,
    ) -> ProviderResult<Option<Authenticated>> {
        self.log
            .lock()
            .unwrap()
            .push(format!("{}:check_auth:{login_type}:{user}", self.name));
        let field = &self
            .checkers
            .iter()
            .find(|c| c.login_type == login_type)
            .expect("asked only about its types")
            .fields[0];
        match &self.behaviour {
            Behaviour::Errors => Err(ProviderError::new("backend exploded")),
            Behaviour::Hangs => {
                // Real time: what is tested is the server giving up on a
                // provider after its timeout (tokio's timer, not the Clock).
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(None)
            }
            Behaviour::Accepts(pairs) => {
                let localpart = user
                    .strip_prefix('@')
                    .and_then(|u| u.split(':').next())
                    .unwrap_or(user);
                let secret = login_dict.get(field).and_then(Value::as_str);
                let ok = pairs
                    .iter()
                    .any(|(u, s)| *u == localpart && Some(*s) == secret);
                Ok(ok.then(|| {
                    Authenticated::create_if_missing(
                        format!("@{localpart}{}:{SERVER_NAME}", self.suffix),
                        NewUserProfile {
                            display_name: Some(format!("{localpart} from {}", self.name)),
                            threepids: vec![],
                        },
                    )
                }))
            }
        }
    }

    async fn on_logged_out(
        &self,
        user_id: &str,
        device_id: Option<&str>,
        access_token: Option<&str>,
    ) -> ProviderResult<()> {
        self.log.lock().unwrap().push(format!(
            "{}:logged_out:{user_id}:{}:{}",
            self.name,
            device_id.unwrap_or("-"),
            access_token.unwrap_or("-")
        ));
        match self.behaviour {
            Behaviour::Errors => Err(ProviderError::new("backend exploded")),
            _ => Ok(()),
        }
    }
}

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn taken(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn login_types(flows: &Value) -> Vec<String> {
    flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap().to_owned())
        .collect()
}

/// Providers are asked in order (an erroring one is skipped), the first
/// success wins, and the local database comes last.
async fn ordered_first_success_wins_local_last(backend: Backend) {
    let log = log();
    let providers: Vec<Arc<dyn AuthProvider>> = vec![
        Arc::new(TestProvider::new(
            "broken",
            &[("m.login.password", &["password"])],
            Behaviour::Errors,
            &log,
        )),
        Arc::new(TestProvider::new(
            "first",
            &[("m.login.password", &["password"])],
            Behaviour::Accepts(vec![("carol", "carol-pw")]),
            &log,
        )),
        Arc::new(
            TestProvider::new(
                "second",
                &[("m.login.password", &["password"])],
                Behaviour::Accepts(vec![("carol", "carol-pw"), ("dave", "dave-pw")]),
                &log,
            )
            .answering_as("2"),
        ),
    ];
    let server = TestServer::builder(backend)
        .providers(providers)
        .start()
        .await;
    let (_, flows) = server.get("/_matrix/client/v3/login", None).await;
    assert_eq!(login_types(&flows), ["m.login.password"]);

    // Both accept carol: the first provider's answer is the one used.
    let (status, res) = server.try_login("carol", "carol-pw").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], format!("@carol:{SERVER_NAME}"));
    assert_eq!(
        taken(&log),
        [
            "broken:check_auth:m.login.password:carol",
            "first:check_auth:m.login.password:carol"
        ]
    );
    // Only the second knows dave: it is asked after the first said no.
    let (status, res) = server.try_login("dave", "dave-pw").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], format!("@dave2:{SERVER_NAME}"));
    assert_eq!(taken(&log).len(), 3);

    // A local user: every provider says no (or errors), then the database.
    server.register("erin", "erin-local-pw").await;
    taken(&log);
    let (status, res) = server.try_login("erin", "erin-local-pw").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(taken(&log).len(), 3);
    // Wrong everywhere: 403, never a 500 for the erroring provider.
    let got = server.try_login("erin", "wrong").await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let got = server.try_login("nobody", "wrong").await;
    assert_error(&got, 403, "M_FORBIDDEN");

    // Logging out: every provider hears of it, the erroring one too, and
    // its error does not fail the logout.
    let token = res["access_token"].as_str().unwrap();
    taken(&log);
    let (status, body) = server
        .post("/_matrix/client/v3/logout", Some(token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<String> = taken(&log)
        .iter()
        .map(|l| l.split(':').take(2).collect::<Vec<_>>().join(":"))
        .collect();
    assert_eq!(
        names,
        ["broken:logged_out", "first:logged_out", "second:logged_out"]
    );
    let (status, _) = server
        .get("/_matrix/client/v3/account/whoami", Some(token))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// A provider's own login type: offered by GET /login, its declared fields
/// required (400), its users created on first login.
async fn custom_login_type_and_missing_fields(backend: Backend) {
    let log = log();
    let providers: Vec<Arc<dyn AuthProvider>> = vec![Arc::new(TestProvider::new(
        "custom",
        &[(CUSTOM_TYPE, &["my_field"])],
        Behaviour::Accepts(vec![("bob", "building")]),
        &log,
    ))];
    let server = TestServer::builder(backend)
        .providers(providers)
        .start()
        .await;
    let (_, flows) = server.get("/_matrix/client/v3/login", None).await;
    assert_eq!(login_types(&flows), ["m.login.password", CUSTOM_TYPE]);

    let login = |body: Value| server.post("/_matrix/client/v3/login", None, body);
    let got =
        login(json!({"type": CUSTOM_TYPE, "identifier": {"type": "m.id.user", "user": "bob"}}))
            .await;
    assert_error(&got, 400, "M_MISSING_PARAM");
    assert!(got.1["error"].as_str().unwrap().contains("my_field"));
    assert!(
        taken(&log).is_empty(),
        "a request missing a field reaches no provider"
    );

    // Two first logins at once: one user is created, both get a session.
    let first = json!({"type": CUSTOM_TYPE, "user": "bob", "my_field": "building"});
    let (a, b) = tokio::join!(login(first.clone()), login(first));
    assert_eq!(
        (a.0, b.0),
        (StatusCode::OK, StatusCode::OK),
        "{} {}",
        a.1,
        b.1
    );
    assert_eq!(a.1["user_id"], b.1["user_id"]);
    let got = login(json!({"type": CUSTOM_TYPE, "identifier": {"type": "m.id.user", "user": "bob"}, "my_field": "digging"})).await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let (status, res) = login(json!({"type": CUSTOM_TYPE, "user": "bob", "my_field": "building", "initial_device_display_name": "phone"})).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], format!("@bob:{SERVER_NAME}"));
    let token = res["access_token"].as_str().unwrap();
    let (status, me) = server
        .get("/_matrix/client/v3/account/whoami", Some(token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user_id"], format!("@bob:{SERVER_NAME}"));
    // The user was created once, with the provider's display name.
    let store = mxauth::store::connect(&server.db.config.url(), 1)
        .await
        .unwrap();
    let bob = store
        .users()
        .get_user(&format!("@bob:{SERVER_NAME}"))
        .await
        .unwrap()
        .expect("bob created");
    assert_eq!(bob.displayname.as_deref(), Some("bob from custom"));
    assert!(bob.password_hash.is_none());
    let (status, _) =
        login(json!({"type": CUSTOM_TYPE, "user": "bob", "my_field": "building"})).await;
    assert_eq!(status, StatusCode::OK);

    // A type nobody declared.
    let got = login(json!({"type": "com.example.other", "user": "bob"})).await;
    assert_error(&got, 400, "M_UNKNOWN");
    server.stop().await;
}

/// A provider that takes longer than its timeout is skipped: the login
/// fails (or falls through) within the timeout, not when it answers.
async fn slow_provider_is_skipped(backend: Backend) {
    let log = log();
    let providers: Vec<Arc<dyn AuthProvider>> = vec![
        Arc::new(TestProvider::new(
            "slow",
            &[("m.login.password", &["password"])],
            Behaviour::Hangs,
            &log,
        )),
        Arc::new(TestProvider::new(
            "fast",
            &[("m.login.password", &["password"])],
            Behaviour::Accepts(vec![("frank", "frank-pw")]),
            &log,
        )),
    ];
    let server = TestServer::builder(backend)
        .providers(providers)
        .start()
        .await;
    let start = crate::support::real_now();
    let (status, res) = server.try_login("frank", "frank-pw").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let start2 = crate::support::real_now();
    let got = server.try_login("frank", "wrong").await;
    assert_error(&got, 403, "M_FORBIDDEN");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(start2.elapsed() >= Duration::from_millis(500));
    server.stop().await;
}

/// Two providers declaring one login type with different fields: the
/// server does not start, and says which type.
#[tokio::test]
async fn conflicting_login_types_are_refused_at_start() {
    let log = log();
    let providers: Vec<Arc<dyn AuthProvider>> = vec![
        Arc::new(TestProvider::new(
            "one",
            &[(CUSTOM_TYPE, &["my_field"])],
            Behaviour::Errors,
            &log,
        )),
        Arc::new(TestProvider::new(
            "two",
            &[(CUSTOM_TYPE, &["my_field", "other"])],
            Behaviour::Errors,
            &log,
        )),
    ];
    let err = TestServer::builder(Backend::Sqlite)
        .providers(providers)
        .build()
        .await
        .err()
        .expect("refused");
    let message = err.to_string();
    assert!(message.contains(CUSTOM_TYPE), "{message}");
    assert!(
        message.contains("one") && message.contains("two"),
        "{message}"
    );
}

/// `on_logged_out` on logout (with the token), logout/all, device deletion
/// (re-authenticating with the provider's login type) and deactivation.
async fn on_logged_out_is_called(backend: Backend) {
    let log = log();
    let providers: Vec<Arc<dyn AuthProvider>> = vec![Arc::new(TestProvider::new(
        "custom",
        &[(CUSTOM_TYPE, &["my_field"])],
        Behaviour::Accepts(vec![("bob", "building")]),
        &log,
    ))];
    let server = TestServer::builder(backend)
        .providers(providers)
        .start()
        .await;
    let bob = format!("@bob:{SERVER_NAME}");
    let login = || async {
        let (status, res) = server
            .post(
                "/_matrix/client/v3/login",
                None,
                json!({"type": CUSTOM_TYPE, "user": "bob", "my_field": "building"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{res}");
        (
            res["access_token"].as_str().unwrap().to_owned(),
            res["device_id"].as_str().unwrap().to_owned(),
        )
    };

    let (token, device) = login().await;
    taken(&log);
    let (status, _) = server
        .post("/_matrix/client/v3/logout", Some(&token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        taken(&log),
        [format!("custom:logged_out:{bob}:{device}:{token}")]
    );

    let (t1, d1) = login().await;
    let (_t2, d2) = login().await;
    taken(&log);
    let (status, _) = server
        .post("/_matrix/client/v3/logout/all", Some(&t1), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut got = taken(&log);
    got.sort();
    let mut want = vec![
        format!("custom:logged_out:{bob}:{d1}:-"),
        format!("custom:logged_out:{bob}:{d2}:-"),
    ];
    want.sort();
    assert_eq!(got, want);

    // Device deletion behind UIA: the provider's type is offered and used.
    let (t3, _d3) = login().await;
    let (_t4, d4) = login().await;
    let (status, challenge) = server
        .post(
            "/_matrix/client/v3/delete_devices",
            Some(&t3),
            json!({"devices": [d4]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    assert_eq!(challenge["flows"], json!([{"stages": [CUSTOM_TYPE]}]));
    let bad = server
        .post(
            "/_matrix/client/v3/delete_devices",
            Some(&t3),
            json!({"devices": [d4], "auth": {"type": CUSTOM_TYPE, "session": challenge["session"], "user": "bob", "my_field": "wrong"}}),
        )
        .await;
    assert_eq!(bad.0, StatusCode::UNAUTHORIZED, "{}", bad.1);
    assert_eq!(bad.1["errcode"], "M_FORBIDDEN");
    taken(&log);
    let (status, res) = server
        .post(
            "/_matrix/client/v3/delete_devices",
            Some(&t3),
            json!({"devices": [d4], "auth": {"type": CUSTOM_TYPE, "session": challenge["session"], "user": "bob", "my_field": "building"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(
        taken(&log),
        [
            format!("custom:check_auth:{CUSTOM_TYPE}:bob"),
            format!("custom:logged_out:{bob}:{d4}:-"),
        ]
    );

    // Deactivation: the remaining device goes.
    let (status, challenge) = server
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&t3),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    taken(&log);
    let (status, res) = server
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&t3),
            json!({"auth": {"type": CUSTOM_TYPE, "session": challenge["session"], "user": "bob", "my_field": "building"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let got = taken(&log);
    assert!(
        got.iter()
            .any(|l| l.starts_with(&format!("custom:logged_out:{bob}:"))),
        "{got:?}"
    );
    // A deactivated user cannot come back through the provider.
    let got = server
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": CUSTOM_TYPE, "user": "bob", "my_field": "building"}),
        )
        .await;
    assert_error(&got, 403, "M_USER_DEACTIVATED");
    server.stop().await;
}

/// `localdb_enabled: false`: local passwords are not checked; with no
/// provider for passwords, `m.login.password` is not offered at all.
async fn localdb_disabled(backend: Backend) {
    let db = std::sync::Arc::new(fresh_database(backend).await);
    let first = TestServer::builder(db.clone()).start().await;
    first.register("grace", "grace-local-pw").await;
    first.stop().await;

    let log = log();
    let providers: Vec<Arc<dyn AuthProvider>> = vec![Arc::new(TestProvider::new(
        "custom",
        &[(CUSTOM_TYPE, &["my_field"])],
        Behaviour::Accepts(vec![("grace", "token")]),
        &log,
    ))];
    let config_localdb_off = |c: &mut mxauth::config::Config| {
        c.password_config.localdb_enabled = false;
    };
    let server = TestServer::builder(db.clone())
        .config(config_localdb_off)
        .providers(providers)
        .start()
        .await;
    let (_, flows) = server.get("/_matrix/client/v3/login", None).await;
    assert_eq!(login_types(&flows), [CUSTOM_TYPE]);
    let got = server.try_login("grace", "grace-local-pw").await;
    assert_error(&got, 400, "M_UNKNOWN");
    // Re-authentication offers only the provider's type.
    let (status, res) = server
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": CUSTOM_TYPE, "user": "grace", "my_field": "token"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let token = res["access_token"].as_str().unwrap();
    let (status, challenge) = server
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge["flows"], json!([{"stages": [CUSTOM_TYPE]}]));
    server.stop().await;

    // A provider for passwords: password login is offered, the provider
    // is asked, and the local hash never is.
    let providers: Vec<Arc<dyn AuthProvider>> = vec![Arc::new(TestProvider::new(
        "passwords",
        &[("m.login.password", &["password"])],
        Behaviour::Accepts(vec![("grace", "directory-pw")]),
        &log,
    ))];
    let server = TestServer::builder(db)
        .config(config_localdb_off)
        .providers(providers)
        .start()
        .await;
    let (_, flows) = server.get("/_matrix/client/v3/login", None).await;
    assert_eq!(login_types(&flows), ["m.login.password"]);
    let got = server.try_login("grace", "grace-local-pw").await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let (status, res) = server.try_login("grace", "directory-pw").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    server.stop().await;
}

/// `password_config.enabled: only_for_reauth`: no password login, but a
/// user with a password re-authenticates with it.
async fn passwords_only_for_reauth(backend: Backend) {
    let db = std::sync::Arc::new(fresh_database(backend).await);
    let first = TestServer::builder(db.clone()).start().await;
    let (user, token, _) = first.register("heidi", "heidi-pw").await;
    let (_, other_device) = first.login("heidi", "heidi-pw").await;
    first.stop().await;

    let server = TestServer::builder(db)
        .config(|c| {
            c.password_config.enabled = PasswordEnabled::OnlyForReauth;
        })
        .start()
        .await;
    let (_, flows) = server.get("/_matrix/client/v3/login", None).await;
    assert!(
        !login_types(&flows).contains(&"m.login.password".to_owned()),
        "{flows}"
    );
    let got = server.try_login("heidi", "heidi-pw").await;
    assert_error(&got, 400, "M_UNKNOWN");

    let (status, challenge) = server
        .post(
            "/_matrix/client/v3/delete_devices",
            Some(&token),
            json!({"devices": [other_device]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge["flows"],
        json!([{"stages": ["m.login.password"]}])
    );
    let (status, res) = server
        .post(
            "/_matrix/client/v3/delete_devices",
            Some(&token),
            json!({"devices": [other_device], "auth": TestServer::password_auth(&challenge["session"], &user, "heidi-pw")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    server.stop().await;
}

/// Chooses registrations' usernames and display names, and refuses
/// addresses at `blocked.example`.
struct Registrar {
    log: Log,
}

#[async_trait::async_trait]
impl AuthProvider for Registrar {
    fn name(&self) -> &str {
        "registrar"
    }

    async fn get_username_for_registration(
        &self,
        uia_results: &Map<String, Value>,
        params: &Map<String, Value>,
    ) -> ProviderResult<Option<String>> {
        self.log.lock().unwrap().push(format!(
            "username:{}",
            uia_results.keys().cloned().collect::<Vec<_>>().join(",")
        ));
        Ok(params
            .get("username")
            .and_then(Value::as_str)
            .map(|u| format!("chosen-{u}")))
    }

    async fn get_displayname_for_registration(
        &self,
        _uia_results: &Map<String, Value>,
        params: &Map<String, Value>,
    ) -> ProviderResult<Option<String>> {
        Ok(params
            .get("username")
            .and_then(Value::as_str)
            .map(|u| format!("The {u}")))
    }

    async fn is_3pid_allowed(
        &self,
        medium: &str,
        address: &str,
        registration: bool,
    ) -> ProviderResult<bool> {
        self.log
            .lock()
            .unwrap()
            .push(format!("3pid:{medium}:{address}:{registration}"));
        Ok(!address.ends_with("@blocked.example"))
    }
}

async fn registration_callbacks(backend: Backend) {
    let log = log();
    let providers: Vec<Arc<dyn AuthProvider>> = vec![Arc::new(Registrar { log: log.clone() })];
    let server = TestServer::builder(backend)
        .config(|c| {
            // Email validation configured (nothing listens: a refused
            // address is refused before any mail is sent).
            c.email = Some(mxauth::config::EmailConfig {
                smtp_host: "127.0.0.1".into(),
                smtp_port: 9,
                smtp_user: None,
                smtp_pass: None,
                force_tls: false,
                require_transport_security: false,
                enable_tls: false,
                tlsname: None,
                notif_from: "Test <noreply@test.example>".into(),
                app_name: "Test".into(),
                validation_token_lifetime_ms: 3_600_000,
            });
        })
        .providers(providers)
        .start()
        .await;
    let (user_id, token, _) = server.register("judy", "judy-password").await;
    assert_eq!(user_id, format!("@chosen-judy:{SERVER_NAME}"));
    assert_eq!(taken(&log), ["username:m.login.dummy"]);
    let (status, me) = server
        .get("/_matrix/client/v3/account/whoami", Some(&token))
        .await;
    assert_eq!(
        (status, me["user_id"].clone()),
        (StatusCode::OK, json!(user_id))
    );
    let store = mxauth::store::connect(&server.db.config.url(), 1)
        .await
        .unwrap();
    let user = store.users().get_user(&user_id).await.unwrap().unwrap();
    assert_eq!(user.displayname.as_deref(), Some("The judy"));

    let got = server
        .post(
            "/_matrix/client/v3/register/email/requestToken",
            None,
            json!({"client_secret": "secret123", "email": "eve@blocked.example", "send_attempt": 1}),
        )
        .await;
    assert_error(&got, 403, "M_THREEPID_DENIED");
    let got = server
        .post(
            "/_matrix/client/v3/account/3pid/email/requestToken",
            Some(&token),
            json!({"client_secret": "secret123", "email": "judy@blocked.example", "send_attempt": 1}),
        )
        .await;
    assert_error(&got, 403, "M_THREEPID_DENIED");
    assert_eq!(
        taken(&log),
        [
            "3pid:email:eve@blocked.example:true",
            "3pid:email:judy@blocked.example:false"
        ]
    );
    server.stop().await;
}

both!(
    registration_callbacks,
    ordered_first_success_wins_local_last,
    custom_login_type_and_missing_fields,
    slow_provider_is_skipped,
    on_logged_out_is_called,
    localdb_disabled,
    passwords_only_for_reauth,
);
