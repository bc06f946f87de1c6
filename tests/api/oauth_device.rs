//! The OAuth 2.0 device authorization grant (RFC 8628), black-box: a device
//! asks for codes at `/oauth2/device` and polls the token endpoint; a
//! browser types the user code at `/link`, logs in and decides. Each
//! polling answer, expiry, denial, reuse, wrong and guessed user codes.

use crate::both;
use crate::oauth_support::*;
use crate::sso::{Browser, Landing};
use crate::support::{mock_clock, Backend, TestServer, SERVER_NAME};
use mxauth::config::RateLimit;
use reqwest::StatusCode;
use serde_json::{json, Value};

both!(
    a_device_logs_in_with_the_device_grant,
    a_declined_device_hears_access_denied,
    expired_codes_answer_expired_token_then_are_forgotten,
    wrong_user_codes_are_refused_and_guessing_is_limited,
    bad_device_authorization_requests_are_refused,
    the_admin_scope_is_for_admins_only,
    an_approval_outlives_a_homeserver_outage,
);

const TV: &str = "TVDEVICE1";

/// `POST /oauth2/device`: status and JSON.
async fn device_authorization(s: &TestServer, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let res = s
        .raw()
        .post(format!("{}/oauth2/device", s.base))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_eq!(res.headers()["cache-control"], "no-store");
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Codes for [`APP`] and the device `device` (asserting success).
pub(crate) async fn start(s: &TestServer, device: &str) -> Value {
    let (status, body) =
        device_authorization(s, &[("client_id", APP), ("scope", &scope(device))]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The device's poll: status and JSON.
pub(crate) async fn poll(s: &TestServer, client_id: &str, codes: &Value) -> (StatusCode, Value) {
    token_request(
        s,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", codes["device_code"].as_str().unwrap()),
            ("client_id", client_id),
        ],
    )
    .await
}

/// The poll's error code (asserting a 400).
async fn poll_error(s: &TestServer, codes: &Value) -> String {
    let (status, body) = poll(s, APP, codes).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    body["error"].as_str().unwrap().to_owned()
}

/// The local part of a URL of the issuer.
pub(crate) fn local(url: &str) -> String {
    url.strip_prefix(ISSUER.trim_end_matches('/'))
        .unwrap_or(url)
        .to_owned()
}

/// A browser from the verification link through the code form, the login
/// (if the browser is not logged in) and the consent page, which it
/// answers `action` (`approve` or `decline`): the last page.
async fn verify(
    browser: &mut Browser,
    s: &TestServer,
    link: &str,
    user: &str,
    password: &str,
    action: &str,
) -> Landing {
    let mut landing = browser.get(&format!("{}{}", s.base, local(link))).await;
    for _ in 0..8 {
        if landing.status.is_redirection() {
            let location = landing.location.clone().unwrap();
            assert!(location.starts_with('/'), "stays at mxauth: {location}");
            landing = browser.get(&format!("{}{location}", s.base)).await;
            continue;
        }
        if landing.status != StatusCode::OK {
            return landing;
        }
        let all = forms(&landing.body);
        let Some(first) = all.first() else {
            return landing;
        };
        let form = match first.0.as_str() {
            "/oauth2/device/consent" => all
                .iter()
                .find(|f| f.1.iter().any(|(k, v)| k == "action" && v == action))
                .expect("the consent form of the action")
                .clone(),
            _ => first.clone(),
        };
        landing = submit(
            browser,
            s,
            &form,
            &[("username", user), ("password", password)],
        )
        .await;
    }
    panic!("the verification did not end: {}", landing.body);
}

async fn a_device_logs_in_with_the_device_grant(b: Backend) {
    let clock = mock_clock();
    let s = oauth_builder(b).clock(clock.clone()).start().await;
    let (user, _, _) = s.register("tess", "tess-pw").await;

    // The metadata names the endpoint and the grant type.
    let (_, meta) = s.get("/_matrix/client/v1/auth_metadata", None).await;
    assert_eq!(
        meta["device_authorization_endpoint"],
        format!("{ISSUER}oauth2/device")
    );
    assert!(meta["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("urn:ietf:params:oauth:grant-type:device_code")));

    // All six fields of RFC 8628 §3.2.
    let codes = start(&s, TV).await;
    let user_code = codes["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code
        .chars()
        .filter(|c| *c != '-')
        .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    assert_eq!(codes["verification_uri"], format!("{ISSUER}link"));
    let complete = codes["verification_uri_complete"].as_str().unwrap();
    assert!(
        complete.starts_with(&format!("{ISSUER}link?code=")),
        "{complete}"
    );
    assert_eq!(codes["expires_in"], 600);
    assert_eq!(codes["interval"], 5);
    assert!(codes["device_code"].as_str().unwrap().len() >= 32);

    // Before the user decides: pending; polled faster than the interval:
    // slow_down (and the interval grows by 5 s).
    assert_eq!(poll_error(&s, &codes).await, "authorization_pending");
    assert_eq!(poll_error(&s, &codes).await, "slow_down");
    clock.advance_ms(6_000);
    assert_eq!(poll_error(&s, &codes).await, "slow_down", "now 10 s apart");
    clock.advance_ms(11_000);
    assert_eq!(poll_error(&s, &codes).await, "slow_down", "now 15 s apart");
    clock.advance_ms(21_000);
    assert_eq!(poll_error(&s, &codes).await, "authorization_pending");

    // The link fills the code in; the user checks it and goes on, logs in,
    // and sees who asks for what, on which device.
    let mut browser = Browser::new();
    let page = browser.get(&format!("{}{}", s.base, local(complete))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(user_code), "pre-filled: {}", page.body);
    assert_eq!(page.headers["x-frame-options"], "DENY");
    let landing = submit(&mut browser, &s, &first_form(&page.body), &[]).await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER);
    let login = landing.location.unwrap();
    assert!(login.starts_with("/oauth2/login?device="), "{login}");
    let page = browser.get(&format!("{}{login}", s.base)).await;
    assert!(page.body.contains("Test App"), "{}", page.body);
    let landing = submit(
        &mut browser,
        &s,
        &first_form(&page.body),
        &[("username", "tess"), ("password", "tess-pw")],
    )
    .await;
    let consent = landing.location.unwrap();
    assert!(
        consent.starts_with("/oauth2/device/consent?device="),
        "{consent}"
    );
    let page = browser.get(&format!("{}{consent}", s.base)).await;
    assert!(page.body.contains(user_code) && page.body.contains(&user));
    assert_eq!(poll_error(&s, &codes).await, "slow_down", "not decided yet");
    clock.advance_ms(60_000);
    let approve = forms(&page.body)
        .into_iter()
        .find(|f| f.1.iter().any(|(k, v)| k == "action" && v == "approve"))
        .unwrap();
    let done = submit(&mut browser, &s, &approve, &[]).await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(
        done.body.contains("data-outcome=\"approved\""),
        "{}",
        done.body
    );

    // The tokens, once; the token's device is the scope's.
    let (status, tokens) = poll(&s, APP, &codes).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], scope(TV));
    let access = tokens["access_token"].as_str().unwrap();
    let (status, me) = whoami(&s, access).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], user);
    assert_eq!(me["device_id"], TV);
    clock.advance_ms(60_000);
    let (status, again) = poll(&s, APP, &codes).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(again["error"], "invalid_grant", "{again}");

    // The session is an ordinary one: listed, refreshable.
    let (_, devices) = s.get("/_matrix/client/v3/devices", Some(access)).await;
    assert!(devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["device_id"] == TV && d["display_name"] == "Test App"));
    let (status, refreshed) = token_request(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", APP),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");

    // A second device from the same (logged-in) browser: straight to
    // consent after the code.
    let second = start(&s, "TVDEVICE2").await;
    let last = verify(
        &mut browser,
        &s,
        second["verification_uri_complete"].as_str().unwrap(),
        "",
        "",
        "approve",
    )
    .await;
    assert!(last.body.contains("data-outcome=\"approved\""));
    let (status, tokens) = poll(&s, APP, &second).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (_, me) = whoami(&s, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(me["device_id"], "TVDEVICE2");
}

