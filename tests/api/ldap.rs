//! `ldap_auth_provider.LdapAuthProviderModule` against a real OpenLDAP
//! `slapd` this test starts on a free port, in a temp dir, with a seeded
//! directory: alice (with an email), bob (without), mallory (disabled: the
//! directory refuses her binds, and search mode's filter leaves her out),
//! and a service account for search mode. `slapd` and `slapadd` come from
//! Debian's `slapd` package (scripts/test.sh installs it).

use crate::both;
use crate::support::*;
use mxauth::config::{LdapProviderConfig, LdapSearch, ModuleConfig, Secret};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

both!(
    ldap_simple_bind,
    ldap_search_mode,
    ldap_directory_down,
    ldap_tls
);

const BASE: &str = "ou=people,dc=example,dc=org";

const SEED: &str = "\
dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
mail: alice@example.org
userPassword: alice-ldap-pw

dn: uid=bob,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
userPassword: bob-ldap-pw

dn: uid=mallory,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: mallory
cn: Mallory
sn: M
description: disabled
userPassword: mallory-ldap-pw

dn: cn=mxauth,dc=example,dc=org
objectClass: simpleSecurityObject
objectClass: organizationalRole
cn: mxauth
userPassword: service-pw
";

fn sbin(name: &str) -> PathBuf {
    let env = format!("MXAUTH_TEST_{}", name.to_uppercase());
    std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new("/usr/sbin").join(name))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running slapd; killed when dropped.
pub struct Slapd {
    child: Child,
    pub port: u16,
    /// The `ldaps://` port, when started with TLS.
    pub tls_port: Option<u16>,
    _dir: tempfile::TempDir,
}

impl Slapd {
    pub async fn start(tls: bool) -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("data")).unwrap();
        let mut conf = format!(
            "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {dir}/slapd.pid
",
            dir = d.display()
        );
        if tls {
            // A CA, and the directory's certificate signed by it.
            let openssl = |args: &[&str]| {
                let out = Command::new("openssl")
                    .args(args)
                    .current_dir(d)
                    .output()
                    .expect("openssl runs");
                assert!(
                    out.status.success(),
                    "openssl {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            std::fs::write(
                d.join("ext.cnf"),
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
                 keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
            )
            .unwrap();
            openssl(
                &[
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                ]
                .iter()
                .chain(&[
                    "-subj",
                    "/CN=mxauth-test-ca",
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                ])
                .copied()
                .collect::<Vec<_>>(),
            );
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "server.csr",
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "ext.cnf",
                "-out",
                "cert.pem",
            ]);
            conf.push_str(&format!(
                "TLSCertificateFile {dir}/cert.pem\nTLSCertificateKeyFile {dir}/key.pem\n",
                dir = d.display()
            ));
        }
        conf.push_str(&format!(
            "database mdb
maxsize 10485760
suffix \"dc=example,dc=org\"
rootdn \"cn=admin,dc=example,dc=org\"
rootpw admin-secret
directory {dir}/data
access to filter=(description=disabled) attrs=userPassword by * none
access to attrs=userPassword by anonymous auth by * none
access to * by * read
",
            dir = d.display()
        ));
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        std::fs::write(d.join("seed.ldif"), SEED).unwrap();
        let out = Command::new(sbin("slapadd"))
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .arg("-l")
            .arg(d.join("seed.ldif"))
            .output()
            .expect("slapadd runs: install Debian's slapd (scripts/test.sh does)");
        assert!(
            out.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let tls_port = tls.then(free_port);
        let mut urls = format!("ldap://127.0.0.1:{port}/");
        if let Some(p) = tls_port {
            urls.push_str(&format!(" ldaps://127.0.0.1:{p}/"));
        }
        let log = std::fs::File::create(d.join("slapd.log")).unwrap();
        let child = Command::new(sbin("slapd"))
            .args(["-d", "0", "-h", &urls, "-f"])
            .arg(d.join("slapd.conf"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("slapd runs: install Debian's slapd (scripts/test.sh does)");
        let slapd = Slapd {
            child,
            port,
            tls_port,
            _dir: dir,
        };
        let deadline = crate::support::real_now() + Duration::from_secs(15);
        for p in std::iter::once(port).chain(tls_port) {
            while tokio::net::TcpStream::connect(("127.0.0.1", p))
                .await
                .is_err()
            {
                assert!(
                    crate::support::real_now() < deadline,
                    "slapd did not start listening"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        slapd
    }

    pub fn uri(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// The CA that signed the directory's certificate (TLS only).
    pub fn ca_file(&self) -> PathBuf {
        self._dir.path().join("ca.pem")
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn ldap_config(uri: String, search: Option<LdapSearch>) -> LdapProviderConfig {
    LdapProviderConfig {
        uris: vec![uri],
        start_tls: false,
        validate_cert: true,
        ca_certs_file: None,
        base: BASE.into(),
        uid_attribute: "uid".into(),
        name_attribute: "cn".into(),
        mail_attribute: "mail".into(),
        search,
        timeout_ms: 1500,
    }
}

fn search_mode() -> Option<LdapSearch> {
    Some(LdapSearch {
        bind: Some((
            "cn=mxauth,dc=example,dc=org".into(),
            Secret::new("service-pw"),
        )),
        filter: Some("(!(description=disabled))".into()),
    })
}

async fn login(server: &TestServer, identifier: Value, password: &str) -> (StatusCode, Value) {
    server
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "identifier": identifier, "password": password}),
        )
        .await
}

fn user(name: &str) -> Value {
    json!({"type": "m.id.user", "user": name})
}

fn email(address: &str) -> Value {
    json!({"type": "m.id.thirdparty", "medium": "email", "address": address})
}

async fn stored_user(server: &TestServer, localpart: &str) -> Option<mxauth::store::User> {
    let store = mxauth::store::connect(&server.db.config.url(), 1)
        .await
        .unwrap();
    let user = store
        .users()
        .get_user(&format!("@{localpart}:{SERVER_NAME}"))
        .await
        .unwrap();
    user
}

async fn threepids(server: &TestServer, token: &str) -> Vec<String> {
    let (status, res) = server
        .get("/_matrix/client/v3/account/3pid", Some(token))
        .await;
    assert_eq!(status, StatusCode::OK);
    res["threepids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}:{}",
                t["medium"].as_str().unwrap(),
                t["address"].as_str().unwrap()
            )
        })
        .collect()
}

/// Logs in and returns the access token; asserts the user ID.
async fn logs_in(
    server: &TestServer,
    identifier: Value,
    password: &str,
    localpart: &str,
) -> String {
    let (status, res) = login(server, identifier, password).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], format!("@{localpart}:{SERVER_NAME}"));
    res["access_token"].as_str().unwrap().to_owned()
}

