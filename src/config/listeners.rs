//! `listeners:`: Synapse's listener blocks; mxauth serves the `http` ones
//! with the `client` resource (and `metrics`, see `config/metrics.rs`),
//! and the `metrics` ones.

use std::net::IpAddr;

use super::yaml::{self, as_list, as_port, as_string, KResult, KeyError, Map, Node};

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &["listeners"];

/// One `http` or `metrics` listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    /// Each a valid IP address; default `["::", "0.0.0.0"]` as in Synapse.
    pub bind_addresses: Vec<String>,
    /// YAML key `type`: `"http"` or `"metrics"` (a metrics listener
    /// serves only the metrics, and only with `enable_metrics: true`).
    pub kind: String,
    /// Always false: `tls: true` is refused at load (put mxauth behind a reverse proxy).
    pub tls: bool,
    /// Trust `X-Forwarded-For` / `X-Forwarded-Proto` from the proxy.
    pub x_forwarded: bool,
    pub resources: Vec<ListenerResource>,
}

impl Listener {
    /// Whether one of its `resources` lists `name` (`client`, `metrics`, ...).
    pub fn serves(&self, name: &str) -> bool {
        self.resources
            .iter()
            .any(|r| r.names.iter().any(|n| n == name))
    }
}

/// One entry of a listener's `resources`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerResource {
    /// Synapse resource names (`client`, `federation`, ...).
    pub names: Vec<String>,
    pub compress: bool,
}

const DEFAULT_BIND_ADDRESSES: [&str; 2] = ["::", "0.0.0.0"];

/// Without `listeners:`: one http listener on 127.0.0.1:8008 serving `client`.
pub(super) fn default_listeners() -> Vec<Listener> {
    vec![Listener {
        port: 8008,
        bind_addresses: vec!["127.0.0.1".to_owned()],
        kind: "http".to_owned(),
        tls: false,
        x_forwarded: false,
        resources: vec![ListenerResource {
            names: vec!["client".to_owned()],
            compress: false,
        }],
    }]
}

pub(super) fn parse(top: &Map<'_>) -> KResult<Vec<Listener>> {
    match top.get("listeners") {
        Some(l) => parse_listeners(l.node()),
        None => Ok(default_listeners()),
    }
}

const LISTENER_KEYS: &[&str] = &[
    "port",
    "bind_addresses",
    "bind_address",
    "type",
    "tls",
    "x_forwarded",
    "resources",
    "path",
    "mode",
];
/// Synapse listener keys accepted and ignored: `tag` (a label in Synapse's
/// logs), `request_id_header` (request IDs from the proxy), `additional_resources`
/// (Synapse module web resources).
const LISTENER_IGNORED_KEYS: &[&str] = &["tag", "request_id_header", "additional_resources"];
/// Synapse listener types that mxauth accepts and leaves out of `listeners`.
const IGNORED_LISTENER_TYPES: &[&str] = &["manhole", "replication"];
/// The listener types mxauth serves.
const SERVED_LISTENER_TYPES: &[&str] = &["http", "metrics"];
const RESOURCE_KEYS: &[&str] = &["names", "compress"];
/// Synapse's `KNOWN_RESOURCES` (synapse/config/server.py).
const KNOWN_RESOURCES: &[&str] = &[
    "client",
    "consent",
    "federation",
    "health",
    "keys",
    "media",
    "metrics",
    "openid",
    "replication",
    "static",
];

fn parse_listeners(node: Node<'_>) -> KResult<Vec<Listener>> {
    let mut listeners = Vec::new();
    for item in as_list(node)? {
        if let Some(listener) = parse_listener(item.node())? {
            listeners.push(listener);
        }
    }
    if !listeners.iter().any(|l| l.kind == "http") {
        return Err(KeyError::new(
            node.path,
            "no listener of type `http`: mxauth needs one to serve the client API",
        ));
    }
    Ok(listeners)
}

/// `None` for a listener type mxauth ignores.
fn parse_listener(node: Node<'_>) -> KResult<Option<Listener>> {
    if node.value.is_null() {
        return Err(KeyError::new(
            node.path,
            "expected a listener (a mapping with `port`, `type`, ...), found nothing",
        ));
    }
    let map = Map::from_node(node)?;
    let kind = map.string("type")?.unwrap_or_else(|| "http".to_owned());
    if IGNORED_LISTENER_TYPES.contains(&kind.as_str()) {
        return Ok(None);
    }
    if !SERVED_LISTENER_TYPES.contains(&kind.as_str()) {
        let suggestion = yaml::suggest(
            &kind,
            SERVED_LISTENER_TYPES
                .iter()
                .chain(IGNORED_LISTENER_TYPES)
                .copied(),
        );
        let hint = suggestion.map_or(String::new(), |s| format!("; did you mean `{s}`?"));
        return Err(KeyError::new(
            map.path_of("type"),
            format!(
                "unknown listener type `{kind}` (mxauth serves `http` and `metrics`; \
                 `manhole` and `replication` are accepted and ignored){hint}"
            ),
        ));
    }
    map.check_keys(LISTENER_KEYS, LISTENER_IGNORED_KEYS)?;

    if let Some(l) = map.get("path") {
        return Err(KeyError::new(
            l.path,
            "Unix socket listeners are not supported by mxauth; use `port`",
        ));
    }
    if let Some(l) = map.get("mode") {
        return Err(KeyError::new(
            l.path,
            "only meaningful for a Unix socket listener, which mxauth does not support",
        ));
    }
    let port = match map.get("port") {
        Some(l) => as_port(l.node())?,
        None => {
            return Err(KeyError::new(
                map.path_of("port"),
                "missing: every listener needs a port",
            ))
        }
    };

    let mut bind_addresses = Vec::new();
    if let Some(l) = map.get("bind_addresses") {
        for item in as_list(l.node())? {
            bind_addresses.push(parse_ip(item.node())?);
        }
    }
    if let Some(l) = map.get("bind_address") {
        bind_addresses.push(parse_ip(l.node())?);
    }
    if bind_addresses.is_empty() {
        bind_addresses = DEFAULT_BIND_ADDRESSES.map(str::to_owned).to_vec();
    }

    let tls = map.bool_or("tls", false)?;
    if tls {
        return Err(KeyError::new(
            map.path_of("tls"),
            "mxauth does not terminate TLS; put it behind a reverse proxy",
        ));
    }
    let x_forwarded = map.bool_or("x_forwarded", false)?;

    let mut resources = Vec::new();
    if let Some(l) = map.get("resources") {
        for item in as_list(l.node())? {
            resources.push(parse_resource(item.node())?);
        }
    }

    Ok(Some(Listener {
        port,
        bind_addresses,
        kind,
        tls,
        x_forwarded,
        resources,
    }))
}

