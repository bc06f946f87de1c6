//! Synapse's admin API: shared-secret registration and admin status.

use crate::both;
use crate::support::{assert_error, Backend, TestServer, SERVER_NAME, SHARED_SECRET};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha1::Sha1;

const REGISTER: &str = "/_synapse/admin/v1/register";

both!(
    shared_secret_registration_creates_a_user,
    shared_secret_registration_admin,
    shared_secret_registration_wrong_mac,
    shared_secret_nonce_is_single_use,
    shared_secret_not_configured,
    shared_secret_user_types,
    user_admin_requires_an_admin,
    shared_secret_password_limit_counts_characters,
    malformed_user_ids_in_admin_paths,
);

/// Synapse's definition, computed here independently of the server:
/// hex(HMAC-SHA1(secret, nonce \0 username \0 password \0 admin|notadmin [\0 user_type])).
fn mac(
    secret: &str,
    nonce: &str,
    user: &str,
    password: &str,
    admin: bool,
    user_type: Option<&str>,
) -> String {
    let mut message = Vec::new();
    message.extend_from_slice(nonce.as_bytes());
    message.push(0);
    message.extend_from_slice(user.as_bytes());
    message.push(0);
    message.extend_from_slice(password.as_bytes());
    message.push(0);
    message.extend_from_slice(if admin { b"admin" } else { b"notadmin" });
    if let Some(t) = user_type {
        message.push(0);
        message.extend_from_slice(t.as_bytes());
    }
    let mut h = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    h.update(&message);
    hex::encode(h.finalize().into_bytes())
}

async fn nonce(s: &TestServer) -> String {
    let (status, body) = s.get(REGISTER, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let n = body["nonce"].as_str().expect("nonce").to_owned();
    assert!(!n.is_empty());
    n
}

/// A registration body with a correct MAC.
fn body(nonce: &str, user: &str, password: &str, admin: bool, user_type: Option<&str>) -> Value {
    let mut b = json!({
        "nonce": nonce,
        "username": user,
        "password": password,
        "admin": admin,
        "mac": mac(SHARED_SECRET, nonce, user, password, admin, user_type),
    });
    if let Some(t) = user_type {
        b["user_type"] = json!(t);
    }
    b
}

async fn shared_secret_registration_creates_a_user(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let n = nonce(&s).await;
    let (status, res) = s
        .post(REGISTER, None, body(&n, "alice", "alice-pw", false, None))
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], format!("@alice:{SERVER_NAME}"));
    assert!(res["device_id"].is_string(), "{res}");
    let token = res["access_token"].as_str().expect("access_token");
    let (status, me) = s
        .get("/_matrix/client/v3/account/whoami", Some(token))
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], res["user_id"]);
    assert_eq!(me["device_id"], res["device_id"]);
    s.login("alice", "alice-pw").await;
    // Not an admin.
    let got = s
        .get(
            &format!("/_synapse/admin/v1/users/@alice:{SERVER_NAME}/admin"),
            Some(token),
        )
        .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    // The name is now taken.
    let n = nonce(&s).await;
    let got = s
        .post(REGISTER, None, body(&n, "alice", "other-pw", false, None))
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert_eq!(got.1["errcode"], "M_USER_IN_USE", "{}", got.1);
    s.login("alice", "alice-pw").await;
}

async fn shared_secret_registration_admin(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let n = nonce(&s).await;
    let (status, res) = s
        .post(REGISTER, None, body(&n, "root", "root-pw", true, None))
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let token = res["access_token"].as_str().unwrap().to_owned();
    let root = res["user_id"].as_str().unwrap().to_owned();
    let (status, got) = s
        .get(
            &format!("/_synapse/admin/v1/users/{root}/admin"),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got, json!({"admin": true}));
    // An admin asking about a non-admin.
    let (bob, _, _) = s.register("bob", "bob-pw").await;
    let (status, got) = s
        .get(
            &format!("/_synapse/admin/v1/users/{bob}/admin"),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got, json!({"admin": false}));
}

