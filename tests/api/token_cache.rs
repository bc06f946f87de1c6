//! The token cache across processes: two servers on one database, each
//! with its own cache and its own feed of changes (a LISTEN connection on
//! PostgreSQL, the polled table on SQLite). A token cached by both is
//! revoked on one ("B", which must refuse it at once) and must be refused
//! by the other ("A") within 100 ms, for every kind of revocation; and a
//! server that lost its notification connection trusts nothing it cached
//! before.

use crate::both;
use crate::oauth_support::{log_in, oauth_builder, revoke, APP};
use crate::support::{assert_error, db_exec, Backend, TestServer, SERVER_NAME};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const WHOAMI: &str = "/_matrix/client/v3/account/whoami";
/// The bound the issue sets for other processes.
const WITHIN: Duration = Duration::from_millis(100);

both!(
    a_logout_is_honoured_everywhere,
    a_deleted_device_is_honoured_everywhere,
    a_password_change_with_logout_is_honoured_everywhere,
    a_deactivation_is_honoured_everywhere,
    a_lock_is_honoured_everywhere,
    an_oauth_revocation_is_honoured_everywhere,
    an_expiry_is_honoured_everywhere,
    a_change_made_in_sql_is_honoured,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_lost_notification_connection_trusts_nothing_cached() {
    a_lost_notification_connection_trusts_nothing_cached().await
}

/// Two servers (OAuth 2.0 on) on one fresh database, both following the
/// changes.
async fn pair(b: Backend) -> (TestServer, TestServer) {
    let a = oauth_builder(b).start().await;
    let b = oauth_builder(a.db.clone()).start().await;
    for s in [&a, &b] {
        trusted(s).await;
    }
    (a, b)
}

/// Waits until the server's cache follows the changes.
async fn trusted(s: &TestServer) {
    for _ in 0..500 {
        if s.auth.token_cache.trusted() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the token cache never caught up");
}

/// `token` works on `s`, and is answered from its cache: by the second
/// use, or a little later for a token issued with a refresh token (its
/// first use is written, which the feed brings back as a change).
async fn cached_on(s: &TestServer, token: &str) {
    for _ in 0..50 {
        let hits = s.auth.token_cache.counters().hits.get();
        let (status, body) = s.get(WHOAMI, Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if s.auth.token_cache.counters().hits.get() > hits {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the token was never answered from the cache");
}

/// Polls `s` with `token` until it is refused with `errcode`; fails if
/// that takes longer than [`WITHIN`] after `since`.
async fn refused_within(s: &TestServer, token: &str, errcode: &str, since: std::time::Instant) {
    loop {
        let (status, body) = s.get(WHOAMI, Some(token)).await;
        if status != StatusCode::OK {
            assert_error(&(status, body), 401, errcode);
            break;
        }
        assert!(
            since.elapsed() <= WITHIN,
            "still accepted {:?} after the revocation",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = since.elapsed();
    assert!(took <= WITHIN, "refused only {took:?} after the revocation");
}

/// The token is dead on B at once and on A within the bound; a token of
/// the same user that was not revoked (if any) still works on both.
async fn check_revoked(
    a: &TestServer,
    b: &TestServer,
    token: &str,
    errcode: &str,
    since: std::time::Instant,
) {
    let (status, body) = b.get(WHOAMI, Some(token)).await;
    assert_error(&(status, body), 401, errcode);
    refused_within(a, token, errcode, since).await;
}

fn now() -> std::time::Instant {
    crate::support::real_now()
}

async fn a_logout_is_honoured_everywhere(backend: Backend) {
    let (a, b) = pair(backend).await;
    let (_, token, _) = b.register("alice", "alice-pw").await;
    let (other, _) = b.login("alice", "alice-pw").await;
    for s in [&a, &b] {
        cached_on(s, &token).await;
        cached_on(s, &other).await;
    }
    let (status, body) = b
        .post("/_matrix/client/v3/logout", Some(&token), json!({}))
        .await;
    let since = now();
    assert_eq!(status, StatusCode::OK, "{body}");
    check_revoked(&a, &b, &token, "M_UNKNOWN_TOKEN", since).await;
    // Only that token.
    for s in [&a, &b] {
        assert_eq!(s.get(WHOAMI, Some(&other)).await.0, StatusCode::OK);
    }
}

/// A UIA-protected request with the password stage.
async fn with_password(
    s: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
    user: &str,
    password: &str,
) -> (StatusCode, Value) {
    let (status, challenge) = s
        .request(method.clone(), path, Some(token), Some(&body))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let mut body = body;
    body["auth"] = TestServer::password_auth(&challenge["session"], user, password);
    s.request(method, path, Some(token), Some(&body)).await
}

async fn a_deleted_device_is_honoured_everywhere(backend: Backend) {
    let (a, b) = pair(backend).await;
    let (_, token, _) = b.register("bob", "bob-pw").await;
    let (victim, device) = b.login("bob", "bob-pw").await;
    for s in [&a, &b] {
        cached_on(s, &victim).await;
    }
    let path = format!("/_matrix/client/v3/devices/{device}");
    let (status, body) = with_password(
        &b,
        Method::DELETE,
        &path,
        &token,
        json!({}),
        "bob",
        "bob-pw",
    )
    .await;
    let since = now();
    assert_eq!(status, StatusCode::OK, "{body}");
    check_revoked(&a, &b, &victim, "M_UNKNOWN_TOKEN", since).await;
}

async fn a_password_change_with_logout_is_honoured_everywhere(backend: Backend) {
    let (a, b) = pair(backend).await;
    let (_, token, _) = b.register("carol", "carol-pw").await;
    let (victim, _) = b.login("carol", "carol-pw").await;
    for s in [&a, &b] {
        cached_on(s, &victim).await;
        cached_on(s, &token).await;
    }
    let (status, body) = with_password(
        &b,
        Method::POST,
        "/_matrix/client/v3/account/password",
        &token,
        json!({"new_password": "carol-new-pw", "logout_devices": true}),
        "carol",
        "carol-pw",
    )
    .await;
    let since = now();
    assert_eq!(status, StatusCode::OK, "{body}");
    check_revoked(&a, &b, &victim, "M_UNKNOWN_TOKEN", since).await;
    // The session that changed the password is kept.
    for s in [&a, &b] {
        assert_eq!(s.get(WHOAMI, Some(&token)).await.0, StatusCode::OK);
    }
}

async fn a_deactivation_is_honoured_everywhere(backend: Backend) {
    let (a, b) = pair(backend).await;
    let (_, token, _) = b.register("dave", "dave-pw").await;
    let (victim, _) = b.login("dave", "dave-pw").await;
    for s in [&a, &b] {
        cached_on(s, &victim).await;
    }
    let (status, body) = with_password(
        &b,
        Method::POST,
        "/_matrix/client/v3/account/deactivate",
        &token,
        json!({}),
        "dave",
        "dave-pw",
    )
    .await;
    let since = now();
    assert_eq!(status, StatusCode::OK, "{body}");
    check_revoked(&a, &b, &victim, "M_UNKNOWN_TOKEN", since).await;
}

async fn a_lock_is_honoured_everywhere(backend: Backend) {
    let (a, b) = pair(backend).await;
    let admin = b.register_admin("admin").await;
    let (_, token, _) = b.register("erin", "erin-pw").await;
    for s in [&a, &b] {
        cached_on(s, &token).await;
    }
    let path = format!("/_synapse/admin/v2/users/@erin:{SERVER_NAME}");
    let (status, body) = b
        .request(
            Method::PUT,
            &path,
            Some(&admin),
            Some(&json!({"locked": true})),
        )
        .await;
    let since = now();
    assert_eq!(status, StatusCode::OK, "{body}");
    check_revoked(&a, &b, &token, "M_USER_LOCKED", since).await;
    // Unlocked: the same token works again, everywhere.
    let (status, body) = a
        .request(
            Method::PUT,
            &path,
            Some(&admin),
            Some(&json!({"locked": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(a.get(WHOAMI, Some(&token)).await.0, StatusCode::OK);
    let since = now();
    loop {
        if b.get(WHOAMI, Some(&token)).await.0 == StatusCode::OK {
            break;
        }
        assert!(since.elapsed() <= WITHIN, "still locked on B");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn an_oauth_revocation_is_honoured_everywhere(backend: Backend) {
    let (a, b) = pair(backend).await;
    b.register("frank", "frank-pw").await;
    let (client_id, tokens) = log_in(&b, "frank", "frank-pw", "FRANKDEV").await;
    assert_eq!(client_id, APP);
    let token = tokens["access_token"].as_str().expect("an access token");
    for s in [&a, &b] {
        cached_on(s, token).await;
    }
    let (status, body) = revoke(&b, APP, Some(token)).await;
    let since = now();
    assert_eq!(status, StatusCode::OK, "{body}");
    check_revoked(&a, &b, token, "M_UNKNOWN_TOKEN", since).await;
}

async fn an_expiry_is_honoured_everywhere(backend: Backend) {
    let lifetime = |c: &mut mxauth::config::Config| {
        c.sessions.nonrefreshable_access_token_lifetime_ms = Some(1500);
    };
    let a = TestServer::builder(backend).config(lifetime).start().await;
    let b = TestServer::builder(a.db.clone())
        .config(lifetime)
        .start()
        .await;
    trusted(&a).await;
    trusted(&b).await;
    let (_, token, _) = b.register("gina", "gina-pw").await;
    let expires = now() + Duration::from_millis(1500);
    for s in [&a, &b] {
        cached_on(s, &token).await;
    }
    tokio::time::sleep_until(expires.into()).await;
    // Expired by the clock on each use, cached or not: a soft logout.
    for s in [&b, &a] {
        let (status, body) = s.get(WHOAMI, Some(&token)).await;
        assert_error(&(status, body.clone()), 401, "M_UNKNOWN_TOKEN");
        assert_eq!(body["soft_logout"], true, "{body}");
    }
}

/// A change made behind every server's back (an admin's SQL, another
/// tool) reaches the caches too: the triggers see every path.
async fn a_change_made_in_sql_is_honoured(backend: Backend) {
    let (a, b) = pair(backend).await;
    let (_, token, _) = b.register("hank", "hank-pw").await;
    for s in [&a, &b] {
        cached_on(s, &token).await;
    }
    db_exec(
        &a.db,
        &format!("UPDATE users SET deactivated = TRUE WHERE name = '@hank:{SERVER_NAME}'"),
    )
    .await;
    let since = now();
    refused_within(&a, &token, "M_UNKNOWN_TOKEN", since).await;
    refused_within(&b, &token, "M_UNKNOWN_TOKEN", since).await;
}

/// The listening connections of the test database's servers.
const LISTENERS: &str = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
     WHERE application_name = 'mxauth token cache' AND datname = current_database()";

async fn a_lost_notification_connection_trusts_nothing_cached() {
    let (a, b) = pair(Backend::Postgres).await;
    let (_, token, _) = b.register("ivy", "ivy-pw").await;
    cached_on(&a, &token).await;
    // Both servers lose their LISTEN connection; B logs the token out
    // while nobody listens (A would never hear of it).
    db_exec(&a.db, LISTENERS).await;
    let (status, body) = b
        .post("/_matrix/client/v3/logout", Some(&token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A stops trusting its cache...
    let since = now();
    while a.auth.token_cache.trusted() {
        assert!(since.elapsed() < Duration::from_secs(5), "A never noticed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_error(&a.get(WHOAMI, Some(&token)).await, 401, "M_UNKNOWN_TOKEN");
    // ... and, once it listens again, still refuses the token it had cached.
    trusted(&a).await;
    trusted(&b).await;
    assert_error(&a.get(WHOAMI, Some(&token)).await, 401, "M_UNKNOWN_TOKEN");
    // The feed works again: a new token, cached, then revoked on B.
    let (fresh, _) = b.login("ivy", "ivy-pw").await;
    cached_on(&a, &fresh).await;
    let (status, _) = b
        .post("/_matrix/client/v3/logout", Some(&fresh), json!({}))
        .await;
    let since = now();
    assert_eq!(status, StatusCode::OK);
    check_revoked(&a, &b, &fresh, "M_UNKNOWN_TOKEN", since).await;
}
