//! OAuth 2.0 aware legacy login (spec v1.18, MSC3824): with the OAuth 2.0
//! API on and no upstream provider, `GET /login/sso/redirect` leads the
//! browser to mxauth's own login page (or, for `action=register`, the
//! registration page); `GET /oauth2/compat/complete` then sends it back
//! to the client's `redirectUrl` with a login token, as SSO does (a
//! confirmation page first for a client not on `sso.client_whitelist`).
//! With providers configured, `/login/sso/redirect` is SSO's.

use crate::auth::oauth::grant::AuthorizeError;
use crate::auth::oauth::signup::SIGNUP_URI;
use crate::auth::ratelimit::{address_key, Limiter};
use crate::error::Result;
use crate::http::extract::{query_param, ClientIp};
use crate::http::routes::oauth_browser::{
    error_page, see_other, set_cookie, Browser, Flow, COMPAT_COMPLETE_PATH, LOGIN_PATH,
};
use crate::http::routes::sso;
use crate::http::AppState;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::Response;

/// `GET /login/sso/redirect`: mxauth's own pages when OAuth 2.0 is on and
/// no upstream provider is configured; SSO's redirect otherwise.
pub async fn redirect(
    state: State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    ip: ClientIp,
) -> Result<Response> {
    if !state.auth.compat_sso_enabled() {
        return sso::redirect_any(state, uri, ip).await;
    }
    let (State(state), OriginalUri(uri), ClientIp(ip)) = (state, uri, ip);
    let redirect_url = sso::redirect_url_param(&uri)?;
    // Each start is a row.
    state
        .auth
        .ratelimit(Limiter::SsoRedirect, address_key(ip.as_deref()))
        .await??;
    let browser = Browser::of(&state, &headers);
    let compat_id = state
        .auth
        .start_compat_login(&redirect_url, &browser.binding())
        .await?;
    let logged_in = state.auth.browser_session(&browser.cookie).await?.is_some();
    let register = ["action", "org.matrix.msc3824.action"]
        .iter()
        .any(|k| query_param(&uri, k).as_deref() == Some("register"));
    let path = if logged_in {
        COMPAT_COMPLETE_PATH
    } else if register {
        SIGNUP_URI
    } else {
        LOGIN_PATH
    };
    let cookie = browser.new.then(|| set_cookie(&state, &browser.cookie));
    Ok(see_other(&Flow::Compat(compat_id).url(path), cookie))
}

/// `GET /oauth2/compat/complete?compat=`: the browser is logged in at the
/// pages; back to the client with a login token (once).
pub async fn complete(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let flow = Flow::from(|k| query_param(&uri, k));
    let browser = Browser::of(&state, &headers);
    let compat_id = match &flow {
        Flow::Compat(id) if !browser.new => id,
        _ => return error_page(&state, AuthorizeError::UnknownGrant),
    };
    let login = match state
        .auth
        .compat_login_for_browser(compat_id, &browser.binding())
        .await
    {
        Ok(login) => login,
        Err(e) => return error_page(&state, e),
    };
    let user = match state.auth.browser_session(&browser.cookie).await {
        Ok(Some(user)) => user,
        Ok(None) => return see_other(&flow.url(LOGIN_PATH), None),
        Err(_) => return error_page(&state, AuthorizeError::Internal),
    };
    match state.auth.finish_compat_login(&login, &user.user_id).await {
        Ok(finish) => sso::finish_response(&state, &headers, finish).await,
        Err(e) => sso::error_response(&state.templates, e.into()),
    }
}
