//! The account pages (`/account/`, the OAuth 2.0 API's
//! `account_management_uri`) black-box over HTTP, as a browser without
//! script uses them: the login and the way back, the sessions (legacy
//! logins and OAuth 2.0 sessions) and ending one, the password, email
//! addresses through a real SMTP server, deactivation, and the bounds of
//! the password checks (the display name and the cross-signing reset at a
//! homeserver: `account_pages_homeserver.rs`).

use crate::both;
use crate::oauth_support::*;
use crate::smtp::SmtpSink;
use crate::sso::{Browser, Landing};
use crate::support::{assert_error, Backend, TestServer, SERVER_NAME};
use reqwest::StatusCode;
use serde_json::{json, Value};

both!(
    a_browser_logs_in_and_comes_back,
    the_list_shows_legacy_and_oauth_sessions,
    ending_a_session_kills_its_tokens,
    the_password_is_changed_with_the_current_one,
    an_email_address_is_added_and_removed,
    deactivation_asks_the_password_and_ends_everything,
    password_checks_count_as_failed_logins,
);

pub(crate) const PASSWORD: &str = "alice-password-1";
const LIST: &str = "/account/?action=org.matrix.devices_list";

/// From `path` (an account page) through the login page and back: the
/// page the browser lands on.
pub(crate) async fn log_in_at(
    s: &TestServer,
    browser: &mut Browser,
    path: &str,
    user: &str,
    password: &str,
) -> Landing {
    let first = browser.get(&format!("{}{path}", s.base)).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let login = first.location.clone().unwrap();
    assert!(login.starts_with("/oauth2/login?account="), "{login}");
    let page = browser.get(&format!("{}{login}", s.base)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let form = first_form(&page.body);
    let back = submit(
        browser,
        s,
        &form,
        &[("username", user), ("password", password)],
    )
    .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let to = back.location.clone().unwrap();
    assert_eq!(to, path, "back where the login started");
    browser.get(&format!("{}{to}", s.base)).await
}

/// The CSRF token of a page's forms.
pub(crate) fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf_token\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF token in {html}"))
        + "name=\"csrf_token\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// Posts an account form (`op` and its fields) with `csrf`.
pub(crate) async fn post_op(
    s: &TestServer,
    browser: &mut Browser,
    csrf: &str,
    op: &str,
    fields: &[(&str, &str)],
) -> Landing {
    let mut form = vec![("csrf_token", csrf), ("op", op)];
    form.extend_from_slice(fields);
    browser
        .post_form(&format!("{}/account/", s.base), &form)
        .await
}

fn message_of(html: &str) -> Option<&str> {
    let at = html.find("id=\"message\">")? + "id=\"message\">".len();
    html[at..].split('<').next()
}

/// A user with a legacy login and an OAuth 2.0 session, and a browser
/// logged in at the account pages: (legacy token, legacy device, OAuth
/// token answer, the browser on the list page).
async fn alice_with_two_sessions(s: &TestServer) -> (String, String, Value, Browser, Landing) {
    let (_, legacy, legacy_device) = s.register("alice", PASSWORD).await;
    let (_, oauth) = log_in(s, "alice", PASSWORD, DEVICE).await;
    let mut browser = Browser::new();
    let list = log_in_at(s, &mut browser, LIST, "alice", PASSWORD).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    (legacy, legacy_device, oauth, browser, list)
}

async fn a_browser_logs_in_and_comes_back(b: Backend) {
    let s = oauth_server(b).await;
    s.register("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let home = log_in_at(&s, &mut browser, "/account/", "alice", PASSWORD).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    assert!(home.body.contains(&format!("@alice:{SERVER_NAME}")));
    for id in ["profile", "sessions", "password", "deactivate"] {
        assert!(home.body.contains(&format!("id=\"{id}\"")), "{id}");
    }
    // Logged in now: the pages answer at once.
    let profile = browser
        .get(&format!("{}/account/?action=org.matrix.profile", s.base))
        .await;
    assert_eq!(profile.status, StatusCode::OK);
    assert!(profile.body.contains("id=\"displayname-form\""));
    // `/account` leads to `/account/`, keeping the action.
    let bare = browser
        .get(&format!("{}/account?action=org.matrix.profile", s.base))
        .await;
    assert_eq!(
        bare.location.as_deref(),
        Some("/account/?action=org.matrix.profile")
    );
    // An unknown action shows the overview.
    let other = browser
        .get(&format!("{}/account/?action=org.example.nope", s.base))
        .await;
    assert_eq!(other.status, StatusCode::OK);
    assert!(other.body.contains("id=\"links\""));

    // The login goes back to an account page only.
    let mut stranger = Browser::new();
    let first = stranger.get(&format!("{}/account/", s.base)).await;
    assert!(stranger.has_cookie("mxauth_browser_session"));
    let page = stranger
        .get(&format!(
            "{}/oauth2/login?account={}",
            s.base,
            enc("https://evil.example/")
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", first);
    let back = submit(
        &mut stranger,
        &s,
        &first_form(&page.body),
        &[("username", "alice"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(back.location.as_deref(), Some("/account/"));
    // A wrong password stays on the login page.
    let mut wrong = Browser::new();
    let first = wrong.get(&format!("{}{LIST}", s.base)).await;
    let login = first.location.unwrap();
    let page = wrong.get(&format!("{}{login}", s.base)).await;
    let refused = submit(
        &mut wrong,
        &s,
        &first_form(&page.body),
        &[("username", "alice"), ("password", "nope")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let still = wrong.get(&format!("{}{LIST}", s.base)).await;
    assert_eq!(still.status, StatusCode::SEE_OTHER);
}

async fn the_list_shows_legacy_and_oauth_sessions(b: Backend) {
    let s = oauth_server(b).await;
    let (legacy, legacy_device, oauth, mut browser, list) = alice_with_two_sessions(&s).await;
    // Both sessions, by device ID; the OAuth one names its application.
    for device in [legacy_device.as_str(), DEVICE] {
        assert!(
            list.body.contains(&format!("data-device-id=\"{device}\"")),
            "{device}: {}",
            list.body
        );
    }
    assert!(list.body.contains("Test App"), "{}", list.body);
    assert!(list.body.contains("Signed in: "), "{}", list.body);
    // The unstable name of the list is the same page.
    let unstable = browser
        .get(&format!(
            "{}/account/?action=org.matrix.sessions_list",
            s.base
        ))
        .await;
    assert_eq!(unstable.body, list.body);
    // Once a token is used (and the sighting written), its session shows
    // when and from where.
    assert_eq!(whoami(&s, &legacy).await.0, StatusCode::OK);
    let mut seen = String::new();
    for _ in 0..50 {
        seen = browser.get(&format!("{}{LIST}", s.base)).await.body;
        if seen.contains("Last used: ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen.contains("from 127.0.0.1"), "{seen}");
    // One session's page, by either name.
    for action in ["org.matrix.device_view", "org.matrix.session_view"] {
        let view = browser
            .get(&format!(
                "{}/account/?action={action}&device_id={DEVICE}",
                s.base
            ))
            .await;
        assert_eq!(view.status, StatusCode::OK, "{}", view.body);
        assert!(view.body.contains(DEVICE) && view.body.contains("Test App"));
        assert!(view.body.contains("id=\"end-session\""));
    }
    // The legacy API lists the OAuth session, and the OAuth token the
    // legacy one.
    let oauth_token = oauth["access_token"].as_str().unwrap();
    for token in [legacy.as_str(), oauth_token] {
        let (status, devices) = s.get("/_matrix/client/v3/devices", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{devices}");
        let ids: Vec<&str> = devices["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["device_id"].as_str().unwrap())
            .collect();
        assert!(
            ids.contains(&DEVICE) && ids.contains(&legacy_device.as_str()),
            "{ids:?}"
        );
    }
}

async fn ending_a_session_kills_its_tokens(b: Backend) {
    let s = oauth_server(b).await;
    let (legacy, legacy_device, oauth, mut browser, _) = alice_with_two_sessions(&s).await;
    let csrf = csrf_of(&profile_body(&s, &mut browser).await);
    let oauth_token = oauth["access_token"].as_str().unwrap();
    // The confirmation page (either name) changes nothing.
    for action in ["org.matrix.device_delete", "org.matrix.session_end"] {
        let confirm = browser
            .get(&format!(
                "{}/account/?action={action}&device_id={DEVICE}",
                s.base
            ))
            .await;
        assert_eq!(confirm.status, StatusCode::OK);
        assert!(confirm.body.contains("id=\"confirm-text\""));
        assert_eq!(whoami(&s, oauth_token).await.0, StatusCode::OK);
    }
    // A form without the right CSRF token is refused.
    for bad in ["", "0123456789abcdef0123456789abcdef"] {
        let refused = post_op(
            &s,
            &mut browser,
            bad,
            "end_session",
            &[("device_id", DEVICE)],
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    }
    // Another browser's token is not this one's.
    let mut other = Browser::new();
    let _ = other.get(&format!("{}/account/", s.base)).await;
    let refused = post_op(
        &s,
        &mut other,
        &csrf,
        "end_session",
        &[("device_id", DEVICE)],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(whoami(&s, oauth_token).await.0, StatusCode::OK);

    // Another user's device: unknown here.
    let (_, bob_token, bob_device) = s.register("bob", "bob-password-1").await;
    let view = browser
        .get(&format!(
            "{}/account/?action=org.matrix.device_view&device_id={bob_device}",
            s.base
        ))
        .await;
    assert_eq!(view.status, StatusCode::NOT_FOUND);
    let refused = post_op(
        &s,
        &mut browser,
        &csrf,
        "end_session",
        &[("device_id", &bob_device)],
    )
    .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
    assert_eq!(whoami(&s, &bob_token).await.0, StatusCode::OK);

    // Ended: the access token is unknown at once, the refresh token too.
    let ended = post_op(
        &s,
        &mut browser,
        &csrf,
        "end_session",
        &[("device_id", DEVICE)],
    )
    .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", ended.body);
    assert_eq!(ended.location.as_deref(), Some(LIST));
    assert_error(&whoami(&s, oauth_token).await, 401, "M_UNKNOWN_TOKEN");
    let (status, body) = token_request(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", oauth["refresh_token"].as_str().unwrap()),
            ("client_id", APP),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    let list = browser.get(&format!("{}{LIST}", s.base)).await;
    assert!(!list.body.contains(&format!("data-device-id=\"{DEVICE}\"")));
    // The legacy login ends the same way.
    assert_eq!(whoami(&s, &legacy).await.0, StatusCode::OK);
    let ended = post_op(
        &s,
        &mut browser,
        &csrf,
        "end_session",
        &[("device_id", &legacy_device)],
    )
    .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert_error(&whoami(&s, &legacy).await, 401, "M_UNKNOWN_TOKEN");
    // Ending it again: no such session.
    let again = post_op(
        &s,
        &mut browser,
        &csrf,
        "end_session",
        &[("device_id", &legacy_device)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

async fn the_password_is_changed_with_the_current_one(b: Backend) {
    let s = oauth_builder(b)
        .config(|c| {
            c.password_config.policy.enabled = true;
            c.password_config.policy.minimum_length = 10;
        })
        .start()
        .await;
    let (legacy, _, oauth, mut browser, _) = alice_with_two_sessions(&s).await;
    let csrf = csrf_of(&profile_body(&s, &mut browser).await);
    let page = browser
        .get(&format!("{}/account/?action=password", s.base))
        .await;
    assert!(page.body.contains("id=\"password-form\""));
    // A wrong current password: refused, nothing changed.
    let wrong = post_op(
        &s,
        &mut browser,
        &csrf,
        "password",
        &[
            ("current_password", "not-my-password"),
            ("new_password", "a-new-password-2"),
        ],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    assert!(wrong.body.contains("id=\"error\""));
    // A new password the policy refuses.
    let weak = post_op(
        &s,
        &mut browser,
        &csrf,
        "password",
        &[("current_password", PASSWORD), ("new_password", "short")],
    )
    .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST, "{}", weak.body);
    assert_eq!(s.try_login("alice", PASSWORD).await.0, StatusCode::OK);

    // Changed, keeping the other sessions.
    let kept = post_op(
        &s,
        &mut browser,
        &csrf,
        "password",
        &[
            ("current_password", PASSWORD),
            ("new_password", "a-new-password-2"),
            ("keep_sessions", "yes"),
        ],
    )
    .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(whoami(&s, &legacy).await.0, StatusCode::OK);
    assert_eq!(
        s.try_login("alice", PASSWORD).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.try_login("alice", "a-new-password-2").await.0,
        StatusCode::OK
    );

    // Changed again, ending the others: every token goes; this browser
    // stays logged in (a new cookie).
    let ended = post_op(
        &s,
        &mut browser,
        &csrf,
        "password",
        &[
            ("current_password", "a-new-password-2"),
            ("new_password", "a-third-password-3"),
        ],
    )
    .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    for token in [legacy.as_str(), oauth["access_token"].as_str().unwrap()] {
        assert_error(&whoami(&s, token).await, 401, "M_UNKNOWN_TOKEN");
    }
    let list = browser.get(&format!("{}{LIST}", s.base)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.body.contains("data-device-id"), "{}", list.body);
}

async fn an_email_address_is_added_and_removed(b: Backend) {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let s = oauth_builder(b)
        .config(move |c| {
            crate::email::email_config(c, port);
            c.public_baseurl = Some(ISSUER.into());
        })
        .start()
        .await;
    let (_, token, _) = s.register("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let profile = log_in_at(
        &s,
        &mut browser,
        "/account/?action=org.matrix.profile",
        "alice",
        PASSWORD,
    )
    .await;
    assert!(
        profile.body.contains("id=\"email-add\""),
        "{}",
        profile.body
    );
    let csrf = csrf_of(&profile.body);
    // The password is asked for.
    let wrong = post_op(
        &s,
        &mut browser,
        &csrf,
        "email_request",
        &[("email", "Alice@Example.org"), ("password", "nope")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    let sent = post_op(
        &s,
        &mut browser,
        &csrf,
        "email_request",
        &[("email", "Alice@Example.org"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(sent.body.contains("id=\"email-finish\""), "{}", sent.body);
    let finish = forms(&sent.body)
        .into_iter()
        .find(|(_, inputs)| inputs.iter().any(|(k, v)| k == "op" && v == "email_finish"))
        .unwrap();
    // Before the link is followed: not yet, and the page still waits.
    let early = submit(&mut browser, &s, &finish, &[]).await;
    assert_eq!(early.status, StatusCode::BAD_REQUEST, "{}", early.body);
    assert!(early.body.contains("id=\"email-finish\""));
    let link = sink.wait_for(1).await.remove(0).link();
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
    let added = submit(&mut browser, &s, &finish, &[]).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert!(added.body.contains("The address was added"));
    let (_, threepids) = s.get("/_matrix/client/v3/account/3pid", Some(&token)).await;
    assert_eq!(threepids["threepids"][0]["address"], "alice@example.org");
    // Spent: the same form again binds nothing new (the session is used).
    let again = submit(&mut browser, &s, &finish, &[]).await;
    assert!(again.status.is_client_error(), "{}", again.body);

    let removed = post_op(
        &s,
        &mut browser,
        &csrf,
        "email_remove",
        &[("email", "alice@example.org")],
    )
    .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert!(removed.body.contains("The address was removed"));
    let (_, threepids) = s.get("/_matrix/client/v3/account/3pid", Some(&token)).await;
    assert_eq!(threepids["threepids"], json!([]));
}

async fn deactivation_asks_the_password_and_ends_everything(b: Backend) {
    let clock = crate::support::mock_clock();
    let s = oauth_builder(b).clock(clock.clone()).start().await;
    let (legacy, _, oauth, mut browser, _) = alice_with_two_sessions(&s).await;
    let csrf = csrf_of(&profile_body(&s, &mut browser).await);
    let page = browser
        .get(&format!(
            "{}/account/?action=org.matrix.account_deactivate",
            s.base
        ))
        .await;
    assert!(page.body.contains("id=\"consequences\""), "{}", page.body);
    let wrong = post_op(
        &s,
        &mut browser,
        &csrf,
        "deactivate",
        &[("password", "nope")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    assert_eq!(whoami(&s, &legacy).await.0, StatusCode::OK);
    // No password stands only for a sign-in of the last five minutes
    // (for accounts without one); the page offers to sign in again.
    clock.advance_ms(6 * 60 * 1000);
    let stale = post_op(&s, &mut browser, &csrf, "deactivate", &[("password", "")]).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN, "{}", stale.body);
    assert!(stale.body.contains("sign in again"), "{}", stale.body);
    assert_eq!(whoami(&s, &legacy).await.0, StatusCode::OK);
    assert!(page
        .body
        .contains("id=\"sign-in-again\" href=\"/oauth2/logout?account="));
    let done = post_op(
        &s,
        &mut browser,
        &csrf,
        "deactivate",
        &[("password", PASSWORD)],
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(message_of(&done.body).unwrap().contains("deactivated"));
    for token in [legacy.as_str(), oauth["access_token"].as_str().unwrap()] {
        assert_error(&whoami(&s, token).await, 401, "M_UNKNOWN_TOKEN");
    }
    let (status, _) = s.try_login("alice", PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // This browser is logged out too.
    let again = browser.get(&format!("{}/account/", s.base)).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
}

/// The profile page, which has forms (the overview has none).
pub(crate) async fn profile_body(s: &TestServer, browser: &mut Browser) -> String {
    browser
        .get(&format!("{}/account/?action=org.matrix.profile", s.base))
        .await
        .body
}

/// The pages' password checks are the login's: failures fill the same
/// bucket, and while it is full even the right password is refused.
async fn password_checks_count_as_failed_logins(b: Backend) {
    let s = oauth_builder(b)
        .config(|c| {
            c.rate_limits.login_failed_attempts = mxauth::config::RateLimit::new(0.001, 2.0)
        })
        .start()
        .await;
    let (_, token, _) = s.register("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let page = log_in_at(
        &s,
        &mut browser,
        "/account/?action=org.matrix.account_deactivate",
        "alice",
        PASSWORD,
    )
    .await;
    let csrf = csrf_of(&page.body);
    for _ in 0..2 {
        let wrong = post_op(
            &s,
            &mut browser,
            &csrf,
            "deactivate",
            &[("password", "nope")],
        )
        .await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    }
    let limited = post_op(
        &s,
        &mut browser,
        &csrf,
        "deactivate",
        &[("password", PASSWORD)],
    )
    .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert_eq!(
        whoami(&s, &token).await.0,
        StatusCode::OK,
        "not deactivated"
    );
    assert_eq!(
        s.try_login("alice", PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}
