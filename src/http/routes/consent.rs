//! `GET /_matrix/consent?v=<version>`: the policy page that
//! `m.login.terms` links to, from `user_consent.template_dir`
//! (`en/<version>.html`, Synapse's layout), served as it is.

use crate::error::{Error, Result};
use crate::http::extract::query_param;
use crate::http::AppState;
use axum::extract::{OriginalUri, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

pub async fn page(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response> {
    let consent = state
        .auth
        .config
        .user_consent
        .as_ref()
        .ok_or_else(|| Error::unrecognized(404, "Unrecognized request"))?;
    let version = query_param(&uri, "v").unwrap_or_else(|| consent.version.clone());
    // A version names a file: no separators, no dot-dot.
    let safe = !version.is_empty()
        && !version.starts_with('.')
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !safe {
        return Err(Error::not_found("No such policy version"));
    }
    let path = consent
        .template_dir
        .join("en")
        .join(format!("{version}.html"));
    let html = tokio::fs::read_to_string(&path)
        .await
        .map_err(|_| Error::not_found("No such policy version"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response())
}
