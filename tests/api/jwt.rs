//! `org.matrix.login.jwt` (Synapse's `jwt_config`): a valid token logs in
//! (and creates) its subject's user; expired, badly signed, wrong issuer or
//! audience, or missing tokens get 403 M_FORBIDDEN.

use crate::both;
use crate::support::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use mxauth::config::{JwtConfig, Secret};
use reqwest::StatusCode;
use serde_json::{json, Value};

both!(jwt_login, jwt_login_is_off_unless_enabled);

const SECRET: &str = "the jwt shared secret";

/// `jwt_config` with an HS256 `secret` and nothing else checked (no
/// issuer, audience or display name): for tests of other things.
pub(crate) fn hs256_jwt(secret: &str) -> JwtConfig {
    JwtConfig {
        secret: Secret::new(secret),
        algorithm: "HS256".into(),
        subject_claim: "sub".into(),
        display_name_claim: None,
        issuer: None,
        audiences: None,
    }
}
const ISSUER: &str = "https://idp.example";

fn now_s() -> i64 {
    crate::support::wall_clock_ms() / 1000
}

fn token(claims: Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn jwt(server: &TestServer, token: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"type": "org.matrix.login.jwt"});
    if let Some(t) = token {
        body["token"] = json!(t);
    }
    server.post("/_matrix/client/v3/login", None, body).await
}

async fn jwt_login(backend: Backend) {
    let server = TestServer::builder(backend)
        .config(|c| {
            c.jwt = Some(JwtConfig {
                secret: Secret::new(SECRET),
                algorithm: "HS256".into(),
                subject_claim: "sub".into(),
                display_name_claim: Some("name".into()),
                issuer: Some(ISSUER.into()),
                audiences: Some(vec!["mxauth".into()]),
            })
        })
        .start()
        .await;
    let (_, flows) = server.get("/_matrix/client/v3/login", None).await;
    let types: Vec<&str> = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["m.login.password", "org.matrix.login.jwt"]);

    let claims = json!({"sub": "ivan", "name": "Ivan I.", "iss": ISSUER, "aud": "mxauth", "exp": now_s() + 300});
    let (status, res) = jwt(&server, Some(&token(claims.clone(), SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let ivan = format!("@ivan:{SERVER_NAME}");
    assert_eq!(res["user_id"], ivan);
    let (status, me) = server
        .get(
            "/_matrix/client/v3/account/whoami",
            res["access_token"].as_str(),
        )
        .await;
    assert_eq!(
        (status, me["user_id"].clone()),
        (StatusCode::OK, json!(ivan))
    );
    let store = mxauth::store::connect(&server.db.config.url(), 1)
        .await
        .unwrap();
    let user = store
        .users()
        .get_user(&ivan)
        .await
        .unwrap()
        .expect("created");
    assert_eq!(user.displayname.as_deref(), Some("Ivan I."));
    // Again: the same user.
    let (status, res) = jwt(&server, Some(&token(claims, SECRET))).await;
    assert_eq!(
        (status, res["user_id"].clone()),
        (StatusCode::OK, json!(ivan))
    );

    let base = json!({"sub": "ivan", "iss": ISSUER, "aud": "mxauth"});
    let with = |key: &str, value: Value| {
        let mut c = base.clone();
        c[key] = value;
        c
    };
    let expired = with("exp", json!(now_s() - 3600));
    let got = jwt(&server, Some(&token(expired, SECRET))).await;
    assert_error(&got, 403, "M_FORBIDDEN");
    assert!(
        got.1["error"].as_str().unwrap().contains("expired"),
        "{}",
        got.1
    );
    let got = jwt(&server, Some(&token(base.clone(), "another secret"))).await;
    assert_error(&got, 403, "M_FORBIDDEN");
    assert!(
        got.1["error"].as_str().unwrap().contains("Signature"),
        "{}",
        got.1
    );
    let got = jwt(
        &server,
        Some(&token(with("iss", json!("https://evil")), SECRET)),
    )
    .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let got = jwt(
        &server,
        Some(&token(with("aud", json!("someone-else")), SECRET)),
    )
    .await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let got = jwt(&server, Some("not.a.jwt")).await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let got = jwt(&server, None).await;
    assert_error(&got, 403, "M_FORBIDDEN");
    server.stop().await;
}

async fn jwt_login_is_off_unless_enabled(backend: Backend) {
    let server = TestServer::builder(backend).start().await;
    let claims = json!({"sub": "ivan"});
    let got = jwt(&server, Some(&token(claims, SECRET))).await;
    assert_error(&got, 400, "M_UNKNOWN");
    server.stop().await;
}
