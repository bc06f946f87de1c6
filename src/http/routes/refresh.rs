//! `POST /refresh` (spec v1.3): a refresh token for a new access token and
//! refresh token. No access token is needed: clients send their expired
//! one, which is ignored; the refresh token is what counts.

use crate::error::{Error, Result};
use crate::http::extract::JsonObject;
use crate::http::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

pub async fn refresh(State(state): State<AppState>, body: JsonObject) -> Result<Json<Value>> {
    let token = match body.0.get("refresh_token") {
        Some(Value::String(t)) => t,
        Some(_) => return Err(Error::invalid_param("Invalid param: refresh_token")),
        None => return Err(Error::missing_param("Missing params: refresh_token")),
    };
    let session = state.auth.refresh_session(token, None).await?;
    let mut answer = json!({ "access_token": session.access_token.expose() });
    if let Some(refresh) = &session.refresh_token {
        answer["refresh_token"] = json!(refresh.expose());
    }
    if let Some(until) = session.valid_until_ts {
        answer["expires_in_ms"] = json!((until - state.auth.clock.now_ms()).max(0));
    }
    Ok(Json(answer))
}
