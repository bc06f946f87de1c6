//! `POST /account/`: the account pages' forms, each named by its `op`
//! field and carrying the CSRF token of the browser's cookie (a form
//! posted from another site cannot). The rules are `auth/manage.rs`'s;
//! here the form is read and the answer is a page.

use crate::auth::manage::{PendingAddress, ACTION_DEVICES_LIST};
use crate::http::extract::ClientIp;
use crate::http::routes::account_pages::{
    action_url, form_page, internal_error, logged_in, message_page, profile_page, refusal,
    refusal_page, to_login, Shown, Visitor,
};
use crate::http::routes::oauth_browser::{posted_form, see_other, set_cookie, ACCOUNT_PATH};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

/// `POST /account/`.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    let Ok((fields, browser)) = posted_form(&state, &headers, &body) else {
        return message_page(
            &state,
            StatusCode::FORBIDDEN,
            "Cannot do that",
            "This form has expired or was not sent from this site's page: open the page again",
            true,
        );
    };
    let field = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let visitor = match logged_in(&state, &browser).await {
        Ok(Some(v)) => v,
        Ok(None) => return to_login(&state, &browser, ACCOUNT_PATH),
        Err(page) => return page,
    };
    let ip = ip.as_deref();
    let user = visitor.user_id.as_str();
    match field("op") {
        "end_session" => match state.auth.end_session_from_page(user, field("device_id")).await {
            Ok(()) => see_other(&action_url(ACTION_DEVICES_LIST), None),
            Err(e) => refusal_page(&state, e),
        },
        "displayname" => {
            let outcome = state
                .auth
                .set_displayname_from_page(user, Some(field("displayname")))
                .await;
            profile_after(&state, &visitor, outcome, "Your display name was saved", None).await
        }
        "email_request" => {
            match state
                .auth
                .request_address_from_page(
                    user,
                    field("email"),
                    field("password"),
                    visitor.authenticated_ts,
                    ip,
                )
                .await
            {
                Ok(pending) => {
                    let shown = Shown {
                        pending: Some(pending),
                        ..Shown::default()
                    };
                    profile_page(&state, &visitor, shown, StatusCode::OK).await
                }
                Err(e) => profile_after(&state, &visitor, Err(e), "", None).await,
            }
        }
        "email_finish" => {
            let pending = PendingAddress {
                email: field("email").to_owned(),
                sid: field("sid").to_owned(),
                client_secret: field("client_secret").to_owned(),
            };
            let outcome = state.auth.finish_address_from_page(user, &pending).await;
            // Not validated yet: the page keeps waiting for the link.
            let keep = outcome.is_err().then_some(pending);
            profile_after(&state, &visitor, outcome, "The address was added", keep).await
        }
        "email_remove" => {
            let outcome = state
                .auth
                .remove_address_from_page(user, field("email"))
                .await;
            profile_after(&state, &visitor, outcome, "The address was removed", None).await
        }
        "password" => {
            let keep = field("keep_sessions") == "yes";
            match state
                .auth
                .change_password_from_page(
                    user,
                    field("current_password"),
                    field("new_password"),
                    keep,
                    ip,
                )
                .await
            {
                Ok(()) => password_changed(&state, user, keep).await,
                Err(e) => {
                    let (status, message) = refusal(e);
                    form_page(
                        &state,
                        &visitor,
                        "account_password.html",
                        Some(message),
                        status,
                    )
                }
            }
        }
        "deactivate" => match state
            .auth
            .deactivate_from_page(user, field("password"), visitor.authenticated_ts, ip)
            .await
        {
            Ok(()) => message_page(
                &state,
                StatusCode::OK,
                "Account deactivated",
                "Your account is deactivated: its sessions are signed out and it cannot be used again.",
                false,
            ),
            Err(e) => {
                let (status, message) = refusal(e);
                form_page(
                    &state,
                    &visitor,
                    "account_deactivate.html",
                    Some(message),
                    status,
                )
            }
        },
        "cross_signing_reset" => match state.auth.allow_cross_signing_reset(user).await {
            Ok(()) => message_page(
                &state,
                StatusCode::OK,
                "Cross-signing reset allowed",
                "Go back to your application within 10 minutes to finish resetting your \
                 cross-signing keys.",
                true,
            ),
            Err(e) => {
                let (status, message) = refusal(e);
                match state.auth.homeserver.is_some() {
                    true => form_page(
                        &state,
                        &visitor,
                        "account_cross_signing.html",
                        Some(message),
                        status,
                    ),
                    false => message_page(&state, status, "Cannot do that", &message, true),
                }
            }
        },
        _ => message_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Cannot do that",
            "This is not a form of the account pages",
            true,
        ),
    }
}

/// The profile page after one of its forms: the notice, or the refusal
/// (and the mail still waited for).
async fn profile_after(
    state: &AppState,
    visitor: &Visitor,
    outcome: Result<(), crate::auth::manage::ManageError>,
    done: &str,
    pending: Option<PendingAddress>,
) -> Response {
    match outcome {
        Ok(()) => {
            let shown = Shown {
                notice: Some(done.to_owned()),
                ..Shown::default()
            };
            profile_page(state, visitor, shown, StatusCode::OK).await
        }
        Err(e) => {
            let (status, message) = refusal(e);
            let shown = Shown {
                error: Some(message),
                pending,
                ..Shown::default()
            };
            profile_page(state, visitor, shown, status).await
        }
    }
}

/// After a password change: unless the other sessions were kept, every
/// browser session went with them, this one's included; the user just
/// proved the password, so this browser is logged in again (a new cookie).
async fn password_changed(state: &AppState, user_id: &str, kept: bool) -> Response {
    let message = match kept {
        true => "Your password was changed.",
        false => "Your password was changed, and your other sessions were signed out.",
    };
    let mut response = message_page(state, StatusCode::OK, "Password changed", message, true);
    if !kept {
        match state.auth.start_browser_session(user_id).await {
            Ok(cookie) => {
                if let Ok(v) = set_cookie(state, cookie.expose()).parse() {
                    response
                        .headers_mut()
                        .insert(axum::http::header::SET_COOKIE, v);
                }
            }
            Err(_) => return internal_error(state),
        }
    }
    response
}
