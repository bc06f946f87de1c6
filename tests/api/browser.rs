//! HTML pages as a person sees them: rendered by a real headless Chromium
//! (scripts/test.sh installs Debian's `chromium`).

use crate::process_group::{self, ProcessGroup};
use crate::support::{Backend, TestServer};
use std::process::Command;

fn chromium() -> String {
    let path = std::env::var("MXAUTH_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "no Chromium at {path}: run the tests with scripts/test.sh, which installs it"
    );
    path
}

/// Chromium's flags for a closed machine: no first-run, no background
/// traffic, a fresh profile.
fn headless(profile: &std::path::Path) -> Command {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_page_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("en")).unwrap();
    std::fs::write(
        dir.path().join("en/1.0.html"),
        "<!doctype html><html><head><title>Privacy Policy</title></head>\
         <body><h1>Privacy</h1><p id=\"promise\">We keep your data safe.</p></body></html>",
    )
    .unwrap();
    let template_dir = dir.path().to_owned();
    let s = TestServer::builder(Backend::Sqlite)
        .config(move |c| {
            c.user_consent = Some(mxauth::config::ConsentConfig {
                version: "1.0".into(),
                template_dir,
                require_at_registration: true,
                policy_name: "Privacy Policy".into(),
            });
        })
        .start()
        .await;
    let url = format!("{}/_matrix/consent?v=1.0", s.base);
    let profile = tempfile::tempdir().unwrap();
    let shot = profile.path().join("consent.png");
    let (dom, png) = tokio::task::spawn_blocking({
        let url = url.clone();
        let shot = shot.clone();
        let profile = profile.path().to_owned();
        move || {
            let dom =
                process_group::output(headless(&profile.join("a")).arg("--dump-dom").arg(&url))
                    .unwrap();
            let png = process_group::output(
                headless(&profile.join("b"))
                    .arg(format!("--screenshot={}", shot.display()))
                    .arg("--window-size=800,600")
                    .arg(&url),
            )
            .unwrap();
            (dom, png)
        }
    })
    .await
    .unwrap();
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    assert!(
        html.contains("<p id=\"promise\">We keep your data safe.</p>"),
        "{html}"
    );
    assert!(html.contains("<title>Privacy Policy</title>"), "{html}");
    assert!(
        png.status.success(),
        "{}",
        String::from_utf8_lossy(&png.stderr)
    );
    let bytes = std::fs::read(&shot).expect("a screenshot was written");
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
    assert!(bytes.len() > 1000, "a real picture, {} bytes", bytes.len());
}