async fn ldap_simple_bind(backend: Backend) {
    let slapd = Slapd::start(false).await;
    let server = TestServer::builder(backend)
        .config(|c| {
            c.modules = vec![ModuleConfig::Ldap(ldap_config(slapd.uri(), None))];
        })
        .start()
        .await;
    assert!(stored_user(&server, "alice").await.is_none());
    logs_in(&server, user("alice"), "alice-ldap-pw", "alice").await;
    // Created on first login; simple mode knows only the name typed.
    let alice = stored_user(&server, "alice").await.expect("created");
    assert_eq!(alice.displayname.as_deref(), Some("alice"));
    assert!(alice.password_hash.is_none());
    logs_in(
        &server,
        user(&format!("@alice:{SERVER_NAME}")),
        "alice-ldap-pw",
        "alice",
    )
    .await;

    for (name, password) in [
        ("alice", "wrong"),
        ("nobody", "whatever"),
        ("mallory", "mallory-ldap-pw"),
        ("alice", ""),
        ("alice*", "alice-ldap-pw"),
        ("*", "alice-ldap-pw"),
        ("alice,ou=people", "alice-ldap-pw"),
    ] {
        let got = login(&server, user(name), password).await;
        assert_error(&got, 403, "M_FORBIDDEN");
        assert_eq!(got.1["error"], "Invalid username or password", "{name}");
    }
    assert!(stored_user(&server, "mallory").await.is_none());
    assert!(stored_user(&server, "nobody").await.is_none());
    server.stop().await;
}

