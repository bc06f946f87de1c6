//! The `synapse_import()` repository on both backends: the writes an
//! import plans, applied in one transaction, and read back as the rules and
//! the server see them.

use crate::both;
use crate::support::{fresh_database, Backend, FreshDatabase};
use mxauth::store::{
    connect, ImportDevice, ImportWrite, ImportedRow, LocalQuery, RegistrationToken, Store, User,
    UserThreepid,
};
use std::sync::Arc;

both!(
    a_users_sessions_are_written_with_their_links,
    sightings_keep_the_later_time,
    a_deleted_device_takes_its_tokens,
    a_failing_batch_writes_nothing,
    a_registration_token_keeps_its_pending_uses,
    local_rows_find_3pids_and_links_of_other_users,
);

const NOW: i64 = 1_700_000_000_000;
const BOB: &str = "@bob:example.org";

async fn open(b: Backend) -> (Arc<dyn Store>, FreshDatabase) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.expect("store connects");
    (store, db)
}

fn user(name: &str) -> User {
    User {
        user_id: name.into(),
        password_hash: Some("$2b$12$hash".into()),
        admin: false,
        user_type: None,
        is_guest: false,
        deactivated: false,
        locked: false,
        created_ts: 1_600_000_000_000,
        displayname: Some("Bob".into()),
        appservice_id: None,
        consent_version: None,
        credentials_version: 0,
        suspended: true,
        erased: false,
        avatar_url: Some("mxc://example.org/a".into()),
    }
}

fn device(id: &str) -> ImportDevice {
    ImportDevice {
        user_id: BOB.into(),
        device_id: id.into(),
        display_name: Some(format!("{id}'s name")),
        last_seen_ts: Some(NOW - 5),
        last_seen_ip: Some("10.0.0.1".into()),
        last_seen_user_agent: Some("Element/1.0".into()),
    }
}

fn refresh(n: u8, device: &str) -> ImportWrite {
    ImportWrite::InsertRefreshToken {
        token_hash: vec![n; 32],
        user_id: BOB.into(),
        device_id: device.into(),
        created_ts: NOW,
        expires_ts: Some(NOW + 1_000_000),
        session_until_ts: None,
        access_token_lifetime_ms: Some(300_000),
        refresh_token_lifetime_ms: None,
    }
}

fn access(n: u8, device: &str, refresh: Option<u8>) -> ImportWrite {
    ImportWrite::InsertAccessToken {
        token_hash: vec![n; 32],
        user_id: BOB.into(),
        device_id: Some(device.into()),
        puppet_owner: None,
        created_ts: NOW,
        valid_until_ts: None,
        refresh_hash: refresh.map(|r| vec![r; 32]),
        first_used_ts: None,
    }
}

fn record(kind: &str, key: &str, imported: &str) -> ImportWrite {
    ImportWrite::Record(ImportedRow {
        user_id: BOB.into(),
        kind: kind.into(),
        row_key: key.into(),
        imported: imported.into(),
    })
}

async fn with_bob(store: &Arc<dyn Store>, more: Vec<ImportWrite>) {
    let mut writes = vec![
        ImportWrite::InsertUser(user(BOB)),
        ImportWrite::InsertDevice(device("A")),
        ImportWrite::InsertDevice(device("B")),
    ];
    writes.extend(more);
    store
        .synapse_import()
        .apply(&writes)
        .await
        .expect("applied");
}

