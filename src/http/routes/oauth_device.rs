//! The device authorization grant's HTTP side (RFC 8628): the device
//! authorization endpoint (`POST /oauth2/device`, JSON, for the device),
//! the verification page (`/link`, where the user types the user code;
//! `verification_uri_complete` fills it in), and the device grant's
//! consent (`/oauth2/device/consent`), after the login page if the
//! browser is not logged in. The device then polls the token endpoint
//! (`oauth_token.rs`).

use crate::auth::oauth::browser::csrf_token;
use crate::auth::oauth::device::{display_user_code, UserCodeError};
use crate::auth::oauth::grant::AuthorizeError;
use crate::http::error::oauth::OAuthErrorResponse;
use crate::http::extract::{query_param, ClientIp};
use crate::http::html::page;
use crate::http::routes::oauth_browser::{
    client_label, error_page, posted_form, see_other, set_cookie, signed_in, Browser, Flow,
    LOGIN_PATH,
};
use crate::http::routes::oauth_pages::render_consent;
use crate::http::routes::oauth_token::{client, parse_form};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use minijinja::context;
use serde_json::json;

/// The device authorization endpoint.
pub const DEVICE_AUTHORIZATION_PATH: &str = "/oauth2/device";
/// The verification page (`crate::auth::oauth::device::VERIFICATION_PATH`).
pub const LINK_PATH: &str = "/link";
pub use crate::http::routes::oauth_browser::DEVICE_CONSENT_PATH;

/// `POST /oauth2/device`: `client_id` (the client authenticates as at the
/// token endpoint) and `scope`; the six fields of RFC 8628 §3.2.
pub async fn device_authorization(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    let answer = async {
        let form = parse_form(&body)?;
        let client = client(&state, &headers, &form).await?;
        let started = state
            .auth
            .start_device_authorization(
                &client,
                form.get("scope").map(String::as_str),
                ip.as_deref(),
            )
            .await?;
        Ok::<_, OAuthErrorResponse>(
            (
                StatusCode::OK,
                [(header::CACHE_CONTROL, "no-store")],
                Json(json!({
                    "device_code": started.device_code.expose(),
                    "user_code": started.user_code,
                    "verification_uri": started.verification_uri,
                    "verification_uri_complete": started.verification_uri_complete,
                    "expires_in": started.expires_in_s,
                    "interval": started.interval_s,
                })),
            )
                .into_response(),
        )
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /link?code=`: the form for the user code, filled in from the link.
pub async fn link_page(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    if state.auth.oauth().is_none() {
        return error_page(&state, AuthorizeError::Disabled);
    }
    let browser = Browser::of(&state, &headers);
    let code = query_param(&uri, "code")
        .map(|c| display_user_code(&c.chars().take(32).collect::<String>()))
        .unwrap_or_default();
    let mut response = render_link(&state, &browser, &code, None, StatusCode::OK);
    if browser.new {
        if let Ok(v) = set_cookie(&state, &browser.cookie).parse() {
            response.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    response
}

fn render_link(
    state: &AppState,
    browser: &Browser,
    code: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let error = match error {
        Some(e) => context! { error => e },
        None => context! {},
    };
    page(
        &state.templates,
        status,
        "oauth_link.html",
        context! {
            ..context! {
                action => LINK_PATH,
                csrf_token => csrf_token(&browser.cookie),
                code,
            },
            ..error
        },
    )
}

/// `POST /link`: the typed code (each try counts against the address);
/// its grant is now this browser's: on to login, or to consent.
pub async fn link_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    if state.auth.oauth().is_none() {
        return error_page(&state, AuthorizeError::Disabled);
    }
    let (fields, browser) = match posted_form(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(e) => return error_page(&state, e),
    };
    let field = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let typed: String = field("code").chars().take(32).collect();
    let id = match state
        .auth
        .device_grant_by_user_code(&typed, &browser.binding(), ip.as_deref())
        .await
    {
        Ok(id) => id,
        Err(e) => {
            let (status, message) = match e {
                UserCodeError::Unknown => (
                    StatusCode::BAD_REQUEST,
                    "This code is unknown, expired, or used: check what your device shows",
                ),
                UserCodeError::LimitExceeded(_) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many codes tried: wait a moment and try again",
                ),
                UserCodeError::Internal => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
                }
            };
            return render_link(&state, &browser, &typed, Some(message), status);
        }
    };
    let flow = Flow::Device(id);
    match state.auth.browser_session(&browser.cookie).await {
        Ok(Some(_)) => see_other(&flow.url(DEVICE_CONSENT_PATH), None),
        Ok(None) => see_other(&flow.url(LOGIN_PATH), None),
        Err(_) => error_page(&state, AuthorizeError::Internal),
    }
}

/// `GET /oauth2/device/consent?device=`: who asks for what, on which
/// device (the user code), as whom.
pub async fn consent_page(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let id = query_param(&uri, "device").unwrap_or_default();
    let browser = Browser::of(&state, &headers);
    let (grant, client, scope) = match state
        .auth
        .device_grant_for_browser(&id, &browser.binding())
        .await
    {
        Ok(found) => found,
        Err(e) => return error_page(&state, e),
    };
    let flow = Flow::Device(id);
    let user = match signed_in(&state, &browser, &flow).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    render_consent(
        &state,
        &browser,
        &flow,
        &client,
        &scope,
        &user.user_id,
        context! { user_code => display_user_code(&grant.user_code) },
    )
}

/// `POST /oauth2/device/consent`: `action=approve` (the device's next
/// poll gets its tokens) or anything else (declined: `access_denied`).
pub async fn consent_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (fields, browser) = match posted_form(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(e) => return error_page(&state, e),
    };
    let field = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let (grant, client, scope) = match state
        .auth
        .device_grant_for_browser(field("device"), &browser.binding())
        .await
    {
        Ok(found) => found,
        Err(e) => return error_page(&state, e),
    };
    let flow = Flow::Device(grant.device_grant_id.clone());
    let user = match signed_in(&state, &browser, &flow).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let approve = field("action") == "approve";
    if let Err(e) = state
        .auth
        .decide_device_grant(
            &grant,
            &scope,
            &user.user_id,
            user.authenticated_ts,
            approve,
        )
        .await
    {
        return error_page(&state, e);
    }
    page(
        &state.templates,
        StatusCode::OK,
        "oauth_device_done.html",
        context! { approved => approve, client_name => client_label(&client) },
    )
}
