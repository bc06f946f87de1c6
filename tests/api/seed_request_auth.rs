//! Seed 000: Synapse's request-auth suite (`tests/api/test_auth.py`, the
//! version that added `track_puppeted_user_ips`), ported test by test.
//! Synapse's tests call `Auth` with a mocked store; here each one is a
//! black-box test of the real server on a fresh database, on SQLite and
//! PostgreSQL, with the same intent and the same name.
//!
//! | Synapse test | mxauth test | notes |
//! |---|---|---|
//! | test_get_user_by_req_user_valid_token | [`test_get_user_by_req_user_valid_token`] | token in `?access_token=` as in the seed |
//! | test_get_user_by_req_user_bad_token | [`test_get_user_by_req_user_bad_token`] | 401 M_UNKNOWN_TOKEN |
//! | test_get_user_by_req_user_missing_token | [`test_get_user_by_req_user_missing_token`] | 401 M_MISSING_TOKEN |
//! | test_get_user_by_req_appservice_valid_token | [`test_get_user_by_req_appservice_valid_token`] | acts as the sender |
//! | test_get_user_by_req_appservice_valid_token_good_ip | [`test_get_user_by_req_appservice_valid_token_good_ip`] | the request comes from 127.0.0.2, inside `ip_range_whitelist` |
//! | test_get_user_by_req_appservice_valid_token_bad_ip | [`test_get_user_by_req_appservice_valid_token_bad_ip`] | from 127.0.0.1, outside it: 401 M_UNKNOWN_TOKEN |
//! | test_get_user_by_req_appservice_bad_token | [`test_get_user_by_req_appservice_bad_token`] | |
//! | test_get_user_by_req_appservice_missing_token | [`test_get_user_by_req_appservice_missing_token`] | |
//! | test_get_user_by_req_appservice_valid_token_valid_user_id | [`test_get_user_by_req_appservice_valid_token_valid_user_id`] | the user must exist: the service registers it first |
//! | test_get_user_by_req_appservice_valid_token_bad_user_id | [`test_get_user_by_req_appservice_valid_token_bad_user_id`] | 403 M_FORBIDDEN |
//! | test_get_user_by_req_appservice_valid_token_valid_device_id | [`test_get_user_by_req_appservice_valid_token_valid_device_id`] | `org.matrix.msc3202.device_id`, always on in mxauth |
//! | test_get_user_by_req_appservice_valid_token_invalid_device_id | [`test_get_user_by_req_appservice_valid_token_invalid_device_id`] | **spec changed**: 400 M_UNKNOWN_DEVICE (MSC3202 as merged), not the seed's M_EXCLUSIVE |
//! | test_get_user_by_req__puppeted_token__not_tracking_puppeted_mau | [`test_get_user_by_req__puppeted_token__not_tracking_puppeted_mau`] | "one insert_client_ip" = only the admin has client IPs and counts as active |
//! | test_get_user_by_req__puppeted_token__tracking_puppeted_mau | [`test_get_user_by_req__puppeted_token__tracking_puppeted_mau`] | "two inserts" = both the admin and the puppeted user |
//! | test_get_user_from_macaroon | [`test_get_user_from_macaroon`] | a legacy macaroon access token is looked up in the database like any token (as if imported from Synapse); its device comes from there |
//! | test_get_guest_user_from_macaroon | [`test_get_guest_user_from_macaroon`] | guest macaroons verified with `macaroon_secret_key`; the user must be a guest |
//! | test_blocking_mau | [`test_blocking_mau`] | the count drops when a stale entry is reaped (at start) |
//! | test_blocking_mau__depending_on_user_type | [`test_blocking_mau__depending_on_user_type`] | support users pass, bots and others do not |
//! | test_blocking_mau__appservice_requester_allowed_when_not_tracking_ips | [`test_blocking_mau__appservice_requester_allowed_when_not_tracking_ips`] | the service registers and logs in its users |
//! | test_blocking_mau__appservice_requester_disallowed_when_tracking_ips | [`test_blocking_mau__appservice_requester_disallowed_when_tracking_ips`] | |
//! | test_reserved_threepid | [`test_reserved_threepid`] | registration with a validated (real SMTP) email |
//! | test_hs_disabled | [`test_hs_disabled`] | `limit_type: hs_disabled`, `admin_contact` |
//! | test_hs_disabled_no_server_notices_user | [`test_hs_disabled_no_server_notices_user`] | |
//! | test_server_notices_mxid_special_cased | [`test_server_notices_mxid_special_cased`] | |
#![allow(non_snake_case)]