async fn ldap_search_mode(backend: Backend) {
    let slapd = Slapd::start(false).await;
    let server = TestServer::builder(backend)
        .config(|c| {
            c.modules = vec![ModuleConfig::Ldap(ldap_config(slapd.uri(), search_mode()))];
        })
        .start()
        .await;
    // First login by email: found by `mail`, created from the entry.
    let token = logs_in(
        &server,
        email("alice@example.org"),
        "alice-ldap-pw",
        "alice",
    )
    .await;
    let alice = stored_user(&server, "alice").await.expect("created");
    assert_eq!(alice.displayname.as_deref(), Some("Alice Liddell"));
    assert_eq!(
        threepids(&server, &token).await,
        ["email:alice@example.org"]
    );
    logs_in(&server, user("alice"), "alice-ldap-pw", "alice").await;
    // First login by name: the directory's display name, no email.
    let token = logs_in(&server, user("bob"), "bob-ldap-pw", "bob").await;
    let bob = stored_user(&server, "bob").await.expect("created");
    assert_eq!(bob.displayname.as_deref(), Some("Bob Builder"));
    assert!(threepids(&server, &token).await.is_empty());

    for (identifier, password) in [
        (user("alice"), "wrong"),
        (email("alice@example.org"), "wrong"),
        (user("nobody"), "whatever"),
        (email("nobody@example.org"), "whatever"),
        (user("mallory"), "mallory-ldap-pw"),
        (user("bob"), ""),
        (user("*"), "bob-ldap-pw"),
        (email("*"), "bob-ldap-pw"),
        (user("b*)(uid=*"), "bob-ldap-pw"),
    ] {
        let got = login(&server, identifier.clone(), password).await;
        assert_error(&got, 403, "M_FORBIDDEN");
        assert_eq!(
            got.1["error"], "Invalid username or password",
            "{identifier}"
        );
    }
    assert!(stored_user(&server, "mallory").await.is_none());
    server.stop().await;
}

async fn ldap_directory_down(backend: Backend) {
    let mut slapd = Slapd::start(false).await;
    // A directory that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let db = std::sync::Arc::new(fresh_database(backend).await);
    let uri = slapd.uri();
    let server = TestServer::builder(db.clone())
        .config(|c| {
            c.modules = vec![ModuleConfig::Ldap(ldap_config(uri, search_mode()))];
        })
        .start()
        .await;
    server.register("carol", "carol-local-pw").await;
    logs_in(&server, user("alice"), "alice-ldap-pw", "alice").await;

    slapd.stop();
    let start = crate::support::real_now();
    let got = login(&server, user("alice"), "alice-ldap-pw").await;
    assert_error(&got, 403, "M_FORBIDDEN");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    // The local database is still asked after the provider.
    logs_in(&server, user("carol"), "carol-local-pw", "carol").await;
    server.stop().await;

    // A directory that drops every connection as soon as it is made.
    let dropping = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dropping_port = dropping.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = dropping.accept().await {
            drop(socket);
        }
    });
    for port in [silent_port, dropping_port] {
        let server = TestServer::builder(db.clone())
            .config(|c| {
                c.modules = vec![ModuleConfig::Ldap(ldap_config(
                    format!("ldap://127.0.0.1:{port}"),
                    None,
                ))];
            })
            .start()
            .await;
        let start = crate::support::real_now();
        let got = login(&server, user("alice"), "alice-ldap-pw").await;
        assert_error(&got, 403, "M_FORBIDDEN");
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
        logs_in(&server, user("carol"), "carol-local-pw", "carol").await;
        server.stop().await;
    }
}

/// LDAPS and StartTLS: a directory whose certificate the configured CA
/// signed works (`tls_options.ca_certs_file`); with the system's roots
/// (the default) it is refused; `validate_cert: false` skips the check.
async fn ldap_tls(backend: Backend) {
    let slapd = Slapd::start(true).await;
    let ldaps = format!("ldaps://127.0.0.1:{}", slapd.tls_port.unwrap());
    let db = std::sync::Arc::new(fresh_database(backend).await);
    for (uri, start_tls) in [(ldaps.clone(), false), (slapd.uri(), true)] {
        let server = TestServer::builder(db.clone())
            .config(|c| {
                let mut config = ldap_config(uri.clone(), search_mode());
                config.start_tls = start_tls;
                config.validate_cert = false;
                c.modules = vec![ModuleConfig::Ldap(config)];
            })
            .start()
            .await;
        logs_in(&server, user("alice"), "alice-ldap-pw", "alice").await;
        server.stop().await;

        let server = TestServer::builder(db.clone())
            .config(|c| {
                let mut config = ldap_config(uri.clone(), search_mode());
                config.start_tls = start_tls;
                c.modules = vec![ModuleConfig::Ldap(config)];
            })
            .start()
            .await;
        let got = login(&server, user("alice"), "alice-ldap-pw").await;
        assert_error(&got, 403, "M_FORBIDDEN");
        server.stop().await;

        let server = TestServer::builder(db.clone())
            .config(|c| {
                let mut config = ldap_config(uri.clone(), search_mode());
                config.start_tls = start_tls;
                config.ca_certs_file = Some(slapd.ca_file());
                c.modules = vec![ModuleConfig::Ldap(config)];
            })
            .start()
            .await;
        logs_in(&server, user("alice"), "alice-ldap-pw", "alice").await;
        server.stop().await;
    }
}
