//! The store on both backends, through its public interface.

use crate::both;
use crate::support::{fresh_database, Backend, FreshDatabase};
use mxauth::auth::writes;
use mxauth::store::{connect, DeviceSeen, NewAccessToken, NewUser, ResultOnce, Store, UiaSession};
use serde_json::{json, Map, Value};
use std::sync::Arc;

both!(
    create_user_twice,
    users_case_insensitive,
    ensure_device_is_idempotent,
    tokens_die_with_their_device,
    delete_all_devices_except_keeps_one,
    deactivate_user_clears_everything,
    uia_sessions,
    uia_result_once_and_cleanup,
    registration_nonces,
    usage_is_written,
    homeserver_jobs_in_order_per_user_with_leases,
    all_user_devices_skips_the_deactivated,
);

const NOW: i64 = 1_700_000_000_000;

async fn open(b: Backend) -> (Arc<dyn Store>, FreshDatabase) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.expect("store connects");
    (store, db)
}

pub(crate) fn user(id: &str) -> NewUser {
    NewUser {
        user_id: id.to_owned(),
        password_hash: Some("hash".into()),
        created_ts: NOW,
        ..NewUser::default()
    }
}

pub(crate) fn token(hash: &[u8], user_id: &str, device_id: Option<&str>) -> NewAccessToken {
    NewAccessToken {
        token_hash: hash.to_vec(),
        user_id: user_id.to_owned(),
        device_id: device_id.map(str::to_owned),
        puppet_owner: None,
        created_ts: NOW,
        valid_until_ts: None,
        ..Default::default()
    }
}

fn session(id: &str, ts: i64) -> UiaSession {
    let mut client = Map::new();
    client.insert("devices".into(), json!(["A"]));
    UiaSession {
        session_id: id.to_owned(),
        created_ts: ts,
        uri: "/_matrix/client/v3/delete_devices".into(),
        method: "POST".into(),
        user_id: Some("@a:x".into()),
        client_dict: client,
        server_dict: Map::new(),
        result: None,
    }
}

async fn create_user_twice(b: Backend) {
    let (s, _db) = open(b).await;
    assert!(s.users().create_user(&user("@alice:x")).await.unwrap());
    let mut again = user("@alice:x");
    again.password_hash = Some("other".into());
    assert!(!s.users().create_user(&again).await.unwrap());
    let got = s.users().get_user("@alice:x").await.unwrap().expect("user");
    assert_eq!(got.password_hash.as_deref(), Some("hash"));
    assert_eq!(got.created_ts, NOW);
    assert!(!got.admin && !got.deactivated && !got.is_guest && !got.locked);
    assert!(s.users().get_user("@nobody:x").await.unwrap().is_none());
    s.users().set_admin("@alice:x", true).await.unwrap();
    assert!(s.users().get_user("@alice:x").await.unwrap().unwrap().admin);
}

async fn users_case_insensitive(b: Backend) {
    let (s, _db) = open(b).await;
    assert!(s.users().create_user(&user("@Alice:x")).await.unwrap());
    assert!(s.users().create_user(&user("@bob:x")).await.unwrap());
    let found = s
        .users()
        .get_users_case_insensitive("@ALICE:x")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].user_id, "@Alice:x");
    // Exact lookup is exact.
    assert!(s.users().get_user("@alice:x").await.unwrap().is_none());
    assert!(s.users().create_user(&user("@alice:x")).await.unwrap());
    let found = s
        .users()
        .get_users_case_insensitive("@aLiCe:x")
        .await
        .unwrap();
    let mut ids: Vec<_> = found.into_iter().map(|u| u.user_id).collect();
    ids.sort();
    assert_eq!(ids, vec!["@Alice:x", "@alice:x"]);
    assert!(s
        .users()
        .get_users_case_insensitive("@carol:x")
        .await
        .unwrap()
        .is_empty());
}

