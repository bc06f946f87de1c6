//! Guest access (issue 5, part 6): `POST /register?kind=guest`, the few
//! endpoints guests may use (those where Synapse passes `allow_guest=True`),
//! 403 M_GUEST_ACCESS_FORBIDDEN everywhere else, and upgrading a guest by
//! registering its localpart with `guest_access_token`.

use crate::both;
use crate::support::{assert_error, Backend, TestServer, SERVER_NAME};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const REGISTER: &str = "/_matrix/client/v3/register";
const GUEST: &str = "/_matrix/client/v3/register?kind=guest";
const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

both!(
    guest_registration_needs_allow_guest_access,
    guest_registration_ignores_enable_registration,
    guests_may_use_whoami_capabilities_and_read_devices,
    guests_are_refused_elsewhere,
    guest_upgrade_keeps_the_user_id,
    guest_upgrade_refused_without_that_guests_token,
);

async fn guest_server(b: Backend) -> TestServer {
    TestServer::builder(b)
        .config(|c| c.allow_guest_access = true)
        .start()
        .await
}

/// Registers a guest; returns (user_id, access_token, localpart).
async fn register_guest(s: &TestServer, body: Value) -> (String, String, String) {
    let (status, res) = s.post(GUEST, None, body).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let user_id = res["user_id"].as_str().unwrap().to_owned();
    let localpart = user_id
        .strip_prefix('@')
        .and_then(|u| u.strip_suffix(&format!(":{SERVER_NAME}")))
        .unwrap()
        .to_owned();
    (
        user_id,
        res["access_token"].as_str().unwrap().to_owned(),
        localpart,
    )
}

