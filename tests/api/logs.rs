//! The request log of the real binary: one line per request with
//! `mxauth.log_format: json`, carrying method, path (never the query: it
//! may hold an access token), status, time taken and the user.

use crate::cli::BIN;
use crate::process_group::ProcessGroup;
use crate::support::{http_client, SERVER_NAME};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_name_the_request_and_its_user_but_no_query() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mxauth.yaml");
    std::fs::write(
        &config,
        format!(
            "server_name: {SERVER_NAME}\n\
             listeners:\n  - port: 0\n    bind_addresses: ['127.0.0.1']\n    type: http\n\
             database: {{name: sqlite3, args: {{database: '{}'}}}}\n\
             mxauth:\n  log_format: json\n",
            dir.path().join("mxauth.db").display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["register-user", "-c"])
        .arg(&config)
        .args(["-u", "logged", "-p", "a password to log"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut server = ProcessGroup::spawn(
        Command::new(BIN)
            .args(["serve", "-c"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(server.child_mut().stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("mxauth listening on ")
        .unwrap_or_else(|| panic!("the address line: {line:?}"))
        .to_owned();
    let client = http_client();
    let login: Value = client
        .post(format!("{base}/_matrix/client/v3/login"))
        .json(&json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "logged"},
            "password": "a password to log",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().expect("a token").to_owned();
    let whoami = client
        .get(format!(
            "{base}/_matrix/client/v3/account/whoami?access_token={token}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 200);
    // A registration token in a path is a secret too (no admin here: 401).
    let token_path = client
        .get(format!(
            "{base}/_synapse/admin/v1/registration_tokens/secret-reg-token-42"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(token_path.status(), 401);
    server.stop();
    let mut stderr = String::new();
    server
        .child_mut()
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();

    assert!(!stderr.contains(&token), "the token is logged: {stderr}");
    assert!(
        !stderr.contains("access_token="),
        "a query is logged: {stderr}"
    );
    assert!(!stderr.contains("a password to log"), "{stderr}");
    assert!(!stderr.contains("secret-reg-token-42"), "{stderr}");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 3, "one line per request: {stderr}");
    assert_eq!(
        requests[2]["fields"]["path"],
        "/_synapse/admin/v1/registration_tokens/{token}"
    );
    let whoami = requests[1];
    assert_eq!(whoami["level"], "INFO");
    let fields = &whoami["fields"];
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["path"], "/_matrix/client/v3/account/whoami");
    assert_eq!(fields["status"], 200);
    assert!(
        fields["took_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{whoami}"
    );
    assert_eq!(fields["user"], format!("@logged:{SERVER_NAME}"));
    // The login was nobody's yet.
    assert_eq!(requests[0]["fields"]["path"], "/_matrix/client/v3/login");
    assert_eq!(requests[0]["fields"]["status"], 200);
    assert!(requests[0]["fields"].get("user").is_none());
}
