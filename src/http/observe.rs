//! What every request leaves behind: one log line at info level (method,
//! path without its query, status, time taken, and the user once a token
//! identified one) and the request metrics, by route template.
//!
//! The query string is never logged: it may carry an `access_token`; nor
//! is a path that holds a secret (`SECRET_IN_PATH`: its template instead).
//! The `endpoint` label is axum's [`MatchedPath`] (the route's template,
//! such as `/_matrix/client/v3/devices/{device_id}`), or `unmatched`: never
//! the raw path, whose values are the client's and unbounded.

use crate::auth::Auth;
use crate::clock::Stopwatch;
use crate::metrics::method_label;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::{Arc, OnceLock};
use tracing::Instrument;

/// Routes whose path carries a secret (a registration token lets anyone
/// register): logged by their template, never as sent.
const SECRET_IN_PATH: &[&str] = &["/_synapse/admin/v1/registration_tokens/{token}"];

/// The user a request's token identified, filled in by the extractors
/// (`http/extract.rs`) for the request's log line.
#[derive(Clone, Default)]
pub struct RequestUser(Arc<OnceLock<String>>);

impl RequestUser {
    /// Records the request's user (the first kept) on the line and the span.
    pub fn set(&self, user_id: &str) {
        let _ = self.0.set(user_id.to_owned());
        tracing::Span::current().record("user", user_id);
    }

    fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// The middleware (`axum::middleware::from_fn_with_state`) of every route
/// of a listener's router.
pub async fn observe(
    axum::extract::State(auth): axum::extract::State<Arc<Auth>>,
    mut req: Request,
    next: Next,
) -> Response {
    let since = Stopwatch::start();
    let method = req.method().clone();
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let path = if SECRET_IN_PATH.contains(&endpoint.as_str()) {
        endpoint.clone()
    } else {
        req.uri().path().to_owned()
    };
    let user = RequestUser::default();
    req.extensions_mut().insert(user.clone());
    let span = tracing::info_span!(
        "request",
        method = %method,
        path = %path,
        user = tracing::field::Empty
    );
    let response = next.run(req).instrument(span).await;
    let took = since.elapsed();
    let status = response.status().as_u16();
    let method_label = method_label(method.as_str());
    let m = &auth.metrics;
    m.http_requests
        .with_label_values(&[method_label, &endpoint, &status.to_string()])
        .inc();
    m.http_request_duration
        .with_label_values(&[method_label, &endpoint])
        .observe(took.as_secs_f64());
    let took_ms = took.as_secs_f64() * 1000.0;
    match user.get() {
        Some(user) => tracing::info!(
            method = %method,
            path = %path,
            status,
            took_ms,
            user,
            "request"
        ),
        None => tracing::info!(method = %method, path = %path, status, took_ms, "request"),
    }
    response
}

/// A handler's result as a metrics label: `success`, `auth_required` (a
/// UIA step), `internal`, or the Matrix errcode (a fixed set).
pub fn outcome_label<T>(result: &crate::error::Result<T>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(crate::error::Error::AuthRequired(_)) => "auth_required",
        Err(crate::error::Error::Internal) => "internal",
        Err(crate::error::Error::Matrix { errcode, .. }) => errcode.as_str(),
    }
}
