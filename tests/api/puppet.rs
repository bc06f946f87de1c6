//! Puppet tokens: `POST /_synapse/admin/v1/users/{user_id}/login`.

use crate::both;
use crate::support::{assert_error, Backend, TestServer, SERVER_NAME};
use reqwest::StatusCode;
use serde_json::json;

both!(admins_get_puppet_tokens);

async fn admins_get_puppet_tokens(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    let (alice, alice_token, _) = s.register("alice", "alice-pw").await;
    let login_as = |who: &str| format!("/_synapse/admin/v1/users/{who}/login");

    let (status, r) = s.post(&login_as(&alice), Some(&admin), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let puppet = r["access_token"].as_str().unwrap().to_owned();
    // The token acts as alice, with no device of its own.
    let (status, me) = s
        .get("/_matrix/client/v3/account/whoami", Some(&puppet))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me, json!({"user_id": alice, "is_guest": false}));
    // Logging it out leaves alice's own session alone.
    let (status, _) = s
        .post("/_matrix/client/v3/logout", Some(&puppet), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &s.get("/_matrix/client/v3/account/whoami", Some(&puppet))
            .await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    let (status, _) = s
        .get("/_matrix/client/v3/account/whoami", Some(&alice_token))
        .await;
    assert_eq!(status, StatusCode::OK);

    // An expired one is a soft logout.
    let (_, r) = s
        .post(
            &login_as(&alice),
            Some(&admin),
            json!({"valid_until_ms": 1}),
        )
        .await;
    let expired = s
        .get(
            "/_matrix/client/v3/account/whoami",
            Some(r["access_token"].as_str().unwrap()),
        )
        .await;
    assert_error(&expired, 401, "M_UNKNOWN_TOKEN");
    assert_eq!(expired.1["soft_logout"], true);

    // Refusals.
    assert_error(
        &s.post(
            &login_as(&format!("@root:{SERVER_NAME}")),
            Some(&admin),
            json!({}),
        )
        .await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &s.post(
            &login_as(&alice),
            Some(&admin),
            json!({"valid_until_ms": "soon"}),
        )
        .await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &s.post(
            &login_as("@alice:elsewhere.example"),
            Some(&admin),
            json!({}),
        )
        .await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &s.post(
            &login_as(&format!("@nobody:{SERVER_NAME}")),
            Some(&admin),
            json!({}),
        )
        .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &s.post(&login_as(&alice), Some(&alice_token), json!({}))
            .await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(
        &s.post(&login_as(&alice), None, json!({})).await,
        401,
        "M_MISSING_TOKEN",
    );
}
