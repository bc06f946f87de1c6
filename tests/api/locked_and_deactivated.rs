//! What a locked user and a deactivated user get, on every path (issue 15).
//!
//! Locked (Synapse 1.163's internal auth, and the spec): every
//! authenticated endpoint answers 401 `M_USER_LOCKED` with `soft_logout:
//! true`, but `POST /logout` and `/logout/all`; a login with the right
//! credentials answers the same; nothing is deleted, so once unlocked the
//! same tokens work again. Deactivated: the tokens are gone (401
//! `M_UNKNOWN_TOKEN`) and a login with the right credentials answers 403
//! `M_USER_DEACTIVATED`. Either way a wrong password gets what an unknown
//! user gets (mxauth's rule: only the right password learns the state).
//! New tokens are refused on every path that makes them: password,
//! `m.login.token`, a provider (LDAP on a real slapd), JWT, `/refresh`,
//! the OAuth 2.0 pages, token endpoint and device grant, and SSO through
//! a real OpenID Connect provider; introspection (what a delegating
//! Synapse asks) says `{"active": false}`. Users are locked, unlocked and
//! deactivated as an admin does it, with `mxauth manage`.

use crate::both;
use crate::cli::config_file;
use crate::oauth_device::{local, poll, start as start_device_grant};
use crate::oauth_support::*;
use crate::oauth_upstream::{login_page, server as upstream_server, through_provider};
use crate::sso::{login_token_of, Browser, OidcProvider, CLIENT_URL};
use crate::support::*;
use mxauth::config::{MatrixConfig, ModuleConfig, Secret};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

both!(
    a_locked_user_can_only_log_out_until_unlocked,
    a_deactivated_user_has_no_tokens_and_no_login,
    providers_and_jwt_refuse_locked_and_deactivated_users,
    oauth_refuses_a_locked_user_until_unlocked,
    oauth_refuses_a_deactivated_user,
    sso_refuses_locked_and_deactivated_users,
);

const LOGIN: &str = "/_matrix/client/v3/login";
const WHOAMI: &str = "/_matrix/client/v3/account/whoami";
const GET_TOKEN: &str = "/_matrix/client/v1/login/get_token";
const JWT_SECRET: &str = "the jwt secret of these tests";
const HS_SECRET: &str = "the secret a delegating synapse shares";

/// `mxauth manage <command> <user>` on the server's database, as an admin
/// runs it (asserting success).
fn manage(s: &TestServer, command: &str, user: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), s);
    let (ok, _, err) = crate::cli_manage::manage(&config, &[command, user], "");
    assert!(ok, "mxauth manage {command} {user}: {err}");
}

/// The spec's answer to a locked user.
#[track_caller]
fn assert_locked(got: &(StatusCode, Value)) {
    assert_error(got, 401, "M_USER_LOCKED");
    assert_eq!(got.1["error"], "User account has been locked", "{}", got.1);
    assert_eq!(got.1["soft_logout"], true, "{}", got.1);
}

/// Synapse's answer to a deactivated user's right credentials.
#[track_caller]
fn assert_deactivated(got: &(StatusCode, Value)) {
    assert_error(got, 403, "M_USER_DEACTIVATED");
    assert_eq!(got.1["error"], "This account has been deactivated");
}

async fn whoami_of(s: &TestServer, token: &str) -> (StatusCode, Value) {
    s.get(WHOAMI, Some(token)).await
}

#[track_caller]
fn assert_ok(got: &(StatusCode, Value)) {
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
}

