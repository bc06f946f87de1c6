//! The HTTP calls to upstream OpenID Connect providers: the discovery
//! document, the JWKS, the token request and userinfo. One client for
//! every provider: no redirects followed, short timeouts. The SSO rules
//! (`auth/sso/oidc.rs`) choose the URLs and judge the answers.

use super::http::ClientOptions;
use crate::auth::sso::upstream::{ProviderError, TokenRequest, TokenResponse, UpstreamOidc};
use crate::config::oidc::ClientAuthMethod;
use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Map, Value};
use std::time::Duration;

pub struct OidcClient {
    http: reqwest::Client,
}

impl OidcClient {
    pub fn new() -> reqwest::Result<Self> {
        let http = ClientOptions::new()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .mxauth_user_agent()
            .build()?;
        Ok(OidcClient { http })
    }

    async fn get_json(&self, url: &str, bearer: Option<&str>) -> Result<Value, ProviderError> {
        let mut req = self.http.get(url).header("accept", "application/json");
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let res = req
            .send()
            .await
            .map_err(|e| err(format!("GET {url}: {e}")))?;
        let status = res.status();
        if !status.is_success() {
            return Err(err(format!("GET {url}: status {status}")));
        }
        res.json()
            .await
            .map_err(|e| err(format!("GET {url}: not JSON: {e}")))
    }
}

fn err(m: impl Into<String>) -> ProviderError {
    ProviderError(m.into())
}

#[async_trait]
impl UpstreamOidc for OidcClient {
    async fn discovery(&self, issuer: &str) -> Result<Map<String, Value>, ProviderError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        match self.get_json(&url, None).await? {
            Value::Object(m) => Ok(m),
            _ => Err(err("the discovery document is not a JSON object")),
        }
    }

    async fn jwks(&self, jwks_uri: &str) -> Result<JwkSet, ProviderError> {
        serde_json::from_value(self.get_json(jwks_uri, None).await?)
            .map_err(|e| err(format!("bad JWKS: {e}")))
    }

    async fn token(&self, r: &TokenRequest<'_>) -> Result<TokenResponse, ProviderError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", r.code),
            ("redirect_uri", r.redirect_uri),
        ];
        if let Some(v) = r.code_verifier {
            form.push(("code_verifier", v));
        }
        let mut req = self
            .http
            .post(r.token_endpoint)
            .header("accept", "application/json");
        match r.auth_method {
            ClientAuthMethod::ClientSecretBasic => {
                // RFC 6749 2.3.1: both parts form-urlencoded before Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                req = req.basic_auth(enc(r.client_id), Some(enc(r.client_secret)));
            }
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id", r.client_id));
                form.push(("client_secret", r.client_secret));
            }
            ClientAuthMethod::None => form.push(("client_id", r.client_id)),
        }
        let res = req
            .form(&form)
            .send()
            .await
            .map_err(|e| err(format!("token endpoint: {e}")))?;
        let status = res.status();
        let body: Value = res
            .json()
            .await
            .map_err(|e| err(format!("token endpoint: not JSON: {e}")))?;
        if !status.is_success() {
            // The error code is the provider's, not a secret.
            let code = body.get("error").and_then(Value::as_str).unwrap_or("?");
            return Err(err(format!(
                "token endpoint: status {status}, error {code}"
            )));
        }
        serde_json::from_value(body).map_err(|e| err(format!("token endpoint: {e}")))
    }

    async fn userinfo(
        &self,
        userinfo_endpoint: &str,
        access_token: &str,
    ) -> Result<Map<String, Value>, ProviderError> {
        match self.get_json(userinfo_endpoint, Some(access_token)).await? {
            Value::Object(m) => Ok(m),
            _ => Err(err("userinfo is not a JSON object")),
        }
    }
}
