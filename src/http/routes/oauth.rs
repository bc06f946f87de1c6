//! What a homeserver that delegates its auth here calls:
//! `POST /oauth2/introspect` and `GET /.well-known/openid-configuration`;
//! and the OAuth 2.0 API's discovery: `GET /_matrix/client/v1/auth_metadata`
//! (and MSC2965's unstable path), the same document, and the JWKS
//! (`GET /oauth2/keys.json`).

use crate::auth::oauth::metadata::AuthMetadata;
use crate::error::{Error, Result};
use crate::http::error::oauth::OAuthErrorResponse;
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

/// The OAuth 2.0 API's metadata: `GET /_matrix/client/v1/auth_metadata`
/// (and `/_matrix/client/unstable/org.matrix.msc2965/auth_metadata`); 404
/// M_UNRECOGNIZED when the API is off, as the spec says.
pub async fn auth_metadata(State(state): State<AppState>) -> Result<Json<Value>> {
    let m = state
        .auth
        .auth_metadata()
        .ok_or_else(|| Error::unrecognized(404, "The OAuth 2.0 API is not enabled"))?;
    Ok(Json(metadata_json(&m)))
}

fn metadata_json(m: &AuthMetadata) -> Value {
    let mut doc = json!({
        "issuer": m.issuer,
        "authorization_endpoint": m.authorization_endpoint,
        "token_endpoint": m.token_endpoint,
        "device_authorization_endpoint": m.device_authorization_endpoint,
        "revocation_endpoint": m.revocation_endpoint,
        "jwks_uri": m.jwks_uri,
        "userinfo_endpoint": m.userinfo_endpoint,
        "introspection_endpoint": m.introspection_endpoint,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "account_management_uri": m.account_management_uri,
        "account_management_actions_supported": m.account_management_actions_supported,
        "response_types_supported": m.response_types_supported,
        "grant_types_supported": m.grant_types_supported,
        "response_modes_supported": m.response_modes_supported,
        "code_challenge_methods_supported": m.code_challenge_methods_supported,
        "prompt_values_supported": m.prompt_values_supported,
        "authorization_response_iss_parameter_supported": m.authorization_response_iss_parameter_supported,
        "token_endpoint_auth_methods_supported": m.token_endpoint_auth_methods_supported,
        "revocation_endpoint_auth_methods_supported": m.revocation_endpoint_auth_methods_supported,
        "scopes_supported": m.scopes_supported,
        "subject_types_supported": m.subject_types_supported,
        "id_token_signing_alg_values_supported": m.id_token_signing_alg_values_supported,
        "claims_supported": m.claims_supported,
        "claim_types_supported": m.claim_types_supported,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    if let Some(registration) = &m.registration_endpoint {
        doc["registration_endpoint"] = json!(registration);
    }
    doc
}

/// `GET /oauth2/keys.json`: the public keys id_tokens are signed with.
pub async fn jwks(
    State(state): State<AppState>,
) -> std::result::Result<Response, OAuthErrorResponse> {
    if state.auth.oauth().is_none() {
        return Ok(Error::unrecognized(404, "Unrecognized request").into_response());
    }
    let keys = state
        .auth
        .signing_jwks()
        .await
        .map_err(|_| OAuthErrorResponse::internal())?;
    Ok(Json(json!({ "keys": keys })).into_response())
}

/// `GET /.well-known/openid-configuration`: with the OAuth 2.0 API on, its
/// whole metadata; otherwise what a delegating homeserver needs (issuer,
/// introspection, account management).
pub async fn openid_configuration(State(state): State<AppState>) -> Result<Json<Value>> {
    if let Some(m) = state.auth.auth_metadata() {
        return Ok(Json(metadata_json(&m)));
    }
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
