//! Every HTML page mxauth serves (UIA fallback pages, the consent page,
//! the SSO pages: IdP picker, confirmation, username picker, errors, the
//! re-authentication page, the email validation result, and the OAuth 2.0
//! login, registration, consent and error pages) forbids being
//! framed: `X-Frame-Options: DENY` and a CSP with `frame-ancestors 'none'`.

use crate::both;
use crate::sso::{
    between, free_port, login_token_of, sso_config, urlencode, Browser, OidcProvider, CLIENT_URL,
};
use crate::support::{Backend, TestServer};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::json;

both!(
    every_html_page_forbids_framing,
    every_oauth_page_forbids_framing
);

/// Checks one page: HTML, and both anti-framing headers.
fn assert_unframeable(what: &str, status: StatusCode, headers: &HeaderMap, body: &str) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        header("content-type").starts_with("text/html"),
        "{what} ({status}) is not HTML: {body}"
    );
    assert_eq!(header("x-frame-options"), "DENY", "{what} ({status})");
    assert!(
        header("content-security-policy").contains("frame-ancestors 'none'"),
        "{what} ({status}): CSP {:?}",
        header("content-security-policy")
    );
}

async fn fetch(s: &TestServer, path: &str) -> (StatusCode, HeaderMap, String) {
    let res = s
        .raw()
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.text().await.unwrap())
}

async fn every_html_page_forbids_framing(b: Backend) {
    let idp = OidcProvider::start();
    let one = idp.config("");
    let mut picky = idp.config("        confirm_localpart: true\n");
    picky.idp_id = "oidc-picky".into();
    picky.idp_name = "Picky".into();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("en")).unwrap();
    std::fs::write(
        dir.path().join("en/1.0.html"),
        "<!doctype html><p>Policy</p>",
    )
    .unwrap();
    let template_dir = dir.path().to_owned();
    let port = free_port();
    let s = TestServer::builder(b)
        .config(move |c| {
            sso_config(c, port, vec![one, picky]);
            c.user_consent = Some(mxauth::config::ConsentConfig {
                version: "1.0".into(),
                template_dir,
                require_at_registration: false,
                policy_name: "Privacy Policy".into(),
            });
        })
        .start()
        .await;
    let mut pages = 0;
    let mut check = |what: &str, status: StatusCode, headers: &HeaderMap, body: &str| {
        assert_unframeable(what, status, headers, body);
        pages += 1;
    };

    // The consent page.
    let (status, headers, body) = fetch(&s, "/_matrix/consent?v=1.0").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    check("consent page", status, &headers, &body);

    // The email validation result page (a link without its parameters).
    let (status, headers, body) = fetch(&s, "/_synapse/client/email/submit_token").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    check("email validation page", status, &headers, &body);

    // The IdP picker (two providers).
    let redirect = urlencode(CLIENT_URL);
    let (status, headers, body) = fetch(
        &s,
        &format!("/_matrix/client/v3/login/sso/redirect?redirectUrl={redirect}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    check("IdP picker", status, &headers, &body);

    // An SSO error page (a callback with no state).
    let (status, headers, body) = fetch(&s, "/_synapse/client/oidc/callback").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    check("SSO error page", status, &headers, &body);

    // The confirmation before an untrusted client.
    let mut browser = Browser::new();
    let callback = browser
        .walk_from(
            &format!(
                "{}/_matrix/client/v3/login/sso/redirect/oidc-test?redirectUrl={}",
                s.base,
                urlencode("http://untrusted.example/app")
            ),
            "alice",
        )
        .await;
    let confirm = browser.get(&callback).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(
        confirm.body.contains("untrusted.example"),
        "{}",
        confirm.body
    );
    check(
        "SSO confirmation page",
        confirm.status,
        &confirm.headers,
        &confirm.body,
    );

    // The username picker, and its form again after a bad name.
    let mut browser = Browser::new();
    let callback = browser
        .walk_from(
            &format!(
                "{}/_matrix/client/v3/login/sso/redirect/oidc-picky?redirectUrl={redirect}",
                s.base
            ),
            "bob",
        )
        .await;
    let to_picker = browser.get(&callback).await;
    assert_eq!(to_picker.status, StatusCode::FOUND, "{}", to_picker.body);
    let picker = format!("{}/_synapse/client/pick_username/account_details", s.base);
    let form = browser.get(&picker).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    check("username picker", form.status, &form.headers, &form.body);
    let bad = browser
        .post_form(&picker, &[("username", "Bad Name!")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    check(
        "username picker after a bad name",
        bad.status,
        &bad.headers,
        &bad.body,
    );

    // UIA: the password page, its retry, and the page once done.
    let (user_id, token, _) = s.register("carol", "carol-password-1").await;
    let (_, second) = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user_id}, "password": "carol-password-1"}),
        )
        .await;
    let path = format!(
        "/_matrix/client/v3/devices/{}",
        second["device_id"].as_str().unwrap()
    );
    let (status, challenge) = s
        .request(
            reqwest::Method::DELETE,
            &path,
            Some(&token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let session = challenge["session"].as_str().unwrap();
    let fallback =
        format!("/_matrix/client/v3/auth/m.login.password/fallback/web?session={session}");
    let (status, headers, body) = fetch(&s, &fallback).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    check("UIA password page", status, &headers, &body);
    let mut browser = Browser::new();
    let url = format!("{}{fallback}", s.base);
    let retry = browser
        .post_form(&url, &[("session", session), ("password", "wrong")])
        .await;
    check(
        "UIA password page after a failure",
        retry.status,
        &retry.headers,
        &retry.body,
    );
    let done = browser
        .post_form(
            &url,
            &[("session", session), ("password", "carol-password-1")],
        )
        .await;
    assert!(done.body.contains("authDone"), "{}", done.body);
    check("UIA done page", done.status, &done.headers, &done.body);

    // UIA with m.login.sso: the page that names the operation, and the
    // page at the end of the provider's round trip.
    let mut browser = Browser::new();
    let cb = browser
        .walk_from(
            &format!(
                "{}/_matrix/client/v3/login/sso/redirect/oidc-test?redirectUrl={redirect}",
                s.base
            ),
            "alice",
        )
        .await;
    let landing = browser.get(&cb).await;
    let login = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.token", "token": login_token_of(&landing.location.unwrap())}),
        )
        .await;
    assert_eq!(login.0, StatusCode::OK, "{}", login.1);
    let alice = login.1["access_token"].as_str().unwrap();
    let (_, challenge) = s
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(alice),
            json!({}),
        )
        .await;
    let session = challenge["session"].as_str().unwrap();
    let sso_page = format!(
        "{}/_matrix/client/v3/auth/m.login.sso/fallback/web?session={session}",
        s.base
    );
    let mut browser = Browser::new();
    let page = browser.get(&sso_page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    check("UIA SSO page", page.status, &page.headers, &page.body);
    let href = between(&page.body, "class=\"idp\" href=\"", "\"").unwrap();
    let cb = browser
        .walk_from(&format!("{}{href}", s.base), "alice")
        .await;
    let done = browser.get(&cb).await;
    assert!(done.body.contains("authDone"), "{}", done.body);
    check("UIA SSO done page", done.status, &done.headers, &done.body);

    assert_eq!(pages, 12);
    // JSON answers are not pages.
    let res = s
        .raw()
        .get(format!("{}/_matrix/client/versions", s.base))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("x-frame-options").is_none());
}

