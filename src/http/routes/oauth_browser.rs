//! The browser at mxauth's OAuth 2.0 pages, as the pages and SSO's return
//! to them share it: its cookie (`mxauth_browser_session`), the answers
//! that set it, logging it in (a new cookie, the grant rebound to it), and
//! the error page of an authorization that cannot go back to its client.

use crate::auth::oauth::browser::{new_browser_cookie, BROWSER_COOKIE};
use crate::auth::oauth::grant::AuthorizeError;
use crate::auth::tokens::hash_token;
use crate::auth::Auth;
use crate::http::extract::cookie_value;
use crate::http::html::page;
use crate::http::AppState;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;

pub const CONSENT_PATH: &str = "/oauth2/consent";
pub const LOGIN_PATH: &str = "/oauth2/login";
/// `GET /oauth2/compat/complete?compat=`: a legacy login's last step.
pub const COMPAT_COMPLETE_PATH: &str = "/oauth2/compat/complete";
/// `GET`/`POST /oauth2/device/consent?device=`: a device grant's consent.
pub const DEVICE_CONSENT_PATH: &str = "/oauth2/device/consent";
/// The account pages (`account_management_uri`).
pub const ACCOUNT_PATH: &str = "/account/";

/// `; Secure` for cookies when `public_baseurl` is https.
pub(crate) fn secure_flag(auth: &Auth) -> &'static str {
    match &auth.config.public_baseurl {
        Some(b) if b.starts_with("https://") => "; Secure",
        _ => "",
    }
}

/// The browser's cookie, and whether it is new (to be set with the answer).
pub(crate) struct Browser {
    pub(crate) cookie: String,
    pub(crate) new: bool,
}

impl Browser {
    pub(crate) fn of(state: &AppState, headers: &HeaderMap) -> Browser {
        match cookie_value(headers, BROWSER_COOKIE).filter(|c| !c.is_empty() && c.len() <= 64) {
            Some(cookie) => Browser { cookie, new: false },
            None => Browser {
                cookie: new_browser_cookie(&state.auth).expose().to_owned(),
                new: true,
            },
        }
    }

    pub(crate) fn binding(&self) -> Vec<u8> {
        hash_token(&self.cookie)
    }
}

/// `Set-Cookie` for the browser's cookie.
pub(crate) fn set_cookie(state: &AppState, value: &str) -> String {
    format!(
        "{BROWSER_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax{}",
        secure_flag(&state.auth)
    )
}

pub(crate) fn see_other(location: &str, cookie: Option<String>) -> Response {
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_owned())],
    )
        .into_response();
    if let Some(c) = cookie.and_then(|c| c.parse().ok()) {
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    response
}

pub(crate) fn page_url(path: &str, grant_id: &str) -> String {
    format!("{path}?grant={}", url_encode(grant_id))
}

pub(crate) fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An authorization that cannot go back to its client: a page at mxauth.
pub fn error_page(state: &AppState, e: AuthorizeError) -> Response {
    let (status, error, description) = match e {
        AuthorizeError::Redirect {
            to,
            error,
            description,
        } => {
            let location = to.location(
                &state.auth.oauth_issuer(),
                &[("error", error), ("error_description", &description)],
            );
            return see_other(&location, None);
        }
        AuthorizeError::Disabled => (
            StatusCode::NOT_FOUND,
            "invalid_request",
            "OAuth 2.0 is not enabled on this server".to_owned(),
        ),
        AuthorizeError::UnknownClient => (
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "The application is not registered here (unknown client_id)".to_owned(),
        ),
        AuthorizeError::BadRedirectUri => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The redirect_uri is missing or is not one the application registered".to_owned(),
        ),
        AuthorizeError::UnknownGrant => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "This sign-in request is unknown, expired, finished, or was started in another browser"
                .to_owned(),
        ),
        AuthorizeError::AdminOnly => (
            StatusCode::FORBIDDEN,
            "access_denied",
            "urn:synapse:admin:* is granted to server admins only: the device was refused"
                .to_owned(),
        ),
        AuthorizeError::LimitExceeded(_) => (
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            "Too many requests: wait a moment and try again".to_owned(),
        ),
        AuthorizeError::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Internal server error".to_owned(),
        ),
    };
    page(
        &state.templates,
        status,
        "oauth_error.html",
        context! { error, error_description => description },
    )
}

