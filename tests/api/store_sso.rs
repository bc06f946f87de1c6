//! The SSO tables of the store on both backends: logins in progress,
//! external-identity links, login tokens.

use crate::both;
use crate::support::{fresh_database, Backend, FreshDatabase};
use mxauth::auth::writes;
use mxauth::store::{
    connect, NewLoginToken, NewUser, PendingRegistration, SsoSession, Store, UserThreepid,
};
use std::sync::Arc;

both!(
    sso_sessions_are_taken_once_and_expire,
    external_ids_link_once,
    create_user_with_link_is_all_or_nothing,
    login_tokens_are_single_use_and_expire,
    pending_registrations_expire,
);

const NOW: i64 = 1_700_000_000_000;

async fn open(b: Backend) -> (Arc<dyn Store>, FreshDatabase) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.expect("store connects");
    (store, db)
}

fn user(id: &str) -> NewUser {
    NewUser {
        user_id: id.to_owned(),
        created_ts: NOW,
        ..NewUser::default()
    }
}

fn session(state: &str, expires_ts: i64) -> SsoSession {
    SsoSession {
        state: state.to_owned(),
        idp_id: "oidc-x".into(),
        nonce: "n".into(),
        code_verifier: Some("v".into()),
        client_redirect_url: "https://client.example/".into(),
        browser_binding_hash: vec![1, 2, 3],
        ui_auth_session_id: None,
        oauth_grant_id: Some("grant-1".into()),
        created_ts: NOW,
        expires_ts,
    }
}

async fn sso_sessions_are_taken_once_and_expire(b: Backend) {
    let (store, _db) = open(b).await;
    store
        .sso()
        .create_sso_session(&session("s1", NOW + 1000))
        .await
        .unwrap();
    store
        .sso()
        .create_sso_session(&session("s2", NOW + 1000))
        .await
        .unwrap();
    let got = store.sso().take_sso_session("s1", NOW).await.unwrap();
    assert_eq!(got, Some(session("s1", NOW + 1000)));
    assert_eq!(store.sso().take_sso_session("s1", NOW).await.unwrap(), None);
    assert_eq!(
        store.sso().take_sso_session("nope", NOW).await.unwrap(),
        None
    );
    // s2 has expired by now: not returned, and gone.
    assert_eq!(
        store
            .sso()
            .take_sso_session("s2", NOW + 1000)
            .await
            .unwrap(),
        None
    );
    store
        .sso()
        .create_sso_session(&session("s3", NOW + 10))
        .await
        .unwrap();
    // Swept by another take once expired.
    store
        .sso()
        .take_sso_session("other", NOW + 20)
        .await
        .unwrap();
    assert_eq!(store.sso().take_sso_session("s3", NOW).await.unwrap(), None);
}

async fn external_ids_link_once(b: Backend) {
    let (store, _db) = open(b).await;
    store.users().create_user(&user("@a:x")).await.unwrap();
    store.users().create_user(&user("@b:x")).await.unwrap();
    assert_eq!(
        store
            .sso()
            .get_user_by_external_id("oidc-x", "s")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .sso()
            .link_external_id("oidc-x", "s", "@a:x", NOW)
            .await
            .unwrap(),
        "@a:x"
    );
    // A second link of the same identity keeps the first owner.
    assert_eq!(
        store
            .sso()
            .link_external_id("oidc-x", "s", "@b:x", NOW)
            .await
            .unwrap(),
        "@a:x"
    );
    // The same subject at another provider is another identity.
    assert_eq!(
        store
            .sso()
            .link_external_id("oidc-y", "s", "@b:x", NOW)
            .await
            .unwrap(),
        "@b:x"
    );
    assert_eq!(
        store
            .sso()
            .get_user_by_external_id("oidc-x", "s")
            .await
            .unwrap()
            .as_deref(),
        Some("@a:x")
    );
    assert_eq!(
        store.sso().list_external_ids("@b:x").await.unwrap(),
        vec![("oidc-y".to_owned(), "s".to_owned())]
    );
}

async fn create_user_with_link_is_all_or_nothing(b: Backend) {
    let (store, _db) = open(b).await;
    let email = |u: &str, a: &str| UserThreepid {
        user_id: u.into(),
        medium: "email".into(),
        address: a.into(),
        validated_ts: NOW,
        added_ts: NOW,
    };
    let created = writes::create_user_with_link(
        &*store,
        &user("@a:x"),
        "oidc-x",
        "s1",
        Some(&email("@a:x", "a@x")),
    )
    .await
    .unwrap();
    assert_eq!(created, writes::CreatedWithLink::Created);
    assert_eq!(
        store
            .threepids()
            .get_user_by_threepid("email", "a@x")
            .await
            .unwrap()
            .as_deref(),
        Some("@a:x")
    );
    // The user ID is taken: nothing written for s2.
    let taken = writes::create_user_with_link(&*store, &user("@a:x"), "oidc-x", "s2", None)
        .await
        .unwrap();
    assert_eq!(taken, writes::CreatedWithLink::UserTaken);
    assert_eq!(
        store
            .sso()
            .get_user_by_external_id("oidc-x", "s2")
            .await
            .unwrap(),
        None
    );
    // The identity is linked already: no second user.
    let linked = writes::create_user_with_link(&*store, &user("@b:x"), "oidc-x", "s1", None)
        .await
        .unwrap();
    assert_eq!(linked, writes::CreatedWithLink::LinkTaken("@a:x".into()));
    assert!(store.users().get_user("@b:x").await.unwrap().is_none());
    // An address bound to someone else stays theirs; the user is created.
    let created = writes::create_user_with_link(
        &*store,
        &user("@c:x"),
        "oidc-x",
        "s3",
        Some(&email("@c:x", "a@x")),
    )
    .await
    .unwrap();
    assert_eq!(created, writes::CreatedWithLink::Created);
    assert_eq!(
        store
            .threepids()
            .get_user_by_threepid("email", "a@x")
            .await
            .unwrap()
            .as_deref(),
        Some("@a:x")
    );
    // Links go with the user's row.
    assert_eq!(
        store.sso().list_external_ids("@c:x").await.unwrap().len(),
        1
    );
}

