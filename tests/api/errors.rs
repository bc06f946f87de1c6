//! The wire format of errors, CORS, /versions, and which endpoints need a
//! token.

use crate::both;
use crate::support::{assert_error, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

both!(
    unknown_path_is_404_unrecognized,
    wrong_method_is_405_unrecognized,
    invalid_bodies,
    wrong_field_types_are_bad_json,
    oversized_body_is_413,
    json_and_cors_headers,
    cors_preflight,
    versions_lists_versions,
    protected_endpoints_need_a_token,
);

/// Sends raw bytes as the body; returns status and parsed JSON.
async fn raw_post(s: &TestServer, path: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let res = s
        .raw()
        .post(format!("{}{path}", s.base))
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .expect("sent");
    let status = res.status();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn unknown_path_is_404_unrecognized(b: Backend) {
    let s = TestServer::builder(b).start().await;
    for path in [
        "/_matrix/client/v3/no_such_endpoint",
        "/_matrix/client/v99/login",
        "/nothing",
        "/_synapse/admin/v1/nothing",
    ] {
        assert_error(&s.get(path, None).await, 404, "M_UNRECOGNIZED");
    }
    let (_, token, _) = s.register("alice", "alice-pw").await;
    assert_error(
        &s.post("/_matrix/client/v3/nothing", Some(&token), json!({}))
            .await,
        404,
        "M_UNRECOGNIZED",
    );
}

async fn wrong_method_is_405_unrecognized(b: Backend) {
    let s = TestServer::builder(b).start().await;
    for (method, path) in [
        (Method::GET, "/_matrix/client/v3/logout"),
        (Method::GET, "/_matrix/client/v3/register"),
        (Method::PUT, "/_matrix/client/v3/login"),
        (Method::POST, "/_matrix/client/versions"),
        (Method::GET, "/_matrix/client/r0/account/password"),
    ] {
        let got = s.request(method.clone(), path, None, None).await;
        assert_error(&got, 405, "M_UNRECOGNIZED");
    }
}

async fn invalid_bodies(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let login = "/_matrix/client/v3/login";
    assert_error(
        &raw_post(&s, login, b"{not json".to_vec()).await,
        400,
        "M_NOT_JSON",
    );
    assert_error(
        &raw_post(&s, login, vec![0xff, 0xfe]).await,
        400,
        "M_NOT_JSON",
    );
    assert_error(
        &raw_post(&s, login, b"[1, 2, 3]".to_vec()).await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &raw_post(&s, login, b"\"a string\"".to_vec()).await,
        400,
        "M_BAD_JSON",
    );
    // On registration and behind a token too.
    assert_error(
        &raw_post(&s, "/_matrix/client/v3/register", b"{".to_vec()).await,
        400,
        "M_NOT_JSON",
    );
    let (_, token, device) = s.register("alice", "alice-pw").await;
    let res = s
        .raw()
        .put(format!("{}/_matrix/client/v3/devices/{device}", s.base))
        .bearer_auth(&token)
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errcode"], "M_NOT_JSON", "{body}");
}

async fn wrong_field_types_are_bad_json(b: Backend) {
    let s = TestServer::builder(b).start().await;
    s.register("alice", "alice-pw").await;
    let got = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "user": "alice", "password": "alice-pw", "device_id": 5}),
        )
        .await;
    assert_error(&got, 400, "M_BAD_JSON");
    let got = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": 5, "user": "alice", "password": "alice-pw"}),
        )
        .await;
    assert_error(&got, 400, "M_BAD_JSON");
    let (_, token, device) = s.register("bob", "bob-pw").await;
    let got = s
        .request(
            Method::PUT,
            &format!("/_matrix/client/v3/devices/{device}"),
            Some(&token),
            Some(&json!({"display_name": 12})),
        )
        .await;
    assert_error(&got, 400, "M_BAD_JSON");
    let got = s
        .post(
            "/_matrix/client/v3/delete_devices",
            Some(&token),
            json!({"devices": "not-a-list"}),
        )
        .await;
    assert_error(&got, 400, "M_BAD_JSON");
    let got = s
        .post(
            "/_matrix/client/v3/account/password",
            Some(&token),
            json!({"new_password": "new-pw", "logout_devices": "yes"}),
        )
        .await;
    assert_error(&got, 400, "M_BAD_JSON");
    let got = s
        .post(
            "/_matrix/client/v3/account/password",
            Some(&token),
            json!({"new_password": "new-pw", "auth": "not-an-object"}),
        )
        .await;
    assert_error(&got, 400, "M_BAD_JSON");
}

