//! The upstream provider's discovery document and keys are fetched once
//! per process, not on every redirect and callback: an anonymous caller
//! cannot make mxauth call the provider at will.

use crate::both;
use crate::sso::{free_port, login_token_of, sso_config, Browser, OidcProvider, CLIENT_URL};
use crate::support::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

both!(provider_documents_are_cached);

async fn provider_documents_are_cached(b: Backend) {
    let idp = OidcProvider::start();
    let p = idp.config("");
    let port = free_port();
    let s = TestServer::builder(b)
        .config(move |c| sso_config(c, port, vec![p]))
        .start()
        .await;
    for _ in 0..3 {
        let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
        assert_eq!(landing.status, StatusCode::FOUND, "{}", landing.body);
        let token = login_token_of(&landing.location.unwrap());
        let (status, res) = s
            .post(
                "/_matrix/client/v3/login",
                None,
                json!({"type": "m.login.token", "token": token}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{res}");
    }
    let counts: Value = crate::support::http_client()
        .get(format!("{}/__counts", idp.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Three logins: three code exchanges, at most one discovery and one JWKS.
    assert_eq!(counts["/token"], 3, "{counts}");
    let discovery = counts["/.well-known/openid-configuration"]
        .as_u64()
        .unwrap_or(0);
    let jwks = counts["/jwks"].as_u64().unwrap_or(0);
    assert!(
        discovery <= 1,
        "discovery fetched {discovery} times: {counts}"
    );
    assert!(jwks <= 1, "JWKS fetched {jwks} times: {counts}");
}
