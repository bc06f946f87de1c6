//! mxauth behind the shipped `deploy/nginx/mxauth.conf`, in a real nginx
//! each test starts (temp dir, free port): what a client sends as
//! `X-Forwarded-For` must not become its address.

use crate::both;
use crate::process_group::ProcessGroup;
use crate::support::{Backend, TestServer};
use mxauth::config::RateLimit;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::{Command, Stdio};

both!(
    forged_forwarded_for_changes_nothing,
    forged_forwarded_for_does_not_pass_an_ip_allow_list
);

/// A running nginx with the shipped config in front of `mxauth_port`;
/// dropping it stops the master and its worker (one process group).
pub struct Nginx {
    pub base: String,
    _group: ProcessGroup,
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub fn start(mxauth_port: u16) -> Nginx {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        // Nothing listens there: requests routed to Synapse get a 502.
        let synapse_port = free_port();
        let shipped = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/mxauth.conf"),
        )
        .expect("deploy/nginx/mxauth.conf");
        let site = shipped
            .replace("@LISTEN_ADDR@", "127.0.0.1")
            .replace("@LISTEN_PORT@", &port.to_string())
            .replace("@SERVER_NAME@", "localhost")
            .replace("@MXAUTH_HOST@", "127.0.0.1")
            .replace("@MXAUTH_PORT@", &mxauth_port.to_string())
            .replace("@SYNAPSE_HOST@", "127.0.0.1")
            .replace("@SYNAPSE_PORT@", &synapse_port.to_string());
        assert!(!site.contains("@"), "a placeholder is left: {site}");
        let d = dir.path().display();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::write(dir.path().join("site.conf"), site).unwrap();
        // As root, workers would drop to `nobody`, who cannot use the temp dir.
        let user = if is_root() { "user root;" } else { "" };
        let conf = format!(
            "{user}\ndaemon off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\nevents {{ worker_connections 64; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/tmp/body;\n\
             proxy_temp_path {d}/tmp/proxy;\n fastcgi_temp_path {d}/tmp/fastcgi;\n\
             uwsgi_temp_path {d}/tmp/uwsgi;\n scgi_temp_path {d}/tmp/scgi;\n\
             include {d}/site.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let group = ProcessGroup::spawn(
            Command::new(nginx_binary())
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(dir.path().join("nginx.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::inherit()),
        )
        .expect("nginx starts (scripts/test.sh installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Nginx {
            base: format!("http://127.0.0.1:{port}"),
            _group: group,
            _dir: dir,
        }
    }
}

fn nginx_binary() -> String {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
        .unwrap_or_else(|| "nginx".into())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn forged_forwarded_for_changes_nothing(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            c.listeners[0].x_forwarded = true;
            c.rate_limits.login_address = RateLimit::new(0.01, 2.0);
        })
        .start()
        .await;
    let nginx = Nginx::start(s.addr.port());
    let client = crate::support::http_client();
    let login = |forged: &'static str| {
        client
            .post(format!("{}/_matrix/client/v3/login", nginx.base))
            .header("X-Forwarded-For", forged)
            .json(&json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "nobody"}, "password": "guess"}))
            .send()
    };
    // Each login claims another address; all of them are nginx's client.
    for forged in ["10.0.0.1", "10.0.0.2"] {
        let res = login(forged).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    let res = login("10.0.0.3").await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
}

async fn forged_forwarded_for_does_not_pass_an_ip_allow_list(b: Backend) {
    const AS_TOKEN: &str = "an allow-listed bridge's token";
    let s = TestServer::builder(b)
        .config(|c| {
            c.listeners[0].x_forwarded = true;
            c.app_services = vec![crate::support::bridge_service(AS_TOKEN, &["10.0.0.0/8"])];
        })
        .start()
        .await;
    let nginx = Nginx::start(s.addr.port());
    let client = crate::support::http_client();
    let login = |base: &str| {
        client
            .post(format!("{base}/_matrix/client/v3/login"))
            .bearer_auth(AS_TOKEN)
            .header("X-Forwarded-For", "10.1.2.3")
            .json(&json!({"type": "m.login.application_service", "identifier": {"type": "m.id.user", "user": "bridgebot"}}))
            .send()
    };
    // Straight to mxauth (x_forwarded: true), the header is believed...
    let direct = login(&s.base).await.unwrap();
    assert_eq!(direct.status(), StatusCode::OK, "{:?}", direct.text().await);
    // ...so the proxy must overwrite it: through nginx the client is 127.0.0.1.
    let proxied = login(&nginx.base).await.unwrap();
    assert_eq!(proxied.status(), StatusCode::UNAUTHORIZED);
    let body: Value = proxied.json().await.unwrap();
    assert_eq!(body["errcode"], "M_UNKNOWN_TOKEN");
}