async fn shared_secret_registration_wrong_mac(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let n = nonce(&s).await;
    let mut wrong = body(&n, "alice", "alice-pw", false, None);
    // A MAC for a different password, and one with the wrong secret.
    wrong["mac"] = json!(mac(SHARED_SECRET, &n, "alice", "other-pw", false, None));
    assert_error(&s.post(REGISTER, None, wrong).await, 403, "M_FORBIDDEN");
    let n = nonce(&s).await;
    let mut wrong = body(&n, "alice", "alice-pw", false, None);
    wrong["mac"] = json!(mac("not the secret", &n, "alice", "alice-pw", false, None));
    assert_error(&s.post(REGISTER, None, wrong).await, 403, "M_FORBIDDEN");
    // A MAC over notadmin does not make an admin.
    let n = nonce(&s).await;
    let mut wrong = body(&n, "alice", "alice-pw", false, None);
    wrong["admin"] = json!(true);
    assert_error(&s.post(REGISTER, None, wrong).await, 403, "M_FORBIDDEN");
    // No user was made.
    let (status, _) = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "user": "alice", "password": "alice-pw"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Missing fields: 400.
    let n = nonce(&s).await;
    let mut missing = body(&n, "alice", "alice-pw", false, None);
    missing.as_object_mut().unwrap().remove("mac");
    let got = s.post(REGISTER, None, missing).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
}

