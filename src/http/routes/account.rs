//! `GET /account/whoami`, `POST /account/password`, `POST /account/deactivate`.

use crate::error::Result;
use crate::http::extract::{Authed, AuthedOrGuest, UiaBody};
use crate::http::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

pub async fn whoami(AuthedOrGuest(requester): AuthedOrGuest) -> Json<Value> {
    let mut body = json!({
        "user_id": requester.user_id,
        "is_guest": requester.is_guest,
    });
    if let Some(device) = requester.device_id {
        body["device_id"] = json!(device);
    }
    Json(body)
}

pub async fn change_password(
    State(state): State<AppState>,
    Authed(requester): Authed,
    req: UiaBody,
) -> Result<Json<Value>> {
    state.auth.change_password(req.reauth(&requester)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct DeactivateBody {
    // Parsed for its type only: mxauth holds no messages to erase and no
    // identity server binding to undo.
    #[serde(rename = "erase")]
    _erase: Option<bool>,
    #[serde(rename = "id_server")]
    _id_server: Option<String>,
}

pub async fn deactivate(
    State(state): State<AppState>,
    Authed(requester): Authed,
    req: UiaBody,
) -> Result<Json<Value>> {
    let _: DeactivateBody = req.parse()?;
    state.auth.deactivate(req.reauth(&requester)).await?;
    Ok(Json(json!({ "id_server_unbind_result": "no-support" })))
}
