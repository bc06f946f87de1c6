//! Fallback pages (`/auth/{type}/fallback/web`): over plain HTTP, across two
//! processes (the seed's bug), and driven in a real headless Chromium
//! through chromedriver, where `onAuthDone` must fire.

use crate::both;
use crate::support::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

const REGISTER: &str = "/_matrix/client/v3/register";

fn fallback(kind: &str, session: &str) -> String {
    format!("/_matrix/client/v3/auth/{kind}/fallback/web?session={session}")
}

async fn form_post(s: &TestServer, path: &str, form: &str) -> (StatusCode, String) {
    let res = s
        .raw()
        .post(format!("{}{path}", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

both!(
    fallback_pages_over_http,
    fallback_stage_on_another_process,
    password_fallback_names_the_operation_being_approved
);

/// The password page of a re-authentication says what it approves.
async fn password_fallback_names_the_operation_being_approved(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, token, device) = s.register("carl", "carl-password-1").await;
    for (method, path, expected) in [
        (
            reqwest::Method::POST,
            "/_matrix/client/v3/account/deactivate".to_owned(),
            "deactivate your account",
        ),
        (
            reqwest::Method::DELETE,
            format!("/_matrix/client/v3/devices/{device}"),
            "remove a device from your account",
        ),
    ] {
        let (status, c) = s
            .request(method, &path, Some(&token), Some(&json!({})))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{c}");
        let session = c["session"].as_str().unwrap();
        let page = s
            .raw()
            .get(format!(
                "{}{}",
                s.base,
                fallback("m.login.password", session)
            ))
            .send()
            .await
            .unwrap();
        let (status, html) = (page.status(), page.text().await.unwrap());
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(
            html.contains(&format!(
                "A client is trying to <strong>{expected}</strong>"
            )),
            "{path}: {html}"
        );
    }
}

async fn fallback_pages_over_http(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.registration_requires_token = true)
        .start()
        .await;
    let admin = s.register_admin("root").await;
    s.post(
        "/_synapse/admin/v1/registration_tokens/new",
        Some(&admin),
        json!({"token": "letmein"}),
    )
    .await;
    let body = json!({"username": "webby", "password": "webby-pw"});
    let (_, c) = s.post(REGISTER, None, body.clone()).await;
    let session = c["session"].as_str().unwrap().to_owned();

    let page = s
        .raw()
        .get(format!(
            "{}{}",
            s.base,
            fallback("m.login.registration_token", &session)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("name=\"token\"") && html.contains(&session),
        "{html}"
    );

    // Out of order: dummy before the token.
    let (status, html) = form_post(&s, &fallback("m.login.dummy", &session), "").await;
    assert_eq!(status, 200);
    assert!(html.contains("class=\"error\""), "{html}");
    // A wrong token shows the form again with the error.
    let (_, html) = form_post(
        &s,
        &fallback("m.login.registration_token", &session),
        "token=nope",
    )
    .await;
    assert!(
        html.contains("Invalid registration token") && !html.contains("onAuthDone();"),
        "{html}"
    );
    let (_, html) = form_post(
        &s,
        &fallback("m.login.registration_token", &session),
        "token=letmein",
    )
    .await;
    assert!(html.contains("window.onAuthDone()"), "{html}");
    let (_, html) = form_post(&s, &fallback("m.login.dummy", &session), "").await;
    assert!(html.contains("window.onAuthDone()"), "{html}");

    // The client then goes on with just the session.
    let mut done = body;
    done["auth"] = json!({"session": session});
    let (status, r) = s.post(REGISTER, None, done).await;
    assert_eq!(status, StatusCode::OK, "{r}");

    // Unknown session → 400; unknown type → 404; a type the session does not offer → 400.
    let (status, _) = s
        .get(&fallback("m.login.dummy", "nosuchsession"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s.get(&fallback("m.login.magic", &session), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, c2) = s.post(REGISTER, None, json!({"username": "other"})).await;
    let (status, _) = form_post(
        &s,
        &fallback("m.login.recaptcha", c2["session"].as_str().unwrap()),
        "g-recaptcha-response=x",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The password fallback for a re-authentication.
    let (user_id, token, _) = (
        format!("@root:{}", crate::support::SERVER_NAME),
        admin.clone(),
        (),
    );
    let (_, second) = s.login(&user_id, "admin-password").await;
    let path = format!("/_matrix/client/v3/devices/{second}");
    let (status, c) = s
        .request(
            reqwest::Method::DELETE,
            &path,
            Some(&token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let rs = c["session"].as_str().unwrap();
    let (_, html) = form_post(&s, &fallback("m.login.password", rs), "password=wrong").await;
    assert!(html.contains("class=\"error\""), "{html}");
    let (_, html) = form_post(
        &s,
        &fallback("m.login.password", rs),
        "password=admin-password",
    )
    .await;
    assert!(html.contains("window.onAuthDone()"), "{html}");
    let (status, r) = s
        .request(
            reqwest::Method::DELETE,
            &path,
            Some(&token),
            Some(&json!({"auth": {"session": rs}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
}

/// The seed's scenario: registration starts on A, its fallback stage is
/// completed on B, registration finishes on A; and the reverse.
async fn fallback_stage_on_another_process(b: Backend) {
    let a = TestServer::builder(b)
        .config(|c| c.registration_requires_token = true)
        .start()
        .await;
    let bb = TestServer::builder(a.db.clone())
        .config(|c| c.registration_requires_token = true)
        .start()
        .await;
    let admin = a.register_admin("root").await;
    a.post(
        "/_synapse/admin/v1/registration_tokens/new",
        Some(&admin),
        json!({"token": "shared", "uses_allowed": 2}),
    )
    .await;
    for (first, second, name) in [(&a, &bb, "ab"), (&bb, &a, "ba")] {
        let body = json!({"username": name, "password": "pw-pw"});
        let (_, c) = first.post(REGISTER, None, body.clone()).await;
        let session = c["session"].as_str().unwrap().to_owned();
        let (_, html) = form_post(
            second,
            &fallback("m.login.registration_token", &session),
            "token=shared",
        )
        .await;
        assert!(html.contains("window.onAuthDone()"), "{html}");
        let (_, html) = form_post(second, &fallback("m.login.dummy", &session), "").await;
        assert!(html.contains("window.onAuthDone()"), "{html}");
        let mut done = body;
        done["auth"] = json!({"session": session});
        let (status, r): (StatusCode, Value) = first.post(REGISTER, None, done).await;
        assert_eq!(status, StatusCode::OK, "{r}");
    }
}
