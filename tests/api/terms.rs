//! m.login.terms with Synapse's `user_consent`: the policy in the flow's
//! params, the page it links to, and the accepted version recorded.

use crate::both;
use crate::support::{Backend, TestServer, SERVER_NAME};
use reqwest::StatusCode;
use serde_json::json;

both!(terms_at_registration);

async fn terms_at_registration(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("en")).unwrap();
    std::fs::write(
        dir.path().join("en/1.0.html"),
        "<!doctype html><title>Privacy</title><p>We keep your data safe.</p>",
    )
    .unwrap();
    std::fs::write(dir.path().join("secret.html"), "not a policy").unwrap();
    let template_dir = dir.path().to_owned();
    let s = TestServer::builder(b)
        .config(move |c| {
            c.public_baseurl = Some("https://hs.test.example/".into());
            c.user_consent = Some(mxauth::config::ConsentConfig {
                version: "1.0".into(),
                template_dir,
                require_at_registration: true,
                policy_name: "Privacy Policy".into(),
            });
        })
        .start()
        .await;

    let body = json!({"username": "careful", "password": "careful-pw"});
    let (status, c) = s
        .post("/_matrix/client/v3/register", None, body.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        c["flows"],
        json!([{"stages": ["m.login.terms", "m.login.dummy"]}])
    );
    assert_eq!(
        c["params"]["m.login.terms"],
        json!({"policies": {"privacy_policy": {"version": "1.0", "en": {
            "name": "Privacy Policy", "url": "https://hs.test.example/_matrix/consent?v=1.0"}}}})
    );

    // The page the url names, served by mxauth.
    let page = s
        .raw()
        .get(format!("{}/_matrix/consent?v=1.0", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("We keep your data safe."));
    for bad in ["../secret", "2.0", "..%2Fsecret", ".hidden"] {
        let (status, _) = s.get(&format!("/_matrix/consent?v={bad}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    }

    let session = c["session"].clone();
    let mut step = body.clone();
    step["auth"] = json!({"type": "m.login.terms", "session": session});
    let (status, r) = s.post("/_matrix/client/v3/register", None, step).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(r["completed"], json!(["m.login.terms"]));
    let mut step = body;
    step["auth"] = json!({"type": "m.login.dummy", "session": session});
    let (status, r) = s.post("/_matrix/client/v3/register", None, step).await;
    assert_eq!(status, StatusCode::OK, "{r}");

    let store = mxauth::store::connect(&s.db.config.url(), 2).await.unwrap();
    let user = store
        .users()
        .get_user(&format!("@careful:{SERVER_NAME}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.consent_version.as_deref(), Some("1.0"));
}
