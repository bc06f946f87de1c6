//! The authorization server metadata (RFC 8414, and OpenID Connect
//! Discovery's fields): what `GET /_matrix/client/v1/auth_metadata` and
//! `/.well-known/openid-configuration` answer with the OAuth 2.0 API on.
//! Every endpoint is under `public_baseurl` (the issuer).

use super::clients::{SUPPORTED_GRANT_TYPES, SUPPORTED_RESPONSE_TYPES};
use super::keys::SIGNING_ALGS;
use super::ClientAuthMethod;
use crate::auth::Auth;

/// The scopes a client may ask for (the spec's and their MSC2967 aliases;
/// a device scope names its device in place of `*`).
pub const SCOPES_SUPPORTED: &[&str] = &[
    "openid",
    "urn:matrix:client:api:*",
    "urn:matrix:org.matrix.msc2967.client:api:*",
    "urn:matrix:client:device:*",
    "urn:matrix:org.matrix.msc2967.client:device:*",
    "urn:synapse:admin:*",
];

/// The claims an id_token may carry.
pub const CLAIMS_SUPPORTED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "iat",
    "exp",
    "nonce",
    "auth_time",
    "at_hash",
    "c_hash",
];

/// The metadata document, typed; `http/routes/oauth.rs` writes its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// RFC 8628's device authorization endpoint.
    pub device_authorization_endpoint: String,
    pub revocation_endpoint: String,
    /// `None` with `dynamic_registration: false`.
    pub registration_endpoint: Option<String>,
    pub jwks_uri: String,
    pub userinfo_endpoint: String,
    pub introspection_endpoint: String,
    pub account_management_uri: String,
    /// The account pages' actions (`auth/manage.rs`).
    pub account_management_actions_supported: Vec<&'static str>,
    pub response_types_supported: &'static [&'static str],
    pub grant_types_supported: &'static [&'static str],
    pub response_modes_supported: &'static [&'static str],
    pub code_challenge_methods_supported: &'static [&'static str],
    pub prompt_values_supported: &'static [&'static str],
    /// RFC 9207: every authorization response names the issuer (`iss`).
    pub authorization_response_iss_parameter_supported: bool,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub scopes_supported: &'static [&'static str],
    pub subject_types_supported: &'static [&'static str],
    pub id_token_signing_alg_values_supported: &'static [&'static str],
    pub claims_supported: &'static [&'static str],
    pub claim_types_supported: &'static [&'static str],
}

impl Auth {
    /// The metadata document; `None` when the OAuth 2.0 API is off.
    pub fn auth_metadata(&self) -> Option<AuthMetadata> {
        let oauth = self.oauth()?;
        let discovery = self.openid_configuration()?;
        let base = oauth.issuer.as_str();
        let methods: Vec<&'static str> = ClientAuthMethod::ALL.iter().map(|m| m.as_str()).collect();
        Some(AuthMetadata {
            issuer: base.to_owned(),
            authorization_endpoint: format!("{base}authorize"),
            token_endpoint: format!("{base}oauth2/token"),
            device_authorization_endpoint: format!("{base}oauth2/device"),
            revocation_endpoint: format!("{base}oauth2/revoke"),
            registration_endpoint: oauth
                .dynamic_registration
                .then(|| format!("{base}oauth2/registration")),
            jwks_uri: format!("{base}oauth2/keys.json"),
            userinfo_endpoint: format!("{base}oauth2/userinfo"),
            introspection_endpoint: discovery.introspection_endpoint,
            account_management_uri: discovery.account_management_uri,
            account_management_actions_supported: self.account_management_actions(),
            response_types_supported: SUPPORTED_RESPONSE_TYPES,
            grant_types_supported: SUPPORTED_GRANT_TYPES,
            response_modes_supported: &["query", "fragment"],
            code_challenge_methods_supported: &["S256"],
            prompt_values_supported: &["create"],
            authorization_response_iss_parameter_supported: true,
            token_endpoint_auth_methods_supported: methods.clone(),
            revocation_endpoint_auth_methods_supported: methods,
            scopes_supported: SCOPES_SUPPORTED,
            subject_types_supported: &["public"],
            id_token_signing_alg_values_supported: SIGNING_ALGS,
            claims_supported: CLAIMS_SUPPORTED,
            claim_types_supported: &["normal"],
        })
    }
}