use crate::both;
use crate::smtp::SmtpSink;
use crate::support::{
    assert_error, db_exec, db_i64, db_wait_for, Backend, TestServer, SERVER_NAME,
};
use base64::Engine;
use hmac::{Hmac, Mac};
use mxauth::config::{AppServiceConfig, Config, Namespace, Secret};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

both!(
    test_get_user_by_req_user_valid_token,
    test_get_user_by_req_user_bad_token,
    test_get_user_by_req_user_missing_token,
    test_get_user_by_req_appservice_valid_token,
    test_get_user_by_req_appservice_valid_token_good_ip,
    test_get_user_by_req_appservice_valid_token_bad_ip,
    test_get_user_by_req_appservice_bad_token,
    test_get_user_by_req_appservice_missing_token,
    test_get_user_by_req_appservice_valid_token_valid_user_id,
    test_get_user_by_req_appservice_valid_token_bad_user_id,
    test_get_user_by_req_appservice_valid_token_valid_device_id,
    test_get_user_by_req_appservice_valid_token_invalid_device_id,
    test_get_user_by_req__puppeted_token__not_tracking_puppeted_mau,
    test_get_user_by_req__puppeted_token__tracking_puppeted_mau,
    test_get_user_from_macaroon,
    test_get_guest_user_from_macaroon,
    test_blocking_mau,
    test_blocking_mau__depending_on_user_type,
    test_blocking_mau__appservice_requester_allowed_when_not_tracking_ips,
    test_blocking_mau__appservice_requester_disallowed_when_tracking_ips,
    test_reserved_threepid,
    test_hs_disabled,
    test_hs_disabled_no_server_notices_user,
    test_server_notices_mxid_special_cased,
);

const WHOAMI: &str = "/_matrix/client/v3/account/whoami";
const REGISTER: &str = "/_matrix/client/v3/register";
const AS_TOKEN: &str = "foobar";
const ADMIN_CONTACT: &str = "mailto:admin@test.example";
const MACAROON_KEY: &str = "this is the macaroon secret key";

fn app_service(whitelist: &[&str]) -> AppServiceConfig {
    AppServiceConfig {
        id: "1234".into(),
        url: None,
        as_token: Secret::new(AS_TOKEN),
        hs_token: Secret::new("hs token"),
        sender_localpart: "foo".into(),
        users: vec![Namespace {
            regex: format!("@_doppel.*:{}", SERVER_NAME.replace('.', "\\.")),
            exclusive: true,
        }],
        rate_limited: false,
        ip_range_whitelist: whitelist.iter().map(|n| n.parse().unwrap()).collect(),
    }
}

fn uid(localpart: &str) -> String {
    format!("@{localpart}:{SERVER_NAME}")
}

// ----- request authentication -----

async fn test_get_user_by_req_user_valid_token(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (user, token, _) = s.register("foo", "a password").await;
    let (status, me) = s.get(&format!("{WHOAMI}?access_token={token}"), None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], user);
}

