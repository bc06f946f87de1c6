//! The OAuth 2.0 grant tables of the store on both backends: authorization
//! requests (approved once, a code exchanged once, kept after to recognise
//! a reuse, swept long after) and browser sessions (expiring, per user).

use crate::both;
use crate::support::{fresh_database, Backend, FreshDatabase};
use mxauth::store::{connect, BrowserSession, NewUser, OAuthGrant, Store};
use std::sync::Arc;

both!(
    a_grant_is_approved_once_and_its_code_exchanged_once,
    grants_expire_and_are_swept_after_a_while,
    browser_sessions_expire_and_end_per_user,
);

const NOW: i64 = 1_700_000_000_000;

async fn open(b: Backend) -> (Arc<dyn Store>, FreshDatabase) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.expect("store connects");
    (store, db)
}

fn grant(id: &str, expires_ts: i64) -> OAuthGrant {
    OAuthGrant {
        grant_id: id.to_owned(),
        client_id: "client".into(),
        redirect_uri: "https://app.example/cb".into(),
        response_mode: "query".into(),
        scope: "urn:matrix:client:device:D".into(),
        state: Some("s".into()),
        nonce: None,
        code_challenge: "c".repeat(43),
        prompt: None,
        browser_binding_hash: vec![1; 32],
        created_ts: NOW,
        expires_ts,
        user_id: None,
        auth_ts: None,
        code_hash: None,
        exchanged_ts: None,
        device_id: None,
    }
}

async fn a_grant_is_approved_once_and_its_code_exchanged_once(b: Backend) {
    let (store, _db) = open(b).await;
    let g = grant("g1", NOW + 1000);
    store.oauth_grants().create_grant(&g).await.unwrap();
    assert_eq!(
        store.oauth_grants().get_grant("g1", NOW).await.unwrap(),
        Some(g.clone())
    );
    store
        .oauth_grants()
        .rebind_grant("g1", &[2; 32])
        .await
        .unwrap();
    let got = store
        .oauth_grants()
        .get_grant("g1", NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.browser_binding_hash, vec![2; 32]);

    let code = vec![9; 32];
    assert!(store
        .oauth_grants()
        .approve_grant("g1", "@a:hs", NOW, &code, NOW + 500)
        .await
        .unwrap());
    assert!(
        !store
            .oauth_grants()
            .approve_grant("g1", "@b:hs", NOW, &[8; 32], NOW + 500)
            .await
            .unwrap(),
        "once"
    );
    let exchanged = store
        .oauth_grants()
        .exchange_code(&code, NOW + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exchanged.user_id.as_deref(), Some("@a:hs"));
    assert_eq!(exchanged.exchanged_ts, Some(NOW + 1));
    assert_eq!(
        store
            .oauth_grants()
            .exchange_code(&code, NOW + 2)
            .await
            .unwrap(),
        None,
        "once"
    );
    store
        .oauth_grants()
        .set_grant_device("g1", "DEV")
        .await
        .unwrap();
    let used = store
        .oauth_grants()
        .get_grant_by_code(&code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (used.device_id.as_deref(), used.exchanged_ts),
        (Some("DEV"), Some(NOW + 1))
    );

    // A code past its expiry cannot be exchanged.
    store
        .oauth_grants()
        .create_grant(&grant("g2", NOW + 1000))
        .await
        .unwrap();
    store
        .oauth_grants()
        .approve_grant("g2", "@a:hs", NOW, &[7; 32], NOW + 10)
        .await
        .unwrap();
    assert_eq!(
        store
            .oauth_grants()
            .exchange_code(&[7; 32], NOW + 10)
            .await
            .unwrap(),
        None
    );
    store.oauth_grants().delete_grant("g2").await.unwrap();
    assert_eq!(
        store
            .oauth_grants()
            .get_grant_by_code(&[7; 32])
            .await
            .unwrap(),
        None
    );
}

async fn grants_expire_and_are_swept_after_a_while(b: Backend) {
    let (store, _db) = open(b).await;
    store
        .oauth_grants()
        .create_grant(&grant("old", NOW - 10))
        .await
        .unwrap();
    store
        .oauth_grants()
        .create_grant(&grant("recent", NOW - 1))
        .await
        .unwrap();
    store
        .oauth_grants()
        .create_grant(&grant("live", NOW + 10))
        .await
        .unwrap();
    assert_eq!(
        store.oauth_grants().get_grant("recent", NOW).await.unwrap(),
        None,
        "expired"
    );
    let swept = store
        .oauth_grants()
        .sweep_oauth_grants(NOW - 5, NOW)
        .await
        .unwrap();
    assert_eq!(swept, 1);
    assert!(store
        .oauth_grants()
        .get_grant("live", NOW)
        .await
        .unwrap()
        .is_some());
}

async fn browser_sessions_expire_and_end_per_user(b: Backend) {
    let (store, _db) = open(b).await;
    for id in ["@a:hs", "@b:hs"] {
        store
            .users()
            .create_user(&NewUser {
                user_id: id.into(),
                created_ts: NOW,
                ..NewUser::default()
            })
            .await
            .unwrap();
    }
    let session = |user: &str, expires_ts| BrowserSession {
        user_id: user.into(),
        authenticated_ts: NOW,
        expires_ts,
    };
    let repo = || store.oauth_grants();
    repo()
        .create_browser_session(&[1; 32], &session("@a:hs", NOW + 100))
        .await
        .unwrap();
    repo()
        .create_browser_session(&[2; 32], &session("@a:hs", NOW + 100))
        .await
        .unwrap();
    repo()
        .create_browser_session(&[3; 32], &session("@b:hs", NOW + 5))
        .await
        .unwrap();
    assert_eq!(
        repo().get_browser_session(&[1; 32], NOW).await.unwrap(),
        Some(session("@a:hs", NOW + 100))
    );
    assert_eq!(
        repo().get_browser_session(&[3; 32], NOW + 5).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        repo().delete_user_browser_sessions("@a:hs").await.unwrap(),
        2
    );
    assert_eq!(
        repo().get_browser_session(&[2; 32], NOW).await.unwrap(),
        None
    );
    assert_eq!(repo().sweep_oauth_grants(NOW, NOW + 5).await.unwrap(), 1);
    repo()
        .create_browser_session(&[4; 32], &session("@b:hs", NOW + 100))
        .await
        .unwrap();
    repo().delete_browser_session(&[4; 32]).await.unwrap();
    assert_eq!(
        repo().get_browser_session(&[4; 32], NOW).await.unwrap(),
        None
    );
}
