//! The OAuth 2.0 authorization code grant, black-box: `/authorize`, the
//! login and consent pages as a browser walks them, the token endpoint
//! (codes, PKCE, refresh rotation), revocation, and what each refusal
//! looks like (a page at mxauth before the redirect URI is trusted, the
//! client's redirect URI after; RFC 6749 JSON at the token endpoint).

use crate::both;
use crate::oauth_support::*;
use crate::sso::Browser;
use crate::support::{mock_clock, Backend};
use reqwest::StatusCode;
use serde_json::Value;

both!(
    a_whole_login_refreshes_and_revokes,
    errors_before_the_redirect_uri_is_trusted_are_pages,
    errors_after_it_go_back_to_the_client,
    a_declined_consent_is_access_denied,
    a_logged_in_browser_goes_straight_to_consent,
    the_login_page_refuses_alike_and_needs_its_csrf_token,
    a_code_is_single_use_and_a_reuse_ends_its_session,
    a_code_is_bound_to_client_redirect_uri_and_verifier,
    token_endpoint_errors,
    refresh_retry_after_a_lost_response_then_reuse_ends_the_session,
    revocation_of_either_token_ends_the_session,
    reusing_a_device_id_ends_its_earlier_tokens,
    the_admin_scope_is_for_admins_only,
    openid_gives_an_id_token_and_userinfo,
    access_tokens_expire_and_refresh,
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

async fn a_code_is_single_use_and_a_reuse_ends_its_session(b: Backend) {
    let s = oauth_server(b).await;
    s.register("erin", "erin-pw").await;
    let client_id = APP.to_owned();
    let (verifier, challenge) = pkce("single-use");
    let mut browser = Browser::new();
    let back = walk(
        &mut browser,
        &s,
        &authorize_url(&s, &client_id, &scope(DEVICE), &challenge),
        "erin",
        "erin-pw",
    )
    .await;
    let code = param(&back, "code").unwrap();
    let tokens = exchange(&s, &client_id, &code, &verifier).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(whoami(&s, access).await.0, StatusCode::OK);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body) = token_request(&s, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert_eq!(
        whoami(&s, access).await.0,
        StatusCode::UNAUTHORIZED,
        "the first use's session ended"
    );
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, _) = token_request(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn a_code_is_bound_to_client_redirect_uri_and_verifier(b: Backend) {
    let s = oauth_server(b).await;
    s.register("frank", "frank-pw").await;
    let client_id = APP.to_owned();
    let other_client = register_client_with(&s, serde_json::json!({"client_name": "Other"})).await;
    let (verifier, challenge) = pkce("bound");
    for (who, redirect, verifier_sent) in [
        (other_client.as_str(), REDIRECT_URI, verifier.as_str()),
        (
            client_id.as_str(),
            "https://app.example.org/other",
            verifier.as_str(),
        ),
        (
            client_id.as_str(),
            REDIRECT_URI,
            "a-different-verifier-of-forty-three-chars-x",
        ),
    ] {
        let mut browser = Browser::new();
        let back = walk(
            &mut browser,
            &s,
            &authorize_url(&s, &client_id, &scope(DEVICE), &challenge),
            "frank",
            "frank-pw",
        )
        .await;
        let code = param(&back, "code").unwrap();
        let (status, body) = token_request(
            &s,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("client_id", who),
                ("code_verifier", verifier_sent),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{who} {redirect} {body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
}

async fn token_endpoint_errors(b: Backend) {
    let s = oauth_server(b).await;
    let client_id = APP.to_owned();
    let cid = client_id.as_str();
    let verifier = "v".repeat(43);
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("client_id", cid)], 400, "invalid_request"),
        (
            vec![("grant_type", "password"), ("client_id", cid)],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", "nobody"),
                ("code", "x"),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![("grant_type", "authorization_code"), ("code", "x")],
            401,
            "invalid_client",
        ),
        (
            vec![("grant_type", "authorization_code"), ("client_id", cid)],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", cid),
                ("code", "x"),
            ],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", cid),
                ("code", "nonesuch"),
                ("code_verifier", &verifier),
                ("redirect_uri", REDIRECT_URI),
            ],
            400,
            "invalid_grant",
        ),
        (
            vec![("grant_type", "refresh_token"), ("client_id", cid)],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", cid),
                ("refresh_token", "nonesuch"),
            ],
            400,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("grant_type", "refresh_token"),
                ("client_id", cid),
            ],
            400,
            "invalid_request",
        ),
    ];
    for (form, status, error) in cases {
        let (got, body) = token_request(&s, &form).await;
        assert_eq!(got.as_u16(), status, "{form:?}: {body}");
        assert_eq!(body["error"], error, "{form:?}: {body}");
        assert!(body["error_description"].is_string(), "{body}");
    }
    let res = s
        .raw()
        .post(format!("{}/oauth2/token", s.base))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
}