async fn test_get_user_by_req_user_bad_token(b: Backend) {
    let s = TestServer::builder(b).start().await;
    s.register("foo", "a password").await;
    assert_error(
        &s.get(&format!("{WHOAMI}?access_token=_test_token_"), None)
            .await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    // A well-formed token that was never issued is just as unknown.
    let (_, token, _) = s.register("bar", "a password").await;
    let (_, logout) = s
        .post("/_matrix/client/v3/logout", Some(&token), json!({}))
        .await;
    assert_eq!(logout, json!({}));
    assert_error(&s.get(WHOAMI, Some(&token)).await, 401, "M_UNKNOWN_TOKEN");
}

async fn test_get_user_by_req_user_missing_token(b: Backend) {
    let s = TestServer::builder(b).start().await;
    s.register("foo", "a password").await;
    assert_error(&s.get(WHOAMI, None).await, 401, "M_MISSING_TOKEN");
}

async fn test_get_user_by_req_appservice_valid_token(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.app_services = vec![app_service(&[])])
        .start()
        .await;
    let (status, me) = s.get(WHOAMI, Some(AS_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], uid("foo"));
}

/// A client bound to `source` (a second loopback address).
fn client_from(source: &str) -> reqwest::Client {
    crate::support::http_client_builder()
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn whoami_from(s: &TestServer, source: &str) -> (StatusCode, Value) {
    let res = client_from(source)
        .get(format!("{}{WHOAMI}", s.base))
        .bearer_auth(AS_TOKEN)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn test_get_user_by_req_appservice_valid_token_good_ip(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.app_services = vec![app_service(&["127.0.0.2/32"])])
        .start()
        .await;
    let (status, me) = whoami_from(&s, "127.0.0.2").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], uid("foo"));
}

async fn test_get_user_by_req_appservice_valid_token_bad_ip(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.app_services = vec![app_service(&["127.0.0.2/32"])])
        .start()
        .await;
    assert_error(&whoami_from(&s, "127.0.0.1").await, 401, "M_UNKNOWN_TOKEN");
    // X-Forwarded-For is not believed without a trusted proxy.
    let res = client_from("127.0.0.1")
        .get(format!("{}{WHOAMI}", s.base))
        .bearer_auth(AS_TOKEN)
        .header("x-forwarded-for", "127.0.0.2")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn test_get_user_by_req_appservice_bad_token(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.app_services = vec![app_service(&[])])
        .start()
        .await;
    assert_error(
        &s.get(WHOAMI, Some("not the as_token")).await,
        401,
        "M_UNKNOWN_TOKEN",
    );
}

async fn test_get_user_by_req_appservice_missing_token(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.app_services = vec![app_service(&[])])
        .start()
        .await;
    assert_error(
        &s.get(&format!("{WHOAMI}?user_id={}", uid("foo")), None)
            .await,
        401,
        "M_MISSING_TOKEN",
    );
}

/// The service registers `localpart` (inside its namespace) and logs it
/// in; returns the device of that login.
async fn as_register(s: &TestServer, localpart: &str) -> (StatusCode, Value) {
    s.post(
        REGISTER,
        Some(AS_TOKEN),
        json!({"type": "m.login.application_service", "username": localpart}),
    )
    .await
}

async fn test_get_user_by_req_appservice_valid_token_valid_user_id(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.app_services = vec![app_service(&[])])
        .start()
        .await;
    let (status, r) = as_register(&s, "_doppelganger").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let (status, me) = s
        .get(
            &format!("{WHOAMI}?user_id={}", uid("_doppelganger")),
            Some(AS_TOKEN),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], uid("_doppelganger"));
}

async fn test_get_user_by_req_appservice_valid_token_bad_user_id(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.app_services = vec![app_service(&[])])
        .start()
        .await;
    s.register("doppelganger", "a password").await;
    assert_error(
        &s.get(
            &format!("{WHOAMI}?user_id={}", uid("doppelganger")),
            Some(AS_TOKEN),
        )
        .await,
        403,
        "M_FORBIDDEN",
    );
}

async fn test_get_user_by_req_appservice_valid_token_valid_device_id(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.app_services = vec![app_service(&[])])
        .start()
        .await;
    let (status, r) = as_register(&s, "_doppelganger").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let device = r["device_id"].as_str().unwrap();
    let (status, me) = s
        .get(
            &format!(
                "{WHOAMI}?user_id={}&org.matrix.msc3202.device_id={device}",
                uid("_doppelganger")
            ),
            Some(AS_TOKEN),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], uid("_doppelganger"));
    assert_eq!(me["device_id"], device);
}

