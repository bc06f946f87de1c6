//! Operations that are one transaction (issue 11, "Atomic operations"):
//! concurrent requests and failures never leave half of one behind.

use crate::both;
use crate::support::{assert_error, db_i64, Backend, TestServer, SERVER_NAME};
use mxauth::auth::writes;
use mxauth::config::{MatrixConfig, Secret};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::task::JoinSet;

both!(
    concurrent_requests_of_one_registration_session_make_one_account,
    a_registration_that_fails_leaves_no_account,
    no_old_password_login_outlives_a_password_change,
    deactivation_racing_logins_leaves_no_token,
    concurrent_get_token_calls_issue_one_login_token,
    reconciliation_queues_one_sync_per_user,
    a_silent_homeserver_does_not_delay_the_flush,
    store_writes_all_or_nothing,
    a_login_token_does_not_outlive_a_password_change,
    concurrent_token_stages_of_one_session_take_one_use,
    an_app_service_registration_that_fails_leaves_no_account,
);

const REGISTER: &str = "/_matrix/client/v3/register";
const LOGIN: &str = "/_matrix/client/v3/login";
const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

/// A POST from a spawned task.
async fn post(
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    body: Value,
) -> (StatusCode, Value) {
    let mut req = client.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn login_body(user: &str, password: &str) -> Value {
    json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
    })
}