async fn a_users_sessions_are_written_with_their_links(b: Backend) {
    let (store, _db) = open(b).await;
    with_bob(
        &store,
        vec![
            refresh(1, "A"),
            refresh(2, "A"),
            access(11, "A", Some(1)),
            access(12, "A", Some(2)),
            access(13, "B", None),
            access(14, "B", None),
            ImportWrite::LinkRefreshToken {
                token_hash: vec![1; 32],
                next_hash: Some(vec![2; 32]),
            },
            record("user", "", "{\"admin\":false}"),
            record("device", "A", "{}"),
        ],
    )
    .await;
    // A record written again is replaced (several in one statement).
    store
        .synapse_import()
        .apply(&[
            record("user", "", "{\"admin\":true}"),
            record("device", "A", "{\"x\":1}"),
        ])
        .await
        .unwrap();
    let mut records = store
        .synapse_import()
        .imported_rows(&[BOB.into()])
        .await
        .unwrap();
    records.sort_by(|a, b| a.kind.cmp(&b.kind));
    let imported: Vec<&str> = records.iter().map(|r| r.imported.as_str()).collect();
    assert_eq!(imported, ["{\"x\":1}", "{\"admin\":true}"]);

    let stored = store.users().get_user(BOB).await.unwrap().expect("bob");
    assert_eq!(stored, user(BOB));
    // The older refresh token names its successor, and each the access
    // token issued with it.
    let older = store
        .refresh_tokens()
        .get_refresh_token(&[1; 32])
        .await
        .unwrap()
        .unwrap();
    let newer = store
        .refresh_tokens()
        .get_refresh_token(&[2; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(older.next.as_ref().map(|n| n.id), Some(newer.id));
    let a11 = store
        .access_tokens()
        .get_token_owner(&[11; 32])
        .await
        .unwrap()
        .unwrap();
    let a12 = store
        .access_tokens()
        .get_token_owner(&[12; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a11.refresh_token_id, Some(older.id));
    assert_eq!(a12.refresh_token_id, Some(newer.id));
    assert_eq!(older.access_token_id, Some(a11.token_id));
    assert_eq!(newer.access_token_id, Some(a12.token_id));
    let a13 = store
        .access_tokens()
        .get_token_owner(&[13; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (a13.device_id.as_deref(), a13.refresh_token_id),
        (Some("B"), None)
    );

    // What a re-run reads: the same rows, by user and by hash.
    let local = store
        .synapse_import()
        .local_rows(&LocalQuery {
            users: vec![BOB.into()],
            token_hashes: vec![vec![1; 32], vec![2; 32], vec![11; 32], vec![99; 32]],
            ..LocalQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(local.users, vec![user(BOB)]);
    assert_eq!(local.devices.len(), 2);
    assert_eq!(
        local.devices.iter().find(|d| d.device_id == "A"),
        Some(&device("A"))
    );
    assert_eq!(local.access_tokens.len(), 1);
    let chain: Vec<(Vec<u8>, Option<Vec<u8>>)> = {
        let mut c: Vec<_> = local
            .refresh_tokens
            .iter()
            .map(|r| (r.token_hash.clone(), r.next_hash.clone()))
            .collect();
        c.sort();
        c
    };
    assert_eq!(
        chain,
        vec![(vec![1; 32], Some(vec![2; 32])), (vec![2; 32], None)]
    );
    // The device's user agent, kept on the device, is what the device list shows.
    let sessions = store
        .devices()
        .list_device_sessions(BOB, Some("B"))
        .await
        .unwrap();
    assert_eq!(sessions[0].last_user_agent.as_deref(), Some("Element/1.0"));
}

async fn sightings_keep_the_later_time(b: Backend) {
    let (store, _db) = open(b).await;
    let ip = |ts: i64, agent: &str| ImportWrite::ClientIp {
        user_id: BOB.into(),
        token_hash: vec![11; 32],
        ip: "10.0.0.9".into(),
        user_agent: agent.into(),
        device_id: Some("A".into()),
        last_seen_ts: ts,
    };
    let mau = |ts: i64| ImportWrite::MonthlyActive {
        user_id: BOB.into(),
        ts,
    };
    with_bob(
        &store,
        vec![access(11, "A", None), ip(NOW, "new"), mau(NOW)],
    )
    .await;
    store
        .synapse_import()
        .apply(&[ip(NOW - 1000, "old"), mau(NOW - 1000)])
        .await
        .unwrap();
    let ips = store.usage().list_client_ips(BOB).await.unwrap();
    assert_eq!(ips.len(), 1);
    assert_eq!(
        (ips[0].last_seen_ts, ips[0].user_agent.as_str()),
        (NOW, "new")
    );
    assert_eq!(store.usage().mau_last_seen(BOB).await.unwrap(), Some(NOW));
    // A sighting of a token mxauth does not hold is not kept.
    store
        .synapse_import()
        .apply(&[ImportWrite::ClientIp {
            user_id: BOB.into(),
            token_hash: vec![77; 32],
            ip: "10.0.0.10".into(),
            user_agent: "x".into(),
            device_id: None,
            last_seen_ts: NOW,
        }])
        .await
        .unwrap();
    assert_eq!(store.usage().list_client_ips(BOB).await.unwrap().len(), 1);
}

async fn a_deleted_device_takes_its_tokens(b: Backend) {
    let (store, _db) = open(b).await;
    with_bob(
        &store,
        vec![
            refresh(1, "A"),
            access(11, "A", Some(1)),
            access(13, "B", None),
        ],
    )
    .await;
    store
        .synapse_import()
        .apply(&[ImportWrite::DeleteDevice {
            user_id: BOB.into(),
            device_id: "A".into(),
        }])
        .await
        .unwrap();
    assert!(store
        .access_tokens()
        .get_token_owner(&[11; 32])
        .await
        .unwrap()
        .is_none());
    assert!(store
        .refresh_tokens()
        .get_refresh_token(&[1; 32])
        .await
        .unwrap()
        .is_none());
    assert!(store
        .access_tokens()
        .get_token_owner(&[13; 32])
        .await
        .unwrap()
        .is_some());
    let left: Vec<String> = store
        .devices()
        .list_devices(BOB)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.device_id)
        .collect();
    assert_eq!(left, ["B"]);
}

async fn a_failing_batch_writes_nothing(b: Backend) {
    let (store, _db) = open(b).await;
    let threepid = |user: &str| {
        ImportWrite::InsertThreepid(UserThreepid {
            user_id: user.into(),
            medium: "email".into(),
            address: "bob@example.org".into(),
            validated_ts: NOW,
            added_ts: NOW,
        })
    };
    // The second binding of one address fails the whole batch.
    let result = store
        .synapse_import()
        .apply(&[
            ImportWrite::InsertUser(user(BOB)),
            ImportWrite::InsertUser(user("@carol:example.org")),
            threepid(BOB),
            threepid("@carol:example.org"),
        ])
        .await;
    assert!(result.is_err());
    assert!(store.users().get_user(BOB).await.unwrap().is_none());
}

async fn a_registration_token_keeps_its_pending_uses(b: Backend) {
    let (store, _db) = open(b).await;
    let token = |completed: i64, pending: i64| RegistrationToken {
        token: "abc".into(),
        uses_allowed: Some(5),
        pending,
        completed,
        expires_ts: None,
    };
    store
        .synapse_import()
        .apply(&[ImportWrite::SetRegistrationToken(token(1, 2))])
        .await
        .unwrap();
    // Two registrations in flight at mxauth hold a use each meanwhile: an
    // update leaves them.
    let pending = 2;
    store
        .synapse_import()
        .apply(&[ImportWrite::SetRegistrationToken(token(3, 0))])
        .await
        .unwrap();
    let now = store
        .registration()
        .get_registration_token("abc")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((now.completed, now.pending), (3, pending));
    let (tokens, _) = store
        .synapse_import()
        .local_registration_tokens()
        .await
        .unwrap();
    assert_eq!(tokens, vec![now]);
    store
        .synapse_import()
        .apply(&[ImportWrite::DeleteRegistrationToken {
            token: "abc".into(),
        }])
        .await
        .unwrap();
    assert!(store
        .registration()
        .get_registration_token("abc")
        .await
        .unwrap()
        .is_none());
}

async fn local_rows_find_3pids_and_links_of_other_users(b: Backend) {
    let (store, _db) = open(b).await;
    let carol = "@carol:example.org";
    store
        .synapse_import()
        .apply(&[
            ImportWrite::InsertUser(user(carol)),
            ImportWrite::InsertThreepid(UserThreepid {
                user_id: carol.into(),
                medium: "email".into(),
                address: "shared@example.org".into(),
                validated_ts: NOW,
                added_ts: NOW,
            }),
            ImportWrite::InsertExternalId {
                link: mxauth::store::ImportExternalId {
                    auth_provider: "oidc-upstream".into(),
                    external_id: "sub-1".into(),
                    user_id: carol.into(),
                },
                created_ts: NOW,
            },
        ])
        .await
        .unwrap();
    // Asked about Bob, who does not exist here, naming Carol's address and link.
    let local = store
        .synapse_import()
        .local_rows(&LocalQuery {
            users: vec![BOB.into()],
            threepids: vec![("email".into(), "shared@example.org".into())],
            external_ids: vec![("oidc-upstream".into(), "sub-1".into())],
            ..LocalQuery::default()
        })
        .await
        .unwrap();
    assert!(local.users.is_empty());
    assert_eq!(local.threepids.len(), 1);
    assert_eq!(local.threepids[0].user_id, carol);
    assert_eq!(local.external_ids.len(), 1);
    assert_eq!(local.external_ids[0].user_id, carol);
    // Empty lists read nothing (and are valid SQL on both backends).
    let none = store
        .synapse_import()
        .local_rows(&LocalQuery::default())
        .await
        .unwrap();
    assert!(none.users.is_empty() && none.threepids.is_empty() && none.access_tokens.is_empty());
}