async fn test_get_user_by_req_appservice_valid_token_invalid_device_id(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.app_services = vec![app_service(&[])])
        .start()
        .await;
    as_register(&s, "_doppelganger").await;
    assert_error(
        &s.get(
            &format!(
                "{WHOAMI}?user_id={}&org.matrix.msc3202.device_id=NOT_A_REAL_DEVICE_ID",
                uid("_doppelganger")
            ),
            Some(AS_TOKEN),
        )
        .await,
        400,
        "M_UNKNOWN_DEVICE",
    );
}

// ----- puppet tokens: whose client IPs and activity are recorded -----

/// An admin, a user, and a puppet token of the admin acting as the user;
/// the puppet token has made one request. Returns (admin token, admin,
/// user).
async fn puppet_request(s: &TestServer) -> (String, String, String) {
    let admin_token = s.register_admin("admin").await;
    let (baldrick, _, _) = s.register("baldrick", "a password").await;
    let (status, r) = s
        .post(
            &format!("/_synapse/admin/v1/users/{baldrick}/login"),
            Some(&admin_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let puppet = r["access_token"].as_str().unwrap();
    let (status, me) = s.get_as(WHOAMI, puppet, "puppet-client/1.0").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], baldrick);
    (admin_token, uid("admin"), baldrick)
}

