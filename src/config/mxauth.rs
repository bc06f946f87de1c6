//! `mxauth:`: mxauth's own settings, which Synapse has no key for (its
//! `rate_limits` are read by `ratelimit.rs`, its `oauth` by `oauth.rs`).

use super::yaml::{self, KResult, KeyError, Map};
use super::{oauth, ratelimit};

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &["mxauth"];

/// `mxauth:`: settings Synapse has no key for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxauthConfig {
    /// Key `uia_session_lifetime` (duration), default 48h.
    pub uia_session_lifetime_ms: u64,
    /// Key `max_request_body_size` (size), default 64 KiB.
    pub max_request_body_bytes: usize,
    /// Key `password_hashing_concurrency`: how many password hashes run at once;
    /// default the number of CPUs, at least 1.
    pub password_hashing_concurrency: usize,
    /// Key `token_last_used_flush_interval` (duration), default 60s.
    pub token_last_used_flush_ms: u64,
    /// Key `header_read_timeout` (duration), default 10s: a connection
    /// that has not sent a whole request head this long after it started
    /// one (or after its previous response) is closed.
    pub header_read_timeout_ms: u64,
    /// Key `max_connections`, default 1024: connections open at once, over
    /// all listeners; more wait to be accepted until one closes.
    pub max_connections: usize,
    /// Key `shutdown_timeout` (duration), default 10s: how long a stopping
    /// server lets open connections finish before it drops them (the final
    /// flush of last-used times and client IPs runs after either way).
    pub shutdown_timeout_ms: u64,
    /// Key `token_cache_size` (size), default 16 MiB: the memory request
    /// authentication's cache of access tokens may take (about 200 bytes
    /// a token); 0 turns the cache off.
    pub token_cache_bytes: u64,
    /// Key `log_format`: `text` (default; for people) or `json` (one JSON
    /// object per line, for a log collector). `RUST_LOG` still filters.
    pub log_format: LogFormat,
}

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for MxauthConfig {
    fn default() -> Self {
        MxauthConfig {
            uia_session_lifetime_ms: 48 * 60 * 60 * 1000,
            max_request_body_bytes: 64 * 1024,
            password_hashing_concurrency: default_hashing_concurrency(),
            token_last_used_flush_ms: 60 * 1000,
            header_read_timeout_ms: 10 * 1000,
            max_connections: 1024,
            shutdown_timeout_ms: 10 * 1000,
            token_cache_bytes: 16 * 1024 * 1024,
            log_format: LogFormat::Text,
        }
    }
}

fn default_hashing_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1)
}

const MXAUTH_KEYS: &[&str] = &[
    "uia_session_lifetime",
    "max_request_body_size",
    "password_hashing_concurrency",
    "token_last_used_flush_interval",
    ratelimit::MXAUTH_KEY,
    oauth::MXAUTH_KEY,
    "header_read_timeout",
    "max_connections",
    "shutdown_timeout",
    "token_cache_size",
    "log_format",
];

