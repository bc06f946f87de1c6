//! The SQL of both backends, written once. SQLite and PostgreSQL both accept
//! `$N` placeholders, `RETURNING` and `ON CONFLICT`, so one macro body
//! implements [`Store`] for each pool type; only connecting and the
//! migrations (`migrations/{sqlite,postgres}`) differ. Here: connecting,
//! the row mappers and shared helpers, users, devices and access tokens;
//! each other area is a supertrait of [`Store`] in a file of its own
//! (`threepids.rs`, `usage.rs`, `uia.rs`, `registration.rs`, `jobs.rs`,
//! `sso.rs`, `ratelimit.rs`, `oauth*.rs`), written with the same macro pattern.

use super::changes::{ChangeFeed, ChangeSink, PostgresFeed, SqliteFeed};
use super::conn::{Pooled, Repo};
use super::{
    AccessTokenRepository, DeviceGrantRepository, DeviceRepository, HomeserverJobRepository,
    OAuthGrantRepository, OAuthRepository, PoolStatus, RateLimitRepository, RefreshTokenRepository,
    RegistrationRepository, SsoRepository, Store, StoreError, StoreResult, SynapseImportRepository,
    ThreepidRepository, Transaction, UiaRepository, UsageRepository, UserRepository,
};
use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// SQLite (WAL), the embedded default.
#[derive(Clone)]
pub struct SqliteStore {
    pub(super) pool: Pooled<sqlx::Sqlite>,
    /// An in-memory database: it exists only in the pool's one connection.
    in_memory: bool,
}

impl SqliteStore {
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let filename = options.get_filename().to_owned();
        let in_memory = filename.as_os_str() == ":memory:" || url.contains("mode=memory");
        if !in_memory {
            if let Some(dir) = filename.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Database(sqlx::Error::Configuration(
                        format!("cannot create {}: {e}", dir.display()).into(),
                    ))
                })?;
            }
        }
        // An in-memory database exists once per connection: keep exactly one.
        let max = if in_memory { 1 } else { max_connections.max(1) };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(if in_memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if in_memory {
                None
            } else {
                Some(Duration::from_secs(1800))
            })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore {
            pool: Pooled::new(pool),
            in_memory,
        })
    }

    fn feed(&self, sink: Arc<dyn ChangeSink>) -> Arc<dyn ChangeFeed> {
        Arc::new(SqliteFeed::new(self.pool.inner().clone(), sink))
    }

    /// Readiness: a table read (not a bare `SELECT 1`, which SQLite answers
    /// without reading the file) on a connection of its own, opened for
    /// it: a pooled one may answer from its page cache after the file is
    /// gone bad. An in-memory database is its pool's one connection.
    async fn ping_database(&self) -> StoreResult<()> {
        use sqlx::Connection;
        let query = sqlx::query("SELECT 1 FROM _sqlx_migrations LIMIT 1");
        if self.in_memory {
            query.execute(&mut *self.pool.acquire().await?).await?;
            return Ok(());
        }
        // Never made anew here: a missing file is not ready.
        let options = (*self.pool.inner().connect_options())
            .clone()
            .create_if_missing(false);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
        let read = query.execute(&mut conn).await;
        let _ = conn.close().await;
        read?;
        Ok(())
    }
}

/// A transaction of either backend (see [`Store::begin`]); dropped without
/// [`Transaction::commit`], it rolls back.
pub struct SqlTransaction<DB: sqlx::Database>(sqlx::Transaction<'static, DB>);

/// PostgreSQL, for several processes on one database.
#[derive(Clone)]
pub struct PostgresStore {
    pub(super) pool: Pooled<sqlx::Postgres>,
}

impl PostgresStore {
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PostgresStore {
            pool: Pooled::new(pool),
        })
    }

    fn feed(&self, sink: Arc<dyn ChangeSink>) -> Arc<dyn ChangeFeed> {
        Arc::new(PostgresFeed::new(self.pool.inner().clone(), sink))
    }

    /// Readiness: one row of the migrations' table, on the pool.
    async fn ping_database(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1 FROM _sqlx_migrations LIMIT 1")
            .execute(&mut *self.pool.acquire().await?)
            .await?;
        Ok(())
    }
}

