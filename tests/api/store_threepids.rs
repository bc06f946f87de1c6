//! The 3PID tables of the store, on both backends.

use crate::both;
use crate::support::{fresh_database, Backend};
use mxauth::auth::writes;
use mxauth::store::{connect, NewUser, ThreepidSession, UserThreepid};

both!(user_threepids_are_unique, threepid_sessions);

const NOW: i64 = 1_700_000_000_000;

fn threepid(user: &str, address: &str) -> UserThreepid {
    UserThreepid {
        user_id: user.into(),
        medium: "email".into(),
        address: address.into(),
        validated_ts: NOW,
        added_ts: NOW + 1,
    }
}

async fn user_threepids_are_unique(b: Backend) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 2).await.unwrap();
    for u in ["@a:x", "@b:x"] {
        let new = NewUser {
            user_id: u.into(),
            created_ts: NOW,
            ..NewUser::default()
        };
        assert!(store.users().create_user(&new).await.unwrap());
    }
    assert!(store
        .threepids()
        .add_user_threepid(&threepid("@a:x", "a@x.org"))
        .await
        .unwrap());
    assert!(!store
        .threepids()
        .add_user_threepid(&threepid("@b:x", "a@x.org"))
        .await
        .unwrap());
    assert!(store
        .threepids()
        .add_user_threepid(&threepid("@a:x", "a2@x.org"))
        .await
        .unwrap());
    assert_eq!(
        store
            .threepids()
            .get_user_by_threepid("email", "a@x.org")
            .await
            .unwrap()
            .as_deref(),
        Some("@a:x")
    );
    assert_eq!(
        store
            .threepids()
            .get_user_by_threepid("msisdn", "a@x.org")
            .await
            .unwrap(),
        None
    );
    let list = store.threepids().list_user_threepids("@a:x").await.unwrap();
    assert_eq!(
        list,
        // Same added_ts: in address order.
        vec![threepid("@a:x", "a2@x.org"), threepid("@a:x", "a@x.org")]
    );
    assert!(store
        .threepids()
        .list_user_threepids("@b:x")
        .await
        .unwrap()
        .is_empty());
    assert!(!store
        .threepids()
        .delete_user_threepid("@b:x", "email", "a@x.org")
        .await
        .unwrap());
    assert!(store
        .threepids()
        .delete_user_threepid("@a:x", "email", "a@x.org")
        .await
        .unwrap());
    assert!(store
        .threepids()
        .add_user_threepid(&threepid("@b:x", "a@x.org"))
        .await
        .unwrap());
    // Deactivation unbinds.
    writes::deactivate_user(&*store, "@a:x").await.unwrap();
    assert!(store
        .threepids()
        .list_user_threepids("@a:x")
        .await
        .unwrap()
        .is_empty());
}

async fn threepid_sessions(b: Backend) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 2).await.unwrap();
    let mut s = ThreepidSession {
        session_id: "sid1".into(),
        medium: "email".into(),
        address: "a@x.org".into(),
        client_secret: "secret".into(),
        last_send_attempt: 1,
        validated_ts: None,
        token_hash: vec![1; 32],
        token_expires_ts: NOW + 3_600_000,
        next_link: None,
        created_ts: NOW,
    };
    store.threepids().create_threepid_session(&s).await.unwrap();
    assert_eq!(
        store
            .threepids()
            .get_threepid_session("sid1")
            .await
            .unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        store
            .threepids()
            .get_threepid_session("nope")
            .await
            .unwrap(),
        None
    );
    let found = store
        .threepids()
        .find_threepid_session("email", "a@x.org", "secret")
        .await
        .unwrap();
    assert_eq!(found, Some(s.clone()));
    assert_eq!(
        store
            .threepids()
            .find_threepid_session("email", "a@x.org", "other")
            .await
            .unwrap(),
        None
    );

    store
        .threepids()
        .update_threepid_session_token("sid1", 2, &[2; 32], NOW + 10, Some("https://x.org/"))
        .await
        .unwrap();
    s.last_send_attempt = 2;
    s.token_hash = vec![2; 32];
    s.token_expires_ts = NOW + 10;
    s.next_link = Some("https://x.org/".into());
    assert_eq!(
        store
            .threepids()
            .get_threepid_session("sid1")
            .await
            .unwrap(),
        Some(s.clone())
    );

    store
        .threepids()
        .set_threepid_session_validated("sid1", NOW + 5)
        .await
        .unwrap();
    store
        .threepids()
        .set_threepid_session_validated("sid1", NOW + 9)
        .await
        .unwrap();
    let got = store
        .threepids()
        .get_threepid_session("sid1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.validated_ts,
        Some(NOW + 5),
        "the first validation stays"
    );

    // The newest session of an address and secret is found.
    let newer = ThreepidSession {
        session_id: "sid2".into(),
        created_ts: NOW + 100,
        validated_ts: None,
        ..s
    };
    store
        .threepids()
        .create_threepid_session(&newer)
        .await
        .unwrap();
    let found = store
        .threepids()
        .find_threepid_session("email", "a@x.org", "secret")
        .await
        .unwrap();
    assert_eq!(found.unwrap().session_id, "sid2");
}