/// Registration tokens configured: the session reserves a use.
async fn concurrent_requests_of_one_registration_session_make_one_account(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.registration_requires_token = true)
        .start()
        .await;
    let admin = s.register_admin("admin").await;
    let (status, res) = s
        .post(
            "/_synapse/admin/v1/registration_tokens/new",
            Some(&admin),
            json!({"token": "tok", "uses_allowed": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let body = json!({"username": "carol", "password": "carol-password-1"});
    let (_, challenge) = s.post(REGISTER, None, body.clone()).await;
    let session = challenge["session"].clone();
    let mut with_token = body.clone();
    with_token["auth"] =
        json!({"type": "m.login.registration_token", "token": "tok", "session": session});
    let (status, res) = s.post(REGISTER, None, with_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{res}");
    let mut last = body;
    last["auth"] = json!({"type": "m.login.dummy", "session": session});

    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let url = format!("{}{REGISTER}", s.base);
        tasks.spawn(post(s.raw().clone(), url, None, last.clone()));
    }
    let mut tokens = Vec::new();
    while let Some(res) = tasks.join_next().await {
        let (status, res) = res.unwrap();
        // Every request of the session registered the same user.
        assert_eq!(status, StatusCode::OK, "{res}");
        assert_eq!(res["user_id"], format!("@carol:{SERVER_NAME}"));
        tokens.push(res["access_token"].as_str().unwrap().to_owned());
    }
    for t in &tokens {
        let (status, _) = s.get(WHOAMI, Some(t)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let users = db_i64(
        &s.db,
        "SELECT COUNT(*) FROM users WHERE name LIKE '@carol:%'",
    )
    .await;
    assert_eq!(users, 1);
    let (pending, completed) = (
        db_i64(
            &s.db,
            "SELECT pending FROM registration_tokens WHERE token = 'tok'",
        )
        .await,
        db_i64(
            &s.db,
            "SELECT completed FROM registration_tokens WHERE token = 'tok'",
        )
        .await,
    );
    assert_eq!((pending, completed), (0, 1));
    s.stop().await;
}

/// A registration refused after UIA writes nothing: no user, and the
/// session can still be used for a good request.
async fn a_registration_that_fails_leaves_no_account(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let body = json!({
        "username": "dora",
        "password": "dora-password-1",
        "initial_device_display_name": "x".repeat(1000),
    });
    let (_, challenge) = s.post(REGISTER, None, body.clone()).await;
    let mut body = body;
    body["auth"] = json!({"type": "m.login.dummy", "session": challenge["session"]});
    let res = s.post(REGISTER, None, body).await;
    assert_error(&res, 400, "M_TOO_LARGE");
    let users = db_i64(
        &s.db,
        "SELECT COUNT(*) FROM users WHERE name LIKE '@dora:%'",
    )
    .await;
    assert_eq!(users, 0);
    let (status, res) = s
        .get("/_matrix/client/v3/register/available?username=dora", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    s.stop().await;
}

/// Many logins with the old password race a password change that logs
/// out the other devices: every token they got is dead afterwards.
async fn no_old_password_login_outlives_a_password_change(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let mut survivors = Vec::new();
    for round in 0..6 {
        let name = format!("pat{round}");
        let (user_id, token, _) = s.register(&name, "old-password-1").await;
        let (status, challenge) = s
            .post(
                "/_matrix/client/v3/account/password",
                Some(&token),
                json!({"new_password": "new-password-1"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let change = json!({
            "new_password": "new-password-1",
            "logout_devices": true,
            "auth": TestServer::password_auth(&challenge["session"], &user_id, "old-password-1"),
        });
        // The change first: logins that read the user while it verifies
        // the old password finish after it.
        let url = format!("{}/_matrix/client/v3/account/password", s.base);
        let changed = tokio::spawn(post(s.raw().clone(), url, Some(token.clone()), change));
        let mut logins = JoinSet::new();
        for _ in 0..16 {
            let url = format!("{}{LOGIN}", s.base);
            logins.spawn(post(
                s.raw().clone(),
                url,
                None,
                login_body(&user_id, "old-password-1"),
            ));
        }
        let (status, res) = changed.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{res}");
        while let Some(res) = logins.join_next().await {
            let (status, res) = res.unwrap();
            if status == StatusCode::OK {
                let t = res["access_token"].as_str().unwrap().to_owned();
                let (status, _) = s.get(WHOAMI, Some(&t)).await;
                if status != StatusCode::UNAUTHORIZED {
                    survivors.push(t);
                }
            } else {
                assert_error(&(status, res), 403, "M_FORBIDDEN");
            }
        }
        // The new password works; the changer's own session stays.
        s.login(&user_id, "new-password-1").await;
        let (status, _) = s.get(WHOAMI, Some(&token)).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert!(
        survivors.is_empty(),
        "{} tokens from the old password survived",
        survivors.len()
    );
    s.stop().await;
}

async fn deactivation_racing_logins_leaves_no_token(b: Backend) {
    let s = TestServer::builder(b).start().await;
    for round in 0..8 {
        let name = format!("dee{round}");
        let (user_id, token, _) = s.register(&name, "dee-password-1").await;
        let (_, challenge) = s
            .post(
                "/_matrix/client/v3/account/deactivate",
                Some(&token),
                json!({}),
            )
            .await;
        let deactivate = json!({
            "auth": TestServer::password_auth(&challenge["session"], &user_id, "dee-password-1"),
        });
        let url = format!("{}/_matrix/client/v3/account/deactivate", s.base);
        let deactivated = tokio::spawn(post(s.raw().clone(), url, Some(token), deactivate));
        let mut logins = JoinSet::new();
        for _ in 0..20 {
            let url = format!("{}{LOGIN}", s.base);
            logins.spawn(post(
                s.raw().clone(),
                url,
                None,
                login_body(&user_id, "dee-password-1"),
            ));
        }
        let (status, res) = deactivated.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{res}");
        while let Some(res) = logins.join_next().await {
            let (status, res) = res.unwrap();
            if status == StatusCode::OK {
                let t = res["access_token"].as_str().unwrap();
                let (status, _) = s.get(WHOAMI, Some(t)).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED);
            }
        }
        let live = db_i64(
            &s.db,
            &format!("SELECT COUNT(*) FROM access_tokens WHERE user_id = '{user_id}'"),
        )
        .await;
        assert_eq!(live, 0, "a login's token outlived the deactivation");
        let devices = db_i64(
            &s.db,
            &format!("SELECT COUNT(*) FROM devices WHERE user_id = '{user_id}'"),
        )
        .await;
        assert_eq!(devices, 0, "a login's device outlived the deactivation");
    }
    s.stop().await;
}

async fn concurrent_get_token_calls_issue_one_login_token(b: Backend) {
    const GET_TOKEN: &str = "/_matrix/client/v1/login/get_token";
    let s = TestServer::builder(b)
        .config(|c| {
            c.login_via_existing_session.enabled = true;
        })
        .start()
        .await;
    let (user_id, token, _) = s.register("gus", "gus-password-1").await;
    let (status, challenge) = s.post(GET_TOKEN, Some(&token), json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let auth = TestServer::password_auth(&challenge["session"], &user_id, "gus-password-1");
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let url = format!("{}{GET_TOKEN}", s.base);
        tasks.spawn(post(
            s.raw().clone(),
            url,
            Some(token.clone()),
            json!({ "auth": auth }),
        ));
    }
    let mut issued = 0;
    while let Some(res) = tasks.join_next().await {
        let (status, res) = res.unwrap();
        if status == StatusCode::OK {
            issued += 1;
        } else {
            assert_error(&(status, res), 403, "M_FORBIDDEN");
        }
    }
    assert_eq!(issued, 1);
    let rows = db_i64(&s.db, "SELECT COUNT(*) FROM login_tokens").await;
    assert_eq!(rows, 1);
    s.stop().await;
}

/// `matrix:` pointing at `endpoint`.
fn matrix_at(endpoint: String) -> impl FnOnce(&mut mxauth::config::Config) {
    move |c| {
        c.public_baseurl = Some("https://auth.test.example/".into());
        c.matrix = Some(MatrixConfig {
            kind: "synapse".into(),
            homeserver: SERVER_NAME.into(),
            endpoint,
            secret: Secret::new("a secret shared with the homeserver"),
            account_management_uri: None,
        });
    }
}

/// Users registered with no homeserver; returns their tokens.
async fn users_without_homeserver(db: &Arc<crate::support::FreshDatabase>) -> Vec<String> {
    let s = TestServer::builder(db.clone()).start().await;
    let mut tokens = Vec::new();
    for name in ["ann", "ben", "cat"] {
        tokens.push(s.register(name, "some-password-1").await.1);
    }
    s.stop().await;
    tokens
}

async fn reconciliation_queues_one_sync_per_user(b: Backend) {
    let db = Arc::new(crate::support::fresh_database(b).await);
    users_without_homeserver(&db).await;
    // A homeserver that is not there: nothing leaves the queue.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let (server, _) = TestServer::builder(db.clone())
        .config(matrix_at(endpoint))
        .build()
        .await
        .unwrap();
    let first = server.auth().queue_device_sync().await.unwrap();
    let second = server.auth().queue_device_sync().await.unwrap();
    let per_user = |kind: &str| {
        format!(
            "SELECT COUNT(*) FROM homeserver_jobs WHERE kind = '{kind}' \
             AND user_id LIKE '@ann:%'"
        )
    };
    assert_eq!(db_i64(&db, &per_user("sync_devices")).await, 1);
    assert_eq!(db_i64(&db, &per_user("provision_user")).await, 1);
    assert_eq!(db_i64(&db, "SELECT COUNT(*) FROM homeserver_jobs").await, 6);
    assert_eq!((first, second), (3, 0));
}

/// A homeserver that accepts connections and never answers: the
/// homeserver queue waits on it, the flush of last-used times does not.
async fn a_silent_homeserver_does_not_delay_the_flush(b: Backend) {
    let db = Arc::new(crate::support::fresh_database(b).await);
    let tokens = users_without_homeserver(&db).await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/", silent.local_addr().unwrap());
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
            let _ = accepted_tx.send(());
        }
    });
    let s = TestServer::builder(db.clone())
        .config(matrix_at(endpoint))
        .start()
        .await;
    // The queue is now waiting on the homeserver (5 s per call, one call
    // per user before any other).
    tokio::time::timeout(std::time::Duration::from_secs(10), accepted.recv())
        .await
        .expect("the homeserver was called");
    let (status, _) = s.get(WHOAMI, Some(&tokens[0])).await;
    assert_eq!(status, StatusCode::OK);
    // Flushed within a few flush intervals (200 ms in tests), while the
    // queue still waits for its first answer (5 s): both are real time
    // (tokio's timers), which is what this test is about.
    let mut used = 0;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        used = db_i64(
            &db,
            "SELECT COUNT(*) FROM access_tokens WHERE last_used_ts IS NOT NULL",
        )
        .await;
        if used > 0 {
            break;
        }
    }
    assert_eq!(used, 1, "the flush waited for the homeserver");
    s.stop().await;
    holder.abort();
}

/// The store's multi-write methods: a refusal writes nothing, and a
/// registration token's use is completed or given back, never both.
async fn store_writes_all_or_nothing(b: Backend) {
    use mxauth::store::{NewAccessToken, NewUser, RegistrationToken, UiaSession, UserThreepid};
    let db = crate::support::fresh_database(b).await;
    let store = mxauth::store::connect(&db.config.url(), 4).await.unwrap();
    let uia = |id: &str| UiaSession {
        session_id: id.to_owned(),
        created_ts: 1,
        uri: "/register".into(),
        method: "POST".into(),
        user_id: None,
        client_dict: serde_json::Map::new(),
        server_dict: serde_json::Map::new(),
        result: None,
    };
    store
        .registration()
        .create_registration_token(&RegistrationToken {
            token: "tok".into(),
            uses_allowed: Some(3),
            pending: 0,
            completed: 0,
            expires_ts: None,
        })
        .await
        .unwrap();
    let registration = |user: &str, session: &str, address: &str| writes::NewRegistration {
        user: NewUser {
            user_id: user.to_owned(),
            password_hash: Some("hash".into()),
            created_ts: 1,
            ..NewUser::default()
        },
        threepid: Some(UserThreepid {
            user_id: user.to_owned(),
            medium: "email".into(),
            address: address.to_owned(),
            validated_ts: 1,
            added_ts: 1,
        }),
        registration_token: Some("tok".into()),
        uia_session: Some((session.to_owned(), json!({ "user_id": user }))),
        device: Some(("DEV".into(), None)),
        access_token: Some(NewAccessToken {
            token_hash: format!("hash of {user}").into_bytes(),
            user_id: user.to_owned(),
            device_id: Some("DEV".into()),
            puppet_owner: None,
            created_ts: 1,
            valid_until_ts: None,
            ..Default::default()
        }),
        ..writes::NewRegistration::default()
    };
    let counts = || async {
        (
            db_i64(&db, "SELECT COUNT(*) FROM users").await,
            db_i64(&db, "SELECT COUNT(*) FROM devices").await,
            db_i64(&db, "SELECT COUNT(*) FROM access_tokens").await,
            db_i64(&db, "SELECT COUNT(*) FROM user_threepids").await,
            db_i64(&db, "SELECT pending FROM registration_tokens").await,
            db_i64(&db, "SELECT completed FROM registration_tokens").await,
        )
    };
    for id in ["S1", "S2", "S3"] {
        store.uia().create_uia_session(&uia(id)).await.unwrap();
        let mut tokens = store.registration();
        let reserve =
            tokens.reserve_registration_token_for_session(id, "registration_token", "tok", 1);
        assert!(reserve.await.unwrap());
        // Held already: no second use.
        let again =
            tokens.reserve_registration_token_for_session(id, "registration_token", "tok", 1);
        assert!(again.await.unwrap());
    }
    let done = writes::complete_registration(&*store, &registration("@a:x", "S1", "a@x.org"))
        .await
        .unwrap();
    assert_eq!(done, writes::RegistrationOutcome::Done);
    assert_eq!(counts().await, (1, 1, 1, 1, 2, 1));
    // Refused: nothing of it is written.
    let again = writes::complete_registration(&*store, &registration("@b:x", "S1", "b@x.org"))
        .await
        .unwrap();
    assert_eq!(
        again,
        writes::RegistrationOutcome::SessionSpent(Some(json!({ "user_id": "@a:x" })))
    );
    let taken = writes::complete_registration(&*store, &registration("@a:x", "S2", "b@x.org"))
        .await
        .unwrap();
    assert_eq!(taken, writes::RegistrationOutcome::UserTaken);
    let bound = writes::complete_registration(&*store, &registration("@b:x", "S2", "a@x.org"))
        .await
        .unwrap();
    assert_eq!(bound, writes::RegistrationOutcome::ThreepidTaken);
    assert_eq!(counts().await, (1, 1, 1, 1, 2, 1));
    assert_eq!(
        store
            .uia()
            .get_uia_session("S2")
            .await
            .unwrap()
            .unwrap()
            .result,
        None
    );
    // A finished session's use is not given back; an unfinished one's is, once.
    assert!(store
        .uia()
        .delete_uia_session_releasing("S1", "registration_token")
        .await
        .unwrap());
    assert_eq!(counts().await.4, 2);
    assert!(store
        .uia()
        .delete_uia_session_releasing("S2", "registration_token")
        .await
        .unwrap());
    assert!(!store
        .uia()
        .delete_uia_session_releasing("S2", "registration_token")
        .await
        .unwrap());
    assert_eq!(counts().await.4, 1);
    // After its deletion a session registers nobody.
    let gone = writes::complete_registration(&*store, &registration("@c:x", "S2", "c@x.org"))
        .await
        .unwrap();
    assert_eq!(gone, writes::RegistrationOutcome::SessionSpent(None));
    assert_eq!(counts().await, (1, 1, 1, 1, 1, 1));

    // Session tokens: not for a changed password, not for a deactivated user.
    let user = store.users().get_user("@a:x").await.unwrap().unwrap();
    let token = |n: u8| NewAccessToken {
        token_hash: vec![n; 32],
        user_id: "@a:x".into(),
        device_id: Some("DEV".into()),
        puppet_owner: None,
        created_ts: 2,
        valid_until_ts: None,
        ..Default::default()
    };
    let v = user.credentials_version;
    assert!(
        writes::create_session_token(&*store, &token(1), None, Some(v))
            .await
            .unwrap()
            .is_some()
    );
    assert!(store
        .users()
        .upgrade_password_hash("@a:x", v, "rehashed")
        .await
        .unwrap());
    let deleted = writes::change_password(&*store, "@a:x", "new", true, None, None)
        .await
        .unwrap();
    assert_eq!(deleted, vec!["DEV".to_owned()]);
    assert!(!store
        .users()
        .upgrade_password_hash("@a:x", v, "old")
        .await
        .unwrap());
    assert!(
        writes::create_session_token(&*store, &token(2), None, Some(v))
            .await
            .unwrap()
            .is_none()
    );
    let now = store.users().get_user("@a:x").await.unwrap().unwrap();
    assert_eq!(now.password_hash.as_deref(), Some("new"));
    assert!(
        writes::create_session_token(&*store, &token(3), None, Some(now.credentials_version))
            .await
            .unwrap()
            .is_some()
    );
    writes::deactivate_user(&*store, "@a:x").await.unwrap();
    assert!(writes::create_session_token(&*store, &token(4), None, None)
        .await
        .unwrap()
        .is_none());
    assert_eq!(db_i64(&db, "SELECT COUNT(*) FROM access_tokens").await, 0);
}

/// A login token minted before a password change that logs the other
/// devices out cannot start a session after it.
async fn a_login_token_does_not_outlive_a_password_change(b: Backend) {
    const GET_TOKEN: &str = "/_matrix/client/v1/login/get_token";
    let s = TestServer::builder(b)
        .config(|c| {
            c.login_via_existing_session.enabled = true;
        })
        .start()
        .await;
    let (user_id, token, _) = s.register("lou", "lou-password-1").await;
    let (_, challenge) = s.post(GET_TOKEN, Some(&token), json!({})).await;
    let auth = TestServer::password_auth(&challenge["session"], &user_id, "lou-password-1");
    let (status, res) = s
        .post(GET_TOKEN, Some(&token), json!({ "auth": auth }))
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let login_token = res["login_token"].as_str().unwrap().to_owned();
    let (_, challenge) = s
        .post(
            "/_matrix/client/v3/account/password",
            Some(&token),
            json!({"new_password": "lou-password-2"}),
        )
        .await;
    let (status, res) = s
        .post(
            "/_matrix/client/v3/account/password",
            Some(&token),
            json!({
                "new_password": "lou-password-2",
                "auth": TestServer::password_auth(&challenge["session"], &user_id, "lou-password-1"),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let res = s
        .post(
            LOGIN,
            None,
            json!({"type": "m.login.token", "token": login_token}),
        )
        .await;
    assert_error(&res, 403, "M_FORBIDDEN");
    s.stop().await;
}

/// Concurrent `m.login.registration_token` stages of one session take one
/// pending use between them, completed once by the registration.
async fn concurrent_token_stages_of_one_session_take_one_use(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.registration_requires_token = true)
        .start()
        .await;
    let admin = s.register_admin("admin").await;
    let (status, res) = s
        .post(
            "/_synapse/admin/v1/registration_tokens/new",
            Some(&admin),
            json!({"token": "tok", "uses_allowed": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let body = json!({"username": "tia", "password": "tia-password-1"});
    let (_, challenge) = s.post(REGISTER, None, body.clone()).await;
    let session = challenge["session"].clone();
    let mut with_token = body.clone();
    with_token["auth"] =
        json!({"type": "m.login.registration_token", "token": "tok", "session": session});
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let url = format!("{}{REGISTER}", s.base);
        tasks.spawn(post(s.raw().clone(), url, None, with_token.clone()));
    }
    while let Some(res) = tasks.join_next().await {
        let (status, res) = res.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{res}");
        assert_eq!(
            res["completed"],
            json!(["m.login.registration_token"]),
            "{res}"
        );
    }
    let pending = "SELECT pending FROM registration_tokens WHERE token = 'tok'";
    let completed = "SELECT completed FROM registration_tokens WHERE token = 'tok'";
    assert_eq!(db_i64(&s.db, pending).await, 1);
    let mut last = body;
    last["auth"] = json!({"type": "m.login.dummy", "session": session});
    let (status, res) = s.post(REGISTER, None, last).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(db_i64(&s.db, pending).await, 0);
    assert_eq!(db_i64(&s.db, completed).await, 1);
    s.stop().await;
}

/// An application service's registration refused for its device writes
/// no user: the same request, fixed, then succeeds.
async fn an_app_service_registration_that_fails_leaves_no_account(b: Backend) {
    use mxauth::config::{AppServiceConfig, Namespace};
    const AS_TOKEN: &str = "the bridge's as_token";
    let s = TestServer::builder(b)
        .config(|c| {
            c.app_services = vec![AppServiceConfig {
                id: "bridge".into(),
                url: None,
                as_token: Secret::new(AS_TOKEN),
                hs_token: Secret::new("hs token"),
                sender_localpart: "bridgebot".into(),
                users: vec![Namespace {
                    regex: format!("@bridge_.*:{}", SERVER_NAME.replace('.', "\\.")),
                    exclusive: true,
                }],
                rate_limited: false,
                ip_range_whitelist: vec![],
            }]
        })
        .start()
        .await;
    let mut body = json!({
        "type": "m.login.application_service",
        "username": "bridge_ivy",
        "initial_device_display_name": "x".repeat(1000),
    });
    let res = s.post(REGISTER, Some(AS_TOKEN), body.clone()).await;
    assert_error(&res, 400, "M_TOO_LARGE");
    let users = db_i64(
        &s.db,
        "SELECT COUNT(*) FROM users WHERE name LIKE '@bridge_ivy:%'",
    )
    .await;
    assert_eq!(users, 0);
    body["initial_device_display_name"] = json!("Ivy's bridge");
    let (status, res) = s.post(REGISTER, Some(AS_TOKEN), body).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (status, _) = s
        .get(WHOAMI, Some(res["access_token"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}
