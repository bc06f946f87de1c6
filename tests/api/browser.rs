//! HTML pages as a person sees them: rendered by a real headless Chromium
//! (scripts/test.sh installs Debian's `chromium`).

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
    let s = TestServer::start_with(Backend::Sqlite, move |c| {
        c.user_consent = Some(mxauth::config::ConsentConfig {
            version: "1.0".into(),
            template_dir,
            require_at_registration: true,
            policy_name: "Privacy Policy".into(),
        });
    })
    .await;
    let url = format!("{}/_matrix/consent?v=1.0", s.base);
    let profile = tempfile::tempdir().unwrap();
    let shot = profile.path().join("consent.png");
    let (dom, png) = tokio::task::spawn_blocking({
        let url = url.clone();
        let shot = shot.clone();
        let profile = profile.path().to_owned();
        move || {
            let dom = headless(&profile.join("a"))
                .arg("--dump-dom")
                .arg(&url)
                .output()
                .unwrap();
            let png = headless(&profile.join("b"))
                .arg(format!("--screenshot={}", shot.display()))
                .arg("--window-size=800,600")
                .arg(&url)
                .output()
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
