//! The token endpoint's grants (RFC 6749 §4.1.3 and §6; the device code
//! grant is `device.rs`) and revocation (RFC 7009), on the one session model: a code becomes a session (a
//! device, an access token, a refresh token) exactly as a legacy login
//! does; a refresh token rotates as `/refresh`'s does; revoking either
//! token logs the device out.

use super::clients::OAuthClient;
use super::scope::{parse_scope, GrantScope};
use crate::auth::ratelimit::LimitExceeded;
use crate::auth::refresh::RefreshError;
use crate::auth::session::{OAuthBinding, SessionError, SessionOptions};
use crate::auth::tokens::hash_token;
use crate::auth::{Auth, Session};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Why the token endpoint refuses (each an RFC 6749 §5.2 error).
#[derive(Debug)]
pub enum TokenError {
    /// A parameter is missing or malformed (`invalid_request`).
    InvalidRequest(String),
    /// The code or refresh token is unknown, expired, used, of another
    /// client or redirect URI, or the PKCE verifier does not match
    /// (`invalid_grant`).
    InvalidGrant(String),
    UnsupportedGrantType,
    /// The client did not register the grant type it uses.
    UnauthorizedClient,
    /// The scope asked for is refused (`invalid_scope`).
    InvalidScope(String),
    /// The device grant's answers while it is not approved (RFC 8628
    /// §3.5): the user has not decided yet; the device polls too fast;
    /// the user declined; the codes expired.
    AuthorizationPending,
    SlowDown,
    AccessDenied,
    ExpiredToken,
    LimitExceeded(LimitExceeded),
    /// No session could be opened (blocked, deactivated, limited, the
    /// homeserver unreachable).
    Session(SessionError),
    Internal,
}

internal_error!(TokenError, store);

wrap_error!(SessionError => TokenError::Session, SessionError::Internal);

impl From<RefreshError> for TokenError {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::Internal => TokenError::Internal,
            RefreshError::Session(e) => TokenError::Session(e),
            RefreshError::UnknownToken | RefreshError::WrongClient => {
                TokenError::InvalidGrant("Unknown refresh token".into())
            }
            RefreshError::Expired => TokenError::InvalidGrant("The refresh token expired".into()),
            RefreshError::Reused => TokenError::InvalidGrant(
                "The refresh token was used already; the session has ended".into(),
            ),
        }
    }
}

/// What the token endpoint answers.
#[derive(Debug)]
pub struct Tokens {
    pub session: Session,
    pub id_token: Option<String>,
}

