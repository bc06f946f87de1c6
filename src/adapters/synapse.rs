//! Synapse's `/_synapse/mas` API over HTTP: how mxauth creates and deletes
//! users and devices in a Synapse that delegates its auth to it.

use super::http::ClientOptions;
use crate::auth::homeserver::{CallError, HomeserverApi};
use crate::config::{MatrixConfig, Secret};
use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

pub struct SynapseClient {
    http: reqwest::Client,
    endpoint: String,
    secret: Secret,
}

impl SynapseClient {
    pub fn new(config: &MatrixConfig) -> anyhow::Result<Self> {
        let http = ClientOptions::new()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(SynapseClient {
            http,
            endpoint: config.endpoint.clone(),
            secret: config.secret.clone(),
        })
    }
}

/// Calls that act on something that may already be gone: a 404 means done.
const GONE_IS_DONE: &[&str] = &[
    "delete_device",
    "delete_user",
    "update_device_display_name",
    "set_displayname",
    "unset_displayname",
];

#[async_trait]
impl HomeserverApi for SynapseClient {
    async fn call(&self, kind: &str, payload: &Value) -> Result<(), CallError> {
        let url = format!("{}_synapse/mas/{kind}", self.endpoint);
        let res = self
            .http
            .post(&url)
            .bearer_auth(self.secret.expose())
            .json(payload)
            .send()
            .await
            .map_err(|e| CallError::Retry(format!("{kind}: {}", without_url(&e))))?;
        let status = res.status();
        if status.is_success() || (status == StatusCode::NOT_FOUND && GONE_IS_DONE.contains(&kind))
        {
            return Ok(());
        }
        let body = res.text().await.unwrap_or_default();
        let body: String = body.chars().take(300).collect();
        let why = format!("{kind}: {status} {body}");
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::NOT_FOUND
        {
            // A 404 for a route means a Synapse without delegation enabled (yet).
            Err(CallError::Retry(why))
        } else {
            Err(CallError::Permanent(why))
        }
    }
}

/// reqwest's error text without the URL (which holds nothing secret, but
/// keeps the log short).
fn without_url(e: &reqwest::Error) -> String {
    let mut e = e.to_string();
    if let Some(i) = e.find(" for url") {
        e.truncate(i);
    }
    e
}
