//! Device management (Complement's TestDeviceManagement scenarios) and the
//! consistency of a UIA session (SyTest's "the operation must be consistent
//! through an interactive authentication session").

use crate::both;
use crate::support::{assert_error, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const DEVICES: &str = "/_matrix/client/v3/devices";
const DELETE_DEVICES: &str = "/_matrix/client/v3/delete_devices";
const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

both!(
    list_devices_has_the_fields,
    unknown_device_fields_are_null,
    get_device_of_unknown_or_other_user_is_404,
    put_device_renames,
    delete_device_without_auth_gives_challenge,
    delete_device_with_other_users_password_is_403,
    delete_device_wrong_password_keeps_session,
    delete_device_with_password_deletes_it_and_its_token,
    delete_devices_deletes_several,
    last_seen_is_filled_in,
    uia_session_cannot_switch_device,
    uia_session_cannot_switch_delete_devices_body,
    spent_uia_session_does_nothing_new,
    delete_unknown_device_is_200_after_uia,
    delete_device_in_one_request,
    uia_session_of_another_user_is_403,
    unknown_uia_session_is_400,
);

fn device_path(id: &str) -> String {
    format!("{DEVICES}/{id}")
}

async fn delete(s: &TestServer, token: &str, id: &str, body: Option<Value>) -> (StatusCode, Value) {
    s.request(Method::DELETE, &device_path(id), Some(token), body.as_ref())
        .await
}

/// The device IDs `GET /devices` lists.
async fn device_ids(s: &TestServer, token: &str) -> Vec<String> {
    let (status, body) = s.get(DEVICES, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ids: Vec<String> = body["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| d["device_id"].as_str().expect("device_id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// Logs in with a chosen device ID; returns the token.
async fn login_device(s: &TestServer, user: &str, password: &str, device: &str) -> String {
    let (status, res) = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
                   "password": password, "device_id": device}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["device_id"], device);
    res["access_token"].as_str().unwrap().to_owned()
}

/// Asserts the 401 challenge of re-authentication by password.
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

async fn list_devices_has_the_fields(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, first) = s.register("alice", "alice-pw").await;
    let (status, res) = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "user": "alice", "password": "alice-pw",
                   "device_id": "PHONE", "initial_device_display_name": "Alice's phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (status, body) = s.get(DEVICES, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let devices = body["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 2, "{body}");
    for d in devices {
        let obj = d.as_object().expect("device object");
        for key in ["device_id", "display_name", "last_seen_ip", "last_seen_ts"] {
            assert!(obj.contains_key(key), "{key} missing in {d}");
        }
    }
    let phone = devices
        .iter()
        .find(|d| d["device_id"] == "PHONE")
        .expect("PHONE listed");
    assert_eq!(phone["display_name"], "Alice's phone");
    assert!(devices.iter().any(|d| d["device_id"] == first.as_str()));

    // A device of its own, by ID.
    let (status, one) = s.get(&device_path("PHONE"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["device_id"], "PHONE");
    assert_eq!(one["display_name"], "Alice's phone");

    let without = s.get(DEVICES, None).await;
    assert_error(&without, 401, "M_MISSING_TOKEN");
}

/// A device without a name that was never used: `display_name`,
/// `last_seen_ip` and `last_seen_ts` are there, `null`, as Synapse sends
/// them (matrix-nio 0.26 requires the three keys; see devices.rs).
async fn unknown_device_fields_are_null(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    let (status, res) = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "user": "alice", "password": "alice-pw",
                   "device_id": "UNUSED"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (status, one) = s.get(&device_path("UNUSED"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    let unknown = json!({"device_id": "UNUSED", "display_name": null, "last_seen_ip": null, "last_seen_ts": null});
    assert_eq!(one, unknown);
    let (status, body) = s.get(DEVICES, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == "UNUSED")
        .cloned();
    assert_eq!(listed, Some(unknown), "{body}");
}

async fn get_device_of_unknown_or_other_user_is_404(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, alice, _) = s.register("alice", "alice-pw").await;
    let (_, _, bob_device) = s.register("bob", "bob-pw").await;
    let unknown = s.get(&device_path("NOSUCHDEVICE"), Some(&alice)).await;
    assert_error(&unknown, 404, "M_NOT_FOUND");
    assert_eq!(unknown.1["error"], "No device found", "{}", unknown.1);
    let others = s.get(&device_path(&bob_device), Some(&alice)).await;
    assert_error(&others, 404, "M_NOT_FOUND");
    // Bob's device is not in Alice's list either.
    assert!(!device_ids(&s, &alice).await.contains(&bob_device));
}

async fn put_device_renames(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, device) = s.register("alice", "alice-pw").await;
    let (_, other_device) = s.login("alice", "alice-pw").await;
    let (status, res) = s
        .request(
            Method::PUT,
            &device_path(&device),
            Some(&token),
            Some(&json!({"display_name": "new name"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (_, got) = s.get(&device_path(&device), Some(&token)).await;
    assert_eq!(got["display_name"], "new name");
    // The other device is untouched.
    let (_, other) = s.get(&device_path(&other_device), Some(&token)).await;
    assert_ne!(other["display_name"], "new name");

    // 100 characters is the limit.
    let (status, res) = s
        .request(
            Method::PUT,
            &device_path(&device),
            Some(&token),
            Some(&json!({"display_name": "é".repeat(100)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let too_long = s
        .request(
            Method::PUT,
            &device_path(&device),
            Some(&token),
            Some(&json!({"display_name": "x".repeat(101)})),
        )
        .await;
    assert_error(&too_long, 400, "M_TOO_LARGE");
    let (_, got) = s.get(&device_path(&device), Some(&token)).await;
    assert_eq!(got["display_name"], "é".repeat(100));

    let unknown = s
        .request(
            Method::PUT,
            &device_path("NOSUCHDEVICE"),
            Some(&token),
            Some(&json!({"display_name": "x"})),
        )
        .await;
    assert_error(&unknown, 404, "M_NOT_FOUND");
    assert_eq!(unknown.1["error"], "No device found", "{}", unknown.1);
    // Another user's device is unknown too, and keeps its name.
    let (_, bob, bobs) = s.register("bob", "bob-pw").await;
    let foreign = s
        .request(
            Method::PUT,
            &device_path(&bobs),
            Some(&token),
            Some(&json!({"display_name": "hijacked"})),
        )
        .await;
    assert_error(&foreign, 404, "M_NOT_FOUND");
    let (_, got) = s.get(&device_path(&bobs), Some(&bob)).await;
    assert_ne!(got["display_name"], "hijacked");
}

async fn delete_device_without_auth_gives_challenge(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    let (_, victim) = s.login("alice", "alice-pw").await;
    // No body at all.
    let got = delete(&s, &token, &victim, None).await;
    let first = assert_password_challenge(&got);
    // matrix-js-sdk sends `{}` first.
    let got = delete(&s, &token, &victim, Some(json!({}))).await;
    let second = assert_password_challenge(&got);
    assert_ne!(first, second, "each auth-less request starts a new session");
    // Nothing was deleted.
    assert!(device_ids(&s, &token).await.contains(&victim));
}

async fn delete_device_with_other_users_password_is_403(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    s.register("bob", "bob-pw").await;
    let (_, victim) = s.login("alice", "alice-pw").await;
    let got = delete(&s, &token, &victim, Some(json!({}))).await;
    let session = assert_password_challenge(&got);
    let got = delete(
        &s,
        &token,
        &victim,
        Some(json!({"auth": TestServer::password_auth(&session, "bob", "bob-pw")})),
    )
    .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    assert!(device_ids(&s, &token).await.contains(&victim));
}

async fn delete_device_wrong_password_keeps_session(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    let (_, victim) = s.login("alice", "alice-pw").await;
    let got = delete(&s, &token, &victim, Some(json!({}))).await;
    let session = assert_password_challenge(&got);
    let got = delete(
        &s,
        &token,
        &victim,
        Some(json!({"auth": TestServer::password_auth(&session, "alice", "wrong")})),
    )
    .await;
    assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{}", got.1);
    assert_eq!(got.1["session"], session, "{}", got.1);
    assert_eq!(got.1["completed"], json!([]), "{}", got.1);
    assert_eq!(got.1["errcode"], "M_FORBIDDEN", "{}", got.1);
    assert!(got.1["error"].is_string(), "{}", got.1);
    assert_eq!(got.1["flows"], json!([{"stages": ["m.login.password"]}]));
    assert!(device_ids(&s, &token).await.contains(&victim));
    // The client retries with the same session and the right password.
    let got = delete(
        &s,
        &token,
        &victim,
        Some(json!({"auth": TestServer::password_auth(&session, "alice", "alice-pw")})),
    )
    .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert!(!device_ids(&s, &token).await.contains(&victim));
}

async fn delete_device_with_password_deletes_it_and_its_token(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (user_id, token, own) = s.register("alice", "alice-pw").await;
    let (victim_token, victim) = s.login("alice", "alice-pw").await;
    let (status, _) = s.get(WHOAMI, Some(&victim_token)).await;
    assert_eq!(status, StatusCode::OK);
    let got = delete(&s, &token, &victim, None).await;
    let session = assert_password_challenge(&got);
    // The full user ID works as the identifier too.
    let got = delete(
        &s,
        &token,
        &victim,
        Some(json!({"auth": TestServer::password_auth(&session, &user_id, "alice-pw")})),
    )
    .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert!(got.1.is_object(), "{}", got.1);
    assert_eq!(device_ids(&s, &token).await, vec![own]);
    let gone = s.get(&device_path(&victim), Some(&token)).await;
    assert_error(&gone, 404, "M_NOT_FOUND");
    let dead = s.get(WHOAMI, Some(&victim_token)).await;
    assert_error(&dead, 401, "M_UNKNOWN_TOKEN");
    // The caller's own token lives on.
    let (status, me) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
}

async fn delete_devices_deletes_several(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, own) = s.register("alice", "alice-pw").await;
    let t1 = login_device(&s, "alice", "alice-pw", "DEV1").await;
    let t2 = login_device(&s, "alice", "alice-pw", "DEV2").await;
    let t3 = login_device(&s, "alice", "alice-pw", "DEV3").await;
    let body = json!({"devices": ["DEV1", "DEV2", "NOSUCHDEVICE"]});
    let got = s.post(DELETE_DEVICES, Some(&token), body.clone()).await;
    let session = assert_password_challenge(&got);
    let mut body = body;
    body["auth"] = TestServer::password_auth(&session, "alice", "alice-pw");
    let got = s.post(DELETE_DEVICES, Some(&token), body).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    let mut want = vec![own, "DEV3".to_owned()];
    want.sort();
    assert_eq!(device_ids(&s, &token).await, want);
    for t in [&t1, &t2] {
        assert_error(&s.get(WHOAMI, Some(t)).await, 401, "M_UNKNOWN_TOKEN");
    }
    let (status, _) = s.get(WHOAMI, Some(&t3)).await;
    assert_eq!(status, StatusCode::OK);
    // `devices` is required.
    let missing = s.post(DELETE_DEVICES, Some(&token), json!({})).await;
    assert_error(&missing, 400, "M_MISSING_PARAM");
}

async fn last_seen_is_filled_in(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, device) = s.register("alice", "alice-pw").await;
    let (status, _) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    // The server flushes usage every 200 ms in tests.
    let deadline = crate::support::real_now() + Duration::from_secs(5);
    loop {
        let (status, d) = s.get(&device_path(&device), Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{d}");
        if d["last_seen_ts"].is_i64() && d["last_seen_ip"].is_string() {
            assert_eq!(d["last_seen_ip"], "127.0.0.1", "{d}");
            let ts = d["last_seen_ts"].as_i64().unwrap();
            let now = crate::support::wall_clock_ms();
            assert!(
                (now - 60_000..=now + 1_000).contains(&ts),
                "last_seen_ts {ts} not near now {now}"
            );
            // The list says the same.
            let (_, list) = s.get(DEVICES, Some(&token)).await;
            let listed = list["devices"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["device_id"] == device.as_str())
                .cloned()
                .expect("listed");
            assert!(listed["last_seen_ts"].is_i64(), "{listed}");
            assert_eq!(listed["last_seen_ip"], "127.0.0.1");
            break;
        }
        assert!(
            crate::support::real_now() < deadline,
            "last_seen not filled in after 5 s: {d}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn uia_session_cannot_switch_device(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    login_device(&s, "alice", "alice-pw", "DEVA").await;
    login_device(&s, "alice", "alice-pw", "DEVB").await;
    let got = delete(&s, &token, "DEVA", Some(json!({}))).await;
    let session = assert_password_challenge(&got);
    let got = delete(
        &s,
        &token,
        "DEVB",
        Some(json!({"auth": TestServer::password_auth(&session, "alice", "alice-pw")})),
    )
    .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let ids = device_ids(&s, &token).await;
    assert!(ids.contains(&"DEVA".to_owned()), "{ids:?}");
    assert!(ids.contains(&"DEVB".to_owned()), "{ids:?}");
}

async fn uia_session_cannot_switch_delete_devices_body(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    login_device(&s, "alice", "alice-pw", "DEVA").await;
    login_device(&s, "alice", "alice-pw", "DEVB").await;
    let got = s
        .post(DELETE_DEVICES, Some(&token), json!({"devices": ["DEVA"]}))
        .await;
    let session = assert_password_challenge(&got);
    let got = s
        .post(
            DELETE_DEVICES,
            Some(&token),
            json!({"devices": ["DEVB"],
                   "auth": TestServer::password_auth(&session, "alice", "alice-pw")}),
        )
        .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let ids = device_ids(&s, &token).await;
    assert!(ids.contains(&"DEVA".to_owned()), "{ids:?}");
    assert!(ids.contains(&"DEVB".to_owned()), "{ids:?}");
}

async fn spent_uia_session_does_nothing_new(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, own) = s.register("alice", "alice-pw").await;
    login_device(&s, "alice", "alice-pw", "DEVA").await;
    let got = delete(&s, &token, "DEVA", Some(json!({}))).await;
    let session = assert_password_challenge(&got);
    let auth = json!({"auth": TestServer::password_auth(&session, "alice", "alice-pw")});
    let got = delete(&s, &token, "DEVA", Some(auth.clone())).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(device_ids(&s, &token).await, vec![own.clone()]);

    // DEVA comes back with a new login; replaying the spent session must
    // not delete it again.
    let revived = login_device(&s, "alice", "alice-pw", "DEVA").await;
    let got = delete(&s, &token, "DEVA", Some(auth.clone())).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    let mut want = vec![own.clone(), "DEVA".to_owned()];
    want.sort();
    assert_eq!(device_ids(&s, &token).await, want);
    let (status, _) = s.get(WHOAMI, Some(&revived)).await;
    assert_eq!(status, StatusCode::OK);
    // The session only replays: a session id alone (no stage) does too.
    let got = delete(
        &s,
        &token,
        "DEVA",
        Some(json!({"auth": {"session": session}})),
    )
    .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(device_ids(&s, &token).await, want);
}

async fn delete_unknown_device_is_200_after_uia(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, own) = s.register("alice", "alice-pw").await;
    let got = delete(&s, &token, "NOSUCHDEVICE", None).await;
    let session = assert_password_challenge(&got);
    let got = delete(
        &s,
        &token,
        "NOSUCHDEVICE",
        Some(json!({"auth": TestServer::password_auth(&session, "alice", "alice-pw")})),
    )
    .await;
    // "The device was successfully removed, or had been removed previously."
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(device_ids(&s, &token).await, vec![own]);
}

async fn delete_device_in_one_request(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (user_id, token, own) = s.register("alice", "alice-pw").await;
    let (victim_token, victim) = s.login("alice", "alice-pw").await;
    // A complete stage and no session: accepted at once.
    let got = delete(
        &s,
        &token,
        &victim,
        Some(json!({"auth": {"type": "m.login.password",
                             "identifier": {"type": "m.id.user", "user": user_id},
                             "user": user_id, "password": "alice-pw"}})),
    )
    .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(device_ids(&s, &token).await, vec![own]);
    assert_error(
        &s.get(WHOAMI, Some(&victim_token)).await,
        401,
        "M_UNKNOWN_TOKEN",
    );
}

async fn uia_session_of_another_user_is_403(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, alice, _) = s.register("alice", "alice-pw").await;
    let (_, bob, _) = s.register("bob", "bob-pw").await;
    login_device(&s, "alice", "alice-pw", "SHARED").await;
    login_device(&s, "bob", "bob-pw", "SHARED").await;
    // Alice starts a session; Bob tries to use it on the same URI.
    let got = delete(&s, &alice, "SHARED", Some(json!({}))).await;
    let session = assert_password_challenge(&got);
    let got = delete(
        &s,
        &bob,
        "SHARED",
        Some(json!({"auth": TestServer::password_auth(&session, "bob", "bob-pw")})),
    )
    .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let got = delete(
        &s,
        &bob,
        "SHARED",
        Some(json!({"auth": TestServer::password_auth(&session, "alice", "alice-pw")})),
    )
    .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    assert!(device_ids(&s, &alice).await.contains(&"SHARED".to_owned()));
    assert!(device_ids(&s, &bob).await.contains(&"SHARED".to_owned()));
}

async fn unknown_uia_session_is_400(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    let (_, victim) = s.login("alice", "alice-pw").await;
    let got = delete(
        &s,
        &token,
        &victim,
        Some(json!({"auth": TestServer::password_auth(&json!("made-up-session"), "alice", "alice-pw")})),
    )
    .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert!(got.1["errcode"].is_string(), "{}", got.1);
    assert!(device_ids(&s, &token).await.contains(&victim));
}
