//! Auth providers: the contract of Synapse's password auth provider
//! callbacks (`auth_checkers`, `check_3pid_auth`, `on_logged_out`,
//! `get_username_for_registration`, `get_displayname_for_registration`,
//! `is_3pid_allowed`) as one trait, and the registry that asks them.
//!
//! The registry asks providers in their configured order; the first success
//! wins. A provider that errors or takes longer than the timeout is logged
//! and skipped: it never makes a request fail with a 500 and never counts
//! as a success. Two providers declaring one login type with different
//! fields cannot be registered together (an error at start).
//!
//! The built-in providers: `ldap.rs` (synapse-ldap3) and `rest.rs`
//! (matrix-synapse-rest-password-provider).
//! A Rust program adds its own with `Server::build_with_providers`.
//! `jwt.rs` is Synapse's `org.matrix.login.jwt`, which Synapse has as a
//! login handler of its own rather than as a module.

pub mod jwt;
pub mod ldap;
mod login;
mod registration;
pub mod rest;

use crate::config::{Config, ModuleConfig};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How long a provider call may take by default before it is skipped.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a provider could not give an answer (its backend is down, answered
/// nonsense, ...). Logged, never shown to the client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProviderError(pub String);

impl ProviderError {
    pub fn new(message: impl Into<String>) -> Self {
        ProviderError(message.into())
    }
}

pub type ProviderResult<T> = std::result::Result<T, ProviderError>;

/// A boxed future, for the post-login callback.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Called with the response of the `/login` request a provider's check
/// allowed (Synapse's optional second element of `check_auth`'s result).
pub type PostLoginCallback = Box<dyn FnOnce(LoginResponse) -> BoxFuture<()> + Send + Sync>;

/// The response of a successful `/login`, as a post-login callback sees it.
#[derive(Clone)]
pub struct LoginResponse {
    pub user_id: String,
    pub device_id: String,
    pub access_token: String,
    pub home_server: String,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

/// One login type a provider checks, with the fields a request of that
/// type must carry (they are handed to the provider in `login_dict`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthChecker {
    pub login_type: String,
    pub fields: Vec<String>,
}

impl AuthChecker {
    pub fn new(login_type: impl Into<String>, fields: &[&str]) -> Self {
        AuthChecker {
            login_type: login_type.into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }
}

/// A profile from the provider's directory, used when the user is created
/// locally on its first login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUserProfile {
    pub display_name: Option<String>,
    /// (medium, address) pairs, e.g. `("email", "alice@example.org")`.
    pub threepids: Vec<(String, String)>,
}

/// A successful check: who the user is.
pub struct Authenticated {
    /// The full Matrix ID; it must be a user of this server.
    pub user_id: String,
    /// When set and the user does not exist yet, it is created with this
    /// profile (through the same path as other registrations). When not
    /// set, the user must already exist.
    pub create_with: Option<NewUserProfile>,
    /// Called with the login response after a successful `/login`.
    pub on_login: Option<PostLoginCallback>,
    /// Set when the local database checked a password: the credentials
    /// version it verified (the session's token needs it still current).
    pub(crate) credentials_version: Option<i64>,
}

impl Authenticated {
    /// An existing user.
    pub fn user(user_id: impl Into<String>) -> Self {
        Authenticated {
            user_id: user_id.into(),
            create_with: None,
            on_login: None,
            credentials_version: None,
        }
    }

    /// A user created with `profile` if it does not exist yet.
    pub fn create_if_missing(user_id: impl Into<String>, profile: NewUserProfile) -> Self {
        Authenticated {
            user_id: user_id.into(),
            create_with: Some(profile),
            on_login: None,
            credentials_version: None,
        }
    }

    pub fn with_callback(mut self, callback: PostLoginCallback) -> Self {
        self.on_login = Some(callback);
        self
    }
}

impl std::fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticated")
            .field("user_id", &self.user_id)
            .field("create_with", &self.create_with)
            .field("on_login", &self.on_login.is_some())
            .finish()
    }
}

/// An auth provider: every method has a default that does nothing, so a
/// provider implements only the callbacks it needs, as in Synapse.
#[async_trait::async_trait]
pub trait AuthProvider: Send + Sync {
    /// A name for logs.
    fn name(&self) -> &str;

