//! `POST /logout` and `POST /logout/all`: a locked user may use them (the
//! spec), so they take [`AuthedEvenIfLocked`].

use crate::error::Result;
use crate::http::extract::{access_token_from, AuthedEvenIfLocked};
use crate::http::AppState;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

pub async fn logout(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    AuthedEvenIfLocked(requester): AuthedEvenIfLocked,
) -> Result<Json<Value>> {
    // The token the extractor accepted, for the providers' on_logged_out.
    let token = access_token_from(&headers, &uri)?;
    state.auth.logout(&requester, &token).await?;
    Ok(Json(json!({})))
}

pub async fn logout_all(
    State(state): State<AppState>,
    AuthedEvenIfLocked(requester): AuthedEvenIfLocked,
) -> Result<Json<Value>> {
    state.auth.logout_all(&requester).await?;
    Ok(Json(json!({})))
}