/// The OAuth 2.0 pages: the error page (an unknown client), login,
/// registration and consent.
async fn every_oauth_page_forbids_framing(b: Backend) {
    use crate::oauth_support::{authorize_url, first_form, oauth_server, pkce, scope, submit, APP};
    let s = oauth_server(b).await;
    let (_, _, framed_device) = s.register("framed", "framed-pw").await;
    let (status, headers, body) = fetch(&s, "/authorize?client_id=nobody").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_unframeable("OAuth error page", status, &headers, &body);

    let (_, challenge) = pkce("framing");
    let url = authorize_url(&s, APP, &scope("FRAMEDDEVICE"), &challenge);
    let mut browser = Browser::new();
    let register = browser.get(&format!("{url}&prompt=create")).await;
    let page = browser
        .get(&format!("{}{}", s.base, register.location.unwrap()))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_unframeable(
        "OAuth registration page",
        page.status,
        &page.headers,
        &page.body,
    );
    let login = browser.get(&url).await;
    let page = browser
        .get(&format!("{}{}", s.base, login.location.unwrap()))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_unframeable("OAuth login page", page.status, &page.headers, &page.body);
    let form = first_form(&page.body);
    let landing = submit(
        &mut browser,
        &s,
        &form,
        &[("username", "framed"), ("password", "framed-pw")],
    )
    .await;
    let page = browser
        .get(&format!("{}{}", s.base, landing.location.unwrap()))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_unframeable("OAuth consent page", page.status, &page.headers, &page.body);

    // A legacy client's login through the pages (no upstream provider):
    // the login page, and for a browser signed in already, the
    // confirmation before a client not on the whitelist.
    let legacy = format!(
        "{}/_matrix/client/v3/login/sso/redirect?redirectUrl={}",
        s.base,
        crate::oauth_support::enc("https://legacy.example/app")
    );
    let mut other = Browser::new();
    let first = other.get(&legacy).await;
    let page = other
        .get(&format!("{}{}", s.base, first.location.unwrap()))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_unframeable("legacy login page", page.status, &page.headers, &page.body);
    let first = browser.get(&legacy).await;
    let page = browser
        .get(&format!("{}{}", s.base, first.location.unwrap()))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("legacy.example"), "{}", page.body);
    assert_unframeable(
        "legacy login confirmation",
        page.status,
        &page.headers,
        &page.body,
    );
    // The account pages (the browser is logged in since the consent),
    // each with its status.
    let delete = format!("org.matrix.device_delete&device_id={framed_device}");
    for (action, status) in [
        ("", StatusCode::OK),
        ("org.matrix.profile", StatusCode::OK),
        ("org.matrix.devices_list", StatusCode::OK),
        (
            "org.matrix.device_view&device_id=NOSUCHDEVICE",
            StatusCode::NOT_FOUND,
        ),
        (delete.as_str(), StatusCode::OK),
        ("org.matrix.account_deactivate", StatusCode::OK),
        ("password", StatusCode::OK),
    ] {
        let page = browser
            .get(&format!("{}/account/?action={action}", s.base))
            .await;
        assert_eq!(page.status, status, "{action}: {}", page.body);
        assert_unframeable(
            &format!("account page {action}"),
            page.status,
            &page.headers,
            &page.body,
        );
    }
    let refused = browser
        .post_form(&format!("{}/account/", s.base), &[("op", "end_session")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_unframeable(
        "account page refusal",
        refused.status,
        &refused.headers,
        &refused.body,
    );
}