    /// The login types this provider checks and their fields
    /// (`auth_checkers`). Read once, at start.
    fn auth_checkers(&self) -> Vec<AuthChecker> {
        Vec::new()
    }

    /// Checks a login (or a UIA stage) of one of `auth_checkers`' types.
    /// `user` is the user the client named, as typed (maybe a bare
    /// localpart); `login_dict` holds the declared fields. `Ok(None)`: not
    /// this user, or wrong credentials.
    async fn check_auth(
        &self,
        _user: &str,
        _login_type: &str,
        _login_dict: &Map<String, Value>,
    ) -> ProviderResult<Option<Authenticated>> {
        Ok(None)
    }

    /// Checks `m.login.password` with a third-party identifier; an
    /// `m.id.phone` number comes as its msisdn (medium `msisdn`), as at
    /// Synapse.
    async fn check_3pid_auth(
        &self,
        _medium: &str,
        _address: &str,
        _password: &str,
    ) -> ProviderResult<Option<Authenticated>> {
        Ok(None)
    }

    /// A user's token went: logout, logout/all, device deletion, password
    /// change with `logout_devices`, deactivation. mxauth keeps only
    /// hashes of tokens, so `access_token` is given only when the request
    /// that ended it presented it (`POST /logout`).
    async fn on_logged_out(
        &self,
        _user_id: &str,
        _device_id: Option<&str>,
        _access_token: Option<&str>,
    ) -> ProviderResult<()> {
        Ok(())
    }

    /// The localpart a registration gets (instead of its `username`).
    /// `uia_results` maps each completed stage to what it recorded.
    async fn get_username_for_registration(
        &self,
        _uia_results: &Map<String, Value>,
        _params: &Map<String, Value>,
    ) -> ProviderResult<Option<String>> {
        Ok(None)
    }

    /// The display name a registration gets.
    async fn get_displayname_for_registration(
        &self,
        _uia_results: &Map<String, Value>,
        _params: &Map<String, Value>,
    ) -> ProviderResult<Option<String>> {
        Ok(None)
    }

    /// Whether this address may be bound to an account (`registration`:
    /// during registration). Every provider must allow it.
    async fn is_3pid_allowed(
        &self,
        _medium: &str,
        _address: &str,
        _registration: bool,
    ) -> ProviderResult<bool> {
        Ok(true)
    }

    /// Whether the login types of this provider may be used for UIA
    /// re-authentication (Synapse offers every provider's types).
    fn offers_reauth(&self) -> bool {
        true
    }

    /// How long one call may take before the registry gives up on it
    /// (logged and skipped).
    fn timeout(&self) -> Duration {
        DEFAULT_TIMEOUT
    }
}

/// Two providers declared one login type with different fields.
#[derive(Debug, thiserror::Error)]
#[error(
    "provider `{second}` registers login type `{login_type}` with fields {second_fields:?}, \
     but provider `{first}` registered it with fields {first_fields:?}"
)]
pub struct ConflictingLoginType {
    pub login_type: String,
    pub first: String,
    pub first_fields: Vec<String>,
    pub second: String,
    pub second_fields: Vec<String>,
}

/// One login type and who checks it.
struct LoginTypeEntry {
    login_type: String,
    fields: Vec<String>,
    /// Indices into `Providers::providers`, in order.
    providers: Vec<usize>,
}

/// The providers in their order, with their login types. Cheap to share.
#[derive(Default)]
pub struct Providers {
    providers: Vec<Arc<dyn AuthProvider>>,
    login_types: Vec<LoginTypeEntry>,
    /// `jwt_config`, when enabled.
    pub(crate) jwt: Option<jwt::JwtVerifier>,
}

