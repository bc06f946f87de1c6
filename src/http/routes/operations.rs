//! What operators and their tools ask: readiness (`GET /health`), liveness
//! (`GET /health/live`) and the Prometheus metrics
//! (`GET /_synapse/metrics`, and `/metrics` on a metrics listener).

use crate::error::{ErrCode, Error};
use crate::http::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

/// `GET /health`: `OK` while the database answers a `SELECT 1` within 2
/// seconds, else 503 `M_UNKNOWN` (a load balancer takes the process out of
/// rotation until its database is back).
pub async fn ready(State(state): State<AppState>) -> Result<&'static str, Error> {
    if state.auth.database_ready().await {
        Ok("OK")
    } else {
        Err(Error::new(
            503,
            ErrCode::Unknown,
            "The database is unavailable",
        ))
    }
}

/// `GET /health/live`: `OK` while the process serves requests; touches
/// nothing (a restart would not bring a database back).
pub async fn live() -> &'static str {
    "OK"
}

/// The metrics in Prometheus' text format, the scrape-time gauges
/// sampled first.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.auth.sample_metrics().await;
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.auth.metrics.encode(),
    )
}
