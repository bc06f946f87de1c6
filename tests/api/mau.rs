//! Monthly active users beyond the seed's cases: trials, reserved users
//! counted at start and kept by the reaper.

use crate::both;
use crate::support::{
    assert_error, db_exec, db_i64, db_wait_for, Backend, TestServer, SERVER_NAME,
};
use mxauth::config::Config;
use reqwest::StatusCode;
use serde_json::json;

both!(
    trial_users_are_neither_blocked_nor_counted,
    reserved_users_count_from_the_start_and_stay,
    accounts_made_at_first_login_are_registrations,
);

fn limit_one(c: &mut Config) {
    c.usage.limit_usage_by_mau = true;
    c.usage.max_mau_value = 1;
}

async fn trial_users_are_neither_blocked_nor_counted(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            limit_one(c);
            c.usage.mau_trial_days = 1;
        })
        .start()
        .await;
    // Somebody fills the only place.
    db_exec(
        &s.db,
        &format!(
            "INSERT INTO monthly_active_users (user_id, last_seen_ts) VALUES ('@someone:test.example', {})",
            now_ms()
        ),
    )
    .await;
    let newbie = s.register_typed("newbie", "a password", None).await;
    let veteran = s.register_typed("veteran", "a password", None).await;
    db_exec(
        &s.db,
        &format!("UPDATE users SET created_ts = 0 WHERE name = '{veteran}'"),
    )
    .await;
    // A day-old trial: logs in, and is not counted for its requests.
    let (status, r) = s.try_login(&newbie, "a password").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let token = r["access_token"].as_str().unwrap();
    s.get("/_matrix/client/v3/account/whoami", Some(token))
        .await;
    // Not time passing but a task: a request's monthly-active entry is
    // written by a task of its own that signals nothing, so the test gives
    // it a moment before checking that it wrote nothing.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let count = "SELECT COUNT(*) FROM monthly_active_users";
    assert_eq!(db_i64(&s.db, count).await, 1);
    // Past the trial, the limit applies.
    let got = s.try_login(&veteran, "a password").await;
    assert_error(&got, 403, "M_RESOURCE_LIMIT_EXCEEDED");
    assert_eq!(got.1["limit_type"], "monthly_active_user");
}

async fn reserved_users_count_from_the_start_and_stay(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let boss = s.register_typed("boss", "a password", None).await;
    db_exec(
        &s.db,
        &format!(
            "INSERT INTO user_threepids (user_id, medium, address, validated_ts, added_ts) \
             VALUES ('{boss}', 'email', 'boss@example.org', 1, 1)"
        ),
    )
    .await;
    let db = s.db.clone();
    s.stop().await;
    let reserve = |c: &mut Config| {
        limit_one(c);
        c.usage.mau_limit_reserved_threepids = vec![("email".into(), "Boss@Example.org".into())];
    };
    let of_boss = format!("SELECT COUNT(*) FROM monthly_active_users WHERE user_id = '{boss}'");
    let s = TestServer::builder(db.clone())
        .config(reserve)
        .start()
        .await;
    assert_eq!(db_wait_for(&db, &of_boss, 1).await, 1, "counted at start");
    // The place is the boss's: others are refused, the boss is not.
    s.register_typed("worker", "a password", None).await;
    let got = s
        .try_login(&format!("@worker:{SERVER_NAME}"), "a password")
        .await;
    assert_error(&got, 403, "M_RESOURCE_LIMIT_EXCEEDED");
    let (status, _) = s.try_login(&boss, "a password").await;
    assert_eq!(status, StatusCode::OK);
    // A stale reserved entry is counted afresh at the next start, before
    // the reaper runs (that the reaper itself keeps reserved users is
    // store_usage::monthly_active_users_count_and_reap).
    db_exec(&db, "UPDATE monthly_active_users SET last_seen_ts = 0").await;
    s.stop().await;
    let s = TestServer::builder(db.clone())
        .config(reserve)
        .start()
        .await;
    let fresh = format!("{of_boss} AND last_seen_ts > 0");
    assert_eq!(db_wait_for(&db, &fresh, 1).await, 1);
    s.stop().await;
}

fn now_ms() -> i64 {
    crate::support::wall_clock_ms()
}

/// A provider's first login creates an account: blocked like a
/// registration, before the account exists.
async fn accounts_made_at_first_login_are_registrations(b: Backend) {
    use jsonwebtoken::{encode, EncodingKey, Header};
    let s = TestServer::builder(b)
        .config(|c| {
            limit_one(c);
            c.jwt = Some(crate::jwt::hs256_jwt("jwt secret"));
        })
        .start()
        .await;
    let jwt = encode(
        &Header::default(),
        &json!({"sub": "newcomer", "exp": now_ms() / 1000 + 600}),
        &EncodingKey::from_secret(b"jwt secret"),
    )
    .unwrap();
    let login_jwt = || {
        s.post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "org.matrix.login.jwt", "token": jwt}),
        )
    };
    db_exec(
        &s.db,
        &format!(
            "INSERT INTO monthly_active_users (user_id, last_seen_ts) VALUES ('@someone:test.example', {})",
            now_ms()
        ),
    )
    .await;
    let got = login_jwt().await;
    assert_error(&got, 403, "M_RESOURCE_LIMIT_EXCEEDED");
    assert_eq!(got.1["limit_type"], "monthly_active_user");
    let users = "SELECT COUNT(*) FROM users WHERE name = '@newcomer:test.example'";
    assert_eq!(db_i64(&s.db, users).await, 0, "no account was made");
    // With room again, the same token logs in and creates the account.
    db_exec(&s.db, "DELETE FROM monthly_active_users").await;
    let (status, r) = login_jwt().await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(db_i64(&s.db, users).await, 1);
}