/// The user agents whois shows for `user`, sorted.
async fn agents(s: &TestServer, admin_token: &str, user: &str) -> Vec<String> {
    let (status, w) = s
        .get(
            &format!("/_synapse/admin/v1/whois/{user}"),
            Some(admin_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    let mut out: Vec<String> = w["devices"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|d| d["sessions"].as_array().unwrap().clone())
        .flat_map(|s| s["connections"].as_array().unwrap().clone())
        .map(|c| c["user_agent"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

fn mau_of(user: &str) -> String {
    format!("SELECT COUNT(*) FROM monthly_active_users WHERE user_id = '{user}'")
}

async fn test_get_user_by_req__puppeted_token__not_tracking_puppeted_mau(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.usage.mau_stats_only = true)
        .start()
        .await;
    let (admin_token, admin, baldrick) = puppet_request(&s).await;
    // Only the admin (the token's owner) was recorded.
    assert!(agents(&s, &admin_token, &admin)
        .await
        .contains(&"puppet-client/1.0".to_owned()));
    assert!(agents(&s, &admin_token, &baldrick).await.is_empty());
    assert_eq!(db_wait_for(&s.db, &mau_of(&admin), 1).await, 1);
    assert_eq!(db_i64(&s.db, &mau_of(&baldrick)).await, 0);
}

async fn test_get_user_by_req__puppeted_token__tracking_puppeted_mau(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            c.usage.mau_stats_only = true;
            c.usage.track_puppeted_user_ips = true;
        })
        .start()
        .await;
    let (admin_token, admin, baldrick) = puppet_request(&s).await;
    assert!(agents(&s, &admin_token, &admin)
        .await
        .contains(&"puppet-client/1.0".to_owned()));
    assert_eq!(
        agents(&s, &admin_token, &baldrick).await,
        vec!["puppet-client/1.0".to_owned()]
    );
    assert_eq!(db_wait_for(&s.db, &mau_of(&admin), 1).await, 1);
    assert_eq!(db_wait_for(&s.db, &mau_of(&baldrick), 1).await, 1);
}

// ----- macaroons -----

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A macaroon as pymacaroons serialises it (V1), signed with `key`.
fn mint_macaroon(key: &str, caveats: &[&str]) -> String {
    fn packet(out: &mut Vec<u8>, key: &str, value: &[u8]) {
        let len = 4 + key.len() + 1 + value.len() + 1;
        out.extend_from_slice(format!("{len:04x}{key} ").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    let mut sig = hmac(&hmac(b"macaroons-key-generator", key.as_bytes()), b"key");
    let mut out = Vec::new();
    packet(&mut out, "location", SERVER_NAME.as_bytes());
    packet(&mut out, "identifier", b"key");
    for c in caveats {
        packet(&mut out, "cid", c.as_bytes());
        sig = hmac(&sig, c.as_bytes());
    }
    packet(&mut out, "signature", &sig);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
}

async fn test_get_user_from_macaroon(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.macaroon_secret_key = Some(Secret::new(MACAROON_KEY)))
        .start()
        .await;
    let (baldrick, _, device) = s.register("baldrick", "a password").await;
    let user_caveat = format!("user_id = {baldrick}");
    let token = mint_macaroon(
        MACAROON_KEY,
        &["gen = 1", "type = access", user_caveat.as_str()],
    );
    // Not a guest token, and not (yet) in the database.
    assert_error(&s.get(WHOAMI, Some(&token)).await, 401, "M_UNKNOWN_TOKEN");
    // Imported from Synapse's access_tokens, as a hash like every token.
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    let blob = match b {
        Backend::Sqlite => format!("X'{hash}'"),
        Backend::Postgres => format!("decode('{hash}', 'hex')"),
    };
    db_exec(
        &s.db,
        &format!(
            "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) \
             VALUES ({blob}, '{baldrick}', '{device}', 0)"
        ),
    )
    .await;
    let (status, me) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], baldrick);
    // The device comes from the database.
    assert_eq!(me["device_id"], device);
}

async fn test_get_guest_user_from_macaroon(b: Backend) {
    let configure = |c: &mut Config| {
        c.allow_guest_access = true;
        c.macaroon_secret_key = Some(Secret::new(MACAROON_KEY));
    };
    let s = TestServer::builder(b).config(configure).start().await;
    let (status, g) = s
        .post(&format!("{REGISTER}?kind=guest"), None, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{g}");
    let guest = g["user_id"].as_str().unwrap().to_owned();
    let user_caveat = format!("user_id = {guest}");
    let caveats = [
        "gen = 1",
        "type = access",
        user_caveat.as_str(),
        "nonce = 0123456789abcdef",
        "guest = true",
    ];
    let token = mint_macaroon(MACAROON_KEY, &caveats);
    let (status, me) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], guest);
    assert_eq!(me["is_guest"], true);
    // Guests stay guests: other endpoints refuse them.
    assert_error(
        &s.get("/_matrix/client/v3/account/3pid", Some(&token)).await,
        403,
        "M_GUEST_ACCESS_FORBIDDEN",
    );

    // Another key, an expired one, or a non-guest user: refused.
    let forged = mint_macaroon("another key", &caveats);
    assert_error(&s.get(WHOAMI, Some(&forged)).await, 401, "M_UNKNOWN_TOKEN");
    let mut expired = caveats.to_vec();
    expired.push("time < 1000");
    let expired = mint_macaroon(MACAROON_KEY, &expired);
    assert_error(&s.get(WHOAMI, Some(&expired)).await, 401, "M_UNKNOWN_TOKEN");
    let (user, _, _) = s.register("regular", "a password").await;
    let regular_caveat = format!("user_id = {user}");
    let for_regular = mint_macaroon(
        MACAROON_KEY,
        &[
            "gen = 1",
            "type = access",
            regular_caveat.as_str(),
            "guest = true",
        ],
    );
    assert_error(
        &s.get(WHOAMI, Some(&for_regular)).await,
        401,
        "M_UNKNOWN_TOKEN",
    );

    // Without macaroon_secret_key, no macaroon is believed.
    let db = s.db.clone();
    s.stop().await;
    let s = TestServer::builder(db)
        .config(|c| c.allow_guest_access = true)
        .start()
        .await;
    assert_error(&s.get(WHOAMI, Some(&token)).await, 401, "M_UNKNOWN_TOKEN");
}

// ----- auth blocking: monthly active users -----

