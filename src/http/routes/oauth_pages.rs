//! The OAuth 2.0 authorization's browser side: `GET /authorize`, the
//! login page (`/oauth2/login`), the consent page (`/oauth2/consent`) and
//! switching user (`/oauth2/logout`); the consent page is a device
//! grant's too (`oauth_device.rs`). Plain HTML forms, no script; every
//! form carries the CSRF token of the browser's cookie; every page is
//! bound to the browser that started the authorization.

use crate::auth::oauth::browser::{csrf_ok, csrf_token};
use crate::auth::oauth::clients::OAuthClient;
use crate::auth::oauth::grant::{AuthorizationRequest, AuthorizeError, NextPage};
use crate::auth::oauth::scope::{describe, GrantScope};
use crate::auth::oauth::signup::{PendingEmail, SignupError, SignupForm, SignupOutcome};
use crate::http::extract::{query_param, ClientIp};
use crate::http::html::page;
use crate::http::routes::oauth_browser::{
    client_label, page_url, posted_form, see_other, set_cookie, signed_in, url_encode, Browser,
    Flow,
};
pub use crate::http::routes::oauth_browser::{
    error_page, CONSENT_PATH, DEVICE_CONSENT_PATH, LOGIN_PATH,
};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use std::collections::HashMap;

pub const LOGOUT_PATH: &str = "/oauth2/logout";
pub const REGISTER_PATH: &str = crate::auth::oauth::signup::SIGNUP_URI;
/// `/oauth2/upstream/{idp_id}?grant=`: sign in at an upstream provider.
pub const UPSTREAM_PATH: &str = "/oauth2/upstream";

/// `GET /authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
) -> Response {
    let q = |name: &str| query_param(&uri, name);
    let request = AuthorizationRequest {
        client_id: q("client_id"),
        redirect_uri: q("redirect_uri"),
        response_type: q("response_type"),
        response_mode: q("response_mode"),
        scope: q("scope"),
        state: q("state"),
        nonce: q("nonce"),
        code_challenge: q("code_challenge"),
        code_challenge_method: q("code_challenge_method"),
        prompt: q("prompt"),
    };
    let browser = Browser::of(&state, &headers);
    let logged_in = match state.auth.browser_session(&browser.cookie).await {
        Ok(s) => s.is_some(),
        Err(_) => return error_page(&state, AuthorizeError::Internal),
    };
    let started = match state
        .auth
        .start_authorization(request, &browser.binding(), logged_in, ip.as_deref())
        .await
    {
        Ok(s) => s,
        Err(e) => return error_page(&state, e),
    };
    let path = match started.next {
        NextPage::Login => LOGIN_PATH,
        NextPage::Register => REGISTER_PATH,
        NextPage::Consent => CONSENT_PATH,
    };
    let cookie = browser.new.then(|| set_cookie(&state, &browser.cookie));
    see_other(&page_url(path, &started.grant_id), cookie)
}

/// A form posted by the login or registration page, once its CSRF token
/// and its flow (this browser's, still going) check out.
struct Posted {
    fields: HashMap<String, String>,
    flow: Flow,
    browser: Browser,
    /// Whom the flow is for, as the page names it.
    client: String,
}

async fn posted(state: &AppState, headers: &HeaderMap, body: &Bytes) -> Result<Posted, Response> {
    let (fields, browser) = posted_form(state, headers, body).map_err(|e| error_page(state, e))?;
    let flow = Flow::from(|k| fields.get(k).cloned());
    match flow.check(state, &browser).await {
        Ok(client) => Ok(Posted {
            fields,
            flow,
            browser,
            client,
        }),
        Err(e) => Err(error_page(state, e)),
    }
}

/// `GET /oauth2/login?grant=`.
pub async fn login_page(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let flow = Flow::from(|k| query_param(&uri, k));
    let browser = Browser::of(&state, &headers);
    let client = match flow.check(&state, &browser).await {
        Ok(client) => client,
        Err(e) => return error_page(&state, e),
    };
    render_login(&state, &browser, &flow, &client, "", None, StatusCode::OK)
}