pub(super) fn parse(top: &Map<'_>) -> KResult<MxauthConfig> {
    let Some(l) = top.get("mxauth") else {
        return Ok(MxauthConfig::default());
    };
    let map = Map::from_node(l.node())?;
    map.check_keys(MXAUTH_KEYS, &[])?;
    let defaults = MxauthConfig::default();
    let positive_duration = |key: &str, default: u64| -> KResult<u64> {
        match map.get(key) {
            None => Ok(default),
            Some(l) => {
                let ms = yaml::as_duration_ms(l.node())?;
                if ms == 0 {
                    return Err(KeyError::new(l.path, "must be longer than zero"));
                }
                Ok(ms)
            }
        }
    };
    let uia_session_lifetime_ms =
        positive_duration("uia_session_lifetime", defaults.uia_session_lifetime_ms)?;
    let token_last_used_flush_ms = positive_duration(
        "token_last_used_flush_interval",
        defaults.token_last_used_flush_ms,
    )?;
    let max_request_body_bytes = match map.get("max_request_body_size") {
        None => defaults.max_request_body_bytes,
        Some(l) => {
            let bytes = yaml::as_size_bytes(l.node())?;
            if bytes == 0 {
                return Err(KeyError::new(l.path, "must be larger than zero"));
            }
            usize::try_from(bytes)
                .map_err(|_| KeyError::new(&l.path, "too large for this machine"))?
        }
    };
    let password_hashing_concurrency = map.usize_or(
        "password_hashing_concurrency",
        defaults.password_hashing_concurrency,
    )?;
    if password_hashing_concurrency == 0 {
        return Err(KeyError::new(
            map.path_of("password_hashing_concurrency"),
            "must be at least 1",
        ));
    }
    let header_read_timeout_ms =
        positive_duration("header_read_timeout", defaults.header_read_timeout_ms)?;
    let shutdown_timeout_ms = match map.get("shutdown_timeout") {
        None => defaults.shutdown_timeout_ms,
        Some(l) => yaml::as_duration_ms(l.node())?,
    };
    let token_cache_bytes = match map.get("token_cache_size") {
        None => defaults.token_cache_bytes,
        Some(l) => yaml::as_size_bytes(l.node())?,
    };
    let max_connections = map.usize_or("max_connections", defaults.max_connections)?;
    if max_connections == 0 {
        return Err(KeyError::new(
            map.path_of("max_connections"),
            "must be at least 1",
        ));
    }
    let log_format = match map.string("log_format")?.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(KeyError::new(
                map.path_of("log_format"),
                format!("`{other}` is no log format: `text` or `json`"),
            ))
        }
    };
    Ok(MxauthConfig {
        uia_session_lifetime_ms,
        max_request_body_bytes,
        password_hashing_concurrency,
        token_last_used_flush_ms,
        header_read_timeout_ms,
        max_connections,
        shutdown_timeout_ms,
        token_cache_bytes,
        log_format,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn durations_accept_synapse_syntax() {
        let cases: [(&str, u64); 10] = [
            ("1500", 1500),
            ("'250'", 250),
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("48h", 172_800_000),
            ("2d", 172_800_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            ("0010s", 10_000),
        ];
        for (text, want) in cases {
            let c = config(&format!(
                "server_name: example.com\nmxauth:\n  uia_session_lifetime: {text}\n"
            ));
            assert_eq!(c.mxauth.uia_session_lifetime_ms, want, "for {text}");
        }
        for bad in [
            "5x",
            "h",
            "-5s",
            "1.5h",
            "5 m",
            "0",
            "99999999999999999999y",
            "[1]",
        ] {
            let (path, shown) = parse_error(&format!(
                "server_name: example.com\nmxauth:\n  token_last_used_flush_interval: {bad}\n"
            ));
            assert_eq!(path, "mxauth.token_last_used_flush_interval", "for {bad}");
            assert!(
                shown.contains("duration") || shown.contains("longer than zero"),
                "for {bad}: {shown}"
            );
        }
    }

    #[test]
    fn mxauth_sizes_and_concurrency() {
        let c = config("server_name: example.com\nmxauth:\n  max_request_body_size: 128K\n");
        assert_eq!(c.mxauth.max_request_body_bytes, 131_072);
        let c = config("server_name: example.com\nmxauth:\n  max_request_body_size: 1000\n");
        assert_eq!(c.mxauth.max_request_body_bytes, 1000);
        let (path, _) =
            parse_error("server_name: example.com\nmxauth:\n  max_request_body_size: 1KB\n");
        assert_eq!(path, "mxauth.max_request_body_size");
        let (path, shown) =
            parse_error("server_name: example.com\nmxauth:\n  password_hashing_concurrency: 0\n");
        assert_eq!(path, "mxauth.password_hashing_concurrency");
        assert!(shown.ends_with("must be at least 1"), "{shown}");
    }

    #[test]
    fn log_format_is_text_or_json() {
        use crate::config::LogFormat;
        assert_eq!(
            config("server_name: example.com\n").mxauth.log_format,
            LogFormat::Text
        );
        for (text, want) in [("text", LogFormat::Text), ("json", LogFormat::Json)] {
            let c = config(&format!(
                "server_name: example.com\nmxauth:\n  log_format: {text}\n"
            ));
            assert_eq!(c.mxauth.log_format, want, "for {text}");
        }
        let (path, shown) = parse_error("server_name: example.com\nmxauth:\n  log_format: xml\n");
        assert_eq!(path, "mxauth.log_format");
        assert!(
            shown.ends_with("`xml` is no log format: `text` or `json`"),
            "{shown}"
        );
    }

    #[test]
    fn http_server_bounds_are_checked() {
        for (body, path) in [
            ("mxauth:\n  max_connections: 0\n", "mxauth.max_connections"),
            (
                "mxauth:\n  header_read_timeout: 0s\n",
                "mxauth.header_read_timeout",
            ),
            (
                "mxauth:\n  shutdown_timeout: soon\n",
                "mxauth.shutdown_timeout",
            ),
        ] {
            let (got, shown) = parse_error(&format!("server_name: example.com\n{body}"));
            assert_eq!(got, path, "{shown}");
        }
        // A shutdown deadline of zero drops open connections at once.
        let c = config("server_name: example.com\nmxauth:\n  shutdown_timeout: 0s\n");
        assert_eq!(c.mxauth.shutdown_timeout_ms, 0);
    }
}
