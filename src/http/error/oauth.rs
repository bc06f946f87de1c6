//! The OAuth 2.0 endpoints' errors: [`OAuthErrorResponse`], RFC 6749's
//! JSON (`{"error", "error_description"}`, `Cache-Control: no-store`),
//! and the OAuth areas' refusals mapped into it with `From` (RFC 6749 5.2
//! for client authentication, RFC 7591 3.2.2 for registration).

use crate::auth::oauth::{ClientAuthError, RegistrationError};
use crate::auth::ratelimit::LimitExceeded;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An RFC 6749 error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthErrorResponse {
    pub status: StatusCode,
    /// RFC 6749's code (`invalid_request`, `invalid_client`, ...).
    pub error: &'static str,
    /// `error_description`: for the developer, never a secret.
    pub description: String,
    /// A `Retry-After` in seconds (429).
    pub retry_after_secs: Option<u64>,
}

impl OAuthErrorResponse {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthErrorResponse {
            status,
            error,
            description: description.into(),
            retry_after_secs: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// A bare 500 (the cause was logged where it happened).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Internal server error",
        )
    }
}

impl IntoResponse for OAuthErrorResponse {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": self.error, "error_description": self.description}));
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.status == StatusCode::UNAUTHORIZED && self.error == "invalid_client" {
            // RFC 6749 5.2: a 401 names the scheme the client may use.
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<ClientAuthError> for OAuthErrorResponse {
    fn from(e: ClientAuthError) -> Self {
        match e {
            ClientAuthError::Malformed => OAuthErrorResponse::invalid_request(
                "Give the client's credentials by one method: HTTP Basic, the form, or \
                 client_id alone for a public client",
            ),
            ClientAuthError::UnknownClient
            | ClientAuthError::WrongMethod
            | ClientAuthError::BadSecret => OAuthErrorResponse::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed",
            ),
            ClientAuthError::Internal => OAuthErrorResponse::internal(),
        }
    }
}

impl From<RegistrationError> for OAuthErrorResponse {
    fn from(e: RegistrationError) -> Self {
        match e {
            RegistrationError::Disabled => OAuthErrorResponse::new(
                StatusCode::NOT_FOUND,
                "invalid_request",
                "Dynamic client registration is not enabled",
            ),
            RegistrationError::InvalidRedirectUri(why) => {
                OAuthErrorResponse::new(StatusCode::BAD_REQUEST, "invalid_redirect_uri", why)
            }
            RegistrationError::InvalidClientMetadata(why) => {
                OAuthErrorResponse::new(StatusCode::BAD_REQUEST, "invalid_client_metadata", why)
            }
            RegistrationError::RateLimited(limit) => limit.into(),
            RegistrationError::Internal => OAuthErrorResponse::internal(),
        }
    }
}

impl From<LimitExceeded> for OAuthErrorResponse {
    fn from(e: LimitExceeded) -> Self {
        OAuthErrorResponse {
            retry_after_secs: Some(e.retry_after_ms.div_ceil(1000)),
            ..OAuthErrorResponse::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "Too many requests; try again later",
            )
        }
    }
}

impl From<crate::store::StoreError> for OAuthErrorResponse {
    #[track_caller]
    fn from(e: crate::store::StoreError) -> Self {
        crate::telemetry::log_internal(e);
        OAuthErrorResponse::internal()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Asserts that `e` renders as this status, RFC 6749 error and
    /// description, with `Cache-Control: no-store`.
    #[track_caller]
    pub(crate) fn assert_renders_oauth(
        e: impl Into<OAuthErrorResponse> + std::fmt::Debug,
        status: u16,
        error: &str,
        description: &str,
    ) -> Response {
        let label = format!("{e:?}");
        let rendered: OAuthErrorResponse = e.into();
        assert_eq!(
            (
                rendered.status.as_u16(),
                rendered.error,
                rendered.description.as_str()
            ),
            (status, error, description),
            "{label}"
        );
        let response = rendered.into_response();
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "no-store",
            "{label}"
        );
        response
    }

    #[test]
    fn client_authentication_errors() {
        let failed = "Client authentication failed";
        for e in [
            ClientAuthError::UnknownClient,
            ClientAuthError::WrongMethod,
            ClientAuthError::BadSecret,
        ] {
            let r = assert_renders_oauth(e, 401, "invalid_client", failed);
            assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Basic");
        }
        let r = assert_renders_oauth(
            ClientAuthError::Malformed,
            400,
            "invalid_request",
            "Give the client's credentials by one method: HTTP Basic, the form, or \
             client_id alone for a public client",
        );
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
        assert_renders_oauth(
            ClientAuthError::Internal,
            500,
            "server_error",
            "Internal server error",
        );
    }

    #[test]
    fn registration_errors() {
        assert_renders_oauth(
            RegistrationError::InvalidRedirectUri("`x` has a fragment".into()),
            400,
            "invalid_redirect_uri",
            "`x` has a fragment",
        );
        assert_renders_oauth(
            RegistrationError::InvalidClientMetadata("client_uri is required".into()),
            400,
            "invalid_client_metadata",
            "client_uri is required",
        );
        assert_renders_oauth(
            RegistrationError::Disabled,
            404,
            "invalid_request",
            "Dynamic client registration is not enabled",
        );
        let r = assert_renders_oauth(
            RegistrationError::RateLimited(LimitExceeded { retry_after_ms: 10 }),
            429,
            "temporarily_unavailable",
            "Too many requests; try again later",
        );
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_renders_oauth(
            RegistrationError::Internal,
            500,
            "server_error",
            "Internal server error",
        );
    }

    #[test]
    fn limit_exceeded_is_429_with_retry_after() {
        let r = assert_renders_oauth(
            LimitExceeded {
                retry_after_ms: 1500,
            },
            429,
            "temporarily_unavailable",
            "Too many requests; try again later",
        );
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }
}
