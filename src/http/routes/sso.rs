//! Single sign-on: `GET /login/sso/redirect[/{idpId}]` (to the identity
//! provider, or a page to pick one), the provider's callback at Synapse's
//! `/_synapse/client/oidc/callback`, and the pages after it (confirmation
//! before going to a client not on `sso.client_whitelist`, errors). The
//! rules are in [`crate::auth::sso`]; the pages are templates
//! (`templates/sso_*.html`) rendered through [`crate::http::html`].

use crate::auth::ratelimit::{address_key, Limiter};
use crate::auth::sso::login_token::LOGIN_TYPE_TOKEN;
use crate::auth::sso::redirect::RedirectTarget;
use crate::auth::sso::username_picker::{UsernameChoice, USERNAME_COOKIE};
use crate::auth::sso::{
    CallbackParams, SsoError, SsoFinish, BINDING_COOKIE, CALLBACK_PATH, LOGIN_TYPE_SSO,
};
use crate::auth::Auth;
use crate::error::{ErrCode, Error, Result};
use crate::http::extract::{cookie_value, query_param, ClientIp};
use crate::http::html::{page, render_fallback};
use crate::http::routes::oauth_browser::secure_flag;
use crate::http::AppState;
use crate::templates::Templates;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde_json::{json, Value};

/// The fallback page of `m.login.sso` (Synapse's name for it).
pub const UIA_TEMPLATE: &str = "sso_auth_confirm.html";

/// The flows `GET /login` adds when SSO is configured. With the OAuth 2.0
/// API on, `m.login.sso` is the preferred flow of OAuth 2.0 aware clients
/// (spec v1.18, MSC3824: `oauth_aware_preferred`), offered even without
/// upstream providers: `/login/sso/redirect` then leads to mxauth's own
/// login page (`oauth_compat.rs`).
pub fn login_flows(auth: &Auth) -> Vec<Value> {
    let mut flows = Vec::new();
    if !auth.sso_providers().is_empty() || auth.compat_sso_enabled() {
        let mut sso = sso_flow(auth);
        if auth.oauth().is_some() {
            sso["oauth_aware_preferred"] = json!(true);
        }
        flows.push(sso);
    }
    if auth.login_token_enabled() {
        let mut token = json!({ "type": LOGIN_TYPE_TOKEN });
        if auth.config.login_via_existing_session.enabled {
            // MSC3882: this server issues tokens at /login/get_token.
            token["get_login_token"] = json!(true);
        }
        flows.push(token);
    }
    flows
}

fn sso_flow(auth: &Auth) -> Value {
    let providers: Vec<Value> = auth
        .sso_providers()
        .iter()
        .map(|p| {
            let mut idp = json!({ "id": p.idp_id, "name": p.idp_name });
            if let Some(icon) = &p.idp_icon {
                idp["icon"] = json!(icon);
            }
            if let Some(brand) = &p.idp_brand {
                idp["brand"] = json!(brand);
            }
            idp
        })
        .collect();
    if providers.is_empty() {
        return json!({ "type": LOGIN_TYPE_SSO });
    }
    json!({ "type": LOGIN_TYPE_SSO, "identity_providers": providers })
}

/// `GET /login/sso/redirect`: straight to the only provider, or a page
/// to pick one.
pub async fn redirect_any(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ClientIp(ip): ClientIp,
) -> Result<Response> {
    let redirect_url = redirect_url_param(&uri)?;
    let providers = state.auth.sso_providers();
    match providers {
        [] => Err(Error::unrecognized(404, "Single sign-on is not configured")),
        [only] => start(&state, ip.as_deref(), &only.idp_id.clone(), &redirect_url).await,
        several => {
            let providers: Vec<minijinja::Value> = several
                .iter()
                .map(|p| {
                    let href = format!(
                        "{}/{}?redirectUrl={}",
                        uri.path().trim_end_matches('/'),
                        url_encode(&p.idp_id),
                        url_encode(&redirect_url)
                    );
                    context! {
                        idp_id => p.idp_id.as_str(),
                        idp_name => p.idp_name.as_str(),
                        idp_icon => p.idp_icon.as_deref(),
                        idp_brand => p.idp_brand.as_deref(),
                        href,
                    }
                })
                .collect();
            Ok(page(
                &state.templates,
                StatusCode::OK,
                "sso_login_idp_picker.html",
                context! { redirect_url, providers },
            ))
        }
    }
}

