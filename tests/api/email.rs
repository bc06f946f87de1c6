//! Email validation against a real SMTP server (aiosmtpd): the mail is
//! received, its link followed, and the UIA stage completed with it.

use crate::both;
use crate::smtp::{Mail, SmtpSink};
use crate::support::{assert_error, Backend, TestServer};
use mxauth::clock::MockClock;
use mxauth::config::{AllowedThreepid, Config, EmailConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

both!(
    register_with_required_email,
    request_token_is_idempotent_and_checks_its_input,
    request_token_errors_in_use_denied_not_found,
    password_reset_by_email,
    threepid_add_list_delete_and_login_by_email,
    next_link_redirects_only_to_our_host,
    email_session_is_used_once,
    validated_email_session_is_usable_for_a_bounded_time,
    validation_link_expires_and_only_the_latest_works,
    next_link_domain_whitelist_is_honoured,
);

const BASE: &str = "https://matrix.test.example/";
const REGISTER: &str = "/_matrix/client/v3/register";
const REGISTER_TOKEN: &str = "/_matrix/client/v3/register/email/requestToken";
const PASSWORD_TOKEN: &str = "/_matrix/client/v3/account/password/email/requestToken";
const ADD_TOKEN: &str = "/_matrix/client/v3/account/3pid/email/requestToken";

pub(crate) fn email_config(c: &mut Config, smtp_port: u16) {
    c.public_baseurl = Some(BASE.into());
    c.email = Some(EmailConfig {
        smtp_host: "127.0.0.1".into(),
        smtp_port,
        smtp_user: None,
        smtp_pass: None,
        force_tls: false,
        require_transport_security: false,
        enable_tls: false,
        tlsname: None,
        notif_from: "Test Matrix <noreply@test.example>".into(),
        app_name: "Test Matrix".into(),
        validation_token_lifetime_ms: 3_600_000,
    });
}

async fn start(b: Backend, tweak: impl FnOnce(&mut Config)) -> (TestServer, SmtpSink) {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let s = TestServer::builder(b)
        .config(|c| {
            email_config(c, port);
            tweak(c);
        })
        .start()
        .await;
    (s, sink)
}

/// Follows a mail's link at the test server; returns status, Location and body.
async fn follow(s: &TestServer, mail: &Mail) -> (StatusCode, Option<String>, String) {
    let link = mail.link();
    let rest = link
        .strip_prefix(BASE)
        .unwrap_or_else(|| panic!("{link} is not under public_baseurl"));
    let client = crate::support::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .get(format!("{}/{rest}", s.base))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, location, res.text().await.unwrap())
}

async fn request_token(
    s: &TestServer,
    path: &str,
    email: &str,
    secret: &str,
    attempt: i64,
) -> (StatusCode, Value) {
    s.post(
        path,
        None,
        json!({"client_secret": secret, "email": email, "send_attempt": attempt}),
    )
    .await
}

fn email_auth(session: &Value, sid: &Value, secret: &str) -> Value {
    json!({
        "type": "m.login.email.identity",
        "session": session,
        "threepid_creds": {"sid": sid, "client_secret": secret},
    })
}

/// Registers `localpart` through the email flow; returns (user_id, token).
async fn register_with_email(
    s: &TestServer,
    sink: &SmtpSink,
    localpart: &str,
    email: &str,
    password: &str,
) -> (String, String) {
    let (status, done) = register_with_email_as(s, sink, localpart, email, password).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    (
        done["user_id"].as_str().unwrap().to_owned(),
        done["access_token"].as_str().unwrap().to_owned(),
    )
}

/// Validates `email` and registers `localpart` with it; returns the last
/// answer, whatever it is.
pub(crate) async fn try_register_with_email(
    s: &TestServer,
    sink: &SmtpSink,
    localpart: &str,
    email: &str,
) -> (StatusCode, Value) {
    register_with_email_as(s, sink, localpart, email, "a password").await
}

