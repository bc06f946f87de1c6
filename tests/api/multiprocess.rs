//! Two mxauth processes on one database: UIA sessions, registrations and
//! logouts cross between them.

use crate::both;
use crate::support::{assert_error, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

/// Two servers on one fresh database of the backend.
async fn pair(b: Backend) -> (TestServer, TestServer) {
    let one = TestServer::builder(b).start().await;
    let two = TestServer::builder(one.db.clone()).start().await;
    assert_ne!(one.addr, two.addr);
    (one, two)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_device_deletion_across_processes() {
    device_deletion_across_processes(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_registration_across_processes() {
    registration_across_processes(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_logout_across_processes() {
    logout_across_processes(Backend::Postgres).await
}

// The same scenarios with two servers on one SQLite file (`::sqlite`; the
// `::postgres` halves repeat the tests above).
both!(
    device_deletion_across_processes,
    registration_across_processes,
    logout_across_processes,
);

async fn device_deletion_across_processes(b: Backend) {
    let (one, two) = pair(b).await;
    let (_, token, own) = one.register("alice", "alice-pw").await;
    let (victim_token, victim) = two.login("alice", "alice-pw").await;
    let path = format!("/_matrix/client/v3/devices/{victim}");
    // The 401 from server 1.
    let (status, challenge) = one
        .request(Method::DELETE, &path, Some(&token), Some(&json!({})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let session = challenge["session"].clone();
    assert!(session.is_string(), "{challenge}");
    // The password stage on server 2.
    let (status, res) = two
        .request(
            Method::DELETE,
            &path,
            Some(&token),
            Some(&json!({"auth": TestServer::password_auth(&session, "alice", "alice-pw")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    // Gone as seen from server 1, and its token is dead on both.
    assert_error(&one.get(&path, Some(&token)).await, 404, "M_NOT_FOUND");
    let (_, list) = one.get("/_matrix/client/v3/devices", Some(&token)).await;
    let ids: Vec<_> = list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec![own], "{list}");
    for s in [&one, &two] {
        assert_error(
            &s.get(WHOAMI, Some(&victim_token)).await,
            401,
            "M_UNKNOWN_TOKEN",
        );
    }
    // A replay of the spent session on server 1 does nothing new.
    let (status, res) = one
        .request(
            Method::DELETE,
            &path,
            Some(&token),
            Some(&json!({"auth": TestServer::password_auth(&session, "alice", "alice-pw")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (status, _) = one.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
}

async fn registration_across_processes(b: Backend) {
    let (one, two) = pair(b).await;
    let register = "/_matrix/client/v3/register";
    let body = json!({"username": "bob", "password": "bob-pw", "device_id": "BOBDEV"});
    // First call on server 2.
    let (status, challenge) = two.post(register, None, body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    // Last call on server 1.
    let mut last = body;
    last["auth"] = json!({"type": "m.login.dummy", "session": challenge["session"]});
    let (status, res) = one.post(register, None, last).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], "@bob:test.example");
    assert_eq!(res["device_id"], "BOBDEV");
    let token = res["access_token"].as_str().unwrap().to_owned();
    for s in [&one, &two] {
        let (status, me) = s.get(WHOAMI, Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["user_id"], "@bob:test.example");
        s.login("bob", "bob-pw").await;
    }
    assert_error(
        &two.get("/_matrix/client/v3/register/available?username=bob", None)
            .await,
        400,
        "M_USER_IN_USE",
    );
}

async fn logout_across_processes(b: Backend) {
    let (one, two) = pair(b).await;
    let (_, token, _) = one.register("carol", "carol-pw").await;
    // The token works on both (and is cached by neither after the logout).
    for s in [&one, &two] {
        let (status, _) = s.get(WHOAMI, Some(&token)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = one
        .post("/_matrix/client/v3/logout", Some(&token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    // Server 2 sees it within 100 ms (tests/api/token_cache.rs); here, at once.
    two.sync_changes().await;
    for s in [&two, &one] {
        assert_error(&s.get(WHOAMI, Some(&token)).await, 401, "M_UNKNOWN_TOKEN");
    }
    // Logout/all on server 2 kills tokens issued by server 1.
    let (t1, _) = one.login("carol", "carol-pw").await;
    let (t2, _) = two.login("carol", "carol-pw").await;
    for s in [&one, &two] {
        let (status, _) = s.get(WHOAMI, Some(&t1)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = two
        .post("/_matrix/client/v3/logout/all", Some(&t2), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    one.sync_changes().await;
    for s in [&one, &two] {
        for t in [&t1, &t2] {
            assert_error(&s.get(WHOAMI, Some(t)).await, 401, "M_UNKNOWN_TOKEN");
        }
    }
    // With server 1 stopped, server 2 carries on alone.
    let (t3, _) = one.login("carol", "carol-pw").await;
    one.stop().await;
    let (status, me) = two.get(WHOAMI, Some(&t3)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
}
