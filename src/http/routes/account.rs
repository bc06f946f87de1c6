//! `GET /account/whoami`, `POST /account/password`, `POST /account/deactivate`.

use crate::auth::devices::Reauth;
use crate::error::Result;
use crate::http::extract::{Authed, JsonObject};
use crate::http::AppState;
use axum::extract::{OriginalUri, State};
use axum::http::Method;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

pub async fn whoami(Authed(requester): Authed) -> Json<Value> {
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
    method: Method,
    OriginalUri(uri): OriginalUri,
    mut body: JsonObject,
) -> Result<Json<Value>> {
    let auth = body.take_auth()?;
    let uri = uri.to_string();
    state
        .auth
        .change_password(Reauth {
            method: method.as_str(),
            uri: &uri,
            body: &body.0,
            auth: auth.as_ref(),
            requester: &requester,
        })
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct DeactivateBody {
    // Parsed for its type only: mxauth holds no messages to erase and no
    // identity server binding to undo.
    #[allow(dead_code)]
    erase: Option<bool>,
    #[allow(dead_code)]
    id_server: Option<String>,
}

pub async fn deactivate(
    State(state): State<AppState>,
    Authed(requester): Authed,
    method: Method,
    OriginalUri(uri): OriginalUri,
    mut body: JsonObject,
) -> Result<Json<Value>> {
    let auth = body.take_auth()?;
    let _: DeactivateBody = body.parse()?;
    let uri = uri.to_string();
    state
        .auth
        .deactivate(Reauth {
            method: method.as_str(),
            uri: &uri,
            body: &body.0,
            auth: auth.as_ref(),
            requester: &requester,
        })
        .await?;
    Ok(Json(json!({ "id_server_unbind_result": "no-support" })))
}
