//! Registration through UIA (Complement's TestRegistration scenarios) and
//! /register/available.

use crate::both;
use crate::support::{assert_error, Backend, TestServer, SERVER_NAME};
use reqwest::StatusCode;
use serde_json::{json, Value};

const REGISTER: &str = "/_matrix/client/v3/register";

both!(
    register_creates_a_user_and_downcases,
    register_first_call_gives_flows_and_session,
    register_invalid_and_taken_usernames_before_uia,
    register_remembers_device_from_first_call,
    register_replayed_session_returns_same_user,
    register_without_username_generates_one,
    register_inhibit_login,
    register_disabled_and_guest,
    register_password_policy_and_missing_password,
    register_non_ascii_password,
    register_changed_body_in_session_is_refused,
    register_available,
);

async fn register_creates_a_user_and_downcases(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (user_id, token, _) = s.register("UserAlice", "pw-alice").await;
    assert_eq!(user_id, format!("@useralice:{SERVER_NAME}"));
    let (status, me) = s
        .get("/_matrix/client/v3/account/whoami", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user_id"], user_id);
    s.login("useralice", "pw-alice").await;
}

async fn register_first_call_gives_flows_and_session(b: Backend) {
    let s = TestServer::builder(b).start().await;
    // Element first posts only a display name to discover the flows.
    let (status, body) = s
        .post(
            REGISTER,
            None,
            json!({"initial_device_display_name": "Element"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["session"].is_string(), "{body}");
    assert_eq!(body["flows"], json!([{"stages": ["m.login.dummy"]}]));
    assert!(body["params"].is_object());
    assert!(body.get("completed").is_none(), "{body}");
    // matrix-nio: an auth dict with no type and no session → 401, not 400.
    let (status, body) = s
        .post(REGISTER, None, json!({"username": "nio", "password": "pw-nio", "auth": {"initial_device_display_name": "nio"}}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["session"].is_string());
    assert_eq!(body["completed"], json!([]));
    // "auth": null is no auth at all.
    let (status, body) = s
        .post(
            REGISTER,
            None,
            json!({"username": "nulls", "password": "pw", "auth": null}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

async fn register_invalid_and_taken_usernames_before_uia(b: Backend) {
    let s = TestServer::builder(b).start().await;
    for bad in ["!", "a b", "é", "_underscore", "12345", "\""] {
        let got = s
            .post(REGISTER, None, json!({"username": bad, "password": "pw-x"}))
            .await;
        assert_error(&got, 400, "M_INVALID_USERNAME");
    }
    for good in ["a=b", "a-b", "a.b", "a_b", "a/b", "a+b", "a1"] {
        let (status, body) = s
            .post(
                REGISTER,
                None,
                json!({"username": good, "password": "pw-x"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{good}: {body}");
    }
    s.register("taken", "pw-t").await;
    let got = s
        .post(
            REGISTER,
            None,
            json!({"username": "taken", "password": "pw-x"}),
        )
        .await;
    assert_error(&got, 400, "M_USER_IN_USE");
    let got = s
        .post(
            REGISTER,
            None,
            json!({"username": "TAKEN", "password": "pw-x"}),
        )
        .await;
    assert_error(&got, 400, "M_USER_IN_USE");
}

async fn register_remembers_device_from_first_call(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let first = json!({"username": "dev", "password": "pw-dev", "device_id": "DEVICEID", "initial_device_display_name": "my device"});
    let (_, challenge) = s.post(REGISTER, None, first).await;
    // The last call omits the device fields: they come from the session.
    let (status, res) = s
        .post(
            REGISTER,
            None,
            json!({"auth": {"type": "m.login.dummy", "session": challenge["session"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["device_id"], "DEVICEID");
    assert_eq!(res["user_id"], format!("@dev:{SERVER_NAME}"));
    let token = res["access_token"].as_str().unwrap();
    let (_, device) = s
        .get("/_matrix/client/v3/devices/DEVICEID", Some(token))
        .await;
    assert_eq!(device["display_name"], "my device");
}

async fn register_replayed_session_returns_same_user(b: Backend) {
    let s = TestServer::builder(b).start().await;
    for body in [
        json!({"username": "idem", "password": "pw-i"}),
        json!({"password": "pw-i"}),
    ] {
        let (_, challenge) = s.post(REGISTER, None, body.clone()).await;
        let mut done = body.clone();
        done["auth"] = json!({"type": "m.login.dummy", "session": challenge["session"]});
        let (status, first) = s.post(REGISTER, None, done.clone()).await;
        assert_eq!(status, StatusCode::OK, "{first}");
        let (status, second) = s.post(REGISTER, None, done).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_eq!(first["user_id"], second["user_id"]);
        assert_ne!(first["access_token"], second["access_token"]);
    }
}

async fn register_without_username_generates_one(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let body = json!({"password": "pw-gen"});
    let (_, challenge) = s.post(REGISTER, None, body).await;
    let (status, res) = s
        .post(REGISTER, None, json!({"password": "pw-gen", "auth": {"type": "m.login.dummy", "session": challenge["session"]}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let user_id = res["user_id"].as_str().unwrap();
    let localpart = user_id.trim_start_matches('@').split(':').next().unwrap();
    assert!(
        !localpart.is_empty() && localpart.bytes().all(|c| c.is_ascii_digit()),
        "{user_id}"
    );
    s.login(user_id, "pw-gen").await;
}

async fn register_inhibit_login(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let body = json!({"username": "quiet", "password": "pw-q", "inhibit_login": true});
    let (_, challenge) = s.post(REGISTER, None, body.clone()).await;
    let mut done = body;
    done["auth"] = json!({"type": "m.login.dummy", "session": challenge["session"]});
    let (status, res) = s.post(REGISTER, None, done).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], format!("@quiet:{SERVER_NAME}"));
    assert!(res.get("access_token").is_none(), "{res}");
    assert!(res.get("device_id").is_none(), "{res}");
    let (token, _) = s.login("quiet", "pw-q").await;
    let (_, devices) = s.get("/_matrix/client/v3/devices", Some(&token)).await;
    assert_eq!(devices["devices"].as_array().unwrap().len(), 1);
}

async fn register_disabled_and_guest(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.enable_registration = false)
        .start()
        .await;
    let got = s
        .post(REGISTER, None, json!({"username": "x", "password": "pw"}))
        .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let got = s
        .get("/_matrix/client/v3/register/available?username=x", None)
        .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let s = TestServer::builder(b).start().await;
    let got = s
        .post("/_matrix/client/v3/register?kind=guest", None, json!({}))
        .await;
    assert_error(&got, 403, "M_GUEST_ACCESS_FORBIDDEN");
    let got = s
        .post("/_matrix/client/v3/register?kind=robot", None, json!({}))
        .await;
    assert_error(&got, 400, "M_INVALID_PARAM");
}

async fn register_password_policy_and_missing_password(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            c.password_config.policy.enabled = true;
            c.password_config.policy.minimum_length = 10;
            c.password_config.policy.require_digit = true;
        })
        .start()
        .await;
    let got = s
        .post(
            REGISTER,
            None,
            json!({"username": "weak", "password": "short1"}),
        )
        .await;
    assert_error(&got, 400, "M_WEAK_PASSWORD");
    let got = s
        .post(
            REGISTER,
            None,
            json!({"username": "weak", "password": "longbutnodigit"}),
        )
        .await;
    assert_error(&got, 400, "M_WEAK_PASSWORD");
    // No password at all: flows first, then M_MISSING_PARAM once UIA is done.
    let (_, challenge) = s.post(REGISTER, None, json!({"username": "nopw"})).await;
    let got = s
        .post(REGISTER, None, json!({"username": "nopw", "auth": {"type": "m.login.dummy", "session": challenge["session"]}}))
        .await;
    assert_error(&got, 400, "M_MISSING_PARAM");
}

async fn register_non_ascii_password(b: Backend) {
    let s = TestServer::builder(b).start().await;
    s.register("unicode", "пароль-密码-🔑").await;
    s.login("unicode", "пароль-密码-🔑").await;
}

async fn register_changed_body_in_session_is_refused(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, challenge) = s
        .post(
            REGISTER,
            None,
            json!({"username": "first", "password": "pw-1"}),
        )
        .await;
    let session = challenge["session"].clone();
    // Another username within the session: 403, and nobody is registered.
    let got = s
        .post(REGISTER, None, json!({"username": "second", "password": "pw-1", "auth": {"type": "m.login.dummy", "session": session}}))
        .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    // Another password within the session: 403 too.
    let got = s
        .post(REGISTER, None, json!({"username": "first", "password": "pw-2", "auth": {"type": "m.login.dummy", "session": session}}))
        .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let (status, _) = s
        .get(
            "/_matrix/client/v3/register/available?username=second",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // The same body completes; adding a key is allowed.
    let (status, res) = s
        .post(REGISTER, None, json!({"username": "first", "password": "pw-1", "initial_device_display_name": "added", "auth": {"type": "m.login.dummy", "session": session}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    // A session started elsewhere is refused here.
    let (_, other) = s
        .post(
            REGISTER,
            None,
            json!({"username": "third", "password": "pw-3"}),
        )
        .await;
    let got = s
        .post("/_matrix/client/r0/register", None, json!({"username": "third", "password": "pw-3", "auth": {"type": "m.login.dummy", "session": other["session"]}}))
        .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let got = s
        .post(REGISTER, None, json!({"username": "third", "auth": {"type": "m.login.dummy", "session": "nosuchsession"}}))
        .await;
    assert_eq!(got.0.as_u16(), 400, "{}", got.1);
}

async fn register_available(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (status, body) = s
        .get("/_matrix/client/v3/register/available?username=free", None)
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"available": true})));
    s.register("used", "pw-u").await;
    let got = s
        .get("/_matrix/client/v3/register/available?username=used", None)
        .await;
    assert_error(&got, 400, "M_USER_IN_USE");
    let got = s
        .get(
            "/_matrix/client/v3/register/available?username=not%20valid",
            None,
        )
        .await;
    assert_error(&got, 400, "M_INVALID_USERNAME");
    let got: (StatusCode, Value) = s.get("/_matrix/client/v3/register/available", None).await;
    assert_error(&got, 400, "M_MISSING_PARAM");
}
