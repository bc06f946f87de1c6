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
                let mut body = Map::new();
                body.insert("errcode".into(), json!(errcode.as_str()));
                body.insert("error".into(), json!(message));
                body.extend(extra);
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                (status, Json(Value::Object(body))).into_response()
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
