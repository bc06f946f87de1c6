//! Email validation and 3PIDs: `.../email/requestToken` (and the msisdn
//! ones, which answer that the medium is not supported), the link in the
//! mail (`/_synapse/client/email/submit_token`), `/account/3pid*`, and
//! `POST /account/password` without an access token (password reset).

use super::account;
use crate::auth::threepids::TokenPurpose;
use crate::error::{ErrCode, Error, Result};
use crate::http::extract::{form_urlencoded_pairs, Authed, ClientIp, JsonObject, UiaBody};
use crate::http::html::page;
use crate::http::AppState;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use minijinja::context;
use serde_json::{json, Value};

/// The routes under `/_matrix/client/{v3,r0}`.
pub fn client_routes() -> Router<AppState> {
    Router::new()
        .route("/register/email/requestToken", post(register_email_token))
        .route("/register/msisdn/requestToken", post(msisdn_token))
        .route(
            "/account/password/email/requestToken",
            post(password_email_token),
        )
        .route("/account/password/msisdn/requestToken", post(msisdn_token))
        .route("/account/3pid/email/requestToken", post(add_email_token))
        .route("/account/3pid/msisdn/requestToken", post(msisdn_token))
        .route("/account/3pid", get(list).post(bind))
        .route("/account/3pid/add", post(add))
        .route("/account/3pid/delete", post(delete))
        .route("/account/3pid/bind", post(bind))
        .route("/account/3pid/unbind", post(unbind))
}

/// The validation link's routes, at the root.
pub fn root_routes() -> Router<AppState> {
    Router::new().route(
        "/_synapse/client/email/submit_token",
        get(submit_token_link).post(submit_token_json),
    )
}

async fn request_token(
    state: &AppState,
    purpose: TokenPurpose,
    ip: Option<String>,
    body: &JsonObject,
) -> Result<Json<Value>> {
    state
        .auth
        .limit_threepid_validation(ip.as_deref(), &body.0)
        .await??;
    let sid = state.auth.request_email_token(purpose, &body.0).await?;
    Ok(Json(json!({ "sid": sid })))
}

pub async fn register_email_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: JsonObject,
) -> Result<Json<Value>> {
    request_token(&state, TokenPurpose::Registration, ip, &body).await
}

pub async fn password_email_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: JsonObject,
) -> Result<Json<Value>> {
    request_token(&state, TokenPurpose::PasswordReset, ip, &body).await
}

pub async fn add_email_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: JsonObject,
) -> Result<Json<Value>> {
    request_token(&state, TokenPurpose::AddThreepid, ip, &body).await
}

/// mxauth sends no text messages.
pub async fn msisdn_token() -> Error {
    Error::new(
        400,
        ErrCode::ThreepidMediumNotSupported,
        "Phone numbers are not supported on this homeserver",
    )
}

