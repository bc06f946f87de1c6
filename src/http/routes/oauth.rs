//! What a homeserver that delegates its auth here calls:
//! `POST /oauth2/introspect` and `GET /.well-known/openid-configuration`.

use crate::error::{Error, Result};
use crate::http::extract::form_urlencoded_pairs;
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// RFC 7662 introspection, authenticated with the shared secret
/// (`Authorization: Bearer <secret>`, as Synapse sends it). Any token the
/// server does not vouch for is `200 {"active": false}`: Synapse turns a
/// non-2xx answer into a 503 for its client.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim())
        .unwrap_or("");
    match state.auth.is_homeserver_secret(presented) {
        None => return Err(Error::unrecognized(404, "Unrecognized request")),
        Some(false) => return Ok((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"error": "invalid_client", "error_description": "Bad client credentials"})),
        )
            .into_response()),
        Some(true) => {}
    }
    let form = std::str::from_utf8(&body).unwrap_or("");
    let token = form_urlencoded_pairs(form)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v);
    let Some(token) = token else {
        return Ok((
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": "Missing token"})),
        )
            .into_response());
    };
    let Some(active) = state.auth.introspect(&token).await? else {
        return Ok(Json(json!({ "active": false })).into_response());
    };
    let mut answer = json!({
        "active": true,
        "token_type": "access_token",
        "username": active.username,
        "sub": active.sub,
        "scope": active.scope.join(" "),
    });
    if let Some(d) = active.device_id {
        answer["device_id"] = json!(d);
    }
    if let Some(seconds) = active.expires_in {
        answer["expires_in"] = json!(seconds);
    }
    Ok(Json(answer).into_response())
}

pub async fn openid_configuration(State(state): State<AppState>) -> Result<Json<Value>> {
    let d = state
        .auth
        .openid_configuration()
        .ok_or_else(|| Error::unrecognized(404, "Unrecognized request"))?;
    Ok(Json(json!({
        "issuer": d.issuer,
        "account_management_uri": d.account_management_uri,
        "introspection_endpoint": d.introspection_endpoint,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": [],
        "grant_types_supported": [],
    })))
}
