//! The OAuth 2.0 JSON endpoints a client calls itself: the token endpoint
//! (`POST /oauth2/token`: `authorization_code`, `refresh_token`, and the
//! device code grant, whose authorization endpoint is `oauth_device.rs`),
//! revocation (`POST /oauth2/revoke`, RFC 7009) and OpenID Connect's
//! userinfo. Bodies are `application/x-www-form-urlencoded`; the client
//! authenticates with `client_secret_basic`, `client_secret_post`, or
//! (a public client) its `client_id` alone. Errors are RFC 6749's JSON.

use crate::auth::oauth::clients::{ClientCredentials, OAuthClient, DEVICE_CODE_GRANT_TYPE};
use crate::auth::oauth::token::{TokenError, Tokens};
use crate::http::error::oauth::OAuthErrorResponse;
use crate::http::extract::{access_token_from, form_urlencoded_pairs};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::HashMap;

pub(crate) type Form = HashMap<String, String>;

/// The form body; a parameter given twice is refused (RFC 6749 §3.2).
pub(crate) fn parse_form(body: &Bytes) -> Result<Form, OAuthErrorResponse> {
    let text = std::str::from_utf8(body)
        .map_err(|_| OAuthErrorResponse::invalid_request("The body is not UTF-8"))?;
    let mut form = Form::new();
    for (k, v) in form_urlencoded_pairs(text) {
        if form.insert(k.clone(), v).is_some() {
            return Err(OAuthErrorResponse::invalid_request(format!(
                "The parameter {k} is given more than once"
            )));
        }
    }
    Ok(form)
}

/// Which client is calling, from the `Authorization: Basic` header or the
/// form (RFC 6749 §2.3.1).
fn credentials(headers: &HeaderMap, form: &Form) -> Result<ClientCredentials, OAuthErrorResponse> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if authorization.is_none() && !form.contains_key("client_id") {
        // RFC 6749 §5.2: no client authentication included.
        return Err(OAuthErrorResponse::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        ));
    }
    Ok(ClientCredentials::from_request(
        authorization,
        form.get("client_id").cloned(),
        form.get("client_secret").cloned(),
    )?)
}

pub(crate) async fn client(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<OAuthClient, OAuthErrorResponse> {
    if state.auth.config.oauth.is_none() {
        return Err(disabled());
    }
    let creds = credentials(headers, form)?;
    Ok(state.auth.authenticate_oauth_client(creds).await?)
}

/// OAuth 2.0 is off: these endpoints do not exist.
fn disabled() -> OAuthErrorResponse {
    OAuthErrorResponse::new(
        StatusCode::NOT_FOUND,
        "invalid_request",
        "OAuth 2.0 is not enabled on this server",
    )
}

fn token_answer(state: &AppState, tokens: Tokens) -> Response {
    let session = &tokens.session;
    let mut body = json!({
        "access_token": session.access_token.expose(),
        "token_type": "Bearer",
        "scope": session.scope.as_deref().unwrap_or_default(),
    });
    if let Some(until) = session.valid_until_ts {
        body["expires_in"] = json!(((until - state.auth.now()) / 1000).max(0));
    }
    if let Some(refresh) = &session.refresh_token {
        body["refresh_token"] = json!(refresh.expose());
    }
    if let Some(id_token) = tokens.id_token {
        body["id_token"] = json!(id_token);
    }
    (
        StatusCode::OK,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response()
}

/// `POST /oauth2/token`.
pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = async {
        let form = parse_form(&body)?;
        let client = client(&state, &headers, &form).await?;
        let field = |k: &str| form.get(k).map(String::as_str);
        let tokens = match field("grant_type") {
            Some("authorization_code") => {
                state
                    .auth
                    .exchange_code(
                        &client,
                        field("code"),
                        field("redirect_uri"),
                        field("code_verifier"),
                    )
                    .await?
            }
            Some("refresh_token") => {
                state
                    .auth
                    .refresh_oauth(&client, field("refresh_token"))
                    .await?
            }
            Some(DEVICE_CODE_GRANT_TYPE) => {
                state
                    .auth
                    .poll_device_code(&client, field("device_code"))
                    .await?
            }
            None => return Err(OAuthErrorResponse::invalid_request("grant_type is missing")),
            Some(_) => return Err(TokenError::UnsupportedGrantType.into()),
        };
        Ok(token_answer(&state, tokens))
    }
    .await;
    answer.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /oauth2/revoke` (RFC 7009): 200 whether or not the token was
/// known; 400 `invalid_request` without one.
pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = async {
        let form = parse_form(&body)?;
        let client = client(&state, &headers, &form).await?;
        let token = form
            .get("token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthErrorResponse::invalid_request("token is missing"))?;
        state.auth.revoke_oauth_token(&client, token).await?;
        Ok::<_, OAuthErrorResponse>(
            (
                StatusCode::OK,
                [(header::CACHE_CONTROL, "no-store")],
                Json(json!({})),
            )
                .into_response(),
        )
    }
    .await;
    answer.unwrap_or_else(IntoResponse::into_response)
}

/// `GET`/`POST /oauth2/userinfo`: who the access token's user is.
pub async fn userinfo(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            Json(json!({"error": "invalid_token", "error_description": "Unknown or expired access token"})),
        )
            .into_response()
    };
    if state.auth.config.oauth.is_none() {
        return disabled().into_response();
    }
    let Ok(token) = access_token_from(&headers, &uri) else {
        return unauthorized();
    };
    match state.auth.authenticate(&token).await {
        Ok(requester) => {
            let user_id = requester.user_id.to_string();
            let localpart = requester.user_id.localpart().to_owned();
            Json(json!({ "sub": user_id, "username": localpart })).into_response()
        }
        Err(crate::auth::requester::AuthnError::Internal) => {
            OAuthErrorResponse::internal().into_response()
        }
        Err(_) => unauthorized(),
    }
}
