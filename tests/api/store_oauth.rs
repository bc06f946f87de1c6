//! The OAuth 2.0 API's tables on both backends: registered clients
//! (deduplicated public ones, sessions noted, pruning) and the id_token
//! signing keys (one current key per algorithm, whoever inserts first).

use crate::both;
use crate::support::{fresh_database, Backend, FreshDatabase};
use mxauth::store::{connect, OAuthClientRow, SigningKeyRow, Store};
use std::sync::Arc;

both!(
    clients_dedupe_touch_and_prune,
    one_current_signing_key_per_algorithm
);

const NOW: i64 = 1_700_000_000_000;

async fn open(b: Backend) -> (Arc<dyn Store>, FreshDatabase) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.expect("store connects");
    (store, db)
}

fn client(id: &str, hash: Option<&str>, ts: i64) -> OAuthClientRow {
    OAuthClientRow {
        client_id: id.into(),
        metadata: format!("{{\"n\":\"{id}\"}}"),
        metadata_hash: hash.map(str::to_owned),
        client_secret_hash: None,
        created_ts: ts,
        last_registered_ts: ts,
        last_session_ts: None,
    }
}

fn key(kid: &str, alg: &str, ts: i64) -> SigningKeyRow {
    SigningKeyRow {
        kid: kid.into(),
        alg: alg.into(),
        private_pem: format!("pem of {kid}"),
        public_jwk: format!("{{\"kid\":\"{kid}\"}}"),
        created_ts: ts,
        retired_ts: None,
    }
}

async fn clients_dedupe_touch_and_prune(b: Backend) {
    let (store, _db) = open(b).await;
    let mut repo = store.oauth();
    assert_eq!(
        repo.insert_oauth_client(&client("a", Some("h"), NOW))
            .await
            .unwrap(),
        "a"
    );
    // Same metadata hash: the stored client, registered again.
    assert_eq!(
        repo.insert_oauth_client(&client("b", Some("h"), NOW + 10))
            .await
            .unwrap(),
        "a"
    );
    assert!(repo.get_oauth_client("b").await.unwrap().is_none());
    let a = repo.get_oauth_client("a").await.unwrap().unwrap();
    assert_eq!((a.created_ts, a.last_registered_ts), (NOW, NOW + 10));
    // Confidential clients (no hash) never share.
    let mut c = client("c", None, NOW);
    c.client_secret_hash = Some("abc".into());
    assert_eq!(repo.insert_oauth_client(&c).await.unwrap(), "c");
    assert_eq!(
        repo.insert_oauth_client(&client("d", None, NOW))
            .await
            .unwrap(),
        "d"
    );
    assert_eq!(repo.get_oauth_client("c").await.unwrap().unwrap(), c);

    repo.touch_oauth_client("c", NOW + 5).await.unwrap();
    assert_eq!(repo.prune_unused_oauth_clients(NOW).await.unwrap(), 0);
    // a was registered again at NOW + 10; d never; c has a session.
    assert_eq!(repo.prune_unused_oauth_clients(NOW + 5).await.unwrap(), 1);
    assert!(repo.get_oauth_client("d").await.unwrap().is_none());
    assert_eq!(repo.prune_unused_oauth_clients(NOW + 100).await.unwrap(), 1);
    assert!(repo.get_oauth_client("a").await.unwrap().is_none());
    let c = repo.get_oauth_client("c").await.unwrap().unwrap();
    assert_eq!(c.last_session_ts, Some(NOW + 5));
}

async fn one_current_signing_key_per_algorithm(b: Backend) {
    let (store, _db) = open(b).await;
    let mut repo = store.oauth();
    assert!(repo
        .insert_signing_key_if_absent(&key("k1", "RS256", NOW))
        .await
        .unwrap());
    // A second process's key, generated at the same time, is not kept.
    assert!(!repo
        .insert_signing_key_if_absent(&key("k2", "RS256", NOW))
        .await
        .unwrap());
    assert!(repo
        .insert_signing_key_if_absent(&key("e1", "ES256", NOW))
        .await
        .unwrap());
    let kids: Vec<String> = repo
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&"k1".to_owned()) && kids.contains(&"e1".to_owned()));

    // Rotation: retire, then insert, in one transaction.
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .oauth()
        .retire_signing_key("RS256", NOW + 1)
        .await
        .unwrap());
    assert!(tx
        .oauth()
        .insert_signing_key_if_absent(&key("k3", "RS256", NOW + 1))
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let keys = store.oauth().signing_keys().await.unwrap();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[0].kid, "k3", "current keys first, newest first");
    assert_eq!(keys[2].kid, "k1");
    assert_eq!(keys[2].retired_ts, Some(NOW + 1));
    assert!(!store.oauth().retire_signing_key("XX", NOW).await.unwrap());
    assert_eq!(
        store
            .oauth()
            .delete_retired_signing_keys(NOW + 1)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .oauth()
            .delete_retired_signing_keys(NOW + 2)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.oauth().signing_keys().await.unwrap().len(), 2);
}
