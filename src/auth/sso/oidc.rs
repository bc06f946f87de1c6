//! The rules of talking to an upstream OpenID Connect provider: which
//! endpoints (discovery checked, the config's taking precedence), the
//! authorization URL, the code exchange, userinfo, and checking the
//! id_token (signature against the provider's JWKS, issuer, audience,
//! expiry, nonce). The HTTP calls go through [`UpstreamOidc`]
//! (`upstream.rs`); only URLs from the config or from the provider's own
//! discovery document are given to it.

use super::upstream::{TokenRequest, TokenResponse, UpstreamOidc};
use crate::config::oidc::{OidcProviderConfig, PkceMethod, UserProfileMethod};
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use super::upstream::ProviderError;

fn err(m: impl Into<String>) -> ProviderError {
    ProviderError(m.into())
}

/// The endpoints of a provider, from discovery and the config.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// How long a provider's discovery document and keys are kept in this
/// process before they are fetched again. A JWKS that lacks the key an
/// id_token names is fetched again at once (the provider rotated its keys).
const CACHE_FOR: Duration = Duration::from_secs(3600);

/// What was fetched from providers, per process: no request (an SSO
/// redirect, a callback) makes mxauth fetch a document it fetched within
/// [`CACHE_FOR`]. Keyed by what decides the document (bounded by the
/// config: one entry per provider).
struct Cache<T>(Mutex<BTreeMap<String, (Instant, T)>>);

impl<T: Clone> Cache<T> {
    const fn new() -> Self {
        Cache(Mutex::new(BTreeMap::new()))
    }

    fn get(&self, key: &str) -> Option<T> {
        let map = self.0.lock().ok()?;
        map.get(key)
            .filter(|(at, _)| at.elapsed() < CACHE_FOR)
            .map(|(_, v)| v.clone())
    }

    // A process-local cache's age (monotonic, an hour), not a time the
    // rules decide by.
    #[allow(clippy::disallowed_methods)]
    fn put(&self, key: String, value: T) {
        if let Ok(mut map) = self.0.lock() {
            map.retain(|_, (at, _)| at.elapsed() < CACHE_FOR);
            map.insert(key, (Instant::now(), value));
        }
    }
}

static METADATA: Cache<Metadata> = Cache::new();
static JWKS: Cache<JwkSet> = Cache::new();

/// The provider's endpoints (see [`fetch_metadata`]), from this process's
/// cache when fetched within the hour.
pub async fn metadata(
    upstream: &dyn UpstreamOidc,
    p: &OidcProviderConfig,
) -> Result<Metadata, ProviderError> {
    let key = format!(
        "{:?}",
        (
            &p.issuer,
            p.discover,
            p.skip_verification,
            &p.authorization_endpoint,
            &p.token_endpoint,
            &p.userinfo_endpoint,
            &p.jwks_uri
        )
    );
    if let Some(meta) = METADATA.get(&key) {
        return Ok(meta);
    }
    let meta = fetch_metadata(upstream, p).await?;
    METADATA.put(key, meta.clone());
    Ok(meta)
}

/// The provider's keys, from this process's cache unless `fresh`.
async fn jwks(
    upstream: &dyn UpstreamOidc,
    uri: &str,
    fresh: bool,
) -> Result<JwkSet, ProviderError> {
    if !fresh {
        if let Some(keys) = JWKS.get(uri) {
            return Ok(keys);
        }
    }
    let keys = upstream.jwks(uri).await?;
    JWKS.put(uri.to_owned(), keys.clone());
    Ok(keys)
}

/// The provider's endpoints: its discovery document (when `discover`),
/// with explicit endpoints from the config taking precedence.
async fn fetch_metadata(
    upstream: &dyn UpstreamOidc,
    p: &OidcProviderConfig,
) -> Result<Metadata, ProviderError> {
    let mut doc = if p.discover {
        upstream.discovery(&p.issuer).await?
    } else {
        Map::new()
    };
    if p.discover && !p.skip_verification {
        let issuer = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
        if issuer != p.issuer {
            return Err(err(format!(
                "the discovery document names issuer `{issuer}`, not `{}`",
                p.issuer
            )));
        }
    }
    doc.insert("issuer".into(), Value::String(p.issuer.clone()));
    for (key, value) in [
        ("authorization_endpoint", &p.authorization_endpoint),
        ("token_endpoint", &p.token_endpoint),
        ("userinfo_endpoint", &p.userinfo_endpoint),
        ("jwks_uri", &p.jwks_uri),
    ] {
        if let Some(v) = value {
            doc.insert(key.into(), Value::String(v.clone()));
        }
    }
    let meta: Metadata = serde_json::from_value(Value::Object(doc))
        .map_err(|e| err(format!("incomplete provider metadata: {e}")))?;
    if !p.skip_verification {
        for url in [
            Some(&meta.authorization_endpoint),
            Some(&meta.token_endpoint),
        ]
        .into_iter()
        .chain([meta.userinfo_endpoint.as_ref(), meta.jwks_uri.as_ref()])
        .flatten()
        {
            if !url.starts_with("https://") {
                return Err(err(format!("provider endpoint `{url}` is not https")));
            }
        }
    }
    Ok(meta)
}

