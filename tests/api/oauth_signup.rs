//! Registration from the OAuth 2.0 pages (`prompt=create`), black-box: the
//! same policy as `POST /register` (closed registration, taken usernames,
//! the password policy, registration tokens, the terms), then back into
//! the grant: consent, a code, tokens for the new account.

use crate::both;
use crate::oauth_support::*;
use crate::sso::{Browser, Landing};
use crate::support::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::json;

both!(
    prompt_create_registers_and_continues_the_grant,
    the_registration_page_refuses_as_register_does,
    registration_tokens_and_terms_are_asked_for,
    closed_registration_is_said_on_the_page,
    an_email_address_is_validated_before_the_account_is_made,
);

/// `/authorize` with `prompt=create`: the registration page.
async fn open_signup(s: &TestServer, browser: &mut Browser, device: &str) -> (Landing, String) {
    let (verifier, challenge) = pkce(&format!("signup-{device}"));
    let url = format!(
        "{}&prompt=create",
        authorize_url(s, APP, &scope(device), &challenge)
    );
    let landing = browser.get(&url).await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    let location = landing.location.unwrap();
    assert!(
        location.starts_with("/oauth2/register?grant="),
        "{location}"
    );
    (
        browser.get(&format!("{}{location}", s.base)).await,
        verifier,
    )
}

fn error_of(page: &str) -> Option<String> {
    page.split("id=\"error\"").nth(1).map(|m| {
        m.split('>')
            .nth(1)
            .unwrap_or("")
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    })
}

async fn prompt_create_registers_and_continues_the_grant(b: Backend) {
    let s = oauth_server(b).await;
    let mut browser = Browser::new();
    let (page, verifier) = open_signup(&s, &mut browser, DEVICE).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("autocomplete=\"new-password\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("Test App"));
    let landing = submit(
        &mut browser,
        &s,
        &first_form(&page.body),
        &[("username", "newbie"), ("password", "newbie-pw-1")],
    )
    .await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    let consent = landing.location.unwrap();
    assert!(consent.starts_with("/oauth2/consent?"), "{consent}");
    let page = browser.get(&format!("{}{consent}", s.base)).await;
    assert!(page.body.contains("@newbie:test.example"), "{}", page.body);
    let back = submit(&mut browser, &s, &first_form(&page.body), &[])
        .await
        .location
        .unwrap();
    let tokens = exchange(&s, APP, &param(&back, "code").unwrap(), &verifier).await;
    let (status, me) = whoami(&s, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, me["user_id"].as_str()),
        (StatusCode::OK, Some("@newbie:test.example"))
    );
    // The account is a real one: its password logs in through /login.
    s.login("newbie", "newbie-pw-1").await;
}

async fn the_registration_page_refuses_as_register_does(b: Backend) {
    let s = oauth_builder(b)
        .config(|c| {
            c.password_config.policy.enabled = true;
            c.password_config.policy.minimum_length = 10;
        })
        .start()
        .await;
    s.register("taken", "taken-password").await;
    let mut browser = Browser::new();
    let (page, _) = open_signup(&s, &mut browser, DEVICE).await;
    let form = first_form(&page.body);
    for (username, password, want) in [
        ("taken", "long-enough-pw", "User ID already taken."),
        ("fresh", "short", "at least 10 characters"),
        ("bad name", "long-enough-pw", "User ID can only contain"),
    ] {
        let landing = submit(
            &mut browser,
            &s,
            &form,
            &[("username", username), ("password", password)],
        )
        .await;
        assert!(
            landing.status.is_client_error(),
            "{username}: {:?}",
            landing.status
        );
        let error = error_of(&landing.body).unwrap_or_else(|| panic!("{}", landing.body));
        assert!(
            error.contains(want) || error.to_lowercase().contains(&want.to_lowercase()),
            "{username}: {error}"
        );
        assert!(
            landing.body.contains(&format!("value=\"{username}\"")),
            "the username is kept"
        );
    }
    let (status, _) = s.try_login("fresh", "short").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no account was made");
}