pub(super) fn to_json_text(map: &Map<String, Value>) -> String {
    Value::Object(map.clone()).to_string()
}

pub(super) fn parse_object(text: &str) -> StoreResult<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StoreError::Corrupt(
            "a UIA dict is not a JSON object".into(),
        )),
    }
}

pub(super) fn parse_value(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("bad JSON: {e}")))
}

pub(super) const THREEPID_SESSION_COLUMNS: &str = "session_id, medium, address, client_secret, \
    last_send_attempt, validated_ts, token_hash, token_expires_ts, next_link, created_ts";

pub(super) const USER_COLUMNS: &str =
    "name, password_hash, admin, user_type, is_guest, deactivated, \
                            locked, created_ts, displayname, appservice_id, consent_version, \
                            credentials_version, suspended, erased, avatar_url";
pub(super) const DEVICE_COLUMNS: &str =
    "user_id, device_id, display_name, last_seen_ts, last_seen_ip";

macro_rules! sql_store {
    ($store:ident, $db:ty, $name:literal) => {
        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $name
            }

            async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
                let tx = self.pool.begin().await?;
                Ok(Box::new(SqlTransaction(tx)))
            }

            fn change_feed(&self, sink: Arc<dyn ChangeSink>) -> Arc<dyn ChangeFeed> {
                self.feed(sink)
            }

            async fn ping(&self) -> StoreResult<()> {
                self.ping_database().await
            }

            fn pool_status(&self) -> PoolStatus {
                self.pool.status()
            }

            fn report_pool_waits_to(&self, histogram: prometheus::Histogram) {
                self.pool.report_waits_to(histogram);
            }

            fn users(&self) -> Box<dyn UserRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn devices(&self) -> Box<dyn DeviceRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn access_tokens(&self) -> Box<dyn AccessTokenRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn refresh_tokens(&self) -> Box<dyn RefreshTokenRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn threepids(&self) -> Box<dyn ThreepidRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn uia(&self) -> Box<dyn UiaRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn registration(&self) -> Box<dyn RegistrationRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn usage(&self) -> Box<dyn UsageRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn jobs(&self) -> Box<dyn HomeserverJobRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn sso(&self) -> Box<dyn SsoRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn rate_limits(&self) -> Box<dyn RateLimitRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn oauth(&self) -> Box<dyn OAuthRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn oauth_grants(&self) -> Box<dyn OAuthGrantRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn device_grants(&self) -> Box<dyn DeviceGrantRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
            fn synapse_import(&self) -> Box<dyn SynapseImportRepository + '_> {
                Box::new(Repo::pool(&self.pool))
            }
        }

        #[async_trait]
        impl Transaction for SqlTransaction<$db> {
            async fn commit(self: Box<Self>) -> StoreResult<()> {
                Ok(self.0.commit().await?)
            }

            fn users(&mut self) -> Box<dyn UserRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn devices(&mut self) -> Box<dyn DeviceRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn access_tokens(&mut self) -> Box<dyn AccessTokenRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn refresh_tokens(&mut self) -> Box<dyn RefreshTokenRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn threepids(&mut self) -> Box<dyn ThreepidRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn uia(&mut self) -> Box<dyn UiaRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn registration(&mut self) -> Box<dyn RegistrationRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn usage(&mut self) -> Box<dyn UsageRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn jobs(&mut self) -> Box<dyn HomeserverJobRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn sso(&mut self) -> Box<dyn SsoRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn rate_limits(&mut self) -> Box<dyn RateLimitRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn oauth(&mut self) -> Box<dyn OAuthRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn oauth_grants(&mut self) -> Box<dyn OAuthGrantRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn device_grants(&mut self) -> Box<dyn DeviceGrantRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
            fn synapse_import(&mut self) -> Box<dyn SynapseImportRepository + '_> {
                Box::new(Repo::tx(&mut self.0))
            }
        }
    };
}

sql_store!(SqliteStore, sqlx::Sqlite, "sqlite");
sql_store!(PostgresStore, sqlx::Postgres, "postgres");
