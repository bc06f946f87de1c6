//! Rate limits, from outside: Synapse's `rc_*` limiters and mxauth's own,
//! with their buckets in the database (two processes share one budget).
//! Each client address is told apart through `X-Forwarded-For` on a
//! listener with `x_forwarded: true`, as behind the shipped nginx config.

use crate::both;
use crate::support::{
    assert_error, db_i64, fresh_database, Backend, FreshDatabase, TestServer, SERVER_NAME,
};
use mxauth::clock::MockClock;
use mxauth::config::{AppServiceConfig, Config, RateLimit};
use mxauth::store::{connect, BucketSpec};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

both!(
    login_address_limit,
    failed_attempts_one_bucket_per_user,
    failed_attempts_by_email_address,
    failed_uia_passwords_count,
    login_account_limit,
    registration_limit,
    registration_sessions_per_address,
    app_service_exemption,
    override_leaves_login_limits,
    registration_token_validity_limit,
    threepid_validation_limit,
    oracle_and_nonce_limits,
    two_processes_share_one_budget,
    buckets_in_the_store,
);

const NOW: i64 = 1_700_000_000_000;
const AS_TOKEN: &str = "the limited bridge's token";

/// A server with a clock the test holds, trusting `X-Forwarded-For`.
async fn server(b: Backend, tweak: impl FnOnce(&mut Config)) -> (TestServer, Arc<MockClock>) {
    let clock = Arc::new(MockClock::new(NOW));
    let db = Arc::new(fresh_database(b).await);
    let s = TestServer::builder(db)
        .clock(clock.clone())
        .config(|c| {
            c.listeners[0].x_forwarded = true;
            tweak(c)
        })
        .start()
        .await;
    (s, clock)
}

/// A request from `ip` (through the trusted proxy header); returns the
/// status, the `Retry-After` header and the JSON body.
async fn from(
    s: &TestServer,
    ip: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Option<String>, Value) {
    let mut req = s
        .raw()
        .request(method, format!("{}{path}", s.base))
        .header("X-Forwarded-For", ip);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = res.text().await.unwrap();
    (
        status,
        retry_after,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn login_from(
    s: &TestServer,
    ip: &str,
    user: &str,
    password: &str,
) -> (StatusCode, Option<String>, Value) {
    let body = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password});
    from(
        s,
        ip,
        reqwest::Method::POST,
        "/_matrix/client/v3/login",
        None,
        Some(body),
    )
    .await
}

