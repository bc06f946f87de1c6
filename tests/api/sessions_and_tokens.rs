//! Tokens and sessions: no raw access token reaches the database (a UIA
//! session's URI), `session_lifetime` and `nonrefreshable_access_token_lifetime`
//! bound a login, and every path that takes a `device_id` checks it alike.

use crate::both;
use crate::support::{assert_error, db_i64, fresh_database, Backend, TestServer};
use mxauth::clock::MockClock;
use mxauth::config::AppServiceConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

both!(
    uia_session_stores_no_access_token,
    device_id_is_checked_alike_on_every_path,
    session_lifetime_ends_tokens_of_logins_and_registrations,
    nonrefreshable_lifetime_is_the_sooner_bound,
    store_spends_a_threepid_session_once,
);

const LOGIN: &str = "/_matrix/client/v3/login";
const REGISTER: &str = "/_matrix/client/v3/register";
const AS_TOKEN: &str = "the bridge's as_token";
const JWT_SECRET: &str = "the jwt shared secret";

async fn uia_session_stores_no_access_token(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (user, token, _) = s.register("alice", "alice-pw").await;
    let (_, device) = s.login("alice", "alice-pw").await;
    // The first request sends its token in the query, as old clients do.
    let url = format!(
        "{}/_matrix/client/v3/devices/{device}?access_token={token}",
        s.base
    );
    let res = s.raw().delete(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge: Value = res.json().await.unwrap();
    let session = challenge["session"]
        .as_str()
        .expect("a UIA session")
        .to_owned();
    let stored = format!(
        "SELECT COUNT(*) FROM uia_sessions WHERE uri LIKE '%access_token%' OR uri LIKE '%{token}%'"
    );
    assert_eq!(db_i64(&s.db, &stored).await, 0, "a raw token was stored");
    assert_eq!(
        db_i64(
            &s.db,
            "SELECT COUNT(*) FROM uia_sessions WHERE uri LIKE '%/devices/%'"
        )
        .await,
        1
    );

    // The session goes on with the token in the header: same operation.
    let body = json!({"auth": TestServer::password_auth(&json!(session), &user, "alice-pw")});
    let res = s
        .raw()
        .delete(format!("{}/_matrix/client/v3/devices/{device}", s.base))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let gone = s
        .get(
            &format!("/_matrix/client/v3/devices/{device}"),
            Some(&token),
        )
        .await;
    assert_error(&gone, 404, "M_NOT_FOUND");
}

fn bridge() -> AppServiceConfig {
    crate::support::bridge_service(AS_TOKEN, &[])
}

fn jwt_for(subject: &str) -> String {
    let exp = crate::support::wall_clock_ms() / 1000 + 300;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": subject, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

async fn count(s: &TestServer, sql: &str) -> i64 {
    db_i64(&s.db, sql).await
}

/// An empty or too long `device_id` is 400 M_INVALID_PARAM on every path
/// that takes one, before anything is spent: no password checked, no
/// login token used, no user created, no UIA session opened.
async fn device_id_is_checked_alike_on_every_path(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            c.app_services = vec![bridge()];
            c.login_via_existing_session.enabled = true;
            c.jwt = Some(crate::jwt::hs256_jwt(JWT_SECRET));
        })
        .start()
        .await;
    let (user, token, _) = s.register("alice", "alice-pw").await;
    // A login token, from get_token behind UIA.
    let get_token = "/_matrix/client/v1/login/get_token";
    let (_, challenge) = s.post(get_token, Some(&token), json!({})).await;
    let auth = TestServer::password_auth(&challenge["session"], &user, "alice-pw");
    let (status, res) = s.post(get_token, Some(&token), json!({"auth": auth})).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let login_token = res["login_token"].as_str().unwrap().to_owned();

    let devices = "SELECT COUNT(*) FROM devices";
    let sessions = "SELECT COUNT(*) FROM uia_sessions";
    let devices_before = count(&s, devices).await;
    let sessions_before = count(&s, sessions).await;
    for bad in [json!(""), json!("D".repeat(513))] {
        let with = |mut body: Value| {
            body["device_id"] = bad.clone();
            body
        };
        let password = |pw: &str| {
            with(json!({"type": "m.login.password",
                        "identifier": {"type": "m.id.user", "user": "alice"}, "password": pw}))
        };
        // Password login: refused before the password is looked at.
        assert_error(
            &s.post(LOGIN, None, password("wrong")).await,
            400,
            "M_INVALID_PARAM",
        );
        assert_error(
            &s.post(LOGIN, None, password("alice-pw")).await,
            400,
            "M_INVALID_PARAM",
        );
        // m.login.token: the token is not used up.
        let by_token = with(json!({"type": "m.login.token", "token": login_token}));
        assert_error(&s.post(LOGIN, None, by_token).await, 400, "M_INVALID_PARAM");
        // JWT: the subject's user is not created.
        let jwt = with(json!({"type": "org.matrix.login.jwt", "token": jwt_for("jwtuser")}));
        assert_error(&s.post(LOGIN, None, jwt).await, 400, "M_INVALID_PARAM");
        // Registration: no UIA session, no user.
        let register = with(json!({"username": "newbie", "password": "newbie-pw"}));
        assert_error(
            &s.post(REGISTER, None, register).await,
            400,
            "M_INVALID_PARAM",
        );
        // An application service's registration and login.
        let as_register = with(json!({"type": "m.login.application_service",
                                      "username": "bridge_bob"}));
        assert_error(
            &s.post(REGISTER, Some(AS_TOKEN), as_register).await,
            400,
            "M_INVALID_PARAM",
        );
        let as_login = with(json!({"type": "m.login.application_service",
                                   "identifier": {"type": "m.id.user", "user": "bridge_bob"}}));
        assert_error(
            &s.post(LOGIN, Some(AS_TOKEN), as_login).await,
            400,
            "M_INVALID_PARAM",
        );
    }
    assert_eq!(
        count(&s, devices).await,
        devices_before,
        "no device was made"
    );
    assert_eq!(
        count(&s, sessions).await,
        sessions_before,
        "no UIA session was opened"
    );
    let users = "SELECT COUNT(*) FROM users WHERE name IN \
                 ('@jwtuser:test.example', '@newbie:test.example', '@bridge_bob:test.example')";
    assert_eq!(count(&s, users).await, 0, "no user was created");

    // The login token was not spent, and 512 characters are fine.
    let ok = json!({"type": "m.login.token", "token": login_token, "device_id": "D".repeat(512)});
    let (status, res) = s.post(LOGIN, None, ok).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["device_id"], "D".repeat(512));
}

