//! The refresh-token repository and the writes around it, on both backends.

use crate::both;
use crate::support::{fresh_database, Backend, FreshDatabase};
use mxauth::auth::writes::{self, RefreshRefusal, Rotation};
use mxauth::store::{connect, NewAccessToken, NewRefreshToken, NewUser, Store};
use std::sync::Arc;

both!(
    a_refresh_token_is_written_with_its_access_token,
    rotation_keeps_the_last_two_of_a_chain,
    first_use_is_recorded_once,
    refresh_tokens_go_with_their_device,
    a_devices_tokens_end_and_the_device_stays,
    logging_out_all_but_one_token_keeps_its_refresh_token,
    rotation_refuses_a_deactivated_user_and_writes_nothing,
);

const NOW: i64 = 1_700_000_000_000;
const USER: &str = "@a:x";

async fn open(b: Backend) -> (Arc<dyn Store>, FreshDatabase) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.expect("store connects");
    for user in [USER, "@b:x"] {
        let new = NewUser {
            user_id: user.into(),
            created_ts: NOW,
            ..NewUser::default()
        };
        assert!(store.users().create_user(&new).await.unwrap());
        store
            .devices()
            .ensure_device(user, "D1", None, None)
            .await
            .unwrap();
    }
    (store, db)
}

fn access(n: u8, user: &str, device: &str) -> NewAccessToken {
    NewAccessToken {
        token_hash: vec![n; 32],
        user_id: user.into(),
        device_id: Some(device.into()),
        created_ts: NOW,
        valid_until_ts: Some(NOW + 300_000),
        ..NewAccessToken::default()
    }
}

fn refresh(n: u8, user: &str, device: &str) -> NewRefreshToken {
    NewRefreshToken {
        token_hash: vec![n; 32],
        user_id: user.into(),
        device_id: device.into(),
        created_ts: NOW,
        access_token_lifetime_ms: Some(300_000),
        ..NewRefreshToken::default()
    }
}

/// Writes refresh token `n` with access token `n + 100`; their ids.
async fn pair(s: &dyn Store, n: u8, user: &str, device: &str) -> (i64, i64) {
    s.refresh_tokens()
        .create_refresh_token(&refresh(n, user, device), &access(n + 100, user, device))
        .await
        .unwrap()
}

async fn a_refresh_token_is_written_with_its_access_token(b: Backend) {
    let (s, _db) = open(b).await;
    let mut r = refresh(1, USER, "D1");
    r.oauth_client_id = Some("client".into());
    r.scope = Some("openid urn:matrix:client:api:*".into());
    r.expires_ts = Some(NOW + 10);
    r.session_until_ts = Some(NOW + 20);
    r.refresh_token_lifetime_ms = Some(10);
    let mut a = access(101, USER, "D1");
    a.oauth_client_id = r.oauth_client_id.clone();
    a.scope = r.scope.clone();
    let (rid, aid) = s
        .refresh_tokens()
        .create_refresh_token(&r, &a)
        .await
        .unwrap();
    let got = s
        .refresh_tokens()
        .get_refresh_token(&[1; 32])
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(got.id, rid);
    assert_eq!(got.access_token_id, Some(aid));
    assert_eq!((got.user_id.as_str(), got.device_id.as_str()), (USER, "D1"));
    assert_eq!(got.oauth_client_id.as_deref(), Some("client"));
    assert_eq!(got.scope, r.scope);
    assert_eq!(
        (got.expires_ts, got.session_until_ts),
        (Some(NOW + 10), Some(NOW + 20))
    );
    assert_eq!(
        (got.access_token_lifetime_ms, got.refresh_token_lifetime_ms),
        (Some(300_000), Some(10))
    );
    assert_eq!(got.next, None);
    let locked = s
        .refresh_tokens()
        .lock_refresh_token(&[1; 32])
        .await
        .unwrap();
    assert_eq!(locked.as_ref(), Some(&got));
    // The access token names its refresh token, client and scope.
    let owner = s
        .access_tokens()
        .get_token_owner(&[101; 32])
        .await
        .unwrap()
        .expect("access token");
    assert_eq!(owner.refresh_token_id, Some(rid));
    assert_eq!(owner.first_used_ts, None);
    assert_eq!(owner.oauth_client_id.as_deref(), Some("client"));
    assert_eq!(owner.scope, r.scope);
    assert!(s
        .refresh_tokens()
        .get_refresh_token(&[9; 32])
        .await
        .unwrap()
        .is_none());
}