/// A WebDriver session on a chromedriver this test starts. Dropping it
/// ends the session (chromedriver closes its Chromium) and then stops
/// chromedriver's whole process group: killing chromedriver alone left its
/// Chromium running after the tests.
pub(crate) struct Driver {
    group: ProcessGroup,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Driver {
    pub(crate) async fn start() -> Driver {
        let bin = std::env::var("MXAUTH_TEST_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        assert!(
            std::path::Path::new(&bin).exists(),
            "no chromedriver at {bin}: run the tests with scripts/test.sh, which installs it"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let group = ProcessGroup::spawn(
            Command::new(bin)
                .arg(format!("--port={port}"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
        )
        .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = crate::support::http_client();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         format!("--user-data-dir={}", profile.path().display())],
            }
        }}});
        let res: serde_json::Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {res}"))
            .to_owned();
        Driver {
            group,
            base,
            session,
            http,
            _profile: profile,
        }
    }

    pub(crate) async fn call(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let res: serde_json::Value = self
            .http
            .post(format!("{}/session/{}{path}", self.base, self.session))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(res["value"].get("error").is_none(), "{path}: {res}");
        res["value"].clone()
    }

    pub(crate) async fn click(&self, css: &str) {
        let el = self
            .call(
                "/element",
                serde_json::json!({"using": "css selector", "value": css}),
            )
            .await;
        let id = el["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap()
            .to_owned();
        self.call(&format!("/element/{id}/click"), serde_json::json!({}))
            .await;
    }

    /// Types `text` into the element `css` finds (WebDriver's send keys).
    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let el = self
            .call(
                "/element",
                serde_json::json!({"using": "css selector", "value": css}),
            )
            .await;
        let id = el["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap()
            .to_owned();
        self.call(
            &format!("/element/{id}/value"),
            serde_json::json!({"text": text}),
        )
        .await;
    }

    /// WebDriver's current URL (`GET /url`): the URL of the top-level
    /// navigation, also when it failed and an error page is shown.
    pub(crate) async fn current_url(&self) -> String {
        let res: serde_json::Value = self
            .http
            .get(format!("{}/session/{}/url", self.base, self.session))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        res["value"]
            .as_str()
            .unwrap_or_else(|| panic!("/url: {res}"))
            .to_owned()
    }

    /// `location.pathname + location.search` once it satisfies `ok` (a
    /// click on a submit button may return before the navigation it
    /// starts has ended); the last one seen after 10 s otherwise.
    pub(crate) async fn wait_for_location(&self, ok: impl Fn(&str) -> bool) -> String {
        let mut here = String::new();
        for _ in 0..100 {
            here = self
                .script("return location.pathname + location.search")
                .await
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let ready = self.script("return document.readyState").await;
            if ok(&here) && ready == "complete" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        here
    }

    pub(crate) async fn script(&self, js: &str) -> serde_json::Value {
        self.call(
            "/execute/sync",
            serde_json::json!({"script": js, "args": []}),
        )
        .await
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // `DELETE /session/{id}` by hand: no async in drop, and reqwest's
        // blocking client would need a feature of its own.
        use std::io::{Read, Write};
        let addr = self.base.trim_start_matches("http://");
        if let Ok(mut conn) = std::net::TcpStream::connect(addr) {
            let timeout = Some(std::time::Duration::from_secs(5));
            let _ = conn.set_read_timeout(timeout);
            let _ = conn.set_write_timeout(timeout);
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
                self.session
            );
            if conn.write_all(request.as_bytes()).is_ok() {
                let _ = conn.read_to_end(&mut Vec::new());
            }
        }
        self.group.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terms_fallback_in_chromium_fires_on_auth_done() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("en")).unwrap();
    std::fs::write(dir.path().join("en/1.0.html"), "<p>policy</p>").unwrap();
    let template_dir = dir.path().to_owned();
    let s = TestServer::builder(Backend::Sqlite)
        .config(move |c| {
            c.user_consent = Some(mxauth::config::ConsentConfig {
                version: "1.0".into(),
                template_dir,
                require_at_registration: true,
                policy_name: "Privacy Policy".into(),
            });
        })
        .start()
        .await;
    let body = serde_json::json!({"username": "clicker", "password": "clicker-pw"});
    let (_, c) = s
        .post("/_matrix/client/v3/register", None, body.clone())
        .await;
    let session = c["session"].as_str().unwrap().to_owned();

    let driver = Driver::start().await;
    // As a client would: a handler for onAuthDone on the page it opens.
    driver
        .call(
            "/goog/cdp/execute",
            serde_json::json!({"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {
                "source": "window.onAuthDone = function () { window.__authDone = true; };"}}),
        )
        .await;
    let url = format!(
        "{}/_matrix/client/v3/auth/m.login.terms/fallback/web?session={session}",
        s.base
    );
    driver.call("/url", serde_json::json!({"url": url})).await;
    assert_eq!(
        driver.script("return document.title").await,
        "Terms and conditions"
    );
    driver.click("#accept").await;
    driver.click("#submit").await;
    let mut done = serde_json::Value::Null;
    for _ in 0..50 {
        done = driver.script("return window.__authDone === true").await;
        if done == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(done, true, "onAuthDone fired");
    let text = driver.script("return document.body.innerText").await;
    assert!(text.as_str().unwrap().contains("Thank you"), "{text}");

    // The client goes on: terms are done; dummy, then registered.
    let mut step = body.clone();
    step["auth"] = serde_json::json!({"session": session});
    let (status, r) = s.post("/_matrix/client/v3/register", None, step).await;
    assert_eq!(status, 401);
    assert_eq!(r["completed"], serde_json::json!(["m.login.terms"]));
    let mut step = body;
    step["auth"] = serde_json::json!({"type": "m.login.dummy", "session": session});
    let (status, r) = s.post("/_matrix/client/v3/register", None, step).await;
    assert_eq!(status, 200, "{r}");
}

