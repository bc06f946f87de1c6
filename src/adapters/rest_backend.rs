//! The REST password provider's backend over HTTP (the contract of
//! matrix-synapse-rest-password-provider): `POST
//! <endpoint>/_matrix-internal/identity/v1/check_credentials` with
//! `{"user": {"id", "password"}}`, the answer's `auth` object back. HTTPS
//! certificates are verified (rustls, with the web PKI roots); redirects
//! are not followed; `timeout` bounds connecting and the whole request.

use super::http::ClientOptions;
use crate::auth::providers::rest::RestBackend;
use crate::auth::providers::{ProviderError, ProviderResult};
use crate::config::{RestProviderConfig, REST_MODULE};
use serde_json::{json, Map, Value};
use std::time::Duration;

const CHECK_PATH: &str = "/_matrix-internal/identity/v1/check_credentials";

pub struct RestBackendClient {
    http: reqwest::Client,
    url: String,
}

impl RestBackendClient {
    pub fn new(config: &RestProviderConfig) -> Result<Self, String> {
        let http = ClientOptions::new()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|e| format!("{REST_MODULE}: cannot build the HTTP client: {e}"))?;
        Ok(RestBackendClient {
            http,
            url: format!("{}{CHECK_PATH}", config.endpoint.trim_end_matches('/')),
        })
    }
}

#[async_trait::async_trait]
impl RestBackend for RestBackendClient {
    async fn check_credentials(
        &self,
        user_id: &str,
        password: &str,
    ) -> ProviderResult<Map<String, Value>> {
        let body = json!({ "user": { "id": user_id, "password": password } });
        let res = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| ProviderError::new(format!("backend unreachable: {}", describe(&e))))?;
        let status = res.status();
        if !status.is_success() {
            return Err(ProviderError::new(format!("backend answered {status}")));
        }
        let answer: Value = res
            .json()
            .await
            .map_err(|_| ProviderError::new("backend answered something other than JSON"))?;
        match answer.get("auth") {
            Some(Value::Object(auth)) => Ok(auth.clone()),
            _ => Err(ProviderError::new(
                "backend answered JSON without an `auth` object",
            )),
        }
    }
}

/// What went wrong, without the URL (the log names the provider).
fn describe(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}