async fn rotation_keeps_the_last_two_of_a_chain(b: Backend) {
    let (s, _db) = open(b).await;
    let (r1, _) = pair(&*s, 1, USER, "D1").await;
    let (r2, _) = pair(&*s, 2, USER, "D1").await;
    s.refresh_tokens()
        .rotate_refresh_token(r1, r2)
        .await
        .unwrap();
    let one = s
        .refresh_tokens()
        .get_refresh_token(&[1; 32])
        .await
        .unwrap()
        .unwrap();
    let next = one.next.expect("replaced");
    assert_eq!(
        (next.id, next.refreshed, next.access_token_used),
        (r2, false, false)
    );
    // A retry of 1 replaces 2 (and its access token) by 3.
    let (r3, a3) = pair(&*s, 3, USER, "D1").await;
    s.refresh_tokens()
        .rotate_refresh_token(r1, r3)
        .await
        .unwrap();
    assert!(s
        .refresh_tokens()
        .get_refresh_token(&[2; 32])
        .await
        .unwrap()
        .is_none());
    assert!(s
        .access_tokens()
        .get_token_owner(&[102; 32])
        .await
        .unwrap()
        .is_none());
    s.access_tokens()
        .set_token_first_used(a3, NOW)
        .await
        .unwrap();
    let one = s
        .refresh_tokens()
        .get_refresh_token(&[1; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        one.next.map(|n| (n.id, n.access_token_used)),
        Some((r3, true))
    );
    // 3 replaced by 4: 1 and its access token go, 3 and its access token stay.
    let (r4, _) = pair(&*s, 4, USER, "D1").await;
    s.refresh_tokens()
        .rotate_refresh_token(r3, r4)
        .await
        .unwrap();
    assert!(s
        .refresh_tokens()
        .get_refresh_token(&[1; 32])
        .await
        .unwrap()
        .is_none());
    assert!(s
        .access_tokens()
        .get_token_owner(&[101; 32])
        .await
        .unwrap()
        .is_none());
    assert!(s
        .access_tokens()
        .get_token_owner(&[103; 32])
        .await
        .unwrap()
        .is_some());
    let three = s
        .refresh_tokens()
        .get_refresh_token(&[3; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(three.next.map(|n| n.id), Some(r4));
}

async fn first_use_is_recorded_once(b: Backend) {
    let (s, _db) = open(b).await;
    let (_, aid) = pair(&*s, 1, USER, "D1").await;
    s.access_tokens()
        .set_token_first_used(aid, NOW + 1)
        .await
        .unwrap();
    s.access_tokens()
        .set_token_first_used(aid, NOW + 2)
        .await
        .unwrap();
    let owner = s
        .access_tokens()
        .get_token_owner(&[101; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.first_used_ts, Some(NOW + 1));
}

async fn refresh_tokens_go_with_their_device(b: Backend) {
    let (s, _db) = open(b).await;
    s.devices()
        .ensure_device(USER, "D2", None, None)
        .await
        .unwrap();
    pair(&*s, 1, USER, "D1").await;
    pair(&*s, 2, USER, "D2").await;
    pair(&*s, 3, "@b:x", "D1").await;
    s.devices()
        .delete_devices(USER, &["D1".to_owned()])
        .await
        .unwrap();
    let exists = |n: u8| {
        let s = s.clone();
        async move {
            s.refresh_tokens()
                .get_refresh_token(&[n; 32])
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(!exists(1).await);
    assert!(exists(2).await && exists(3).await, "other devices' stay");
    s.devices()
        .delete_all_devices_except(USER, None, None)
        .await
        .unwrap();
    assert!(!exists(2).await);
    writes::deactivate_user(&*s, "@b:x").await.unwrap();
    assert!(!exists(3).await);
}

async fn logging_out_all_but_one_token_keeps_its_refresh_token(b: Backend) {
    let (s, _db) = open(b).await;
    s.devices()
        .ensure_device(USER, "D2", None, None)
        .await
        .unwrap();
    let (_, keep) = pair(&*s, 1, USER, "D1").await;
    pair(&*s, 2, USER, "D1").await;
    pair(&*s, 3, USER, "D2").await;
    writes::change_password(&*s, USER, "new hash", true, Some("D1"), Some(keep))
        .await
        .unwrap();
    let exists = |n: u8| {
        let s = s.clone();
        async move {
            s.refresh_tokens()
                .get_refresh_token(&[n; 32])
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(exists(1).await, "the requester's");
    assert!(!exists(2).await && !exists(3).await);
}

async fn rotation_refuses_a_deactivated_user_and_writes_nothing(b: Backend) {
    let (s, _db) = open(b).await;
    let (r1, _) = pair(&*s, 1, USER, "D1").await;
    // The check's refusal writes nothing.
    let refused = writes::rotate_refresh_token(&*s, &[1; 32], |_| Err(RefreshRefusal::Expired))
        .await
        .unwrap();
    assert_eq!(refused, Rotation::Refused(RefreshRefusal::Expired));
    let rotated = writes::rotate_refresh_token(&*s, &[1; 32], |found| {
        assert_eq!(found.id, r1);
        Ok((access(102, USER, "D1"), refresh(2, USER, "D1")))
    })
    .await
    .unwrap();
    let Rotation::Rotated(aid) = rotated else {
        panic!("{rotated:?}")
    };
    let owner = s
        .access_tokens()
        .get_token_owner(&[102; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.token_id, aid);
    assert!(owner.refresh_token_id.is_some());
    // Unknown token; then a deactivated user's (its tokens are gone anyway).
    let unknown = writes::rotate_refresh_token(&*s, &[7; 32], |_| panic!("not asked"))
        .await
        .unwrap();
    assert_eq!(unknown, Rotation::Refused(RefreshRefusal::Unknown));
    s.users().set_deactivated(USER).await.unwrap();
    let gone = writes::rotate_refresh_token(&*s, &[2; 32], |_| panic!("not asked"))
        .await
        .unwrap();
    assert_eq!(gone, Rotation::Refused(RefreshRefusal::Unknown));
}

/// A new session for a device ID in use: the device's access and refresh
/// tokens go, the device and other devices' tokens stay.
async fn a_devices_tokens_end_and_the_device_stays(b: Backend) {
    let (s, _db) = open(b).await;
    s.devices()
        .ensure_device(USER, "D1", None, None)
        .await
        .unwrap();
    s.devices()
        .ensure_device(USER, "D2", None, None)
        .await
        .unwrap();
    pair(&*s, 1, USER, "D1").await;
    pair(&*s, 2, USER, "D2").await;
    let gone = s.devices().delete_device_tokens(USER, "D1").await.unwrap();
    assert_eq!(gone, 2, "one refresh token and its access token");
    assert!(s
        .refresh_tokens()
        .get_refresh_token(&[1; 32])
        .await
        .unwrap()
        .is_none());
    assert!(s
        .access_tokens()
        .get_token_owner(&[101; 32])
        .await
        .unwrap()
        .is_none());
    assert!(s
        .refresh_tokens()
        .get_refresh_token(&[2; 32])
        .await
        .unwrap()
        .is_some());
    assert!(s
        .access_tokens()
        .get_token_owner(&[102; 32])
        .await
        .unwrap()
        .is_some());
    assert!(
        s.devices().get_device(USER, "D1").await.unwrap().is_some(),
        "the device stays"
    );
}