/// The link in a validation mail (a browser follows it): an HTML page, or
/// a redirect to the client's `next_link` when its host is ours.
pub async fn submit_token_link(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let query: Vec<(String, String)> = uri
        .query()
        .map(form_urlencoded_pairs)
        .into_iter()
        .flatten()
        .collect();
    let param = |k: &str| {
        query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let (Some(token), Some(client_secret), Some(sid)) =
        (param("token"), param("client_secret"), param("sid"))
    else {
        return failure_page(
            &state,
            "The link is incomplete: it needs token, client_secret and sid.",
        );
    };
    match state
        .auth
        .submit_email_token(sid, client_secret, token)
        .await
    {
        Ok(validated) => {
            if let Some(location) = validated
                .redirect
                .as_deref()
                .and_then(|l| HeaderValue::from_str(l).ok())
            {
                return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
            }
            page(
                &state.templates,
                StatusCode::OK,
                "email_validation_success.html",
                context! { next_link => validated.next_link_text },
            )
        }
        Err(e) => match Error::from(e) {
            Error::Matrix { message, .. } => failure_page(&state, &message),
            e => e.into_response(),
        },
    }
}

fn failure_page(state: &AppState, reason: &str) -> Response {
    page(
        &state.templates,
        StatusCode::BAD_REQUEST,
        "email_validation_failure.html",
        context! { failure_reason => reason },
    )
}

/// The same as JSON: `{sid, client_secret, token}` → `{"success": true}`.
pub async fn submit_token_json(
    State(state): State<AppState>,
    body: JsonObject,
) -> Result<Json<Value>> {
    let field = |k: &str| match body.0.get(k) {
        Some(Value::String(s)) => Ok(s.as_str()),
        None | Some(Value::Null) => Err(Error::missing_param(format!("Missing param: {k}"))),
        Some(_) => Err(Error::bad_json(format!("'{k}' must be a string"))),
    };
    state
        .auth
        .submit_email_token(field("sid")?, field("client_secret")?, field("token")?)
        .await?;
    Ok(Json(json!({ "success": true })))
}

pub async fn list(State(state): State<AppState>, Authed(requester): Authed) -> Result<Json<Value>> {
    let threepids: Vec<Value> = state
        .auth
        .list_threepids(&requester.user_id)
        .await?
        .into_iter()
        .map(|t| threepid_json(&t))
        .collect();
    Ok(Json(json!({ "threepids": threepids })))
}

/// A bound 3PID as the client API and the admin API show it.
pub fn threepid_json(t: &crate::store::UserThreepid) -> Value {
    json!({
        "medium": t.medium,
        "address": t.address,
        "validated_at": t.validated_ts,
        "added_at": t.added_ts,
    })
}

pub async fn add(
    State(state): State<AppState>,
    Authed(requester): Authed,
    req: UiaBody,
) -> Result<Json<Value>> {
    state.auth.add_threepid(req.reauth(&requester)).await?;
    Ok(Json(json!({})))
}

pub async fn delete(
    State(state): State<AppState>,
    Authed(requester): Authed,
    body: JsonObject,
) -> Result<Json<Value>> {
    state
        .auth
        .delete_threepid(&requester.user_id, &body.0)
        .await?;
    Ok(Json(json!({ "id_server_unbind_result": "no-support" })))
}

/// `POST /account/3pid/bind` (and the deprecated `POST /account/3pid`):
/// mxauth has no identity server and never contacts one a request names,
/// so binding cannot be done: 403 M_FORBIDDEN (the deprecated endpoint's
/// spec lists 403; `/bind` lists no error at all).
pub async fn bind(_auth: Authed) -> Error {
    Error::forbidden("This homeserver does not bind addresses at identity servers")
}

/// Nothing was ever bound at an identity server, so there is nothing to
/// unbind: the spec's `no-support`.
pub async fn unbind(_auth: Authed, body: JsonObject) -> Result<Json<Value>> {
    for key in ["medium", "address"] {
        match body.0.get(key) {
            Some(Value::String(_)) => {}
            None | Some(Value::Null) => {
                return Err(Error::missing_param(format!("Missing param: {key}")))
            }
            Some(_) => return Err(Error::bad_json(format!("'{key}' must be a string"))),
        }
    }
    Ok(Json(json!({ "id_server_unbind_result": "no-support" })))
}

/// `POST /account/password`: with an access token, a password change;
/// without one (and email configured), a password reset by email.
pub async fn password(State(state): State<AppState>, req: Request) -> Result<Json<Value>> {
    let (mut parts, body) = req.into_parts();
    let has_token = parts.headers.contains_key(header::AUTHORIZATION)
        || parts
            .uri
            .query()
            .is_some_and(|q| form_urlencoded_pairs(q).any(|(k, _)| k == "access_token"));
    if has_token || state.auth.config.email.is_none() {
        let authed = Authed::from_request_parts(&mut parts, &state).await?;
        let uia = UiaBody::from_request(Request::from_parts(parts, body), &state).await?;
        return account::change_password(State(state), authed, uia).await;
    }
    let uia = UiaBody::from_request(Request::from_parts(parts, body), &state).await?;
    state
        .auth
        .reset_password(&uia.method, &uia.uri, &uia.body, uia.auth.as_ref())
        .await?;
    Ok(Json(json!({})))
}
