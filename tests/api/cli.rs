//! The `mxauth` command itself: `serve` with no config, `config check`,
//! `register-user` (into the database, and over the admin API).

use crate::process_group::ProcessGroup;
use crate::support::{Backend, TestServer, SERVER_NAME, SHARED_SECRET};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_mxauth");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_config_uses_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    // Stopped when dropped, even if the test fails before the end.
    let mut server = ProcessGroup::spawn(
        Command::new(BIN)
            .arg("serve")
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(server.child_mut().stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let res = crate::support::http_client()
        .get("http://127.0.0.1:8008/_matrix/client/versions")
        .send()
        .await;
    server.stop();
    assert_eq!(line.trim(), "mxauth listening on http://127.0.0.1:8008");
    let res = res.expect("the default listener answers");
    assert_eq!(res.status(), 200);
    assert!(dir.path().join("data/mxauth.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_serve_only_the_client_resource() {
    let db = std::sync::Arc::new(crate::support::fresh_database(Backend::Sqlite).await);
    let s = TestServer::builder(db)
        .config(|c| {
            let mut federation_only = c.listeners[0].clone();
            federation_only.resources = vec![mxauth::config::ListenerResource {
                names: vec!["federation".into()],
                compress: false,
            }];
            c.listeners[0].resources = vec![mxauth::config::ListenerResource {
                names: vec!["client".into(), "federation".into()],
                compress: false,
            }];
            c.listeners.push(federation_only);
        })
        .start()
        .await;
    let (status, _) = s.get("/_matrix/client/versions", None).await;
    assert_eq!(status, 200);
    let res = s
        .raw()
        .get(format!("{}/health", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "OK");
    assert_eq!(
        s.addrs.len(),
        1,
        "the federation-only listener is not bound"
    );
}

#[test]
fn config_check_reports_the_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "server_name: example.org\nreport_stats: false\nmedia_store_path: /m\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OK"), "{stdout}");
    assert!(
        stdout.contains("media_store_path, report_stats"),
        "{stdout}"
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "server_name: example.org\npassword_config:\n  pepperr: x\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("password_config.pepperr"), "{stderr}");
    assert!(stderr.contains("did you mean `pepper`"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
}

/// The YAML config of a test server's database, for the CLI.
pub(crate) fn config_file(dir: &std::path::Path, server: &TestServer) -> std::path::PathBuf {
    let db = match &server.db.config {
        mxauth::config::DatabaseConfig::Sqlite { path } => {
            format!("{{name: sqlite3, args: {{database: '{}'}}}}", path.display())
        }
        mxauth::config::DatabaseConfig::Postgres {
            user,
            database,
            host,
            port,
            ..
        } => format!(
            "{{name: psycopg2, args: {{user: {}, database: {database}, host: '{host}', port: {port}}}}}",
            user.clone().unwrap_or_default()
        ),
    };
    let path = dir.join("mxauth.yaml");
    std::fs::write(
        &path,
        format!("server_name: {SERVER_NAME}\ndatabase: {db}\nregistration_shared_secret: '{SHARED_SECRET}'\n"),
    )
    .unwrap();
    path
}

async fn register_user_in_database_and_over_http(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &s);

    // Straight into the database, password on standard input, as an admin.
    let mut child = Command::new(BIN)
        .args(["register-user", "-c"])
        .arg(&config)
        .args(["-u", "root", "--admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"first-admin-pw\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("@root:{SERVER_NAME} (admin)")));
    let (token, _) = s.login("root", "first-admin-pw").await;
    let (status, body) = s
        .get(
            &format!("/_synapse/admin/v1/users/@root:{SERVER_NAME}/admin"),
            Some(&token),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["admin"], true);

    // Over the running server's shared-secret API.
    let out = Command::new(BIN)
        .args(["register-user", "-c"])
        .arg(&config)
        .args(["-u", "bot1", "-p", "bot-pw", "-t", "bot", "--url", &s.base])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.login("bot1", "bot-pw").await;
    let (status, body) = s
        .get(
            &format!("/_synapse/admin/v1/users/@bot1:{SERVER_NAME}/admin"),
            Some(&token),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["admin"].clone()),
        (200, false.into())
    );

    // A taken name fails with a message and a non-zero exit.
    let out = Command::new(BIN)
        .args(["register-user", "-c"])
        .arg(&config)
        .args(["-u", "root", "-p", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already taken"));
}

crate::both!(register_user_in_database_and_over_http);