fn render_login(
    state: &AppState,
    browser: &Browser,
    flow: &Flow,
    client_name: &str,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let error = match error {
        Some(e) => context! { error => e },
        None => context! {},
    };
    let register = match state.auth.config.enable_registration {
        true => context! { register_url => flow.url(REGISTER_PATH) },
        false => context! {},
    };
    page(
        &state.templates,
        status,
        "oauth_login.html",
        context! {
            ..context! {
                action => LOGIN_PATH,
                csrf_token => csrf_token(&browser.cookie),
                client_name,
                username,
                email_login => state.auth.config.email.is_some(),
                providers => upstream_buttons(state, flow),
            },
            ..flow.context(),
            ..error,
            ..register
        },
    )
}

/// A button per upstream OpenID Connect provider, for the login page of a
/// flow that SSO can continue (not a legacy login's: it has SSO of its own).
fn upstream_buttons(state: &AppState, flow: &Flow) -> Vec<minijinja::Value> {
    if flow.sso_ref().is_none() {
        return Vec::new();
    }
    state
        .auth
        .sso_providers()
        .iter()
        .map(|p| {
            let url = flow.url(&format!("{UPSTREAM_PATH}/{}", url_encode(&p.idp_id)));
            context! { url, name => p.idp_name.as_str(), idp_id => p.idp_id.as_str() }
        })
        .collect()
}

/// `GET /oauth2/upstream/{idp_id}?grant=` (or `device=`, `account=`): the
/// existing SSO flow at that provider, which comes back to this flow (the
/// browser's own only).
pub async fn upstream(
    State(state): State<AppState>,
    Path(idp_id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
) -> Response {
    let flow = Flow::from(|k| query_param(&uri, k));
    let browser = Browser::of(&state, &headers);
    let sso_ref = match (browser.new, flow.sso_ref()) {
        (false, Some(r)) => r,
        _ => return error_page(&state, AuthorizeError::UnknownGrant),
    };
    if let Err(e) = flow.check(&state, &browser).await {
        return error_page(&state, e);
    }
    match crate::http::routes::sso::start_for_grant(&state, ip.as_deref(), &idp_id, &sso_ref).await
    {
        Ok(response) => response,
        Err(e) => crate::http::routes::sso::error_response(&state.templates, e),
    }
}

/// `POST /oauth2/login`: the credentials, checked as `/login` checks them.
pub async fn login_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    let Posted {
        fields,
        flow,
        browser,
        client,
    } = match posted(&state, &headers, &body).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let field = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let username = field("username").trim();
    let user_id = match state
        .auth
        .browser_password_login(username, field("password"), ip.as_deref())
        .await
    {
        Ok(user_id) => user_id,
        Err(e) => {
            let (status, message) = login_refusal(e);
            return render_login(
                &state,
                &browser,
                &flow,
                &client,
                username,
                Some(&message),
                status,
            );
        }
    };
    flow.log_in(&state, &user_id).await
}

/// `GET /oauth2/register?grant=`: the registration form, asking for what
/// the server's registration policy needs.
pub async fn register_page(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let flow = Flow::from(|k| query_param(&uri, k));
    let browser = Browser::of(&state, &headers);
    let client = match flow.check(&state, &browser).await {
        Ok(client) => client,
        Err(e) => return error_page(&state, e),
    };
    // A browser that arrives here straight from /authorize has its cookie
    // set by /authorize already.
    render_register(
        &state,
        &browser,
        &flow,
        &client,
        &Typed::default(),
        None,
        StatusCode::OK,
    )
}

/// What the registration page shows again: what was typed, or the mail
/// being waited for.
#[derive(Default)]
struct Typed {
    username: String,
    pending: Option<PendingEmail>,
}

