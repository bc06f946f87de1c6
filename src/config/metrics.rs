//! `enable_metrics`: Synapse's switch for the Prometheus metrics.
//!
//! With `enable_metrics: true`, the metrics are served at
//! `/_synapse/metrics` on every `type: metrics` listener (which also
//! answers at `/metrics` and serves nothing else) and on every `http`
//! listener whose `resources` list `metrics`. As Synapse, without it (the
//! default) a metrics listener is not opened (a warning at start says so)
//! and a `metrics` resource serves nothing: metrics are never served
//! unless the admin asked for them twice, once where and once that.
//! `metrics_flags`, `metrics_port` and `metrics_bind_host` (Synapse's
//! older way) stay accepted and ignored.

use super::yaml::{KResult, Map};

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &["enable_metrics"];

pub(super) fn parse(top: &Map<'_>) -> KResult<bool> {
    top.bool_or("enable_metrics", false)
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn enable_metrics_defaults_to_false_and_must_be_a_boolean() {
        assert!(!config("server_name: example.com\n").enable_metrics);
        assert!(config("server_name: example.com\nenable_metrics: true\n").enable_metrics);
        let (path, _) = parse_error("server_name: example.com\nenable_metrics: yes please\n");
        assert_eq!(path, "enable_metrics");
    }

    #[test]
    fn a_metrics_listener_is_kept_with_its_port_and_addresses() {
        let c = config(
            "server_name: example.com\nenable_metrics: true\nlisteners:\n  \
             - port: 8008\n    resources: [{names: [client, metrics]}]\n  \
             - port: 9000\n    type: metrics\n    bind_addresses: ['127.0.0.1']\n",
        );
        assert_eq!(c.listeners.len(), 2);
        assert_eq!(c.listeners[0].kind, "http");
        assert!(c.listeners[0].serves("metrics"));
        assert!(!c.listeners[1].serves("client"));
        assert_eq!(c.listeners[1].kind, "metrics");
        assert_eq!(c.listeners[1].port, 9000);
        assert_eq!(c.listeners[1].bind_addresses, vec!["127.0.0.1"]);
    }
}