const WHOAMI: &str = "/_matrix/client/v3/account/whoami";
const HOUR: i64 = 3_600_000;

async fn with_clock(
    b: Backend,
    tweak: impl FnOnce(&mut mxauth::config::Config),
) -> (TestServer, Arc<MockClock>) {
    let clock = crate::support::mock_clock();
    let s = TestServer::builder(b)
        .clock(clock.clone())
        .config(tweak)
        .start()
        .await;
    (s, clock)
}

/// Synapse's answer to an expired token: 401 M_UNKNOWN_TOKEN, soft logout.
#[track_caller]
fn assert_expired(got: &(StatusCode, Value)) {
    assert_error(got, 401, "M_UNKNOWN_TOKEN");
    assert_eq!(got.1["soft_logout"], true, "{}", got.1);
}

/// `session_lifetime: 1h`: the tokens of a registration, a password login,
/// a shared-secret registration and a guest work until an hour after they were
/// made, and not from then on; the answer says `expires_in_ms`.
async fn session_lifetime_ends_tokens_of_logins_and_registrations(b: Backend) {
    let (s, clock) = with_clock(b, |c| {
        c.sessions.session_lifetime_ms = Some(HOUR as u64);
        c.allow_guest_access = true;
    })
    .await;
    let (_, registered, _) = s.register("alice", "alice-pw").await;
    let admin = s.register_admin("admin").await;
    let (status, guest) = s
        .post(&format!("{REGISTER}?kind=guest"), None, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{guest}");
    let guest = guest["access_token"].as_str().unwrap().to_owned();
    clock.advance_ms(10 * 60 * 1000);
    let (status, login) = s.try_login("alice", "alice-pw").await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(login["expires_in_ms"], HOUR, "{login}");
    let logged_in = login["access_token"].as_str().unwrap().to_owned();

    // 59m59.999s after the registration: both work.
    clock.advance_ms(50 * 60 * 1000 - 1);
    for token in [&registered, &admin, &guest, &logged_in] {
        let (status, me) = s.get(WHOAMI, Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{me}");
    }
    // An hour after the registration: its tokens are refused, the login's is not.
    clock.advance_ms(1);
    assert_expired(&s.get(WHOAMI, Some(&registered)).await);
    assert_expired(&s.get(WHOAMI, Some(&admin)).await);
    // Guests too (Synapse refuses to make guests with a session_lifetime).
    assert_expired(&s.get(WHOAMI, Some(&guest)).await);
    let (status, me) = s.get(WHOAMI, Some(&logged_in)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    // An hour after the login: refused too; a new login works again.
    clock.advance_ms(10 * 60 * 1000);
    assert_expired(&s.get(WHOAMI, Some(&logged_in)).await);
    let (fresh, _) = s.login("alice", "alice-pw").await;
    let (status, me) = s.get(WHOAMI, Some(&fresh)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
}

/// With `nonrefreshable_access_token_lifetime` shorter than
/// `session_lifetime`, tokens end at the shorter; without either, never.
async fn nonrefreshable_lifetime_is_the_sooner_bound(b: Backend) {
    let (s, clock) = with_clock(b, |c| {
        c.sessions.session_lifetime_ms = Some(24 * HOUR as u64);
        c.sessions.nonrefreshable_access_token_lifetime_ms = Some(HOUR as u64);
    })
    .await;
    let (status, res) = s
        .post(
            REGISTER,
            None,
            json!({"username": "bob", "password": "bob-pw", "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["expires_in_ms"], HOUR, "{res}");
    let token = res["access_token"].as_str().unwrap().to_owned();
    clock.advance_ms(HOUR - 1);
    assert_eq!(s.get(WHOAMI, Some(&token)).await.0, StatusCode::OK);
    clock.advance_ms(1);
    assert_expired(&s.get(WHOAMI, Some(&token)).await);
    s.stop().await;

    let (s, clock) = with_clock(b, |_| {}).await;
    let (status, login) = {
        s.register("carol", "carol-pw").await;
        s.try_login("carol", "carol-pw").await
    };
    assert_eq!(status, StatusCode::OK, "{login}");
    assert!(login.get("expires_in_ms").is_none(), "{login}");
    clock.advance_ms(10 * 365 * 24 * HOUR);
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(s.get(WHOAMI, Some(token)).await.0, StatusCode::OK);
}

/// `use_threepid_session`: only validated sessions, only after the bound,
/// one operation (of many racing) wins, and it may use it again.
async fn store_spends_a_threepid_session_once(b: Backend) {
    const NOW: i64 = 1_700_000_000_000;
    let db = fresh_database(b).await;
    let store = mxauth::store::connect(&db.config.url(), 4).await.unwrap();
    let session = mxauth::store::ThreepidSession {
        session_id: "sid".into(),
        medium: "email".into(),
        address: "a@x.org".into(),
        client_secret: "secret".into(),
        last_send_attempt: 1,
        validated_ts: None,
        token_hash: vec![1; 32],
        token_expires_ts: NOW + 1000,
        next_link: None,
        created_ts: NOW,
    };
    store
        .threepids()
        .create_threepid_session(&session)
        .await
        .unwrap();
    assert!(
        !store
            .threepids()
            .use_threepid_session("sid", "uia1", 0, NOW)
            .await
            .unwrap(),
        "not validated"
    );
    store
        .threepids()
        .set_threepid_session_validated("sid", NOW)
        .await
        .unwrap();
    assert!(
        !store
            .threepids()
            .use_threepid_session("sid", "uia1", NOW, NOW)
            .await
            .unwrap(),
        "validated too long ago"
    );
    assert!(!store
        .threepids()
        .use_threepid_session("nope", "uia1", 0, NOW)
        .await
        .unwrap());
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .threepids()
                    .use_threepid_session("sid", &format!("uia{i}"), NOW - 1, NOW)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, r) in racers.into_iter().enumerate() {
        if r.await.unwrap() {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let winner = format!("uia{}", winners[0]);
    assert!(store
        .threepids()
        .use_threepid_session("sid", &winner, NOW - 1, NOW + 5)
        .await
        .unwrap());
    assert!(!store
        .threepids()
        .use_threepid_session("sid", "another", NOW - 1, NOW + 5)
        .await
        .unwrap());
}