async fn login_tokens_are_single_use_and_expire(b: Backend) {
    let (store, _db) = open(b).await;
    store.users().create_user(&user("@a:x")).await.unwrap();
    let token = |hash: u8, expires_ts: i64| NewLoginToken {
        token_hash: vec![hash; 32],
        user_id: "@a:x".into(),
        auth_provider_id: Some("oidc-x".into()),
        created_ts: NOW,
        expires_ts,
    };
    store
        .sso()
        .create_login_token(&token(1, NOW + 100))
        .await
        .unwrap();
    store
        .sso()
        .create_login_token(&token(2, NOW + 100))
        .await
        .unwrap();
    assert_eq!(
        store
            .sso()
            .consume_login_token(&[1; 32], NOW + 99)
            .await
            .unwrap(),
        Some(("@a:x".to_owned(), Some("oidc-x".to_owned())))
    );
    assert_eq!(
        store
            .sso()
            .consume_login_token(&[1; 32], NOW + 99)
            .await
            .unwrap(),
        None
    );
    // Expired at exactly its expiry time.
    assert_eq!(
        store
            .sso()
            .consume_login_token(&[2; 32], NOW + 100)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .sso()
            .consume_login_token(&[3; 32], NOW)
            .await
            .unwrap(),
        None
    );
    // Two processes racing for one token: exactly one wins.
    store
        .sso()
        .create_login_token(&token(4, NOW + 100))
        .await
        .unwrap();
    let (mut first, mut second) = (store.sso(), store.sso());
    let (x, y) = tokio::join!(
        first.consume_login_token(&[4; 32], NOW),
        second.consume_login_token(&[4; 32], NOW)
    );
    assert_eq!(
        [x.unwrap(), y.unwrap()]
            .iter()
            .filter(|r| r.is_some())
            .count(),
        1
    );
}

async fn pending_registrations_expire(b: Backend) {
    let (store, _db) = open(b).await;
    let pending = |id: &str, expires_ts: i64| PendingRegistration {
        session_id: id.into(),
        idp_id: "oidc-x".into(),
        external_id: "s".into(),
        suggested_localpart: Some("alice".into()),
        display_name: None,
        email: Some("a@x".into()),
        client_redirect_url: "https://client.example/".into(),
        browser_binding_hash: vec![9; 32],
        oauth_grant_id: Some("grant-1".into()),
        expires_ts,
    };
    store
        .sso()
        .create_pending_registration(&pending("p1", NOW + 100))
        .await
        .unwrap();
    store
        .sso()
        .create_pending_registration(&pending("p2", NOW + 10))
        .await
        .unwrap();
    assert_eq!(
        store
            .sso()
            .get_pending_registration("p1", NOW)
            .await
            .unwrap(),
        Some(pending("p1", NOW + 100))
    );
    assert_eq!(
        store
            .sso()
            .get_pending_registration("p2", NOW + 10)
            .await
            .unwrap(),
        None
    );
    // Gone for good, even asked at an earlier time.
    assert_eq!(
        store
            .sso()
            .get_pending_registration("p2", NOW)
            .await
            .unwrap(),
        None
    );
    store.sso().delete_pending_registration("p1").await.unwrap();
    assert_eq!(
        store
            .sso()
            .get_pending_registration("p1", NOW)
            .await
            .unwrap(),
        None
    );

    // The background sweep: expired rows of every SSO table go, live ones stay.
    store.users().create_user(&user("@a:x")).await.unwrap();
    store
        .sso()
        .create_pending_registration(&pending("old", NOW + 10))
        .await
        .unwrap();
    store
        .sso()
        .create_pending_registration(&pending("live", NOW + 1000))
        .await
        .unwrap();
    store
        .sso()
        .create_sso_session(&session("old", NOW + 10))
        .await
        .unwrap();
    store
        .sso()
        .create_sso_session(&session("live", NOW + 1000))
        .await
        .unwrap();
    for (hash, expires_ts) in [(1u8, NOW - 5), (2, NOW + 1000)] {
        store
            .sso()
            .create_login_token(&NewLoginToken {
                token_hash: vec![hash; 32],
                user_id: "@a:x".into(),
                auth_provider_id: None,
                created_ts: NOW - 10,
                expires_ts,
            })
            .await
            .unwrap();
    }
    assert_eq!(store.sso().sweep_sso(NOW + 20, NOW).await.unwrap(), 3);
    assert!(store
        .sso()
        .get_pending_registration("live", NOW)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .sso()
        .take_sso_session("live", NOW)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .sso()
        .consume_login_token(&[2; 32], NOW)
        .await
        .unwrap()
        .is_some());
}
