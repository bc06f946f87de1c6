//! Refresh tokens of the legacy API (spec v1.3, Synapse's behaviour):
//! `refresh_token: true` on `/login` and `/register`, `POST /refresh`
//! rotation, the retry window of a lost answer, reuse ending the session,
//! lifetimes, logout, and two processes on one database.

use crate::both;
use crate::support::{assert_error, Backend, TestServer, SERVER_NAME};
use mxauth::clock::MockClock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

both!(
    login_and_register_give_a_refresh_token_when_asked,
    refresh_rotates_and_the_old_pair_lasts_one_more_rotation,
    a_lost_answer_can_be_retried_until_the_new_token_is_used,
    reuse_after_the_next_refresh_ends_the_session_too,
    an_expired_access_token_is_a_soft_logout_and_refresh_revives_it,
    refresh_token_lifetime_ends_a_refresh_token,
    session_lifetime_bounds_the_whole_chain,
    logging_out_ends_the_refresh_tokens,
    password_change_and_deactivation_end_the_refresh_tokens,
    refresh_tokens_off_issues_none_and_serves_no_refresh,
    refresh_refuses_what_is_not_a_live_refresh_token,
    refresh_across_processes,
);

const LOGIN: &str = "/_matrix/client/v3/login";
const REFRESH: &str = "/_matrix/client/v3/refresh";
const WHOAMI: &str = "/_matrix/client/v3/account/whoami";
const DEVICES: &str = "/_matrix/client/v3/devices";
const MINUTE: i64 = 60_000;

async fn with_clock(
    b: Backend,
    tweak: impl FnOnce(&mut mxauth::config::Config),
) -> (TestServer, Arc<MockClock>) {
    let clock = crate::support::mock_clock();
    let s = TestServer::builder(b)
        .clock(clock.clone())
        .config(tweak)
        .start()
        .await;
    (s, clock)
}