async fn ensure_device_is_idempotent(b: Backend) {
    let (s, _db) = open(b).await;
    s.users().create_user(&user("@a:x")).await.unwrap();
    assert!(s
        .devices()
        .ensure_device("@a:x", "D1", Some("first"), None)
        .await
        .unwrap());
    assert!(!s
        .devices()
        .ensure_device("@a:x", "D1", Some("second"), None)
        .await
        .unwrap());
    let d = s
        .devices()
        .get_device("@a:x", "D1")
        .await
        .unwrap()
        .expect("device");
    assert_eq!(d.display_name.as_deref(), Some("first"));
    assert_eq!(d.last_seen_ts, None);
    assert_eq!(s.devices().list_devices("@a:x").await.unwrap().len(), 1);
    assert!(s
        .devices()
        .set_device_display_name("@a:x", "D1", Some("renamed"))
        .await
        .unwrap());
    assert!(!s
        .devices()
        .set_device_display_name("@a:x", "NOPE", Some("x"))
        .await
        .unwrap());
    assert_eq!(
        s.devices()
            .get_device("@a:x", "D1")
            .await
            .unwrap()
            .unwrap()
            .display_name
            .as_deref(),
        Some("renamed")
    );
    // Another user's device of the same ID is another device.
    s.users().create_user(&user("@b:x")).await.unwrap();
    assert!(s
        .devices()
        .ensure_device("@b:x", "D1", None, None)
        .await
        .unwrap());
    assert_eq!(s.devices().list_devices("@a:x").await.unwrap().len(), 1);
    assert!(s
        .devices()
        .get_device("@b:x", "D1")
        .await
        .unwrap()
        .is_some());
}

async fn tokens_die_with_their_device(b: Backend) {
    let (s, _db) = open(b).await;
    s.users().create_user(&user("@a:x")).await.unwrap();
    s.devices()
        .ensure_device("@a:x", "D1", None, None)
        .await
        .unwrap();
    s.devices()
        .ensure_device("@a:x", "D2", None, None)
        .await
        .unwrap();
    let t1 = s
        .access_tokens()
        .create_access_token(&token(b"h1", "@a:x", Some("D1")))
        .await
        .unwrap();
    let t2 = s
        .access_tokens()
        .create_access_token(&token(b"h2", "@a:x", Some("D2")))
        .await
        .unwrap();
    assert_ne!(t1, t2);
    let owner = s
        .access_tokens()
        .get_token_owner(b"h1")
        .await
        .unwrap()
        .expect("owner");
    assert_eq!(owner.token_id, t1);
    assert_eq!(owner.user_id, "@a:x");
    assert_eq!(owner.device_id.as_deref(), Some("D1"));
    assert!(!owner.user_deactivated && !owner.user_admin);
    assert!(s
        .access_tokens()
        .get_token_owner(b"unknown")
        .await
        .unwrap()
        .is_none());

    let deleted = s
        .devices()
        .delete_devices("@a:x", &["D1".into(), "NOPE".into()])
        .await
        .unwrap();
    assert_eq!(deleted, vec!["D1".to_owned()]);
    assert!(s
        .access_tokens()
        .get_token_owner(b"h1")
        .await
        .unwrap()
        .is_none());
    assert!(s
        .devices()
        .get_device("@a:x", "D1")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        s.access_tokens()
            .get_token_owner(b"h2")
            .await
            .unwrap()
            .unwrap()
            .token_id,
        t2
    );
    s.access_tokens().delete_access_token(t2).await.unwrap();
    assert!(s
        .access_tokens()
        .get_token_owner(b"h2")
        .await
        .unwrap()
        .is_none());
    // The device outlives a token deleted on its own.
    assert!(s
        .devices()
        .get_device("@a:x", "D2")
        .await
        .unwrap()
        .is_some());
}

