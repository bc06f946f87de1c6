//! The SQL of the queue of calls owed to a delegating homeserver, in order
//! per user, for both backends. [`HomeserverJobRepository`] is reached through
//! [`super::Store`].

use super::sql::parse_value;
use super::{HomeserverJob, StoreResult};
use crate::clock::Timestamp;
use async_trait::async_trait;
use serde_json::Value;
use sqlx::Row;

#[async_trait]
pub trait HomeserverJobRepository: Send {
    /// Queues calls; returns their ids.
    async fn enqueue_homeserver_jobs(
        &mut self,
        user_id: &str,
        jobs: &[(&str, serde_json::Value)],
        now: Timestamp,
    ) -> StoreResult<Vec<i64>>;
    /// Queues a device-list reconciliation (`jobs`, the last of kind
    /// `sync_devices`) unless one is already waiting for the user; `false`
    /// then, and nothing is queued.
    async fn enqueue_device_sync(
        &mut self,
        user_id: &str,
        jobs: &[(&str, serde_json::Value)],
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Claims the oldest due job (of `user_id` only, if given) whose user has
    /// no older job waiting, for `lease_ms`. Another process cannot claim it
    /// until the lease runs out.
    async fn claim_homeserver_job(
        &mut self,
        now: Timestamp,
        lease_ms: i64,
        user_id: Option<&str>,
    ) -> StoreResult<Option<HomeserverJob>>;
    /// A job is done: it goes.
    async fn complete_homeserver_job(&mut self, id: i64) -> StoreResult<()>;
    /// A job failed: retried at `next_attempt_ts`.
    async fn fail_homeserver_job(
        &mut self,
        id: i64,
        next_attempt_ts: Timestamp,
        error: &str,
    ) -> StoreResult<()>;
    /// How many of these jobs are still waiting.
    async fn count_homeserver_jobs(&mut self, ids: &[i64]) -> StoreResult<i64>;
    /// Every user that has at least one device, with its devices' IDs.
    async fn all_user_devices(&mut self) -> StoreResult<Vec<(String, Vec<String>)>>;
    /// The queue at a glance, for the metrics: how many jobs wait (of
    /// every process) and when the oldest was queued. One statement: a
    /// count and the first row by primary key.
    async fn homeserver_queue_status(&mut self) -> StoreResult<(i64, Option<Timestamp>)>;
}

macro_rules! jobs_store {
    ($db:ty) => {
        #[async_trait]
        impl HomeserverJobRepository for Repo<'_, $db> {
            #[tracing::instrument(skip_all, fields(count = jobs.len()))]
            async fn enqueue_homeserver_jobs(
                &mut self,
                user_id: &str,
                jobs: &[(&str, Value)],
                now: Timestamp,
            ) -> StoreResult<Vec<i64>> {
                let mut tx = self.conn.atomic().await?;
                let mut ids = Vec::with_capacity(jobs.len());
                for (kind, payload) in jobs {
                    let row = sqlx::query(
                        "INSERT INTO homeserver_jobs (user_id, kind, payload, created_ts, next_attempt_ts) \
                         VALUES ($1, $2, $3, $4, $4) RETURNING id",
                    )
                    .bind(user_id)
                    .bind(*kind)
                    .bind(payload.to_string())
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    ids.push(row.try_get("id")?);
                }
                tx.commit().await?;
                Ok(ids)
            }

            #[tracing::instrument(skip_all)]
            async fn enqueue_device_sync(
                &mut self,
                user_id: &str,
                jobs: &[(&str, Value)],
                now: Timestamp,
            ) -> StoreResult<bool> {
                let mut tx = self.conn.atomic().await?;
                for (kind, payload) in jobs {
                    // A unique index allows one waiting `sync_devices` per
                    // user: a second one is not inserted, and then nothing is.
                    let done = sqlx::query(
                        "INSERT INTO homeserver_jobs (user_id, kind, payload, created_ts, \
                         next_attempt_ts) VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(user_id)
                    .bind(*kind)
                    .bind(payload.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn claim_homeserver_job(
                &mut self,
                now: Timestamp,
                lease_ms: i64,
                user_id: Option<&str>,
            ) -> StoreResult<Option<HomeserverJob>> {
                // The outer condition is checked again on the row itself, so
                // two processes racing for one job cannot both win it.
                let row = sqlx::query(
                    "UPDATE homeserver_jobs SET claimed_until_ts = $1 + $2 \
                     WHERE id = (SELECT j.id FROM homeserver_jobs j \
                        WHERE j.next_attempt_ts <= $1 \
                          AND (j.claimed_until_ts IS NULL OR j.claimed_until_ts < $1) \
                          AND ($3 = '' OR j.user_id = $3) \
                          AND NOT EXISTS (SELECT 1 FROM homeserver_jobs e \
                                          WHERE e.user_id = j.user_id AND e.id < j.id) \
                        ORDER BY j.id LIMIT 1) \
                     AND (claimed_until_ts IS NULL OR claimed_until_ts < $1) \
                     RETURNING id, user_id, kind, payload, attempts",
                )
                .bind(now)
                .bind(lease_ms)
                .bind(user_id.unwrap_or(""))
                .fetch_optional(&mut *self.conn.get().await?)
                .await?;
                let Some(r) = row else { return Ok(None) };
                let payload: String = r.try_get("payload")?;
                Ok(Some(HomeserverJob {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    kind: r.try_get("kind")?,
                    payload: parse_value(&payload)?,
                    attempts: r.try_get("attempts")?,
                }))
            }

            async fn complete_homeserver_job(&mut self, id: i64) -> StoreResult<()> {
                sqlx::query("DELETE FROM homeserver_jobs WHERE id = $1")
                    .bind(id)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            async fn fail_homeserver_job(
                &mut self,
                id: i64,
                next_attempt_ts: Timestamp,
                error: &str,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE homeserver_jobs SET attempts = attempts + 1, next_attempt_ts = $2, \
                     claimed_until_ts = NULL, last_error = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(next_attempt_ts)
                .bind(error)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            async fn count_homeserver_jobs(&mut self, ids: &[i64]) -> StoreResult<i64> {
                let mut count = 0;
                for id in ids {
                    let row = sqlx::query("SELECT COUNT(*) AS n FROM homeserver_jobs WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *self.conn.get().await?)
                        .await?;
                    let n: i64 = row.try_get("n")?;
                    count += n;
                }
                Ok(count)
            }

            async fn homeserver_queue_status(
                &mut self,
            ) -> StoreResult<(i64, Option<Timestamp>)> {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n, \
                     (SELECT created_ts FROM homeserver_jobs ORDER BY id LIMIT 1) AS oldest \
                     FROM homeserver_jobs",
                )
                .fetch_one(&mut *self.conn.get().await?)
                .await?;
                Ok((row.try_get("n")?, row.try_get("oldest")?))
            }

            #[tracing::instrument(skip_all)]
            async fn all_user_devices(&mut self) -> StoreResult<Vec<(String, Vec<String>)>> {
                let rows = sqlx::query(
                    "SELECT d.user_id, d.device_id FROM devices d JOIN users u ON u.name = d.user_id \
                     WHERE NOT u.deactivated ORDER BY d.user_id, d.device_id",
                )
                .fetch_all(&mut *self.conn.get().await?)
                .await?;
                let mut out: Vec<(String, Vec<String>)> = Vec::new();
                for r in rows {
                    let user: String = r.try_get("user_id")?;
                    let device: String = r.try_get("device_id")?;
                    match out.last_mut() {
                        Some((u, devices)) if *u == user => devices.push(device),
                        _ => out.push((user, vec![device])),
                    }
                }
                Ok(out)
            }
        }
    };
}

use super::conn::Repo;
jobs_store!(sqlx::Sqlite);
jobs_store!(sqlx::Postgres);
