//! `GET /_matrix/client/v1/register/m.login.registration_token/validity`
//! and the admin API `/_synapse/admin/v1/registration_tokens`.

use crate::auth::ratelimit::{address_key, Limiter};
use crate::error::{Error, Result};
use crate::http::extract::{query_param, Authed, ClientIp, JsonObject};
use crate::http::AppState;
use crate::store::RegistrationToken;
use axum::extract::{OriginalUri, Path, State};
use axum::Json;
use serde_json::{json, Value};

/// How a token looks in the admin API.
fn token_json(t: &RegistrationToken) -> Value {
    json!({
        "token": t.token,
        "uses_allowed": t.uses_allowed,
        "pending": t.pending,
        "completed": t.completed,
        "expiry_time": t.expires_ts,
    })
}

pub async fn validity(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ClientIp(ip): ClientIp,
) -> Result<Json<Value>> {
    // Before anything else: the answer is an oracle of valid tokens.
    state
        .auth
        .ratelimit(
            Limiter::RegistrationTokenValidity,
            address_key(ip.as_deref()),
        )
        .await??;
    let token =
        query_param(&uri, "token").ok_or_else(|| Error::missing_param("Missing param: token"))?;
    let valid = state.auth.registration_token_validity(&token).await?;
    Ok(Json(json!({ "valid": valid })))
}

pub async fn list(
    State(state): State<AppState>,
    Authed(requester): Authed,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>> {
    let valid = match query_param(&uri, "valid").as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(Error::invalid_param("valid must be true or false")),
    };
    let tokens = state
        .auth
        .list_registration_tokens(&requester, valid)
        .await?;
    Ok(Json(
        json!({ "registration_tokens": tokens.iter().map(token_json).collect::<Vec<_>>() }),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(token): Path<String>,
) -> Result<Json<Value>> {
    let t = state
        .auth
        .get_registration_token(&requester, &token)
        .await?;
    Ok(Json(token_json(&t)))
}

pub async fn create(
    State(state): State<AppState>,
    Authed(requester): Authed,
    body: JsonObject,
) -> Result<Json<Value>> {
    let t = state
        .auth
        .create_registration_token(&requester, &body.0)
        .await?;
    Ok(Json(token_json(&t)))
}

pub async fn update(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(token): Path<String>,
    body: JsonObject,
) -> Result<Json<Value>> {
    let t = state
        .auth
        .update_registration_token(&requester, &token, &body.0)
        .await?;
    Ok(Json(token_json(&t)))
}

pub async fn delete(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(token): Path<String>,
) -> Result<Json<Value>> {
    state
        .auth
        .delete_registration_token(&requester, &token)
        .await?;
    Ok(Json(json!({})))
}
