//! OAuth 2.0 aware legacy login (spec v1.18, MSC3824) without upstream
//! providers, black-box: `GET /login` offers `m.login.sso` with
//! `oauth_aware_preferred`; `/login/sso/redirect` leads to mxauth's own
//! login or registration page and ends at the client's `redirectUrl` with
//! a login token that `POST /login` exchanges, through SSO's confirmation
//! page for a client not on `sso.client_whitelist`.

use crate::both;
use crate::oauth_support::*;
use crate::sso::{login_token_of, Browser, Landing, CLIENT_URL};
use crate::support::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

both!(
    login_flows_offer_sso_without_providers,
    a_login_goes_back_with_a_login_token,
    a_wrong_password_shows_the_pages_error,
    action_register_creates_the_account,
    an_untrusted_redirect_url_is_confirmed_first,
    the_login_is_bound_to_its_browser_and_used_once,
);

async fn server(b: Backend) -> TestServer {
    oauth_builder(b)
        .config(|c| c.sso.client_whitelist = vec![CLIENT_URL.to_owned()])
        .start()
        .await
}

fn redirect_url(s: &TestServer, redirect: &str, extra: &str) -> String {
    format!(
        "{}/_matrix/client/v3/login/sso/redirect?redirectUrl={}{extra}",
        s.base,
        enc(redirect)
    )
}

/// Follows mxauth's own redirects (relative locations); stops at a page or
/// at a redirect elsewhere.
async fn follow(browser: &mut Browser, s: &TestServer, mut landing: Landing) -> Landing {
    for _ in 0..5 {
        match landing.location.clone() {
            Some(l) if l.starts_with('/') => {
                landing = browser.get(&format!("{}{l}", s.base)).await;
            }
            _ => return landing,
        }
    }
    landing
}

/// `POST /login` with `m.login.token`.
async fn token_login(s: &TestServer, token: &str) -> (StatusCode, Value) {
    s.post(
        "/_matrix/client/v3/login",
        None,
        json!({"type": "m.login.token", "token": token}),
    )
    .await
}

async fn login_flows_offer_sso_without_providers(b: Backend) {
    let s = server(b).await;
    let (status, body) = s.get("/_matrix/client/v3/login", None).await;
    assert_eq!(status, StatusCode::OK);
    let flows = body["flows"].as_array().unwrap();
    let sso = flows.iter().find(|f| f["type"] == "m.login.sso").unwrap();
    assert_eq!(
        sso,
        &json!({"type": "m.login.sso", "oauth_aware_preferred": true})
    );
    assert!(flows.iter().any(|f| f["type"] == "m.login.password"));
    assert!(flows.iter().any(|f| f["type"] == "m.login.token"));
    // Without the OAuth 2.0 API (and no provider): no SSO at all.
    let off = TestServer::builder(s.db.clone()).start().await;
    let (_, body) = off.get("/_matrix/client/v3/login", None).await;
    let flows = body["flows"].as_array().unwrap();
    assert!(!flows.iter().any(|f| f["type"] == "m.login.sso"), "{body}");
    let (status, e) = off
        .get(
            &format!(
                "/_matrix/client/v3/login/sso/redirect?redirectUrl={}",
                enc(CLIENT_URL)
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
}

async fn a_login_goes_back_with_a_login_token(b: Backend) {
    let s = server(b).await;
    s.register("alice", "alice-password-1").await;
    let mut browser = Browser::new();
    let first = browser
        .get(&redirect_url(&s, CLIENT_URL, "&action=login"))
        .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    assert!(
        first
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/oauth2/login?compat=")),
        "{first:?}"
    );
    let page = follow(&mut browser, &s, first).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("client.example"), "{}", page.body);
    let form = first_form(&page.body);
    assert!(form.1.iter().any(|(k, _)| k == "compat"), "{form:?}");
    assert!(form.1.iter().any(|(k, _)| k == "csrf_token"), "{form:?}");
    let done = submit(
        &mut browser,
        &s,
        &form,
        &[("username", "alice"), ("password", "alice-password-1")],
    )
    .await;
    let back = follow(&mut browser, &s, done).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    let location = back.location.unwrap();
    assert!(location.starts_with(CLIENT_URL), "{location}");
    let (status, res) = token_login(&s, &login_token_of(&location)).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], "@alice:test.example");
    let (_, who) = whoami(&s, res["access_token"].as_str().unwrap()).await;
    assert_eq!(who["user_id"], "@alice:test.example");

    // Logged in at the pages now: the next redirect goes straight back
    // (the unstable action too).
    let again = browser
        .get(&redirect_url(
            &s,
            CLIENT_URL,
            "&org.matrix.msc3824.action=login",
        ))
        .await;
    assert!(
        again
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/oauth2/compat/complete?compat=")),
        "{again:?}"
    );
    let back = follow(&mut browser, &s, again).await;
    let (status, res) = token_login(&s, &login_token_of(&back.location.unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], "@alice:test.example");
}