async fn shared_secret_nonce_is_single_use(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let n = nonce(&s).await;
    let (status, res) = s
        .post(REGISTER, None, body(&n, "alice", "alice-pw", false, None))
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let reuse = s
        .post(REGISTER, None, body(&n, "bob", "bob-pw", false, None))
        .await;
    assert_eq!(reuse.0, StatusCode::BAD_REQUEST, "{}", reuse.1);
    assert!(reuse.1["errcode"].is_string(), "{}", reuse.1);
    let unknown = s
        .post(
            REGISTER,
            None,
            body("never-handed-out", "carol", "carol-pw", false, None),
        )
        .await;
    assert_eq!(unknown.0, StatusCode::BAD_REQUEST, "{}", unknown.1);
    assert!(unknown.1["errcode"].is_string(), "{}", unknown.1);
    // A nonce spent on a wrong MAC is spent too.
    let n = nonce(&s).await;
    let mut wrong = body(&n, "dave", "dave-pw", false, None);
    wrong["mac"] = json!("00".repeat(20));
    assert_error(&s.post(REGISTER, None, wrong).await, 403, "M_FORBIDDEN");
    let got = s
        .post(REGISTER, None, body(&n, "dave", "dave-pw", false, None))
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    // Neither bob, carol nor dave exist.
    for (user, pw) in [
        ("bob", "bob-pw"),
        ("carol", "carol-pw"),
        ("dave", "dave-pw"),
    ] {
        let (status, _) = s
            .post(
                "/_matrix/client/v3/login",
                None,
                json!({"type": "m.login.password", "user": user, "password": pw}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{user}");
    }
}

async fn shared_secret_not_configured(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.registration_shared_secret = None)
        .start()
        .await;
    let got = s.get(REGISTER, None).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert!(got.1["errcode"].is_string(), "{}", got.1);
    let got = s
        .post(REGISTER, None, body("n", "alice", "alice-pw", false, None))
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
}

async fn shared_secret_user_types(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let n = nonce(&s).await;
    let (status, res) = s
        .post(
            REGISTER,
            None,
            body(&n, "robot", "robot-pw", false, Some("bot")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], format!("@robot:{SERVER_NAME}"));
    s.login("robot", "robot-pw").await;
    // A user_type outside the MAC: 403 (the MAC does not cover it).
    let n = nonce(&s).await;
    let mut b2 = body(&n, "robot2", "robot-pw", false, None);
    b2["user_type"] = json!("bot");
    assert_error(&s.post(REGISTER, None, b2).await, 403, "M_FORBIDDEN");
    let n = nonce(&s).await;
    let got = s
        .post(
            REGISTER,
            None,
            body(&n, "weird", "weird-pw", false, Some("nonsense")),
        )
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert!(got.1["errcode"].is_string(), "{}", got.1);
}

async fn user_admin_requires_an_admin(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (alice, token, _) = s.register("alice", "alice-pw").await;
    let path = format!("/_synapse/admin/v1/users/{alice}/admin");
    assert_error(&s.get(&path, Some(&token)).await, 403, "M_FORBIDDEN");
    assert_error(&s.get(&path, None).await, 401, "M_MISSING_TOKEN");
    assert_error(
        &s.get(&path, Some("syt_bogus_token_000000")).await,
        401,
        "M_UNKNOWN_TOKEN",
    );
}

/// Synapse limits the password to 512 characters (Python's `len`), not
/// bytes: 300 two-byte characters are fine, 513 characters are not.
async fn shared_secret_password_limit_counts_characters(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let password = "é".repeat(300);
    let res = s
        .shared_secret_register("accents", &password, false, None)
        .await;
    assert_eq!(res["user_id"], format!("@accents:{SERVER_NAME}"));
    s.login("accents", &password).await;
    let (_, n) = s.get("/_synapse/admin/v1/register", None).await;
    let nonce = n["nonce"].as_str().unwrap();
    let long = "a".repeat(513);
    let body = json!({"nonce": nonce, "username": "toolong", "password": long, "admin": false,
        "mac": mac(SHARED_SECRET, nonce, "toolong", &long, false, None)});
    assert_error(
        &s.post("/_synapse/admin/v1/register", None, body).await,
        400,
        "M_UNKNOWN",
    );
}

/// What is no user ID in an admin path (no `@`, a space or a character
/// beyond ASCII in the localpart, no server name) is refused only after
/// the requester was found allowed to ask: a non-admin gets 403 whatever
/// the ID. The user admin API says 400 `M_INVALID_PARAM`, as Synapse's
/// `UserID.from_string`; the older endpoints answer as for a user of
/// another server.
async fn malformed_user_ids_in_admin_paths(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, _) = s.register("alice", "alice-pw").await;
    let admin = s.register_admin("root").await;
    let malformed = [
        "nobody".to_owned(),
        format!("@a%20b:{SERVER_NAME}"),
        format!("@%C3%A9:{SERVER_NAME}"),
        "@nobody".to_owned(),
        format!("@:{SERVER_NAME}"),
    ];
    for id in &malformed {
        let admin_path = format!("/_synapse/admin/v1/users/{id}/admin");
        let login_path = format!("/_synapse/admin/v1/users/{id}/login");
        let override_path = format!("/_synapse/admin/v1/users/{id}/override_ratelimit");
        let whois_paths = [
            format!("/_synapse/admin/v1/whois/{id}"),
            format!("/_matrix/client/v3/admin/whois/{id}"),
        ];
        assert_error(&s.get(&admin_path, Some(&token)).await, 403, "M_FORBIDDEN");
        assert_error(
            &s.get(&admin_path, Some(&admin)).await,
            400,
            "M_INVALID_PARAM",
        );
        assert_error(
            &s.post(&login_path, Some(&token), json!({})).await,
            403,
            "M_FORBIDDEN",
        );
        assert_error(
            &s.post(&login_path, Some(&admin), json!({})).await,
            400,
            "M_UNKNOWN",
        );
        assert_error(
            &s.get(&override_path, Some(&token)).await,
            403,
            "M_FORBIDDEN",
        );
        assert_error(&s.get(&override_path, Some(&admin)).await, 400, "M_UNKNOWN");
        for whois in &whois_paths {
            assert_error(&s.get(whois, Some(&token)).await, 403, "M_FORBIDDEN");
            assert_error(&s.get(whois, Some(&admin)).await, 400, "M_UNKNOWN");
        }
    }
    // A historical user ID (upper case) is a user ID: it is looked up (and
    // not found).
    let upper = format!("@Nobody:{SERVER_NAME}");
    assert_error(
        &s.get(
            &format!("/_synapse/admin/v1/users/{upper}/admin"),
            Some(&admin),
        )
        .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &s.get(
            &format!("/_synapse/admin/v1/users/{upper}/override_ratelimit"),
            Some(&admin),
        )
        .await,
        404,
        "M_NOT_FOUND",
    );
}
