//! `rest_auth_provider.RestAuthProvider` against a backend this test runs
//! (the contract of matrix-synapse-rest-password-provider): accepted users
//! are created with the backend's profile; a backend that refuses, fails,
//! answers nonsense, hangs or is down means 403, never 500; the local
//! database is still asked after it.

use crate::both;
use crate::support::*;
use axum::http::StatusCode as AxumStatus;
use axum::response::IntoResponse;
use axum::routing::post;
use mxauth::config::{ModuleConfig, RestProviderConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

both!(rest_provider_contract, rest_backend_down);

type Seen = Arc<Mutex<Vec<Value>>>;

/// The remote service: answers by password.
async fn start_backend() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/_matrix-internal/identity/v1/check_credentials",
        post(move |axum::Json(body): axum::Json<Value>| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(body.clone());
                let id = body["user"]["id"].as_str().unwrap_or_default().to_owned();
                let password = body["user"]["password"].as_str().unwrap_or_default();
                match password {
                    "alice-pw" if id == format!("@alice:{SERVER_NAME}") => axum::Json(json!({
                        "auth": {
                            "success": true,
                            "mxid": id,
                            "profile": {
                                "display_name": "Alice Liddell",
                                "three_pids": [
                                    {"medium": "email", "address": "Alice@Example.org"},
                                    {"medium": "msisdn", "address": "123456789"}
                                ]
                            }
                        }
                    }))
                    .into_response(),
                    "Upper-pw" => {
                        axum::Json(json!({"auth": {"success": true, "mxid": id}})).into_response()
                    }
                    "boom" => (AxumStatus::INTERNAL_SERVER_ERROR, "oops").into_response(),
                    "html" => (AxumStatus::OK, "<html>hello</html>").into_response(),
                    "noauth" => axum::Json(json!({"something": "else"})).into_response(),
                    "slow" => {
                        // Real time: the provider's HTTP timeout is tested.
                        tokio::time::sleep(Duration::from_secs(20)).await;
                        axum::Json(json!({"auth": {"success": true}})).into_response()
                    }
                    _ => axum::Json(json!({"auth": {"success": false}})).into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

fn rest_module(endpoint: String) -> ModuleConfig {
    ModuleConfig::Rest(RestProviderConfig {
        endpoint,
        enforce_lowercase: true,
        set_name_on_register: true,
        update_threepids: true,
        timeout_ms: 1000,
    })
}

async fn password_login(
    server: &TestServer,
    identifier: Value,
    password: &str,
) -> (StatusCode, Value) {
    server
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "identifier": identifier, "password": password}),
        )
        .await
}

fn user(name: &str) -> Value {
    json!({"type": "m.id.user", "user": name})
}

async fn rest_provider_contract(backend: Backend) {
    let (addr, seen) = start_backend().await;
    let server = TestServer::builder(backend)
        .config(|c| {
            c.modules = vec![rest_module(format!("http://{addr}/"))];
        })
        .start()
        .await;
    let (status, res) = password_login(&server, user("alice"), "alice-pw").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let alice = format!("@alice:{SERVER_NAME}");
    assert_eq!(res["user_id"], alice);
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [json!({"user": {"id": alice, "password": "alice-pw"}})]
    );
    // Created with the backend's profile: display name and 3PIDs.
    let store = mxauth::store::connect(&server.db.config.url(), 1)
        .await
        .unwrap();
    let created = store
        .users()
        .get_user(&alice)
        .await
        .unwrap()
        .expect("created");
    assert_eq!(created.displayname.as_deref(), Some("Alice Liddell"));
    assert!(created.password_hash.is_none());
    let token = res["access_token"].as_str().unwrap();
    let (status, threepids) = server
        .get("/_matrix/client/v3/account/3pid", Some(token))
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut got: Vec<(String, String)> = threepids["threepids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["medium"].as_str().unwrap().to_owned(),
                t["address"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("email".to_owned(), "alice@example.org".to_owned()),
            ("msisdn".to_owned(), "123456789".to_owned())
        ]
    );
    // By email: the local 3PID names the user, the backend checks it.
    let by_email =
        json!({"type": "m.id.thirdparty", "medium": "email", "address": "alice@example.org"});
    let (status, res) = password_login(&server, by_email.clone(), "alice-pw").await;
    assert_eq!(
        (status, res["user_id"].clone()),
        (StatusCode::OK, json!(alice))
    );
    assert_error(
        &password_login(&server, by_email, "wrong").await,
        403,
        "M_FORBIDDEN",
    );

    // Refused, failing, nonsense: 403 alike.
    for password in ["wrong", "boom", "html", "noauth"] {
        let got = password_login(&server, user("alice"), password).await;
        assert_error(&got, 403, "M_FORBIDDEN");
        assert_eq!(got.1["error"], "Invalid username or password", "{password}");
    }
    // Slow: given up after the timeout (1s).
    let start = crate::support::real_now();
    let got = password_login(&server, user("alice"), "slow").await;
    assert_error(&got, 403, "M_FORBIDDEN");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );

    // enforceLowercase: an upper-case localpart is not created.
    let got = password_login(&server, user(&format!("@Upper:{SERVER_NAME}")), "Upper-pw").await;
    assert_error(&got, 403, "M_FORBIDDEN");
    assert!(store
        .users()
        .get_users_case_insensitive(&format!("@upper:{SERVER_NAME}"))
        .await
        .unwrap()
        .is_empty());

    // The local database is asked after the backend said no.
    server.register("bob", "bob-local-pw").await;
    let (status, res) = password_login(&server, user("bob"), "bob-local-pw").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    server.stop().await;
}

async fn rest_backend_down(backend: Backend) {
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let server = TestServer::builder(backend)
        .config(|c| {
            c.modules = vec![rest_module(format!("http://{closed}"))];
        })
        .start()
        .await;
    server.register("carol", "carol-local-pw").await;
    let start = crate::support::real_now();
    let got = password_login(&server, user("alice"), "alice-pw").await;
    assert_error(&got, 403, "M_FORBIDDEN");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    let (status, res) = password_login(&server, user("carol"), "carol-local-pw").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    server.stop().await;
}
