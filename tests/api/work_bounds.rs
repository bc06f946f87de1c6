//! Work an anonymous request can force (issue 11, section 2): password
//! hashing is queued and bounded, abandoned work is dropped, overlong
//! passwords cost nothing; registration sessions keep a bounded amount;
//! expired state is swept; client-IP rows are bounded; the HTTP server
//! times out slow headers, caps connections and stops within a deadline.

use crate::both;
use crate::support::{assert_error, db_exec, db_i64, fresh_database, Backend, TestServer};
use mxauth::clock::MockClock;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

both!(
    an_overlong_password_flood_costs_no_hashing,
    abandoned_logins_leave_no_hashing_behind,
    a_full_hashing_queue_answers_429_with_retry_after,
    a_long_user_agent_costs_no_one_their_client_ips,
    one_client_ip_row_per_address_with_the_latest_agent,
    expired_nonces_are_swept,
    outstanding_nonces_are_capped_oldest_first,
    expired_email_validation_sessions_are_swept,
    expired_sso_state_is_swept,
    an_oversized_registration_body_is_refused_with_413,
    a_registration_replay_mints_nothing_once_logged_out,
    a_registration_replay_mints_nothing_after_a_password_change,
    a_registration_replay_mints_nothing_after_deactivation,
    a_partial_request_head_is_cut_off_after_the_timeout,
    connections_beyond_the_cap_wait_for_a_free_slot,
    a_held_connection_cannot_keep_the_server_from_stopping_and_flushing,
);

const LOGIN: &str = "/_matrix/client/v3/login";

fn login_body(user: &str, password: &str) -> Value {
    json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
    })
}

async fn an_overlong_password_flood_costs_no_hashing(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            c.mxauth.max_request_body_bytes = 1 << 20;
            c.mxauth.password_hashing_concurrency = 2;
            // On a loaded test machine, parsing 300 large bodies unoptimised
            // can delay a connection's first read past the default.
            c.mxauth.header_read_timeout_ms = 120_000;
        })
        .start()
        .await;
    s.register("alice", "the right password").await;
    // Synapse's limit is 512 characters; one more is refused like a wrong password.
    let got = s.try_login("alice", &"p".repeat(513)).await;
    assert_error(&got, 403, "M_FORBIDDEN");
    assert_eq!(got.1["error"], "Invalid username or password");

    let before = s.auth.hasher.hashes_computed();
    // 300 logins at once, each with a password of a quarter megabyte.
    let password = "p".repeat(256 * 1024);
    let url = format!("{}{LOGIN}", s.base);
    let mut flood = Vec::new();
    for i in 0..300 {
        let client = s.raw().clone();
        let body = login_body(if i % 2 == 0 { "alice" } else { "nobody" }, &password);
        let url = url.clone();
        flood.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    for f in flood {
        let status = f.await.unwrap().expect("answered");
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        s.auth.hasher.hashes_computed(),
        before,
        "an overlong password is refused before any hashing"
    );
    // And the server answers a normal login at once.
    let started = crate::support::real_now();
    s.login("alice", "the right password").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a login after the flood took {:?}",
        started.elapsed()
    );
}

async fn abandoned_logins_leave_no_hashing_behind(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.mxauth.password_hashing_concurrency = 2)
        .start()
        .await;
    s.register("alice", "the right password").await;
    let before = s.auth.hasher.hashes_computed();
    // 200 clients that give up after a few milliseconds.
    let impatient = crate::support::http_client_builder()
        .timeout(Duration::from_millis(5))
        .build()
        .unwrap();
    let url = format!("{}{LOGIN}", s.base);
    let mut abandoned = Vec::new();
    for _ in 0..200 {
        let client = impatient.clone();
        let url = url.clone();
        abandoned.push(tokio::spawn(async move {
            let _ = client
                .post(url)
                .json(&login_body("alice", "a wrong password"))
                .send()
                .await;
        }));
    }
    for a in abandoned {
        a.await.unwrap();
    }
    // A login now is served after whatever work was left queued.
    s.login("alice", "the right password").await;
    let abandoned_work = s.auth.hasher.hashes_computed() - before - 1;
    // About what was running when the clients left (2 threads, perhaps a
    // round more taken before the server saw them go); not ~140 as before,
    // and fewer than the queue holds (34), so not the queue's bound at work.
    assert!(
        abandoned_work <= 8,
        "{abandoned_work} hashes computed for clients that had gone"
    );
}

