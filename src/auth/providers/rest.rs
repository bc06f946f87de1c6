//! `rest_auth_provider.RestAuthProvider`: the contract of
//! matrix-synapse-rest-password-provider. `m.login.password` is checked by
//! `POST <endpoint>/_matrix-internal/identity/v1/check_credentials` with
//! `{"user": {"id": "@alice:example.org", "password": "..."}}`; the backend
//! answers `{"auth": {"success": true, "profile": {"display_name": ...,
//! "three_pids": [{"medium", "address"}]}}}`. A user it accepts is created
//! on its first login with that profile.
//!
//! A backend that is down, slow, answers an error status or something
//! other than that JSON is an error: the registry skips this provider and
//! the login goes on to the next (or fails with 403). HTTPS certificates
//! are verified (rustls, with the web PKI roots); redirects are not followed.

use super::ProviderResult;
use super::{AuthChecker, AuthProvider, Authenticated, NewUserProfile, ProviderError};
use crate::auth::identifiers::{local_localpart, qualify};
use crate::auth::login::LOGIN_TYPE_PASSWORD;
use crate::config::RestProviderConfig;
use serde_json::{json, Map, Value};
use std::time::Duration;

pub const MODULE_NAME: &str = crate::config::REST_MODULE;
const CHECK_PATH: &str = "/_matrix-internal/identity/v1/check_credentials";

pub struct RestProvider {
    http: reqwest::Client,
    url: String,
    config: RestProviderConfig,
    server_name: String,
}

impl RestProvider {
    pub fn new(config: &RestProviderConfig, server_name: &str) -> Result<Self, String> {
        #[allow(clippy::disallowed_methods)] // the REST provider's one client
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("{MODULE_NAME}: cannot build the HTTP client: {e}"))?;
        Ok(RestProvider {
            http,
            url: format!("{}{CHECK_PATH}", config.endpoint.trim_end_matches('/')),
            config: config.clone(),
            server_name: server_name.to_owned(),
        })
    }

    async fn ask(&self, user_id: &str, password: &str) -> ProviderResult<Map<String, Value>> {
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

#[async_trait::async_trait]
impl AuthProvider for RestProvider {
    fn name(&self) -> &str {
        MODULE_NAME
    }

    fn auth_checkers(&self) -> Vec<AuthChecker> {
        vec![AuthChecker::new(LOGIN_TYPE_PASSWORD, &["password"])]
    }

    fn timeout(&self) -> Duration {
        // The HTTP client gives up first, with a clearer log line.
        Duration::from_millis(self.config.timeout_ms.saturating_add(1000))
    }

    async fn check_auth(
        &self,
        user: &str,
        _login_type: &str,
        login_dict: &Map<String, Value>,
    ) -> ProviderResult<Option<Authenticated>> {
        let Some(password) = login_dict.get("password").and_then(Value::as_str) else {
            return Ok(None);
        };
        let Some(user_id) = qualify(user, &self.server_name) else {
            return Ok(None);
        };
        let Some(localpart) = local_localpart(&user_id, &self.server_name) else {
            return Ok(None);
        };
        if password.is_empty() {
            return Ok(None);
        }
        let auth = self.ask(&user_id, password).await?;
        if auth.get("success").and_then(Value::as_bool) != Some(true) {
            return Ok(None);
        }
        if self.config.enforce_lowercase && localpart != localpart.to_lowercase() {
            // As the module: such a user is not created (an existing one may log in).
            return Ok(Some(Authenticated::user(user_id)));
        }
        let profile = auth.get("profile").and_then(Value::as_object);
        let display_name = profile
            .filter(|_| self.config.set_name_on_register)
            .and_then(|p| p.get("display_name"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let threepids = profile
            .filter(|_| self.config.update_threepids)
            .and_then(|p| p.get("three_pids"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|t| {
                        let medium = t.get("medium")?.as_str()?.to_lowercase();
                        let address = t.get("address")?.as_str()?.to_lowercase();
                        Some((medium, address))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(Authenticated::create_if_missing(
            user_id,
            NewUserProfile {
                display_name,
                threepids,
            },
        )))
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