async fn oversized_body_is_413(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.mxauth.max_request_body_bytes = 1024)
        .start()
        .await;
    let big = json!({"type": "m.login.password", "user": "alice", "password": "x".repeat(4096)});
    let got = s.post("/_matrix/client/v3/login", None, big).await;
    assert_error(&got, 413, "M_TOO_LARGE");
    // A small one still goes through to the rules.
    let small = json!({"type": "m.login.password", "user": "alice", "password": "x"});
    let got = s.post("/_matrix/client/v3/login", None, small).await;
    assert_error(&got, 403, "M_FORBIDDEN");
}

async fn json_and_cors_headers(b: Backend) {
    let s = TestServer::builder(b).start().await;
    for (method, path) in [
        (Method::GET, "/_matrix/client/versions"),
        (Method::GET, "/_matrix/client/v3/login"),
        (Method::GET, "/_matrix/client/v3/nothing"),
        (Method::GET, "/_matrix/client/v3/account/whoami"),
        (Method::POST, "/_matrix/client/v3/register"),
    ] {
        let res = s
            .raw()
            .request(method, format!("{}{path}", s.base))
            .header("origin", "https://app.element.io")
            .body("{}")
            .send()
            .await
            .unwrap();
        let h = res.headers();
        let ct = h
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(ct.starts_with("application/json"), "{path}: {ct}");
        assert_eq!(
            h.get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("*"),
            "{path}"
        );
        let body: Value = res.json().await.unwrap();
        assert!(body.is_object(), "{path}: {body}");
    }
}

async fn cors_preflight(b: Backend) {
    let s = TestServer::builder(b).start().await;
    for path in [
        "/_matrix/client/v3/login",
        "/_matrix/client/v3/account/password",
        "/_matrix/client/v3/devices/ABC",
    ] {
        let res = s
            .raw()
            .request(Method::OPTIONS, format!("{}{path}", s.base))
            .header("origin", "https://app.element.io")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert!(
            res.status() == StatusCode::OK || res.status() == StatusCode::NO_CONTENT,
            "{path}: {}",
            res.status()
        );
        let h = res.headers();
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase()
        };
        assert_eq!(get("access-control-allow-origin"), "*", "{path}");
        let methods = get("access-control-allow-methods");
        for m in ["get", "post", "put", "delete", "options"] {
            assert!(methods.contains(m), "{path}: methods {methods}");
        }
        let headers = get("access-control-allow-headers");
        for x in ["authorization", "content-type", "x-requested-with"] {
            assert!(headers.contains(x), "{path}: headers {headers}");
        }
    }
}

async fn versions_lists_versions(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (status, body) = s.get("/_matrix/client/versions", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let versions: Vec<&str> = body["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v.as_str().expect("a string"))
        .collect();
    assert!(versions.contains(&"r0.6.1"), "{body}");
    assert!(versions.contains(&"v1.1"), "{body}");
    assert!(
        versions.iter().any(|v| v.starts_with("v1.1")),
        "{versions:?}"
    );
    assert!(body["unstable_features"].is_object(), "{body}");
    // With a token too (Element sends one once logged in).
    let (_, token, _) = s.register("alice", "alice-pw").await;
    let (status, again) = s.get("/_matrix/client/versions", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, body);
}

async fn protected_endpoints_need_a_token(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (user_id, _, device) = s.register("alice", "alice-pw").await;
    let admin_path = format!("/_synapse/admin/v1/users/{user_id}/admin");
    let device_path = format!("/devices/{device}");
    for prefix in ["/_matrix/client/v3", "/_matrix/client/r0"] {
        for (method, path) in [
            (Method::POST, "/logout"),
            (Method::POST, "/logout/all"),
            (Method::GET, "/account/whoami"),
            (Method::POST, "/account/password"),
            (Method::POST, "/account/deactivate"),
            (Method::GET, "/capabilities"),
            (Method::GET, "/devices"),
            (Method::GET, device_path.as_str()),
            (Method::PUT, device_path.as_str()),
            (Method::DELETE, device_path.as_str()),
            (Method::POST, "/delete_devices"),
        ] {
            let got = s
                .request(
                    method.clone(),
                    &format!("{prefix}{path}"),
                    None,
                    Some(&json!({"devices": [device], "new_password": "x", "display_name": "x"})),
                )
                .await;
            assert_error(&got, 401, "M_MISSING_TOKEN");
        }
    }
    assert_error(&s.get(&admin_path, None).await, 401, "M_MISSING_TOKEN");
    // The device is still there and the password unchanged.
    s.login("alice", "alice-pw").await;

    // And these answer without one.
    let (status, _) = s.get("/_matrix/client/versions", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s.get("/_matrix/client/v3/login", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .get("/_matrix/client/v3/register/available?username=free", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s.post("/_matrix/client/v3/register", None, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["session"].is_string(),
        "UIA, not a token error: {body}"
    );
    let (status, _) = s.get("/_synapse/admin/v1/register", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "user": "alice", "password": "alice-pw"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
