//! `POST /logout` and `POST /logout/all`.

use crate::error::Result;
use crate::http::extract::{access_token_from, Authed};
use crate::http::AppState;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

pub async fn logout(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Authed(requester): Authed,
) -> Result<Json<Value>> {
    // The token the extractor accepted, for the providers' on_logged_out.
    let token = access_token_from(&headers, &uri)?;
    state.auth.logout(&requester, &token).await?;
    Ok(Json(json!({})))
}

pub async fn logout_all(
    State(state): State<AppState>,
    Authed(requester): Authed,
) -> Result<Json<Value>> {
    state.auth.logout_all(&requester).await?;
    Ok(Json(json!({})))
}