fn parse_ip(node: Node<'_>) -> KResult<String> {
    let text = as_string(node)?;
    if text.parse::<IpAddr>().is_err() {
        return Err(KeyError::new(
            node.path,
            format!("`{text}` is not an IP address (such as `0.0.0.0`, `::` or `127.0.0.1`)"),
        ));
    }
    Ok(text)
}

fn parse_resource(node: Node<'_>) -> KResult<ListenerResource> {
    let map = Map::from_node(node)?;
    map.check_keys(RESOURCE_KEYS, &[])?;
    let mut names = Vec::new();
    if let Some(l) = map.get("names") {
        for item in as_list(l.node())? {
            let name = as_string(item.node())?;
            if !KNOWN_RESOURCES.contains(&name.as_str()) {
                let hint = yaml::suggest(&name, KNOWN_RESOURCES.iter().copied())
                    .map_or(String::new(), |s| format!("; did you mean `{s}`?"));
                return Err(KeyError::new(
                    item.path,
                    format!(
                        "unknown resource `{name}` (known: {}){hint}",
                        KNOWN_RESOURCES.join(", ")
                    ),
                ));
            }
            names.push(name);
        }
    }
    let compress = map.bool_or("compress", false)?;
    Ok(ListenerResource { names, compress })
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn wrong_type_for_listener_port() {
        let (path, shown) = parse_error(
            "server_name: example.com\nlisteners:\n  - port: \"8008\"\n    type: http\n",
        );
        assert_eq!(path, "listeners[0].port");
        assert_eq!(
            shown,
            "/etc/matrix/homeserver.yaml: listeners[0].port: expected a port number (0-65535), \
             found the string `8008`"
        );
        let (path, shown) = parse_error("server_name: example.com\nlisteners:\n  - port: 70000\n");
        assert_eq!(path, "listeners[0].port");
        assert!(
            shown.contains("expected a port number (0-65535)"),
            "{shown}"
        );
    }

    #[test]
    fn listener_tls_is_refused() {
        let text = "server_name: example.com\nlisteners:\n  - port: 8448\n    tls: true\n";
        let (path, shown) = parse_error(text);
        assert_eq!(path, "listeners[0].tls");
        assert!(
            shown.ends_with(
                "listeners[0].tls: mxauth does not terminate TLS; put it behind a reverse proxy"
            ),
            "{shown}"
        );
    }

    #[test]
    fn listener_types_and_addresses() {
        let (path, _) = parse_error(
            "server_name: example.com\nlisteners:\n  - port: 1\n    bind_addresses: ['0.0.0.0', 'localhost']\n",
        );
        assert_eq!(path, "listeners[0].bind_addresses[1]");

        let (path, shown) =
            parse_error("server_name: example.com\nlisteners:\n  - port: 1\n    type: htp\n");
        assert_eq!(path, "listeners[0].type");
        assert!(shown.ends_with("did you mean `http`?"), "{shown}");

        let (path, shown) = parse_error(
            "server_name: example.com\nlisteners:\n  - port: 1\n    resources:\n      - names: [client, federatoin]\n",
        );
        assert_eq!(path, "listeners[0].resources[0].names[1]");
        assert!(shown.ends_with("did you mean `federation`?"), "{shown}");

        // No http listener: no client API to serve.
        let (path, shown) = parse_error(
            "server_name: example.com\nlisteners:\n  - port: 9000\n    type: metrics\n",
        );
        assert_eq!(path, "listeners");
        assert!(shown.contains("no listener of type `http`"), "{shown}");

        // `bind_address` (singular, older Synapse) is appended.
        let c = config(
            "server_name: example.com\nlisteners:\n  - port: 1\n    bind_address: '10.0.0.1'\n",
        );
        assert_eq!(c.listeners[0].bind_addresses, vec!["10.0.0.1"]);

        let (path, _) =
            parse_error("server_name: example.com\nlisteners:\n  - path: /run/s.sock\n");
        assert_eq!(path, "listeners[0].path");
    }
}