impl Providers {
    /// The providers of `config` (`modules:` in order, then `extra` in
    /// order) and its `jwt_config`; `rest_backend` makes the backend of
    /// each REST provider (the adapter, given by `server.rs`). Fails on a
    /// bad key or conflicting login types.
    pub fn from_config(
        config: &Config,
        extra: Vec<Arc<dyn AuthProvider>>,
        rest_backend: &rest::MakeRestBackend,
    ) -> Result<Self, String> {
        let mut providers: Vec<Arc<dyn AuthProvider>> = Vec::new();
        let server_name = config.server_name.as_str();
        for module in &config.modules {
            match module {
                ModuleConfig::Ldap(c) => {
                    providers.push(Arc::new(ldap::LdapProvider::new(c, server_name)?))
                }
                ModuleConfig::Rest(c) => providers.push(Arc::new(rest::RestProvider::new(
                    c,
                    server_name,
                    rest_backend(c)?,
                ))),
            }
        }
        providers.extend(extra);
        let mut registry = Providers::new(providers).map_err(|e| e.to_string())?;
        if let Some(c) = &config.jwt {
            registry.jwt = Some(jwt::JwtVerifier::new(c)?);
        }
        Ok(registry)
    }

    /// The registry of `providers`, asked in this order. Fails when two of
    /// them declare one login type with different fields.
    pub fn new(providers: Vec<Arc<dyn AuthProvider>>) -> Result<Self, ConflictingLoginType> {
        let mut login_types: Vec<LoginTypeEntry> = Vec::new();
        for (index, provider) in providers.iter().enumerate() {
            for checker in provider.auth_checkers() {
                match login_types
                    .iter_mut()
                    .find(|e| e.login_type == checker.login_type)
                {
                    Some(entry) => {
                        let a: BTreeSet<&String> = entry.fields.iter().collect();
                        let b: BTreeSet<&String> = checker.fields.iter().collect();
                        if a != b {
                            return Err(ConflictingLoginType {
                                login_type: checker.login_type,
                                first: providers[entry.providers[0]].name().to_owned(),
                                first_fields: entry.fields.clone(),
                                second: provider.name().to_owned(),
                                second_fields: checker.fields,
                            });
                        }
                        if !entry.providers.contains(&index) {
                            entry.providers.push(index);
                        }
                    }
                    None => login_types.push(LoginTypeEntry {
                        login_type: checker.login_type,
                        fields: checker.fields,
                        providers: vec![index],
                    }),
                }
            }
        }
        Ok(Providers {
            providers,
            login_types,
            jwt: None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// The login types the providers check, in registration order.
    pub fn login_types(&self) -> impl Iterator<Item = &str> {
        self.login_types.iter().map(|e| e.login_type.as_str())
    }

    /// The login types offered for re-authentication.
    pub(crate) fn reauth_login_types(&self) -> impl Iterator<Item = &str> {
        self.login_types
            .iter()
            .filter(|e| {
                e.providers
                    .iter()
                    .any(|&i| self.providers[i].offers_reauth())
            })
            .map(|e| e.login_type.as_str())
    }

    /// The fields `login_type` requires, if a provider checks it.
    pub fn fields(&self, login_type: &str) -> Option<&[String]> {
        self.login_types
            .iter()
            .find(|e| e.login_type == login_type)
            .map(|e| e.fields.as_slice())
    }

    /// Runs one provider call under its timeout; an error or a timeout is
    /// logged and gives `None`.
    async fn call<T>(
        &self,
        provider: &dyn AuthProvider,
        what: &str,
        fut: impl Future<Output = ProviderResult<T>>,
    ) -> Option<T> {
        let timeout = provider.timeout();
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                tracing::warn!(provider = provider.name(), "{what} failed, skipped: {e}");
                None
            }
            Err(_) => {
                tracing::warn!(
                    provider = provider.name(),
                    timeout_ms = timeout.as_millis() as u64,
                    "{what} timed out, skipped"
                );
                None
            }
        }
    }

    /// Asks the providers of `login_type` in order; the first success wins.
    pub async fn check_auth(
        &self,
        user: &str,
        login_type: &str,
        login_dict: &Map<String, Value>,
    ) -> Option<Authenticated> {
        let entry = self
            .login_types
            .iter()
            .find(|e| e.login_type == login_type)?;
        for &i in &entry.providers {
            let p = self.providers[i].as_ref();
            let fut = p.check_auth(user, login_type, login_dict);
            if let Some(Some(found)) = self.call(p, "check_auth", fut).await {
                return Some(found);
            }
        }
        None
    }

    /// Asks every provider's `check_3pid_auth` in order.
    pub async fn check_3pid_auth(
        &self,
        medium: &str,
        address: &str,
        password: &str,
    ) -> Option<Authenticated> {
        for p in &self.providers {
            let fut = p.check_3pid_auth(medium, address, password);
            if let Some(Some(found)) = self.call(p.as_ref(), "check_3pid_auth", fut).await {
                return Some(found);
            }
        }
        None
    }

    /// Tells every provider about ended sessions: one call per device (or
    /// one with no device when the token had none). A provider's calls
    /// share one timeout, so many devices cannot multiply a slow one's wait.
    pub async fn on_logged_out(
        &self,
        user_id: &str,
        device_ids: &[Option<&str>],
        access_token: Option<&str>,
    ) {
        for p in &self.providers {
            let all = async {
                for device in device_ids {
                    if let Err(e) = p.on_logged_out(user_id, *device, access_token).await {
                        tracing::warn!(provider = p.name(), "on_logged_out failed: {e}");
                    }
                }
                Ok(())
            };
            self.call(p.as_ref(), "on_logged_out", all).await;
        }
    }

    /// The first localpart a provider chooses for a registration.
    pub async fn username_for_registration(
        &self,
        uia_results: &Map<String, Value>,
        params: &Map<String, Value>,
    ) -> Option<String> {
        for p in &self.providers {
            let fut = p.get_username_for_registration(uia_results, params);
            if let Some(Some(name)) = self.call(p.as_ref(), "get_username", fut).await {
                return Some(name);
            }
        }
        None
    }

    /// The first display name a provider chooses for a registration.
    pub async fn displayname_for_registration(
        &self,
        uia_results: &Map<String, Value>,
        params: &Map<String, Value>,
    ) -> Option<String> {
        for p in &self.providers {
            let fut = p.get_displayname_for_registration(uia_results, params);
            if let Some(Some(name)) = self.call(p.as_ref(), "get_displayname", fut).await {
                return Some(name);
            }
        }
        None
    }

    /// Whether every provider allows this 3PID. A provider that errors or
    /// times out refuses (the check fails closed).
    pub async fn is_3pid_allowed(&self, medium: &str, address: &str, registration: bool) -> bool {
        for p in &self.providers {
            let fut = p.is_3pid_allowed(medium, address, registration);
            if self.call(p.as_ref(), "is_3pid_allowed", fut).await != Some(true) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Declares(&'static str, Vec<AuthChecker>);

    #[async_trait::async_trait]
    impl AuthProvider for Declares {
        fn name(&self) -> &str {
            self.0
        }
        fn auth_checkers(&self) -> Vec<AuthChecker> {
            self.1.clone()
        }
    }

    fn declares(name: &'static str, checkers: &[(&str, &[&str])]) -> Arc<dyn AuthProvider> {
        Arc::new(Declares(
            name,
            checkers
                .iter()
                .map(|(t, f)| AuthChecker::new(*t, f))
                .collect(),
        ))
    }

    #[test]
    fn one_login_type_with_different_fields_is_refused() {
        let err = Providers::new(vec![
            declares("a", &[("my.type", &["x"])]),
            declares("b", &[("my.type", &["x", "y"])]),
        ])
        .err()
        .expect("conflict");
        assert_eq!(err.login_type, "my.type");
        assert_eq!((err.first.as_str(), err.second.as_str()), ("a", "b"));
        assert!(err.to_string().contains("my.type"), "{err}");
    }

    #[test]
    fn same_fields_in_another_order_share_the_type() {
        let p = Providers::new(vec![
            declares("a", &[("my.type", &["x", "y"]), ("other", &[])]),
            declares("b", &[("my.type", &["y", "x"])]),
        ])
        .expect("no conflict");
        assert_eq!(p.login_types().collect::<Vec<_>>(), ["my.type", "other"]);
        assert_eq!(p.login_types[0].providers, [0, 1]);
        assert_eq!(p.fields("my.type").unwrap(), ["x", "y"]);
        assert!(p.fields("nope").is_none());
    }
}
