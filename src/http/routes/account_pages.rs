//! The account pages at `/account/` (the OAuth 2.0 API's
//! `account_management_uri`): `GET /account/?action=…&device_id=…` shows
//! the page of a spec action (profile, sessions, one session, ending one,
//! deactivation, cross-signing reset; no action or an unknown one: the
//! overview). Plain HTML forms, no script; a page changes nothing, every
//! change is a form posted with the CSRF token of the browser's cookie
//! (`account_forms.rs`). A browser not logged in at mxauth's pages goes to
//! the login page, which brings it back here.

use crate::auth::manage::{
    AccountOverview, ManageError, SessionInfo, ACTION_ACCOUNT_DEACTIVATE,
    ACTION_CROSS_SIGNING_RESET, ACTION_DEVICES_LIST, ACTION_DEVICE_DELETE, ACTION_DEVICE_VIEW,
    ACTION_PROFILE, ACTION_SESSIONS_LIST_UNSTABLE, ACTION_SESSION_END_UNSTABLE,
    ACTION_SESSION_VIEW_UNSTABLE,
};
use crate::auth::oauth::browser::csrf_token;
use crate::auth::threepids::{ThreepidError, Unusable};
use crate::clock::Timestamp;
use crate::http::extract::query_param;
use crate::http::html::page;
use crate::http::routes::oauth_browser::{
    account_return, see_other, set_cookie, url_encode, Browser, Flow, ACCOUNT_PATH, LOGIN_PATH,
};
use crate::http::routes::oauth_pages::matrix_refusal;
use crate::http::AppState;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{context, Value};

/// mxauth's own page (no spec action): changing the password.
pub const ACTION_PASSWORD: &str = "password";

/// A browser logged in at mxauth's pages, on an account page.
pub(crate) struct Visitor {
    pub(crate) user_id: String,
    pub(crate) csrf: String,
    /// When the browser signed in (a recent sign-in stands in for the
    /// password: `auth::manage::RECENT_SIGN_IN_MS`).
    pub(crate) authenticated_ts: i64,
}

impl Visitor {
    /// Signs the browser out and in again, back to the page of `action`
    /// (for a user who has no password to confirm with).
    fn sign_in_again_url(&self, action: &str) -> String {
        format!(
            "{}&csrf_token={}",
            Flow::Account(action_url(action)).url(crate::http::routes::oauth_pages::LOGOUT_PATH),
            self.csrf
        )
    }
}

/// Whether the browser is logged in: its visitor, `None` if not.
pub(crate) async fn logged_in(
    state: &AppState,
    browser: &Browser,
) -> Result<Option<Visitor>, Response> {
    if browser.new {
        return Ok(None);
    }
    match state.auth.browser_session(&browser.cookie).await {
        Ok(Some(session)) => Ok(Some(Visitor {
            csrf: csrf_token(&browser.cookie),
            user_id: session.user_id,
            authenticated_ts: session.authenticated_ts,
        })),
        Ok(None) => Ok(None),
        Err(_) => Err(internal_error(state)),
    }
}

/// To the login page, which comes back to `return_to` (an account path).
pub(crate) fn to_login(state: &AppState, browser: &Browser, return_to: &str) -> Response {
    // The login form's CSRF token is derived from the cookie: a browser
    // arriving without one gets it now.
    let cookie = browser.new.then(|| set_cookie(state, &browser.cookie));
    see_other(
        &Flow::Account(account_return(return_to)).url(LOGIN_PATH),
        cookie,
    )
}

/// `GET /account`: the pages live under `/account/`.
pub async fn without_slash(OriginalUri(uri): OriginalUri) -> Response {
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    see_other(&format!("{ACCOUNT_PATH}{query}"), None)
}

/// `GET /account/?action=&device_id=`.
pub async fn show(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let here = uri.path_and_query().map_or(ACCOUNT_PATH, |p| p.as_str());
    let browser = Browser::of(&state, &headers);
    let visitor = match logged_in(&state, &browser).await {
        Ok(Some(v)) => v,
        Ok(None) => return to_login(&state, &browser, here),
        Err(page) => return page,
    };
    let action = query_param(&uri, "action").unwrap_or_default();
    let device_id = query_param(&uri, "device_id").unwrap_or_default();
    match action.as_str() {
        ACTION_PROFILE => profile_page(&state, &visitor, Shown::default(), StatusCode::OK).await,
        ACTION_DEVICES_LIST | ACTION_SESSIONS_LIST_UNSTABLE => {
            sessions_page(&state, &visitor).await
        }
        ACTION_DEVICE_VIEW | ACTION_SESSION_VIEW_UNSTABLE => {
            session_page(&state, &visitor, &device_id, false).await
        }
        ACTION_DEVICE_DELETE | ACTION_SESSION_END_UNSTABLE => {
            session_page(&state, &visitor, &device_id, true).await
        }
        ACTION_ACCOUNT_DEACTIVATE => form_page(
            &state,
            &visitor,
            "account_deactivate.html",
            None,
            StatusCode::OK,
        ),
        ACTION_CROSS_SIGNING_RESET if state.auth.homeserver.is_some() => form_page(
            &state,
            &visitor,
            "account_cross_signing.html",
            None,
            StatusCode::OK,
        ),
        ACTION_PASSWORD => form_page(
            &state,
            &visitor,
            "account_password.html",
            None,
            StatusCode::OK,
        ),
        // The spec: an action the server does not serve shows its default
        // page (cross-signing reset without a homeserver among them).
        _ => overview_page(&state, &visitor).await,
    }
}

