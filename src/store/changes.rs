//! The feed of changes that request authentication's cache must forget,
//! from every process on the database: an access token deleted or changed,
//! a user's flags changed. Triggers of migration 0022 write them on every
//! path that changes those rows; here each backend reads them back.
//!
//! - PostgreSQL: `LISTEN mxauth_token_changes` on a connection of its own
//!   (notifications arrive at commit, in commit order). A lost connection
//!   is reported ([`ChangeSink::lost`]) and, after a pause, connected and
//!   listened to again before the sink hears [`ChangeSink::caught_up`].
//! - SQLite: the `token_changes` table, polled by id every [`SQLITE_POLL`]
//!   (on the pool: an in-memory database is one connection); rows older
//!   than [`SQLITE_KEEP_MS`] are swept. A gap in the ids (rows swept before
//!   this process read them) or a failed poll is reported as lost.
//!
//! [`ChangeFeed::sync`] is how a process sees its own changes at once: it
//! returns once everything committed before it was called has reached the
//! sink.

use super::{StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::sqlite::SqlitePool;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Notify};

/// Who hears the changes: the token cache.
pub trait ChangeSink: Send + Sync {
    /// An access token (by its hash) was deleted or changed.
    fn token_changed(&self, token_hash: &[u8]);
    /// A user's flags (deactivated, locked, guest, admin) changed, or the
    /// user was deleted.
    fn user_changed(&self, user_id: &str);
    /// The feed may have missed changes: forget everything, trust nothing
    /// until [`ChangeSink::caught_up`].
    fn lost(&self);
    /// The feed follows every change again.
    fn caught_up(&self);
}

/// One process's view of the changes of all.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// Follows the changes until the process ends (a task of its own).
    async fn follow(&self);
    /// Returns once every change committed before the call has reached
    /// the sink (at once when the feed is not following: the sink trusts
    /// nothing then).
    async fn sync(&self);
}

/// The PostgreSQL channel of migration 0022's triggers.
pub const CHANNEL: &str = "mxauth_token_changes";
/// How often SQLite's table is read.
pub const SQLITE_POLL: Duration = Duration::from_millis(25);
/// How long SQLite's rows are kept for processes to read them.
pub const SQLITE_KEEP_MS: i64 = 10 * 60 * 1000;
/// How long a lost PostgreSQL connection waits before connecting again.
pub const RECONNECT_PAUSE: Duration = Duration::from_secs(1);
/// How long [`ChangeFeed::sync`] waits for its own notification before it
/// takes the connection for lost.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);

/// SQLite: the table, polled.
pub(super) struct SqliteFeed {
    pool: SqlitePool,
    sink: Arc<dyn ChangeSink>,
    state: tokio::sync::Mutex<SqliteState>,
}

#[derive(Default)]
struct SqliteState {
    /// The last id read; `None` until the first poll (and after a failed one).
    last: Option<i64>,
    polls: u64,
}

impl SqliteFeed {
    pub(super) fn new(pool: SqlitePool, sink: Arc<dyn ChangeSink>) -> Self {
        SqliteFeed {
            pool,
            sink,
            state: tokio::sync::Mutex::new(SqliteState::default()),
        }
    }

    /// Reads what is new; on any failure, reports the feed lost and starts
    /// over at the next poll.
    async fn poll(&self) {
        let mut state = self.state.lock().await;
        if let Err(e) = self.poll_locked(&mut state).await {
            if state.last.is_some() {
                tracing::warn!("token cache: cannot read the changes table: {e}");
            }
            state.last = None;
            self.sink.lost();
        }
    }

