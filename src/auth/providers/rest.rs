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
//! the login goes on to the next (or fails with 403). The call itself is
//! [`RestBackend`]'s: `adapters/rest_backend.rs` makes it over HTTP
//! (certificates verified with the web PKI roots, redirects not followed,
//! `timeout` for connecting and for the whole request).

use super::ProviderResult;
use super::{AuthChecker, AuthProvider, Authenticated, NewUserProfile};
use crate::auth::identifiers::{local_localpart, qualify};
use crate::auth::login::LOGIN_TYPE_PASSWORD;
use crate::config::RestProviderConfig;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

pub const MODULE_NAME: &str = crate::config::REST_MODULE;

/// The backend's `check_credentials`, as the provider sees it.
#[async_trait::async_trait]
pub trait RestBackend: Send + Sync + 'static {
    /// Asks the backend about `user_id`'s `password`: the `auth` object of
    /// its answer. `Err` when it could not be asked or did not answer with
    /// such an object.
    async fn check_credentials(
        &self,
        user_id: &str,
        password: &str,
    ) -> ProviderResult<Map<String, Value>>;
}

/// Makes a REST provider's backend from its config (`server.rs` gives
/// the HTTP adapter's).
pub type MakeRestBackend = dyn Fn(&RestProviderConfig) -> Result<Arc<dyn RestBackend>, String>;

pub struct RestProvider {
    backend: Arc<dyn RestBackend>,
    config: RestProviderConfig,
    server_name: String,
}

impl RestProvider {
    pub fn new(
        config: &RestProviderConfig,
        server_name: &str,
        backend: Arc<dyn RestBackend>,
    ) -> Self {
        RestProvider {
            backend,
            config: config.clone(),
            server_name: server_name.to_owned(),
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
        let auth = self.backend.check_credentials(&user_id, password).await?;
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

/// A backend in memory for tests: gives `answer` as the `auth` object (or
/// the error) and notes who it was asked about.
#[cfg(test)]
pub struct FakeRestBackend {
    pub answer: Result<Value, String>,
    pub(crate) asked: std::sync::Mutex<Vec<String>>,
}

#[cfg(test)]
impl FakeRestBackend {
    pub fn answering(answer: Result<Value, String>) -> Self {
        FakeRestBackend {
            answer,
            asked: Default::default(),
        }
    }

    /// The user IDs asked about so far.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().expect("not poisoned").clone()
    }
}

#[cfg(test)]
#[async_trait::async_trait]
impl RestBackend for FakeRestBackend {
    async fn check_credentials(
        &self,
        user_id: &str,
        _password: &str,
    ) -> ProviderResult<Map<String, Value>> {
        self.asked
            .lock()
            .expect("not poisoned")
            .push(user_id.to_owned());
        match &self.answer {
            Ok(Value::Object(auth)) => Ok(auth.clone()),
            Ok(_) => Err(super::ProviderError::new("not an object")),
            Err(why) => Err(super::ProviderError::new(why.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> RestProviderConfig {
        RestProviderConfig {
            endpoint: "https://backend.invalid".into(),
            enforce_lowercase: true,
            set_name_on_register: true,
            update_threepids: true,
            timeout_ms: 10_000,
        }
    }

    fn provider(answer: Result<Value, String>) -> (RestProvider, Arc<FakeRestBackend>) {
        let backend = Arc::new(FakeRestBackend::answering(answer));
        let provider = RestProvider::new(&config(), "example.org", backend.clone());
        (provider, backend)
    }

    async fn login(p: &RestProvider, user: &str, password: &str) -> Option<Authenticated> {
        let dict = json!({ "password": password });
        p.check_auth(user, LOGIN_TYPE_PASSWORD, dict.as_object().expect("object"))
            .await
            .expect("an answer")
    }

    #[tokio::test]
    async fn a_user_the_backend_accepts_is_created_with_its_profile() {
        let (p, backend) = provider(Ok(json!({
            "success": true,
            "profile": {
                "display_name": "Alice A.",
                "three_pids": [{"medium": "Email", "address": "Alice@Example.ORG"}],
            },
        })));
        let got = login(&p, "alice", "pw").await.expect("accepted");
        assert_eq!(got.user_id, "@alice:example.org");
        let profile = got.create_with.expect("created if missing");
        assert_eq!(profile.display_name.as_deref(), Some("Alice A."));
        assert_eq!(
            profile.threepids,
            [("email".to_owned(), "alice@example.org".to_owned())]
        );
        assert_eq!(backend.asked(), ["@alice:example.org"]);
    }

    #[tokio::test]
    async fn refusals_and_unasked_questions() {
        let (p, _) = provider(Ok(json!({ "success": false })));
        assert!(login(&p, "alice", "pw").await.is_none());

        let (p, backend) = provider(Ok(json!({ "success": true })));
        assert!(login(&p, "alice", "").await.is_none(), "empty password");
        assert!(login(&p, "@bob:elsewhere.example", "pw").await.is_none());
        assert!(backend.asked().is_empty(), "{:?}", backend.asked());

        // enforceLowercase: such a user may log in but is not created.
        let got = login(&p, "Alice", "pw").await.expect("accepted");
        assert_eq!(got.user_id, "@Alice:example.org");
        assert!(got.create_with.is_none());
    }

    #[tokio::test]
    async fn a_backend_that_fails_is_an_error_for_the_registry() {
        let (p, _) = provider(Err("backend unreachable: timed out".into()));
        let dict = json!({ "password": "pw" });
        let got = p
            .check_auth(
                "alice",
                LOGIN_TYPE_PASSWORD,
                dict.as_object().expect("object"),
            )
            .await;
        assert!(got.is_err());
    }
}
