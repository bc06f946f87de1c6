//! The SQL of rate limiting, for both backends: leaky buckets shared by
//! every process (one statement per limited request), and Synapse's
//! per-user overrides. [`RateLimitRepository`] is reached through
//! [`super::Store`], so every store has it. The store only does the
//! arithmetic it is given: which key, what rate and burst, is the rules'.

use super::StoreResult;
use crate::clock::Timestamp;
use async_trait::async_trait;
use sqlx::Row;

/// How one bucket is filled and drained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSpec {
    /// How fast the bucket drains, in actions per second (> 0).
    pub per_second: f64,
    /// How many actions fit in the bucket.
    pub burst_count: f64,
}

/// The state of a bucket after an action was offered to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketState {
    /// Whether the action fitted (and, for a take, was counted).
    pub allowed: bool,
    /// How full the bucket is now.
    pub level: f64,
}

/// Synapse's `ratelimit_override` row for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitOverride {
    pub messages_per_second: i64,
    pub burst_count: i64,
}

#[async_trait]
pub trait RateLimitRepository: Send {
    /// Offers one action of `cost` to the bucket at `now`: counted when it
    /// fits, refused (and not counted) when it does not. One statement.
    async fn ratelimit_take(
        &mut self,
        bucket: &str,
        spec: BucketSpec,
        cost: f64,
        now: Timestamp,
    ) -> StoreResult<BucketState>;
    /// Whether an action of `cost` would fit now, without counting it.
    async fn ratelimit_peek(
        &mut self,
        bucket: &str,
        spec: BucketSpec,
        cost: f64,
        now: Timestamp,
    ) -> StoreResult<BucketState>;
    /// Deletes buckets that are empty by `now`; returns how many went.
    async fn sweep_ratelimit_buckets(&mut self, now: Timestamp) -> StoreResult<u64>;

    async fn get_ratelimit_override(
        &mut self,
        user_id: &str,
    ) -> StoreResult<Option<RateLimitOverride>>;
    async fn set_ratelimit_override(
        &mut self,
        user_id: &str,
        value: RateLimitOverride,
    ) -> StoreResult<()>;
    async fn delete_ratelimit_override(&mut self, user_id: &str) -> StoreResult<()>;
}

/// The bucket's level at `now`, drained since it was last written.
const DRAINED: &str = "(CASE WHEN ratelimit_buckets.level \
     - ($2 - ratelimit_buckets.updated_ts) * $3 / 1000.0 > 0 \
     THEN ratelimit_buckets.level - ($2 - ratelimit_buckets.updated_ts) * $3 / 1000.0 \
     ELSE 0 END)";

/// When a bucket written at `now` is surely empty.
fn expires_ts(spec: BucketSpec, now: Timestamp) -> Timestamp {
    let drain_ms = (spec.burst_count.max(1.0) / spec.per_second * 1000.0).ceil();
    now.saturating_add(drain_ms.min(i64::MAX as f64 / 2.0) as i64)
}

/// The level at `now` of a bucket at `level` written at `updated_ts`.
pub(super) fn drained(level: f64, updated_ts: Timestamp, per_second: f64, now: Timestamp) -> f64 {
    let elapsed_s = (now.saturating_sub(updated_ts)).max(0) as f64 / 1000.0;
    (level - elapsed_s * per_second).max(0.0)
}

/// Whether `cost` more fits (Synapse's comparison, which keeps a level of
/// 2.9999999 from rounding its way past a burst of 3).
pub(super) fn fits(level: f64, cost: f64, burst: f64) -> bool {
    level <= burst - cost
}

