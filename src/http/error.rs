//! Rendering [`Error`] as the Matrix JSON error, and the rules' domain
//! errors as [`Error`]: one file per area of the rules under `error/`
//! (`From<TheirError> for Error`), so the mapping to the wire lives in the
//! HTTP layer only.

mod account;
mod admin;
mod admin_devices;
mod admin_lookups;
mod blocking;
mod devices;
mod inputs;
mod login;
pub mod oauth;
mod oauth_grant;
mod refresh;
mod register;
mod registration_tokens;
mod requester;
mod session;
mod sso;
mod threepid;
mod uia;
mod user_admin;

use crate::error::Error;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

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
pub(crate) mod tests {
    use super::*;
    use crate::error::ErrCode;
    use axum::http::header;

    /// The status, errcode and message a domain error renders as.
    pub(crate) fn rendered(e: impl Into<Error>) -> (u16, ErrCode, String, Map<String, Value>) {
        match e.into() {
            Error::Matrix {
                status,
                errcode,
                message,
                extra,
            } => (status, errcode, message, extra),
            other => panic!("not a Matrix error: {other:?}"),
        }
    }

    /// Asserts that `e` renders as this status, errcode and message, and
    /// gives its extra fields for the caller to check.
    #[track_caller]
    pub(crate) fn assert_renders(
        e: impl Into<Error> + std::fmt::Debug,
        status: u16,
        errcode: ErrCode,
        message: &str,
    ) -> Map<String, Value> {
        let label = format!("{e:?}");
        let got = rendered(e);
        assert_eq!(
            (got.0, got.1, got.2.as_str()),
            (status, errcode, message),
            "{label}"
        );
        got.3
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