async fn delete_all_devices_except_keeps_one(b: Backend) {
    let (s, _db) = open(b).await;
    s.users().create_user(&user("@a:x")).await.unwrap();
    s.users().create_user(&user("@b:x")).await.unwrap();
    for d in ["D1", "D2", "D3"] {
        s.devices()
            .ensure_device("@a:x", d, None, None)
            .await
            .unwrap();
    }
    s.devices()
        .ensure_device("@b:x", "D1", None, None)
        .await
        .unwrap();
    let keep = s
        .access_tokens()
        .create_access_token(&token(b"k", "@a:x", Some("D1")))
        .await
        .unwrap();
    // A second token on the kept device is not the kept token.
    s.access_tokens()
        .create_access_token(&token(b"k2", "@a:x", Some("D1")))
        .await
        .unwrap();
    s.access_tokens()
        .create_access_token(&token(b"t2", "@a:x", Some("D2")))
        .await
        .unwrap();
    s.access_tokens()
        .create_access_token(&token(b"b1", "@b:x", Some("D1")))
        .await
        .unwrap();
    let mut deleted = s
        .devices()
        .delete_all_devices_except("@a:x", Some("D1"), Some(keep))
        .await
        .unwrap();
    deleted.sort();
    assert_eq!(deleted, vec!["D2".to_owned(), "D3".to_owned()]);
    let left: Vec<_> = s
        .devices()
        .list_devices("@a:x")
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.device_id)
        .collect();
    assert_eq!(left, vec!["D1".to_owned()]);
    assert_eq!(
        s.access_tokens()
            .get_token_owner(b"k")
            .await
            .unwrap()
            .unwrap()
            .token_id,
        keep
    );
    assert!(s
        .access_tokens()
        .get_token_owner(b"k2")
        .await
        .unwrap()
        .is_none());
    assert!(s
        .access_tokens()
        .get_token_owner(b"t2")
        .await
        .unwrap()
        .is_none());
    // Another user is untouched.
    assert!(s
        .access_tokens()
        .get_token_owner(b"b1")
        .await
        .unwrap()
        .is_some());
    assert!(s
        .devices()
        .get_device("@b:x", "D1")
        .await
        .unwrap()
        .is_some());
    // Nothing kept: all go.
    s.devices()
        .delete_all_devices_except("@a:x", None, None)
        .await
        .unwrap();
    assert!(s.devices().list_devices("@a:x").await.unwrap().is_empty());
    assert!(s
        .access_tokens()
        .get_token_owner(b"k")
        .await
        .unwrap()
        .is_none());
}

async fn deactivate_user_clears_everything(b: Backend) {
    let (s, _db) = open(b).await;
    s.users().create_user(&user("@a:x")).await.unwrap();
    s.users().create_user(&user("@b:x")).await.unwrap();
    s.devices()
        .ensure_device("@a:x", "D1", None, None)
        .await
        .unwrap();
    s.devices()
        .ensure_device("@a:x", "D2", None, None)
        .await
        .unwrap();
    s.devices()
        .ensure_device("@b:x", "D1", None, None)
        .await
        .unwrap();
    s.access_tokens()
        .create_access_token(&token(b"a1", "@a:x", Some("D1")))
        .await
        .unwrap();
    s.access_tokens()
        .create_access_token(&token(b"a0", "@a:x", None))
        .await
        .unwrap();
    s.access_tokens()
        .create_access_token(&token(b"b1", "@b:x", Some("D1")))
        .await
        .unwrap();
    let mut gone = writes::deactivate_user(&*s, "@a:x").await.unwrap();
    gone.sort();
    assert_eq!(gone, vec!["D1".to_owned(), "D2".to_owned()]);
    let u = s
        .users()
        .get_user("@a:x")
        .await
        .unwrap()
        .expect("user stays");
    assert!(u.deactivated);
    assert_eq!(u.password_hash.as_deref(), Some("hash"), "kept, unusable");
    assert!(s.devices().list_devices("@a:x").await.unwrap().is_empty());
    assert!(s
        .access_tokens()
        .get_token_owner(b"a1")
        .await
        .unwrap()
        .is_none());
    assert!(s
        .access_tokens()
        .get_token_owner(b"a0")
        .await
        .unwrap()
        .is_none());
    assert!(s
        .access_tokens()
        .get_token_owner(b"b1")
        .await
        .unwrap()
        .is_some());
    assert!(
        !s.users()
            .get_user("@b:x")
            .await
            .unwrap()
            .unwrap()
            .deactivated
    );
    // The ID stays taken.
    assert!(!s.users().create_user(&user("@a:x")).await.unwrap());
}

