//! Rendering [`Error`] as the Matrix JSON error.

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
                    .map(|ms| ms.div_ceil(1000).max(1));
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
