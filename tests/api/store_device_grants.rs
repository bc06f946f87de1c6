//! The device authorization grants of the store on both backends: user
//! codes unique, found while pending and alive, decided once, exchanged
//! once (of two racing polls one wins), swept after they expire.

use crate::both;
use crate::support::{fresh_database, Backend, FreshDatabase};
use mxauth::store::{connect, device_grant_status as status, DeviceGrant, Store};
use std::sync::Arc;

both!(
    user_codes_are_unique_and_found_while_pending,
    a_grant_is_decided_once_and_exchanged_once,
    polls_are_recorded_and_expired_grants_swept,
);

const NOW: i64 = 1_700_000_000_000;

async fn open(b: Backend) -> (Arc<dyn Store>, FreshDatabase) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.expect("store connects");
    (store, db)
}

fn grant(id: &str, user_code: &str, code_hash: u8) -> DeviceGrant {
    DeviceGrant {
        device_grant_id: id.to_owned(),
        device_code_hash: vec![code_hash; 32],
        user_code: user_code.to_owned(),
        client_id: "client".into(),
        scope: "urn:matrix:client:device:D".into(),
        created_ts: NOW,
        expires_ts: NOW + 600_000,
        interval_ms: 5_000,
        last_polled_ts: None,
        browser_binding_hash: None,
        status: status::PENDING.to_owned(),
        user_id: None,
        auth_ts: None,
        device_id: None,
    }
}

async fn user_codes_are_unique_and_found_while_pending(b: Backend) {
    let (store, _db) = open(b).await;
    let g = grant("d1", "BCDFGHJK", 1);
    assert!(store.device_grants().create_device_grant(&g).await.unwrap());
    // The same user code (or device code) again: nothing stored.
    assert!(!store
        .device_grants()
        .create_device_grant(&grant("d2", "BCDFGHJK", 2))
        .await
        .unwrap());
    assert!(!store
        .device_grants()
        .create_device_grant(&grant("d3", "ZXWVTSRQ", 1))
        .await
        .unwrap());
    let found = store
        .device_grants()
        .find_pending_by_user_code("BCDFGHJK", NOW)
        .await
        .unwrap();
    assert_eq!(found, Some(g.clone()));
    assert_eq!(
        store
            .device_grants()
            .find_pending_by_user_code("BCDFGHJK", NOW + 600_000)
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store
            .device_grants()
            .get_by_device_code(&[1; 32])
            .await
            .unwrap()
            .map(|g| g.device_grant_id),
        Some("d1".into())
    );
    store
        .device_grants()
        .bind_device_grant("d1", &[7; 32])
        .await
        .unwrap();
    let bound = store
        .device_grants()
        .get_device_grant("d1", NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bound.browser_binding_hash, Some(vec![7; 32]));
}

async fn a_grant_is_decided_once_and_exchanged_once(b: Backend) {
    let (store, _db) = open(b).await;
    store
        .device_grants()
        .create_device_grant(&grant("d1", "BCDFGHJK", 1))
        .await
        .unwrap();
    // Not approved: nothing to exchange.
    assert!(!store
        .device_grants()
        .exchange_device_grant("d1", NOW)
        .await
        .unwrap());
    assert!(store
        .device_grants()
        .decide_device_grant("d1", status::APPROVED, "@u:x", NOW - 5, NOW)
        .await
        .unwrap());
    assert!(!store
        .device_grants()
        .decide_device_grant("d1", status::DENIED, "@u:x", NOW - 5, NOW)
        .await
        .unwrap());
    assert_eq!(
        store
            .device_grants()
            .find_pending_by_user_code("BCDFGHJK", NOW)
            .await
            .unwrap(),
        None,
        "a decided code is no longer found"
    );
    // Two racing polls: one wins.
    let (a, b) = tokio::join!(
        async { store.device_grants().exchange_device_grant("d1", NOW).await },
        async { store.device_grants().exchange_device_grant("d1", NOW).await },
    );
    assert!(a.unwrap() ^ b.unwrap());
    // An exchange whose session failed is approved again, once more.
    store
        .device_grants()
        .reopen_device_grant("d1")
        .await
        .unwrap();
    assert!(store
        .device_grants()
        .exchange_device_grant("d1", NOW)
        .await
        .unwrap());
    store
        .device_grants()
        .set_device_grant_device("d1", "DEV")
        .await
        .unwrap();
    let done = store
        .device_grants()
        .get_by_device_code(&[1; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, status::EXCHANGED);
    assert_eq!(done.user_id.as_deref(), Some("@u:x"));
    assert_eq!(done.auth_ts, Some(NOW - 5));
    assert_eq!(done.device_id.as_deref(), Some("DEV"));
    // An expired approval cannot be exchanged.
    store
        .device_grants()
        .create_device_grant(&grant("d2", "ZXWVTSRQ", 2))
        .await
        .unwrap();
    store
        .device_grants()
        .decide_device_grant("d2", status::APPROVED, "@u:x", NOW, NOW)
        .await
        .unwrap();
    assert!(!store
        .device_grants()
        .exchange_device_grant("d2", NOW + 600_000)
        .await
        .unwrap());
}

async fn polls_are_recorded_and_expired_grants_swept(b: Backend) {
    let (store, _db) = open(b).await;
    store
        .device_grants()
        .create_device_grant(&grant("d1", "BCDFGHJK", 1))
        .await
        .unwrap();
    store
        .device_grants()
        .record_poll("d1", NOW + 10, 10_000)
        .await
        .unwrap();
    let polled = store
        .device_grants()
        .get_by_device_code(&[1; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(polled.last_polled_ts, Some(NOW + 10));
    assert_eq!(polled.interval_ms, 10_000);
    assert_eq!(
        store
            .device_grants()
            .sweep_device_grants(NOW + 600_000 - 1)
            .await
            .unwrap(),
        0,
        "not expired yet"
    );
    assert_eq!(
        store
            .device_grants()
            .sweep_device_grants(NOW + 600_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .device_grants()
            .get_by_device_code(&[1; 32])
            .await
            .unwrap(),
        None
    );
}
