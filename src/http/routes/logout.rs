//! `POST /logout` and `POST /logout/all`.

use crate::error::Result;
use crate::http::extract::Authed;
use crate::http::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

pub async fn logout(
    State(state): State<AppState>,
    Authed(requester): Authed,
) -> Result<Json<Value>> {
    state.auth.logout(&requester).await?;
    Ok(Json(json!({})))
}

pub async fn logout_all(
    State(state): State<AppState>,
    Authed(requester): Authed,
) -> Result<Json<Value>> {
    state.auth.logout_all(&requester).await?;
    Ok(Json(json!({})))
}