fn mau_limit(c: &mut Config, max: u64) {
    c.usage.limit_usage_by_mau = true;
    c.usage.max_mau_value = max;
    c.admin_contact = Some(ADMIN_CONTACT.into());
}

const MAU_COUNT: &str = "SELECT COUNT(*) FROM monthly_active_users";

/// Registers `localpart` and makes one authenticated request, so that the
/// user counts as monthly-active; waits until it does.
async fn make_active(s: &TestServer, localpart: &str) -> String {
    let (user, token, _) = s.register(localpart, "a password").await;
    let (status, _) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(db_wait_for(&s.db, &mau_of(&user), 1).await, 1);
    user
}

#[track_caller]
fn assert_mau_exceeded(got: &(StatusCode, Value)) {
    assert_error(got, 403, "M_RESOURCE_LIMIT_EXCEEDED");
    assert_eq!(got.1["limit_type"], "monthly_active_user", "{}", got.1);
    assert_eq!(got.1["admin_contact"], ADMIN_CONTACT, "{}", got.1);
}

async fn test_blocking_mau(b: Backend) {
    // Without the limit, nothing is blocked however many are active.
    let s = TestServer::builder(b)
        .config(|c| {
            c.usage.mau_stats_only = true;
            c.usage.max_mau_value = 1;
        })
        .start()
        .await;
    make_active(&s, "first").await;
    make_active(&s, "second").await;
    s.register("third", "a password").await;
    let (status, _) = s.try_login("third", "a password").await;
    assert_eq!(status, StatusCode::OK);

    // With it, at the limit, a user not yet active is refused: at login
    // and at registration.
    let db = s.db.clone();
    s.stop().await;
    let s = TestServer::builder(db.clone())
        .config(|c| mau_limit(c, 2))
        .start()
        .await;
    assert_mau_exceeded(&s.try_login("third", "a password").await);
    let body = json!({"username": "fourth", "password": "a password"});
    let (_, challenge) = s.post(REGISTER, None, body.clone()).await;
    let mut body = body;
    body["auth"] = json!({"type": "m.login.dummy", "session": challenge["session"]});
    assert_mau_exceeded(&s.post(REGISTER, None, body).await);
    // Active users still log in.
    let (status, _) = s.try_login("first", "a password").await;
    assert_eq!(status, StatusCode::OK);

    // Once an entry is 30 days old it is reaped (at start, then hourly),
    // and there is room again.
    db_exec(
        &db,
        &format!(
            "UPDATE monthly_active_users SET last_seen_ts = 0 WHERE user_id = '{}'",
            uid("second")
        ),
    )
    .await;
    s.stop().await;
    let s = TestServer::builder(db.clone())
        .config(|c| mau_limit(c, 2))
        .start()
        .await;
    assert_eq!(db_wait_for(&db, MAU_COUNT, 1).await, 1);
    let (status, r) = s.try_login("third", "a password").await;
    assert_eq!(status, StatusCode::OK, "{r}");
}

async fn test_blocking_mau__depending_on_user_type(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| mau_limit(c, 1))
        .start()
        .await;
    make_active(&s, "active").await;
    let support = s
        .register_typed("helpdesk", "a password", Some("support"))
        .await;
    let bot = s.register_typed("robot", "a password", Some("bot")).await;
    let regular = s.register_typed("regular", "a password", None).await;
    // Support users allowed.
    let (status, r) = s.try_login(&support, "a password").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    // Bots not allowed.
    assert_mau_exceeded(&s.try_login(&bot, "a password").await);
    // Real users not allowed.
    assert_mau_exceeded(&s.try_login(&regular, "a password").await);
    // And support users never count as active.
    let token = r["access_token"].as_str().unwrap();
    s.get(WHOAMI, Some(token)).await;
    // Not time passing but a task: a request's monthly-active entry is
    // written by a task of its own that signals nothing, so the test gives
    // it a moment before checking that it wrote nothing.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(db_i64(&s.db, &mau_of(&support)).await, 0);
}

