//! `POST /register` and `GET /register/available`.

use super::login::session_json;
use crate::auth::login::APP_SERVICE_LOGIN_TYPE;
use crate::auth::ratelimit::{address_key, Limiter};
use crate::auth::register::{RegisterRequest, Registered};
use crate::error::{Error, Result};
use crate::http::extract::{query_param, ClientIp, UiaBody};
use crate::http::AppState;
use axum::extract::{OriginalUri, State};
use axum::Json;
use serde_json::{json, Value};

/// `POST /register`, counted in `mxauth_registrations_total` by kind
/// (`user`, `guest`, `appservice`, `other` for an unknown `kind`) and
/// outcome (a UIA step is `auth_required`).
pub async fn register(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: axum::http::HeaderMap,
    ClientIp(ip): ClientIp,
    req: UiaBody,
) -> Result<Json<Value>> {
    let kind = query_param(&uri, "kind").unwrap_or_else(|| "user".to_owned());
    let label = match kind.as_str() {
        "user" if req.body.get("type").and_then(Value::as_str) == Some(APP_SERVICE_LOGIN_TYPE) => {
            "appservice"
        }
        "user" => "user",
        "guest" => "guest",
        _ => "other",
    };
    let result = register_kind(&state, &uri, &headers, ip, &req, &kind).await;
    count_registration(&state, label, &result);
    result
}

/// Counts a registration's outcome as `kind` (a fixed label).
pub fn count_registration<T>(state: &AppState, kind: &'static str, result: &Result<T>) {
    state
        .auth
        .metrics
        .registrations
        .with_label_values(&[kind, crate::http::observe::outcome_label(result)])
        .inc();
}

async fn register_kind(
    state: &AppState,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
    ip: Option<String>,
    req: &UiaBody,
    kind: &str,
) -> Result<Json<Value>> {
    let token = crate::http::extract::access_token_from(headers, uri).ok();
    let guest = match kind {
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
        Registered::LoggedIn(session) => session_json(state, &session),
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