/// A password login asking for a refresh token: (access, refresh).
async fn refreshable_login(s: &TestServer, user: &str, password: &str) -> (String, String) {
    let (status, res) = s
        .post(
            LOGIN,
            None,
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
                   "password": password, "refresh_token": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    (
        res["access_token"].as_str().unwrap().to_owned(),
        res["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(s: &TestServer, refresh_token: &str) -> (StatusCode, Value) {
    s.post(
        "/_matrix/client/v3/refresh",
        None,
        json!({ "refresh_token": refresh_token }),
    )
    .await
}

/// A login token from `POST /login/get_token` (behind UIA).
async fn login_token(s: &TestServer, token: &str, user: &str, password: &str) -> String {
    let (_, challenge) = s.post(GET_TOKEN, Some(token), json!({})).await;
    let auth = TestServer::password_auth(&challenge["session"], user, password);
    let (status, res) = s
        .post(GET_TOKEN, Some(token), json!({ "auth": auth }))
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    res["login_token"].as_str().unwrap().to_owned()
}

async fn token_login(s: &TestServer, token: &str) -> (StatusCode, Value) {
    s.post(
        LOGIN,
        None,
        json!({"type": "m.login.token", "token": token}),
    )
    .await
}

async fn a_locked_user_can_only_log_out_until_unlocked(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.login_via_existing_session.enabled = true)
        .start()
        .await;
    let (alice, token, device) = s.register("alice", "alice-pw").await;
    let (logs_out, _) = s.login("alice", "alice-pw").await;
    let (kept_for_logout_all, _) = s.login("alice", "alice-pw").await;
    let (refreshable, refresh_token) = refreshable_login(&s, "alice", "alice-pw").await;
    let early_login_token = login_token(&s, &token, &alice, "alice-pw").await;
    let unknown_user = s.try_login("nobody", "alice-pw").await;

    manage(&s, "lock-user", "alice");

    s.sync_changes().await;

    // Every authenticated endpoint, UIA ones included (no challenge).
    let device_path = format!("/_matrix/client/v3/devices/{device}");
    let requests: [(Method, &str, Option<Value>); 9] = [
        (Method::GET, WHOAMI, None),
        (Method::GET, "/_matrix/client/v3/devices", None),
        (Method::GET, &device_path, None),
        (Method::GET, "/_matrix/client/v3/capabilities", None),
        (Method::GET, "/_matrix/client/v3/account/3pid", None),
        (
            Method::POST,
            "/_matrix/client/v3/account/password",
            Some(json!({"new_password": "another-pw-1"})),
        ),
        (
            Method::POST,
            "/_matrix/client/v3/account/deactivate",
            Some(json!({})),
        ),
        (
            Method::POST,
            "/_matrix/client/v3/delete_devices",
            Some(json!({"devices": [device]})),
        ),
        (Method::POST, GET_TOKEN, Some(json!({}))),
    ];
    for (method, path, body) in &requests {
        let got = s
            .request(method.clone(), path, Some(&token), body.as_ref())
            .await;
        assert_locked(&got);
    }
    assert_locked(&whoami_of(&s, &refreshable).await);
    // /versions answers anyone.
    assert_eq!(
        s.get("/_matrix/client/versions", Some(&token)).await.0,
        StatusCode::OK
    );

    // Logins: the right password learns of the lock, a wrong one does not.
    assert_locked(&s.try_login("alice", "alice-pw").await);
    assert_locked(&s.try_login(&alice, "alice-pw").await);
    let wrong = s.try_login("alice", "wrong-pw").await;
    assert_error(&wrong, 403, "M_FORBIDDEN");
    assert_eq!(wrong, unknown_user, "a wrong password looks like no user");
    // A login token from before the lock.
    assert_locked(&token_login(&s, &early_login_token).await);
    // A refresh: refused as the lock is, the refresh token kept.
    assert_locked(&refresh(&s, &refresh_token).await);

    // Logging out still works, and ends that session for good.
    assert_ok(
        &s.post("/_matrix/client/v3/logout", Some(&logs_out), json!({}))
            .await,
    );
    assert_locked(&whoami_of(&s, &token).await);

    manage(&s, "unlock-user", "alice");

    s.sync_changes().await;

    // Nothing was deleted: the same tokens work again.
    assert_ok(&whoami_of(&s, &token).await);
    assert_ok(&whoami_of(&s, &kept_for_logout_all).await);
    assert_ok(&whoami_of(&s, &refreshable).await);
    assert_error(&whoami_of(&s, &logs_out).await, 401, "M_UNKNOWN_TOKEN");
    let refreshed = refresh(&s, &refresh_token).await;
    assert_ok(&refreshed);
    assert_ok(&whoami_of(&s, refreshed.1["access_token"].as_str().unwrap()).await);
    // And every kind of login.
    s.login("alice", "alice-pw").await;
    let fresh_login_token = login_token(&s, &token, &alice, "alice-pw").await;
    assert_ok(&token_login(&s, &fresh_login_token).await);
    let (status, devices) = s.get("/_matrix/client/v3/devices", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{devices}");

    // Locked again: logout/all works too, and ends every session.
    manage(&s, "lock-user", "alice");
    s.sync_changes().await;
    assert_ok(
        &s.post("/_matrix/client/v3/logout/all", Some(&token), json!({}))
            .await,
    );
    manage(&s, "unlock-user", "alice");
    s.sync_changes().await;
    for t in [&token, &kept_for_logout_all, &refreshable] {
        assert_error(&whoami_of(&s, t).await, 401, "M_UNKNOWN_TOKEN");
    }
    s.login("alice", "alice-pw").await;
}

async fn a_deactivated_user_has_no_tokens_and_no_login(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.login_via_existing_session.enabled = true)
        .start()
        .await;
    let (bob, token, _) = s.register("bob", "bob-pw").await;
    let (refreshable, refresh_token) = refreshable_login(&s, "bob", "bob-pw").await;
    let early_login_token = login_token(&s, &token, &bob, "bob-pw").await;
    let unknown_user = s.try_login("nobody", "bob-pw").await;

    // The account's own deactivation.
    let deactivate = "/_matrix/client/v3/account/deactivate";
    let (status, challenge) = s.post(deactivate, Some(&token), json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let auth = TestServer::password_auth(&challenge["session"], &bob, "bob-pw");
    assert_ok(
        &s.post(deactivate, Some(&token), json!({ "auth": auth }))
            .await,
    );

    // Its tokens are gone, logout included, refresh token included.
    for t in [&token, &refreshable] {
        assert_error(&whoami_of(&s, t).await, 401, "M_UNKNOWN_TOKEN");
        let logout = s
            .post("/_matrix/client/v3/logout", Some(t), json!({}))
            .await;
        assert_error(&logout, 401, "M_UNKNOWN_TOKEN");
    }
    let refused = refresh(&s, &refresh_token).await;
    assert_error(&refused, 401, "M_UNKNOWN_TOKEN");
    assert_eq!(refused.1["soft_logout"], false);

    // Logins: the right password learns of it, a wrong one does not.
    assert_deactivated(&s.try_login("bob", "bob-pw").await);
    let wrong = s.try_login("bob", "wrong-pw").await;
    assert_error(&wrong, 403, "M_FORBIDDEN");
    assert_eq!(wrong, unknown_user, "a wrong password looks like no user");
    // A login token from before the deactivation.
    assert_deactivated(&token_login(&s, &early_login_token).await);
}

/// A JWT for `sub`, valid five minutes.
fn jwt(sub: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": sub, "exp": wall_clock_ms() / 1000 + 300}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

async fn jwt_login(s: &TestServer, sub: &str) -> (StatusCode, Value) {
    s.post(
        LOGIN,
        None,
        json!({"type": "org.matrix.login.jwt", "token": jwt(sub)}),
    )
    .await
}

async fn providers_and_jwt_refuse_locked_and_deactivated_users(b: Backend) {
    let slapd = crate::ldap::Slapd::start(false).await;
    let s = TestServer::builder(b)
        .config(|c| {
            c.modules = vec![ModuleConfig::Ldap(crate::ldap::ldap_config(
                slapd.uri(),
                None,
            ))];
            c.jwt = Some(crate::jwt::hs256_jwt(JWT_SECRET));
        })
        .start()
        .await;
    // alice is in the directory, created here at her first login; ivan
    // comes with a JWT.
    let ldap = s.try_login("alice", "alice-ldap-pw").await;
    assert_ok(&ldap);
    let alice_token = ldap.1["access_token"].as_str().unwrap().to_owned();
    let jwt_first = jwt_login(&s, "ivan").await;
    assert_ok(&jwt_first);
    let ivan_token = jwt_first.1["access_token"].as_str().unwrap().to_owned();
    let unknown_user = s.try_login("nobody", "alice-ldap-pw").await;

    manage(&s, "lock-user", "alice");

    s.sync_changes().await;
    manage(&s, "lock-user", "ivan");
    s.sync_changes().await;
    assert_locked(&s.try_login("alice", "alice-ldap-pw").await);
    let wrong = s.try_login("alice", "wrong-pw").await;
    assert_eq!(wrong, unknown_user, "a wrong password looks like no user");
    assert_locked(&jwt_login(&s, "ivan").await);
    assert_locked(&whoami_of(&s, &alice_token).await);
    assert_locked(&whoami_of(&s, &ivan_token).await);

    manage(&s, "unlock-user", "alice");

    s.sync_changes().await;
    manage(&s, "unlock-user", "ivan");
    s.sync_changes().await;
    assert_ok(&s.try_login("alice", "alice-ldap-pw").await);
    assert_ok(&jwt_login(&s, "ivan").await);
    assert_ok(&whoami_of(&s, &alice_token).await);
    assert_ok(&whoami_of(&s, &ivan_token).await);

    manage(&s, "deactivate-user", "alice");

    s.sync_changes().await;
    manage(&s, "deactivate-user", "ivan");
    s.sync_changes().await;
    assert_deactivated(&s.try_login("alice", "alice-ldap-pw").await);
    let wrong = s.try_login("alice", "wrong-pw").await;
    assert_eq!(wrong, unknown_user, "a wrong password looks like no user");
    assert_deactivated(&jwt_login(&s, "ivan").await);
    assert_error(&whoami_of(&s, &alice_token).await, 401, "M_UNKNOWN_TOKEN");
    assert_error(&whoami_of(&s, &ivan_token).await, 401, "M_UNKNOWN_TOKEN");
}

/// A second process on the same database, as a delegating Synapse asks it
/// (`matrix:` set; introspection needs no homeserver up).
async fn introspector(db: Arc<FreshDatabase>) -> TestServer {
    oauth_builder(db)
        .config(|c| {
            c.matrix = Some(MatrixConfig {
                kind: "synapse".into(),
                homeserver: SERVER_NAME.into(),
                endpoint: "http://127.0.0.1:1/".into(),
                secret: Secret::new(HS_SECRET),
                account_management_uri: None,
            })
        })
        .start()
        .await
}

async fn introspect(hs: &TestServer, token: &str) -> Value {
    let res = hs
        .raw()
        .post(format!("{}/oauth2/introspect", hs.base))
        .bearer_auth(HS_SECRET)
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn refresh_grant(s: &TestServer, refresh_token: &str) -> (StatusCode, Value) {
    token_request(
        s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", APP),
        ],
    )
    .await
}

#[track_caller]
fn assert_invalid_grant(got: &(StatusCode, Value)) {
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert_eq!(got.1["error"], "invalid_grant", "{}", got.1);
}

/// What a user of the OAuth 2.0 API holds when an admin acts: a session's
/// tokens, a browser signed in at the pages, a code approved but not yet
/// exchanged, a device grant approved but not yet polled, and one whose
/// consent page is open.
struct Held {
    access: String,
    refresh: String,
    browser: Browser,
    code: String,
    verifier: String,
    approved_device: Value,
    pending_device: Value,
    consent_page: String,
}

async fn hold(s: &TestServer, user: &str, password: &str, tag: &str) -> Held {
    let (_, tokens) = log_in(s, user, password, &format!("{tag}DEV1")).await;
    let mut browser = Browser::new();
    let (verifier, challenge) = pkce(&format!("{tag}-verifier"));
    let url = authorize_url(s, APP, &scope(&format!("{tag}DEV2")), &challenge);
    let back = walk(&mut browser, s, &url, user, password).await;
    let code = param(&back, "code").expect("a code");
    let approved_device = start_device_grant(s, &format!("{tag}DEV3")).await;
    let page = device_consent_page(&mut browser, s, &approved_device).await;
    let done = submit(&mut browser, s, &consent_form(&page, "approve"), &[]).await;
    assert!(
        done.body.contains("data-outcome=\"approved\""),
        "{}",
        done.body
    );
    let pending_device = start_device_grant(s, &format!("{tag}DEV4")).await;
    let consent_page = device_consent_page(&mut browser, s, &pending_device).await;
    Held {
        access: tokens["access_token"].as_str().unwrap().to_owned(),
        refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        browser,
        code,
        verifier,
        approved_device,
        pending_device,
        consent_page,
    }
}

/// A signed-in browser from a device grant's link to its consent page.
async fn device_consent_page(browser: &mut Browser, s: &TestServer, codes: &Value) -> String {
    let link = local(codes["verification_uri_complete"].as_str().unwrap());
    let page = browser.get(&format!("{}{link}", s.base)).await;
    let landing = submit(browser, s, &first_form(&page.body), &[]).await;
    let consent = landing.location.expect("on to the consent page");
    assert!(
        consent.starts_with("/oauth2/device/consent?device="),
        "{consent}"
    );
    let page = browser.get(&format!("{}{consent}", s.base)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.body
}

fn consent_form(page: &str, action: &str) -> (String, Vec<(String, String)>) {
    forms(page)
        .into_iter()
        .find(|f| f.1.iter().any(|(k, v)| k == "action" && v == action))
        .expect("the consent form of the action")
}

/// The browser sessions of `user` at the pages.
async fn browser_sessions(s: &TestServer, user: &str) -> i64 {
    db_i64(
        &s.db,
        &format!("SELECT COUNT(*) FROM oauth_browser_sessions WHERE user_id = '{user}'"),
    )
    .await
}

/// What the OAuth 2.0 API does with what `held` holds once its user is
/// locked or deactivated (the same, but for the access token's answer and
/// the login page's): no new token, no decision, no signed-in browser.
async fn assert_oauth_refuses(s: &TestServer, hs: &TestServer, held: &mut Held, user: &str) {
    assert_eq!(introspect(hs, &held.access).await, json!({"active": false}));
    assert_invalid_grant(&refresh_grant(s, &held.refresh).await);
    let exchanged = token_request(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &held.code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", APP),
            ("code_verifier", &held.verifier),
        ],
    )
    .await;
    assert_invalid_grant(&exchanged);
    assert_invalid_grant(&poll(s, APP, &held.approved_device).await);
    // The consent posted now sends the browser to log in; nothing decided.
    let approve = consent_form(&held.consent_page, "approve");
    let landing = submit(&mut held.browser, s, &approve, &[]).await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    let to = landing.location.unwrap();
    assert!(to.starts_with("/oauth2/login?device="), "{to}");
    let (status, waiting) = poll(s, APP, &held.pending_device).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{waiting}");
    assert_eq!(waiting["error"], "authorization_pending");
    // The browser signed in before is not any more: /authorize asks it to
    // log in, not to consent.
    let (_, challenge) = pkce("after-the-admin-acted");
    let url = authorize_url(s, APP, &scope("AFTERDEV"), &challenge);
    let landing = held.browser.get(&url).await;
    let to = landing.location.unwrap();
    assert!(to.starts_with("/oauth2/login?grant="), "{to}");
    // A wrong password at the login page gets what an unknown user gets.
    let page = held.browser.get(&format!("{}{to}", s.base)).await;
    let form = first_form(&page.body);
    let sessions = browser_sessions(s, &format!("@{user}:{SERVER_NAME}")).await;
    let wrong = submit(
        &mut held.browser,
        s,
        &form,
        &[("username", user), ("password", "wrong-pw")],
    )
    .await;
    let unknown = submit(
        &mut held.browser,
        s,
        &form,
        &[("username", "nobody"), ("password", "wrong-pw")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(
        error_of(&wrong.body),
        error_of(&unknown.body),
        "a wrong password looks like no user"
    );
    assert_eq!(
        browser_sessions(s, &format!("@{user}:{SERVER_NAME}")).await,
        sessions
    );
}

/// The error message a page shows.
fn error_of(body: &str) -> Option<String> {
    body.split("id=\"error\"").nth(1).map(|m| {
        m.split('>')
            .nth(1)
            .unwrap_or("")
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    })
}

/// The login page of a new authorization in `browser`, posted with the
/// right password: the page that answers.
async fn log_in_at_the_page(
    browser: &mut Browser,
    s: &TestServer,
    user: &str,
    password: &str,
) -> crate::sso::Landing {
    let (_, challenge) = pkce("the-login-page");
    let url = authorize_url(s, APP, &scope("PAGEDEV"), &challenge);
    let landing = browser.get(&url).await;
    let to = landing.location.unwrap();
    assert!(to.starts_with("/oauth2/login?grant="), "{to}");
    let page = browser.get(&format!("{}{to}", s.base)).await;
    submit(
        browser,
        s,
        &first_form(&page.body),
        &[("username", user), ("password", password)],
    )
    .await
}

async fn oauth_refuses_a_locked_user_until_unlocked(b: Backend) {
    let db = Arc::new(fresh_database(b).await);
    let s = oauth_builder(db.clone()).start().await;
    let hs = introspector(db).await;
    let olga = format!("@olga:{SERVER_NAME}");
    s.register("olga", "olga-pw").await;
    let mut held = hold(&s, "olga", "olga-pw", "OLGA").await;
    assert_eq!(introspect(&hs, &held.access).await["active"], true);

    manage(&s, "lock-user", "olga");

    s.sync_changes().await;
    assert_locked(&whoami_of(&s, &held.access).await);
    assert_oauth_refuses(&s, &hs, &mut held, "olga").await;
    // The right password at the login page: a page saying so, no session.
    let sessions = browser_sessions(&s, &olga).await;
    let refused = log_in_at_the_page(&mut Browser::new(), &s, "olga", "olga-pw").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(refused.location.is_none());
    assert_eq!(
        error_of(&refused.body).as_deref(),
        Some("User account has been locked"),
        "{}",
        refused.body
    );
    assert_eq!(browser_sessions(&s, &olga).await, sessions);

    manage(&s, "unlock-user", "olga");

    s.sync_changes().await;
    // Nothing was deleted: the token works, refreshes, introspects; the
    // browser is signed in again. The device grant refused while locked
    // stays refused (its approval is not brought back).
    assert_invalid_grant(&poll(&s, APP, &held.approved_device).await);
    assert_ok(&whoami_of(&s, &held.access).await);
    assert_eq!(introspect(&hs, &held.access).await["active"], true);
    let refreshed = refresh_grant(&s, &held.refresh).await;
    assert_ok(&refreshed);
    assert_ok(&whoami_of(&s, refreshed.1["access_token"].as_str().unwrap()).await);
    let (_, challenge) = pkce("after-the-unlock");
    let url = authorize_url(&s, APP, &scope("UNLOCKDEV"), &challenge);
    let landing = held.browser.get(&url).await;
    let to = landing.location.unwrap();
    assert!(to.starts_with("/oauth2/consent?grant="), "{to}");
    let (_, tokens) = log_in(&s, "olga", "olga-pw", "OLGADEV9").await;
    assert_ok(&whoami_of(&s, tokens["access_token"].as_str().unwrap()).await);
}

async fn oauth_refuses_a_deactivated_user(b: Backend) {
    let db = Arc::new(fresh_database(b).await);
    let s = oauth_builder(db.clone()).start().await;
    let hs = introspector(db).await;
    s.register("dora", "dora-pw").await;
    let mut held = hold(&s, "dora", "dora-pw", "DORA").await;

    manage(&s, "deactivate-user", "dora");

    s.sync_changes().await;
    assert_error(&whoami_of(&s, &held.access).await, 401, "M_UNKNOWN_TOKEN");
    assert_oauth_refuses(&s, &hs, &mut held, "dora").await;
    let refused = log_in_at_the_page(&mut Browser::new(), &s, "dora", "dora-pw").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.location.is_none());
    assert_eq!(
        error_of(&refused.body).as_deref(),
        Some("This account has been deactivated"),
        "{}",
        refused.body
    );
    assert_eq!(
        browser_sessions(&s, &format!("@dora:{SERVER_NAME}")).await,
        0,
        "deactivation ended the browser's session"
    );
}

async fn sso_refuses_locked_and_deactivated_users(b: Backend) {
    let idp = OidcProvider::start();
    let s = upstream_server(b, &idp, "").await;
    let alice = format!("@alice:{SERVER_NAME}");
    // alice's first SSO login creates and links her account; the login
    // token of a second one is kept for later.
    let first = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    assert_eq!(first.status, StatusCode::FOUND, "{}", first.body);
    let early = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    let early_login_token = login_token_of(&early.location.unwrap());

    manage(&s, "lock-user", "alice");

    s.sync_changes().await;
    // Legacy SSO: an error page, no login token.
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    assert_eq!(landing.status, StatusCode::UNAUTHORIZED, "{}", landing.body);
    assert!(landing.location.is_none());
    assert!(
        landing.body.contains("User account has been locked"),
        "{}",
        landing.body
    );
    assert_locked(&token_login(&s, &early_login_token).await);
    // The OAuth 2.0 login page's provider button: an error page, the
    // browser not signed in.
    let mut browser = Browser::new();
    let (body, _) = login_page(&mut browser, &s, "SSODEV1").await;
    let landing = through_provider(&mut browser, &s, &body, "alice").await;
    assert_eq!(landing.status, StatusCode::UNAUTHORIZED, "{}", landing.body);
    assert!(landing.location.is_none());
    assert!(landing.body.contains("User account has been locked"));
    assert_eq!(browser_sessions(&s, &alice).await, 0);

    manage(&s, "unlock-user", "alice");

    s.sync_changes().await;
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    assert_eq!(landing.status, StatusCode::FOUND, "{}", landing.body);
    let logged_in = token_login(&s, &login_token_of(&landing.location.unwrap())).await;
    assert_ok(&logged_in);
    let mut browser = Browser::new();
    let (body, _) = login_page(&mut browser, &s, "SSODEV2").await;
    let landing = through_provider(&mut browser, &s, &body, "alice").await;
    let to = landing.location.expect("on to consent");
    assert!(to.starts_with("/oauth2/consent?grant="), "{to}");

    manage(&s, "deactivate-user", "alice");

    s.sync_changes().await;
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    assert_eq!(landing.status, StatusCode::FORBIDDEN, "{}", landing.body);
    assert!(landing.location.is_none());
    assert!(landing.body.contains("deactivated"), "{}", landing.body);
    let mut browser = Browser::new();
    let (body, _) = login_page(&mut browser, &s, "SSODEV3").await;
    let landing = through_provider(&mut browser, &s, &body, "alice").await;
    assert_eq!(landing.status, StatusCode::FORBIDDEN, "{}", landing.body);
    assert!(landing.location.is_none());
    let token = logged_in.1["access_token"].as_str().unwrap();
    assert_error(&whoami_of(&s, token).await, 401, "M_UNKNOWN_TOKEN");
}
