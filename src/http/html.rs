//! HTML pages as HTTP answers: the one place a page gets its status and
//! headers. The templates themselves are [`crate::templates`]; the
//! anti-framing headers are added to every `text/html` answer by the
//! layer in `http/mod.rs`, not here.

use crate::error::Error;
use crate::templates::Templates;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::{context, Value};

/// The page `template` rendered with `ctx`: HTML, not to be sniffed as
/// anything else, not to be stored (it may hold a session or a login token).
pub fn page(templates: &Templates, status: StatusCode, template: &str, ctx: Value) -> Response {
    match templates.render(template, ctx) {
        Ok(html) => html_response(status, html),
        Err(e) => {
            tracing::error!(template, error = %e, "rendering a page failed");
            Error::Internal.into_response()
        }
    }
}

/// Rendered HTML with the headers of every page.
pub fn html_response(status: StatusCode, html: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// A UIA stage's fallback page: its template (the stage names it) with
/// the stage's own variables (`stage`) and those every fallback page gets:
/// `session`, `myurl` (the page's path, where its form posts) and, after a
/// failed try, `error` (left undefined otherwise, so Synapse's
/// `{% if error is defined %}` works in an admin's template).
pub fn render_fallback(
    templates: &Templates,
    template: &str,
    myurl: &str,
    session: &str,
    error: Option<&str>,
    stage: Value,
) -> Response {
    let error = match error {
        Some(e) => context! { error => e },
        None => context! {},
    };
    page(
        templates,
        StatusCode::OK,
        template,
        context! { ..context! { session, myurl }, ..error, ..stage },
    )
}
