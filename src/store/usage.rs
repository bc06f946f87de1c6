//! The SQL of what requests leave behind, written in batches: tokens' last
//! use, devices' last sighting, client IPs, and monthly-active users.
//! [`UsageRepository`].

use super::{ClientIpSeen, DeviceSeen, StoreResult};
use crate::clock::Timestamp;
use async_trait::async_trait;
use sqlx::Row;

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
                let mut tx = self.conn.batch().await?;
                for s in seen {
                    sqlx::query(
                        "UPDATE devices SET last_seen_ts = $3, last_seen_ip = COALESCE($4, last_seen_ip) \
                         WHERE user_id = $1 AND device_id = $2",
                    )
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

            /// One transaction for the batch; if it fails, each row on its
            /// own, so that a row the database refuses costs only itself.
            #[tracing::instrument(skip_all, fields(count = seen.len()))]
            async fn record_client_ips(&mut self, seen: &[ClientIpSeen]) -> StoreResult<()> {
                const UPSERT: &str = "INSERT INTO user_ips \
                     (user_id, token_id, ip, user_agent, device_id, last_seen_ts) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (user_id, token_id, ip) DO UPDATE \
                     SET last_seen_ts = excluded.last_seen_ts, device_id = excluded.device_id, \
                     user_agent = excluded.user_agent \
                     WHERE user_ips.last_seen_ts < excluded.last_seen_ts";
                let batch = async {
                    let mut tx = self.conn.atomic().await?;
                    for s in seen {
                        sqlx::query(UPSERT)
                            .bind(&s.user_id)
                            .bind(s.token_id)
                            .bind(&s.ip)
                            .bind(&s.user_agent)
                            .bind(&s.device_id)
                            .bind(s.last_seen_ts)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await
                };
                match batch.await {
                    Ok(()) => return Ok(()),
                    // The database is unreachable: no row would do better.
                    Err(e) if !matches!(e, sqlx::Error::Database(_)) => return Err(e.into()),
                    Err(e) => tracing::warn!("a client-IP batch failed, writing its rows one by one: {e}"),
                }
                for s in seen {
                    let one = sqlx::query(UPSERT)
                        .bind(&s.user_id)
                        .bind(s.token_id)
                        .bind(&s.ip)
                        .bind(&s.user_agent)
                        .bind(&s.device_id)
                        .bind(s.last_seen_ts)
                        .execute(&mut *self.conn.get().await?)
                        .await;
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

            #[tracing::instrument(skip_all, fields(count = used.len()))]
            async fn record_tokens_last_used(&mut self, used: &[(i64, i64)]) -> StoreResult<()> {
                let mut tx = self.conn.batch().await?;
                for (id, ts) in used {
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
