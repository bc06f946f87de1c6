//! Talking to an upstream OpenID Connect provider: discovery, the
//! authorization URL, the code exchange, userinfo, and checking the
//! id_token (signature against the provider's JWKS, issuer, audience,
//! expiry, nonce). Only URLs from the config or from the provider's own
//! discovery document are contacted.

use crate::config::oidc::{ClientAuthMethod, OidcProviderConfig, PkceMethod, UserProfileMethod};
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Why talking to the provider failed. The message is for the log only.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProviderError(pub String);

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

/// One HTTP client for every provider: no redirects followed, short timeouts.
#[allow(clippy::disallowed_methods)] // upstream OIDC's one client
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("mxauth/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    })
}

async fn get_json(url: &str, bearer: Option<&str>) -> Result<Value, ProviderError> {
    let mut req = client().get(url).header("accept", "application/json");
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
pub async fn metadata(p: &OidcProviderConfig) -> Result<Metadata, ProviderError> {
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
    let meta = fetch_metadata(p).await?;
    METADATA.put(key, meta.clone());
    Ok(meta)
}

/// The provider's keys, from this process's cache unless `fresh`.
async fn jwks(uri: &str, fresh: bool) -> Result<JwkSet, ProviderError> {
    if !fresh {
        if let Some(keys) = JWKS.get(uri) {
            return Ok(keys);
        }
    }
    let keys: JwkSet = serde_json::from_value(get_json(uri, None).await?)
        .map_err(|e| err(format!("bad JWKS: {e}")))?;
    JWKS.put(uri.to_owned(), keys.clone());
    Ok(keys)
}

/// The provider's endpoints: its discovery document (when `discover`),
/// with explicit endpoints from the config taking precedence.
async fn fetch_metadata(p: &OidcProviderConfig) -> Result<Metadata, ProviderError> {
    let mut doc = if p.discover {
        let url = format!(
            "{}/.well-known/openid-configuration",
            p.issuer.trim_end_matches('/')
        );
        match get_json(&url, None).await? {
            Value::Object(m) => m,
            _ => return Err(err("the discovery document is not a JSON object")),
        }
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

/// What the token endpoint answers. (No `Debug`: it holds tokens.)
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: Option<String>,
    pub token_type: Option<String>,
    pub id_token: Option<String>,
}

/// Exchanges the authorization code at the token endpoint.
pub async fn exchange_code(
    p: &OidcProviderConfig,
    meta: &Metadata,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
) -> Result<TokenResponse, ProviderError> {
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(v) = code_verifier {
        form.push(("code_verifier", v));
    }
    let secret = p.client_secret.as_ref().map(|s| s.expose()).unwrap_or("");
    let mut req = client()
        .post(&meta.token_endpoint)
        .header("accept", "application/json");
    match p.client_auth_method {
        ClientAuthMethod::ClientSecretBasic => {
            // RFC 6749 2.3.1: both parts form-urlencoded before Basic.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(&p.client_id), Some(enc(secret)));
        }
        ClientAuthMethod::ClientSecretPost => {
            form.push(("client_id", &p.client_id));
            form.push(("client_secret", secret));
        }
        ClientAuthMethod::None => form.push(("client_id", &p.client_id)),
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
    let token: TokenResponse =
        serde_json::from_value(body).map_err(|e| err(format!("token endpoint: {e}")))?;
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
    meta: &Metadata,
    access_token: &str,
) -> Result<Map<String, Value>, ProviderError> {
    let url = meta
        .userinfo_endpoint
        .as_deref()
        .ok_or_else(|| err("the provider has no userinfo_endpoint"))?;
    match get_json(url, Some(access_token)).await? {
        Value::Object(m) => Ok(m),
        _ => Err(err("userinfo is not a JSON object")),
    }
}

/// Checks an id_token and returns its claims: signature (the provider's
/// JWKS for asymmetric algorithms, the client secret for HS*), `iss`,
/// `aud`, `exp`/`iat` against `now_s` (with `leeway_s`), and `nonce`.
pub async fn verify_id_token(
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
        let jwk = match pick(&jwks(jwks_uri, false).await?) {
            Some(jwk) => jwk,
            None => pick(&jwks(jwks_uri, true).await?)
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

    #[test]
    fn pkce_challenge_is_rfc7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
