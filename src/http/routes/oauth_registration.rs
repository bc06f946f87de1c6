//! `POST /oauth2/registration`: OAuth 2.0 dynamic client registration
//! (RFC 7591). The rules are in [`crate::auth::oauth::registration`];
//! refusals are RFC 7591 JSON errors (`http/error/oauth.rs`).

use crate::auth::oauth::registration::Registered;
use crate::http::error::oauth::OAuthErrorResponse;
use crate::http::extract::ClientIp;
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// The largest registration body accepted (a client's metadata is far
/// smaller); a larger one is refused with 413 before it is read whole.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Result<Response, OAuthErrorResponse> {
    let metadata = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(OAuthErrorResponse::new(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                "The body must be a JSON object of client metadata",
            ))
        }
    };
    let registered = state
        .auth
        .register_oauth_client(&metadata, ip.as_deref())
        .await?;
    let mut response = (StatusCode::CREATED, Json(client_json(&registered))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The client as registered (RFC 7591 3.2.1): its id, when it was issued,
/// its secret if it has one, and the metadata as accepted.
fn client_json(r: &Registered) -> Value {
    let c = &r.client;
    let mut body = json!({
        "client_id": c.client_id,
        "client_id_issued_at": c.created_ts.unwrap_or(0) / 1000,
        "application_type": c.application_type.as_str(),
        "redirect_uris": c.redirect_uris,
        "token_endpoint_auth_method": c.token_endpoint_auth_method.as_str(),
        "grant_types": c.grant_types,
        "response_types": c.response_types,
    });
    for (key, value) in [
        ("client_name", &c.client_name),
        ("client_uri", &c.client_uri),
        ("logo_uri", &c.logo_uri),
        ("tos_uri", &c.tos_uri),
        ("policy_uri", &c.policy_uri),
    ] {
        if let Some(v) = value {
            body[key] = json!(v);
        }
    }
    for (key, value) in &c.localized {
        body[key.as_str()] = json!(value);
    }
    if !c.contacts.is_empty() {
        body["contacts"] = json!(c.contacts);
    }
    if let Some(secret) = &r.client_secret {
        body["client_secret"] = json!(secret.expose());
        // The secret does not expire.
        body["client_secret_expires_at"] = json!(0);
    }
    body
}