/// Whether this login uses PKCE with S256.
pub fn uses_pkce(p: &OidcProviderConfig, meta: &Metadata) -> bool {
    match p.pkce_method {
        PkceMethod::Always => true,
        PkceMethod::Never => false,
        PkceMethod::Auto => meta
            .code_challenge_methods_supported
            .as_ref()
            .is_some_and(|m| m.iter().any(|x| x == "S256")),
    }
}

/// The S256 code challenge of a verifier.
pub fn code_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The URL the browser is sent to.
pub fn authorization_url(
    p: &OidcProviderConfig,
    meta: &Metadata,
    redirect_uri: &str,
    state: &str,
    nonce: &str,
    code_verifier: Option<&str>,
) -> Result<String, ProviderError> {
    let mut url = url::Url::parse(&meta.authorization_endpoint)
        .map_err(|e| err(format!("bad authorization_endpoint: {e}")))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &p.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &p.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("nonce", nonce);
        if let Some(v) = code_verifier {
            q.append_pair("code_challenge_method", "S256")
                .append_pair("code_challenge", &code_challenge(v));
        }
    }
    Ok(url.into())
}

/// Exchanges the authorization code at the token endpoint.
pub async fn exchange_code(
    upstream: &dyn UpstreamOidc,
    p: &OidcProviderConfig,
    meta: &Metadata,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
) -> Result<TokenResponse, ProviderError> {
    let token = upstream
        .token(&TokenRequest {
            token_endpoint: &meta.token_endpoint,
            client_id: &p.client_id,
            client_secret: p.client_secret.as_ref().map(|s| s.expose()).unwrap_or(""),
            auth_method: p.client_auth_method,
            code,
            redirect_uri,
            code_verifier,
        })
        .await?;
    if let Some(t) = &token.token_type {
        if !t.eq_ignore_ascii_case("bearer") {
            return Err(err(format!(
                "token endpoint: token_type `{t}` is not Bearer"
            )));
        }
    }
    Ok(token)
}

/// Whether the claims come from the userinfo endpoint rather than the
/// id_token (Synapse's rule).
pub fn uses_userinfo(p: &OidcProviderConfig) -> bool {
    !p.scopes.iter().any(|s| s == "openid")
        || p.user_profile_method == UserProfileMethod::UserinfoEndpoint
}

pub async fn fetch_userinfo(
    upstream: &dyn UpstreamOidc,
    meta: &Metadata,
    access_token: &str,
) -> Result<Map<String, Value>, ProviderError> {
    let url = meta
        .userinfo_endpoint
        .as_deref()
        .ok_or_else(|| err("the provider has no userinfo_endpoint"))?;
    upstream.userinfo(url, access_token).await
}

