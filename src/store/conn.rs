//! Where a repository's statements run: on the pool, where each call is
//! atomic on its own, or inside a transaction the caller holds
//! ([`super::Store::begin`]). A repository is written once against
//! [`Conn`] and serves both.

use crate::clock::Stopwatch;
use prometheus::Histogram;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, OnceLock};

/// How each backend starts a transaction.
pub(super) trait Dialect: Database {
    /// SQLite's default (deferred) transaction takes the write lock only at
    /// its first write, and in WAL mode fails at once (SQLITE_BUSY_SNAPSHOT,
    /// no busy wait) if another connection wrote since it first read;
    /// taking the lock up front waits instead.
    const BEGIN: &'static str;
    /// Whether writes lock rows (PostgreSQL) rather than the whole
    /// database (SQLite): see [`Conn::batch`].
    const ROW_LOCKS: bool;
}

impl Dialect for sqlx::Sqlite {
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    const ROW_LOCKS: bool = false;
}

impl Dialect for sqlx::Postgres {
    const BEGIN: &'static str = "BEGIN";
    const ROW_LOCKS: bool = true;
}

/// A backend's pool, and where its waits for a connection are reported
/// (the metrics' `mxauth_db_pool_acquire_wait_seconds`, once set).
pub(super) struct Pooled<DB: Database> {
    pool: Pool<DB>,
    acquire_wait: Arc<OnceLock<Histogram>>,
}

impl<DB: Database> Clone for Pooled<DB> {
    fn clone(&self) -> Self {
        Pooled {
            pool: self.pool.clone(),
            acquire_wait: self.acquire_wait.clone(),
        }
    }
}

impl<DB: Dialect> Pooled<DB> {
    pub(super) fn new(pool: Pool<DB>) -> Self {
        Pooled {
            pool,
            acquire_wait: Arc::new(OnceLock::new()),
        }
    }

    /// The pool itself (for what keeps a connection of its own).
    pub(super) fn inner(&self) -> &Pool<DB> {
        &self.pool
    }

    /// A connection of the pool, its wait reported.
    pub(super) async fn acquire(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        let since = Stopwatch::start();
        let conn = self.pool.acquire().await;
        self.observe(since);
        conn
    }

    /// A transaction on a connection of the pool, the wait for the
    /// connection and the `BEGIN` reported.
    pub(super) async fn begin(&self) -> Result<sqlx::Transaction<'static, DB>, sqlx::Error> {
        let since = Stopwatch::start();
        let tx = self.pool.begin_with(DB::BEGIN).await;
        self.observe(since);
        tx
    }

    fn observe(&self, since: Stopwatch) {
        if let Some(h) = self.acquire_wait.get() {
            h.observe(since.seconds());
        }
    }

    /// Reports every later wait to `histogram` (the first given is kept).
    pub(super) fn report_waits_to(&self, histogram: Histogram) {
        let _ = self.acquire_wait.set(histogram);
    }

    /// The pool's connections now.
    pub(super) fn status(&self) -> super::PoolStatus {
        let size = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        super::PoolStatus {
            in_use: size.saturating_sub(idle),
            idle,
        }
    }
}

/// The connection source of a repository.
pub(super) enum Conn<'a, DB: Database> {
    Pool(&'a Pooled<DB>),
    Tx(&'a mut sqlx::Transaction<'static, DB>),
}

/// The repositories of one backend: every area's trait is implemented for
/// it (one `impl` per area file).
pub(super) struct Repo<'a, DB: Database> {
    pub(super) conn: Conn<'a, DB>,
}

impl<'a, DB: Database> Repo<'a, DB> {
    pub(super) fn pool(pool: &'a Pooled<DB>) -> Self {
        Repo {
            conn: Conn::Pool(pool),
        }
    }

    pub(super) fn tx(tx: &'a mut sqlx::Transaction<'static, DB>) -> Self {
        Repo { conn: Conn::Tx(tx) }
    }
}

/// A connection to run one statement on.
pub(super) enum Held<'a, DB: Database> {
    Pooled(PoolConnection<DB>),
    Borrowed(&'a mut DB::Connection),
}

impl<DB: Database> Deref for Held<'_, DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        match self {
            Held::Pooled(c) => c,
            Held::Borrowed(c) => c,
        }
    }
}

impl<DB: Database> DerefMut for Held<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match self {
            Held::Pooled(c) => c,
            Held::Borrowed(c) => c,
        }
    }
}

/// Several statements that must happen together: a transaction of their
/// own on the pool, or simply the caller's transaction.
pub(super) enum Atomic<'a, DB: Database> {
    Own(sqlx::Transaction<'static, DB>),
    Within(&'a mut DB::Connection),
    /// No transaction: each statement commits on its own ([`Conn::batch`]).
    Unbound(PoolConnection<DB>),
}

impl<DB: Database> Deref for Atomic<'_, DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        match self {
            Atomic::Own(t) => t,
            Atomic::Within(c) => c,
            Atomic::Unbound(c) => c,
        }
    }
}

impl<DB: Database> DerefMut for Atomic<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match self {
            Atomic::Own(t) => t,
            Atomic::Within(c) => c,
            Atomic::Unbound(c) => c,
        }
    }
}

impl<DB: Database> Atomic<'_, DB> {
    /// Commits an own transaction; inside the caller's, the caller commits.
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Atomic::Own(t) => t.commit().await,
            Atomic::Within(_) | Atomic::Unbound(_) => Ok(()),
        }
    }
}

impl<DB: Dialect> Conn<'_, DB> {
    /// A connection for one statement.
    pub(super) async fn get(&mut self) -> Result<Held<'_, DB>, sqlx::Error> {
        match self {
            Conn::Pool(pool) => Ok(Held::Pooled(pool.acquire().await?)),
            Conn::Tx(tx) => Ok(Held::Borrowed(&mut ***tx)),
        }
    }

    /// A batch of independent writes (the usage flush, see `usage.rs` for
    /// how its multi-row statements keep this property): one
    /// transaction where a write locks the whole database (SQLite: one
    /// sync for the batch), each statement committing on its own where
    /// writes lock rows (PostgreSQL), so that a batch never holds one row
    /// while waiting for another and cannot deadlock with a request
    /// deleting several of them (`/logout/all` deleting the tokens the
    /// batch is stamping). Inside a caller's transaction, that one.
    pub(super) async fn batch(&mut self) -> Result<Atomic<'_, DB>, sqlx::Error> {
        match self {
            Conn::Pool(pool) if DB::ROW_LOCKS => Ok(Atomic::Unbound(pool.acquire().await?)),
            Conn::Pool(pool) => Ok(Atomic::Own(pool.begin().await?)),
            Conn::Tx(tx) => Ok(Atomic::Within(&mut ***tx)),
        }
    }

    /// A transaction for several statements (see [`Atomic`]).
    pub(super) async fn atomic(&mut self) -> Result<Atomic<'_, DB>, sqlx::Error> {
        match self {
            Conn::Pool(pool) => Ok(Atomic::Own(pool.begin().await?)),
            Conn::Tx(tx) => Ok(Atomic::Within(&mut ***tx)),
        }
    }
}