macro_rules! ratelimit_store {
    ($db:ty) => {
        #[async_trait]
        impl RateLimitRepository for Repo<'_, $db> {
            #[tracing::instrument(skip_all)]
            async fn ratelimit_take(
                &mut self,
                bucket: &str,
                spec: BucketSpec,
                cost: f64,
                now: Timestamp,
            ) -> StoreResult<BucketState> {
                let row = sqlx::query(&format!(
                    "INSERT INTO ratelimit_buckets (bucket, level, updated_ts, refused, expires_ts) \
                     VALUES ($1, CASE WHEN $4 <= $5 THEN $4 ELSE 0 END, $2, \
                             CASE WHEN $4 <= $5 THEN 0 ELSE 1 END, $6) \
                     ON CONFLICT (bucket) DO UPDATE SET \
                       level = CASE WHEN {DRAINED} <= $5 - $4 THEN {DRAINED} + $4 ELSE {DRAINED} END, \
                       refused = CASE WHEN {DRAINED} <= $5 - $4 THEN 0 ELSE 1 END, \
                       updated_ts = $2, \
                       expires_ts = $6 \
                     RETURNING level, refused"
                ))
                .bind(bucket)
                .bind(now)
                .bind(spec.per_second)
                .bind(cost)
                .bind(spec.burst_count)
                .bind(expires_ts(spec, now))
                .fetch_one(&mut *self.conn.get().await?)
                .await?;
                let refused: i64 = row.try_get("refused")?;
                Ok(BucketState {
                    allowed: refused == 0,
                    level: row.try_get("level")?,
                })
            }

            #[tracing::instrument(skip_all)]
            async fn ratelimit_peek(
                &mut self,
                bucket: &str,
                spec: BucketSpec,
                cost: f64,
                now: Timestamp,
            ) -> StoreResult<BucketState> {
                let row = sqlx::query(
                    "SELECT level, updated_ts FROM ratelimit_buckets WHERE bucket = $1",
                )
                .bind(bucket)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?;
                let level = match row {
                    Some(r) => drained(
                        r.try_get("level")?,
                        r.try_get("updated_ts")?,
                        spec.per_second,
                        now,
                    ),
                    None => 0.0,
                };
                Ok(BucketState {
                    allowed: fits(level, cost, spec.burst_count),
                    level,
                })
            }

            #[tracing::instrument(skip_all)]
            async fn sweep_ratelimit_buckets(&mut self, now: Timestamp) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM ratelimit_buckets WHERE expires_ts < $1")
                    .bind(now)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all)]
            async fn get_ratelimit_override(
                &mut self,
                user_id: &str,
            ) -> StoreResult<Option<RateLimitOverride>> {
                let row = sqlx::query(
                    "SELECT messages_per_second, burst_count FROM ratelimit_overrides \
                     WHERE user_id = $1",
                )
                .bind(user_id)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?;
                match row {
                    Some(r) => Ok(Some(RateLimitOverride {
                        messages_per_second: r.try_get("messages_per_second")?,
                        burst_count: r.try_get("burst_count")?,
                    })),
                    None => Ok(None),
                }
            }

            #[tracing::instrument(skip_all)]
            async fn set_ratelimit_override(
                &mut self,
                user_id: &str,
                value: RateLimitOverride,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO ratelimit_overrides (user_id, messages_per_second, burst_count) \
                     VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE SET \
                     messages_per_second = $2, burst_count = $3",
                )
                .bind(user_id)
                .bind(value.messages_per_second)
                .bind(value.burst_count)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn delete_ratelimit_override(&mut self, user_id: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM ratelimit_overrides WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }
        }
    };
}

use super::conn::Repo;
ratelimit_store!(sqlx::Sqlite);
ratelimit_store!(sqlx::Postgres);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draining_and_fitting() {
        assert_eq!(drained(3.0, 0, 1.0, 1500), 1.5);
        assert_eq!(drained(3.0, 0, 1.0, 10_000), 0.0);
        // A clock that went backwards drains nothing.
        assert_eq!(drained(3.0, 1000, 1.0, 0), 3.0);
        assert!(fits(2.0, 1.0, 3.0));
        assert!(!fits(2.5, 1.0, 3.0));
        assert!(fits(0.0, 1.0, 1.0));
        assert!(!fits(0.0, 2.0, 1.0));
    }

    #[test]
    fn buckets_expire_once_drained() {
        let spec = BucketSpec {
            per_second: 0.5,
            burst_count: 3.0,
        };
        assert_eq!(expires_ts(spec, 1000), 7000);
    }
}