async fn a_declined_device_hears_access_denied(b: Backend) {
    let s = oauth_server(b).await;
    s.register("dora", "dora-pw").await;
    let codes = start(&s, TV).await;
    let mut browser = Browser::new();
    let last = verify(
        &mut browser,
        &s,
        codes["verification_uri_complete"].as_str().unwrap(),
        "dora",
        "dora-pw",
        "decline",
    )
    .await;
    assert!(
        last.body.contains("data-outcome=\"declined\""),
        "{}",
        last.body
    );
    assert_eq!(poll_error(&s, &codes).await, "access_denied");
    assert_eq!(
        poll_error(&s, &codes).await,
        "access_denied",
        "and stays so"
    );
    // A decided code cannot be typed again.
    let page = browser
        .get(&format!(
            "{}{}",
            s.base,
            local(codes["verification_uri_complete"].as_str().unwrap())
        ))
        .await;
    let refused = submit(&mut browser, &s, &first_form(&page.body), &[]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("id=\"error\""), "{}", refused.body);
}

async fn expired_codes_answer_expired_token_then_are_forgotten(b: Backend) {
    let clock = mock_clock();
    let s = oauth_builder(b)
        .clock(clock.clone())
        .config(|c| c.oauth.as_mut().unwrap().device_code_lifetime_ms = 120_000)
        .start()
        .await;
    s.register("eve", "eve-pw").await;
    let codes = start(&s, TV).await;
    assert_eq!(codes["expires_in"], 120);
    clock.advance_ms(121_000);
    assert_eq!(poll_error(&s, &codes).await, "expired_token");
    // The page no longer knows the code.
    let mut browser = Browser::new();
    let page = browser
        .get(&format!(
            "{}{}",
            s.base,
            local(codes["verification_uri_complete"].as_str().unwrap())
        ))
        .await;
    let refused = submit(&mut browser, &s, &first_form(&page.body), &[]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    // Still expired_token for a while; swept after an hour: unknown.
    clock.advance_ms(30 * 60 * 1000);
    s.auth.sweep_device_grants().await.unwrap();
    assert_eq!(poll_error(&s, &codes).await, "expired_token");
    clock.advance_ms(31 * 60 * 1000);
    assert!(s.auth.sweep_device_grants().await.unwrap() >= 1);
    assert_eq!(poll_error(&s, &codes).await, "invalid_grant");
}

async fn wrong_user_codes_are_refused_and_guessing_is_limited(b: Backend) {
    let s = oauth_builder(b)
        .config(|c| c.rate_limits.oauth_user_code = RateLimit::new(0.001, 3.0))
        .start()
        .await;
    let codes = start(&s, TV).await;
    let mut browser = Browser::new();
    // Whatever a link carries is shown back, escaped; the server stands.
    for odd in ["abc%C3%A9def", "%3Cscript%3E", &"Z".repeat(5000)] {
        let page = browser.get(&format!("{}/link?code={odd}", s.base)).await;
        assert_eq!(page.status, StatusCode::OK, "{odd}");
        assert!(!page.body.contains("<script>"));
    }
    let page = browser.get(&format!("{}/link", s.base)).await;
    assert_eq!(page.status, StatusCode::OK);
    let form = first_form(&page.body);
    // Without the page's CSRF token: refused before anything is checked.
    let forged = browser
        .post_form(
            &format!("{}/link", s.base),
            &[("code", codes["user_code"].as_str().unwrap())],
        )
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert!(forged.location.is_none());
    // Wrong codes: the page again, with an error; then the limit.
    for wrong in ["BCDF-GHJK", "nonsense"] {
        let refused = submit(&mut browser, &s, &form, &[("code", wrong)]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{wrong}");
        assert!(refused.body.contains("id=\"error\""));
    }
    // Typed loosely (lower case, spaces), the right code is found...
    let loose = codes["user_code"]
        .as_str()
        .unwrap()
        .replace('-', " ")
        .to_lowercase();
    let found = submit(&mut browser, &s, &form, &[("code", &loose)]).await;
    assert_eq!(found.status, StatusCode::SEE_OTHER, "{}", found.body);
    assert!(found.location.unwrap().starts_with("/oauth2/login?device="));
    // ... and the fourth try of the address is refused, right or wrong.
    let limited = submit(
        &mut browser,
        &s,
        &form,
        &[("code", codes["user_code"].as_str().unwrap())],
    )
    .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    // A page of a grant this browser did not type the code of is refused.
    let mut other = Browser::new();
    let stranger = other
        .get(&format!("{}/oauth2/device/consent?device=nonesuch", s.base))
        .await;
    assert_eq!(stranger.status, StatusCode::BAD_REQUEST);
}

async fn bad_device_authorization_requests_are_refused(b: Backend) {
    let s = oauth_server(b).await;
    let error = |(status, body): (StatusCode, Value)| {
        assert_eq!(status.as_u16() / 100, 4, "{body}");
        body["error"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(
        error(device_authorization(&s, &[("scope", &scope(TV))]).await),
        "invalid_client"
    );
    assert_eq!(
        error(device_authorization(&s, &[("client_id", "nonesuch"), ("scope", &scope(TV))]).await),
        "invalid_client"
    );
    assert_eq!(
        error(device_authorization(&s, &[("client_id", APP)]).await),
        "invalid_scope"
    );
    assert_eq!(
        error(
            device_authorization(
                &s,
                &[("client_id", APP), ("scope", "urn:matrix:client:api:*")]
            )
            .await
        ),
        "invalid_scope",
        "a device must be named"
    );
    // A client that registered the code grant only may not use this one.
    let code_only = register_client(&s).await;
    assert_eq!(
        error(device_authorization(&s, &[("client_id", &code_only), ("scope", &scope(TV))]).await),
        "unauthorized_client"
    );
    // One that registered it (and no redirect URI) may.
    let (status, registered) = s
        .post(
            "/oauth2/registration",
            None,
            json!({
                "client_name": "TV App",
                "client_uri": "https://tv.example.org/",
                "token_endpoint_auth_method": "none",
                "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
                "application_type": "native",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    assert_eq!(registered["response_types"], json!([]));
    let tv_client = registered["client_id"].as_str().unwrap();
    let (status, codes) =
        device_authorization(&s, &[("client_id", tv_client), ("scope", &scope(TV))]).await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    // The device code is the client's: another client polling it learns
    // nothing.
    assert_eq!(error(poll(&s, OTHER_APP, &codes).await), "invalid_grant");
    assert_eq!(
        error(poll(&s, tv_client, &codes).await),
        "authorization_pending"
    );
    assert_eq!(
        error(
            token_request(
                &s,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", tv_client),
                ],
            )
            .await
        ),
        "invalid_request"
    );
    assert_eq!(
        error(
            token_request(
                &s,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", "nonesuch"),
                    ("client_id", tv_client),
                ],
            )
            .await
        ),
        "invalid_grant"
    );
}

async fn the_admin_scope_is_for_admins_only(b: Backend) {
    let s = oauth_server(b).await;
    s.register("nadia", "nadia-pw").await;
    let (status, codes) = device_authorization(
        &s,
        &[
            ("client_id", APP),
            ("scope", &format!("{} urn:synapse:admin:*", scope(TV))),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    let mut browser = Browser::new();
    let last = verify(
        &mut browser,
        &s,
        codes["verification_uri_complete"].as_str().unwrap(),
        "nadia",
        "nadia-pw",
        "approve",
    )
    .await;
    assert_eq!(last.status, StatusCode::FORBIDDEN, "{}", last.body);
    assert_eq!(poll_error(&s, &codes).await, "access_denied");
}

async fn an_approval_outlives_a_homeserver_outage(b: Backend) {
    // Two processes on one database: one delegating to a homeserver that
    // is away, one without a homeserver.
    let plain = oauth_server(b).await;
    plain.register("hana", "hana-pw").await;
    let delegating = oauth_builder(plain.db.clone())
        .config(|c| {
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = closed.local_addr().unwrap().port();
            drop(closed);
            c.matrix = Some(mxauth::config::MatrixConfig {
                kind: "synapse".into(),
                homeserver: SERVER_NAME.into(),
                endpoint: format!("http://127.0.0.1:{port}/"),
                secret: mxauth::config::Secret::new("shared"),
                account_management_uri: None,
            });
        })
        .start()
        .await;
    let codes = start(&delegating, TV).await;
    let mut browser = Browser::new();
    let last = verify(
        &mut browser,
        &delegating,
        codes["verification_uri_complete"].as_str().unwrap(),
        "hana",
        "hana-pw",
        "approve",
    )
    .await;
    assert!(last.body.contains("data-outcome=\"approved\""));
    // The homeserver cannot learn of the device: no tokens, try later...
    let (status, body) = poll(&delegating, APP, &codes).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    // ... and the approval is not lost: the next poll gets the tokens.
    let (status, tokens) = poll(&plain, APP, &codes).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (_, me) = whoami(&plain, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(me["device_id"], TV);
}