async fn test_blocking_mau__appservice_requester_allowed_when_not_tracking_ips(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            mau_limit(c, 1);
            c.app_services = vec![app_service(&[])];
        })
        .start()
        .await;
    make_active(&s, "active").await;
    let (status, r) = as_register(&s, "_doppelganger").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let (status, r) = s
        .post(
            "/_matrix/client/v3/login",
            Some(AS_TOKEN),
            json!({"type": "m.login.application_service", "identifier": {"type": "m.id.user", "user": "_doppelganger"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
}

async fn test_blocking_mau__appservice_requester_disallowed_when_tracking_ips(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            mau_limit(c, 1);
            c.app_services = vec![app_service(&[])];
            c.usage.track_appservice_user_ips = true;
        })
        .start()
        .await;
    make_active(&s, "active").await;
    assert_mau_exceeded(&as_register(&s, "_doppelganger").await);
}

async fn test_reserved_threepid(b: Backend) {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let s = TestServer::builder(b)
        .config(|c| {
            crate::email::email_config(c, port);
            mau_limit(c, 1);
            c.usage.mau_limit_reserved_threepids =
                vec![("email".into(), "reserved@server.com".into())];
        })
        .start()
        .await;
    make_active(&s, "active").await;
    // No address: refused.
    let body = json!({"username": "nobody", "password": "a password"});
    let (_, challenge) = s.post(REGISTER, None, body.clone()).await;
    let mut body = body;
    body["auth"] = json!({"type": "m.login.dummy", "session": challenge["session"]});
    assert_mau_exceeded(&s.post(REGISTER, None, body).await);
    // An address that is not reserved: refused.
    let got =
        crate::email::try_register_with_email(&s, &sink, "unreserved", "unreserved@server.com")
            .await;
    assert_mau_exceeded(&got);
    // The reserved one: allowed, and counted as active at once.
    let (status, r) =
        crate::email::try_register_with_email(&s, &sink, "reserved", "Reserved@server.com").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(db_i64(&s.db, &mau_of(&uid("reserved"))).await, 1);
}

// ----- auth blocking: hs_disabled -----

async fn hs_disabled_server(b: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
    let s = TestServer::builder(b).start().await;
    let db = s.db.clone();
    s.register("user", "a password").await;
    s.register_typed("notices", "a password", None).await;
    s.stop().await;
    TestServer::builder(db)
        .config(|c| {
            c.hs_disabled = true;
            c.hs_disabled_message = "Reason for being disabled".into();
            c.admin_contact = Some(ADMIN_CONTACT.into());
            tweak(c);
        })
        .start()
        .await
}

#[track_caller]
fn assert_hs_disabled(got: &(StatusCode, Value)) {
    assert_error(got, 403, "M_RESOURCE_LIMIT_EXCEEDED");
    assert_eq!(got.1["limit_type"], "hs_disabled", "{}", got.1);
    assert_eq!(got.1["admin_contact"], ADMIN_CONTACT, "{}", got.1);
    assert_eq!(got.1["error"], "Reason for being disabled", "{}", got.1);
}

async fn test_hs_disabled(b: Backend) {
    let s = hs_disabled_server(b, |c| c.server_notices_localpart = Some("notices".into())).await;
    assert_hs_disabled(&s.try_login("user", "a password").await);
    assert_hs_disabled(
        &s.post(
            REGISTER,
            None,
            json!({"username": "new", "password": "a password"}),
        )
        .await,
    );
}

async fn test_hs_disabled_no_server_notices_user(b: Backend) {
    let s = hs_disabled_server(b, |c| c.server_notices_localpart = None).await;
    assert_hs_disabled(&s.try_login("user", "a password").await);
    // Without a server-notices user, "notices" is nobody special.
    assert_hs_disabled(&s.try_login("notices", "a password").await);
}

async fn test_server_notices_mxid_special_cased(b: Backend) {
    let s = hs_disabled_server(b, |c| c.server_notices_localpart = Some("notices".into())).await;
    let (status, r) = s.try_login("notices", "a password").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["user_id"], uid("notices"));
}
