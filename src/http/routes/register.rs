//! `POST /register` and `GET /register/available`.

use super::login::session_json;
use crate::auth::ratelimit::{address_key, Limiter};
use crate::auth::register::{RegisterRequest, Registered};
use crate::error::{Error, Result};
use crate::http::extract::{query_param, ClientIp, UiaBody};
use crate::http::AppState;
use axum::extract::{OriginalUri, State};
use axum::Json;
use serde_json::{json, Value};

pub async fn register(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: axum::http::HeaderMap,
    ClientIp(ip): ClientIp,
    req: UiaBody,
) -> Result<Json<Value>> {
    let token = crate::http::extract::access_token_from(&headers, &uri).ok();
    let kind = query_param(&uri, "kind").unwrap_or_else(|| "user".to_owned());
    let guest = match kind.as_str() {
        "user" => false,
        "guest" => true,
        _ => return Err(Error::invalid_param("Invalid kind")),
    };
    let outcome = state
        .auth
        .register(RegisterRequest {
            guest,
            method: &req.method,
            uri: &req.uri,
            body: &req.body,
            auth: req.auth.as_ref(),
            access_token: token.as_deref(),
            client_ip: ip.as_deref(),
        })
        .await?;
    Ok(Json(match outcome {
        Registered::LoggedIn(session) => session_json(&state, &session),
        Registered::NoLogin { user_id } => {
            json!({ "user_id": user_id, "home_server": state.auth.server_name() })
        }
    }))
}

pub async fn available(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ClientIp(ip): ClientIp,
) -> Result<Json<Value>> {
    if !state.auth.config.enable_registration {
        return Err(Error::forbidden("Registration has been disabled"));
    }
    // An oracle of who has an account: bounded per address.
    state
        .auth
        .ratelimit(Limiter::UsernameAvailable, address_key(ip.as_deref()))
        .await??;
    let username = query_param(&uri, "username")
        .ok_or_else(|| Error::missing_param("Missing param: username"))?;
    state
        .auth
        .check_username_available(&username.to_lowercase())
        .await?;
    Ok(Json(json!({ "available": true })))
}