async fn refresh_retry_after_a_lost_response_then_reuse_ends_the_session(b: Backend) {
    let s = oauth_server(b).await;
    s.register("gina", "gina-pw").await;
    let (client_id, tokens) = log_in(&s, "gina", "gina-pw", DEVICE).await;
    let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let (s, client_id) = (&s, client_id.clone());
        async move {
            token_request(
                s,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("client_id", &client_id),
                ],
            )
            .await
        }
    };
    // The answer to the first refresh is "lost": the client retries with r1.
    let (status, lost) = refresh(r1.clone()).await;
    assert_eq!(status, StatusCode::OK, "{lost}");
    let (status, retried) = refresh(r1.clone()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a retry before the new token is used works: {retried}"
    );
    let a3 = retried["access_token"].as_str().unwrap().to_owned();
    assert_eq!(whoami(&s, &a3).await.0, StatusCode::OK);
    // Now r1 is a stolen token: using it ends the session.
    let (status, body) = refresh(r1).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(whoami(&s, &a3).await.0, StatusCode::UNAUTHORIZED);
    let r3 = retried["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(refresh(r3).await.0, StatusCode::BAD_REQUEST);
}

async fn revocation_of_either_token_ends_the_session(b: Backend) {
    let s = oauth_server(b).await;
    s.register("hank", "hank-pw").await;
    for which in ["access_token", "refresh_token"] {
        let (client_id, tokens) = log_in(&s, "hank", "hank-pw", DEVICE).await;
        let access = tokens["access_token"].as_str().unwrap();
        let (status, _) = revoke(&s, &client_id, Some(tokens[which].as_str().unwrap())).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            whoami(&s, access).await.0,
            StatusCode::UNAUTHORIZED,
            "{which}"
        );
        let (status, body) = token_request(
            &s,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", &client_id),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{which}"
        );
        // Unknown: 200. Missing: 400 invalid_request.
        assert_eq!(
            revoke(&s, &client_id, Some("nonesuch")).await.0,
            StatusCode::OK
        );
        let (status, body) = revoke(&s, &client_id, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_request");
    }
    // Another client's token is not revoked.
    let (_, tokens) = log_in(&s, "hank", "hank-pw", "OTHERDEVICE").await;
    let intruder = OTHER_APP;
    let access = tokens["access_token"].as_str().unwrap();
    revoke(&s, intruder, Some(access)).await;
    assert_eq!(whoami(&s, access).await.0, StatusCode::OK);
}

async fn reusing_a_device_id_ends_its_earlier_tokens(b: Backend) {
    let s = oauth_server(b).await;
    s.register("ivy", "ivy-pw").await;
    let (_, first) = log_in(&s, "ivy", "ivy-pw", DEVICE).await;
    let (_, second) = log_in(&s, "ivy", "ivy-pw", DEVICE).await;
    assert_eq!(
        whoami(&s, first["access_token"].as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, me) = whoami(&s, second["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, me["device_id"].as_str()),
        (StatusCode::OK, Some(DEVICE))
    );
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

async fn openid_gives_an_id_token_and_userinfo(b: Backend) {
    let s = oauth_server(b).await;
    let (user, _, _) = s.register("kim", "kim-pw").await;
    let client_id = APP.to_owned();
    let (verifier, challenge) = pkce("openid");
    let mut browser = Browser::new();
    let url = format!(
        "{}&nonce=n0nce",
        authorize_url(
            &s,
            &client_id,
            &format!("openid {}", scope(DEVICE)),
            &challenge
        )
    );
    let back = walk(&mut browser, &s, &url, "kim", "kim-pw").await;
    let tokens = exchange(&s, &client_id, &param(&back, "code").unwrap(), &verifier).await;
    let id_token = tokens["id_token"].as_str().expect("an id_token");
    // Verified against the published keys.
    let (_, jwks) = s.get("/oauth2/keys.json", None).await;
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == header.kid.clone().unwrap().as_str())
            .unwrap()
            .clone(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[&client_id]);
    validation.set_issuer(&[ISSUER]);
    let claims = jsonwebtoken::decode::<Value>(
        id_token,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], user);
    assert_eq!(claims["nonce"], "n0nce");
    assert!(claims["auth_time"].is_i64());
    // userinfo
    let (status, info) = s
        .get("/oauth2/userinfo", tokens["access_token"].as_str())
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["sub"], user);
    assert_eq!(
        s.get("/oauth2/userinfo", Some("nonesuch")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn access_tokens_expire_and_refresh(b: Backend) {
    let clock = mock_clock();
    let s = oauth_builder(b).clock(clock.clone()).start().await;
    s.register("lena", "lena-pw").await;
    let (client_id, tokens) = log_in(&s, "lena", "lena-pw", DEVICE).await;
    let access = tokens["access_token"].as_str().unwrap();
    let lifetime = tokens["expires_in"].as_i64().unwrap();
    assert!(lifetime > 0 && lifetime <= 3600, "short-lived: {lifetime}s");
    clock.advance_ms((lifetime + 1) * 1000);
    let (status, body) = whoami(&s, access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["soft_logout"], true, "{body}");
    let (status, refreshed) = token_request(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(
        whoami(&s, refreshed["access_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::OK
    );
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
