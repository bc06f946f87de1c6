//! Logging, to standard error, as text for people or as JSON lines
//! (`mxauth.log_format`). `RUST_LOG` sets the filter; the default is
//! `info`. Each request leaves one line at info level (`http/observe.rs`).

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Starts logging in `format`; a second call changes nothing (the first
/// subscriber stays).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // One object per line: the event's fields under `fields`, the
        // request's span (method, path, user) under `span`.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Logs the cause of a 500 with where it happened (the caller's caller,
/// through `#[track_caller]`): every error's `Internal` is made through
/// this, and the client sees nothing of it.
#[track_caller]
pub fn log_internal(cause: impl std::fmt::Display) {
    let at = std::panic::Location::caller();
    tracing::error!(%at, "internal error: {cause}");
}