/// A 429 as the spec and the issue say: M_LIMIT_EXCEEDED, `retry_after_ms`,
/// and `Retry-After` in whole seconds rounded up. Returns the wait in ms.
#[track_caller]
fn assert_limited(got: &(StatusCode, Option<String>, Value)) -> u64 {
    assert_eq!(got.0, StatusCode::TOO_MANY_REQUESTS, "{}", got.2);
    assert_eq!(got.2["errcode"], "M_LIMIT_EXCEEDED", "{}", got.2);
    let ms = got.2["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!(ms > 0);
    let header: u64 = got.1.as_deref().expect("Retry-After").parse().unwrap();
    assert_eq!(
        header,
        ms.div_ceil(1000),
        "Retry-After {header}, retry_after_ms {ms}"
    );
    ms
}

#[track_caller]
fn assert_not_limited(got: &(StatusCode, Option<String>, Value)) {
    assert_ne!(got.0, StatusCode::TOO_MANY_REQUESTS, "{}", got.2);
    assert!(got.1.is_none());
}

async fn login_address_limit(b: Backend) {
    let (s, clock) = server(b, |c| {
        c.rate_limits.login_address = RateLimit::new(0.1, 3.0)
    })
    .await;
    s.register("alice", "alice-password").await;
    // Three logins of any kind from one address go through (right or wrong).
    assert_eq!(
        login_from(&s, "10.0.0.1", "alice", "wrong").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        login_from(&s, "10.0.0.1", "alice", "alice-password")
            .await
            .0,
        StatusCode::OK
    );
    let token_login = json!({"type": "m.login.token", "token": "a guess"});
    let guess = from(
        &s,
        "10.0.0.1",
        reqwest::Method::POST,
        "/_matrix/client/v3/login",
        None,
        Some(token_login.clone()),
    )
    .await;
    assert_not_limited(&guess);
    // The fourth is refused before its credentials are looked at.
    let wait = assert_limited(&login_from(&s, "10.0.0.1", "alice", "alice-password").await);
    assert_eq!(wait, 10_000, "one more fits after 1 / 0.1 s");
    assert_limited(
        &from(
            &s,
            "10.0.0.1",
            reqwest::Method::POST,
            "/_matrix/client/v3/login",
            None,
            Some(token_login),
        )
        .await,
    );
    // Another address is not affected.
    assert_eq!(
        login_from(&s, "10.0.0.2", "alice", "alice-password")
            .await
            .0,
        StatusCode::OK
    );
    // After the wait, one more.
    clock.advance_ms(wait as i64);
    assert_eq!(
        login_from(&s, "10.0.0.1", "alice", "alice-password")
            .await
            .0,
        StatusCode::OK
    );
    assert_limited(&login_from(&s, "10.0.0.1", "alice", "alice-password").await);
}

async fn failed_attempts_one_bucket_per_user(b: Backend) {
    let (s, clock) = server(b, |c| {
        c.rate_limits.login_failed_attempts = RateLimit::new(0.5, 3.0)
    })
    .await;
    s.register("alice", "alice-password").await;
    s.register("bob", "bob-password").await;
    // `alice`, `@Alice:hs` and `ALICE` are one bucket, from any address.
    let full = format!("@Alice:{SERVER_NAME}");
    for (i, name) in ["alice", full.as_str(), "ALICE"].iter().enumerate() {
        let got = login_from(&s, &format!("10.0.1.{i}"), name, "wrong").await;
        assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.2);
    }
    // Exhausted: even the right password learns nothing.
    let wait = assert_limited(&login_from(&s, "10.0.1.9", "alice", "alice-password").await);
    // Others are not affected.
    assert_eq!(
        login_from(&s, "10.0.1.9", "bob", "bob-password").await.0,
        StatusCode::OK
    );
    // A user who does not exist has a bucket just the same: no oracle.
    for _ in 0..3 {
        assert_eq!(
            login_from(&s, "10.0.2.1", "ghost", "guess").await.0,
            StatusCode::FORBIDDEN
        );
    }
    assert_limited(&login_from(&s, "10.0.2.1", "ghost", "guess").await);
    // It recovers after retry_after_ms.
    clock.advance_ms(wait as i64);
    assert_eq!(
        login_from(&s, "10.0.1.9", "alice", "alice-password")
            .await
            .0,
        StatusCode::OK
    );
    // Successes are not counted.
    for _ in 0..5 {
        assert_eq!(
            login_from(&s, "10.0.1.9", "bob", "bob-password").await.0,
            StatusCode::OK
        );
    }
}

async fn failed_attempts_by_email_address(b: Backend) {
    let (s, _clock) = server(b, |c| {
        c.rate_limits.login_failed_attempts = RateLimit::new(0.5, 2.0)
    })
    .await;
    let by_email = |address: &str, password: &str| json!({"type": "m.login.password", "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": address}, "password": password});
    let login = "/_matrix/client/v3/login";
    for address in ["nobody@example.org", "NoBody@Example.org"] {
        let got = from(
            &s,
            "10.0.0.1",
            reqwest::Method::POST,
            login,
            None,
            Some(by_email(address, "guess")),
        )
        .await;
        assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.2);
    }
    assert_limited(
        &from(
            &s,
            "10.0.0.1",
            reqwest::Method::POST,
            login,
            None,
            Some(by_email("nobody@example.org", "guess")),
        )
        .await,
    );
    // Another address has its own bucket.
    let other = from(
        &s,
        "10.0.0.1",
        reqwest::Method::POST,
        login,
        None,
        Some(by_email("other@example.org", "guess")),
    )
    .await;
    assert_eq!(other.0, StatusCode::FORBIDDEN, "{}", other.2);
}