impl Auth {
    /// `grant_type=authorization_code`: the code (single use: a second use
    /// fails and ends the session the first one opened), issued to this
    /// client for this redirect URI, with the PKCE verifier of its challenge.
    pub async fn exchange_code(
        &self,
        client: &OAuthClient,
        code: Option<&str>,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> Result<Tokens, TokenError> {
        let code = code.ok_or_else(|| TokenError::InvalidRequest("code is missing".into()))?;
        let verifier = code_verifier
            .ok_or_else(|| TokenError::InvalidRequest("code_verifier is missing".into()))?;
        if !is_code_verifier(verifier) {
            return Err(TokenError::InvalidRequest(
                "code_verifier must be 43 to 128 unreserved characters".into(),
            ));
        }
        let now = self.now();
        let code_hash = hash_token(code);
        let Some(grant) = self
            .store
            .oauth_grants()
            .exchange_code(&code_hash, now)
            .await?
        else {
            // Used before: what that use opened ends too (RFC 6749 §4.1.2).
            if let Some(used) = self
                .store
                .oauth_grants()
                .get_grant_by_code(&code_hash)
                .await?
            {
                if let (Some(user), Some(device)) = (&used.user_id, &used.device_id) {
                    if used.exchanged_ts.is_some() {
                        tracing::warn!(user_id = %user, "an authorization code was used twice; its session ends");
                        self.end_session(user, device).await?;
                    }
                }
            }
            return Err(TokenError::InvalidGrant("Unknown or used code".into()));
        };
        let (Some(user_id), Some(auth_ts)) = (grant.user_id.clone(), grant.auth_ts) else {
            return Err(TokenError::InvalidGrant("Unknown or used code".into()));
        };
        if grant.client_id != client.client_id {
            return Err(TokenError::InvalidGrant(
                "The code was issued to another client".into(),
            ));
        }
        if redirect_uri != Some(grant.redirect_uri.as_str()) {
            return Err(TokenError::InvalidGrant(
                "redirect_uri is not the one of the authorization request".into(),
            ));
        }
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            challenge.as_bytes(),
            grant.code_challenge.as_bytes(),
        )) {
            return Err(TokenError::InvalidGrant(
                "The code_verifier does not match the code_challenge".into(),
            ));
        }
        let scope = parse_scope(&grant.scope)
            .map_err(|_| TokenError::InvalidGrant("Unknown or used code".into()))?;
        let session = self.open_grant_session(client, &user_id, &scope).await?;
        self.store
            .oauth_grants()
            .set_grant_device(&grant.grant_id, &session.device_id)
            .await?;
        let id_token = match scope.openid {
            true => Some(
                self.id_token(client, &user_id, grant.nonce.as_deref(), auth_ts, &session)
                    .await?,
            ),
            false => None,
        };
        Ok(Tokens { session, id_token })
    }

    /// The session of an approved grant: the device its scope names (its
    /// earlier tokens end: one device, one session), tokens bound to the
    /// client and scope, counted as a login of the user; none for a user
    /// locked or deactivated since the approval.
    pub(super) async fn open_grant_session(
        &self,
        client: &OAuthClient,
        user_id: &str,
        scope: &GrantScope,
    ) -> Result<Session, TokenError> {
        match self.store.users().get_user(user_id).await? {
            Some(user) if user.deactivated => return Err(SessionError::Deactivated.into()),
            Some(user) if user.locked => return Err(SessionError::Locked.into()),
            Some(_) => {}
            None => return Err(SessionError::Deactivated.into()),
        }
        let oauth = self.config.oauth.as_ref();
        let options = SessionOptions {
            refreshable: true,
            access_token_lifetime_ms: oauth.map(|o| o.access_token_lifetime_ms),
            refresh_token_lifetime_ms: oauth.and_then(|o| o.refresh_token_lifetime_ms),
            oauth: Some(OAuthBinding {
                client_id: client.client_id.clone(),
                scope: scope.as_string(),
            }),
        };
        self.store
            .devices()
            .delete_device_tokens(user_id, scope.device_id.as_str())
            .await?;
        let session = self
            .start_login_session(
                user_id,
                None,
                Some(scope.device_id.clone()),
                client.client_name.as_deref(),
                &options,
            )
            .await?;
        self.touch_oauth_client(&client.client_id).await?;
        Ok(session)
    }

    /// `grant_type=refresh_token`: rotation, as the client's own.
    pub async fn refresh_oauth(
        &self,
        client: &OAuthClient,
        refresh_token: Option<&str>,
    ) -> Result<Tokens, TokenError> {
        let token = refresh_token
            .ok_or_else(|| TokenError::InvalidRequest("refresh_token is missing".into()))?;
        let session = self.refresh_session(token, Some(&client.client_id)).await?;
        Ok(Tokens {
            session,
            id_token: None,
        })
    }

    /// RFC 7009: either token of a session ends it (the device is logged
    /// out). An unknown token is no error; a token of another client is
    /// left alone.
    pub async fn revoke_oauth_token(
        &self,
        client: &OAuthClient,
        token: &str,
    ) -> Result<(), TokenError> {
        let Some((user_id, device_id, owner)) = self.find_session_by_token(token).await? else {
            return Ok(());
        };
        if owner.as_deref() != Some(client.client_id.as_str()) {
            tracing::info!("a client asked to revoke a token that is not its own; ignored");
            return Ok(());
        }
        self.end_session(&user_id, &device_id).await?;
        Ok(())
    }

    pub(super) async fn id_token(
        &self,
        client: &OAuthClient,
        user_id: &str,
        nonce: Option<&str>,
        auth_ts: i64,
        session: &Session,
    ) -> Result<String, TokenError> {
        let now_s = self.now() / 1000;
        // at_hash: the left half of SHA-256 of the access token (OIDC §3.1.3.6).
        let digest = Sha256::digest(session.access_token.expose().as_bytes());
        let at_hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
        let mut claims = json!({
            "iss": self.oauth_issuer(),
            "sub": user_id,
            "aud": client.client_id,
            "iat": now_s,
            "exp": now_s + 3600,
            "auth_time": auth_ts / 1000,
            "at_hash": at_hash,
        });
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        self.sign_id_token(claims)
            .await
            .map_err(|_| TokenError::Internal)
    }
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn is_code_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_verifiers() {
        assert!(is_code_verifier(&"a".repeat(43)));
        assert!(is_code_verifier(&"a-._~".repeat(20)));
        assert!(!is_code_verifier(&"a".repeat(42)));
        assert!(!is_code_verifier(&"a".repeat(129)));
        assert!(!is_code_verifier(&format!("{}+", "a".repeat(43))));
    }
}
