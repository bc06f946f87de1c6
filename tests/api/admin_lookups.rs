//! Synapse's admin lookups: `GET /_synapse/admin/v1/username_available`,
//! `.../auth_providers/{provider}/users/{external_id}` and
//! `.../threepid/{medium}/users/{address}`.

use crate::both;
use crate::support::{assert_error, db_exec, Backend, TestServer};
use reqwest::StatusCode;
use serde_json::json;

both!(
    lookups_need_an_admin,
    username_available_is_the_registration_check,
    users_are_found_by_external_id,
    users_are_found_by_threepid,
);

const AVAILABLE: &str = "/_synapse/admin/v1/username_available";

fn by_external_id(provider: &str, external_id: &str) -> String {
    format!("/_synapse/admin/v1/auth_providers/{provider}/users/{external_id}")
}

fn by_threepid(medium: &str, address: &str) -> String {
    format!("/_synapse/admin/v1/threepid/{medium}/users/{address}")
}

async fn lookups_need_an_admin(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    for path in [
        format!("{AVAILABLE}?username=free"),
        AVAILABLE.to_owned(),
        by_external_id("oidc-x", "1"),
        by_threepid("email", "alice@example.org"),
    ] {
        assert_error(&s.get(&path, None).await, 401, "M_MISSING_TOKEN");
        let got = s.get(&path, Some(&token)).await;
        assert_error(&got, 403, "M_FORBIDDEN");
        assert_eq!(got.1["error"], "You are not a server admin", "{path}");
    }
}

async fn username_available_is_the_registration_check(b: Backend) {
    // Registration is off: the admin may still ask.
    let s = TestServer::builder(b)
        .config(|c| {
            c.enable_registration = false;
            c.app_services = vec![crate::support::bridge_service("as-token", &[])];
        })
        .start()
        .await;
    let admin = s.register_admin("root").await;
    s.register_typed("alice", "alice-pw", None).await;
    let ask = |username: &str| {
        let (s, admin) = (&s, &admin);
        let path = format!("{AVAILABLE}?username={username}");
        async move { s.get(&path, Some(admin)).await }
    };

    for free in ["bob", "b.o_b-1=2/3", "a%2Bb"] {
        let (status, body) = ask(free).await;
        assert_eq!(status, StatusCode::OK, "{free}: {body}");
        assert_eq!(body, json!({"available": true}));
    }
    let taken = ask("alice").await;
    assert_error(&taken, 400, "M_USER_IN_USE");
    assert_eq!(taken.1["error"], "User ID already taken.");
    assert_error(&ask("root").await, 400, "M_USER_IN_USE");
    assert_error(&ask("bridge_someone").await, 400, "M_EXCLUSIVE");
    // As given: upper case is not lowered (Synapse does not either).
    let long = "a".repeat(300);
    for invalid in ["Alice", "", "_hidden", "12345", "a%20b", "%C3%A9", &long] {
        assert_error(&ask(invalid).await, 400, "M_INVALID_USERNAME");
    }
    let missing = s.get(AVAILABLE, Some(&admin)).await;
    assert_error(&missing, 400, "M_MISSING_PARAM");
    assert_eq!(
        missing.1["error"],
        "Missing string query parameter 'username'"
    );
}

async fn users_are_found_by_external_id(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    let (alice, _, _) = s.register("alice", "alice-pw").await;
    db_exec(
        &s.db,
        &format!(
            "INSERT INTO user_external_ids (auth_provider, external_id, user_id, created_ts) \
             VALUES ('oidc-upstream', 'sub-1', '{alice}', 1), \
                    ('oidc-upstream', 'a/b@c:d', '{alice}', 1)"
        ),
    )
    .await;
    for external_id in ["sub-1", "a%2Fb%40c%3Ad"] {
        let (status, body) = s
            .get(&by_external_id("oidc-upstream", external_id), Some(&admin))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({ "user_id": alice }));
    }
    for (provider, external_id) in [
        ("oidc-upstream", "sub-2"),
        ("oidc-other", "sub-1"),
        ("oidc-upstream", "SUB-1"),
    ] {
        let got = s
            .get(&by_external_id(provider, external_id), Some(&admin))
            .await;
        assert_error(&got, 404, "M_NOT_FOUND");
        assert_eq!(got.1["error"], "User not found");
    }
}

async fn users_are_found_by_threepid(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    let (alice, _, _) = s.register("alice", "alice-pw").await;
    let (bob, _, _) = s.register("bob", "bob-pw").await;
    // Alice's as mxauth stores it; bob's as an older Synapse kept it.
    db_exec(
        &s.db,
        &format!(
            "INSERT INTO user_threepids (user_id, medium, address, validated_ts, added_ts) \
             VALUES ('{alice}', 'email', 'alice@example.org', 1, 1), \
                    ('{alice}', 'msisdn', '447700900000', 1, 1), \
                    ('{bob}', 'email', 'Bob@Example.org', 1, 1)"
        ),
    )
    .await;
    for (medium, address, user) in [
        ("email", "alice@example.org", &alice),
        // Looked up as mxauth stores emails.
        ("email", "Alice@Example.ORG", &alice),
        ("email", "%20alice@example.org%20", &alice),
        ("msisdn", "447700900000", &alice),
        // As it was stored, too.
        ("email", "Bob@Example.org", &bob),
    ] {
        let (status, body) = s.get(&by_threepid(medium, address), Some(&admin)).await;
        assert_eq!(status, StatusCode::OK, "{address}: {body}");
        assert_eq!(body, json!({ "user_id": user }));
    }
    for (medium, address) in [
        ("email", "carol@example.org"),
        ("email", "not an email"),
        ("msisdn", "+447700900000"),
        ("MSISDN", "447700900000"),
        ("phone", "447700900000"),
    ] {
        let got = s.get(&by_threepid(medium, address), Some(&admin)).await;
        assert_error(&got, 404, "M_NOT_FOUND");
        assert_eq!(got.1["error"], "User not found", "{address}");
    }
}
