//! A user's devices and sessions, for server admins.
//!
//! Synapse's device admin API:
//! `GET|POST /_synapse/admin/v2/users/{user_id}/devices`,
//! `GET|PUT|DELETE /_synapse/admin/v2/users/{user_id}/devices/{device_id}`,
//! `POST /_synapse/admin/v2/users/{user_id}/delete_devices`.
//!
//! mxauth's own, under a prefix Synapse will never serve:
//! `GET /_mxauth/admin/v1/users/{user_id}/sessions` (every device, legacy
//! login or OAuth 2.0 session, and the tokens without a device),
//! `DELETE /_mxauth/admin/v1/users/{user_id}/sessions/{session_id}` and
//! `DELETE /_mxauth/admin/v1/users/{user_id}/puppet_tokens/{token_id}`.
//!
//! Every handler answers in Synapse's order: the token (401), the admin
//! (403), the user ID (400), the user (404), then the body.

use crate::auth::admin_devices::{AdminDeviceError, AdminTarget, SessionKind};
use crate::auth::identifiers::{parse_user_id, DeviceId};
use crate::auth::Requester;
use crate::error::{ErrCode, Error, Result};
use crate::http::extract::{Authed, JsonObject, RequiredJsonObject};
use crate::http::AppState;
use crate::store::DeviceSession;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// The routes, with their whole paths: merged into the top-level router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/_synapse/admin/v2/users/{user_id}/devices",
            get(list).post(create),
        )
        .route(
            "/_synapse/admin/v2/users/{user_id}/devices/{device_id}",
            get(get_one).put(put).delete(delete_one),
        )
        .route(
            "/_synapse/admin/v2/users/{user_id}/delete_devices",
            post(delete_many),
        )
        .route(
            "/_mxauth/admin/v1/users/{user_id}/sessions",
            get(list_sessions),
        )
        .route(
            "/_mxauth/admin/v1/users/{user_id}/sessions/{session_id}",
            delete(end_session),
        )
        .route(
            "/_mxauth/admin/v1/users/{user_id}/puppet_tokens/{token_id}",
            delete(end_puppet_token),
        )
}

/// The body, read only once the target is known (Synapse's order): a body
/// that is not a JSON object is refused after a 403 or a 404 would be.
type LaterBody = std::result::Result<JsonObject, Error>;
/// The same, where Synapse refuses an empty body (400 M_NOT_JSON).
type LaterRequiredBody = std::result::Result<RequiredJsonObject, Error>;

/// The path's user as the target of an admin's request.
async fn target(
    state: &AppState,
    requester: &Requester,
    raw_user_id: &str,
    remote: AdminDeviceError,
) -> Result<AdminTarget> {
    let user_id = parse_user_id(raw_user_id);
    Ok(state
        .auth
        .admin_target(requester, user_id.as_deref(), remote)
        .await?)
}

/// A device as Synapse's admin API shows it: every key present, `null`
/// when unknown.
fn device_json(target: &AdminTarget, d: &DeviceSession) -> Value {
    json!({
        "user_id": target.user_id().as_str(),
        "device_id": d.device_id,
        "display_name": d.display_name,
        "last_seen_ip": d.last_seen_ip,
        "last_seen_user_agent": d.last_user_agent,
        "last_seen_ts": d.last_seen_ts,
    })
}

/// What Python finds false: Synapse answers "Missing device_id" for each.
fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

pub async fn list(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(user_id): Path<String>,
) -> Result<Json<Value>> {
    let target = target(&state, &requester, &user_id, AdminDeviceError::RemoteUser).await?;
    let devices: Vec<Value> = state
        .auth
        .admin_list_devices(&target)
        .await?
        .iter()
        .map(|d| device_json(&target, d))
        .collect();
    Ok(Json(json!({ "total": devices.len(), "devices": devices })))
}

/// `POST .../devices` `{"device_id": "X"}`: 201 `{}`, also when the user
/// had the device (which is left as it is).
pub async fn create(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(user_id): Path<String>,
    body: LaterRequiredBody,
) -> Result<(StatusCode, Json<Value>)> {
    let target = target(
        &state,
        &requester,
        &user_id,
        AdminDeviceError::RemoteUserCreate,
    )
    .await?;
    let body = body?;
    let unknown = |m: &str| Error::new(400, ErrCode::Unknown, m);
    let device_id = match body.0.get("device_id") {
        None => return Err(unknown("Missing device_id")),
        Some(v) if is_falsy(v) => return Err(unknown("Missing device_id")),
        Some(Value::String(id)) => DeviceId::parse(id.as_str())?,
        Some(_) => return Err(unknown("device_id must be a string")),
    };
    state.auth.admin_create_device(&target, &device_id).await?;
    Ok((StatusCode::CREATED, Json(json!({}))))
}

