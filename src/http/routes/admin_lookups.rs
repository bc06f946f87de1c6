//! Synapse's admin lookups:
//! `GET /_synapse/admin/v1/username_available?username=`,
//! `GET /_synapse/admin/v1/auth_providers/{provider}/users/{external_id}`,
//! `GET /_synapse/admin/v1/threepid/{medium}/users/{address}`.

use crate::auth::admin::require_admin;
use crate::error::{Error, Result};
use crate::http::extract::{query_param, Authed};
use crate::http::AppState;
use axum::extract::{OriginalUri, Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The routes, with their whole paths: merged into the top-level router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/_synapse/admin/v1/username_available",
            get(username_available),
        )
        .route(
            "/_synapse/admin/v1/auth_providers/{provider}/users/{external_id}",
            get(by_external_id),
        )
        .route(
            "/_synapse/admin/v1/threepid/{medium}/users/{address}",
            get(by_threepid),
        )
}

/// 200 `{"available": true}`, or the registration's refusal (never
/// `false`, as Synapse).
pub async fn username_available(
    State(state): State<AppState>,
    Authed(requester): Authed,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>> {
    require_admin(&requester)?;
    let username = query_param(&uri, "username")
        .ok_or_else(|| Error::missing_param("Missing string query parameter 'username'"))?;
    state
        .auth
        .admin_username_available(&requester, &username)
        .await?;
    Ok(Json(json!({ "available": true })))
}

pub async fn by_external_id(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path((provider, external_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let user_id = state
        .auth
        .admin_user_by_external_id(&requester, &provider, &external_id)
        .await?;
    Ok(Json(json!({ "user_id": user_id })))
}

pub async fn by_threepid(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path((medium, address)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let user_id = state
        .auth
        .admin_user_by_threepid(&requester, &medium, &address)
        .await?;
    Ok(Json(json!({ "user_id": user_id })))
}