async fn register_with_email_as(
    s: &TestServer,
    sink: &SmtpSink,
    localpart: &str,
    email: &str,
    password: &str,
) -> (StatusCode, Value) {
    let before = sink.mails().len();
    let (status, res) = request_token(s, REGISTER_TOKEN, email, "secret1", 1).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let mail = sink.wait_for(before + 1).await.pop().unwrap();
    let (status, _, _) = follow(s, &mail).await;
    assert_eq!(status, StatusCode::OK);
    let body = json!({"username": localpart, "password": password});
    let (_, challenge) = s.post(REGISTER, None, body.clone()).await;
    let mut body = body;
    body["auth"] = email_auth(&challenge["session"], &res["sid"], "secret1");
    s.post(REGISTER, None, body).await
}

async fn register_with_required_email(b: Backend) {
    let (s, sink) = start(b, |c| {
        c.threepids.registrations_require_3pid = vec!["email".into()];
    })
    .await;
    let body = json!({"username": "alice", "password": "correct horse"});
    let (status, challenge) = s.post(REGISTER, None, body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge["flows"],
        json!([{"stages": ["m.login.email.identity"]}])
    );
    let session = challenge["session"].clone();

    // The dummy stage is not offered.
    let mut dummy = body.clone();
    dummy["auth"] = json!({"type": "m.login.dummy", "session": session});
    assert_error(&s.post(REGISTER, None, dummy).await, 400, "M_UNRECOGNIZED");

    let (status, res) =
        request_token(&s, REGISTER_TOKEN, "Alice@Example.ORG", "s3cr.t=_-", 1).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let sid = res["sid"].clone();
    let mail = sink.wait_for(1).await.remove(0);
    assert!(mail.header("To").unwrap().contains("alice@example.org"));
    assert!(mail
        .header("From")
        .unwrap()
        .contains("noreply@test.example"));
    assert!(mail
        .header("Subject")
        .unwrap()
        .contains("Validate your email"));

    // Before the link is followed the stage fails.
    let mut req = body.clone();
    req["auth"] = email_auth(&session, &sid, "s3cr.t=_-");
    let (status, failed) = s.post(REGISTER, None, req.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(failed["errcode"], "M_THREEPID_AUTH_FAILED");
    assert_eq!(failed["completed"], json!([]));

    let (status, _, page) = follow(&s, &mail).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Your email has been validated"), "{page}");

    // A wrong client_secret: the stage fails.
    let mut wrong = body.clone();
    wrong["auth"] = email_auth(&session, &sid, "other-secret");
    let (status, failed) = s.post(REGISTER, None, wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(failed["errcode"], "M_THREEPID_AUTH_FAILED");

    let (status, done) = s.post(REGISTER, None, req).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let token = done["access_token"].as_str().unwrap();
    let (status, list) = s.get("/_matrix/client/v3/account/3pid", Some(token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["threepids"][0]["medium"], "email");
    assert_eq!(list["threepids"][0]["address"], "alice@example.org");
    assert_eq!(list["threepids"].as_array().unwrap().len(), 1);
}

async fn request_token_is_idempotent_and_checks_its_input(b: Backend) {
    let (s, sink) = start(b, |_| {}).await;
    // With email configured (not required), the email flow is offered next to dummy.
    let (_, challenge) = s.post(REGISTER, None, json!({})).await;
    assert_eq!(
        challenge["flows"],
        json!([{"stages": ["m.login.dummy"]}, {"stages": ["m.login.email.identity"]}])
    );

    let (_, first) = request_token(&s, REGISTER_TOKEN, "bob@example.org", "sec", 1).await;
    let (_, again) = request_token(&s, REGISTER_TOKEN, "BOB@example.org", "sec", 1).await;
    assert_eq!(first["sid"], again["sid"]);
    // No waiting for a mail that should not come: mxauth answers only once
    // the SMTP server has taken the mail (or fails with a 500), and the
    // sink stores a mail before it takes it.
    sink.wait_for(1).await;
    assert_eq!(
        sink.mails().len(),
        1,
        "the same send_attempt sends no new mail"
    );

    // A higher send_attempt: same session, a new mail whose link works.
    let (_, next) = request_token(&s, REGISTER_TOKEN, "bob@example.org", "sec", 2).await;
    assert_eq!(first["sid"], next["sid"]);
    let mails = sink.wait_for(2).await;
    assert_ne!(mails[0].link(), mails[1].link());
    // The resend replaced the first link.
    assert_eq!(follow(&s, &mails[0]).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(follow(&s, &mails[1]).await.0, StatusCode::OK);

    // Another client secret: another session.
    let (_, other) = request_token(&s, REGISTER_TOKEN, "bob@example.org", "sec2", 1).await;
    assert_ne!(other["sid"], first["sid"]);

    for (body, code) in [
        (
            json!({"client_secret": "a b", "email": "x@y.org", "send_attempt": 1}),
            "M_INVALID_PARAM",
        ),
        (
            json!({"client_secret": "a".repeat(256), "email": "x@y.org", "send_attempt": 1}),
            "M_INVALID_PARAM",
        ),
        (
            json!({"client_secret": "ab", "email": "not-an-email", "send_attempt": 1}),
            "M_INVALID_PARAM",
        ),
        (
            json!({"client_secret": "ab", "email": "x@y.org"}),
            "M_MISSING_PARAM",
        ),
        (
            json!({"email": "x@y.org", "send_attempt": 1}),
            "M_MISSING_PARAM",
        ),
        (
            json!({"client_secret": "ab", "email": "x@y.org", "send_attempt": 1, "next_link": "javascript:alert(1)"}),
            "M_INVALID_PARAM",
        ),
    ] {
        assert_error(&s.post(REGISTER_TOKEN, None, body).await, 400, code);
    }

    // Forged links (wrong token, wrong secret) fail; the real one works.
    let mail = sink.wait_for(3).await.pop().unwrap();
    let link = mail.link();
    for bad in [
        link.replace("token=", "token=x"),
        link.replace("client_secret=", "client_secret=x"),
    ] {
        let rest = bad.strip_prefix(BASE).unwrap();
        let res = crate::support::http_client()
            .get(format!("{}/{rest}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res
            .text()
            .await
            .unwrap()
            .contains("Email validation failed"));
    }
    assert_eq!(follow(&s, &mail).await.0, StatusCode::OK);

    for path in [
        "/_matrix/client/v3/register/msisdn/requestToken",
        "/_matrix/client/v3/account/password/msisdn/requestToken",
        "/_matrix/client/v3/account/3pid/msisdn/requestToken",
    ] {
        let body = json!({"client_secret": "ab", "country": "GB", "phone_number": "07700900001", "send_attempt": 1});
        assert_error(
            &s.post(path, None, body).await,
            400,
            "M_THREEPID_MEDIUM_NOT_SUPPORTED",
        );
    }
}

async fn request_token_errors_in_use_denied_not_found(b: Backend) {
    let (s, sink) = start(b, |c| {
        c.threepids.allowed_local_3pids = Some(vec![AllowedThreepid {
            medium: "email".into(),
            pattern: regex::Regex::new(r"^(?:[^@]+@example\.org$)").unwrap(),
        }]);
    })
    .await;
    register_with_email(&s, &sink, "carol", "carol@example.org", "carol's password").await;
    let taken = request_token(&s, REGISTER_TOKEN, "CAROL@example.org", "x", 1).await;
    assert_error(&taken, 400, "M_THREEPID_IN_USE");
    let taken = request_token(&s, ADD_TOKEN, "carol@example.org", "x", 1).await;
    assert_error(&taken, 400, "M_THREEPID_IN_USE");
    let denied = request_token(&s, REGISTER_TOKEN, "dave@elsewhere.org", "x", 1).await;
    assert_error(&denied, 403, "M_THREEPID_DENIED");
    let unknown = request_token(&s, PASSWORD_TOKEN, "nobody@example.org", "x", 1).await;
    assert_error(&unknown, 400, "M_THREEPID_NOT_FOUND");
    assert_eq!(sink.mails().len(), 1, "no mail for a refused request");
    s.stop().await;

    // With request_token_inhibit_3pid_errors: a session ID, and no mail.
    let (s, sink) = start(b, |c| c.threepids.request_token_inhibit_3pid_errors = true).await;
    let (status, res) = request_token(&s, PASSWORD_TOKEN, "nobody@example.org", "x", 1).await;
    assert_eq!(status, StatusCode::OK);
    assert!(res["sid"].is_string());
    // A mail would be in the sink by now (see above).
    assert!(sink.mails().is_empty());
}

async fn password_reset_by_email(b: Backend) {
    let (s, sink) = start(b, |_| {}).await;
    let (user, old_token) =
        register_with_email(&s, &sink, "erin", "erin@example.org", "old password").await;
    let (status, res) = request_token(&s, PASSWORD_TOKEN, "Erin@Example.org", "reset", 1).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let mail = sink.wait_for(2).await.pop().unwrap();
    assert!(mail.header("Subject").unwrap().contains("Password reset"));

    let path = "/_matrix/client/v3/account/password";
    let body = json!({"new_password": "new password"});
    let (status, challenge) = s.post(path, None, body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    assert_eq!(
        challenge["flows"],
        json!([{"stages": ["m.login.email.identity"]}])
    );
    let mut req = body;
    req["auth"] = email_auth(&challenge["session"], &res["sid"], "reset");
    let (status, failed) = s.post(path, None, req.clone()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "not validated yet: {failed}"
    );
    assert_eq!(failed["errcode"], "M_THREEPID_AUTH_FAILED");
    assert_eq!(follow(&s, &mail).await.0, StatusCode::OK);
    let (status, done) = s.post(path, None, req).await;
    assert_eq!(status, StatusCode::OK, "{done}");

    let login = |password: &str| json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password});
    let old = s
        .post("/_matrix/client/v3/login", None, login("old password"))
        .await;
    assert_error(&old, 403, "M_FORBIDDEN");
    let (status, _) = s
        .post("/_matrix/client/v3/login", None, login("new password"))
        .await;
    assert_eq!(status, StatusCode::OK);
    // logout_devices defaults to true: the old token is gone.
    let whoami = s
        .get("/_matrix/client/v3/account/whoami", Some(&old_token))
        .await;
    assert_error(&whoami, 401, "M_UNKNOWN_TOKEN");
}

async fn threepid_add_list_delete_and_login_by_email(b: Backend) {
    let (s, sink) = start(b, |_| {}).await;
    let (user, token, _) = s.register("frank", "frank's password").await;
    let (status, res) = request_token(&s, ADD_TOKEN, "Frank@Example.org", "add", 1).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(follow(&s, &mail).await.0, StatusCode::OK);

    let add = "/_matrix/client/v3/account/3pid/add";
    let body = json!({"sid": res["sid"], "client_secret": "add"});
    let (status, challenge) = s.post(add, Some(&token), body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge["flows"],
        json!([{"stages": ["m.login.password"]}])
    );
    let mut req = body.clone();
    req["auth"] = TestServer::password_auth(&challenge["session"], &user, "frank's password");
    let (status, added) = s.post(add, Some(&token), req).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    // A session that is not validated cannot be added.
    let (_, res2) = request_token(&s, ADD_TOKEN, "frank2@example.org", "add2", 1).await;
    let body2 = json!({"sid": res2["sid"], "client_secret": "add2"});
    let (_, challenge) = s.post(add, Some(&token), body2.clone()).await;
    let mut req2 = body2;
    req2["auth"] = TestServer::password_auth(&challenge["session"], &user, "frank's password");
    assert_error(
        &s.post(add, Some(&token), req2).await,
        400,
        "M_THREEPID_AUTH_FAILED",
    );

    let (_, list) = s.get("/_matrix/client/v3/account/3pid", Some(&token)).await;
    assert_eq!(list["threepids"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["threepids"][0]["address"], "frank@example.org");
    assert!(list["threepids"][0]["validated_at"].is_i64());
    assert!(list["threepids"][0]["added_at"].is_i64());

    // Login by email: identifier, legacy top-level fields, any case.
    let by_email = |address: &str, password: &str| json!({"type": "m.login.password", "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": address}, "password": password});
    let (status, logged) = s
        .post(
            "/_matrix/client/v3/login",
            None,
            by_email("FRANK@example.org", "frank's password"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{logged}");
    assert_eq!(logged["user_id"], user.as_str());
    let legacy = json!({"type": "m.login.password", "medium": "email", "address": "frank@example.org", "password": "frank's password"});
    let (status, logged) = s.post("/_matrix/client/v3/login", None, legacy).await;
    assert_eq!(status, StatusCode::OK, "{logged}");
    let wrong = s
        .post(
            "/_matrix/client/v3/login",
            None,
            by_email("frank@example.org", "wrong"),
        )
        .await;
    let unknown = s
        .post(
            "/_matrix/client/v3/login",
            None,
            by_email("nobody@example.org", "frank's password"),
        )
        .await;
    assert_error(&wrong, 403, "M_FORBIDDEN");
    assert_error(&unknown, 403, "M_FORBIDDEN");
    assert_eq!(
        wrong.1, unknown.1,
        "unknown address and wrong password look the same"
    );

    // Bind: no identity server. Unbind and delete: no-support.
    let bind = s
        .post("/_matrix/client/v3/account/3pid/bind", Some(&token), json!({"client_secret": "add", "id_server": "id.example.org", "id_access_token": "x", "sid": res["sid"]}))
        .await;
    assert_error(&bind, 403, "M_FORBIDDEN");
    let (status, unbind) = s
        .post(
            "/_matrix/client/v3/account/3pid/unbind",
            Some(&token),
            json!({"medium": "email", "address": "frank@example.org"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unbind, json!({"id_server_unbind_result": "no-support"}));
    let (status, deleted) = s
        .post(
            "/_matrix/client/v3/account/3pid/delete",
            Some(&token),
            json!({"medium": "email", "address": "Frank@example.org"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted, json!({"id_server_unbind_result": "no-support"}));
    let (_, list) = s.get("/_matrix/client/v3/account/3pid", Some(&token)).await;
    assert_eq!(list["threepids"], json!([]));
    let gone = s
        .post(
            "/_matrix/client/v3/login",
            None,
            by_email("frank@example.org", "frank's password"),
        )
        .await;
    assert_error(&gone, 403, "M_FORBIDDEN");
    // Without a token: 401.
    assert_error(
        &s.get("/_matrix/client/v3/account/3pid", None).await,
        401,
        "M_MISSING_TOKEN",
    );
}

async fn next_link_redirects_only_to_our_host(b: Backend) {
    let (s, sink) = start(b, |_| {}).await;
    let ours = "https://matrix.test.example/done?x=1";
    let theirs = "https://evil.example/<b>phish</b>";
    for (i, link) in [ours, theirs].iter().enumerate() {
        let body = json!({"client_secret": format!("n{i}"), "email": format!("n{i}@example.org"), "send_attempt": 1, "next_link": link});
        let (status, res) = s.post(REGISTER_TOKEN, None, body).await;
        assert_eq!(status, StatusCode::OK, "{res}");
    }
    let mails = sink.wait_for(2).await;
    let mail_for = |addr: &str| {
        mails
            .iter()
            .find(|m| m.header("To").unwrap().contains(addr))
            .unwrap()
            .clone()
    };
    let (status, location, _) = follow(&s, &mail_for("n0@example.org")).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location.as_deref(), Some(ours));
    let (status, location, page) = follow(&s, &mail_for("n1@example.org")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(location, None);
    assert!(
        page.contains("https://evil.example/&lt;b&gt;phish&lt;/b&gt;"),
        "{page}"
    );
    assert!(!page.contains("<b>phish"), "{page}");
}

const PASSWORD: &str = "/_matrix/client/v3/account/password";
const ADD: &str = "/_matrix/client/v3/account/3pid/add";
const HOUR: i64 = 3_600_000;

/// A server with email whose clock the test holds.
async fn start_with_clock(b: Backend) -> (TestServer, SmtpSink, Arc<MockClock>) {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let clock = crate::support::mock_clock();
    let s = TestServer::builder(b)
        .clock(clock.clone())
        .config(move |c| email_config(c, port))
        .start()
        .await;
    (s, sink, clock)
}

/// Asks for a token, follows the mail's link; returns the session ID.
async fn validate(s: &TestServer, sink: &SmtpSink, path: &str, email: &str, secret: &str) -> Value {
    let before = sink.mails().len();
    let (status, res) = request_token(s, path, email, secret, 1).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let mail = sink.wait_for(before + 1).await.pop().unwrap();
    assert_eq!(follow(s, &mail).await.0, StatusCode::OK);
    res["sid"].clone()
}

/// A password reset with `sid`, in a UIA session of its own.
async fn reset(s: &TestServer, sid: &Value, secret: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({"new_password": password});
    let (status, challenge) = s.post(PASSWORD, None, body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let mut req = body;
    req["auth"] = email_auth(&challenge["session"], sid, secret);
    s.post(PASSWORD, None, req).await
}

/// `POST /account/3pid/add` with `sid`, in a UIA session of its own.
async fn add(
    s: &TestServer,
    token: &str,
    user: &str,
    sid: &Value,
    secret: &str,
) -> (StatusCode, Value) {
    let body = json!({"sid": sid, "client_secret": secret});
    let (status, challenge) = s.post(ADD, Some(token), body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let mut req = body;
    req["auth"] = TestServer::password_auth(&challenge["session"], user, "gina's password");
    s.post(ADD, Some(token), req).await
}

/// An email session is spent by the operation that uses it: a second
/// password reset, a second 3PID add, or a registration with a session
/// a 3PID add used, are refused.
async fn email_session_is_used_once(b: Backend) {
    let (s, sink) = start(b, |_| {}).await;
    let (user, token, _) = s.register("gina", "gina's password").await;
    let sid = validate(&s, &sink, ADD_TOKEN, "gina@example.org", "add").await;
    let (status, res) = add(&s, &token, &user, &sid, "add").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    // The same session again, for another add: refused.
    assert_error(
        &add(&s, &token, &user, &sid, "add").await,
        400,
        "M_THREEPID_AUTH_FAILED",
    );

    // Password reset: the first works, the second with the same session does not.
    let sid = validate(&s, &sink, PASSWORD_TOKEN, "gina@example.org", "reset").await;
    let (status, res) = reset(&s, &sid, "reset", "first new password").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (status, again) = reset(&s, &sid, "reset", "second new password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{again}");
    assert_eq!(again["errcode"], "M_THREEPID_AUTH_FAILED", "{again}");
    assert_eq!(again["completed"], json!([]), "{again}");
    assert_eq!(
        s.try_login(&user, "first new password").await.0,
        StatusCode::OK
    );
    assert_error(
        &s.try_login(&user, "second new password").await,
        403,
        "M_FORBIDDEN",
    );

    // A registration stage spends it too; re-sending it in the same UIA
    // session is fine, another registration cannot use it.
    let sid = validate(&s, &sink, REGISTER_TOKEN, "hank@example.org", "reg").await;
    let body = json!({"username": "hank", "password": "hank's password"});
    let (_, challenge) = s.post(REGISTER, None, body.clone()).await;
    let mut first = body.clone();
    first["auth"] = email_auth(&challenge["session"], &sid, "reg");
    let (status, done) = s.post(REGISTER, None, first.clone()).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let body = json!({"username": "ivan", "password": "ivan's password"});
    let (_, challenge) = s.post(REGISTER, None, body.clone()).await;
    let mut other = body;
    other["auth"] = email_auth(&challenge["session"], &sid, "reg");
    let (status, refused) = s.post(REGISTER, None, other).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["errcode"], "M_THREEPID_AUTH_FAILED", "{refused}");
}

/// A validated session may be used until `validation_token_lifetime` after
/// its validation, not later (Synapse never expires it).
async fn validated_email_session_is_usable_for_a_bounded_time(b: Backend) {
    let (s, sink, clock) = start_with_clock(b).await;
    let early = validate(&s, &sink, REGISTER_TOKEN, "jo@example.org", "early").await;
    let late = validate(&s, &sink, REGISTER_TOKEN, "kim@example.org", "late").await;
    let register = |name: &str, sid: &Value, secret: &str| {
        let name = name.to_owned();
        let sid = sid.clone();
        let secret = secret.to_owned();
        let s = &s;
        async move {
            let body = json!({"username": name, "password": "a password"});
            let (_, challenge) = s.post(REGISTER, None, body.clone()).await;
            let mut req = body;
            req["auth"] = email_auth(&challenge["session"], &sid, &secret);
            s.post(REGISTER, None, req).await
        }
    };
    clock.advance_ms(HOUR - 1);
    let (status, done) = register("jo", &early, "early").await;
    assert_eq!(status, StatusCode::OK, "just inside the hour: {done}");
    clock.advance_ms(1);
    let (status, refused) = register("kim", &late, "late").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["errcode"], "M_THREEPID_AUTH_FAILED", "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("expired"),
        "{refused}"
    );
}

/// The link works until `validation_token_lifetime` after its mail; a
/// resend makes the older link fail; a wrong token fails even once the
/// session is validated.
async fn validation_link_expires_and_only_the_latest_works(b: Backend) {
    let (s, sink, clock) = start_with_clock(b).await;
    let (status, first) = request_token(&s, REGISTER_TOKEN, "lee@example.org", "sec", 1).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let expired = sink.wait_for(1).await.remove(0);
    clock.advance_ms(HOUR);
    let (status, _, page) = follow(&s, &expired).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Email validation failed"), "{page}");

    // A resend: a new link, the old one still fails.
    let (_, second) = request_token(&s, REGISTER_TOKEN, "lee@example.org", "sec", 2).await;
    assert_eq!(first["sid"], second["sid"]);
    let fresh = sink.wait_for(2).await.remove(1);
    assert_eq!(follow(&s, &expired).await.0, StatusCode::BAD_REQUEST);
    clock.advance_ms(HOUR - 1);
    assert_eq!(follow(&s, &fresh).await.0, StatusCode::OK);
    // Validated: following it again still says so; the expired one and a
    // forged token do not.
    assert_eq!(follow(&s, &fresh).await.0, StatusCode::OK);
    assert_eq!(follow(&s, &expired).await.0, StatusCode::BAD_REQUEST);
    let forged = Mail {
        headers: fresh.headers.clone(),
        body: fresh.body.replace("token=", "token=x"),
    };
    let (status, _, page) = follow(&s, &forged).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Email validation failed"), "{page}");
}

/// `next_link_domain_whitelist`: a `next_link` elsewhere is 400
/// M_INVALID_PARAM on every requestToken; a listed host is redirected to.
async fn next_link_domain_whitelist_is_honoured(b: Backend) {
    let (s, sink) = start(b, |c| {
        c.threepids.next_link_domain_whitelist = Some(vec!["app.example".into()]);
    })
    .await;
    for path in [REGISTER_TOKEN, PASSWORD_TOKEN, ADD_TOKEN] {
        for link in [
            "https://evil.example/x",
            "https://app.example.evil.example/",
        ] {
            let body = json!({"client_secret": "w", "email": "w@example.org", "send_attempt": 1, "next_link": link});
            assert_error(&s.post(path, None, body).await, 400, "M_INVALID_PARAM");
        }
    }
    let link = "https://APP.example/done";
    let body = json!({"client_secret": "w", "email": "w@example.org", "send_attempt": 1, "next_link": link});
    let (status, res) = s.post(REGISTER_TOKEN, None, body).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let mail = sink.wait_for(1).await.remove(0);
    let (status, location, _) = follow(&s, &mail).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location.as_deref(), Some(link));
    s.stop().await;

    // An empty list: no next_link at all; requests without one still work.
    let (s, _sink) = start(b, |c| c.threepids.next_link_domain_whitelist = Some(vec![])).await;
    let body = json!({"client_secret": "w", "email": "w@example.org", "send_attempt": 1, "next_link": BASE});
    assert_error(
        &s.post(REGISTER_TOKEN, None, body).await,
        400,
        "M_INVALID_PARAM",
    );
    let (status, res) = request_token(&s, REGISTER_TOKEN, "w@example.org", "w", 1).await;
    assert_eq!(status, StatusCode::OK, "{res}");
}