/// One whole OAuth 2.0 login as a person does it, in a real browser: the
/// client sends Chromium to `/authorize`; the login page's form is typed
/// into and sent, the consent page's first form (approve) is clicked, and
/// Chromium is sent on to the client's redirect URI with the code (that
/// host does not resolve here: the navigation fails, but its URL is what
/// the client would receive). The client then exchanges the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_login_in_chromium() {
    use crate::oauth_support::{
        authorize_url, exchange, oauth_builder, param, pkce, scope, whoami, APP, REDIRECT_URI,
    };
    let s = oauth_builder(Backend::Sqlite).start().await;
    let (user_id, _, _) = s.register("chrome", "chrome-pw").await;
    let (verifier, challenge) = pkce("verifier-of-the-chromium-login");
    let device = "CHROMIUMDEVICE";

    let driver = Driver::start().await;
    let url = authorize_url(&s, APP, &scope(device), &challenge);
    driver.call("/url", serde_json::json!({"url": url})).await;
    // /authorize answered 303 to the login page.
    let here = driver.script("return location.pathname").await;
    assert_eq!(
        here,
        "/oauth2/login",
        "{}",
        driver.script("return document.body.innerHTML").await
    );
    driver.type_into("input[name=username]", "chrome").await;
    driver.type_into("input[name=password]", "chrome-pw").await;
    driver.click("form button[type=submit]").await;

    // The consent page (once the login's POST has landed: reading the
    // location at once may still see the login page on a busy machine):
    // the first form approves.
    let here = driver
        .wait_for_location(|l| l.starts_with("/oauth2/consent"))
        .await;
    assert!(
        here.starts_with("/oauth2/consent"),
        "{}",
        driver.script("return document.body.innerHTML").await
    );
    let text = driver.script("return document.body.innerText").await;
    assert!(text.as_str().unwrap().contains("Test App"), "{text}");
    driver.click("form:first-of-type button[type=submit]").await;

    // Where Chromium was sent: WebDriver's current URL is the failed
    // navigation's, while the page itself is Chromium's error page.
    let mut back = String::new();
    for _ in 0..50 {
        back = driver.current_url().await;
        if back.starts_with(REDIRECT_URI) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(back.starts_with(REDIRECT_URI), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some("st4te"), "{back}");
    assert_eq!(
        param(&back, "iss").as_deref(),
        Some(crate::oauth_support::ISSUER),
        "{back}"
    );
    let code = param(&back, "code").expect("a code");

    let tokens = exchange(&s, APP, &code, &verifier).await;
    let token = tokens["access_token"].as_str().unwrap();
    let (status, me) = whoami(&s, token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user_id"], user_id.as_str());
    assert_eq!(me["device_id"], device);
}

/// The account pages in a real browser, without script: a sign-in at
/// `/account/` that comes back to the sessions list, a session's page,
/// and ending it through the confirmation form; its token is dead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_pages_in_chromium() {
    use crate::oauth_support::{oauth_builder, whoami};
    let s = oauth_builder(Backend::Sqlite).start().await;
    s.register("chrome", "chrome-pw").await;
    let (token, device) = s.login("chrome", "chrome-pw").await;

    let driver = Driver::start().await;
    let list = format!("{}/account/?action=org.matrix.devices_list", s.base);
    driver.call("/url", serde_json::json!({"url": list})).await;
    let here = driver.script("return location.pathname").await;
    assert_eq!(
        here,
        "/oauth2/login",
        "{}",
        driver.script("return document.body.innerHTML").await
    );
    driver.type_into("input[name=username]", "chrome").await;
    driver.type_into("input[name=password]", "chrome-pw").await;
    driver.click("form button[type=submit]").await;

    // Back on the list, which shows the session by its device ID.
    let listed = "/account/?action=org.matrix.devices_list";
    let here = driver.wait_for_location(|l| l == listed).await;
    assert_eq!(here, listed);
    let text = driver.script("return document.body.innerText").await;
    assert!(text.as_str().unwrap().contains(&device), "{text}");

    // Its page, then the confirmation form.
    driver
        .click(&format!("li[data-device-id=\"{device}\"] a"))
        .await;
    let here = driver
        .wait_for_location(|l| l.contains("action=org.matrix.device_view"))
        .await;
    assert!(here.contains("action=org.matrix.device_view"), "{here}");
    assert_eq!(whoami(&s, &token).await.0, 200, "a page changes nothing");
    driver.click("#end-session button[type=submit]").await;

    let here = driver.wait_for_location(|l| l == listed).await;
    assert_eq!(here, listed);
    let text = driver.script("return document.body.innerText").await;
    assert!(!text.as_str().unwrap().contains(&device), "{text}");
    let (status, body) = whoami(&s, &token).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errcode"], "M_UNKNOWN_TOKEN");
}
