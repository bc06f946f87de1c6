//! The token endpoint's refusals ([`TokenError`]) as RFC 6749 §5.2 JSON.
//! (The authorization's refusals are pages or redirects, rendered by
//! `http/routes/oauth_pages.rs`.)

use super::oauth::OAuthErrorResponse;
use crate::auth::oauth::token::TokenError;
use crate::auth::session::SessionError;
use axum::http::StatusCode;

impl From<TokenError> for OAuthErrorResponse {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::InvalidRequest(d) => OAuthErrorResponse::invalid_request(d),
            TokenError::InvalidGrant(d) => {
                OAuthErrorResponse::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
            }
            TokenError::UnsupportedGrantType => OAuthErrorResponse::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Supported grant types: authorization_code, refresh_token, \
                 urn:ietf:params:oauth:grant-type:device_code",
            ),
            TokenError::UnauthorizedClient => OAuthErrorResponse::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "The client did not register this grant type",
            ),
            TokenError::InvalidScope(d) => {
                OAuthErrorResponse::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
            }
            TokenError::AuthorizationPending => OAuthErrorResponse::new(
                StatusCode::BAD_REQUEST,
                "authorization_pending",
                "The user has not decided yet",
            ),
            TokenError::SlowDown => OAuthErrorResponse::new(
                StatusCode::BAD_REQUEST,
                "slow_down",
                "Polled faster than the interval: wait 5 seconds more between polls",
            ),
            TokenError::AccessDenied => OAuthErrorResponse::new(
                StatusCode::BAD_REQUEST,
                "access_denied",
                "The user declined",
            ),
            TokenError::ExpiredToken => OAuthErrorResponse::new(
                StatusCode::BAD_REQUEST,
                "expired_token",
                "The device code expired: start again",
            ),
            TokenError::LimitExceeded(l) => l.into(),
            TokenError::Session(e) => e.into(),
            TokenError::Internal => OAuthErrorResponse::internal(),
        }
    }
}

/// Why no session was opened for a valid grant, as the token endpoint says
/// it: the grant cannot be used (`invalid_grant`), or try later.
impl From<SessionError> for OAuthErrorResponse {
    fn from(e: SessionError) -> Self {
        let grant = |d: &str| OAuthErrorResponse::new(StatusCode::BAD_REQUEST, "invalid_grant", d);
        match e {
            SessionError::LimitExceeded(l) => l.into(),
            SessionError::Blocked(_) => grant("The server refuses new sessions for this user"),
            SessionError::DisplayNameTooLong => grant("The client's name is too long for a device"),
            SessionError::HomeserverUnreachable => OAuthErrorResponse::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The homeserver could not be reached; try again",
            ),
            SessionError::Deactivated => grant("The account is deactivated"),
            SessionError::Locked => grant("The account is locked"),
            SessionError::CredentialsChanged => grant("The password changed; log in again"),
            SessionError::Internal => OAuthErrorResponse::internal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ratelimit::LimitExceeded;

    #[test]
    fn token_errors_render_as_rfc_6749() {
        let cases: Vec<(OAuthErrorResponse, u16, &str)> = vec![
            (
                TokenError::InvalidRequest("code is missing".into()).into(),
                400,
                "invalid_request",
            ),
            (
                TokenError::InvalidGrant("used".into()).into(),
                400,
                "invalid_grant",
            ),
            (
                TokenError::UnsupportedGrantType.into(),
                400,
                "unsupported_grant_type",
            ),
            (TokenError::Internal.into(), 500, "server_error"),
            (
                TokenError::UnauthorizedClient.into(),
                400,
                "unauthorized_client",
            ),
            (
                TokenError::InvalidScope("x".into()).into(),
                400,
                "invalid_scope",
            ),
            (
                TokenError::AuthorizationPending.into(),
                400,
                "authorization_pending",
            ),
            (TokenError::SlowDown.into(), 400, "slow_down"),
            (TokenError::AccessDenied.into(), 400, "access_denied"),
            (TokenError::ExpiredToken.into(), 400, "expired_token"),
            (
                TokenError::Session(SessionError::Deactivated).into(),
                400,
                "invalid_grant",
            ),
            (
                TokenError::Session(SessionError::Locked).into(),
                400,
                "invalid_grant",
            ),
            (
                TokenError::Session(SessionError::CredentialsChanged).into(),
                400,
                "invalid_grant",
            ),
            (
                TokenError::Session(SessionError::HomeserverUnreachable).into(),
                503,
                "temporarily_unavailable",
            ),
            (
                TokenError::Session(SessionError::LimitExceeded(LimitExceeded {
                    retry_after_ms: 1500,
                }))
                .into(),
                429,
                "temporarily_unavailable",
            ),
        ];
        for (got, status, error) in cases {
            assert_eq!((got.status.as_u16(), got.error), (status, error), "{got:?}");
            assert!(!got.description.is_empty());
        }
        let internal: OAuthErrorResponse = TokenError::Internal.into();
        assert_eq!(internal.description, "Internal server error");
    }
}