/// `GET /login/sso/redirect/{idpId}`.
pub async fn redirect_to(
    State(state): State<AppState>,
    Path(idp_id): Path<String>,
    OriginalUri(uri): OriginalUri,
    ClientIp(ip): ClientIp,
) -> Result<Response> {
    let redirect_url = redirect_url_param(&uri)?;
    if state.auth.sso_provider(&idp_id).is_none() {
        return Err(SsoError::UnknownProvider.into());
    }
    start(&state, ip.as_deref(), &idp_id, &redirect_url).await
}

/// The `redirectUrl`, after checking the `action` (spec v1.18; MSC3824's
/// unstable `org.matrix.msc3824.action`): `login` or `register`. An
/// upstream provider signs a new user up at their first login either way,
/// so both lead to the same provider.
pub(crate) fn redirect_url_param(uri: &axum::http::Uri) -> Result<String> {
    for key in ["action", "org.matrix.msc3824.action"] {
        match query_param(uri, key).as_deref() {
            None | Some("login") | Some("register") => {}
            Some(_) => {
                return Err(Error::invalid_param(format!(
                    "{key} must be `login` or `register`"
                )))
            }
        }
    }
    query_param(uri, "redirectUrl")
        .ok_or_else(|| Error::missing_param("Missing param: redirectUrl"))
}

async fn start(
    state: &AppState,
    ip: Option<&str>,
    idp_id: &str,
    redirect_url: &str,
) -> Result<Response> {
    // Each start is a row and may be a call to the provider.
    state
        .auth
        .ratelimit(Limiter::SsoRedirect, address_key(ip))
        .await??;
    let started = state.auth.start_sso(idp_id, redirect_url, None).await?;
    Ok(found_with_cookie(state, started))
}

/// To `idp_id` from the OAuth 2.0 login page, for grant `grant_id` (this
/// browser's: the caller checked), limited as `/login/sso/redirect` is.
pub(crate) async fn start_for_grant(
    state: &AppState,
    ip: Option<&str>,
    idp_id: &str,
    grant_id: &str,
) -> Result<Response> {
    state
        .auth
        .ratelimit(Limiter::SsoRedirect, address_key(ip))
        .await??;
    let started = state.auth.start_sso_for_grant(idp_id, grant_id).await?;
    Ok(found_with_cookie(state, started))
}

/// To the provider, with the cookie that binds the flow to this browser.
fn found_with_cookie(state: &AppState, started: crate::auth::sso::SsoStart) -> Response {
    let cookie = format!(
        "{BINDING_COOKIE}={}; Path={}; Max-Age=3600; HttpOnly; SameSite=Lax{}",
        started.binding_cookie,
        callback_path(&state.auth),
        secure_flag(&state.auth)
    );
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, started.location),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