    async fn poll_locked(&self, state: &mut SqliteState) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        let Some(last) = state.last else {
            // Everything before now is in the database: start after it.
            let seq: Option<i64> =
                sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'token_changes'")
                    .fetch_optional(&mut *conn)
                    .await?;
            state.last = Some(seq.unwrap_or(0));
            self.sink.caught_up();
            return Ok(());
        };
        let rows = sqlx::query(
            "SELECT id, token_hash, user_id FROM token_changes WHERE id > $1 ORDER BY id",
        )
        .bind(last)
        .fetch_all(&mut *conn)
        .await?;
        let mut expected = last + 1;
        for row in rows {
            let id: i64 = row.try_get("id")?;
            if id != expected {
                return Err(StoreError::Corrupt(format!(
                    "token changes {expected}..{id} were swept before they were read"
                )));
            }
            expected = id + 1;
            if let Some(hash) = row.try_get::<Option<Vec<u8>>, _>("token_hash")? {
                self.sink.token_changed(&hash);
            }
            if let Some(user) = row.try_get::<Option<String>, _>("user_id")? {
                self.sink.user_changed(&user);
            }
        }
        state.last = Some(expected - 1);
        state.polls += 1;
        // About once a minute, each process sweeps what every process has
        // had time to read.
        if state.polls % 2400 == 0 {
            sqlx::query(
                "DELETE FROM token_changes \
                 WHERE created_ts < CAST(unixepoch('subsec') * 1000 AS INTEGER) - $1",
            )
            .bind(SQLITE_KEEP_MS)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ChangeFeed for SqliteFeed {
    async fn follow(&self) {
        let mut tick = tokio::time::interval(SQLITE_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.poll().await;
        }
    }

    async fn sync(&self) {
        self.poll().await;
    }
}

/// PostgreSQL: LISTEN/NOTIFY.
pub(super) struct PostgresFeed {
    pool: PgPool,
    sink: Arc<dyn ChangeSink>,
    /// Set while the listening connection is up.
    listening: AtomicBool,
    /// What tells [`ChangeFeed::follow`] to drop its connection (a sync
    /// that timed out: the connection may be dead without knowing it).
    reset: Notify,
    /// This feed's mark in sync payloads, and the syncs waiting.
    id: String,
    next_sync: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<()>>>,
}

impl PostgresFeed {
    pub(super) fn new(pool: PgPool, sink: Arc<dyn ChangeSink>) -> Self {
        let id = crate::clock::random_from(&crate::clock::OsRandom, 16, b"0123456789abcdef");
        PostgresFeed {
            pool,
            sink,
            listening: AtomicBool::new(false),
            reset: Notify::new(),
            id,
            next_sync: AtomicU64::new(0),
            waiting: Mutex::new(HashMap::new()),
        }
    }

    /// A listener on a connection of its own (not one of the pool's),
    /// named so that an operator sees it in `pg_stat_activity`.
    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let options = (*self.pool.connect_options())
            .clone()
            .application_name("mxauth token cache");
        let own = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&own).await?;
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    fn handle(&self, payload: &str) {
        if let Some(hex) = payload.strip_prefix("t:") {
            match hex::decode(hex) {
                Ok(hash) => self.sink.token_changed(&hash),
                // Not ours: forget everything rather than guess.
                Err(_) => self.sink.user_changed(""),
            }
        } else if let Some(user) = payload.strip_prefix("u:") {
            self.sink.user_changed(user);
        } else if let Some(mark) = payload.strip_prefix("s:") {
            let Some((feed, n)) = mark.split_once(':') else {
                return;
            };
            if feed != self.id {
                return;
            }
            if let Ok(n) = n.parse::<u64>() {
                let waiter = self.waiting.lock().expect("not poisoned").remove(&n);
                if let Some(w) = waiter {
                    let _ = w.send(());
                }
            }
        }
    }

    /// Listens until the connection is lost (or reset).
    async fn follow_once(&self) -> Result<(), sqlx::Error> {
        let mut listener = self.listen().await?;
        self.listening.store(true, Ordering::SeqCst);
        self.sink.caught_up();
        loop {
            let next = tokio::select! {
                n = listener.try_recv() => n?,
                () = self.reset.notified() => None,
            };
            match next {
                Some(n) => self.handle(n.payload()),
                None => return Ok(()),
            }
        }
    }
}

#[async_trait]
impl ChangeFeed for PostgresFeed {
    async fn follow(&self) {
        let mut first = true;
        loop {
            let result = self.follow_once().await;
            let was_listening = self.listening.swap(false, Ordering::SeqCst);
            self.sink.lost();
            // Whoever waits for a sync stops waiting: the sink trusts
            // nothing now.
            self.waiting.lock().expect("not poisoned").clear();
            // Said once per outage, not at every attempt.
            match result {
                Ok(()) => tracing::warn!("token cache: lost the notification connection"),
                Err(e) if was_listening || first => {
                    tracing::warn!("token cache: cannot listen for changes: {e}")
                }
                Err(e) => tracing::debug!("token cache: still cannot listen: {e}"),
            }
            first = false;
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }

    async fn sync(&self) {
        if !self.listening.load(Ordering::SeqCst) {
            return;
        }
        let n = self.next_sync.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().expect("not poisoned").insert(n, tx);
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("s:{}:{n}", self.id))
            .execute(&self.pool)
            .await;
        let arrived = match sent {
            Ok(_) => tokio::time::timeout(SYNC_TIMEOUT, rx).await.is_ok(),
            Err(_) => false,
        };
        if !arrived {
            self.waiting.lock().expect("not poisoned").remove(&n);
            if self.listening.load(Ordering::SeqCst) {
                tracing::warn!("token cache: a sync did not come back; listening again");
                self.sink.lost();
                self.reset.notify_one();
            }
        }
    }
}