async fn failed_uia_passwords_count(b: Backend) {
    let (s, _clock) = server(b, |c| {
        c.rate_limits.login_failed_attempts = RateLimit::new(0.01, 3.0)
    })
    .await;
    let (user_id, token, _) = s.register("alice", "alice-password").await;
    let (_, other_device) = s.login("alice", "alice-password").await;
    let path = format!("/_matrix/client/v3/devices/{other_device}");
    let (status, challenge) = s
        .request(
            reqwest::Method::DELETE,
            &path,
            Some(&token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let session = &challenge["session"];
    // Someone holding the token guesses the password.
    for _ in 0..3 {
        let auth = TestServer::password_auth(session, &user_id, "guess");
        let got = s
            .request(
                reqwest::Method::DELETE,
                &path,
                Some(&token),
                Some(&json!({"auth": auth})),
            )
            .await;
        assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{}", got.1);
        assert_eq!(got.1["errcode"], "M_FORBIDDEN");
    }
    // Now even the right password is refused, there and at /login (one bucket).
    let auth = TestServer::password_auth(session, &user_id, "alice-password");
    let got = s
        .request(
            reqwest::Method::DELETE,
            &path,
            Some(&token),
            Some(&json!({"auth": auth})),
        )
        .await;
    assert_error(&got, 429, "M_LIMIT_EXCEEDED");
    assert_limited(&login_from(&s, "10.9.9.9", "alice", "alice-password").await);
    // The device is still there.
    assert_eq!(s.get(&path, Some(&token)).await.0, StatusCode::OK);
}

async fn login_account_limit(b: Backend) {
    let (s, _clock) = server(b, |c| {
        c.rate_limits.login_account = RateLimit::new(0.01, 2.0)
    })
    .await;
    s.register("alice", "alice-password").await;
    s.register("bob", "bob-password").await;
    assert_eq!(
        login_from(&s, "10.0.0.1", "alice", "alice-password")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        login_from(&s, "10.0.0.2", "ALICE", "alice-password")
            .await
            .0,
        StatusCode::OK
    );
    assert_limited(&login_from(&s, "10.0.0.3", "alice", "alice-password").await);
    // Failures are not counted here, and others are not affected.
    assert_eq!(
        login_from(&s, "10.0.0.3", "bob", "wrong").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        login_from(&s, "10.0.0.3", "bob", "bob-password").await.0,
        StatusCode::OK
    );
}

fn bridge(rate_limited: bool) -> AppServiceConfig {
    AppServiceConfig {
        rate_limited,
        ..crate::support::bridge_service(AS_TOKEN, &[])
    }
}

async fn register_from(
    s: &TestServer,
    ip: &str,
    localpart: &str,
) -> (StatusCode, Option<String>, Value) {
    let path = "/_matrix/client/v3/register";
    let body = json!({"username": localpart, "password": "a fine password"});
    let first = from(s, ip, reqwest::Method::POST, path, None, Some(body.clone())).await;
    if first.0 != StatusCode::UNAUTHORIZED {
        return first;
    }
    let mut body = body;
    body["auth"] = json!({"type": "m.login.dummy", "session": first.2["session"]});
    from(s, ip, reqwest::Method::POST, path, None, Some(body)).await
}

async fn registration_limit(b: Backend) {
    let (s, clock) = server(b, |c| {
        c.rate_limits.registration = RateLimit::new(0.1, 3.0);
        c.app_services = vec![bridge(true)];
        c.allow_guest_access = true;
    })
    .await;
    // Three registrations (two calls each: checked twice, counted once).
    for name in ["r1", "r2"] {
        assert_eq!(register_from(&s, "10.0.0.1", name).await.0, StatusCode::OK);
    }
    let guest = from(
        &s,
        "10.0.0.1",
        reqwest::Method::POST,
        "/_matrix/client/v3/register?kind=guest",
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(guest.0, StatusCode::OK, "a guest counts: {}", guest.2);
    // The fourth is refused at its first step.
    let wait = assert_limited(&register_from(&s, "10.0.0.1", "r4").await);
    // Another address is not affected.
    assert_eq!(register_from(&s, "10.0.0.2", "r5").await.0, StatusCode::OK);
    // Application services and shared-secret registration are neither refused nor counted.
    let as_reg = from(
        &s,
        "10.0.0.1",
        reqwest::Method::POST,
        "/_matrix/client/v3/register",
        Some(AS_TOKEN),
        Some(json!({"type": "m.login.application_service", "username": "bridge_x"})),
    )
    .await;
    assert_eq!(as_reg.0, StatusCode::OK, "{}", as_reg.2);
    s.shared_secret_register("admin1", "admin-password", true, None)
        .await;
    clock.advance_ms(wait as i64);
    assert_eq!(register_from(&s, "10.0.0.1", "r6").await.0, StatusCode::OK);
    assert_limited(&register_from(&s, "10.0.0.1", "r7").await);
}

/// The bridge registers `bridge_a` (no device) from 10.0.0.1.
async fn register_bridge_user(s: &TestServer) {
    let body = json!({"type": "m.login.application_service", "username": "bridge_a", "inhibit_login": true});
    let reg = from(
        s,
        "10.0.0.1",
        reqwest::Method::POST,
        "/_matrix/client/v3/register",
        Some(AS_TOKEN),
        Some(body),
    )
    .await;
    assert_eq!(reg.0, StatusCode::OK, "{}", reg.2);
}

/// The bridge logs `bridge_a` in from 10.0.0.1.
async fn bridge_login(s: &TestServer) -> (StatusCode, Option<String>, Value) {
    let body = json!({"type": "m.login.application_service", "identifier": {"type": "m.id.user", "user": "bridge_a"}});
    from(
        s,
        "10.0.0.1",
        reqwest::Method::POST,
        "/_matrix/client/v3/login",
        Some(AS_TOKEN),
        Some(body),
    )
    .await
}

async fn app_service_exemption(b: Backend) {
    // `rate_limited: false`: neither limited nor counted.
    let (s, _clock) = server(b, |c| {
        c.rate_limits.login_address = RateLimit::new(0.01, 2.0);
        c.rate_limits.login_account = RateLimit::new(0.01, 2.0);
        c.app_services = vec![bridge(false)];
    })
    .await;
    register_bridge_user(&s).await;
    for _ in 0..5 {
        let got = bridge_login(&s).await;
        assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    }
    s.register("alice", "alice-password").await;
    assert_eq!(
        login_from(&s, "10.0.0.1", "alice", "alice-password")
            .await
            .0,
        StatusCode::OK
    );
    // A limited service's logins count like anyone's.
    let (s, _clock) = server(b, |c| {
        c.rate_limits.login_address = RateLimit::new(0.01, 2.0);
        c.app_services = vec![bridge(true)];
    })
    .await;
    register_bridge_user(&s).await;
    for _ in 0..2 {
        let got = bridge_login(&s).await;
        assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    }
    assert_limited(&bridge_login(&s).await);
}

async fn override_leaves_login_limits(b: Backend) {
    let (s, _clock) = server(b, |c| {
        c.rate_limits.login_failed_attempts = RateLimit::new(0.01, 2.0)
    })
    .await;
    let admin = s.register_admin("root").await;
    let (alice, alice_token, _) = s.register("alice", "alice-password").await;
    let path = format!("/_synapse/admin/v1/users/{alice}/override_ratelimit");
    assert_eq!(
        s.get(&path, Some(&admin)).await,
        (StatusCode::OK, json!({}))
    );
    // Only admins.
    assert_error(&s.get(&path, Some(&alice_token)).await, 403, "M_FORBIDDEN");
    let set = s
        .post(
            &path,
            Some(&admin),
            json!({"messages_per_second": 0, "burst_count": 0}),
        )
        .await;
    assert_eq!(
        set,
        (
            StatusCode::OK,
            json!({"messages_per_second": 0, "burst_count": 0})
        )
    );
    assert_eq!(
        s.get(&path, Some(&admin)).await.1,
        json!({"messages_per_second": 0, "burst_count": 0})
    );
    assert_error(
        &s.post(&path, Some(&admin), json!({"burst_count": -1}))
            .await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &s.get(
            &format!("/_synapse/admin/v1/users/@nobody:{SERVER_NAME}/override_ratelimit"),
            Some(&admin),
        )
        .await,
        404,
        "M_NOT_FOUND",
    );
    // The override lifts no login limit.
    for _ in 0..2 {
        assert_eq!(
            login_from(&s, "10.0.0.1", "alice", "wrong").await.0,
            StatusCode::FORBIDDEN
        );
    }
    assert_limited(&login_from(&s, "10.0.0.1", "alice", "alice-password").await);
    let deleted = s
        .request(reqwest::Method::DELETE, &path, Some(&admin), None)
        .await;
    assert_eq!(deleted, (StatusCode::OK, json!({})));
    assert_eq!(s.get(&path, Some(&admin)).await.1, json!({}));
}

async fn registration_token_validity_limit(b: Backend) {
    let (s, _clock) = server(b, |c| {
        c.rate_limits.registration_token_validity = RateLimit::new(0.01, 2.0);
        c.registration_requires_token = true;
    })
    .await;
    let path = "/_matrix/client/v1/register/m.login.registration_token/validity?token=guess";
    for _ in 0..2 {
        let got = from(&s, "10.0.0.1", reqwest::Method::GET, path, None, None).await;
        assert_eq!(got.0, StatusCode::OK, "{}", got.2);
        assert_eq!(got.2["valid"], false);
    }
    assert_limited(&from(&s, "10.0.0.1", reqwest::Method::GET, path, None, None).await);
    // Before anything else: even a malformed request is refused.
    assert_limited(
        &from(
            &s,
            "10.0.0.1",
            reqwest::Method::GET,
            "/_matrix/client/v1/register/m.login.registration_token/validity",
            None,
            None,
        )
        .await,
    );
    let other = from(&s, "10.0.0.2", reqwest::Method::GET, path, None, None).await;
    assert_eq!(other.0, StatusCode::OK, "{}", other.2);
}

async fn threepid_validation_limit(b: Backend) {
    let (s, _clock) = server(b, |c| {
        c.rate_limits.threepid_validation = RateLimit::new(0.01, 2.0)
    })
    .await;
    let path = "/_matrix/client/v3/register/email/requestToken";
    let body =
        |email: &str| Some(json!({"client_secret": "secret", "email": email, "send_attempt": 1}));
    // Per client address, whatever the email.
    for email in ["a@example.org", "b@example.org"] {
        assert_not_limited(
            &from(
                &s,
                "10.0.0.1",
                reqwest::Method::POST,
                path,
                None,
                body(email),
            )
            .await,
        );
    }
    assert_limited(
        &from(
            &s,
            "10.0.0.1",
            reqwest::Method::POST,
            path,
            None,
            body("c@example.org"),
        )
        .await,
    );
    // Per email address, whatever the client address.
    for ip in ["10.0.0.2", "10.0.0.3"] {
        assert_not_limited(
            &from(
                &s,
                ip,
                reqwest::Method::POST,
                "/_matrix/client/v3/account/password/email/requestToken",
                None,
                body("Victim@Example.org"),
            )
            .await,
        );
    }
    assert_limited(
        &from(
            &s,
            "10.0.0.4",
            reqwest::Method::POST,
            path,
            None,
            body("victim@example.org"),
        )
        .await,
    );
}

async fn oracle_and_nonce_limits(b: Backend) {
    let (s, _clock) = server(b, |c| {
        c.rate_limits.username_available = RateLimit::new(0.01, 2.0);
        c.rate_limits.registration_nonce = RateLimit::new(0.01, 2.0);
    })
    .await;
    let available = "/_matrix/client/v3/register/available?username=someone";
    for _ in 0..2 {
        let got = from(&s, "10.0.0.1", reqwest::Method::GET, available, None, None).await;
        assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    }
    assert_limited(&from(&s, "10.0.0.1", reqwest::Method::GET, available, None, None).await);
    let nonce = "/_synapse/admin/v1/register";
    for _ in 0..2 {
        assert_eq!(
            from(&s, "10.0.0.1", reqwest::Method::GET, nonce, None, None)
                .await
                .0,
            StatusCode::OK
        );
    }
    assert_limited(&from(&s, "10.0.0.1", reqwest::Method::GET, nonce, None, None).await);
    assert_eq!(
        from(&s, "10.0.0.2", reqwest::Method::GET, nonce, None, None)
            .await
            .0,
        StatusCode::OK
    );
}

async fn two_processes_share_one_budget(b: Backend) {
    let db = Arc::new(fresh_database(b).await);
    let tweak = |c: &mut Config| {
        c.rate_limits.login_failed_attempts = RateLimit::new(0.01, 3.0);
    };
    let one = TestServer::builder(db.clone()).config(tweak).start().await;
    let two = TestServer::builder(db.clone()).config(tweak).start().await;
    one.register("alice", "alice-password").await;
    // Two failures on each process: the fourth failure is refused.
    assert_eq!(
        one.try_login("alice", "wrong").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        one.try_login("alice", "wrong").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        two.try_login("alice", "wrong").await.0,
        StatusCode::FORBIDDEN
    );
    assert_error(
        &two.try_login("alice", "wrong").await,
        429,
        "M_LIMIT_EXCEEDED",
    );
    assert_error(
        &one.try_login("alice", "alice-password").await,
        429,
        "M_LIMIT_EXCEEDED",
    );
    // One row for the one bucket.
    assert_eq!(count_buckets(&db, "login.failed:%").await, 1);
}

async fn count_buckets(db: &FreshDatabase, like: &str) -> i64 {
    db_i64(
        db,
        &format!("SELECT COUNT(*) FROM ratelimit_buckets WHERE bucket LIKE '{like}'"),
    )
    .await
}

async fn buckets_in_the_store(b: Backend) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.expect("store connects");
    let spec = BucketSpec {
        per_second: 1.0,
        burst_count: 2.0,
    };
    let take = |now| {
        let store = store.clone();
        async move {
            store
                .rate_limits()
                .ratelimit_take("k", spec, 1.0, now)
                .await
        }
    };
    assert!(take(NOW).await.unwrap().allowed);
    assert!(take(NOW).await.unwrap().allowed);
    let refused = take(NOW).await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(refused.level, 2.0, "a refusal is not counted");
    // Half a second drains half an action: still full.
    assert!(
        !store
            .rate_limits()
            .ratelimit_peek("k", spec, 1.0, NOW + 500)
            .await
            .unwrap()
            .allowed
    );
    assert!(!take(NOW + 500).await.unwrap().allowed);
    // A whole second after the last write, one fits; a peek does not count.
    assert!(
        store
            .rate_limits()
            .ratelimit_peek("k", spec, 1.0, NOW + 1500)
            .await
            .unwrap()
            .allowed
    );
    assert!(
        store
            .rate_limits()
            .ratelimit_peek("k", spec, 1.0, NOW + 1500)
            .await
            .unwrap()
            .allowed
    );
    assert!(take(NOW + 1500).await.unwrap().allowed);
    assert!(!take(NOW + 1500).await.unwrap().allowed);
    // Other keys are apart; an unknown key peeks as empty.
    assert_eq!(
        store
            .rate_limits()
            .ratelimit_peek("other", spec, 1.0, NOW)
            .await
            .unwrap()
            .level,
        0.0
    );
    assert!(
        store
            .rate_limits()
            .ratelimit_take("other", spec, 1.0, NOW)
            .await
            .unwrap()
            .allowed
    );
    // Swept once drained (burst / rate after the last write), not before.
    assert_eq!(
        store
            .rate_limits()
            .sweep_ratelimit_buckets(NOW + 1500)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .rate_limits()
            .sweep_ratelimit_buckets(NOW + 2001)
            .await
            .unwrap(),
        1,
        "`other`"
    );
    assert_eq!(
        store
            .rate_limits()
            .sweep_ratelimit_buckets(NOW + 3501)
            .await
            .unwrap(),
        1,
        "`k`"
    );
    assert_eq!(count_buckets(&db, "%").await, 0);
}

/// Starting registration sessions costs the server a row each: bounded
/// per address, while a session already started can be finished.
async fn registration_sessions_per_address(b: Backend) {
    let (s, _clock) = server(b, |c| {
        c.rate_limits.registration_session = RateLimit::new(0.01, 3.0)
    })
    .await;
    let path = "/_matrix/client/v3/register";
    let body = |name: &str| json!({"username": name, "password": "a fine password"});
    let mut sessions = Vec::new();
    for name in ["s1", "s2", "s3"] {
        let got = from(
            &s,
            "10.0.0.1",
            reqwest::Method::POST,
            path,
            None,
            Some(body(name)),
        )
        .await;
        assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{}", got.2);
        sessions.push(got.2["session"].clone());
    }
    assert_limited(
        &from(
            &s,
            "10.0.0.1",
            reqwest::Method::POST,
            path,
            None,
            Some(body("s4")),
        )
        .await,
    );
    // A completed stage without a session starts one too.
    let no_session =
        json!({"username": "s5", "password": "a fine password", "auth": {"type": "m.login.dummy"}});
    assert_limited(
        &from(
            &s,
            "10.0.0.1",
            reqwest::Method::POST,
            path,
            None,
            Some(no_session),
        )
        .await,
    );
    // The sessions already started can be finished.
    let mut done = body("s1");
    done["auth"] = json!({"type": "m.login.dummy", "session": sessions[0]});
    let got = from(
        &s,
        "10.0.0.1",
        reqwest::Method::POST,
        path,
        None,
        Some(done),
    )
    .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    // Another address is not affected.
    let got = from(
        &s,
        "10.0.0.2",
        reqwest::Method::POST,
        path,
        None,
        Some(body("s6")),
    )
    .await;
    assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{}", got.2);
}
