//! The authorization code grant up to the code (RFC 6749 §4.1 with PKCE,
//! RFC 7636): `/authorize` checks the request and stores it as a grant
//! bound to the browser; the pages log the user in; consent approves (a
//! code goes back to the client's redirect URI) or declines
//! (`access_denied`). Errors before the redirect URI is trusted are shown
//! at mxauth; those after it go back to the client.

use super::clients::OAuthClient;
use super::scope::{parse_scope, GrantScope, ScopeError};
use crate::auth::ratelimit::{address_key, LimitExceeded, Limiter};
use crate::auth::tokens::hash_token;
use crate::auth::Auth;
use crate::clock::random_string;
use crate::store::OAuthGrant;

/// How long a user has from `/authorize` to exchanging the code.
pub const GRANT_LIFETIME_MS: i64 = 30 * 60 * 1000;
/// How long a code is good for once issued (RFC 6749 recommends at most
/// ten minutes).
pub const CODE_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// How long an expired grant's row is kept, so that a second use of its
/// code is recognised (and ends the session the first use opened).
pub const GRANT_KEPT_MS: i64 = 24 * 60 * 60 * 1000;
/// `state` and `nonce` are stored with the grant: bounded.
const MAX_PARAM_LEN: usize = 512;

/// The query of `/authorize`, as received.
#[derive(Debug, Default, Clone)]
pub struct AuthorizationRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
}

/// Where the browser goes with an answer for the client: the redirect URI
/// with the parameters in its query or fragment, and `state` echoed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRedirect {
    pub redirect_uri: String,
    pub response_mode: String,
    pub state: Option<String>,
}

impl ClientRedirect {
    /// The URL with `params`, `state` and `iss` (RFC 9207) added.
    pub fn location(&self, issuer: &str, params: &[(&str, &str)]) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            pairs.append_pair(k, v);
        }
        if let Some(state) = &self.state {
            pairs.append_pair("state", state);
        }
        pairs.append_pair("iss", issuer);
        let encoded = pairs.finish();
        let mut url = self.redirect_uri.clone();
        if self.response_mode == "fragment" {
            url.push('#');
        } else {
            url.push(if url.contains('?') { '&' } else { '?' });
        }
        url.push_str(&encoded);
        url
    }

    fn of(grant: &OAuthGrant) -> Self {
        ClientRedirect {
            redirect_uri: grant.redirect_uri.clone(),
            response_mode: grant.response_mode.clone(),
            state: grant.state.clone(),
        }
    }
}

/// Why `/authorize` or a page cannot go on.
#[derive(Debug)]
pub enum AuthorizeError {
    /// OAuth 2.0 is off.
    Disabled,
    /// No such client: shown at mxauth.
    UnknownClient,
    /// The redirect URI is missing or not one the client registered:
    /// shown at mxauth.
    BadRedirectUri,
    /// The grant does not exist, expired, or belongs to another browser:
    /// shown at mxauth.
    UnknownGrant,
    /// The request is bad in a way the client must hear of: back to its
    /// redirect URI with `error` (RFC 6749 §4.1.2.1).
    Redirect {
        to: ClientRedirect,
        error: &'static str,
        description: String,
    },
    /// `urn:synapse:admin:*` was asked for a user who is not an admin (a
    /// device grant, which has no redirect: shown at mxauth).
    AdminOnly,
    LimitExceeded(LimitExceeded),
    Internal,
}

internal_error!(AuthorizeError, store);

wrap_error!(LimitExceeded => AuthorizeError::LimitExceeded);

/// What the browser is shown next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextPage {
    Login,
    Register,
    Consent,
}

/// A checked, stored authorization request.
#[derive(Debug, Clone)]
pub struct StartedGrant {
    pub grant_id: String,
    pub next: NextPage,
}

/// A code for the client, and where the browser takes it.
#[derive(Debug)]
pub struct Approved {
    pub location: String,
}