async fn uia_sessions(b: Backend) {
    let (s, _db) = open(b).await;
    let sess = session("S1", NOW);
    s.uia().create_uia_session(&sess).await.unwrap();
    assert_eq!(
        s.uia().get_uia_session("S1").await.unwrap(),
        Some(sess.clone())
    );
    assert_eq!(s.uia().get_uia_session("nope").await.unwrap(), None);

    s.uia()
        .set_uia_server_value("S1", "k1", &json!("v1"))
        .await
        .unwrap();
    s.uia()
        .set_uia_server_value("S1", "k2", &json!({"n": 2}))
        .await
        .unwrap();
    s.uia()
        .set_uia_server_value("S1", "k1", &json!("v1b"))
        .await
        .unwrap();
    let got = s.uia().get_uia_session("S1").await.unwrap().unwrap();
    assert_eq!(
        Value::Object(got.server_dict),
        json!({"k1": "v1b", "k2": {"n": 2}})
    );

    let mut client = sess.client_dict.clone();
    client.insert("extra".into(), json!(true));
    s.uia().update_uia_client_dict("S1", &client).await.unwrap();
    assert_eq!(
        s.uia()
            .get_uia_session("S1")
            .await
            .unwrap()
            .unwrap()
            .client_dict,
        client
    );

    assert!(s
        .uia()
        .get_uia_completed_stages("S1")
        .await
        .unwrap()
        .is_empty());
    s.uia()
        .mark_uia_stage_completed("S1", "m.login.password", &json!("@a:x"))
        .await
        .unwrap();
    s.uia()
        .mark_uia_stage_completed("S1", "m.login.password", &json!("@a:x"))
        .await
        .unwrap();
    s.uia()
        .mark_uia_stage_completed("S1", "m.login.dummy", &json!(true))
        .await
        .unwrap();
    let mut stages = s.uia().get_uia_completed_stages("S1").await.unwrap();
    stages.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        stages,
        vec![
            ("m.login.dummy".to_owned(), json!(true)),
            ("m.login.password".to_owned(), json!("@a:x")),
        ]
    );

    s.uia().delete_uia_session("S1").await.unwrap();
    assert_eq!(s.uia().get_uia_session("S1").await.unwrap(), None);
    assert!(s
        .uia()
        .get_uia_completed_stages("S1")
        .await
        .unwrap()
        .is_empty());
}

async fn uia_result_once_and_cleanup(b: Backend) {
    let (s, _db) = open(b).await;
    s.uia()
        .create_uia_session(&session("S1", NOW))
        .await
        .unwrap();
    s.uia()
        .create_uia_session(&session("OLD1", NOW - 10_000))
        .await
        .unwrap();
    s.uia()
        .create_uia_session(&session("OLD2", NOW - 1))
        .await
        .unwrap();
    assert_eq!(
        s.uia()
            .set_uia_result_once("S1", &json!({"first": 1}))
            .await
            .unwrap(),
        ResultOnce::Recorded
    );
    assert_eq!(
        s.uia()
            .set_uia_result_once("S1", &json!({"second": 2}))
            .await
            .unwrap(),
        ResultOnce::Already(json!({"first": 1}))
    );
    assert_eq!(
        s.uia()
            .set_uia_result_once("NOPE", &json!({"third": 3}))
            .await
            .unwrap(),
        ResultOnce::NoSession
    );
    assert_eq!(
        s.uia().get_uia_session("S1").await.unwrap().unwrap().result,
        Some(json!({"first": 1}))
    );

    s.uia()
        .mark_uia_stage_completed("OLD1", "m.login.dummy", &json!(true))
        .await
        .unwrap();
    let old: Vec<String> = s
        .uia()
        .list_uia_sessions_before(NOW, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.session_id)
        .collect();
    assert_eq!(old.len(), 2, "{old:?}");
    assert!(old.contains(&"OLD1".to_owned()) && old.contains(&"OLD2".to_owned()));
    for id in &old {
        assert!(s.uia().delete_uia_session(id).await.unwrap());
        // A second sweeper finds it gone.
        assert!(!s.uia().delete_uia_session(id).await.unwrap());
    }
    assert!(s.uia().get_uia_session("OLD1").await.unwrap().is_none());
    assert!(s.uia().get_uia_session("OLD2").await.unwrap().is_none());
    assert!(s
        .uia()
        .get_uia_completed_stages("OLD1")
        .await
        .unwrap()
        .is_empty());
    assert!(s.uia().get_uia_session("S1").await.unwrap().is_some());
    assert!(s
        .uia()
        .list_uia_sessions_before(NOW, 100)
        .await
        .unwrap()
        .is_empty());
}

