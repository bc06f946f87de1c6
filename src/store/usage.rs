//! The SQL of what requests leave behind, written in batches: tokens' last
//! use, devices' last sighting, client IPs, and monthly-active users.
//! [`UsageRepository`].

//!
//! The flush writes a few hundred rows a statement ([`CHUNK`]). On
//! PostgreSQL each statement commits on its own, and one that stamps
//! tokens or devices first locks its rows with `SKIP LOCKED`: it never
//! waits for a row while holding others, so it cannot deadlock with a
//! request deleting several of them (`/logout/all` deleting the tokens a
//! chunk is stamping, in whatever order). The rows it skipped (held by
//! such a request, or another process's flush) are then written one by
//! one, each statement waiting for its one row while holding nothing, as
//! the whole batch was before. Retrying a chunk on a deadlock instead
//! would still let PostgreSQL pick the request as the victim (a 500),
//! after a second's stall; making every path that deletes several tokens
//! or devices lock them in one order would be a rule for all of them to
//! keep. Client IPs are only ever deleted by the pruner, one statement:
//! their chunks upsert in key order, so flushes of several processes lock
//! them in one order, and a chunk the database refuses (a deadlock with
//! the pruner among the causes) falls back to rows one by one.

use super::conn::Dialect;
use super::{ClientIpSeen, DeviceSeen, StoreResult};
use crate::clock::Timestamp;
use async_trait::async_trait;
use sqlx::Row;
use std::collections::HashSet;

/// Rows written a statement by the flush: 500 client-IP rows bind 3,000
/// parameters, far under either backend's limit.
const CHUNK: usize = 500;

/// Monthly-active users by kind (see [`UsageRepository::count_monthly_active_users`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MauCount {
    pub app_service: i64,
    pub other: i64,
}

#[async_trait]
pub trait UsageRepository: Send {
    /// Records when and from where devices were last seen (a batch).
    async fn record_device_last_seen(&mut self, seen: &[DeviceSeen]) -> StoreResult<()>;
    /// Upserts a batch of client-IP sightings, one row per (user, token,
    /// address); a later `last_seen_ts` wins, with its user agent and device.
    /// A row the database refuses is skipped (and logged), not the batch.
    async fn record_client_ips(&mut self, seen: &[ClientIpSeen]) -> StoreResult<()>;
    /// Every recorded sighting of the user, newest first.
    async fn list_client_ips(&mut self, user_id: &str) -> StoreResult<Vec<ClientIpSeen>>;
    /// Deletes at most `limit` sightings last seen at or before `before`;
    /// returns how many went.
    async fn prune_client_ips(&mut self, before: Timestamp, limit: i64) -> StoreResult<u64>;
    /// When the user was last counted as monthly-active, if they are.
    async fn mau_last_seen(&mut self, user_id: &str) -> StoreResult<Option<Timestamp>>;
    /// How many users are monthly-active: those of application services,
    /// and the others (including entries with no user row).
    async fn count_monthly_active_users(&mut self) -> StoreResult<MauCount>;
    async fn upsert_monthly_active_user(&mut self, user_id: &str, ts: Timestamp)
        -> StoreResult<()>;
    /// Forgets users last seen before `before`, except those in `keep`;
    /// then, with `max`, keeps only the `max - keep.len()` most recently
    /// seen of the others.
    async fn reap_monthly_active_users(
        &mut self,
        before: Timestamp,
        keep: &[String],
        max: Option<i64>,
    ) -> StoreResult<()>;
    /// Writes last-used times for a batch of tokens.
    async fn record_tokens_last_used(&mut self, used: &[(i64, i64)]) -> StoreResult<()>;
}