fn render_register(
    state: &AppState,
    browser: &Browser,
    flow: &Flow,
    client_name: &str,
    typed: &Typed,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let policy = state.auth.signup_policy();
    let error = match error {
        Some(e) => context! { error => e },
        None => context! {},
    };
    let terms = match &policy.terms {
        Some((name, url)) => context! { terms_name => name, terms_url => url },
        None => context! {},
    };
    let captcha = match &policy.recaptcha_sitekey {
        Some(key) => context! { sitekey => key },
        None => context! {},
    };
    let email = match policy.email {
        Some(true) => context! { email => "required" },
        Some(false) => context! { email => "optional" },
        None => context! {},
    };
    let pending = match &typed.pending {
        Some(p) => context! { pending => context! {
            email => &p.email, session => &p.session, sid => &p.sid, client_secret => &p.client_secret,
        } },
        None => context! {},
    };
    page(
        &state.templates,
        status,
        "oauth_register.html",
        context! {
            ..context! {
                action => REGISTER_PATH,
                csrf_token => csrf_token(&browser.cookie),
                client_name,
                username => &typed.username,
                login_url => flow.url(LOGIN_PATH),
                registration_token => policy.registration_token,
                closed => !policy.open,
                needs_client => policy.needs_client,
            },
            ..flow.context(),
            ..error,
            ..terms,
            ..captcha,
            ..email,
            ..pending
        },
    )
}

/// `POST /oauth2/register`: registers the account as `POST /register`
/// would (or sends the mail that validates its address, and later, with
/// `step=continue`, finishes it), logs the browser in, and goes on to
/// consent.
pub async fn register_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    let Posted {
        fields,
        flow,
        browser,
        client,
    } = match posted(&state, &headers, &body).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let field = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let (outcome, typed) = if field("step") == "continue" {
        let pending = PendingEmail {
            session: field("session").to_owned(),
            sid: field("sid").to_owned(),
            client_secret: field("client_secret").to_owned(),
            email: field("email").to_owned(),
        };
        let outcome = state
            .auth
            .continue_browser_register(&pending, ip.as_deref())
            .await
            .map(SignupOutcome::Registered);
        (
            outcome,
            Typed {
                username: String::new(),
                pending: Some(pending),
            },
        )
    } else {
        let signup = SignupForm {
            username: field("username").trim().to_owned(),
            password: field("password").to_owned(),
            registration_token: fields.get("registration_token").cloned(),
            accepted_terms: field("accept_terms") == "yes",
            recaptcha_response: fields.get("g-recaptcha-response").cloned(),
            email: fields.get("email").cloned(),
        };
        let outcome = state.auth.browser_register(&signup, ip.as_deref()).await;
        (
            outcome,
            Typed {
                username: signup.username,
                pending: None,
            },
        )
    };
    let again = |typed: &Typed, error: Option<&str>, status| {
        render_register(&state, &browser, &flow, &client, typed, error, status)
    };
    match outcome {
        Ok(SignupOutcome::Registered(user_id)) => flow.log_in(&state, &user_id).await,
        Ok(SignupOutcome::CheckEmail(pending)) => again(
            &Typed {
                username: typed.username,
                pending: Some(pending),
            },
            None,
            StatusCode::OK,
        ),
        Err(e) => {
            let (status, message) = signup_refusal(e);
            again(&typed, Some(&message), status)
        }
    }
}

/// What the registration page says of a refused registration.
fn signup_refusal(e: SignupError) -> (StatusCode, String) {
    match e {
        SignupError::Register(e) => matrix_refusal(crate::error::Error::from(e)),
        SignupError::TermsNotAccepted => (
            StatusCode::BAD_REQUEST,
            "Accept the terms to create an account".to_owned(),
        ),
        SignupError::StageFailed(message) => (StatusCode::UNAUTHORIZED, message),
        SignupError::NoFlow => (
            StatusCode::FORBIDDEN,
            "This server's registration cannot be completed on this page".to_owned(),
        ),
        SignupError::Email(e) => matrix_refusal(crate::error::Error::from(e)),
        SignupError::LimitExceeded(e) => matrix_refusal(crate::error::Error::from(e)),
        SignupError::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error".to_owned(),
        ),
    }
}

/// What the login page says of a refused login (the Matrix error's
/// status and message: one message for unknown users and wrong passwords).
fn login_refusal(e: crate::auth::login::LoginError) -> (StatusCode, String) {
    matrix_refusal(crate::error::Error::from(e))
}

