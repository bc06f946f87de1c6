//! `GET /_matrix/client/versions` and `GET /capabilities`.

use crate::http::extract::AuthedOrGuest;
use crate::http::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

/// The spec versions whose auth endpoints mxauth serves.
const VERSIONS: &[&str] = &[
    "r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1", "v1.1", "v1.2",
    "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12",
];

pub async fn versions() -> Json<Value> {
    Json(json!({ "versions": VERSIONS, "unstable_features": {} }))
}

pub async fn capabilities(State(state): State<AppState>, _auth: AuthedOrGuest) -> Json<Value> {
    let can_change = state.auth.config.password_config.localdb_enabled
        && state.auth.config.password_config.reauth_enabled();
    Json(json!({
        "capabilities": {
            "m.change_password": { "enabled": can_change },
            "m.3pid_changes": { "enabled": state.auth.config.threepids.enable_3pid_changes }
        }
    }))
}
