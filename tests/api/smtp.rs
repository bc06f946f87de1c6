//! A real SMTP server for the email tests: Python's aiosmtpd, writing each
//! message it receives into a Maildir. scripts/test.sh installs it in a
//! venv and names its python in `MXAUTH_TEST_SMTP_PYTHON`.

use base64::Engine;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct SmtpSink {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

/// One received message: its headers and decoded body.
#[derive(Debug, Clone)]
pub struct Mail {
    pub headers: String,
    pub body: String,
}

impl Mail {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// The validation link in the body.
    pub fn link(&self) -> String {
        self.body
            .split_whitespace()
            .find(|w| w.starts_with("http") && w.contains("submit_token"))
            .unwrap_or_else(|| panic!("no validation link in {}", self.body))
            .to_owned()
    }
}

impl SmtpSink {
    pub async fn start() -> Self {
        let python = std::env::var("MXAUTH_TEST_SMTP_PYTHON").expect(
            "MXAUTH_TEST_SMTP_PYTHON is not set: run the tests with scripts/test.sh, which \
             installs aiosmtpd (a real SMTP server) in a venv and sets it to that python",
        );
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().unwrap().port()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let maildir = dir.path().join("Maildir");
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start aiosmtpd with {python}: {e}"));
        let sink = SmtpSink { port, child, dir };
        let deadline = crate::support::real_now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                crate::support::real_now() < deadline,
                "aiosmtpd did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sink
    }

    fn new_dir(&self) -> PathBuf {
        self.dir.path().join("Maildir").join("new")
    }

    /// Every message received so far, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        let mut files: Vec<_> = std::fs::read_dir(self.new_dir())
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
            .iter()
            .map(|p| parse(&std::fs::read_to_string(p).expect("mail readable")))
            .collect()
    }

    /// Waits until `n` messages have arrived; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = crate::support::real_now() + Duration::from_secs(10);
        loop {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                crate::support::real_now() < deadline,
                "expected {n} mails, got {}",
                mails.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse(raw: &str) -> Mail {
    let raw = raw.replace("\r\n", "\n");
    let (headers, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let mail = Mail {
        headers: headers.to_owned(),
        body: String::new(),
    };
    let encoding = mail
        .header("Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body = match encoding.as_str() {
        "quoted-printable" => quoted_printable(body),
        "base64" => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body.split_whitespace().collect::<String>())
                .expect("base64 body"),
        )
        .expect("utf-8 body"),
        _ => body.to_owned(),
    };
    Mail { body, ..mail }
}

fn quoted_printable(s: &str) -> String {
    let s = s.replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8 body")
}