/// A refusal's Matrix status and message, for a page.
pub(crate) fn matrix_refusal(e: crate::error::Error) -> (StatusCode, String) {
    match e {
        crate::error::Error::Matrix {
            status, message, ..
        } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
            message,
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error".to_owned(),
        ),
    }
}

/// `GET /oauth2/consent?grant=`: who asks for what, as whom.
pub async fn consent_page(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let grant_id = query_param(&uri, "grant").unwrap_or_default();
    let browser = Browser::of(&state, &headers);
    let (grant, client, scope) = match state
        .auth
        .grant_for_browser(&grant_id, &browser.binding())
        .await
    {
        Ok(found) => found,
        Err(e) => return error_page(&state, e),
    };
    let user = match signed_in(&state, &browser, &Flow::Grant(grant_id.clone())).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let redirect_host = url::Url::parse(&grant.redirect_uri)
        .ok()
        .map(|u| match u.host_str() {
            Some(h) => h.to_owned(),
            None => format!("{}:", u.scheme()),
        })
        .unwrap_or_default();
    render_consent(
        &state,
        &browser,
        &Flow::Grant(grant_id),
        &client,
        &scope,
        &user.user_id,
        context! { redirect_host },
    )
}

/// The consent page of a flow (a grant, or a device grant): who asks for
/// what, as whom; `destination` says where the answer goes
/// (`redirect_host`, or the device's `user_code`).
pub(crate) fn render_consent(
    state: &AppState,
    browser: &Browser,
    flow: &Flow,
    client: &OAuthClient,
    scope: &GrantScope,
    user_id: &str,
    destination: minijinja::Value,
) -> Response {
    let scopes: Vec<minijinja::Value> = scope
        .tokens
        .iter()
        .map(|t| context! { scope => t, description => describe(t) })
        .collect();
    let csrf = csrf_token(&browser.cookie);
    let optional = context! {
        client_uri => client.client_uri.clone(),
        tos_uri => client.tos_uri.clone(),
        policy_uri => client.policy_uri.clone(),
    };
    let action = match flow {
        Flow::Device(_) => DEVICE_CONSENT_PATH,
        _ => CONSENT_PATH,
    };
    page(
        &state.templates,
        StatusCode::OK,
        "oauth_consent.html",
        context! {
            ..context! {
                action,
                csrf_token => csrf.clone(),
                user_id,
                client_name => client_label(client),
                scopes,
                logout_url => format!("{}&csrf_token={csrf}", flow.url(LOGOUT_PATH)),
            },
            ..flow.context(),
            ..destination,
            ..optional
        },
    )
}

/// `POST /oauth2/consent`: `action=approve` (a code for the client) or
/// anything else (declined: `access_denied`).
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
    let (grant, _, scope) = match state
        .auth
        .grant_for_browser(field("grant"), &browser.binding())
        .await
    {
        Ok(found) => found,
        Err(e) => return error_page(&state, e),
    };
    let user = match signed_in(&state, &browser, &Flow::Grant(grant.grant_id.clone())).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let outcome = if field("action") == "approve" {
        state
            .auth
            .approve_grant(&grant, &scope, &user.user_id, user.authenticated_ts)
            .await
            .map(|a| a.location)
    } else {
        state.auth.decline_grant(&grant).await
    };
    match outcome {
        Ok(location) => see_other(&location, None),
        Err(e) => error_page(&state, e),
    }
}

/// `GET /oauth2/logout?grant=&csrf_token=` (or `device=`): sign in as
/// someone else.
pub async fn logout(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let flow = Flow::from(|k| query_param(&uri, k));
    let browser = Browser::of(&state, &headers);
    let csrf = query_param(&uri, "csrf_token").unwrap_or_default();
    if browser.new || !csrf_ok(&browser.cookie, &csrf) {
        return error_page(&state, AuthorizeError::UnknownGrant);
    }
    if state
        .auth
        .end_browser_session(&browser.cookie)
        .await
        .is_err()
    {
        return error_page(&state, AuthorizeError::Internal);
    }
    see_other(&flow.url(LOGIN_PATH), None)
}
