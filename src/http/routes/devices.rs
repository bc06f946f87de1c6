//! `GET /devices`, `GET|PUT|DELETE /devices/{deviceId}`, `POST /delete_devices`.

use crate::error::{Error, Result};
use crate::http::extract::{Authed, AuthedOrGuest, JsonObject, UiaBody};
use crate::http::AppState;
use crate::store::Device;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// A device as Synapse sends it: `display_name`, `last_seen_ip` and
/// `last_seen_ts` always present, `null` when unknown. The spec's schema
/// makes them optional and has no `null`, but matrix-nio 0.26 refuses a
/// device without all three keys (its `DevicesResponse` schema requires
/// them, nullable), so leaving them out breaks `AsyncClient.devices()`.
fn device_json(d: &Device) -> Value {
    json!({
        "device_id": d.device_id,
        "display_name": d.display_name,
        "last_seen_ip": d.last_seen_ip,
        "last_seen_ts": d.last_seen_ts,
    })
}

// Guests may list, read and rename their devices (Synapse's `allow_guest=True`),
// not delete them.
pub async fn list(
    State(state): State<AppState>,
    AuthedOrGuest(requester): AuthedOrGuest,
) -> Result<Json<Value>> {
    let devices = state.auth.list_devices(&requester).await?;
    Ok(Json(
        json!({ "devices": devices.iter().map(device_json).collect::<Vec<_>>() }),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    AuthedOrGuest(requester): AuthedOrGuest,
    Path(device_id): Path<String>,
) -> Result<Json<Value>> {
    let device = state.auth.get_device(&requester, &device_id).await?;
    Ok(Json(device_json(&device)))
}

pub async fn put(
    State(state): State<AppState>,
    AuthedOrGuest(requester): AuthedOrGuest,
    Path(device_id): Path<String>,
    body: JsonObject,
) -> Result<Json<Value>> {
    match body.0.get("display_name") {
        None => {
            // Nothing to change, but the device must exist.
            state.auth.get_device(&requester, &device_id).await?;
        }
        Some(Value::Null) => {
            state
                .auth
                .rename_device(&requester, &device_id, None)
                .await?
        }
        Some(Value::String(name)) => {
            state
                .auth
                .rename_device(&requester, &device_id, Some(name))
                .await?
        }
        Some(_) => return Err(Error::bad_json("'display_name' must be a string")),
    }
    Ok(Json(json!({})))
}

pub async fn delete(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(device_id): Path<String>,
    req: UiaBody,
) -> Result<Json<Value>> {
    state
        .auth
        .delete_devices(req.reauth(&requester), &[device_id])
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct DeleteDevicesBody {
    devices: Option<Vec<String>>,
}

pub async fn delete_many(
    State(state): State<AppState>,
    Authed(requester): Authed,
    req: UiaBody,
) -> Result<Json<Value>> {
    let devices = req
        .parse::<DeleteDevicesBody>()?
        .devices
        .ok_or_else(|| Error::missing_param("Missing param: devices"))?;
    state
        .auth
        .delete_devices(req.reauth(&requester), &devices)
        .await?;
    Ok(Json(json!({})))
}
