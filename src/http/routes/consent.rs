//! `GET /_matrix/consent?v=<version>`: the policy page that
//! `m.login.terms` links to, from `user_consent.template_dir`
//! (`en/<version>.html`, Synapse's layout), rendered as a template as
//! Synapse does, in its public form (`public_version`: there is no consent
//! form here; users accept the policy with `m.login.terms`).

use crate::config::ConsentConfig;
use crate::error::{Error, Result};
use crate::http::extract::query_param;
use crate::http::html::html_response;
use crate::http::AppState;
use crate::templates::{TemplateError, Templates};
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use std::path::Path;

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
    let source = tokio::fs::read_to_string(&path)
        .await
        .map_err(|_| Error::not_found("No such policy version"))?;
    let html = render_policy(&state.templates, &path, &source, &version)
        .map_err(|e| Error::internal(e.to_string()))?;
    Ok(html_response(StatusCode::OK, html))
}

/// The policy page as Synapse renders it for a visitor without a user:
/// its public form.
pub fn render_policy(
    templates: &Templates,
    path: &Path,
    source: &str,
    version: &str,
) -> Result<String, TemplateError> {
    templates.render_source(
        path,
        source,
        context! { version, public_version => true, has_consented => false },
    )
}

/// At start: the current policy page renders (an error names its file).
pub fn check_policy(
    templates: &Templates,
    consent: &ConsentConfig,
) -> std::result::Result<(), String> {
    let path = consent
        .template_dir
        .join("en")
        .join(format!("{}.html", consent.version));
    let source = std::fs::read_to_string(&path)
        .map_err(|e| format!("user_consent: `{}`: {e}", path.display()))?;
    render_policy(templates, &path, &source, &consent.version)
        .map_err(|e| format!("user_consent: {e}"))?;
    Ok(())
}
