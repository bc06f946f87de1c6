//! Password change (Complement's TestChangePassword), capabilities, and
//! deactivation (Complement's TestDeactivateAccount).

use crate::both;
use crate::support::{assert_error, Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PASSWORD: &str = "/_matrix/client/v3/account/password";
const DEACTIVATE: &str = "/_matrix/client/v3/account/deactivate";
const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

both!(
    change_password_through_uia,
    change_password_logs_out_other_devices_by_default,
    change_password_can_keep_other_devices,
    change_password_element_one_request,
    change_password_auth_null_gives_challenge,
    change_password_wrong_old_password,
    change_password_new_password_cannot_change_in_session,
    change_password_weak_with_policy,
    change_password_refusals_say_why,
    capabilities_offer_change_password,
    deactivate_account,
    deactivate_account_wrong_password_keeps_it,
    deactivated_wrong_password_looks_unknown,
    deactivate_account_body_fields,
);

#[track_caller]
fn assert_password_challenge(got: &(StatusCode, Value)) -> Value {
    assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{}", got.1);
    assert!(got.1["session"].is_string(), "{}", got.1);
    assert_eq!(
        got.1["flows"],
        json!([{"stages": ["m.login.password"]}]),
        "{}",
        got.1
    );
    assert!(got.1["params"].is_object(), "{}", got.1);
    got.1["session"].clone()
}

/// Changes alice's password through UIA with the given extra body fields.
async fn change_password(s: &TestServer, token: &str, old: &str, body: Value) {
    let got = s.post(PASSWORD, Some(token), body.clone()).await;
    let session = assert_password_challenge(&got);
    let mut body = body;
    body["auth"] = TestServer::password_auth(&session, "alice", old);
    let (status, res) = s.post(PASSWORD, Some(token), body).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert!(res.is_object(), "{res}");
}

async fn change_password_through_uia(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (user_id, token, _) = s.register("alice", "old-password").await;
    change_password(
        &s,
        &token,
        "old-password",
        json!({"new_password": "new-password"}),
    )
    .await;
    assert_error(
        &s.try_login("alice", "old-password").await,
        403,
        "M_FORBIDDEN",
    );
    let (status, res) = s.try_login("alice", "new-password").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], user_id);
    // The caller's token keeps working.
    let (status, me) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    // Without a token: 401 M_MISSING_TOKEN, before any UIA.
    let without = s
        .post(PASSWORD, None, json!({"new_password": "x-password"}))
        .await;
    assert_error(&without, 401, "M_MISSING_TOKEN");
}

async fn change_password_logs_out_other_devices_by_default(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, own) = s.register("alice", "old-password").await;
    let (other, other_device) = s.login("alice", "old-password").await;
    change_password(
        &s,
        &token,
        "old-password",
        json!({"new_password": "new-password"}),
    )
    .await;
    assert_error(&s.get(WHOAMI, Some(&other)).await, 401, "M_UNKNOWN_TOKEN");
    let (status, me) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["device_id"], own);
    let (_, devices) = s.get("/_matrix/client/v3/devices", Some(&token)).await;
    let ids: Vec<&Value> = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["device_id"])
        .collect();
    assert_eq!(ids, vec![&json!(own)], "{devices}");
    assert!(!ids.contains(&&json!(other_device)));
}

async fn change_password_can_keep_other_devices(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "old-password").await;
    let (other, _) = s.login("alice", "old-password").await;
    change_password(
        &s,
        &token,
        "old-password",
        json!({"new_password": "new-password", "logout_devices": false}),
    )
    .await;
    for t in [&token, &other] {
        let (status, me) = s.get(WHOAMI, Some(t)).await;
        assert_eq!(status, StatusCode::OK, "{me}");
    }
    s.login("alice", "new-password").await;
}