/// The path of the callback URL (the binding cookie is sent there only).
fn callback_path(auth: &Auth) -> String {
    auth.oidc_callback_url()
        .and_then(|u| url::Url::parse(&u).ok())
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|| format!("/{CALLBACK_PATH}"))
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /_synapse/client/oidc/callback`: the provider sends the browser
/// back here. Answers are HTML pages (the browser is a person's).
pub async fn callback(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let params = CallbackParams {
        state: query_param(&uri, "state"),
        code: query_param(&uri, "code"),
        error: query_param(&uri, "error"),
        iss: query_param(&uri, "iss"),
    };
    let binding = cookie_value(&headers, BINDING_COOKIE);
    let clear = format!(
        "{BINDING_COOKIE}=; Path={}; Max-Age=0; HttpOnly; SameSite=Lax{}",
        callback_path(&state.auth),
        secure_flag(&state.auth)
    );
    let mut response = match state.auth.finish_sso(&params, binding.as_deref()).await {
        Ok(finish) => finish_response(&state, &headers, finish).await,
        Err(e) => error_response(&state.templates, e.into()),
    };
    if let Ok(v) = header::HeaderValue::from_str(&clear) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// Where a finished flow takes the browser.
pub(crate) async fn finish_response(
    state: &AppState,
    headers: &HeaderMap,
    finish: SsoFinish,
) -> Response {
    match finish {
        SsoFinish::OAuthGrant { user_id, grant_id } => {
            crate::http::routes::oauth_browser::continue_grant(state, headers, &grant_id, &user_id)
                .await
        }
        SsoFinish::UiaStageDone { .. } => page(
            &state.templates,
            StatusCode::OK,
            "sso_auth_success.html",
            context! {},
        ),
        SsoFinish::PickUsername { username_cookie } => {
            let path = picker_path(&state.auth);
            let cookie = format!(
                "{USERNAME_COOKIE}={username_cookie}; Path={path}; Max-Age=900; HttpOnly; SameSite=Lax{}",
                secure_flag(&state.auth)
            );
            (
                StatusCode::FOUND,
                [
                    (header::LOCATION, format!("{path}/account_details")),
                    (header::SET_COOKIE, cookie),
                ],
            )
                .into_response()
        }
        SsoFinish::Login { redirect, .. } => match redirect {
            RedirectTarget::Trusted(url) => {
                (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
            }
            RedirectTarget::Untrusted { url, host } => {
                confirm_page(&state.templates, url.as_str(), &host)
            }
            RedirectTarget::Invalid => error_page(
                &state.templates,
                StatusCode::BAD_REQUEST,
                None,
                "The application did not say where to go back to",
            ),
        },
    }
}

/// The path of Synapse's username picker under `public_baseurl`.
fn picker_path(auth: &Auth) -> String {
    let base = auth
        .config
        .public_baseurl
        .as_deref()
        .and_then(|b| url::Url::parse(b).ok())
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    format!("{base}_synapse/client/pick_username")
}

/// `GET /_synapse/client/pick_username/account_details`: the form.
pub async fn picker_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let cookie = cookie_value(&headers, USERNAME_COOKIE);
    match state.auth.pending_registration(cookie.as_deref()).await {
        Ok(pending) => picker_page(
            &state.templates,
            &pending,
            None,
            pending.suggested_localpart.as_deref(),
        ),
        Err(e) => error_response(&state.templates, e.into()),
    }
}

/// `POST /_synapse/client/pick_username/account_details`: the choice.
pub async fn picker_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let cookie = cookie_value(&headers, USERNAME_COOKIE);
    let fields: std::collections::HashMap<String, String> =
        crate::http::extract::form_urlencoded_pairs(std::str::from_utf8(&body).unwrap_or(""))
            .collect();
    let choice = UsernameChoice {
        localpart: fields.get("username").cloned().unwrap_or_default(),
        use_display_name: fields.get("use_display_name").map(String::as_str) == Some("true"),
        use_email: fields.get("use_email").map(String::as_str) == Some("true"),
    };
    match state
        .auth
        .finish_username_pick(cookie.as_deref(), &choice)
        .await
    {
        Ok(finish) => {
            let mut response = finish_response(&state, &headers, finish).await;
            let clear = format!(
                "{USERNAME_COOKIE}=; Path={}; Max-Age=0; HttpOnly; SameSite=Lax{}",
                picker_path(&state.auth),
                secure_flag(&state.auth)
            );
            if let Ok(v) = header::HeaderValue::from_str(&clear) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            response
        }
        Err(e) => {
            let on_form = is_form_refusal(&e);
            match Error::from(e) {
                // A bad or taken name: the form again, with the reason.
                Error::Matrix { message, .. } if on_form => {
                    match state.auth.pending_registration(cookie.as_deref()).await {
                        Ok(pending) => {
                            let mut r = picker_page(
                                &state.templates,
                                &pending,
                                Some(&message),
                                Some(&choice.localpart),
                            );
                            *r.status_mut() = StatusCode::BAD_REQUEST;
                            r
                        }
                        Err(e) => error_response(&state.templates, e.into()),
                    }
                }
                e => error_response(&state.templates, e),
            }
        }
    }
}

/// Whether the picker shows a refusal on its form, next to the name: a
/// taken name, or one the localpart rules refuse; the rest is the error
/// page.
fn is_form_refusal(e: &SsoError) -> bool {
    matches!(e, SsoError::UsernameTaken | SsoError::Username(_))
}

fn picker_page(
    templates: &Templates,
    pending: &crate::store::PendingRegistration,
    error: Option<&str>,
    value: Option<&str>,
) -> Response {
    let error = match error {
        Some(e) => context! { error => e },
        None => context! {},
    };
    page(
        templates,
        StatusCode::OK,
        "sso_auth_account_details.html",
        context! {
            username => value.unwrap_or(""),
            display_name => pending.display_name.as_deref(),
            email => pending.email.as_deref(),
            ..error
        },
    )
}

/// `GET /_synapse/client/pick_username/check?username=`: `{"available": bool}`,
/// for the browser that holds the picker's cookie only.
pub async fn picker_check(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    ClientIp(ip): ClientIp,
) -> Result<axum::Json<Value>> {
    state
        .auth
        .ratelimit(Limiter::UsernameAvailable, address_key(ip.as_deref()))
        .await??;
    let cookie = cookie_value(&headers, USERNAME_COOKIE);
    let username = query_param(&uri, "username")
        .ok_or_else(|| Error::missing_param("Missing param: username"))?;
    let available = state
        .auth
        .username_available(cookie.as_deref(), &username)
        .await?;
    Ok(axum::Json(json!({ "available": available })))
}

/// Before sending a login token to a client the admin has not listed.
fn confirm_page(templates: &Templates, url: &str, host: &str) -> Response {
    page(
        templates,
        StatusCode::OK,
        "sso_redirect_confirm.html",
        context! { display_url => host, redirect_url => url },
    )
}

/// The error page; a deactivated account has a page of its own (Synapse's).
fn error_page(
    templates: &Templates,
    status: StatusCode,
    errcode: Option<ErrCode>,
    message: &str,
) -> Response {
    let template = match errcode {
        Some(ErrCode::UserDeactivated) => "sso_account_deactivated.html",
        _ => "sso_error.html",
    };
    let code = errcode.unwrap_or(ErrCode::Unknown).as_str();
    page(
        templates,
        status,
        template,
        context! { error => code, error_description => message },
    )
}

/// An error of the flow as a page: the status and the (safe) message of
/// the Matrix error; a 500 says nothing more.
pub(crate) fn error_response(templates: &Templates, e: Error) -> Response {
    match &e {
        Error::Matrix {
            status,
            errcode,
            message,
            ..
        } => error_page(
            templates,
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            Some(*errcode),
            message,
        ),
        _ => error_page(
            templates,
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "Internal server error",
        ),
    }
}

/// `POST /login` with `m.login.token`.
pub async fn login_with_token(
    state: &AppState,
    body: &crate::http::extract::JsonObject,
    device_id: Option<crate::auth::identifiers::DeviceId>,
    options: &crate::auth::SessionOptions,
) -> Result<crate::auth::Session> {
    let token = match body.0.get("token") {
        Some(Value::String(t)) => t.clone(),
        Some(_) => return Err(Error::bad_json("token must be a string")),
        None => return Err(Error::missing_param("Missing param: token")),
    };
    let display_name = match body.0.get("initial_device_display_name") {
        Some(Value::String(n)) => Some(n.as_str()),
        _ => None,
    };
    Ok(state
        .auth
        .login_with_token(&token, device_id, display_name, options)
        .await?)
}

/// `GET /auth/m.login.sso/fallback/web?session=&idp_id=`: off to that
/// provider to re-authenticate.
pub async fn start_uia(state: &AppState, session: &str, idp_id: &str) -> Result<Response> {
    let started = state.auth.start_sso_uia(session, idp_id).await?;
    Ok(found_with_cookie(state, started))
}

/// `m.login.sso`'s fallback page: what the client is trying to do, and a
/// link per provider the user is linked to.
pub async fn uia_page(
    state: &AppState,
    uri: &axum::http::Uri,
    session: &str,
    error: Option<&str>,
) -> Result<Response> {
    let (uia, _) = state.auth.fallback_session(session).await?;
    let description = crate::auth::sso::operation_description(&uia.method, &uia.uri);
    let user = uia.user_id.unwrap_or_default();
    let providers: Vec<minijinja::Value> = state
        .auth
        .sso_providers_of(&user)
        .await?
        .iter()
        .map(|p| {
            let href = format!(
                "{}?session={}&idp_id={}",
                uri.path(),
                url_encode(session),
                url_encode(&p.idp_id)
            );
            context! { idp_id => p.idp_id.as_str(), idp_name => p.idp_name.as_str(), href }
        })
        .collect();
    Ok(render_fallback(
        &state.templates,
        UIA_TEMPLATE,
        uri.path(),
        session,
        error,
        context! { description, user_id => user, providers },
    ))
}

/// `POST /_matrix/client/v1/login/get_token` (MSC3882).
pub async fn get_token(
    State(state): State<AppState>,
    crate::http::extract::Authed(requester): crate::http::extract::Authed,
    req: crate::http::extract::UiaBody,
) -> Result<axum::Json<Value>> {
    let (token, expires_in_ms) = state.auth.get_login_token(req.reauth(&requester)).await?;
    Ok(axum::Json(json!({
        "login_token": token.expose(),
        "expires_in_ms": expires_in_ms,
    })))
}