/// The SSO callback (or the username picker) resolved `user_id` for the
/// flow the SSO session carried ([`Flow::sso_ref`]): if the flow is still
/// this browser's, the browser is logged in and the flow goes on (to
/// consent, or back to the account page).
pub async fn continue_grant(
    state: &AppState,
    headers: &HeaderMap,
    sso_ref: &str,
    user_id: &str,
) -> Response {
    let browser = Browser::of(state, headers);
    if browser.new {
        return error_page(state, AuthorizeError::UnknownGrant);
    }
    let flow = Flow::from_sso_ref(sso_ref);
    if let Err(e) = flow.check(state, &browser).await {
        return error_page(state, e);
    }
    flow.log_in(state, user_id).await
}

/// What the login and registration pages continue: an OAuth 2.0 grant
/// (`grant=`), a legacy client's login (`compat=`, MSC3824), a device
/// authorization grant (`device=`, RFC 8628), or the account pages
/// (`account=`, the page to go back to).
pub(crate) enum Flow {
    Grant(String),
    Compat(String),
    Device(String),
    Account(String),
}

impl Flow {
    /// From a page's query or form.
    pub(crate) fn from(get: impl Fn(&str) -> Option<String>) -> Flow {
        if let Some(id) = get("compat") {
            Flow::Compat(id)
        } else if let Some(id) = get("device") {
            Flow::Device(id)
        } else if let Some(to) = get("account") {
            Flow::Account(account_return(&to))
        } else {
            Flow::Grant(get("grant").unwrap_or_default())
        }
    }

    /// What an SSO session at an upstream provider keeps to continue the
    /// flow after the callback (in `sso_sessions.oauth_grant_id`): a
    /// grant's ID as it is (grant IDs are alphanumeric), the others with a
    /// prefix; `None` for a legacy login, which has SSO of its own.
    pub(crate) fn sso_ref(&self) -> Option<String> {
        match self {
            Flow::Grant(id) => Some(id.clone()),
            Flow::Device(id) => Some(format!("device:{id}")),
            Flow::Account(to) => Some(format!("account:{to}")),
            Flow::Compat(_) => None,
        }
    }

    /// The flow an SSO session continues.
    pub(crate) fn from_sso_ref(sso_ref: &str) -> Flow {
        if let Some(id) = sso_ref.strip_prefix("device:") {
            Flow::Device(id.to_owned())
        } else if let Some(to) = sso_ref.strip_prefix("account:") {
            Flow::Account(account_return(to))
        } else {
            Flow::Grant(sso_ref.to_owned())
        }
    }

    /// The name and value of the form field (and query parameter) naming it.
    fn field(&self) -> (&'static str, &str) {
        match self {
            Flow::Grant(id) => ("grant", id),
            Flow::Compat(id) => ("compat", id),
            Flow::Device(id) => ("device", id),
            Flow::Account(to) => ("account", to),
        }
    }

    /// The URL of page `path` continuing this flow.
    pub(crate) fn url(&self, path: &str) -> String {
        let (name, value) = self.field();
        format!("{path}?{name}={}", url_encode(value))
    }

    /// The template variables naming it: `flow_name` and `flow_value`
    /// (the hidden field of the pages' forms), and `grant` (empty but for
    /// an OAuth 2.0 grant).
    pub(crate) fn context(&self) -> minijinja::Value {
        let (flow_name, flow_value) = self.field();
        let grant = match self {
            Flow::Grant(id) => id.as_str(),
            _ => "",
        };
        context! { flow_name, flow_value, grant }
    }

