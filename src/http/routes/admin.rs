//! Synapse's admin API, the parts that exist so far:
//! `GET|POST /_synapse/admin/v1/register` (shared-secret registration) and
//! `GET /_synapse/admin/v1/users/{user_id}/admin`.

use super::login::session_json;
use crate::auth::admin::SharedSecretRegistration;
use crate::error::{Error, Result};
use crate::http::extract::{Authed, JsonObject};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

pub async fn register_nonce(State(state): State<AppState>) -> Result<Json<Value>> {
    let nonce = state.auth.new_registration_nonce().await?;
    Ok(Json(json!({ "nonce": nonce })))
}

#[derive(Deserialize)]
struct RegisterBody {
    nonce: Option<String>,
    username: Option<String>,
    password: Option<String>,
    #[serde(default)]
    admin: bool,
    user_type: Option<String>,
    displayname: Option<String>,
    mac: Option<String>,
}

pub async fn register(State(state): State<AppState>, body: JsonObject) -> Result<Json<Value>> {
    let b: RegisterBody = body.parse()?;
    let need = |v: Option<String>, name: &str| {
        v.ok_or_else(|| Error::bad_json(format!("{name} must be specified")))
    };
    let req = SharedSecretRegistration {
        nonce: need(b.nonce, "nonce")?,
        username: need(b.username, "username")?,
        password: Zeroizing::new(need(b.password, "password")?),
        admin: b.admin,
        user_type: b.user_type,
        displayname: b.displayname,
        mac: need(b.mac, "mac")?,
    };
    let session = state.auth.register_with_shared_secret(req).await?;
    Ok(Json(session_json(&state, &session)))
}

pub async fn user_admin(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(user_id): Path<String>,
) -> Result<Json<Value>> {
    let admin = state.auth.is_admin(&requester, &user_id).await?;
    Ok(Json(json!({ "admin": admin })))
}

/// `GET /_synapse/admin/v1/whois/{user_id}` and the client API's
/// `GET /admin/whois/{userId}`.
pub async fn whois(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(user_id): Path<String>,
) -> Result<Json<Value>> {
    Ok(Json(state.auth.whois(&requester, &user_id).await?))
}

/// `POST /_synapse/admin/v1/users/{user_id}/login` (puppet tokens).
pub async fn login_as(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(user_id): Path<String>,
    body: JsonObject,
) -> Result<Json<Value>> {
    let valid_until_ms = match body.0.get("valid_until_ms") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_i64() => n.as_i64(),
        Some(_) => {
            return Err(Error::new(
                400,
                crate::error::ErrCode::Unknown,
                "'valid_until_ms' parameter must be an int",
            ))
        }
    };
    let token = state
        .auth
        .login_as_user(&requester, &user_id, valid_until_ms)
        .await?;
    Ok(Json(json!({ "access_token": token.expose() })))
}