async fn change_password_element_one_request(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (user_id, token, _) = s.register("alice", "old-password").await;
    let (other, _) = s.login("alice", "old-password").await;
    let (status, res) = s
        .post(
            PASSWORD,
            Some(&token),
            json!({
                "auth": {
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": user_id},
                    "user": user_id,
                    "password": "old-password",
                },
                "new_password": "new-password",
                "logout_devices": false,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    s.login("alice", "new-password").await;
    assert_error(
        &s.try_login("alice", "old-password").await,
        403,
        "M_FORBIDDEN",
    );
    let (status, _) = s.get(WHOAMI, Some(&other)).await;
    assert_eq!(status, StatusCode::OK, "logout_devices: false keeps others");
}

async fn change_password_auth_null_gives_challenge(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "old-password").await;
    // matrix-js-sdk's setPassword: `auth: null` first.
    let got = s
        .post(
            PASSWORD,
            Some(&token),
            json!({"auth": null, "new_password": "new-password"}),
        )
        .await;
    let session = assert_password_challenge(&got);
    let (status, res) = s
        .post(
            PASSWORD,
            Some(&token),
            json!({"auth": TestServer::password_auth(&session, "alice", "old-password"),
                   "new_password": "new-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    s.login("alice", "new-password").await;
}

async fn change_password_wrong_old_password(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "old-password").await;
    let body = json!({"new_password": "new-password"});
    let got = s.post(PASSWORD, Some(&token), body.clone()).await;
    let session = assert_password_challenge(&got);
    let mut body = body;
    body["auth"] = TestServer::password_auth(&session, "alice", "not-the-password");
    let (status, res) = s.post(PASSWORD, Some(&token), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{res}");
    assert_eq!(res["errcode"], "M_FORBIDDEN", "{res}");
    assert_eq!(res["session"], session, "{res}");
    assert_eq!(res["completed"], json!([]), "{res}");
    // Nothing changed.
    s.login("alice", "old-password").await;
    assert_error(
        &s.try_login("alice", "new-password").await,
        403,
        "M_FORBIDDEN",
    );
}

async fn change_password_new_password_cannot_change_in_session(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "old-password").await;
    let got = s
        .post(
            PASSWORD,
            Some(&token),
            json!({"new_password": "first-choice"}),
        )
        .await;
    let session = assert_password_challenge(&got);
    let got = s
        .post(
            PASSWORD,
            Some(&token),
            json!({"new_password": "second-choice",
                   "auth": TestServer::password_auth(&session, "alice", "old-password")}),
        )
        .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    s.login("alice", "old-password").await;
    for p in ["first-choice", "second-choice"] {
        assert_error(&s.try_login("alice", p).await, 403, "M_FORBIDDEN");
    }
}

async fn change_password_weak_with_policy(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            c.password_config.policy.enabled = true;
            c.password_config.policy.minimum_length = 10;
        })
        .start()
        .await;
    let (_, token, _) = s.register("alice", "long-enough-old").await;
    let got = s
        .post(PASSWORD, Some(&token), json!({"new_password": "short"}))
        .await;
    assert_error(&got, 400, "M_WEAK_PASSWORD");
    // Also with a complete stage: nothing changes.
    let got = s
        .post(
            PASSWORD,
            Some(&token),
            json!({"new_password": "short",
                   "auth": {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
                            "password": "long-enough-old"}}),
        )
        .await;
    assert_error(&got, 400, "M_WEAK_PASSWORD");
    s.login("alice", "long-enough-old").await;
    // A long enough one passes.
    change_password(
        &s,
        &token,
        "long-enough-old",
        json!({"new_password": "long-enough-new"}),
    )
    .await;
    s.login("alice", "long-enough-new").await;
}

/// The words of a password change's own refusals, and nothing changes.
async fn change_password_refusals_say_why(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    let auth = json!({"type": "m.login.password",
                      "identifier": {"type": "m.id.user", "user": "alice"},
                      "password": "alice-pw"});
    for (body, errcode, message) in [
        (
            json!({"new_password": 5, "auth": auth}),
            "M_BAD_JSON",
            "'new_password' must be a string",
        ),
        (
            json!({"new_password": "new-pw", "logout_devices": "yes", "auth": auth}),
            "M_BAD_JSON",
            "'logout_devices' must be a boolean",
        ),
        // Re-authenticated, but nothing to change the password to.
        (
            json!({"auth": auth}),
            "M_MISSING_PARAM",
            "Missing param: new_password",
        ),
    ] {
        let got = s.post(PASSWORD, Some(&token), body).await;
        assert_error(&got, 400, errcode);
        assert_eq!(got.1["error"], message, "{}", got.1);
    }
    s.login("alice", "alice-pw").await;
    let (status, _) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
}

async fn capabilities_offer_change_password(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    for version in ["v3", "r0"] {
        let (status, caps) = s
            .get(
                &format!("/_matrix/client/{version}/capabilities"),
                Some(&token),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{caps}");
        assert_eq!(
            caps["capabilities"]["m.change_password"]["enabled"], true,
            "{caps}"
        );
    }
    let without = s.get("/_matrix/client/v3/capabilities", None).await;
    assert_error(&without, 401, "M_MISSING_TOKEN");
}

async fn deactivate_account(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    let (other, _) = s.login("alice", "alice-pw").await;
    let got = s.post(DEACTIVATE, Some(&token), json!({})).await;
    let session = assert_password_challenge(&got);
    let (status, res) = s
        .post(
            DEACTIVATE,
            Some(&token),
            json!({"auth": TestServer::password_auth(&session, "alice", "alice-pw")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["id_server_unbind_result"], "no-support", "{res}");
    for t in [&token, &other] {
        assert_error(&s.get(WHOAMI, Some(t)).await, 401, "M_UNKNOWN_TOKEN");
    }
    assert_error(
        &s.try_login("alice", "alice-pw").await,
        403,
        "M_USER_DEACTIVATED",
    );
    let available = s
        .get("/_matrix/client/v3/register/available?username=alice", None)
        .await;
    assert_error(&available, 400, "M_USER_IN_USE");
    let again = s
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "alice", "password": "another-pw"}),
        )
        .await;
    assert_error(&again, 400, "M_USER_IN_USE");
}

async fn deactivate_account_wrong_password_keeps_it(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    let got = s.post(DEACTIVATE, Some(&token), json!({})).await;
    let session = assert_password_challenge(&got);
    let (status, res) = s
        .post(
            DEACTIVATE,
            Some(&token),
            json!({"auth": TestServer::password_auth(&session, "alice", "wrong-pw")}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{res}");
    assert_eq!(res["errcode"], "M_FORBIDDEN", "{res}");
    assert_eq!(res["session"], session, "{res}");
    let (status, _) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    s.login("alice", "alice-pw").await;
    // Without a token: 401 M_MISSING_TOKEN.
    let without = s.post(DEACTIVATE, None, json!({})).await;
    assert_error(&without, 401, "M_MISSING_TOKEN");
}

async fn deactivate_account_body_fields(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    // A wrongly typed `erase` is refused before anything happens.
    let got = s
        .post(
            DEACTIVATE,
            Some(&token),
            json!({"erase": "yes",
                   "auth": {"type": "m.login.password", "user": "alice", "password": "alice-pw"}}),
        )
        .await;
    assert_error(&got, 400, "M_BAD_JSON");
    let (status, _) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    // Element ticks "erase": a boolean is accepted, in one request.
    let (status, res) = s
        .post(
            DEACTIVATE,
            Some(&token),
            json!({"erase": true,
                   "auth": {"type": "m.login.password",
                            "identifier": {"type": "m.id.user", "user": "alice"},
                            "user": "alice", "password": "alice-pw"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["id_server_unbind_result"], "no-support");
    assert_error(&s.get(WHOAMI, Some(&token)).await, 401, "M_UNKNOWN_TOKEN");
}

/// Only the right password learns that an account is deactivated: a wrong
/// one gets exactly what a wrong password for an unknown user gets.
async fn deactivated_wrong_password_looks_unknown(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    let got = s.post(DEACTIVATE, Some(&token), json!({})).await;
    let session = assert_password_challenge(&got);
    let auth = TestServer::password_auth(&session, "alice", "alice-pw");
    let (status, res) = s
        .post(DEACTIVATE, Some(&token), json!({ "auth": auth }))
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let deactivated = s.try_login("alice", "wrong-pw").await;
    let unknown = s.try_login("nobody", "wrong-pw").await;
    assert_error(&unknown, 403, "M_FORBIDDEN");
    assert_eq!(deactivated, unknown, "same status and body");
    assert_error(
        &s.try_login("alice", "alice-pw").await,
        403,
        "M_USER_DEACTIVATED",
    );
}
