//! An upstream OpenID Connect provider as the SSO rules see it: four HTTP
//! calls, made by `adapters/oidc.rs`. What is asked and whether an answer
//! is believed (discovery's issuer, https endpoints, the token type, the
//! id_token's signature and claims, userinfo's `sub`) is decided in
//! `oidc.rs` and `mod.rs`; an implementation only speaks HTTP and JSON.

use crate::config::oidc::ClientAuthMethod;
use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Why talking to the provider failed. The message is for the log only.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProviderError(pub String);

/// The token request of the authorization code flow (RFC 6749 4.1.3),
/// with how the client authenticates. (No `Debug`: it holds the secret.)
pub struct TokenRequest<'a> {
    pub token_endpoint: &'a str,
    pub client_id: &'a str,
    /// Empty when the provider config has none.
    pub client_secret: &'a str,
    pub auth_method: ClientAuthMethod,
    pub code: &'a str,
    pub redirect_uri: &'a str,
    /// PKCE (RFC 7636), when the login uses it.
    pub code_verifier: Option<&'a str>,
}

/// What the token endpoint answers. (No `Debug`: it holds tokens.)
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: Option<String>,
    pub token_type: Option<String>,
    pub id_token: Option<String>,
}

#[async_trait]
pub trait UpstreamOidc: Send + Sync + 'static {
    /// The discovery document at `<issuer>/.well-known/openid-configuration`
    /// (a JSON object, not yet checked).
    async fn discovery(&self, issuer: &str) -> Result<Map<String, Value>, ProviderError>;

    /// The provider's keys at `jwks_uri`.
    async fn jwks(&self, jwks_uri: &str) -> Result<JwkSet, ProviderError>;

    /// Exchanges the code: the answer of a token endpoint that said yes
    /// (its `token_type` not yet checked).
    async fn token(&self, request: &TokenRequest<'_>) -> Result<TokenResponse, ProviderError>;

    /// The claims at `userinfo_endpoint`, asked with the access token.
    async fn userinfo(
        &self,
        userinfo_endpoint: &str,
        access_token: &str,
    ) -> Result<Map<String, Value>, ProviderError>;
}

/// A provider in memory for tests of the rules: answers with what it was
/// given (a missing answer is an error) and notes every call.
#[cfg(test)]
#[derive(Default)]
pub struct FakeUpstream {
    pub discovery: Option<Value>,
    pub jwks: Option<Value>,
    pub token: Option<Value>,
    pub userinfo: Option<Value>,
    pub(crate) calls: std::sync::Mutex<Vec<String>>,
}

#[cfg(test)]
impl FakeUpstream {
    /// The calls so far: `discovery <issuer>`, `jwks <uri>`,
    /// `token <endpoint> code=<code> verifier=<verifier>`, `userinfo <url>`.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("not poisoned").clone()
    }

    fn answer<T: serde::de::DeserializeOwned>(
        &self,
        call: String,
        answer: &Option<Value>,
    ) -> Result<T, ProviderError> {
        self.calls.lock().expect("not poisoned").push(call.clone());
        let value = answer
            .clone()
            .ok_or_else(|| ProviderError(format!("{call}: no answer")))?;
        serde_json::from_value(value).map_err(|e| ProviderError(format!("{call}: {e}")))
    }
}

#[cfg(test)]
#[async_trait]
impl UpstreamOidc for FakeUpstream {
    async fn discovery(&self, issuer: &str) -> Result<Map<String, Value>, ProviderError> {
        self.answer(format!("discovery {issuer}"), &self.discovery)
    }

    async fn jwks(&self, jwks_uri: &str) -> Result<JwkSet, ProviderError> {
        self.answer(format!("jwks {jwks_uri}"), &self.jwks)
    }

    async fn token(&self, r: &TokenRequest<'_>) -> Result<TokenResponse, ProviderError> {
        let call = format!(
            "token {} code={} verifier={}",
            r.token_endpoint,
            r.code,
            r.code_verifier.unwrap_or("-")
        );
        self.answer(call, &self.token)
    }

    async fn userinfo(
        &self,
        userinfo_endpoint: &str,
        _access_token: &str,
    ) -> Result<Map<String, Value>, ProviderError> {
        self.answer(format!("userinfo {userinfo_endpoint}"), &self.userinfo)
    }
}