async fn a_full_hashing_queue_answers_429_with_retry_after(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.mxauth.password_hashing_concurrency = 1)
        .start()
        .await;
    let url = format!("{}{LOGIN}", s.base);
    let mut logins = Vec::new();
    for _ in 0..150 {
        let client = s.raw().clone();
        let url = url.clone();
        logins.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&login_body("nobody", "a password"))
                .send()
                .await
                .expect("answered");
            let retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status(), retry_after, r.json::<Value>().await.unwrap())
        }));
    }
    let (mut refused, mut hashed) = (0, 0);
    for l in logins {
        let (status, retry_after, body) = l.await.unwrap();
        match status {
            StatusCode::FORBIDDEN => hashed += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED", "{body}");
                let ms = body["retry_after_ms"].as_u64().expect("retry_after_ms");
                assert!(ms > 0, "{body}");
                let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
                assert_eq!(secs, ms.div_ceil(1000), "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(refused > 0, "no login was refused ({hashed} hashed)");
    assert!(
        hashed > mxauth::auth::password::MAX_WAITING_HASHES,
        "{hashed} hashed"
    );
}

const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

/// `n` characters that do not compress (an index entry of them stays big).
fn incompressible(n: usize) -> String {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect()
}

async fn a_long_user_agent_costs_no_one_their_client_ips(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (alice, alice_token, _) = s.register("alice", "a password").await;
    let (bob, bob_token, _) = s.register("bob", "a password").await;
    let long = incompressible(3 * 1024);
    s.get_as(WHOAMI, &alice_token, "Alice/1.0").await;
    let (status, _) = s.get_as(WHOAMI, &bob_token, &long).await;
    assert_eq!(status, StatusCode::OK);
    s.auth.usage.flush().await;
    let rows = |user: &str| format!("SELECT COUNT(*) FROM user_ips WHERE user_id = '{user}'");
    assert_eq!(crate::support::db_i64(&s.db, &rows(&alice)).await, 1);
    assert_eq!(crate::support::db_i64(&s.db, &rows(&bob)).await, 1);
    // Bob's agent is kept, cut to 512 characters.
    let kept = crate::support::db_i64(
        &s.db,
        &format!(
            "SELECT CAST(MAX(LENGTH(user_agent)) AS BIGINT) FROM user_ips WHERE user_id = '{bob}'"
        ),
    )
    .await;
    assert_eq!(kept, 512);
}

async fn one_client_ip_row_per_address_with_the_latest_agent(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("admin").await;
    let (alice, token, device) = s.register("alice", "a password").await;
    s.get_as(WHOAMI, &token, "Old/1.0").await;
    s.get_as(WHOAMI, &token, "New/2.0").await;
    s.auth.usage.flush().await;
    let count = format!("SELECT COUNT(*) FROM user_ips WHERE user_id = '{alice}'");
    assert_eq!(crate::support::db_i64(&s.db, &count).await, 1);
    let latest = format!(
        "SELECT COUNT(*) FROM user_ips WHERE user_id = '{alice}' AND user_agent = 'New/2.0'"
    );
    assert_eq!(crate::support::db_i64(&s.db, &latest).await, 1);
    // Whois shows the one connection with the latest agent.
    let (status, w) = s
        .get(&format!("/_synapse/admin/v1/whois/{alice}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    let connections = &w["devices"][&device]["sessions"][0]["connections"];
    assert_eq!(connections.as_array().unwrap().len(), 1, "{w}");
    assert_eq!(connections[0]["user_agent"], "New/2.0", "{w}");
}

const T0: i64 = 1_700_000_000_000;
const NONCE: &str = "/_synapse/admin/v1/register";

async fn with_clock(b: Backend) -> (TestServer, Arc<MockClock>) {
    let db = Arc::new(fresh_database(b).await);
    let clock = Arc::new(MockClock::new(T0));
    let s = TestServer::builder(db).clock(clock.clone()).start().await;
    (s, clock)
}

async fn expired_nonces_are_swept(b: Backend) {
    let (s, clock) = with_clock(b).await;
    for _ in 0..3 {
        let (status, _) = s.get(NONCE, None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let count = "SELECT COUNT(*) FROM registration_nonces";
    assert_eq!(db_i64(&s.db, count).await, 3);
    clock.advance_ms(mxauth::auth::admin::NONCE_LIFETIME_MS);
    s.auth.sweep_registration_nonces().await.unwrap();
    assert_eq!(db_i64(&s.db, count).await, 3, "still usable");
    clock.advance_ms(1);
    s.auth.sweep_registration_nonces().await.unwrap();
    assert_eq!(db_i64(&s.db, count).await, 0);
}

async fn outstanding_nonces_are_capped_oldest_first(b: Backend) {
    let (s, clock) = with_clock(b).await;
    let max = mxauth::auth::admin::MAX_OUTSTANDING_NONCES;
    let (_, first) = s.get(NONCE, None).await;
    clock.advance_ms(1);
    for _ in 0..(max + 10) / 50 {
        let mut batch = Vec::new();
        for _ in 0..50 {
            let client = s.raw().clone();
            let url = format!("{}{NONCE}", s.base);
            batch.push(tokio::spawn(async move {
                client.get(url).send().await.unwrap().status()
            }));
        }
        for n in batch {
            assert_eq!(n.await.unwrap(), StatusCode::OK);
        }
    }
    clock.advance_ms(1);
    let (_, last) = s.get(NONCE, None).await;
    assert_eq!(
        db_i64(&s.db, "SELECT COUNT(*) FROM registration_nonces").await,
        max
    );
    let remains = |n: &Value| {
        format!(
            "SELECT COUNT(*) FROM registration_nonces WHERE nonce = '{}'",
            n["nonce"].as_str().unwrap()
        )
    };
    assert_eq!(db_i64(&s.db, &remains(&first)).await, 0, "the oldest went");
    assert_eq!(db_i64(&s.db, &remains(&last)).await, 1, "the newest stays");
}

async fn expired_email_validation_sessions_are_swept(b: Backend) {
    let (s, clock) = with_clock(b).await;
    let blob = match b {
        Backend::Sqlite => "X'00'",
        Backend::Postgres => "'\\x00'::bytea",
    };
    let hour = 3_600_000;
    let row = |id: &str, validated: &str, expires: i64| {
        format!(
            "INSERT INTO threepid_validation_sessions (session_id, medium, address, \
             client_secret, last_send_attempt, validated_ts, token_hash, token_expires_ts, \
             next_link, created_ts) VALUES ('{id}', 'email', '{id}@example.org', 'secret', 1, \
             {validated}, {blob}, {expires}, NULL, {T0});"
        )
    };
    db_exec(
        &s.db,
        &[
            row("link_expires_soon", "NULL", T0 + 10),
            row("link_expires_in_an_hour", "NULL", T0 + hour),
            row("validated", &T0.to_string(), T0 + hour),
        ]
        .concat(),
    )
    .await;
    // (Counted in the database: the server's own sweep may run meanwhile.)
    let count = "SELECT COUNT(*) FROM threepid_validation_sessions";
    s.auth.sweep_threepid_sessions().await.unwrap();
    assert_eq!(db_i64(&s.db, count).await, 3);
    clock.advance_ms(10);
    s.auth.sweep_threepid_sessions().await.unwrap();
    assert_eq!(db_i64(&s.db, count).await, 2, "the expired link went");
    clock.advance_ms(hour);
    s.auth.sweep_threepid_sessions().await.unwrap();
    assert_eq!(db_i64(&s.db, count).await, 1, "the validated one stays");
    // A validated session goes once no UIA session could still use it.
    clock.advance_ms(48 * hour);
    s.auth.sweep_threepid_sessions().await.unwrap();
    assert_eq!(db_i64(&s.db, count).await, 0);
}

async fn expired_sso_state_is_swept(b: Backend) {
    let (s, clock) = with_clock(b).await;
    let blob = match b {
        Backend::Sqlite => "X'00'",
        Backend::Postgres => "'\\x00'::bytea",
    };
    let expires = T0 + 600_000;
    db_exec(
        &s.db,
        &format!(
            "INSERT INTO sso_sessions (state, idp_id, nonce, code_verifier, \
             client_redirect_url, browser_binding_hash, ui_auth_session_id, created_ts, \
             expires_ts) VALUES ('state', 'oidc', 'n', NULL, 'https://app.example/', {blob}, \
             NULL, {T0}, {expires}); \
             INSERT INTO sso_pending_registrations (session_id, idp_id, external_id, \
             suggested_localpart, display_name, email, client_redirect_url, \
             browser_binding_hash, expires_ts) VALUES ('pending', 'oidc', 'sub', NULL, NULL, \
             NULL, 'https://app.example/', {blob}, {expires});"
        ),
    )
    .await;
    let count = "SELECT (SELECT COUNT(*) FROM sso_sessions) + \
                 (SELECT COUNT(*) FROM sso_pending_registrations)";
    s.auth.sweep_sso().await.unwrap();
    assert_eq!(db_i64(&s.db, count).await, 2);
    clock.advance_ms(600_000);
    s.auth.sweep_sso().await.unwrap();
    assert_eq!(db_i64(&s.db, count).await, 0);
}

const REGISTER: &str = "/_matrix/client/v3/register";

async fn an_oversized_registration_body_is_refused_with_413(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let sessions = "SELECT COUNT(*) FROM uia_sessions";
    let before = s.auth.hasher.hashes_computed();
    // A big extra key in the first step: nothing kept, nothing hashed.
    let big = json!({"username": "big", "password": "a password", "junk": "j".repeat(60_000)});
    assert_error(&s.post(REGISTER, None, big).await, 413, "M_TOO_LARGE");
    // A long query string counts too.
    let long_uri = format!("{REGISTER}?x={}", "q".repeat(5000));
    assert_error(
        &s.post(
            &long_uri,
            None,
            json!({"username": "big", "password": "a password"}),
        )
        .await,
        413,
        "M_TOO_LARGE",
    );
    assert_eq!(db_i64(&s.db, sessions).await, 0);
    assert_eq!(s.auth.hasher.hashes_computed(), before);
    // Growing a session with later requests is refused the same way.
    let body = json!({"username": "grows", "password": "a password"});
    let (status, challenge) = s.post(REGISTER, None, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let more = json!({
        "username": "grows", "password": "a password", "junk": "j".repeat(5000),
        "auth": {"session": challenge["session"]},
    });
    assert_error(&s.post(REGISTER, None, more).await, 413, "M_TOO_LARGE");
    // The session itself goes on, as it was.
    let (status, done) = s
        .post(
            REGISTER,
            None,
            json!({"username": "grows", "password": "a password",
                   "auth": {"type": "m.login.dummy", "session": challenge["session"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    // A registration with every usual field at its longest fits.
    let full = json!({"username": "u".repeat(200), "password": "a password",
                      "device_id": "D".repeat(512),
                      "initial_device_display_name": "\u{e9}".repeat(100)});
    let (status, challenge) = s.post(REGISTER, None, full).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
}

/// Registers `localpart` through UIA and returns (the finishing request's
/// body, to replay, and its answer).
async fn register_keeping_the_request(s: &TestServer, localpart: &str) -> (Value, Value) {
    let body = json!({"username": localpart, "password": "a password"});
    let (_, challenge) = s.post(REGISTER, None, body.clone()).await;
    let mut done = body;
    done["auth"] = json!({"type": "m.login.dummy", "session": challenge["session"]});
    let (status, first) = s.post(REGISTER, None, done.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    // Until something ends that login, a replay logs in again on the same device.
    let (status, again) = s.post(REGISTER, None, done.clone()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["user_id"], first["user_id"]);
    assert_eq!(again["device_id"], first["device_id"]);
    (done, first)
}

async fn a_registration_replay_mints_nothing_once_logged_out(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (replay, first) = register_keeping_the_request(&s, "alice").await;
    let token = first["access_token"].as_str().unwrap();
    let (status, _) = s
        .post("/_matrix/client/v3/logout", Some(token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let tokens = "SELECT COUNT(*) FROM access_tokens";
    let before = db_i64(&s.db, tokens).await;
    assert_error(&s.post(REGISTER, None, replay).await, 403, "M_FORBIDDEN");
    assert_eq!(db_i64(&s.db, tokens).await, before, "no token minted");
}

async fn a_registration_replay_mints_nothing_after_a_password_change(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (replay, first) = register_keeping_the_request(&s, "alice").await;
    let token = first["access_token"].as_str().unwrap();
    let change = json!({"new_password": "another password", "logout_devices": false});
    let (status, challenge) = s
        .post(
            "/_matrix/client/v3/account/password",
            Some(token),
            change.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let mut change = change;
    change["auth"] = TestServer::password_auth(&challenge["session"], "alice", "a password");
    let (status, res) = s
        .post("/_matrix/client/v3/account/password", Some(token), change)
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let tokens = "SELECT COUNT(*) FROM access_tokens";
    let before = db_i64(&s.db, tokens).await;
    assert_error(&s.post(REGISTER, None, replay).await, 403, "M_FORBIDDEN");
    assert_eq!(db_i64(&s.db, tokens).await, before, "no token minted");
}

async fn a_registration_replay_mints_nothing_after_deactivation(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (replay, first) = register_keeping_the_request(&s, "alice").await;
    let token = first["access_token"].as_str().unwrap();
    let (status, challenge) = s
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let body =
        json!({"auth": TestServer::password_auth(&challenge["session"], "alice", "a password")});
    let (status, res) = s
        .post("/_matrix/client/v3/account/deactivate", Some(token), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_error(&s.post(REGISTER, None, replay).await, 403, "M_FORBIDDEN");
    assert_eq!(db_i64(&s.db, "SELECT COUNT(*) FROM access_tokens").await, 0);
}

const VERSIONS: &str = "/_matrix/client/versions";

async fn a_partial_request_head_is_cut_off_after_the_timeout(b: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::builder(b)
        .config(|c| c.mxauth.header_read_timeout_ms = 300)
        .start()
        .await;
    let mut slow = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let started = crate::support::real_now();
    slow.write_all(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The server closes the connection (perhaps after a 408); read to the end.
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "the connection is still open after 5 s");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed after {waited:?}"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // Others are served as usual.
    assert_eq!(s.get(VERSIONS, None).await.0, StatusCode::OK);
}

async fn connections_beyond_the_cap_wait_for_a_free_slot(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            c.mxauth.max_connections = 2;
            c.mxauth.header_read_timeout_ms = 60_000;
        })
        .start()
        .await;
    let fresh = || {
        crate::support::http_client_builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_millis(700))
            .build()
            .unwrap()
    };
    let url = format!("{}{VERSIONS}", s.base);
    // Two connections that say nothing hold both slots.
    let first = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let second = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let third = fresh().get(&url).send().await;
    assert!(third.is_err(), "served beyond the cap: {third:?}");
    // A slot freed: the next connection is served.
    drop(first);
    let fourth = fresh()
        .get(&url)
        .send()
        .await
        .expect("served once a slot is free");
    assert_eq!(fourth.status(), StatusCode::OK);
    drop(second);
}

async fn a_held_connection_cannot_keep_the_server_from_stopping_and_flushing(b: Backend) {
    use tokio::io::AsyncWriteExt;
    let s = TestServer::builder(b)
        .config(|c| {
            c.mxauth.shutdown_timeout_ms = 500;
            // No timed flush: only the final one can write the sighting.
            c.mxauth.token_last_used_flush_ms = 3_600_000;
        })
        .start()
        .await;
    let (alice, token, _) = s.register("alice", "a password").await;
    let (status, _) = s.get_as(WHOAMI, &token, "Last/1.0").await;
    assert_eq!(status, StatusCode::OK);
    // A request in flight that never ends: its body never arrives in full.
    let mut held = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    held.write_all(
        b"POST /_matrix/client/v3/login HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"type\":",
    )
    .await
    .unwrap();
    // Real time and real sockets: the server is given a moment to read
    // the partial request, so that the connection is in flight when it
    // stops (shutdown_timeout is tokio's timer, not the Clock).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let db = s.db.clone();
    let started = crate::support::real_now();
    tokio::time::timeout(Duration::from_secs(10), s.stop())
        .await
        .expect("the server stopped despite the held connection");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
    let seen = format!(
        "SELECT COUNT(*) FROM user_ips WHERE user_id = '{alice}' AND user_agent = 'Last/1.0'"
    );
    assert_eq!(db_i64(&db, &seen).await, 1, "the final flush ran");
    drop(held);
}