/// The URL of the account page of `action`.
pub(crate) fn action_url(action: &str) -> String {
    format!("{ACCOUNT_PATH}?action={}", url_encode(action))
}

fn session_url(device_id: &str) -> String {
    format!(
        "{}&device_id={}",
        action_url(ACTION_DEVICE_VIEW),
        url_encode(device_id)
    )
}

async fn overview(state: &AppState, visitor: &Visitor) -> Result<AccountOverview, Response> {
    match state.auth.account_overview(&visitor.user_id).await {
        Ok(Some(o)) => Ok(o),
        // The browser session outlived its user (it is checked, but
        // between two statements the user may go).
        Ok(None) => Err(message_page(
            state,
            StatusCode::NOT_FOUND,
            "Cannot do that",
            "This account no longer exists",
            false,
        )),
        Err(e) => Err(refusal_page(state, e)),
    }
}

async fn overview_page(state: &AppState, visitor: &Visitor) -> Response {
    let o = match overview(state, visitor).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let link =
        |action: &str, label: &str, id: &str| context! { url => action_url(action), label, id };
    let mut links = vec![
        link(ACTION_PROFILE, "Profile and email addresses", "profile"),
        link(ACTION_DEVICES_LIST, "Sessions and devices", "sessions"),
    ];
    if o.password_change {
        links.push(link(ACTION_PASSWORD, "Change your password", "password"));
    }
    if o.cross_signing_reset {
        links.push(link(
            ACTION_CROSS_SIGNING_RESET,
            "Reset your cross-signing keys",
            "cross-signing",
        ));
    }
    links.push(link(
        ACTION_ACCOUNT_DEACTIVATE,
        "Deactivate your account",
        "deactivate",
    ));
    page(
        &state.templates,
        StatusCode::OK,
        "account_index.html",
        context! {
            user_id => &visitor.user_id,
            displayname => o.user.displayname.unwrap_or_default(),
            links,
        },
    )
}

/// What the profile page shows beyond the account: a notice, an error,
/// a mail being waited for.
#[derive(Default)]
pub(crate) struct Shown {
    pub(crate) notice: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) pending: Option<crate::auth::manage::PendingAddress>,
}

pub(crate) async fn profile_page(
    state: &AppState,
    visitor: &Visitor,
    shown: Shown,
    status: StatusCode,
) -> Response {
    let o = match overview(state, visitor).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let notice = match shown.notice {
        Some(n) => context! { notice => n },
        None => context! {},
    };
    let error = match shown.error {
        Some(e) => context! { error => e },
        None => context! {},
    };
    let pending = match shown.pending {
        Some(p) => context! { pending => context! {
            email => p.email, sid => p.sid, client_secret => p.client_secret,
        } },
        None => context! {},
    };
    page(
        &state.templates,
        status,
        "account_profile.html",
        context! {
            ..context! {
                action => ACCOUNT_PATH,
                csrf_token => &visitor.csrf,
                home_url => ACCOUNT_PATH,
                user_id => &visitor.user_id,
                sign_in_again_url => visitor.sign_in_again_url(ACTION_PROFILE),
                recent_minutes => crate::auth::manage::RECENT_SIGN_IN_MS / 60_000,
                displayname => o.user.displayname.unwrap_or_default(),
                emails => o.emails,
                email_changes => o.email_changes,
            },
            ..notice,
            ..error,
            ..pending
        },
    )
}

/// A page whose form asks for a confirmation (password, deactivation,
/// cross-signing reset), with the reason the last try was refused.
pub(crate) fn form_page(
    state: &AppState,
    visitor: &Visitor,
    template: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let error = match error {
        Some(e) => context! { error => e },
        None => context! {},
    };
    page(
        &state.templates,
        status,
        template,
        context! {
            ..context! {
                action => ACCOUNT_PATH,
                csrf_token => &visitor.csrf,
                home_url => ACCOUNT_PATH,
                user_id => &visitor.user_id,
                // (The deactivation page's: the one form page that may
                // confirm without a password.)
                sign_in_again_url => visitor.sign_in_again_url(ACTION_ACCOUNT_DEACTIVATE),
                recent_minutes => crate::auth::manage::RECENT_SIGN_IN_MS / 60_000,
            },
            ..error
        },
    )
}