async fn registration_nonces(b: Backend) {
    let (s, _db) = open(b).await;
    s.registration()
        .create_registration_nonce("n1", NOW)
        .await
        .unwrap();
    assert!(s
        .registration()
        .take_registration_nonce("n1", NOW - 60_000)
        .await
        .unwrap());
    assert!(!s
        .registration()
        .take_registration_nonce("n1", NOW - 60_000)
        .await
        .unwrap());
    assert!(!s
        .registration()
        .take_registration_nonce("never", 0)
        .await
        .unwrap());
    // Too old: refused, and consumed all the same.
    s.registration()
        .create_registration_nonce("old", NOW - 60_001)
        .await
        .unwrap();
    assert!(!s
        .registration()
        .take_registration_nonce("old", NOW - 60_000)
        .await
        .unwrap());
    assert!(!s
        .registration()
        .take_registration_nonce("old", 0)
        .await
        .unwrap());
    // Exactly at the bound is still fresh.
    s.registration()
        .create_registration_nonce("edge", NOW - 60_000)
        .await
        .unwrap();
    assert!(s
        .registration()
        .take_registration_nonce("edge", NOW - 60_000)
        .await
        .unwrap());
}

/// The `last_used_ts` of a token, read straight from the database.
async fn token_last_used(b: Backend, url: &str, id: i64) -> Option<i64> {
    let sql = "SELECT last_used_ts FROM access_tokens WHERE id = $1";
    match b {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let v = sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let v = sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        }
    }
}

async fn usage_is_written(b: Backend) {
    let (s, db) = open(b).await;
    s.users().create_user(&user("@a:x")).await.unwrap();
    s.devices()
        .ensure_device("@a:x", "D1", None, None)
        .await
        .unwrap();
    s.devices()
        .ensure_device("@a:x", "D2", None, None)
        .await
        .unwrap();
    let t1 = s
        .access_tokens()
        .create_access_token(&token(b"h1", "@a:x", Some("D1")))
        .await
        .unwrap();
    let t2 = s
        .access_tokens()
        .create_access_token(&token(b"h2", "@a:x", Some("D2")))
        .await
        .unwrap();
    let url = db.config.url();
    assert_eq!(token_last_used(b, &url, t1).await, None);
    s.usage()
        .record_tokens_last_used(&[(t1, NOW + 5), (t2, NOW + 6)])
        .await
        .unwrap();
    assert_eq!(token_last_used(b, &url, t1).await, Some(NOW + 5));
    assert_eq!(token_last_used(b, &url, t2).await, Some(NOW + 6));

    s.usage()
        .record_device_last_seen(&[
            DeviceSeen {
                user_id: "@a:x".into(),
                device_id: "D1".into(),
                last_seen_ts: NOW + 7,
                ip: Some("10.0.0.1".into()),
            },
            // An unknown device is skipped, not an error.
            DeviceSeen {
                user_id: "@a:x".into(),
                device_id: "GONE".into(),
                last_seen_ts: NOW + 7,
                ip: None,
            },
        ])
        .await
        .unwrap();
    let d1 = s.devices().get_device("@a:x", "D1").await.unwrap().unwrap();
    assert_eq!(d1.last_seen_ts, Some(NOW + 7));
    assert_eq!(d1.last_seen_ip.as_deref(), Some("10.0.0.1"));
    let d2 = s.devices().get_device("@a:x", "D2").await.unwrap().unwrap();
    assert_eq!(d2.last_seen_ts, None);
    assert!(s
        .devices()
        .get_device("@a:x", "GONE")
        .await
        .unwrap()
        .is_none());
}