/// A refreshable password login: (access token, refresh token, device, answer).
async fn login_refreshable(s: &TestServer, user: &str, password: &str) -> Pair {
    let (status, res) = s
        .post(
            LOGIN,
            None,
            json!({
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user},
                "password": password,
                "refresh_token": true,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    Pair::of(&res)
}

#[derive(Debug, Clone)]
struct Pair {
    access: String,
    refresh: String,
    device: String,
    expires_in_ms: Option<i64>,
}

impl Pair {
    fn of(res: &Value) -> Pair {
        Pair {
            access: res["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh: res["refresh_token"]
                .as_str()
                .unwrap_or_else(|| panic!("no refresh_token: {res}"))
                .to_owned(),
            device: res["device_id"].as_str().unwrap_or_default().to_owned(),
            expires_in_ms: res["expires_in_ms"].as_i64(),
        }
    }
}

async fn refresh(s: &TestServer, refresh_token: &str) -> (StatusCode, Value) {
    s.post(REFRESH, None, json!({ "refresh_token": refresh_token }))
        .await
}

/// A refresh that works; the new pair (on the device of `old`).
async fn refreshed(s: &TestServer, old: &Pair) -> Pair {
    let (status, res) = refresh(s, &old.refresh).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let mut new = Pair::of(&res);
    new.device = old.device.clone();
    new
}

#[track_caller]
fn assert_works(got: &(StatusCode, Value)) {
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
}

/// 401 M_UNKNOWN_TOKEN with `soft_logout: false`: log in again.
#[track_caller]
fn assert_logged_out(got: &(StatusCode, Value)) {
    assert_error(got, 401, "M_UNKNOWN_TOKEN");
    assert_eq!(got.1["soft_logout"], false, "{}", got.1);
}

async fn device_ids(s: &TestServer, token: &str) -> Vec<String> {
    let (status, list) = s.get(DEVICES, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap().to_owned())
        .collect()
}

/// `refresh_token: true` gives a `syr_` refresh token and a 5-minute access
/// token (Synapse's default) on a password login and a registration; a
/// login without it gets neither, and a guest never gets one (Synapse).
async fn login_and_register_give_a_refresh_token_when_asked(b: Backend) {
    let (s, _clock) = with_clock(b, |c| c.allow_guest_access = true).await;
    let body = json!({"username": "alice", "password": "alice-pw", "refresh_token": true});
    let (status, challenge) = s
        .post("/_matrix/client/v3/register", None, body.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let mut body = body;
    body["auth"] = json!({"type": "m.login.dummy", "session": challenge["session"]});
    let (status, res) = s.post("/_matrix/client/v3/register", None, body).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let registered = Pair::of(&res);
    assert!(registered.refresh.starts_with("syr_"), "{res}");
    assert_eq!(registered.expires_in_ms, Some(5 * MINUTE), "{res}");
    assert_works(&s.get(WHOAMI, Some(&registered.access)).await);

    let login = login_refreshable(&s, "alice", "alice-pw").await;
    assert!(login.refresh.starts_with("syr_"));
    assert_eq!(login.expires_in_ms, Some(5 * MINUTE));
    assert_ne!(login.refresh, registered.refresh);
    refreshed(&s, &login).await;

    let (status, plain) = s.try_login("alice", "alice-pw").await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    assert!(plain.get("refresh_token").is_none(), "{plain}");
    assert!(plain.get("expires_in_ms").is_none(), "{plain}");

    let (status, guest) = s
        .post(
            "/_matrix/client/v3/register?kind=guest",
            None,
            json!({"refresh_token": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{guest}");
    assert!(guest.get("refresh_token").is_none(), "{guest}");
}

/// A refresh answers a new pair; the old access token keeps working (as
/// in Synapse) until the new refresh token is itself refreshed, and the
/// old refresh token is gone then.
async fn refresh_rotates_and_the_old_pair_lasts_one_more_rotation(b: Backend) {
    let (s, _clock) = with_clock(b, |_| {}).await;
    s.register("alice", "alice-pw").await;
    let first = login_refreshable(&s, "alice", "alice-pw").await;
    let second = refreshed(&s, &first).await;
    assert_eq!(second.expires_in_ms, Some(5 * MINUTE));
    assert!(second.refresh.starts_with("syr_"));
    assert_ne!(second.access, first.access);
    let (status, me) = s.get(WHOAMI, Some(&second.access)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["device_id"], first.device.as_str(), "same device");
    assert_works(&s.get(WHOAMI, Some(&first.access)).await);

    let third = refreshed(&s, &second).await;
    assert_logged_out(&s.get(WHOAMI, Some(&first.access)).await);
    assert_logged_out(&refresh(&s, &first.refresh).await);
    assert_works(&s.get(WHOAMI, Some(&second.access)).await);
    assert_works(&s.get(WHOAMI, Some(&third.access)).await);
    // The v1 path (matrix-js-sdk's fallback) is the same endpoint.
    let (status, res) = s
        .post(
            "/_matrix/client/v1/refresh",
            None,
            json!({ "refresh_token": third.refresh }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
}

/// The answer of a refresh is lost: the old refresh token works again and
/// gives another pair (the unseen one stops working), until the new access
/// token is used. Used after that, it ends the session: the device is
/// logged out.
async fn a_lost_answer_can_be_retried_until_the_new_token_is_used(b: Backend) {
    let (s, _clock) = with_clock(b, |_| {}).await;
    let (_, other, _) = s.register("alice", "alice-pw").await;
    let first = login_refreshable(&s, "alice", "alice-pw").await;
    let lost = refreshed(&s, &first).await;
    let retried = refreshed(&s, &first).await;
    assert_ne!(retried.access, lost.access);
    assert_logged_out(&s.get(WHOAMI, Some(&lost.access)).await);
    assert_logged_out(&refresh(&s, &lost.refresh).await);
    // Again, and again: nothing has used the new pair yet.
    let retried = refreshed(&s, &first).await;
    assert!(device_ids(&s, &other).await.contains(&first.device));

    assert_works(&s.get(WHOAMI, Some(&retried.access)).await);
    let reused = refresh(&s, &first.refresh).await;
    assert_logged_out(&reused);
    assert_eq!(reused.1["error"], "refresh token isn't valid anymore");
    assert!(!device_ids(&s, &other).await.contains(&first.device));
    assert_logged_out(&s.get(WHOAMI, Some(&retried.access)).await);
    assert_logged_out(&refresh(&s, &retried.refresh).await);
}

/// The chain keeps its last two refresh tokens (as Synapse): an older one
/// is unknown (it cannot be told from a forged one, the session goes on);
/// the one the current token replaced, presented once the current access
/// token was used, ends the session.
async fn reuse_after_the_next_refresh_ends_the_session_too(b: Backend) {
    let (s, _clock) = with_clock(b, |_| {}).await;
    let (_, other, _) = s.register("alice", "alice-pw").await;
    let first = login_refreshable(&s, "alice", "alice-pw").await;
    let second = refreshed(&s, &first).await;
    assert_works(&s.get(WHOAMI, Some(&second.access)).await);
    let third = refreshed(&s, &second).await;
    assert_works(&s.get(WHOAMI, Some(&third.access)).await);
    let too_old = refresh(&s, &first.refresh).await;
    assert_logged_out(&too_old);
    assert_eq!(too_old.1["error"], "refresh token does not exist");
    assert!(device_ids(&s, &other).await.contains(&first.device));
    assert_logged_out(&refresh(&s, &second.refresh).await);
    assert!(!device_ids(&s, &other).await.contains(&first.device));
    assert_logged_out(&s.get(WHOAMI, Some(&third.access)).await);
}

/// An access token past its lifetime: 401 M_UNKNOWN_TOKEN with
/// `soft_logout: true`; a refresh (sent with the expired token, as
/// matrix-js-sdk does) gives a working one.
async fn an_expired_access_token_is_a_soft_logout_and_refresh_revives_it(b: Backend) {
    let (s, clock) = with_clock(b, |_| {}).await;
    s.register("alice", "alice-pw").await;
    let first = login_refreshable(&s, "alice", "alice-pw").await;
    clock.advance_ms(5 * MINUTE - 1);
    assert_works(&s.get(WHOAMI, Some(&first.access)).await);
    clock.advance_ms(1);
    let expired = s.get(WHOAMI, Some(&first.access)).await;
    assert_error(&expired, 401, "M_UNKNOWN_TOKEN");
    assert_eq!(expired.1["soft_logout"], true, "{}", expired.1);
    let (status, res) = s
        .request(
            Method::POST,
            REFRESH,
            Some(&first.access),
            Some(&json!({ "refresh_token": first.refresh })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_works(&s.get(WHOAMI, res["access_token"].as_str()).await);
}

/// `refresh_token_lifetime`: a refresh token unused for that long is
/// refused with Synapse's 403; each refresh starts a new one.
async fn refresh_token_lifetime_ends_a_refresh_token(b: Backend) {
    let (s, clock) = with_clock(b, |c| {
        c.sessions.refresh_token_lifetime_ms = Some(60 * MINUTE as u64);
    })
    .await;
    s.register("alice", "alice-pw").await;
    let first = login_refreshable(&s, "alice", "alice-pw").await;
    clock.advance_ms(59 * MINUTE);
    let second = refreshed(&s, &first).await;
    clock.advance_ms(59 * MINUTE);
    let third = refreshed(&s, &second).await;
    clock.advance_ms(60 * MINUTE);
    let expired = refresh(&s, &third.refresh).await;
    assert_error(&expired, 403, "M_FORBIDDEN");
    assert_eq!(expired.1["error"], "The supplied refresh token has expired");
}

/// `session_lifetime` bounds a refreshable session from its login on: the
/// access tokens of later refreshes end with it, and then no refresh works.
async fn session_lifetime_bounds_the_whole_chain(b: Backend) {
    let (s, clock) = with_clock(b, |c| {
        c.sessions.session_lifetime_ms = Some(60 * MINUTE as u64);
    })
    .await;
    s.register("alice", "alice-pw").await;
    let mut pair = login_refreshable(&s, "alice", "alice-pw").await;
    for _ in 0..11 {
        clock.advance_ms(5 * MINUTE);
        pair = refreshed(&s, &pair).await;
    }
    // 55 minutes in: five minutes left.
    assert_eq!(pair.expires_in_ms, Some(5 * MINUTE));
    clock.advance_ms(3 * MINUTE);
    pair = refreshed(&s, &pair).await;
    assert_eq!(
        pair.expires_in_ms,
        Some(2 * MINUTE),
        "bounded by the session"
    );
    clock.advance_ms(2 * MINUTE);
    let expired = s.get(WHOAMI, Some(&pair.access)).await;
    assert_eq!(expired.1["soft_logout"], true, "{}", expired.1);
    assert_error(&refresh(&s, &pair.refresh).await, 403, "M_FORBIDDEN");
}

/// `/logout` and `/logout/all` end the refresh tokens with the devices.
async fn logging_out_ends_the_refresh_tokens(b: Backend) {
    let (s, _clock) = with_clock(b, |_| {}).await;
    s.register("alice", "alice-pw").await;
    let one = login_refreshable(&s, "alice", "alice-pw").await;
    let (status, res) = s
        .post("/_matrix/client/v3/logout", Some(&one.access), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_logged_out(&refresh(&s, &one.refresh).await);

    let two = login_refreshable(&s, "alice", "alice-pw").await;
    let three = login_refreshable(&s, "alice", "alice-pw").await;
    let three = refreshed(&s, &three).await;
    let (status, res) = s
        .post(
            "/_matrix/client/v3/logout/all",
            Some(&two.access),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_logged_out(&refresh(&s, &two.refresh).await);
    assert_logged_out(&refresh(&s, &three.refresh).await);
}

/// A password change that logs the other devices out ends their refresh
/// tokens, not the requester's; deactivation ends them all.
async fn password_change_and_deactivation_end_the_refresh_tokens(b: Backend) {
    let (s, _clock) = with_clock(b, |_| {}).await;
    s.register("alice", "alice-pw").await;
    let keeper = login_refreshable(&s, "alice", "alice-pw").await;
    let other = login_refreshable(&s, "alice", "alice-pw").await;
    let (status, challenge) = s
        .post(
            "/_matrix/client/v3/account/password",
            Some(&keeper.access),
            json!({"new_password": "alice-pw-2"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let (status, res) = s
        .post(
            "/_matrix/client/v3/account/password",
            Some(&keeper.access),
            json!({
                "new_password": "alice-pw-2",
                "logout_devices": true,
                "auth": TestServer::password_auth(&challenge["session"], "alice", "alice-pw"),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_logged_out(&refresh(&s, &other.refresh).await);
    let keeper = refreshed(&s, &keeper).await;

    let (status, challenge) = s
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&keeper.access),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let (status, res) = s
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&keeper.access),
            json!({"auth": TestServer::password_auth(&challenge["session"], "alice", "alice-pw-2")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_logged_out(&refresh(&s, &keeper.refresh).await);
}

/// `refreshable_access_token_lifetime: null`: as in Synapse, no refresh
/// token is issued and `/refresh` is not served.
async fn refresh_tokens_off_issues_none_and_serves_no_refresh(b: Backend) {
    let (s, _clock) = with_clock(b, |c| {
        c.sessions.refreshable_access_token_lifetime_ms = None;
    })
    .await;
    s.register("alice", "alice-pw").await;
    let (status, res) = s
        .post(
            LOGIN,
            None,
            json!({
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": "alice"},
                "password": "alice-pw",
                "refresh_token": true,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert!(res.get("refresh_token").is_none(), "{res}");
    assert!(res.get("expires_in_ms").is_none(), "{res}");
    let off = refresh(&s, "syr_whatever").await;
    assert_error(&off, 404, "M_UNRECOGNIZED");
}

/// What is no live refresh token of the legacy API: 401 M_UNKNOWN_TOKEN,
/// no soft logout; a body without one: 400.
async fn refresh_refuses_what_is_not_a_live_refresh_token(b: Backend) {
    let (s, _clock) = with_clock(b, |_| {}).await;
    s.register("alice", "alice-pw").await;
    let pair = login_refreshable(&s, "alice", "alice-pw").await;
    for bogus in [
        pair.access.as_str(),
        "syr_nope",
        &format!("{}x", pair.refresh),
        "",
    ] {
        let got = refresh(&s, bogus).await;
        assert_logged_out(&got);
        assert_eq!(got.1["error"], "refresh token does not exist", "{bogus}");
    }
    assert_error(
        &s.post(REFRESH, None, json!({})).await,
        400,
        "M_MISSING_PARAM",
    );
    assert_error(
        &s.post(REFRESH, None, json!({"refresh_token": 5})).await,
        400,
        "M_INVALID_PARAM",
    );
    // The real one still works: nothing above spent it.
    refreshed(&s, &pair).await;
    let user = format!("@alice:{SERVER_NAME}");
    let (_, me) = s.get(WHOAMI, Some(&pair.access)).await;
    assert_eq!(me["user_id"], user.as_str());
}

/// Two processes on one database: a refresh on one, its new access token
/// used on it; the old refresh token on the other ends the session there
/// and everywhere.
async fn refresh_across_processes(b: Backend) {
    let clock = crate::support::mock_clock();
    let one = TestServer::builder(b).clock(clock.clone()).start().await;
    let two = TestServer::builder(one.db.clone())
        .clock(clock.clone())
        .start()
        .await;
    let (_, other, _) = one.register("alice", "alice-pw").await;
    let first = login_refreshable(&one, "alice", "alice-pw").await;
    let second = refreshed(&one, &first).await;
    // The retry window holds across processes...
    let second_again = refreshed(&two, &first).await;
    assert_logged_out(&one.get(WHOAMI, Some(&second.access)).await);
    // ...until the new access token is used on either.
    assert_works(&one.get(WHOAMI, Some(&second_again.access)).await);
    assert_logged_out(&refresh(&two, &first.refresh).await);
    for s in [&one, &two] {
        assert!(!device_ids(s, &other).await.contains(&first.device));
        assert_logged_out(&s.get(WHOAMI, Some(&second_again.access)).await);
    }
}
