//! The OAuth 2.0 API's discovery: `auth_metadata` (stable and MSC2965
//! paths), `/.well-known/openid-configuration`, the JWKS and the id_tokens
//! signed with its keys (one key set for every process), and the
//! OAuth-aware legacy login flows (MSC3824).

use crate::both;
use crate::oauth_registration::{oauth_on, BASE};
use crate::support::{fresh_database, Backend, TestServer};
use mxauth::config::{Config, OidcProviderConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

both!(
    metadata_has_every_field_on_every_path,
    without_oauth_auth_metadata_is_unrecognized,
    id_tokens_verify_against_the_jwks,
    oauth_aware_login_flows,
);

const PATHS: [&str; 3] = [
    "/_matrix/client/v1/auth_metadata",
    "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata",
    "/.well-known/openid-configuration",
];

async fn metadata_has_every_field_on_every_path(b: Backend) {
    let s = TestServer::builder(b).config(oauth_on).start().await;
    for path in PATHS {
        let (status, m) = s.get(path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {m}");
        let expected = json!({
            "issuer": BASE,
            "authorization_endpoint": format!("{BASE}authorize"),
            "token_endpoint": format!("{BASE}oauth2/token"),
            "device_authorization_endpoint": format!("{BASE}oauth2/device"),
            "revocation_endpoint": format!("{BASE}oauth2/revoke"),
            "registration_endpoint": format!("{BASE}oauth2/registration"),
            "jwks_uri": format!("{BASE}oauth2/keys.json"),
            "userinfo_endpoint": format!("{BASE}oauth2/userinfo"),
            "introspection_endpoint": format!("{BASE}oauth2/introspect"),
            "account_management_uri": format!("{BASE}account/"),
            "account_management_actions_supported": [
                "org.matrix.profile",
                "org.matrix.devices_list",
                "org.matrix.device_view",
                "org.matrix.device_delete",
                "org.matrix.account_deactivate",
            ],
            "response_types_supported": ["code"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code"
            ],
            "response_modes_supported": ["query", "fragment"],
            "code_challenge_methods_supported": ["S256"],
            "prompt_values_supported": ["create"],
            "authorization_response_iss_parameter_supported": true,
            "token_endpoint_auth_methods_supported":
                ["none", "client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported":
                ["none", "client_secret_basic", "client_secret_post"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        for (key, value) in expected.as_object().unwrap() {
            assert_eq!(&m[key], value, "{path}: {key}");
        }
        let scopes = m["scopes_supported"].as_array().unwrap();
        for scope in [
            "openid",
            "urn:matrix:client:api:*",
            "urn:matrix:client:device:*",
        ] {
            assert!(scopes.contains(&json!(scope)), "{path}: {scope}");
        }
        let claims = m["claims_supported"].as_array().unwrap();
        assert!(claims.contains(&json!("sub")) && claims.contains(&json!("nonce")));
    }
}

async fn without_oauth_auth_metadata_is_unrecognized(b: Backend) {
    // public_baseurl without the OAuth 2.0 API (a config file's
    // `mxauth.oauth.enabled: false`).
    let s = TestServer::builder(b)
        .config(|c| c.public_baseurl = Some(BASE.into()))
        .start()
        .await;
    for path in &PATHS[..2] {
        let (status, e) = s.get(path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(e["errcode"], "M_UNRECOGNIZED", "{path}");
    }
    // What a delegating homeserver reads stays.
    let (status, m) = s.get("/.well-known/openid-configuration", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m["issuer"], BASE);
    assert_eq!(
        m["introspection_endpoint"],
        format!("{BASE}oauth2/introspect")
    );
    assert!(m.get("registration_endpoint").is_none(), "{m}");
    let (status, _) = s.get("/oauth2/keys.json", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn verify(token: &str, jwks: &Value) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("the token's key is published");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["alg"], "RS256");
    for private in ["d", "p", "q"] {
        assert!(jwk.get(private).is_none(), "{jwk}");
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().unwrap(),
        jwk["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["client"]);
    validation.set_issuer(&[BASE]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

/// Two processes started at once on one database end with one key, which
/// both publish and sign with; a rotation (the CLI's) is seen by both.
/// (SQLite: one after the other, as its migrations cannot run twice at
/// once; the race of the key's insert is store_oauth's.)
async fn id_tokens_verify_against_the_jwks(b: Backend) {
    let db = Arc::new(fresh_database(b).await);
    let (one, two) = match b {
        Backend::Postgres => {
            tokio::join!(
                TestServer::builder(db.clone()).config(oauth_on).start(),
                TestServer::builder(db.clone()).config(oauth_on).start(),
            )
        }
        Backend::Sqlite => (
            TestServer::builder(db.clone())
                .config(oauth_on)
                .start()
                .await,
            TestServer::builder(db.clone())
                .config(oauth_on)
                .start()
                .await,
        ),
    };
    let (status, jwks) = one.get("/oauth2/keys.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "{jwks}");
    let (_, jwks_two) = two.get("/oauth2/keys.json", None).await;
    assert_eq!(jwks, jwks_two);
    let claims = json!({
        "iss": BASE,
        "sub": "@alice:test.example",
        "aud": "client",
        "exp": crate::support::wall_clock_ms() / 1000 + 300,
    });
    let token = two.auth.sign_id_token(claims.clone()).await.unwrap();
    assert_eq!(verify(&token, &jwks), claims);

    // `mxauth rotate-signing-key`, on the database both serve.
    let mut config = crate::support::base_config();
    config.database = db.config.clone();
    oauth_on(&mut config);
    let new_kid = mxauth::cli::rotate_signing_key(config).await.unwrap();
    let (_, jwks) = two.get("/oauth2/keys.json", None).await;
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "the retired key stays"
    );
    assert_eq!(jwks["keys"][0]["kid"], new_kid.as_str());
    let token = two.auth.sign_id_token(claims.clone()).await.unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    assert_eq!(verify(&token, &jwks), claims);
}

/// A provider block that is never contacted by these tests.
fn provider() -> OidcProviderConfig {
    let yaml = "server_name: test.example\npublic_baseurl: http://127.0.0.1:1/\n\
         oidc_providers:\n  - idp_id: test\n    idp_name: Test IdP\n    \
         issuer: http://127.0.0.1:1/\n    client_id: mxauth\n    client_secret: s\n    \
         skip_verification: true\n";
    Config::from_yaml_str(yaml, std::path::Path::new("test.yaml"))
        .unwrap()
        .config
        .oidc_providers[0]
        .clone()
}

async fn flows(s: &TestServer) -> Vec<Value> {
    let (status, body) = s.get("/_matrix/client/v3/login", None).await;
    assert_eq!(status, StatusCode::OK);
    body["flows"].as_array().unwrap().clone()
}

async fn oauth_aware_login_flows(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            oauth_on(c);
            c.oidc_providers = vec![provider()];
        })
        .start()
        .await;
    let flows_on = flows(&s).await;
    let sso = flows_on
        .iter()
        .find(|f| f["type"] == "m.login.sso")
        .unwrap();
    assert_eq!(sso["oauth_aware_preferred"], true, "{sso}");
    assert!(flows_on.iter().any(|f| f["type"] == "m.login.password"));
    for query in ["action=delete", "org.matrix.msc3824.action=x"] {
        let (status, e) = s
            .get(
                &format!("/_matrix/client/v3/login/sso/redirect?redirectUrl=https%3A%2F%2Fc.example%2F&{query}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {e}");
        assert_eq!(e["errcode"], "M_INVALID_PARAM");
    }
    for query in [
        "action=login",
        "action=register",
        "org.matrix.msc3824.action=register",
    ] {
        let (status, e) = s
            .get(
                &format!("/_matrix/client/v3/login/sso/redirect?redirectUrl=https%3A%2F%2Fc.example%2F&{query}"),
                None,
            )
            .await;
        assert_ne!(e["errcode"], "M_INVALID_PARAM", "{query}: {status} {e}");
    }
    // Without the OAuth 2.0 API, no preference.
    let s = TestServer::builder(s.db.clone())
        .config(|c| {
            c.public_baseurl = Some(BASE.into());
            c.oidc_providers = vec![provider()];
        })
        .start()
        .await;
    let sso = flows(&s)
        .await
        .into_iter()
        .find(|f| f["type"] == "m.login.sso")
        .unwrap();
    assert!(sso.get("oauth_aware_preferred").is_none(), "{sso}");
}