pub async fn get_one(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path((user_id, device_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let target = target(&state, &requester, &user_id, AdminDeviceError::RemoteUser).await?;
    let device = state.auth.admin_get_device(&target, &device_id).await?;
    Ok(Json(device_json(&target, &device)))
}

/// `PUT .../devices/{device_id}` `{"display_name": "..."}`; without one
/// (or `null`) nothing changes. Other keys are ignored.
pub async fn put(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path((user_id, device_id)): Path<(String, String)>,
    body: LaterBody,
) -> Result<Json<Value>> {
    let target = target(&state, &requester, &user_id, AdminDeviceError::RemoteUser).await?;
    let body = body?;
    let display_name = match body.0.get("display_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.as_str()),
        Some(_) => return Err(Error::bad_json("'display_name' must be a string")),
    };
    state
        .auth
        .admin_rename_device(&target, &device_id, display_name)
        .await?;
    Ok(Json(json!({})))
}

/// `DELETE .../devices/{device_id}`: 200 `{}`, also when there was no
/// such device (Synapse's answer).
pub async fn delete_one(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path((user_id, device_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let target = target(&state, &requester, &user_id, AdminDeviceError::RemoteUser).await?;
    state
        .auth
        .admin_delete_devices(&target, &[device_id])
        .await?;
    Ok(Json(json!({})))
}

/// `POST .../delete_devices` `{"devices": ["A", "B"]}`: a list of strings
/// only (Synapse deletes a string's characters one by one, and fails with
/// a 500 on other types, having deleted nothing).
pub async fn delete_many(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(user_id): Path<String>,
    body: LaterRequiredBody,
) -> Result<Json<Value>> {
    let target = target(&state, &requester, &user_id, AdminDeviceError::RemoteUser).await?;
    let body = body?;
    let not_a_list = || Error::bad_json("'devices' must be a list of strings");
    let devices: Vec<String> = match body.0.get("devices") {
        None => return Err(Error::missing_param("Missing params: ['devices']")),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(not_a_list)?,
        Some(_) => return Err(not_a_list()),
    };
    state.auth.admin_delete_devices(&target, &devices).await?;
    Ok(Json(json!({})))
}

fn kind_name(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Legacy => "legacy",
        SessionKind::OAuth => "oauth",
    }
}

/// `GET /_mxauth/admin/v1/users/{user_id}/sessions`.
pub async fn list_sessions(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(user_id): Path<String>,
) -> Result<Json<Value>> {
    let target = target(&state, &requester, &user_id, AdminDeviceError::RemoteUser).await?;
    let sessions = state.auth.admin_list_sessions(&target).await?;
    let devices: Vec<Value> = sessions
        .devices
        .iter()
        .map(|d| {
            json!({
                "session_id": d.device_id,
                "device_id": d.device_id,
                "display_name": d.display_name,
                "kind": kind_name(SessionKind::of(d)),
                "client_id": d.oauth_client_id,
                "created_ts": d.created_ts,
                "last_seen_ts": d.last_seen_ts,
                "last_seen_ip": d.last_seen_ip,
                "last_seen_user_agent": d.last_user_agent,
            })
        })
        .collect();
    let puppet_tokens: Vec<Value> = sessions
        .puppet_tokens
        .iter()
        .map(|t| {
            json!({
                "token_id": t.id,
                "puppet_owner": t.puppet_owner,
                "created_ts": t.created_ts,
                "valid_until_ts": t.valid_until_ts,
                "last_used_ts": t.last_used_ts,
            })
        })
        .collect();
    Ok(Json(
        json!({ "sessions": devices, "puppet_tokens": puppet_tokens }),
    ))
}

/// `DELETE /_mxauth/admin/v1/users/{user_id}/sessions/{session_id}`.
pub async fn end_session(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path((user_id, session_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let target = target(&state, &requester, &user_id, AdminDeviceError::RemoteUser).await?;
    state.auth.admin_end_session(&target, &session_id).await?;
    Ok(Json(json!({})))
}

/// `DELETE /_mxauth/admin/v1/users/{user_id}/puppet_tokens/{token_id}`.
pub async fn end_puppet_token(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path((user_id, token_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let target = target(&state, &requester, &user_id, AdminDeviceError::RemoteUser).await?;
    // What is no number names no token.
    let token_id: i64 = token_id
        .parse()
        .map_err(|_| AdminDeviceError::NoSuchPuppetToken)?;
    state.auth.admin_end_puppet_token(&target, token_id).await?;
    Ok(Json(json!({})))
}