/// Checks an id_token and returns its claims: signature (the provider's
/// JWKS for asymmetric algorithms, the client secret for HS*), `iss`,
/// `aud`, `exp`/`iat` against `now_s` (with `leeway_s`), and `nonce`.
pub async fn verify_id_token(
    upstream: &dyn UpstreamOidc,
    p: &OidcProviderConfig,
    meta: &Metadata,
    id_token: &str,
    nonce: &str,
    now_s: i64,
) -> Result<Map<String, Value>, ProviderError> {
    const LEEWAY_S: i64 = 120;
    let header =
        jsonwebtoken::decode_header(id_token).map_err(|e| err(format!("id_token header: {e}")))?;
    let alg_name = format!("{:?}", header.alg);
    let allowed = p
        .id_token_signing_alg_values_supported
        .clone()
        .unwrap_or_else(|| vec!["RS256".to_owned()]);
    let symmetric = matches!(
        header.alg,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    );
    if !allowed.contains(&alg_name) {
        return Err(err(format!(
            "id_token signed with {alg_name}, which is not allowed"
        )));
    }
    let key = if symmetric {
        let secret = p
            .client_secret
            .as_ref()
            .ok_or_else(|| err("an HS* id_token needs a client_secret"))?;
        DecodingKey::from_secret(secret.expose().as_bytes())
    } else {
        let jwks_uri = meta
            .jwks_uri
            .as_deref()
            .ok_or_else(|| err("the provider has no jwks_uri"))?;
        let pick = |jwks: &JwkSet| {
            match &header.kid {
                Some(kid) => jwks.find(kid),
                None if jwks.keys.len() == 1 => jwks.keys.first(),
                None => None,
            }
            .cloned()
        };
        // A key missing from the cached set: the provider may have rotated.
        let jwk = match pick(&jwks(upstream, jwks_uri, false).await?) {
            Some(jwk) => jwk,
            None => pick(&jwks(upstream, jwks_uri, true).await?)
                .ok_or_else(|| err("no key of the JWKS matches the id_token"))?,
        };
        DecodingKey::from_jwk(&jwk).map_err(|e| err(format!("bad JWK: {e}")))?
    };
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[&p.client_id]);
    validation.set_issuer(&[&p.issuer]);
    // Time is checked below against the injected clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims = ["iss", "aud", "sub"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let data = jsonwebtoken::decode::<Map<String, Value>>(id_token, &key, &validation)
        .map_err(|e| err(format!("id_token: {e}")))?;
    let claims = data.claims;
    let exp = claims.get("exp").and_then(Value::as_i64);
    match exp {
        Some(exp) if exp + LEEWAY_S > now_s => {}
        _ => return Err(err("id_token has expired or has no exp")),
    }
    if let Some(iat) = claims.get("iat").and_then(Value::as_i64) {
        if iat - LEEWAY_S > now_s {
            return Err(err("id_token was issued in the future"));
        }
    }
    let got = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        got.as_bytes(),
        nonce.as_bytes(),
    )) {
        return Err(err("id_token nonce does not match"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sso::upstream::FakeUpstream;
    use serde_json::json;

    /// A provider block (`extra`: more YAML lines, indented by four).
    /// Every test has an issuer of its own: the caches are per process.
    fn provider(issuer: &str, extra: &str) -> OidcProviderConfig {
        let yaml = format!(
            "server_name: example.org\npublic_baseurl: https://matrix.example.org/\n\
             oidc_providers:\n  - idp_id: test\n    idp_name: Test\n    issuer: {issuer}\n    \
             client_id: mxauth\n    client_secret: s3cret\n    scopes: [openid]\n{extra}"
        );
        let loaded = crate::config::Config::from_yaml_str(&yaml, std::path::Path::new("t.yaml"))
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        loaded.config.oidc_providers[0].clone()
    }

    /// The log message of an answer that must have been refused.
    fn refused<T>(got: Result<T, ProviderError>, what: &str) -> String {
        match got {
            Ok(_) => panic!("accepted: {what}"),
            Err(e) => e.0,
        }
    }

    fn discovery(issuer: &str) -> Value {
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"),
            "userinfo_endpoint": format!("{issuer}/me"),
            "jwks_uri": format!("{issuer}/jwks"),
            "code_challenge_methods_supported": ["S256"],
        })
    }

    #[test]
    fn pkce_challenge_is_rfc7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[tokio::test]
    async fn discovery_is_fetched_once_and_the_configs_endpoints_win() {
        let issuer = "https://merge.idp.example";
        let p = provider(
            issuer,
            "    token_endpoint: https://merge.idp.example/other-token\n",
        );
        let fake = FakeUpstream {
            discovery: Some(discovery(issuer)),
            ..FakeUpstream::default()
        };
        let meta = metadata(&fake, &p).await.expect("metadata");
        assert_eq!(meta.token_endpoint, format!("{issuer}/other-token"));
        assert_eq!(meta.authorization_endpoint, format!("{issuer}/auth"));
        assert!(uses_pkce(&p, &meta), "S256 is listed");
        metadata(&fake, &p).await.expect("metadata again");
        assert_eq!(fake.calls(), [format!("discovery {issuer}")]);
    }

    #[tokio::test]
    async fn a_discovery_document_is_believed_only_for_its_issuer_over_https() {
        let issuer = "https://checked.idp.example";
        let p = provider(issuer, "");
        let mut doc = discovery(issuer);
        doc["issuer"] = json!("https://evil.example");
        let fake = FakeUpstream {
            discovery: Some(doc),
            ..FakeUpstream::default()
        };
        let e = refused(metadata(&fake, &p).await, "another issuer");
        assert!(e.contains("names issuer `https://evil.example`"), "{e}");

        let issuer = "https://plain.idp.example";
        let p = provider(issuer, "");
        let mut doc = discovery(issuer);
        doc["userinfo_endpoint"] = json!("http://plain.idp.example/me");
        let fake = FakeUpstream {
            discovery: Some(doc),
            ..FakeUpstream::default()
        };
        let e = refused(metadata(&fake, &p).await, "an http endpoint");
        assert!(e.contains("is not https"), "{e}");
    }

    #[tokio::test]
    async fn the_code_exchange_sends_the_verifier_and_wants_a_bearer_token() {
        let issuer = "https://token.idp.example";
        let p = provider(issuer, "");
        let mut fake = FakeUpstream {
            discovery: Some(discovery(issuer)),
            token: Some(json!({"access_token": "at", "token_type": "MAC"})),
            ..FakeUpstream::default()
        };
        let meta = metadata(&fake, &p).await.expect("metadata");
        let cb = "https://matrix.example.org/_synapse/client/oidc/callback";
        let e = refused(
            exchange_code(&fake, &p, &meta, "c0de", cb, Some("v3rifier")).await,
            "not Bearer",
        );
        assert!(e.contains("token_type `MAC` is not Bearer"), "{e}");
        assert_eq!(
            fake.calls().last().map(String::as_str),
            Some("token https://token.idp.example/token code=c0de verifier=v3rifier")
        );
        fake.token = Some(json!({"access_token": "at", "token_type": "bearer"}));
        let token = exchange_code(&fake, &p, &meta, "c0de", cb, None)
            .await
            .expect("a bearer token");
        assert_eq!(token.access_token.as_deref(), Some("at"));
    }

    #[tokio::test]
    async fn an_hs256_id_token_is_checked_against_the_client_secret_and_the_nonce() {
        let issuer = "https://hs.idp.example";
        let p = provider(
            issuer,
            "    id_token_signing_alg_values_supported: [HS256]\n",
        );
        let fake = FakeUpstream {
            discovery: Some(discovery(issuer)),
            ..FakeUpstream::default()
        };
        let meta = metadata(&fake, &p).await.expect("metadata");
        let now_s = 1_700_000_000;
        let sign = |claims: Value| {
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(Algorithm::HS256),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(b"s3cret"),
            )
            .expect("signed")
        };
        let claims = |exp: i64| {
            json!({
                "iss": issuer, "aud": "mxauth", "sub": "alice",
                "iat": now_s, "exp": exp, "nonce": "n0nce",
            })
        };
        let good = sign(claims(now_s + 60));
        let got = verify_id_token(&fake, &p, &meta, &good, "n0nce", now_s)
            .await
            .expect("a good id_token");
        assert_eq!(got["sub"], "alice");
        let e = refused(
            verify_id_token(&fake, &p, &meta, &good, "other", now_s).await,
            "another nonce",
        );
        assert!(e.contains("nonce"), "{e}");
        let expired = sign(claims(now_s - 121));
        let e = refused(
            verify_id_token(&fake, &p, &meta, &expired, "n0nce", now_s).await,
            "expired beyond the leeway",
        );
        assert!(e.contains("expired"), "{e}");
        // The secret is the key: no JWKS was asked for.
        assert_eq!(fake.calls(), [format!("discovery {issuer}")]);
    }

    #[tokio::test]
    async fn a_key_missing_from_the_cached_jwks_is_fetched_again_once() {
        let issuer = "https://rotated.idp.example";
        let p = provider(issuer, "");
        let fake = FakeUpstream {
            discovery: Some(discovery(issuer)),
            jwks: Some(json!({"keys": []})),
            ..FakeUpstream::default()
        };
        let meta = metadata(&fake, &p).await.expect("metadata");
        let b64 = |v: Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let token = format!(
            "{}.{}.c2ln",
            b64(json!({"alg": "RS256", "kid": "new"})),
            b64(json!({}))
        );
        let e = refused(
            verify_id_token(&fake, &p, &meta, &token, "n", 0).await,
            "no such key",
        );
        assert!(e.contains("no key of the JWKS"), "{e}");
        let jwks = format!("jwks {issuer}/jwks");
        assert_eq!(
            fake.calls(),
            [format!("discovery {issuer}"), jwks.clone(), jwks]
        );
    }
}
