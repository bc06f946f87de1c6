//! The OAuth 2.0 token endpoint and revocation, black-box: codes (single
//! use, bound to their client, redirect URI and PKCE verifier), refresh
//! rotation (a retry after a lost answer, a reuse after it), expiry,
//! client authentication, id_tokens and userinfo, RFC 7009 revocation,
//! and RFC 6749's errors.

use crate::both;
use crate::oauth_support::*;
use crate::sso::Browser;
use crate::support::{mock_clock, Backend};
use reqwest::StatusCode;
use serde_json::Value;

both!(
    a_code_is_single_use_and_a_reuse_ends_its_session,
    a_code_is_bound_to_client_redirect_uri_and_verifier,
    token_endpoint_errors,
    refresh_retry_after_a_lost_response_then_reuse_ends_the_session,
    revocation_of_either_token_ends_the_session,
    reusing_a_device_id_ends_its_earlier_tokens,
    openid_gives_an_id_token_and_userinfo,
    access_tokens_expire_and_refresh,
    a_confidential_client_authenticates_as_it_registered,
);

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

/// A confidential client of the config file: its secret by HTTP Basic
/// (RFC 6749 §2.3.1, form-urlencoded inside), by the form, or not at all.
async fn a_confidential_client_authenticates_as_it_registered(b: Backend) {
    use base64::Engine;
    const SECRET: &str = "a secret: with/odd+chars";
    let s = oauth_builder(b)
        .config(|c| {
            let oauth = c.oauth.as_mut().unwrap();
            for (id, method) in [
                (
                    "basic-app",
                    mxauth::config::ClientAuthMethod::ClientSecretBasic,
                ),
                (
                    "post-app",
                    mxauth::config::ClientAuthMethod::ClientSecretPost,
                ),
            ] {
                oauth.clients.push(mxauth::config::StaticClient {
                    client_id: id.into(),
                    client_secret: Some(mxauth::config::Secret::new(SECRET)),
                    redirect_uris: vec![REDIRECT_URI.into()],
                    client_name: Some("Confidential".into()),
                    auth_method: method,
                    application_type: mxauth::config::ApplicationType::Web,
                });
            }
        })
        .start()
        .await;
    s.register("nina", "nina-pw").await;
    let basic = |id: &str, secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(id),
                enc(secret)
            ))
        )
    };
    for client in ["basic-app", "post-app"] {
        let (verifier, challenge) = pkce(&format!("confidential-{client}"));
        let mut browser = Browser::new();
        let back = walk(
            &mut browser,
            &s,
            &authorize_url(&s, client, &scope(DEVICE), &challenge),
            "nina",
            "nina-pw",
        )
        .await;
        let code = param(&back, "code").unwrap();
        let form = |with_secret: Option<&str>| {
            let mut f = vec![
                ("grant_type".to_owned(), "authorization_code".to_owned()),
                ("code".to_owned(), code.clone()),
                ("redirect_uri".to_owned(), REDIRECT_URI.to_owned()),
                ("code_verifier".to_owned(), verifier.clone()),
                ("client_id".to_owned(), client.to_owned()),
            ];
            if let Some(secret) = with_secret {
                f.push(("client_secret".to_owned(), secret.to_owned()));
            }
            f
        };
        let post = |form: Vec<(String, String)>, authorization: Option<String>| {
            let mut req = s.raw().post(format!("{}/oauth2/token", s.base)).form(&form);
            if let Some(a) = authorization {
                req = req.header("authorization", a);
            }
            async move {
                let res = req.send().await.unwrap();
                let status = res.status();
                (status, res.json::<Value>().await.unwrap())
            }
        };
        // No secret, a wrong one, or the other method: invalid_client, and
        // the code is still good.
        type Attempt = (Vec<(String, String)>, Option<String>);
        let wrong: Vec<Attempt> = vec![
            (form(None), None),
            (form(Some("wrong")), None),
            (form(None), Some(basic(client, "wrong"))),
            if client == "basic-app" {
                (form(Some(SECRET)), None)
            } else {
                (form(None), Some(basic(client, SECRET)))
            },
        ];
        for (f, auth) in wrong {
            let (status, body) = post(f, auth).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{client}: {body}");
            assert_eq!(body["error"], "invalid_client");
        }
        let (status, tokens) = if client == "basic-app" {
            post(form(None), Some(basic(client, SECRET))).await
        } else {
            post(form(Some(SECRET)), None).await
        };
        assert_eq!(status, StatusCode::OK, "{client}: {tokens}");
        assert_eq!(
            whoami(&s, tokens["access_token"].as_str().unwrap()).await.0,
            StatusCode::OK
        );
    }
}