    /// Whom the flow is for (the client's name, the host a legacy client
    /// goes back to, or the account), if it is this browser's and still
    /// going.
    pub(crate) async fn check(
        &self,
        state: &AppState,
        browser: &Browser,
    ) -> Result<String, AuthorizeError> {
        match self {
            Flow::Grant(id) => {
                let (_, client, _) = state.auth.grant_for_browser(id, &browser.binding()).await?;
                Ok(client_label(&client))
            }
            Flow::Compat(id) => {
                let login = state
                    .auth
                    .compat_login_for_browser(id, &browser.binding())
                    .await?;
                Ok(url::Url::parse(&login.redirect_url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or(login.redirect_url))
            }
            Flow::Device(id) => {
                let (_, client, _) = state
                    .auth
                    .device_grant_for_browser(id, &browser.binding())
                    .await?;
                Ok(client_label(&client))
            }
            Flow::Account(_) => Ok("your account".to_owned()),
        }
    }

    /// The browser is now `user_id`'s (a new cookie; the flow follows it):
    /// on to consent, to the legacy login's last step, or back to the
    /// account page.
    pub(crate) async fn log_in(&self, state: &AppState, user_id: &str) -> Response {
        let started = async {
            let cookie = state.auth.start_browser_session(user_id).await?;
            match self {
                Flow::Compat(id) => state.auth.rebind_compat_login(id, &cookie.hash()).await?,
                Flow::Grant(id) => state.auth.rebind_grant(id, &cookie.hash()).await?,
                Flow::Device(id) => state.auth.rebind_device_grant(id, &cookie.hash()).await?,
                Flow::Account(_) => {}
            }
            Ok::<_, crate::store::StoreError>(cookie)
        }
        .await;
        let next = match self {
            Flow::Compat(_) => self.url(COMPAT_COMPLETE_PATH),
            Flow::Grant(id) => page_url(CONSENT_PATH, id),
            Flow::Device(_) => self.url(DEVICE_CONSENT_PATH),
            Flow::Account(to) => to.clone(),
        };
        match started {
            Ok(cookie) => see_other(&next, Some(set_cookie(state, cookie.expose()))),
            Err(_) => error_page(state, AuthorizeError::Internal),
        }
    }
}

/// Where the account pages' login goes back to: a path of the account
/// pages (anything else, which could send the browser elsewhere, is the
/// account's first page).
pub(crate) fn account_return(to: &str) -> String {
    let local = to.starts_with(ACCOUNT_PATH)
        && to.len() <= 512
        && !to.contains("//")
        && !to.contains('\\')
        && to.bytes().all(|b| b.is_ascii_graphic());
    match local {
        true => to.to_owned(),
        false => ACCOUNT_PATH.to_owned(),
    }
}

/// The signed-in user of the browser at a page of `flow`; if none, the
/// flow's login page (or the error page) to answer instead.
pub(crate) async fn signed_in(
    state: &AppState,
    browser: &Browser,
    flow: &Flow,
) -> Result<crate::store::BrowserSession, Response> {
    match state.auth.browser_session(&browser.cookie).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(see_other(&flow.url(LOGIN_PATH), None)),
        Err(_) => Err(error_page(state, AuthorizeError::Internal)),
    }
}

/// A form posted by one of the pages (login, registration, consent,
/// `/link`, the account pages): its fields and the browser, once its CSRF
/// token (of the browser's cookie) checks out.
pub(crate) fn posted_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(std::collections::HashMap<String, String>, Browser), AuthorizeError> {
    let text = std::str::from_utf8(body).unwrap_or("");
    let fields: std::collections::HashMap<String, String> =
        crate::http::extract::form_urlencoded_pairs(text).collect();
    let browser = Browser::of(state, headers);
    let csrf = fields.get("csrf_token").map(String::as_str).unwrap_or("");
    if browser.new || !crate::auth::oauth::browser::csrf_ok(&browser.cookie, csrf) {
        return Err(AuthorizeError::UnknownGrant);
    }
    Ok((fields, browser))
}

/// How a page names an OAuth 2.0 client.
pub(crate) fn client_label(client: &crate::auth::oauth::clients::OAuthClient) -> String {
    client
        .client_name
        .clone()
        .unwrap_or_else(|| client.client_id.clone())
}