macro_rules! usage_store {
    ($db:ty) => {
        #[async_trait]
        impl UsageRepository for Repo<'_, $db> {
            #[tracing::instrument(skip_all, fields(count = seen.len()))]
            async fn record_device_last_seen(&mut self, seen: &[DeviceSeen]) -> StoreResult<()> {
                const ONE: &str = "UPDATE devices SET last_seen_ts = $3, \
                     last_seen_ip = COALESCE($4, last_seen_ip) WHERE user_id = $1 AND device_id = $2";
                let mut tx = self.conn.batch().await?;
                let mut skipped = Vec::new();
                for chunk in seen.chunks(CHUNK) {
                    let mut q = sqlx::QueryBuilder::<$db>::new("WITH v (user_id, device_id, ts, ip) AS (");
                    q.push_values(chunk, |mut row, s| {
                        row.push_bind(&s.user_id)
                            .push_bind(&s.device_id)
                            .push_bind(s.last_seen_ts)
                            .push_bind(&s.ip);
                    });
                    if !<$db as Dialect>::ROW_LOCKS {
                        q.push(
                            ") UPDATE devices SET last_seen_ts = v.ts, \
                             last_seen_ip = COALESCE(v.ip, devices.last_seen_ip) FROM v \
                             WHERE devices.user_id = v.user_id AND devices.device_id = v.device_id",
                        );
                        q.build().execute(&mut *tx).await?;
                        continue;
                    }
                    q.push(
                        "), locked AS (SELECT d.user_id, d.device_id, v.ts, v.ip FROM v \
                         JOIN devices d ON d.user_id = v.user_id AND d.device_id = v.device_id \
                         FOR NO KEY UPDATE OF d SKIP LOCKED) \
                         UPDATE devices SET last_seen_ts = locked.ts, \
                         last_seen_ip = COALESCE(locked.ip, devices.last_seen_ip) FROM locked \
                         WHERE devices.user_id = locked.user_id AND devices.device_id = locked.device_id \
                         RETURNING devices.user_id, devices.device_id",
                    );
                    let done = q
                        .build()
                        .fetch_all(&mut *tx)
                        .await?
                        .iter()
                        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
                        .collect::<Result<HashSet<_>, sqlx::Error>>()?;
                    skipped.extend(chunk.iter().filter(|s| {
                        !done.contains(&(s.user_id.clone(), s.device_id.clone()))
                    }));
                }
                // Held by a request or another flush (or gone): one by one.
                for s in skipped {
                    sqlx::query(ONE)
                        .bind(&s.user_id)
                        .bind(&s.device_id)
                        .bind(s.last_seen_ts)
                        .bind(&s.ip)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            /// In chunks, in key order (see the module's comment); if one
            /// fails, every row on its own (the upsert keeps the later
            /// sighting, so a row written twice is harmless), so that a
            /// row the database refuses costs only itself.
            #[tracing::instrument(skip_all, fields(count = seen.len()))]
            async fn record_client_ips(&mut self, seen: &[ClientIpSeen]) -> StoreResult<()> {
                const COLUMNS: &str = "INSERT INTO user_ips \
                     (user_id, token_id, ip, user_agent, device_id, last_seen_ts) ";
                const ON_CONFLICT: &str = " ON CONFLICT (user_id, token_id, ip) DO UPDATE \
                     SET last_seen_ts = excluded.last_seen_ts, device_id = excluded.device_id, \
                     user_agent = excluded.user_agent \
                     WHERE user_ips.last_seen_ts < excluded.last_seen_ts";
                fn upsert<'a>(rows: &[&'a ClientIpSeen]) -> sqlx::QueryBuilder<'a, $db> {
                    let mut q = sqlx::QueryBuilder::<$db>::new(COLUMNS);
                    q.push_values(rows, |mut row, s| {
                        row.push_bind(&s.user_id)
                            .push_bind(s.token_id)
                            .push_bind(&s.ip)
                            .push_bind(&s.user_agent)
                            .push_bind(&s.device_id)
                            .push_bind(s.last_seen_ts);
                    });
                    q.push(ON_CONFLICT);
                    q
                }
                let mut sorted: Vec<&ClientIpSeen> = seen.iter().collect();
                sorted.sort_unstable_by(|a, b| {
                    (&a.user_id, a.token_id, &a.ip).cmp(&(&b.user_id, b.token_id, &b.ip))
                });
                let batch = async {
                    let mut tx = self.conn.batch().await?;
                    for chunk in sorted.chunks(CHUNK) {
                        upsert(chunk).build().execute(&mut *tx).await?;
                    }
                    tx.commit().await
                };
                match batch.await {
                    Ok(()) => return Ok(()),
                    // The database is unreachable: no row would do better.
                    Err(e) if !matches!(e, sqlx::Error::Database(_)) => return Err(e.into()),
                    Err(e) => tracing::warn!("a client-IP batch failed, writing its rows one by one: {e}"),
                }
                for s in sorted {
                    let one = upsert(&[s]).build().execute(&mut *self.conn.get().await?).await;
                    match one {
                        Ok(_) => {}
                        Err(e @ sqlx::Error::Database(_)) => {
                            tracing::warn!(user_id = %s.user_id, "a client-IP row was refused: {e}");
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn list_client_ips(&mut self, user_id: &str) -> StoreResult<Vec<ClientIpSeen>> {
                let rows = sqlx::query(
                    "SELECT user_id, token_id, ip, user_agent, device_id, last_seen_ts FROM user_ips \
                     WHERE user_id = $1 ORDER BY last_seen_ts DESC, token_id, ip",
                )
                .bind(user_id)
                .fetch_all(&mut *self.conn.get().await?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(ClientIpSeen {
                            user_id: r.try_get("user_id")?,
                            token_id: r.try_get("token_id")?,
                            ip: r.try_get("ip")?,
                            user_agent: r.try_get("user_agent")?,
                            device_id: r.try_get("device_id")?,
                            last_seen_ts: r.try_get("last_seen_ts")?,
                        })
                    })
                    .collect()
            }

            #[tracing::instrument(skip_all)]
            async fn prune_client_ips(&mut self, before: Timestamp, limit: i64) -> StoreResult<u64> {
                let done = sqlx::query(
                    "DELETE FROM user_ips WHERE last_seen_ts IN (SELECT last_seen_ts FROM user_ips \
                     WHERE last_seen_ts <= $1 ORDER BY last_seen_ts LIMIT $2)",
                )
                .bind(before)
                .bind(limit)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected())
            }

            async fn mau_last_seen(&mut self, user_id: &str) -> StoreResult<Option<Timestamp>> {
                let row = sqlx::query("SELECT last_seen_ts FROM monthly_active_users WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *self.conn.get().await?)
                    .await?;
                Ok(row.map(|r| r.try_get("last_seen_ts")).transpose()?)
            }

            /// Every entry counted from the primary key alone, and those of
            /// application services' users through the partial index of
            /// those users (migration 0024), rather than joining each entry
            /// with its user (~0.5 s at a million entries).
            async fn count_monthly_active_users(&mut self) -> StoreResult<MauCount> {
                let row = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM monthly_active_users) AS total, \
                     (SELECT COUNT(*) FROM users u JOIN monthly_active_users m ON m.user_id = u.name \
                     WHERE u.appservice_id <> '') AS app_service",
                )
                .fetch_one(&mut *self.conn.get().await?)
                .await?;
                let total: i64 = row.try_get("total")?;
                let app_service: i64 = row.try_get("app_service")?;
                Ok(MauCount {
                    app_service,
                    other: total - app_service,
                })
            }

            async fn upsert_monthly_active_user(&mut self, user_id: &str, ts: Timestamp) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO monthly_active_users (user_id, last_seen_ts) VALUES ($1, $2) \
                     ON CONFLICT (user_id) DO UPDATE SET last_seen_ts = excluded.last_seen_ts \
                     WHERE monthly_active_users.last_seen_ts < excluded.last_seen_ts",
                )
                .bind(user_id)
                .bind(ts)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn reap_monthly_active_users(
                &mut self,
                before: Timestamp,
                keep: &[String],
                max: Option<i64>,
            ) -> StoreResult<()> {
                // `AND user_id NOT IN ($first, ...)` over the kept users.
                let not_kept = |first: usize| {
                    if keep.is_empty() {
                        return String::new();
                    }
                    let params: Vec<String> =
                        (0..keep.len()).map(|i| format!("${}", first + i)).collect();
                    format!(" AND user_id NOT IN ({})", params.join(", "))
                };
                let mut tx = self.conn.atomic().await?;
                let sql = format!(
                    "DELETE FROM monthly_active_users WHERE last_seen_ts < $1{}",
                    not_kept(2)
                );
                let mut q = sqlx::query(&sql).bind(before);
                for k in keep {
                    q = q.bind(k);
                }
                q.execute(&mut *tx).await?;
                if let Some(max) = max {
                    // Not `DELETE ... WHERE user_id NOT IN (SELECT ... LIMIT max)`
                    // (Synapse's): PostgreSQL runs that as a hashed subplan
                    // only while the kept IDs fit in work_mem, and above
                    // that compares each row with every kept one (hours at
                    // a million rows). Instead: the first entry past the
                    // `others` newest, found from the newest end of the
                    // index on (last_seen_ts, user_id) (none: nothing to
                    // reap), and a range delete of it and everything older.
                    // Ties on last_seen_ts go by user_id, the greater kept.
                    // First a count (a sequential scan, ~40 ms at a million
                    // on PostgreSQL, against ~0.5 s for the walk): under
                    // the maximum, the usual case, nothing more to do.
                    let others = (max - keep.len() as i64).max(0);
                    let sql = format!(
                        "SELECT COUNT(*) AS n FROM monthly_active_users WHERE TRUE{}",
                        not_kept(1),
                    );
                    let mut q = sqlx::query(&sql);
                    for k in keep {
                        q = q.bind(k);
                    }
                    let count: i64 = q.fetch_one(&mut *tx).await?.try_get("n")?;
                    if count <= others {
                        tx.commit().await?;
                        return Ok(());
                    }
                    let sql = format!(
                        "SELECT last_seen_ts, user_id FROM monthly_active_users WHERE TRUE{} \
                         ORDER BY last_seen_ts DESC, user_id DESC LIMIT 1 OFFSET $1",
                        not_kept(2),
                    );
                    let mut q = sqlx::query(&sql).bind(others);
                    for k in keep {
                        q = q.bind(k);
                    }
                    if let Some(first_reaped) = q.fetch_optional(&mut *tx).await? {
                        let ts: i64 = first_reaped.try_get("last_seen_ts")?;
                        let user_id: String = first_reaped.try_get("user_id")?;
                        let sql = format!(
                            "DELETE FROM monthly_active_users \
                             WHERE (last_seen_ts, user_id) <= ($1, $2){}",
                            not_kept(3),
                        );
                        let mut q = sqlx::query(&sql).bind(ts).bind(user_id);
                        for k in keep {
                            q = q.bind(k);
                        }
                        q.execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            /// Only `last_used_ts` is written: the trigger telling the
            /// token caches of changes (migration 0022) ignores it.
            #[tracing::instrument(skip_all, fields(count = used.len()))]
            async fn record_tokens_last_used(&mut self, used: &[(i64, i64)]) -> StoreResult<()> {
                let mut tx = self.conn.batch().await?;
                let mut skipped = Vec::new();
                for chunk in used.chunks(CHUNK) {
                    let mut q = sqlx::QueryBuilder::<$db>::new("WITH v (id, ts) AS (");
                    q.push_values(chunk, |mut row, (id, ts)| {
                        row.push_bind(*id).push_bind(*ts);
                    });
                    if !<$db as Dialect>::ROW_LOCKS {
                        q.push(
                            ") UPDATE access_tokens SET last_used_ts = v.ts FROM v \
                             WHERE access_tokens.id = v.id",
                        );
                        q.build().execute(&mut *tx).await?;
                        continue;
                    }
                    q.push(
                        "), locked AS (SELECT a.id, v.ts FROM v JOIN access_tokens a ON a.id = v.id \
                         FOR NO KEY UPDATE OF a SKIP LOCKED) \
                         UPDATE access_tokens SET last_used_ts = locked.ts FROM locked \
                         WHERE access_tokens.id = locked.id RETURNING access_tokens.id",
                    );
                    let done = q
                        .build()
                        .fetch_all(&mut *tx)
                        .await?
                        .iter()
                        .map(|r| r.try_get::<i64, _>(0))
                        .collect::<Result<HashSet<_>, _>>()?;
                    skipped.extend(chunk.iter().filter(|(id, _)| !done.contains(id)));
                }
                // Held by a request or another flush (or gone): one by one.
                for (id, ts) in skipped {
                    sqlx::query("UPDATE access_tokens SET last_used_ts = $2 WHERE id = $1")
                        .bind(id)
                        .bind(ts)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

use super::conn::Repo;
usage_store!(sqlx::Sqlite);
usage_store!(sqlx::Postgres);