async fn registration_tokens_and_terms_are_asked_for(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("en")).unwrap();
    std::fs::write(
        dir.path().join("en/1.0.html"),
        "<!doctype html><title>Terms</title>",
    )
    .unwrap();
    let template_dir = dir.path().to_owned();
    let s = oauth_builder(b)
        .config(move |c| {
            c.registration_requires_token = true;
            c.user_consent = Some(mxauth::config::ConsentConfig {
                version: "1.0".into(),
                template_dir,
                require_at_registration: true,
                policy_name: "Terms of Service".into(),
            });
        })
        .start()
        .await;
    let admin = s.register_admin("root").await;
    let (status, _) = s
        .post(
            "/_synapse/admin/v1/registration_tokens/new",
            Some(&admin),
            json!({"token": "let-me-in", "uses_allowed": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut browser = Browser::new();
    let (page, _) = open_signup(&s, &mut browser, DEVICE).await;
    assert!(
        page.body.contains("name=\"registration_token\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("name=\"accept_terms\"") && page.body.contains("Terms of Service"));
    let form = first_form(&page.body);
    let wrong = submit(
        &mut browser,
        &s,
        &form,
        &[
            ("username", "tok"),
            ("password", "tok-password"),
            ("registration_token", "nope"),
            ("accept_terms", "yes"),
        ],
    )
    .await;
    assert!(wrong.status.is_client_error());
    assert!(error_of(&wrong.body).is_some(), "{}", wrong.body);
    let no_terms = submit(
        &mut browser,
        &s,
        &form,
        &[
            ("username", "tok"),
            ("password", "tok-password"),
            ("registration_token", "let-me-in"),
        ],
    )
    .await;
    assert_eq!(no_terms.status, StatusCode::BAD_REQUEST);
    assert!(error_of(&no_terms.body).unwrap().contains("terms"));
    let ok = submit(
        &mut browser,
        &s,
        &form,
        &[
            ("username", "tok"),
            ("password", "tok-password"),
            ("registration_token", "let-me-in"),
            ("accept_terms", "yes"),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    // The token's one use is spent.
    let (_, t) = s
        .get(
            "/_synapse/admin/v1/registration_tokens/let-me-in",
            Some(&admin),
        )
        .await;
    assert_eq!(t["completed"], 1, "{t}");
}

async fn closed_registration_is_said_on_the_page(b: Backend) {
    let s = oauth_builder(b)
        .config(|c| c.enable_registration = false)
        .start()
        .await;
    let mut browser = Browser::new();
    let (page, _) = open_signup(&s, &mut browser, DEVICE).await;
    assert!(page.body.contains("id=\"closed\""), "{}", page.body);
    assert!(forms(&page.body).is_empty(), "no form to post");
    // The login page offers no registration either.
    let (_, challenge) = pkce("closed");
    let landing = browser
        .get(&authorize_url(&s, APP, &scope(DEVICE), &challenge))
        .await;
    let login = browser
        .get(&format!("{}{}", s.base, landing.location.unwrap()))
        .await;
    assert!(!login.body.contains("id=\"register\""));
}

/// `registrations_require_3pid: [email]`: the page asks for an address,
/// sends the validation mail through a real SMTP server, waits for the
/// link to be followed, then makes the account with the address bound.
async fn an_email_address_is_validated_before_the_account_is_made(b: Backend) {
    let sink = crate::smtp::SmtpSink::start().await;
    let port = sink.port;
    let s = oauth_builder(b)
        .config(move |c| {
            crate::email::email_config(c, port);
            c.public_baseurl = Some(ISSUER.into());
            c.threepids.registrations_require_3pid = vec!["email".into()];
        })
        .start()
        .await;
    let mut browser = Browser::new();
    let (page, verifier) = open_signup(&s, &mut browser, DEVICE).await;
    assert!(page.body.contains("name=\"email\""), "{}", page.body);
    let form = first_form(&page.body);
    // The address is required.
    let without = submit(
        &mut browser,
        &s,
        &form,
        &[("username", "mailer"), ("password", "mailer-pw-1")],
    )
    .await;
    assert!(without.status.is_client_error(), "{}", without.body);
    let sent = submit(
        &mut browser,
        &s,
        &form,
        &[
            ("username", "mailer"),
            ("password", "mailer-pw-1"),
            ("email", "Mailer@Example.org"),
        ],
    )
    .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(sent.body.contains("id=\"check-email\""), "{}", sent.body);
    let cont = first_form(&sent.body);
    // Continuing before the link is followed: not yet.
    let early = submit(&mut browser, &s, &cont, &[]).await;
    assert!(early.status.is_client_error(), "{}", early.body);
    assert!(error_of(&early.body).is_some());
    // The link, at the test server.
    let mail = sink.wait_for(1).await.remove(0);
    let link = mail.link();
    let rest = link
        .strip_prefix(ISSUER)
        .unwrap_or_else(|| panic!("{link}"));
    let res = s
        .raw()
        .get(format!("{}/{rest}", s.base))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let done = submit(&mut browser, &s, &cont, &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = browser
        .get(&format!("{}{}", s.base, done.location.unwrap()))
        .await;
    let back = submit(&mut browser, &s, &first_form(&page.body), &[])
        .await
        .location
        .unwrap();
    let tokens = exchange(&s, APP, &param(&back, "code").unwrap(), &verifier).await;
    let token = tokens["access_token"].as_str().unwrap();
    let (status, threepids) = s.get("/_matrix/client/v3/account/3pid", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{threepids}");
    assert_eq!(
        threepids["threepids"][0]["address"], "mailer@example.org",
        "{threepids}"
    );
}
