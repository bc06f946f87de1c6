//! `listeners:`: Synapse's listener blocks; mxauth serves the `http` ones
//! with the `client` resource.

use super::*;

/// One `http` listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    /// Each a valid IP address; default `["::", "0.0.0.0"]` as in Synapse.
    pub bind_addresses: Vec<String>,
    /// YAML key `type`; always `"http"` in [`Config::listeners`].
    pub kind: String,
    /// Always false: `tls: true` is refused at load (put mxauth behind a reverse proxy).
    pub tls: bool,
    /// Trust `X-Forwarded-For` / `X-Forwarded-Proto` from the proxy.
    pub x_forwarded: bool,
    pub resources: Vec<ListenerResource>,
}

/// One entry of a listener's `resources`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerResource {
    /// Synapse resource names (`client`, `federation`, ...).
    pub names: Vec<String>,
    pub compress: bool,
}

// ----- listeners -----

pub(super) const LISTENER_KEYS: &[&str] = &[
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
pub(super) const LISTENER_IGNORED_KEYS: &[&str] =
    &["tag", "request_id_header", "additional_resources"];
/// Synapse listener types that mxauth accepts and leaves out of `listeners`.
pub(super) const IGNORED_LISTENER_TYPES: &[&str] = &["metrics", "manhole", "replication"];
pub(super) const RESOURCE_KEYS: &[&str] = &["names", "compress"];
/// Synapse's `KNOWN_RESOURCES` (synapse/config/server.py).
pub(super) const KNOWN_RESOURCES: &[&str] = &[
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

pub(super) fn parse_listeners(node: Node<'_>) -> KResult<Vec<Listener>> {
    let mut listeners = Vec::new();
    for item in as_list(node)? {
        if let Some(listener) = parse_listener(item.node())? {
            listeners.push(listener);
        }
    }
    if listeners.is_empty() {
        return Err(KeyError::new(
            node.path,
            "no listener of type `http`: mxauth needs one to serve the client API",
        ));
    }
    Ok(listeners)
}

/// `None` for a listener type mxauth ignores.
pub(super) fn parse_listener(node: Node<'_>) -> KResult<Option<Listener>> {
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
    if kind != "http" {
        let suggestion = yaml::suggest(
            &kind,
            std::iter::once("http").chain(IGNORED_LISTENER_TYPES.iter().copied()),
        );
        let hint = suggestion.map_or(String::new(), |s| format!("; did you mean `{s}`?"));
        return Err(KeyError::new(
            map.path_of("type"),
            format!(
                "unknown listener type `{kind}` (mxauth serves `http`; `metrics`, `manhole` \
                 and `replication` are accepted and ignored){hint}"
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

pub(super) fn parse_ip(node: Node<'_>) -> KResult<String> {
    let text = as_string(node)?;
    if text.parse::<IpAddr>().is_err() {
        return Err(KeyError::new(
            node.path,
            format!("`{text}` is not an IP address (such as `0.0.0.0`, `::` or `127.0.0.1`)"),
        ));
    }
    Ok(text)
}

pub(super) fn parse_resource(node: Node<'_>) -> KResult<ListenerResource> {
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