async fn homeserver_jobs_in_order_per_user_with_leases(b: Backend) {
    let (store, _db) = open(b).await;
    let a = "@a:test.example";
    let c = "@c:test.example";
    let ids_a = store
        .jobs()
        .enqueue_homeserver_jobs(
            a,
            &[
                ("provision_user", json!({"n": 1})),
                ("upsert_device", json!({"n": 2})),
            ],
            100,
        )
        .await
        .unwrap();
    let ids_c = store
        .jobs()
        .enqueue_homeserver_jobs(c, &[("provision_user", json!({"n": 3}))], 100)
        .await
        .unwrap();
    assert_eq!(ids_a.len(), 2);
    assert_eq!(store.jobs().count_homeserver_jobs(&ids_a).await.unwrap(), 2);
    // Nothing is due before its time.
    assert!(store
        .jobs()
        .claim_homeserver_job(99, 1000, None)
        .await
        .unwrap()
        .is_none());

    // The oldest job first; a claimed job is leased, and the user's next
    // job waits behind it: the next claim gets the other user's.
    let first = store
        .jobs()
        .claim_homeserver_job(100, 1000, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.id, first.kind.as_str(), first.payload["n"].clone()),
        (ids_a[0], "provision_user", json!(1))
    );
    let second = store
        .jobs()
        .claim_homeserver_job(100, 1000, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.id, ids_c[0]);
    assert!(store
        .jobs()
        .claim_homeserver_job(100, 1000, None)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .jobs()
        .claim_homeserver_job(100, 1000, Some(a))
        .await
        .unwrap()
        .is_none());

    // A failure puts it back with a later time; still first in line for its user.
    store
        .jobs()
        .fail_homeserver_job(first.id, 500, "synapse down")
        .await
        .unwrap();
    assert!(store
        .jobs()
        .claim_homeserver_job(200, 1000, Some(a))
        .await
        .unwrap()
        .is_none());
    let retried = store
        .jobs()
        .claim_homeserver_job(500, 1000, Some(a))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((retried.id, retried.attempts), (first.id, 1));

    // An expired lease lets another process take the job over.
    let again = store
        .jobs()
        .claim_homeserver_job(500 + 1001, 1000, Some(a))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, first.id);

    store
        .jobs()
        .complete_homeserver_job(first.id)
        .await
        .unwrap();
    let next = store
        .jobs()
        .claim_homeserver_job(3000, 1000, Some(a))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.id, ids_a[1]);
    store.jobs().complete_homeserver_job(next.id).await.unwrap();
    assert_eq!(store.jobs().count_homeserver_jobs(&ids_a).await.unwrap(), 0);
    assert_eq!(store.jobs().count_homeserver_jobs(&ids_c).await.unwrap(), 1);
}

async fn all_user_devices_skips_the_deactivated(b: Backend) {
    let (store, _db) = open(b).await;
    for id in ["@x:test.example", "@y:test.example"] {
        store.users().create_user(&user(id)).await.unwrap();
        store
            .devices()
            .ensure_device(id, "D1", None, None)
            .await
            .unwrap();
        store
            .devices()
            .ensure_device(id, "D2", None, None)
            .await
            .unwrap();
    }
    store
        .users()
        .create_user(&user("@z:test.example"))
        .await
        .unwrap();
    store
        .devices()
        .ensure_device("@z:test.example", "D1", None, None)
        .await
        .unwrap();
    writes::deactivate_user(&*store, "@z:test.example")
        .await
        .unwrap();
    assert_eq!(
        store.jobs().all_user_devices().await.unwrap(),
        vec![
            (
                "@x:test.example".to_owned(),
                vec!["D1".to_owned(), "D2".to_owned()]
            ),
            (
                "@y:test.example".to_owned(),
                vec!["D1".to_owned(), "D2".to_owned()]
            ),
        ]
    );
}
