//! What operations asks of a running server: whether it is ready (its
//! database answers) and the metrics' gauges sampled at scrape time.

use super::Auth;
use std::time::Duration;

/// How long readiness waits for the database's answer.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

impl Auth {
    /// Whether the database answers a `SELECT 1` within
    /// [`READINESS_TIMEOUT`] (a pool with no free connection counts as
    /// not ready once the time is up).
    pub async fn database_ready(&self) -> bool {
        match tokio::time::timeout(READINESS_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!("readiness: the database does not answer: {e}");
                false
            }
            Err(_) => {
                tracing::warn!("readiness: the database did not answer in time");
                false
            }
        }
    }

    /// Sets the gauges read at scrape time: the pool's connections (no
    /// query), and the homeserver queue's depth and oldest job (one
    /// statement, only with a delegating homeserver). A queue that cannot
    /// be read keeps its last values.
    pub async fn sample_metrics(&self) {
        let m = &self.metrics;
        let pool = self.store.pool_status();
        m.db_pool_connections
            .with_label_values(&["in_use"])
            .set(i64::from(pool.in_use));
        m.db_pool_connections
            .with_label_values(&["idle"])
            .set(i64::from(pool.idle));
        if self.homeserver.is_none() {
            return;
        }
        let status = tokio::time::timeout(
            READINESS_TIMEOUT,
            self.store.jobs().homeserver_queue_status(),
        )
        .await;
        match status {
            Ok(Ok((jobs, oldest_ts))) => {
                m.homeserver_queue_jobs.set(jobs);
                let age_ms = oldest_ts.map_or(0, |ts| (self.now() - ts).max(0));
                m.homeserver_queue_oldest_age.set(age_ms as f64 / 1000.0);
            }
            Ok(Err(e)) => tracing::warn!("metrics: could not read the homeserver queue: {e}"),
            Err(_) => tracing::warn!("metrics: the homeserver queue did not answer in time"),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::auth::homeserver::{CallError, RecordingHomeserver};
    use crate::auth::test_support;
    use crate::config::Config;
    use serde_json::json;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_homeserver_queue_is_sampled_and_its_failures_counted() {
        let homeserver = Arc::new(RecordingHomeserver {
            answer: |_| Err(CallError::Retry("503".into())),
            ..RecordingHomeserver::default()
        });
        let auth = test_support::auth(Config::default())
            .await
            .with_homeserver(homeserver);
        let queued_ts = auth.now() - 90_000;
        auth.store
            .jobs()
            .enqueue_homeserver_jobs(
                "@a:localhost",
                &[("provision_user", json!({"localpart": "a"}))],
                queued_ts,
            )
            .await
            .expect("queued");
        auth.run_homeserver_jobs(10).await.expect("the queue runs");
        auth.sample_metrics().await;
        let m = &auth.metrics;
        assert_eq!(m.homeserver_queue_jobs.get(), 1);
        assert_eq!(m.homeserver_queue_oldest_age.get(), 90.0);
        assert_eq!(
            m.homeserver_call_failures
                .with_label_values(&["retry"])
                .get(),
            1
        );
        assert!(auth.database_ready().await);
    }
}
