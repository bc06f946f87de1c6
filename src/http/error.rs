//! Rendering [`Error`] as the Matrix JSON error.

use crate::auth::requester::AuthnError;
use crate::error::{ErrCode, Error};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

/// Request authentication's failures as Matrix errors.
impl From<AuthnError> for Error {
    fn from(e: AuthnError) -> Self {
        match e {
            AuthnError::UnknownToken => Error::unknown_token(false),
            AuthnError::Expired => Error::unknown_token(true),
            AuthnError::UserLocked => {
                Error::new(401, ErrCode::UserLocked, "User account has been locked")
                    .with_extra("soft_logout", true)
            }
            AuthnError::NotInNamespace => {
                Error::forbidden("Application service cannot masquerade as this user.")
            }
            AuthnError::NotRegistered => {
                Error::forbidden("Application service has not registered this user.")
            }
            AuthnError::UnknownDevice => Error::new(
                400,
                ErrCode::UnknownDevice,
                "Application service trying to use a device that doesn't exist",
            ),
            AuthnError::Internal => Error::Internal,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::Matrix {
                status,
                errcode,
                message,
                extra,
            } => {
                let retry_after = (status == 429)
                    .then(|| extra.get("retry_after_ms").and_then(Value::as_u64))
                    .flatten()
                    .map(|ms| ms.div_ceil(1000));
                let mut body = Map::new();
                body.insert("errcode".into(), json!(errcode.as_str()));
                body.insert("error".into(), json!(message));
                body.extend(extra);
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                let mut response = (status, Json(Value::Object(body))).into_response();
                if let Some(secs) = retry_after {
                    response
                        .headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, secs.into());
                }
                response
            }
            Error::AuthRequired(body) => {
                (StatusCode::UNAUTHORIZED, Json(Value::Object(*body))).into_response()
            }
            Error::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"errcode": "M_UNKNOWN", "error": "Internal server error"})),
            )
                .into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    #[test]
    fn request_authentication_failures_are_the_spec_errors() {
        let cases = [
            (
                AuthnError::UnknownToken,
                401,
                ErrCode::UnknownToken,
                Some(false),
            ),
            (AuthnError::Expired, 401, ErrCode::UnknownToken, Some(true)),
            (AuthnError::UserLocked, 401, ErrCode::UserLocked, Some(true)),
            (AuthnError::NotInNamespace, 403, ErrCode::Forbidden, None),
            (AuthnError::NotRegistered, 403, ErrCode::Forbidden, None),
            (AuthnError::UnknownDevice, 400, ErrCode::UnknownDevice, None),
        ];
        for (e, want_status, want_code, want_soft) in cases {
            let label = format!("{e:?}");
            match Error::from(e) {
                Error::Matrix {
                    status,
                    errcode,
                    extra,
                    ..
                } => {
                    assert_eq!((status, errcode), (want_status, want_code), "{label}");
                    assert_eq!(
                        extra.get("soft_logout").and_then(Value::as_bool),
                        want_soft,
                        "{label}"
                    );
                }
                other => panic!("{label}: {other:?}"),
            }
        }
        assert!(matches!(Error::from(AuthnError::Internal), Error::Internal));
    }

    #[test]
    fn limit_exceeded_has_retry_after_in_whole_seconds_rounded_up() {
        for (ms, secs) in [(1, "1"), (1000, "1"), (1001, "2"), (0, "0")] {
            let r = Error::limit_exceeded(ms).into_response();
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(r.headers()[header::RETRY_AFTER], secs, "{ms} ms");
        }
        // Other errors carry no Retry-After.
        let r = Error::forbidden("no").into_response();
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }
}
