//! Synapse's admin API, the parts that exist so far:
//! `GET|POST /_synapse/admin/v1/register` (shared-secret registration),
//! `GET /_synapse/admin/v1/users/{user_id}/admin`, whois, puppet tokens
//! and `override_ratelimit`.

use super::login::session_json;
use crate::auth::activity::may_whois;
use crate::auth::admin::{require_admin, AdminError, SharedSecretRegistration};
use crate::auth::identifiers::{parse_user_id, OwnedUserId};
use crate::auth::ratelimit::{address_key, Limiter};
use crate::error::{Error, Result};
use crate::http::extract::{Authed, ClientIp, JsonObject};
use crate::http::AppState;
use crate::store::RateLimitOverride;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

pub async fn register_nonce(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
) -> Result<Json<Value>> {
    // Each nonce is a row: bounded per address.
    state
        .auth
        .ratelimit(Limiter::RegistrationNonce, address_key(ip.as_deref()))
        .await??;
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

/// `POST /_synapse/admin/v1/register`, counted as `shared_secret`.
pub async fn register(State(state): State<AppState>, body: JsonObject) -> Result<Json<Value>> {
    let result = register_with_secret(&state, body).await;
    super::register::count_registration(&state, "shared_secret", &result);
    result
}

async fn register_with_secret(state: &AppState, body: JsonObject) -> Result<Json<Value>> {
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
    Ok(Json(session_json(state, &session)))
}

/// The `{user_id}` of a path, parsed once here. What is no user ID is
/// answered as a user of another server is, and only once the requester
/// was found allowed to ask (the order of the answers before IDs were
/// typed).
fn path_user_id(raw: &str, not_local: AdminError) -> Result<OwnedUserId, AdminError> {
    parse_user_id(raw).ok_or(not_local)
}

/// `GET /_synapse/admin/v1/whois/{user_id}` and the client API's
/// `GET /admin/whois/{userId}`.
pub async fn whois(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(user_id): Path<String>,
) -> Result<Json<Value>> {
    may_whois(&requester, &user_id)?;
    let user_id = path_user_id(&user_id, AdminError::WhoisOfRemoteUser)?;
    let whois = state.auth.whois(&requester, &user_id).await?;
    let devices: Map<String, Value> = whois
        .devices
        .into_iter()
        .map(|(device, sessions)| {
            let sessions: Vec<Value> = sessions
                .into_iter()
                .map(|connections| {
                    let connections: Vec<Value> = connections
                        .into_iter()
                        .map(|c| {
                            json!({ "ip": c.ip, "last_seen": c.last_seen_ts, "user_agent": c.user_agent })
                        })
                        .collect();
                    json!({ "connections": connections })
                })
                .collect();
            (device, json!({ "sessions": sessions }))
        })
        .collect();
    Ok(Json(
        json!({ "user_id": whois.user_id, "devices": devices }),
    ))
}

/// `POST /_synapse/admin/v1/users/{user_id}/login` (puppet tokens).
pub async fn login_as(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(user_id): Path<String>,
    body: JsonObject,
) -> Result<Json<Value>> {
    let valid_until_ts = match body.0.get("valid_until_ms") {
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
    require_admin(&requester)?;
    let user_id = path_user_id(&user_id, AdminError::PuppetOfRemoteUser)?;
    let token = state
        .auth
        .login_as_user(&requester, &user_id, valid_until_ts)
        .await?;
    Ok(Json(json!({ "access_token": token.expose() })))
}

/// `GET`, `POST` and `DELETE /_synapse/admin/v1/users/{user_id}/override_ratelimit`.
pub async fn override_ratelimit(
    State(state): State<AppState>,
    method: axum::http::Method,
    Authed(requester): Authed,
    Path(user_id): Path<String>,
    body: JsonObject,
) -> Result<Json<Value>> {
    let change = match method {
        axum::http::Method::POST => {
            let field = |name: &str| match body.0.get(name) {
                None | Some(Value::Null) => Ok(0),
                Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n >= 0) => {
                    Ok(n.as_i64().unwrap_or(0))
                }
                Some(_) => Err(Error::invalid_param(format!(
                    "{name} parameter must be a positive int"
                ))),
            };
            Some(Some(RateLimitOverride {
                messages_per_second: field("messages_per_second")?,
                burst_count: field("burst_count")?,
            }))
        }
        axum::http::Method::DELETE => Some(None),
        _ => None,
    };
    require_admin(&requester)?;
    let user_id = path_user_id(&user_id, AdminError::OverrideOfRemoteUser)?;
    let value = state
        .auth
        .ratelimit_override(&requester, &user_id, change)
        .await?;
    Ok(Json(match value {
        Some(v) => json!({
            "messages_per_second": v.messages_per_second,
            "burst_count": v.burst_count,
        }),
        None => json!({}),
    }))
}