impl Auth {
    /// `/authorize`: checks the request (client and redirect URI first,
    /// then everything the client must be told of) and stores the grant,
    /// bound to the browser whose cookie hashes to `binding_hash`.
    /// `logged_in`: the browser has a session already.
    pub async fn start_authorization(
        &self,
        req: AuthorizationRequest,
        binding_hash: &[u8],
        logged_in: bool,
        ip: Option<&str>,
    ) -> Result<StartedGrant, AuthorizeError> {
        if self.config.oauth.is_none() {
            return Err(AuthorizeError::Disabled);
        }
        let client_id = req
            .client_id
            .as_deref()
            .ok_or(AuthorizeError::UnknownClient)?;
        let client = self
            .oauth_client(client_id)
            .await?
            .ok_or(AuthorizeError::UnknownClient)?;
        let redirect_uri = match req.redirect_uri.as_deref() {
            Some(uri) if client.redirect_uri_allowed(uri) => uri.to_owned(),
            Some(_) => return Err(AuthorizeError::BadRedirectUri),
            // RFC 6749 §3.1.2.3: optional when exactly one is registered.
            None => match client.redirect_uris.as_slice() {
                [only] => only.clone(),
                _ => return Err(AuthorizeError::BadRedirectUri),
            },
        };
        let response_mode = req.response_mode.clone().unwrap_or_else(|| "query".into());
        let state = req.state.clone().filter(|s| !s.is_empty());
        let to = ClientRedirect {
            redirect_uri: redirect_uri.clone(),
            response_mode: if matches!(response_mode.as_str(), "query" | "fragment") {
                response_mode.clone()
            } else {
                "query".into()
            },
            state: state.clone(),
        };
        let refuse = |error: &'static str, description: &str| AuthorizeError::Redirect {
            to: to.clone(),
            error,
            description: description.to_owned(),
        };
        if !matches!(response_mode.as_str(), "query" | "fragment") {
            return Err(refuse(
                "invalid_request",
                "response_mode must be query or fragment",
            ));
        }
        match req.response_type.as_deref() {
            Some("code") => {}
            None => return Err(refuse("invalid_request", "response_type is missing")),
            Some(_) => {
                return Err(refuse(
                    "unsupported_response_type",
                    "Only response_type=code is supported",
                ))
            }
        }
        if state.as_ref().is_some_and(|s| s.len() > MAX_PARAM_LEN)
            || req.nonce.as_ref().is_some_and(|s| s.len() > MAX_PARAM_LEN)
        {
            return Err(refuse("invalid_request", "state or nonce is too long"));
        }
        let challenge = match (
            req.code_challenge.as_deref(),
            req.code_challenge_method.as_deref(),
        ) {
            (Some(c), Some("S256")) if is_s256_challenge(c) => c.to_owned(),
            (Some(_), Some("S256")) => {
                return Err(refuse("invalid_request", "code_challenge is malformed"))
            }
            (None, _) => {
                return Err(refuse(
                    "invalid_request",
                    "PKCE is required: code_challenge is missing",
                ))
            }
            (Some(_), _) => {
                return Err(refuse(
                    "invalid_request",
                    "code_challenge_method must be S256",
                ))
            }
        };
        let scope = parse_scope(req.scope.as_deref().unwrap_or(""))
            .map_err(|e: ScopeError| refuse("invalid_scope", &e.to_string()))?;
        let prompt = req.prompt.clone().filter(|p| !p.is_empty());
        let next = match prompt.as_deref() {
            None | Some("login") | Some("consent") => {
                if logged_in && prompt.as_deref() != Some("login") {
                    NextPage::Consent
                } else {
                    NextPage::Login
                }
            }
            Some("create") => NextPage::Register,
            Some("none") => {
                return Err(refuse(
                    if logged_in {
                        "consent_required"
                    } else {
                        "login_required"
                    },
                    "prompt=none is not supported: the user must see the consent page",
                ))
            }
            Some(_) => return Err(refuse("invalid_request", "Unsupported prompt value")),
        };
        // Each request is a row: bounded per address, and swept on expiry.
        self.ratelimit(Limiter::OAuthAuthorize, address_key(ip))
            .await??;
        let now = self.now();
        let grant = OAuthGrant {
            grant_id: random_string(self.rng.as_ref(), 24),
            client_id: client.client_id.clone(),
            redirect_uri,
            response_mode,
            scope: scope.as_string(),
            state,
            nonce: req.nonce.clone(),
            code_challenge: challenge,
            prompt,
            browser_binding_hash: binding_hash.to_vec(),
            created_ts: now,
            expires_ts: now + GRANT_LIFETIME_MS,
            user_id: None,
            auth_ts: None,
            code_hash: None,
            exchanged_ts: None,
            device_id: None,
        };
        self.store.oauth_grants().create_grant(&grant).await?;
        Ok(StartedGrant {
            grant_id: grant.grant_id,
            next,
        })
    }

    /// The grant a page continues, if it is this browser's, not expired,
    /// not approved yet; with its client.
    pub async fn grant_for_browser(
        &self,
        grant_id: &str,
        binding_hash: &[u8],
    ) -> Result<(OAuthGrant, OAuthClient, GrantScope), AuthorizeError> {
        let grant = self
            .store
            .oauth_grants()
            .get_grant(grant_id, self.now())
            .await?
            .filter(|g| g.code_hash.is_none())
            .filter(|g| {
                bool::from(subtle::ConstantTimeEq::ct_eq(
                    g.browser_binding_hash.as_slice(),
                    binding_hash,
                ))
            })
            .ok_or(AuthorizeError::UnknownGrant)?;
        let (client, scope) = self
            .grant_client_and_scope(&grant.client_id, &grant.scope)
            .await?;
        Ok((grant, client, scope))
    }

    /// The client and the checked scope of a stored grant (either kind).
    pub(super) async fn grant_client_and_scope(
        &self,
        client_id: &str,
        scope: &str,
    ) -> Result<(OAuthClient, GrantScope), AuthorizeError> {
        let client = self
            .oauth_client(client_id)
            .await?
            .ok_or(AuthorizeError::UnknownClient)?;
        let scope = parse_scope(scope).map_err(|_| AuthorizeError::UnknownGrant)?;
        Ok((client, scope))
    }

    /// The grant now belongs to the browser with the new cookie (set at
    /// login).
    pub async fn rebind_grant(
        &self,
        grant_id: &str,
        binding_hash: &[u8],
    ) -> crate::store::StoreResult<()> {
        self.store
            .oauth_grants()
            .rebind_grant(grant_id, binding_hash)
            .await
    }

    /// The user approved: a code for the client. An admin scope is granted
    /// to admins only (`invalid_scope` for anyone else).
    pub async fn approve_grant(
        &self,
        grant: &OAuthGrant,
        scope: &GrantScope,
        user_id: &str,
        auth_ts: i64,
    ) -> Result<Approved, AuthorizeError> {
        let to = ClientRedirect::of(grant);
        if scope.admin {
            let admin = self
                .store
                .users()
                .get_user(user_id)
                .await?
                .is_some_and(|u| u.admin);
            if !admin {
                self.store
                    .oauth_grants()
                    .delete_grant(&grant.grant_id)
                    .await?;
                return Err(AuthorizeError::Redirect {
                    to,
                    error: "invalid_scope",
                    description: "urn:synapse:admin:* is granted to server admins only".into(),
                });
            }
        }
        let code = random_string(self.rng.as_ref(), 32);
        if !self
            .store
            .oauth_grants()
            .approve_grant(
                &grant.grant_id,
                user_id,
                auth_ts,
                &hash_token(&code),
                self.now() + CODE_LIFETIME_MS,
            )
            .await?
        {
            return Err(AuthorizeError::UnknownGrant);
        }
        Ok(Approved {
            location: to.location(&self.oauth_issuer(), &[("code", &code)]),
        })
    }

    /// The user declined: `access_denied` for the client; the grant goes.
    pub async fn decline_grant(&self, grant: &OAuthGrant) -> Result<String, AuthorizeError> {
        self.store
            .oauth_grants()
            .delete_grant(&grant.grant_id)
            .await?;
        Ok(ClientRedirect::of(grant).location(
            &self.oauth_issuer(),
            &[
                ("error", "access_denied"),
                ("error_description", "The user declined"),
            ],
        ))
    }

    /// Sweeps grants long expired and browser sessions expired.
    pub async fn sweep_oauth_grants(&self) -> crate::store::StoreResult<u64> {
        let now = self.now();
        self.store
            .oauth_grants()
            .sweep_oauth_grants(now - GRANT_KEPT_MS, now)
            .await
    }

    /// The issuer every answer names (`public_baseurl`).
    pub fn oauth_issuer(&self) -> String {
        self.oauth().map(|o| o.issuer.clone()).unwrap_or_default()
    }
}

/// A PKCE S256 challenge: BASE64URL(SHA-256(verifier)), 43 characters.
fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(mode: &str, uri: &str) -> ClientRedirect {
        ClientRedirect {
            redirect_uri: uri.into(),
            response_mode: mode.into(),
            state: Some("s t&".into()),
        }
    }

    #[test]
    fn query_and_fragment_responses() {
        assert_eq!(
            redirect("query", "https://app.example/cb")
                .location("https://auth/", &[("code", "c1")]),
            "https://app.example/cb?code=c1&state=s+t%26&iss=https%3A%2F%2Fauth%2F"
        );
        assert_eq!(
            redirect("query", "https://app.example/cb?x=1").location("i", &[("code", "c")]),
            "https://app.example/cb?x=1&code=c&state=s+t%26&iss=i"
        );
        assert_eq!(
            redirect("fragment", "org.example.app:/cb").location("i", &[("code", "c")]),
            "org.example.app:/cb#code=c&state=s+t%26&iss=i"
        );
    }

    #[test]
    fn s256_challenges() {
        assert!(is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"
        ));
        assert!(!is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
    }
}
