//! The OAuth 2.0 authorization code grant, black-box: `/authorize`, the
//! login and consent pages as a browser walks them, a whole login to
//! revocation, and what each refusal looks like (a page at mxauth before
//! the redirect URI is trusted, the client's redirect URI after). The
//! token endpoint's own cases are in `oauth_tokens.rs`.

use crate::both;
use crate::oauth_support::*;
use crate::sso::Browser;
use crate::support::Backend;
use reqwest::StatusCode;

both!(
    a_whole_login_refreshes_and_revokes,
    errors_before_the_redirect_uri_is_trusted_are_pages,
    errors_after_it_go_back_to_the_client,
    a_declined_consent_is_access_denied,
    a_logged_in_browser_goes_straight_to_consent,
    the_login_page_refuses_alike_and_needs_its_csrf_token,
    the_admin_scope_is_for_admins_only,
    a_grant_crosses_processes_and_so_does_revocation,
);

async fn a_whole_login_refreshes_and_revokes(b: Backend) {
    let s = oauth_server(b).await;
    let (user, _, _) = s.register("alice", "alice-pw").await;
    // A client registered as a real one registers (RFC 7591).
    let client_id = register_client(&s).await;
    let (verifier, challenge) = pkce("the-verifier-of-alice");
    let mut browser = Browser::new();

    // /authorize: to the login page, with the browser's cookie.
    let landing = browser
        .get(&authorize_url(&s, &client_id, &scope(DEVICE), &challenge))
        .await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    let login = landing.location.unwrap();
    assert!(login.starts_with("/oauth2/login?grant="), "{login}");
    let cookie = landing.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("mxauth_browser_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    // The login page: a form password managers understand.
    let page = browser.get(&format!("{}{login}", s.base)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("name=\"username\"") && page.body.contains("autocomplete=\"username\"")
    );
    assert!(
        page.body.contains("name=\"password\"")
            && page.body.contains("autocomplete=\"current-password\"")
    );
    assert!(page.body.contains("Test App"), "the client's name");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    let form = first_form(&page.body);
    assert!(form
        .1
        .iter()
        .any(|(n, v)| n == "csrf_token" && !v.is_empty()));

    // Logged in: to consent, under a new cookie.
    let landing = submit(
        &mut browser,
        &s,
        &form,
        &[("username", "alice"), ("password", "alice-pw")],
    )
    .await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    let consent = landing.location.unwrap();
    assert!(consent.starts_with("/oauth2/consent?grant="), "{consent}");
    let new_cookie = landing.headers["set-cookie"].to_str().unwrap();
    assert_ne!(
        new_cookie.split(';').next(),
        cookie.split(';').next(),
        "the cookie is renewed at login"
    );

    // Consent names the client, the user and the scopes; the first form approves.
    let page = browser.get(&format!("{}{consent}", s.base)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&user) && page.body.contains("Test App"));
    assert!(page.body.contains("app.example.org"));
    assert!(page.body.contains(DEVICE), "the device scope is shown");
    let landing = submit(&mut browser, &s, &first_form(&page.body), &[]).await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER);
    let back = landing.location.unwrap();
    assert!(back.starts_with(REDIRECT_URI), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some("st4te"));
    assert_eq!(param(&back, "iss").as_deref(), Some(ISSUER));
    let code = param(&back, "code").expect("a code");

    // The code for tokens.
    let tokens = exchange(&s, &client_id, &code, &verifier).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_i64().unwrap() > 0, "{tokens}");
    assert_eq!(tokens["scope"], scope(DEVICE));
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, me) = whoami(&s, access).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], user);
    assert_eq!(me["device_id"], DEVICE);
    let (_, devices) = s.get("/_matrix/client/v3/devices", Some(access)).await;
    assert!(devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["device_id"] == DEVICE));

    // Refresh: a new pair; the new access token works.
    let (status, refreshed) = token_request(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(refreshed["scope"], scope(DEVICE), "the granted scope again");
    let access2 = refreshed["access_token"].as_str().unwrap();
    assert_ne!(access2, access);
    assert_ne!(refreshed["refresh_token"].as_str().unwrap(), refresh);
    assert_eq!(whoami(&s, access2).await.1["device_id"], DEVICE);

    // Revoked: logged out, the device gone.
    let (status, _) = revoke(&s, &client_id, Some(access2)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = whoami(&s, access2).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errcode"], "M_UNKNOWN_TOKEN");
    let (alice, _) = s.login("alice", "alice-pw").await;
    let (_, devices) = s.get("/_matrix/client/v3/devices", Some(&alice)).await;
    assert!(
        !devices["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["device_id"] == DEVICE),
        "{devices}"
    );
}

async fn errors_before_the_redirect_uri_is_trusted_are_pages(b: Backend) {
    let s = oauth_server(b).await;
    let client_id = APP.to_owned();
    let (_, challenge) = pkce("x");
    let mut browser = Browser::new();
    let cases = [
        format!(
            "{}/authorize?response_type=code&client_id=nobody&redirect_uri={}",
            s.base,
            enc(REDIRECT_URI)
        ),
        format!(
            "{}/authorize?response_type=code&redirect_uri={}",
            s.base,
            enc(REDIRECT_URI)
        ),
        authorize_url(&s, &client_id, &scope(DEVICE), &challenge)
            .replace(&enc(REDIRECT_URI), &enc("https://evil.example/callback")),
        authorize_url(&s, &client_id, &scope(DEVICE), &challenge).replace(
            &enc(REDIRECT_URI),
            &enc("https://app.example.org/callback/more"),
        ),
    ];
    for url in cases {
        let landing = browser.get(&url).await;
        assert_eq!(landing.status, StatusCode::BAD_REQUEST, "{url}");
        assert!(landing.location.is_none(), "{url} redirected");
        assert!(landing.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(!landing.body.contains("evil.example"), "{}", landing.body);
    }
    // A grant the browser does not hold is a page too.
    let landing = browser
        .get(&format!("{}/oauth2/login?grant=nonesuch", s.base))
        .await;
    assert_eq!(landing.status, StatusCode::BAD_REQUEST);
}

async fn errors_after_it_go_back_to_the_client(b: Backend) {
    let s = oauth_server(b).await;
    let client_id = APP.to_owned();
    let (_, challenge) = pkce("y");
    let good = authorize_url(&s, &client_id, &scope(DEVICE), &challenge);
    let cases = [
        (
            good.replace(
                "&code_challenge_method=S256",
                "&code_challenge_method=plain",
            ),
            "invalid_request",
        ),
        (
            good.replace(&format!("&code_challenge={challenge}"), ""),
            "invalid_request",
        ),
        (
            good.replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (good.replace("response_type=code&", ""), "invalid_request"),
        (
            good.replace(&enc(&scope(DEVICE)), &enc("urn:matrix:client:api:*")),
            "invalid_scope",
        ),
        (
            good.replace(
                &enc(&scope(DEVICE)),
                &enc("urn:matrix:client:api:* profile urn:matrix:client:device:A"),
            ),
            "invalid_scope",
        ),
        (format!("{good}&response_mode=form_post"), "invalid_request"),
        (format!("{good}&prompt=none"), "login_required"),
    ];
    let mut browser = Browser::new();
    for (url, error) in cases {
        let landing = browser.get(&url).await;
        assert_eq!(
            landing.status,
            StatusCode::SEE_OTHER,
            "{url}: {}",
            landing.body
        );
        let back = landing.location.unwrap();
        assert!(back.starts_with(REDIRECT_URI), "{back}");
        assert_eq!(param(&back, "error").as_deref(), Some(error), "{url}");
        assert!(param(&back, "error_description").is_some());
        assert_eq!(param(&back, "state").as_deref(), Some("st4te"), "{url}");
    }
    // In the fragment when the client asks for it.
    let landing = browser
        .get(&format!(
            "{}&response_mode=fragment",
            good.replace("response_type=code", "response_type=token")
        ))
        .await;
    let back = landing.location.unwrap();
    assert!(back.contains("#error=unsupported_response_type"), "{back}");
}

async fn a_declined_consent_is_access_denied(b: Backend) {
    let s = oauth_server(b).await;
    s.register("bob", "bob-pw").await;
    let client_id = APP.to_owned();
    let (_, challenge) = pkce("z");
    let mut browser = Browser::new();
    let landing = browser
        .get(&authorize_url(&s, &client_id, &scope(DEVICE), &challenge))
        .await;
    let page = browser
        .get(&format!("{}{}", s.base, landing.location.unwrap()))
        .await;
    let landing = submit(
        &mut browser,
        &s,
        &first_form(&page.body),
        &[("username", "bob"), ("password", "bob-pw")],
    )
    .await;
    let page = browser
        .get(&format!("{}{}", s.base, landing.location.unwrap()))
        .await;
    let all = forms(&page.body);
    assert!(all.len() >= 2, "approve and decline forms");
    let landing = submit(&mut browser, &s, &all[1], &[]).await;
    let back = landing.location.unwrap();
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("access_denied"),
        "{back}"
    );
    assert_eq!(param(&back, "state").as_deref(), Some("st4te"));
    assert!(param(&back, "code").is_none());
    // The grant is gone: approving afterwards fails.
    let landing = submit(&mut browser, &s, &all[0], &[]).await;
    assert_eq!(landing.status, StatusCode::BAD_REQUEST);
}

async fn a_logged_in_browser_goes_straight_to_consent(b: Backend) {
    let s = oauth_server(b).await;
    s.register("carol", "carol-pw").await;
    let client_id = APP.to_owned();
    let (_, challenge) = pkce("w");
    let mut browser = Browser::new();
    let url = authorize_url(&s, &client_id, &scope(DEVICE), &challenge);
    walk(&mut browser, &s, &url, "carol", "carol-pw").await;
    let landing = browser.get(&url).await;
    assert!(
        landing
            .location
            .as_deref()
            .unwrap()
            .starts_with("/oauth2/consent?"),
        "{landing:?}"
    );
    // prompt=login asks again.
    let landing = browser.get(&format!("{url}&prompt=login")).await;
    assert!(landing
        .location
        .as_deref()
        .unwrap()
        .starts_with("/oauth2/login?"));
    // "Not you?" logs the browser out.
    let to_consent = browser.get(&url).await.location.unwrap();
    let consent = browser.get(&format!("{}{to_consent}", s.base)).await;
    let switch = consent
        .body
        .split("href=\"/oauth2/logout?")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let landing = browser
        .get(&format!("{}/oauth2/logout?{switch}", s.base))
        .await;
    assert!(landing
        .location
        .as_deref()
        .unwrap()
        .starts_with("/oauth2/login?"));
    assert!(browser
        .get(&url)
        .await
        .location
        .unwrap()
        .starts_with("/oauth2/login?"));
}

async fn the_login_page_refuses_alike_and_needs_its_csrf_token(b: Backend) {
    let s = oauth_server(b).await;
    s.register("dave", "dave-pw").await;
    let client_id = APP.to_owned();
    let (_, challenge) = pkce("v");
    let mut browser = Browser::new();
    let landing = browser
        .get(&authorize_url(&s, &client_id, &scope(DEVICE), &challenge))
        .await;
    let login_url = format!("{}{}", s.base, landing.location.unwrap());
    let form = first_form(&browser.get(&login_url).await.body);
    let wrong = submit(
        &mut browser,
        &s,
        &form,
        &[("username", "dave"), ("password", "nope")],
    )
    .await;
    let unknown = submit(
        &mut browser,
        &s,
        &form,
        &[("username", "nobody"), ("password", "nope")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.status, unknown.status);
    let message = |body: &str| {
        body.split("id=\"error\"")
            .nth(1)
            .map(|m| m.split('<').next().unwrap().to_owned())
    };
    assert!(message(&wrong.body).is_some(), "{}", wrong.body);
    assert_eq!(message(&wrong.body), message(&unknown.body));
    assert!(
        wrong.body.contains("value=\"dave\""),
        "the username is kept"
    );
    // Without the CSRF token, or with another browser's: refused.
    let bad = submit(
        &mut browser,
        &s,
        &form,
        &[
            ("username", "dave"),
            ("password", "dave-pw"),
            ("csrf_token", "0"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let mut other = Browser::new();
    let stolen = submit(
        &mut other,
        &s,
        &form,
        &[("username", "dave"), ("password", "dave-pw")],
    )
    .await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST);
    // The right password still works.
    let ok = submit(
        &mut browser,
        &s,
        &form,
        &[("username", "dave"), ("password", "dave-pw")],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
}

async fn the_admin_scope_is_for_admins_only(b: Backend) {
    let s = oauth_server(b).await;
    s.register("jack", "jack-pw").await;
    let client_id = APP.to_owned();
    let (_, challenge) = pkce("admin");
    let admin_scope = format!("{} urn:synapse:admin:*", scope(DEVICE));
    let mut browser = Browser::new();
    let back = walk(
        &mut browser,
        &s,
        &authorize_url(&s, &client_id, &admin_scope, &challenge),
        "jack",
        "jack-pw",
    )
    .await;
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("invalid_scope"),
        "{back}"
    );
    assert!(param(&back, "code").is_none());

    s.register_admin("root").await;
    let (verifier, challenge) = pkce("admin-root");
    let mut browser = Browser::new();
    let back = walk(
        &mut browser,
        &s,
        &authorize_url(&s, &client_id, &admin_scope, &challenge),
        "root",
        "admin-password",
    )
    .await;
    let tokens = exchange(&s, &client_id, &param(&back, "code").unwrap(), &verifier).await;
    assert!(tokens["scope"]
        .as_str()
        .unwrap()
        .contains("urn:synapse:admin:*"));
    let (status, _) = s
        .get(
            "/_synapse/admin/v1/registration_tokens",
            Some(tokens["access_token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// Two processes on one database: each page of one login on the other
/// process than the one before; a revocation at one is refused at both.
async fn a_grant_crosses_processes_and_so_does_revocation(b: Backend) {
    let one = oauth_server(b).await;
    let two = oauth_builder(one.db.clone()).start().await;
    one.register("mona", "mona-pw").await;
    let client_id = APP.to_owned();
    let (verifier, challenge) = pkce("two-processes");
    let mut browser = Browser::new();
    let landing = browser
        .get(&authorize_url(&one, &client_id, &scope(DEVICE), &challenge))
        .await;
    let page = browser
        .get(&format!("{}{}", two.base, landing.location.unwrap()))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let landing = submit(
        &mut browser,
        &one,
        &first_form(&page.body),
        &[("username", "mona"), ("password", "mona-pw")],
    )
    .await;
    let page = browser
        .get(&format!("{}{}", two.base, landing.location.unwrap()))
        .await;
    let landing = submit(&mut browser, &one, &first_form(&page.body), &[]).await;
    let code = param(&landing.location.unwrap(), "code").unwrap();
    let tokens = exchange(&two, &client_id, &code, &verifier).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(whoami(&one, access).await.0, StatusCode::OK);
    assert_eq!(
        revoke(
            &two,
            &client_id,
            Some(tokens["refresh_token"].as_str().unwrap())
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(whoami(&one, access).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(&two, access).await.0, StatusCode::UNAUTHORIZED);
}
