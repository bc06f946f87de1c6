//! The store's feed of changes (`store::changes`) on both backends: what
//! the token cache hears, and what it must not be bothered with.

use crate::both;
use crate::store::{token, user};
use crate::support::{fresh_database, Backend, FreshDatabase};
use mxauth::store::changes::{ChangeFeed, ChangeSink};
use mxauth::store::{connect, Store};
use std::sync::{Arc, Mutex};
use std::time::Duration;

both!(
    the_feed_reports_what_request_authentication_reads,
    a_rolled_back_change_is_not_reported,
    a_second_store_hears_the_first,
);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Heard {
    Token(Vec<u8>),
    User(String),
    Lost,
    CaughtUp,
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Heard>>);

impl Recorder {
    /// What was heard since the last call.
    fn take(&self) -> Vec<Heard> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl ChangeSink for Recorder {
    fn token_changed(&self, token_hash: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .push(Heard::Token(token_hash.to_vec()));
    }
    fn user_changed(&self, user_id: &str) {
        self.0.lock().unwrap().push(Heard::User(user_id.to_owned()));
    }
    fn lost(&self) {
        self.0.lock().unwrap().push(Heard::Lost);
    }
    fn caught_up(&self) {
        self.0.lock().unwrap().push(Heard::CaughtUp);
    }
}

/// A store on a fresh database, and a feed of it that follows.
async fn following(db: &FreshDatabase) -> (Arc<dyn Store>, Arc<Recorder>, Arc<dyn ChangeFeed>) {
    let store = connect(&db.config.url(), 4).await.expect("store connects");
    let recorder = Arc::new(Recorder::default());
    let feed = store.change_feed(recorder.clone());
    let follower = feed.clone();
    tokio::spawn(async move { follower.follow().await });
    for _ in 0..500 {
        if recorder.0.lock().unwrap().contains(&Heard::CaughtUp) {
            recorder.take();
            return (store, recorder, feed);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the feed never caught up");
}

const H1: [u8; 32] = [1; 32];
const H2: [u8; 32] = [2; 32];

async fn the_feed_reports_what_request_authentication_reads(b: Backend) {
    let db = fresh_database(b).await;
    let (store, heard, feed) = following(&db).await;
    // New rows are nobody's concern.
    store.users().create_user(&user("@a:x")).await.unwrap();
    let t1 = store
        .access_tokens()
        .create_access_token(&token(&H1, "@a:x", Some("D1")))
        .await
        .unwrap();
    store
        .access_tokens()
        .create_access_token(&token(&H2, "@a:x", Some("D2")))
        .await
        .unwrap();
    // Nor are the columns request authentication does not read.
    store
        .access_tokens()
        .set_token_last_validated(t1, 5)
        .await
        .unwrap();
    store
        .users()
        .set_displayname("@a:x", Some("A"))
        .await
        .unwrap();
    store.users().set_admin("@a:x", false).await.unwrap();
    feed.sync().await;
    assert_eq!(heard.take(), vec![]);

    // A read column of a token, then the token deleted.
    store
        .access_tokens()
        .set_token_first_used(t1, 7)
        .await
        .unwrap();
    feed.sync().await;
    assert_eq!(heard.take(), vec![Heard::Token(H1.to_vec())]);
    store.access_tokens().delete_access_token(t1).await.unwrap();
    feed.sync().await;
    assert_eq!(heard.take(), vec![Heard::Token(H1.to_vec())]);

    // A user's flags: admin, lock, deactivation.
    store.users().set_admin("@a:x", true).await.unwrap();
    store.users().set_locked("@a:x", true).await.unwrap();
    store.users().set_deactivated("@a:x").await.unwrap();
    feed.sync().await;
    assert_eq!(heard.take(), vec![Heard::User("@a:x".into()); 3]);

    // Every token of a user, at once.
    let n = store
        .access_tokens()
        .delete_user_access_tokens("@a:x", None)
        .await
        .unwrap();
    assert_eq!(n, 1);
    feed.sync().await;
    assert_eq!(heard.take(), vec![Heard::Token(H2.to_vec())]);
}

async fn a_rolled_back_change_is_not_reported(b: Backend) {
    let db = fresh_database(b).await;
    let (store, heard, feed) = following(&db).await;
    store.users().create_user(&user("@a:x")).await.unwrap();
    let t1 = store
        .access_tokens()
        .create_access_token(&token(&H1, "@a:x", None))
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.access_tokens().delete_access_token(t1).await.unwrap();
    tx.users().set_locked("@a:x", true).await.unwrap();
    drop(tx);
    feed.sync().await;
    assert_eq!(heard.take(), vec![]);
    // Committed, it is.
    let mut tx = store.begin().await.unwrap();
    tx.access_tokens().delete_access_token(t1).await.unwrap();
    tx.commit().await.unwrap();
    feed.sync().await;
    assert_eq!(heard.take(), vec![Heard::Token(H1.to_vec())]);
}

/// Another process (here a second pool on the same database) hears the
/// first's changes on its own, without a sync.
async fn a_second_store_hears_the_first(b: Backend) {
    let db = fresh_database(b).await;
    let (store, _, _) = following(&db).await;
    let (_, other, _) = following(&db).await;
    store.users().create_user(&user("@a:x")).await.unwrap();
    store.users().set_locked("@a:x", true).await.unwrap();
    for _ in 0..200 {
        if !other.0.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(other.take(), vec![Heard::User("@a:x".into())]);
}