async fn sessions_page(state: &AppState, visitor: &Visitor) -> Response {
    let sessions = match state.auth.list_sessions(&visitor.user_id).await {
        Ok(s) => s,
        Err(e) => return refusal_page(state, e),
    };
    let sessions: Vec<Value> = sessions.iter().map(session_context).collect();
    page(
        &state.templates,
        StatusCode::OK,
        "account_sessions.html",
        context! { home_url => ACCOUNT_PATH, sessions },
    )
}

async fn session_page(
    state: &AppState,
    visitor: &Visitor,
    device_id: &str,
    confirm: bool,
) -> Response {
    let session = match state.auth.get_session(&visitor.user_id, device_id).await {
        Ok(s) => s,
        Err(e) => return refusal_page(state, e),
    };
    page(
        &state.templates,
        StatusCode::OK,
        "account_session.html",
        context! {
            action => ACCOUNT_PATH,
            csrf_token => &visitor.csrf,
            home_url => ACCOUNT_PATH,
            list_url => action_url(ACTION_DEVICES_LIST),
            confirm,
            session => session_context(&session),
        },
    )
}

fn session_context(s: &SessionInfo) -> Value {
    let d = &s.device;
    let client = s.client.as_ref();
    context! {
        device_id => &d.device_id,
        display_name => d.display_name.clone().unwrap_or_default(),
        client_name => client
            .map(|c| c.client_name.clone().unwrap_or_else(|| c.client_id.clone()))
            .unwrap_or_default(),
        client_uri => client.and_then(|c| c.client_uri.clone()).unwrap_or_default(),
        created => utc(d.created_ts),
        last_seen => utc(d.last_seen_ts),
        last_seen_ip => d.last_seen_ip.clone().unwrap_or_default(),
        user_agent => d.last_user_agent.clone().unwrap_or_default(),
        url => session_url(&d.device_id),
    }
}

/// A page saying what was done (or why not).
pub(crate) fn message_page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
    home: bool,
) -> Response {
    page(
        &state.templates,
        status,
        "account_message.html",
        context! {
            title,
            message,
            home_url => if home { ACCOUNT_PATH } else { "" },
        },
    )
}

pub(crate) fn internal_error(state: &AppState) -> Response {
    message_page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Internal server error",
        true,
    )
}

/// A refusal as a page of its own.
pub(crate) fn refusal_page(state: &AppState, e: ManageError) -> Response {
    let (status, message) = refusal(e);
    message_page(state, status, "Cannot do that", &message, true)
}

/// A refusal's status and what the page says of it.
pub(crate) fn refusal(e: ManageError) -> (StatusCode, String) {
    use crate::error::Error;
    match e {
        ManageError::NoSuchSession => (
            StatusCode::NOT_FOUND,
            "Your account has no session with this device ID".to_owned(),
        ),
        ManageError::Password(e) => matrix_refusal(Error::from(e)),
        ManageError::WeakPassword(e) => (StatusCode::BAD_REQUEST, e.to_string()),
        ManageError::PasswordChangeUnavailable => (
            StatusCode::FORBIDDEN,
            "Passwords cannot be changed on this server".to_owned(),
        ),
        ManageError::DisplayNameTooLong => (
            StatusCode::BAD_REQUEST,
            format!(
                "A display name has at most {} characters",
                crate::auth::manage::MAX_DISPLAYNAME_LEN
            ),
        ),
        ManageError::Email(ThreepidError::Unusable(Unusable::NoSession)) => (
            StatusCode::BAD_REQUEST,
            "The address is not validated yet: follow the link of the mail first \
             (or ask for a new one)"
                .to_owned(),
        ),
        ManageError::Email(e) => matrix_refusal(Error::from(e)),
        ManageError::LimitExceeded(e) => matrix_refusal(Error::from(e)),
        ManageError::NoHomeserver => (
            StatusCode::NOT_FOUND,
            "This server has no homeserver to reset cross-signing keys at".to_owned(),
        ),
        ManageError::SignInAgain => (
            StatusCode::FORBIDDEN,
            format!(
                "Type your password, or sign in again and confirm within {} minutes",
                crate::auth::manage::RECENT_SIGN_IN_MS / 60_000
            ),
        ),
        ManageError::HomeserverUnreachable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The homeserver has not answered yet: the approval will reach it when it is back. \
             Try again in a moment."
                .to_owned(),
        ),
        ManageError::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error".to_owned(),
        ),
    }
}

/// A time as the pages show it: `2026-01-02 03:04 UTC` (empty when
/// unknown).
fn utc(ts: Option<Timestamp>) -> String {
    let Some(ms) = ts else {
        return String::new();
    };
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc(None), "");
        assert_eq!(utc(Some(0)), "1970-01-01 00:00 UTC");
        assert_eq!(utc(Some(951_782_400_000)), "2000-02-29 00:00 UTC");
        assert_eq!(utc(Some(1_798_761_599_000)), "2026-12-31 23:59 UTC");
    }
}