async fn a_wrong_password_shows_the_pages_error(b: Backend) {
    let s = server(b).await;
    s.register("alice", "alice-password-1").await;
    let mut browser = Browser::new();
    let first = browser.get(&redirect_url(&s, CLIENT_URL, "")).await;
    let page = follow(&mut browser, &s, first).await;
    let refused = submit(
        &mut browser,
        &s,
        &first_form(&page.body),
        &[("username", "alice"), ("password", "wrong")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("id=\"error\""), "{}", refused.body);
    assert!(refused.body.contains("name=\"compat\""), "{}", refused.body);
    assert!(refused.location.is_none());
    // The form again, then the right password goes on.
    let done = submit(
        &mut browser,
        &s,
        &first_form(&refused.body),
        &[("username", "alice"), ("password", "alice-password-1")],
    )
    .await;
    let back = follow(&mut browser, &s, done).await;
    assert!(back.location.unwrap().starts_with(CLIENT_URL));
}

async fn action_register_creates_the_account(b: Backend) {
    let s = server(b).await;
    let mut browser = Browser::new();
    let first = browser
        .get(&redirect_url(&s, CLIENT_URL, "&action=register"))
        .await;
    assert!(
        first
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/oauth2/register?compat=")),
        "{first:?}"
    );
    let page = follow(&mut browser, &s, first).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Create an account"), "{}", page.body);
    let done = submit(
        &mut browser,
        &s,
        &first_form(&page.body),
        &[("username", "newbie"), ("password", "newbie-password-1")],
    )
    .await;
    let back = follow(&mut browser, &s, done).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    let (status, res) = token_login(&s, &login_token_of(&back.location.unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], "@newbie:test.example");
    // A real account with that password.
    let (status, _) = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "newbie"}, "password": "newbie-password-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn an_untrusted_redirect_url_is_confirmed_first(b: Backend) {
    let s = server(b).await;
    s.register("alice", "alice-password-1").await;
    let mut browser = Browser::new();
    let elsewhere = "https://elsewhere.example/app";
    let first = browser.get(&redirect_url(&s, elsewhere, "")).await;
    let page = follow(&mut browser, &s, first).await;
    let done = submit(
        &mut browser,
        &s,
        &first_form(&page.body),
        &[("username", "alice"), ("password", "alice-password-1")],
    )
    .await;
    let confirm = follow(&mut browser, &s, done).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(confirm.location.is_none());
    assert!(
        confirm.body.contains("elsewhere.example"),
        "{}",
        confirm.body
    );
    let link = crate::sso::between(&confirm.body, "href=\"https://elsewhere", "\"")
        .expect("a link to the client");
    let (status, res) = token_login(&s, &login_token_of(&format!("https://elsewhere{link}"))).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    // Not an http(s) URL: refused before anything.
    let (status, e) = s
        .get(
            &format!(
                "/_matrix/client/v3/login/sso/redirect?redirectUrl={}",
                enc("javascript:alert(1)")
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
}

async fn the_login_is_bound_to_its_browser_and_used_once(b: Backend) {
    let s = server(b).await;
    s.register("alice", "alice-password-1").await;
    let mut browser = Browser::new();
    let first = browser.get(&redirect_url(&s, CLIENT_URL, "")).await;
    let login_path = first.location.clone().unwrap();
    // Another browser cannot continue it.
    let stranger = Browser::new().get(&format!("{}{login_path}", s.base)).await;
    assert_eq!(
        stranger.status,
        StatusCode::BAD_REQUEST,
        "{}",
        stranger.body
    );
    let page = follow(&mut browser, &s, first).await;
    let done = submit(
        &mut browser,
        &s,
        &first_form(&page.body),
        &[("username", "alice"), ("password", "alice-password-1")],
    )
    .await;
    let complete = done.location.clone().unwrap();
    assert!(
        complete.starts_with("/oauth2/compat/complete?compat="),
        "{complete}"
    );
    let stranger = Browser::new().get(&format!("{}{complete}", s.base)).await;
    assert_eq!(
        stranger.status,
        StatusCode::BAD_REQUEST,
        "{}",
        stranger.body
    );
    let back = follow(&mut browser, &s, done).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    // Used once: the same step again is an error page, not a second token.
    let again = browser.get(&format!("{}{complete}", s.base)).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert!(again.location.is_none());
}
