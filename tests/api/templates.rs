//! `templates.custom_template_directory`: an admin's file replaces a page
//! by name; the replaced page is still escaped by the engine and still gets
//! the security headers of every page; a broken template stops the server
//! at start, naming the file.

use crate::both;
use crate::support::{base_config, fresh_database, Backend, TestServer};
use mxauth::config::{Config, OidcProviderConfig};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::json;
use std::path::Path;

both!(
    a_custom_page_replaces_the_built_in_one,
    a_custom_fallback_page_gets_the_session_and_the_error
);

/// Two providers, one with a name that needs escaping; no provider runs
/// (the picker contacts none).
fn providers() -> Vec<OidcProviderConfig> {
    let yaml = "server_name: test.example\npublic_baseurl: http://127.0.0.1:1/\n\
        oidc_providers:\n\
        \x20 - idp_id: one\n    idp_name: One\n    issuer: http://127.0.0.1:1/\n    \
        client_id: c\n    client_secret: s\n    skip_verification: true\n\
        \x20 - idp_id: two\n    idp_name: \"Two <b>\"\n    issuer: http://127.0.0.1:1/\n    \
        client_id: c\n    client_secret: s\n    skip_verification: true\n";
    Config::from_yaml_str(yaml, Path::new("test.yaml"))
        .unwrap()
        .config
        .oidc_providers
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The headers every page has, whoever wrote its template.
fn assert_page_headers(what: &str, headers: &HeaderMap) {
    assert_eq!(
        header(headers, "content-type"),
        "text/html; charset=utf-8",
        "{what}"
    );
    assert_eq!(
        header(headers, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(header(headers, "cache-control"), "no-store", "{what}");
    assert_eq!(header(headers, "x-frame-options"), "DENY", "{what}");
    assert!(
        header(headers, "content-security-policy").contains("frame-ancestors 'none'"),
        "{what}"
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

async fn a_custom_page_replaces_the_built_in_one(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // Synapse's variable names: the client's redirect_url, providers.
    std::fs::write(
        dir.path().join("sso_login_idp_picker.html"),
        "{% extends \"_base.html\" %}{% block title %}Pick one{% endblock %}{% block body %}\
         <p id=\"custom\">Back to {{ redirect_url }}</p>\
         {% for p in providers %}<a class=\"idp\" href=\"{{ p.href }}\">{{ p.idp_name }}</a>{% endfor %}\
         {% endblock %}",
    )
    .unwrap();
    std::fs::write(dir.path().join("style.css"), "body{color:#123456}").unwrap();
    let custom = dir.path().to_owned();
    // A policy page written for Synapse: rendered in its public form.
    let policy = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(policy.path().join("en")).unwrap();
    std::fs::write(
        policy.path().join("en/1.0.html"),
        "<!doctype html>{% if public_version %}<p id=\"public\">Policy {{ version }}</p>\
         {% else %}<form>{{ user }}</form>{% endif %}",
    )
    .unwrap();
    let template_dir = policy.path().to_owned();
    let s = TestServer::builder(b)
        .config(move |c| {
            c.public_baseurl = Some("http://127.0.0.1:1/".into());
            c.oidc_providers = providers();
            c.templates.custom_template_directory = Some(custom);
            c.user_consent = Some(mxauth::config::ConsentConfig {
                version: "1.0".into(),
                template_dir,
                require_at_registration: false,
                policy_name: "Privacy Policy".into(),
            });
        })
        .start()
        .await;

    let evil = "https://app.example/<script>alert(1)</script>";
    let (status, headers, body) = fetch(
        &s,
        &format!(
            "/_matrix/client/v3/login/sso/redirect?redirectUrl={}",
            crate::sso::urlencode(evil)
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_page_headers("the admin's picker", &headers);
    assert!(body.contains("<title>Pick one</title>"), "{body}");
    assert!(
        body.contains(
            "<p id=\"custom\">Back to https://app.example/&lt;script&gt;alert(1)&lt;/script&gt;</p>"
        ),
        "escaped by the engine: {body}"
    );
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(body.contains(">Two &lt;b&gt;</a>"), "{body}");
    assert!(
        body.contains("<style>body{color:#123456}</style>"),
        "{body}"
    );
    assert!(
        body.contains("href=\"/_matrix/client/v3/login/sso/redirect/oidc-one?redirectUrl="),
        "{body}"
    );

    // A page the admin did not replace: built in, on the admin's style.
    let (status, headers, body) = fetch(&s, "/_synapse/client/email/submit_token").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_page_headers("a built-in page", &headers);
    assert!(body.contains("<h1>Email validation failed</h1>"), "{body}");
    assert!(body.contains("body{color:#123456}"), "{body}");

    let (status, headers, body) = fetch(&s, "/_matrix/consent?v=1.0").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_page_headers("the policy page", &headers);
    assert_eq!(body, "<!doctype html><p id=\"public\">Policy 1.0</p>");
}

async fn a_custom_fallback_page_gets_the_session_and_the_error(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // As Synapse's fallback templates are written: `myurl`, `session`,
    // and `error` defined only after a failed try.
    std::fs::write(
        dir.path().join("password.html"),
        "<!doctype html><title>Mine</title><form method=\"post\" action=\"{{ myurl }}\">\
         {% if error is defined %}<p id=\"err\">{{ error }}</p>{% endif %}\
         <p id=\"what\">{{ user_id }} wants to {{ description }}</p>\
         <input type=\"hidden\" name=\"session\" value=\"{{ session }}\">\
         <input type=\"password\" name=\"password\"></form>",
    )
    .unwrap();
    let custom = dir.path().to_owned();
    let s = TestServer::builder(b)
        .config(move |c| {
            c.templates.custom_template_directory = Some(custom);
        })
        .start()
        .await;
    let (user_id, token, _) = s.register("dora", "dora-password-1").await;
    let (status, challenge) = s
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let session = challenge["session"].as_str().unwrap();
    let path = "/_matrix/client/v3/auth/m.login.password/fallback/web";

    let (status, headers, body) = fetch(&s, &format!("{path}?session={session}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_page_headers("the admin's password page", &headers);
    assert!(body.contains(&format!("action=\"{path}\"")), "{body}");
    assert!(body.contains(&format!("value=\"{session}\"")), "{body}");
    assert!(
        body.contains(&format!(
            "<p id=\"what\">{user_id} wants to deactivate your account</p>"
        )),
        "{body}"
    );
    assert!(
        !body.contains("id=\"err\""),
        "no error before a try: {body}"
    );

    // A wrong password: the same page with the error; then the right one.
    let res = s
        .raw()
        .post(format!("{}{path}", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("session={session}&password=wrong"))
        .send()
        .await
        .unwrap();
    assert_page_headers("the page again", res.headers());
    let body = res.text().await.unwrap();
    assert!(body.contains("<p id=\"err\">"), "{body}");
    let res = s
        .raw()
        .post(format!("{}{path}", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("session={session}&password=dora-password-1"))
        .send()
        .await
        .unwrap();
    let body = res.text().await.unwrap();
    assert!(
        body.contains("window.onAuthDone()"),
        "the built-in end page: {body}"
    );
}

/// A broken template or policy page is an error at start, never a 500 later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_template_stops_the_server_at_start() {
    let db = fresh_database(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sso_error.html"), "{% block body %}").unwrap();
    let mut config = base_config();
    config.database = db.config.clone();
    config.templates.custom_template_directory = Some(dir.path().to_owned());
    let err = mxauth::server::Server::build(config)
        .await
        .err()
        .expect("the server does not start")
        .to_string();
    let file = dir.path().join("sso_error.html").display().to_string();
    assert!(err.contains(&file), "{err}");

    // The policy page of `user_consent` is a template too.
    let policy = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(policy.path().join("en")).unwrap();
    std::fs::write(policy.path().join("en/1.0.html"), "<p>{{ version </p>").unwrap();
    let mut config = base_config();
    config.database = db.config.clone();
    config.user_consent = Some(mxauth::config::ConsentConfig {
        version: "1.0".into(),
        template_dir: policy.path().to_owned(),
        require_at_registration: false,
        policy_name: "Privacy Policy".into(),
    });
    let err = mxauth::server::Server::build(config)
        .await
        .err()
        .expect("the server does not start")
        .to_string();
    assert!(err.contains("en/1.0.html"), "{err}");
}