async fn guest_registration_needs_allow_guest_access(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let got = s.post(GUEST, None, json!({})).await;
    assert_error(&got, 403, "M_GUEST_ACCESS_FORBIDDEN");

    let s = guest_server(b).await;
    let (status, res) = s
        .post(
            GUEST,
            None,
            json!({"initial_device_display_name": "Guest phone", "device_id": "MINE"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let user_id = res["user_id"].as_str().unwrap();
    let localpart = user_id
        .strip_prefix('@')
        .unwrap()
        .strip_suffix(&format!(":{SERVER_NAME}"))
        .unwrap();
    assert!(
        localpart.len() == 10 && localpart.bytes().all(|c| c.is_ascii_digit()),
        "a generated numeric localpart: {user_id}"
    );
    // As in Synapse: guests may not choose their device ID.
    assert_eq!(res["device_id"], "guest_device");
    assert_eq!(res["home_server"], SERVER_NAME);
    let token = res["access_token"].as_str().unwrap();
    let (status, me) = s.get(WHOAMI, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me,
        json!({"user_id": user_id, "is_guest": true, "device_id": "guest_device"})
    );
    let (status, devices) = s.get("/_matrix/client/v3/devices", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{devices}");
    assert_eq!(devices["devices"].as_array().unwrap().len(), 1);
    assert_eq!(devices["devices"][0]["display_name"], "Guest phone");

    // Each guest is a new user; guests have no password to log in with.
    let (other, _, other_localpart) = register_guest(&s, json!({})).await;
    assert_ne!(other, user_id);
    let got = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": other_localpart}, "password": "anything"}),
        )
        .await;
    assert_error(&got, 403, "M_FORBIDDEN");
}

async fn guest_registration_ignores_enable_registration(b: Backend) {
    // Synapse's `_do_guest_registration` runs before the
    // `enable_registration` check: guests need only `allow_guest_access`.
    let s = TestServer::builder(b)
        .config(|c| {
            c.allow_guest_access = true;
            c.enable_registration = false;
        })
        .start()
        .await;
    let (user_id, token, _) = register_guest(&s, json!({})).await;
    let (_, me) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(me["user_id"], user_id);
    assert_eq!(me["is_guest"], true);
    let got = s
        .post(REGISTER, None, json!({"username": "u", "password": "pw"}))
        .await;
    assert_error(&got, 403, "M_FORBIDDEN");
}

async fn guests_may_use_whoami_capabilities_and_read_devices(b: Backend) {
    let s = guest_server(b).await;
    let (_, token, _) = register_guest(&s, json!({})).await;
    for path in [
        WHOAMI,
        "/_matrix/client/r0/account/whoami",
        "/_matrix/client/v3/capabilities",
        "/_matrix/client/v3/devices",
        "/_matrix/client/v3/devices/guest_device",
    ] {
        let (status, body) = s.get(path, Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (_, caps) = s.get("/_matrix/client/v3/capabilities", Some(&token)).await;
    assert!(
        caps["capabilities"]["m.change_password"].is_object(),
        "{caps}"
    );
    let (status, body) = s
        .request(
            Method::PUT,
            "/_matrix/client/v3/devices/guest_device",
            Some(&token),
            Some(&json!({"display_name": "renamed"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, device) = s
        .get("/_matrix/client/v3/devices/guest_device", Some(&token))
        .await;
    assert_eq!(device["display_name"], "renamed");
    // Another user's device stays out of reach.
    let got = s
        .get("/_matrix/client/v3/devices/NOSUCHDEVICE", Some(&token))
        .await;
    assert_error(&got, 404, "M_NOT_FOUND");
}

async fn guests_are_refused_elsewhere(b: Backend) {
    let s = guest_server(b).await;
    let (user_id, token, _) = register_guest(&s, json!({})).await;
    let admin_user = format!("/_synapse/admin/v1/users/{user_id}/admin");
    let puppet = format!("/_synapse/admin/v1/users/{user_id}/login");
    let refused: Vec<(Method, &str, Option<Value>)> = vec![
        (
            Method::POST,
            "/_matrix/client/v3/account/password",
            Some(json!({"new_password": "a-new-password"})),
        ),
        (
            Method::POST,
            "/_matrix/client/v3/account/deactivate",
            Some(json!({})),
        ),
        (
            Method::DELETE,
            "/_matrix/client/v3/devices/guest_device",
            Some(json!({})),
        ),
        (
            Method::POST,
            "/_matrix/client/v3/delete_devices",
            Some(json!({"devices": ["guest_device"]})),
        ),
        (Method::POST, "/_matrix/client/v3/logout", Some(json!({}))),
        (
            Method::POST,
            "/_matrix/client/v3/logout/all",
            Some(json!({})),
        ),
        (Method::POST, "/_matrix/client/r0/logout", Some(json!({}))),
        (Method::GET, "/_matrix/client/v3/account/3pid", None),
        (
            Method::POST,
            "/_matrix/client/v3/account/3pid/delete",
            Some(json!({"medium": "email", "address": "a@example.org"})),
        ),
        (Method::GET, admin_user.as_str(), None),
        (Method::POST, puppet.as_str(), Some(json!({}))),
        (Method::GET, "/_synapse/admin/v1/registration_tokens", None),
    ];
    for (method, path, body) in refused {
        let got = s
            .request(method.clone(), path, Some(&token), body.as_ref())
            .await;
        assert_eq!(got.0.as_u16(), 403, "{method} {path}: {}", got.1);
        assert_eq!(
            got.1["errcode"], "M_GUEST_ACCESS_FORBIDDEN",
            "{method} {path}"
        );
    }
    // Nothing of that happened: the guest, its device and its token live on.
    let (status, me) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["is_guest"], true);
    let (_, devices) = s.get("/_matrix/client/v3/devices", Some(&token)).await;
    assert_eq!(devices["devices"].as_array().unwrap().len(), 1);
    // A normal user is not affected.
    let (_, normal, _) = s.register("alice", "pw-alice").await;
    let (status, _) = s
        .get("/_matrix/client/v3/account/3pid", Some(&normal))
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn guest_upgrade_keeps_the_user_id(b: Backend) {
    let s = guest_server(b).await;
    let (user_id, guest_token, localpart) = register_guest(&s, json!({})).await;
    let body = json!({
        "username": localpart,
        "password": "the-new-password",
        "guest_access_token": guest_token,
        "initial_device_display_name": "upgraded",
    });
    let (status, challenge) = s.post(REGISTER, None, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    // Still a guest until UIA is done.
    let (_, me) = s.get(WHOAMI, Some(&guest_token)).await;
    assert_eq!(me["is_guest"], true);
    // The follow-up carries only `auth`: the rest comes from the session.
    let (status, res) = s
        .post(
            REGISTER,
            None,
            json!({"auth": {"type": "m.login.dummy", "session": challenge["session"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], user_id);
    let token = res["access_token"].as_str().unwrap();
    assert_ne!(res["device_id"], "guest_device");
    let (status, me) = s.get(WHOAMI, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], user_id);
    assert_eq!(me["is_guest"], false);
    // A full user now: the endpoints guests may not use answer.
    let (status, body) = s.get("/_matrix/client/v3/account/3pid", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // As in Synapse, the guest's token stops working at the upgrade.
    let got = s.get(WHOAMI, Some(&guest_token)).await;
    assert_error(&got, 401, "M_UNKNOWN_TOKEN");
    // The password logs in.
    let (login_token, _) = s.login(&localpart, "the-new-password").await;
    let (_, me) = s.get(WHOAMI, Some(&login_token)).await;
    assert_eq!(me["user_id"], user_id);
    assert_eq!(me["is_guest"], false);
    // The guest token was not kept in the UIA session as sent.
    if let Some(url) = sqlite_url(&s) {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let rows: Vec<(String,)> = sqlx::query_as("SELECT client_dict FROM uia_sessions")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(
            rows.iter().any(|(d,)| d.contains("guest_access_token")),
            "{rows:?}"
        );
        for (dict,) in rows {
            assert!(!dict.contains(&guest_token), "{dict}");
        }
    }
}

fn sqlite_url(s: &TestServer) -> Option<String> {
    match &s.db.config {
        mxauth::config::DatabaseConfig::Sqlite { path } => {
            Some(format!("sqlite://{}", path.display()))
        }
        _ => None,
    }
}

async fn guest_upgrade_refused_without_that_guests_token(b: Backend) {
    let s = guest_server(b).await;
    let (user_id, guest_token, localpart) = register_guest(&s, json!({})).await;
    let (_, other_guest_token, _) = register_guest(&s, json!({})).await;
    let (_, alice_token, _) = s.register("alice", "pw-alice").await;
    let upgrade = |token: &str| json!({"username": localpart, "password": "pw-new", "guest_access_token": token});
    // Without a guest token the guest's ID is not to be had.
    let got = s
        .post(
            REGISTER,
            None,
            json!({"username": localpart, "password": "pw-new"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    // Another guest's token, or a normal user's, does not open it.
    let got = s.post(REGISTER, None, upgrade(&other_guest_token)).await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let got = s.post(REGISTER, None, upgrade(&alice_token)).await;
    assert_error(&got, 403, "M_FORBIDDEN");
    // Nor does an unknown token.
    let got = s
        .post(REGISTER, None, upgrade("mxa_notatokenatall_000000"))
        .await;
    assert_error(&got, 401, "M_UNKNOWN_TOKEN");
    // A normal user cannot be taken over with their own token either.
    let got = s
        .post(
            REGISTER,
            None,
            json!({"username": "alice", "password": "pw-x", "guest_access_token": alice_token}),
        )
        .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    // The guest is untouched.
    let (status, me) = s.get(WHOAMI, Some(&guest_token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], user_id);
    assert_eq!(me["is_guest"], true);
    s.login("alice", "pw-alice").await;
}
