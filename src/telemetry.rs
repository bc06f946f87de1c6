//! Logging, to standard error. `RUST_LOG` sets the filter; the default is `info`.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Logs the cause of a 500 with where it happened (the caller's caller,
/// through `#[track_caller]`): every error's `Internal` is made through
/// this, and the client sees nothing of it.
#[track_caller]
pub fn log_internal(cause: impl std::fmt::Display) {
    let at = std::panic::Location::caller();
    tracing::error!(%at, "internal error: {cause}");
}
