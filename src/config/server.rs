//! The server itself: `server_name`, `public_baseurl`, and auth blocking's
//! `hs_disabled`, `hs_disabled_message`, `admin_contact` and
//! `server_notices.system_mxid_localpart`.

use serde_yaml::Value;

use super::yaml::{as_base_url, as_string, KResult, KeyError, Map};

/// Top-level keys parsed here (`server_notices` is Synapse's, listed as
/// ignored: only its localpart is read).
pub(super) const KEYS: &[&str] = &[
    "server_name",
    "public_baseurl",
    "hs_disabled",
    "hs_disabled_message",
    "admin_contact",
];

/// This section's part of [`Config`](super::Config).
pub(super) struct Server {
    pub server_name: String,
    pub public_baseurl: Option<String>,
    pub hs_disabled: bool,
    pub hs_disabled_message: String,
    pub admin_contact: Option<String>,
    pub server_notices_localpart: Option<String>,
}

pub(super) fn parse(top: &Map<'_>) -> KResult<Server> {
    let server_name = match top.get("server_name") {
        Some(l) => {
            let name = as_string(l.node())?;
            validate_server_name(&name).map_err(|m| KeyError::new(&l.path, m))?;
            name
        }
        None => {
            return Err(KeyError::new(
                "server_name",
                "missing: the Matrix server name is required (for example `example.com`)",
            ))
        }
    };
    let public_baseurl = top
        .get("public_baseurl")
        .map(|l| as_base_url(l.node()))
        .transpose()?;
    let hs_disabled = top.bool_or("hs_disabled", false)?;
    let hs_disabled_message = top.string("hs_disabled_message")?.unwrap_or_default();
    // Synapse's admin_contact is a URI (`mailto:admin@example.com`), shown as is.
    let admin_contact = top.string("admin_contact")?;
    // Synapse's server_notices block belongs to rooms; only the localpart
    // of its user matters here (it is exempt from auth blocking).
    let server_notices_localpart = match top.get("server_notices") {
        Some(l) => match l.value {
            Value::Mapping(m) => m
                .get(Value::String("system_mxid_localpart".into()))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| Some("notices".to_owned())),
            _ => None,
        },
        None => None,
    };
    Ok(Server {
        server_name,
        public_baseurl,
        hs_disabled,
        hs_disabled_message,
        admin_contact,
        server_notices_localpart,
    })
}

/// A Matrix server name: `hostname [ ":" port ]` where hostname is an IPv4
/// address, `[` IPv6 address `]`, or a DNS name of `A-Z a-z 0-9 - .` (at most
/// 255 characters); port is 1 to 5 digits.
fn validate_server_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "`{name}` is not a valid Matrix server name ({why}); expected a host name, an IPv4 \
             address or a [bracketed] IPv6 address, optionally followed by :port"
        ))
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    let (host, port) = if let Some(rest) = name.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return bad("`[` without a closing `]`");
        };
        let (v6, after) = (&rest[..end], &rest[end + 1..]);
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("the part in brackets is not an IPv6 address");
        }
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return bad("unexpected text after `]`"),
            },
        }
    } else {
        match name.rsplit_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(name), None),
        }
    };
    if let Some(host) = host {
        if host.is_empty() {
            return bad("the host name is empty");
        }
        if host.len() > 255 {
            return bad("the host name is longer than 255 characters");
        }
        if let Some(c) = host
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
        {
            return bad(&format!("the host name contains `{c}`"));
        }
    }
    if let Some(port) = port {
        if port.is_empty()
            || port.len() > 5
            || !port.bytes().all(|b| b.is_ascii_digit())
            || !matches!(port.parse::<u32>(), Ok(p) if p <= 65535)
        {
            return bad("the port must be a number from 0 to 65535");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn server_name_must_be_a_valid_matrix_server_name() {
        for good in [
            "example.com",
            "example.com:8448",
            "localhost",
            "1.2.3.4",
            "1.2.3.4:80",
            "[::1]",
            "[2001:db8::1]:8448",
        ] {
            assert_eq!(
                config(&format!("server_name: '{good}'\n")).server_name,
                good
            );
        }
        for bad in [
            "",
            "exa mple.com",
            "example.com:",
            "example.com:99999",
            "example.com:port",
            "user@example.com",
            "[::1",
            "[not-ipv6]",
            "https://example.com",
            ":8448",
            "example.com:+80",
            "example.com:000080",
            &format!("{}.com", "a".repeat(252)),
        ] {
            let (path, shown) = parse_error(&format!("server_name: '{bad}'\n"));
            assert_eq!(path, "server_name", "for {bad:?}");
            assert!(
                shown.contains("is not a valid Matrix server name"),
                "for {bad:?}: {shown}"
            );
        }
        let (path, shown) = parse_error("enable_registration: false\n");
        assert_eq!(path, "server_name");
        assert!(shown.contains("missing"), "{shown}");
    }

    #[test]
    fn public_baseurl_is_validated_and_normalised() {
        let c =
            config("server_name: example.com\npublic_baseurl: https://matrix.example.com/base\n");
        assert_eq!(
            c.public_baseurl.as_deref(),
            Some("https://matrix.example.com/base/")
        );
        let c = config("server_name: example.com\npublic_baseurl: http://localhost:8008/\n");
        assert_eq!(c.public_baseurl.as_deref(), Some("http://localhost:8008/"));
        for bad in [
            "matrix.example.com",
            "ftp://example.com/",
            "https://example.com/?a=b",
        ] {
            let (path, _) = parse_error(&format!(
                "server_name: example.com\npublic_baseurl: '{bad}'\n"
            ));
            assert_eq!(path, "public_baseurl", "for {bad:?}");
        }
    }

    #[test]
    fn auth_blocking_keys() {
        let c = config(
            "server_name: example.com\nhs_disabled: true\nhs_disabled_message: Closed\n\
             admin_contact: 'mailto:admin@example.com'\n\
             server_notices: {system_mxid_localpart: server}\n",
        );
        assert!(c.hs_disabled);
        assert_eq!(c.hs_disabled_message, "Closed");
        assert_eq!(c.admin_contact.as_deref(), Some("mailto:admin@example.com"));
        assert_eq!(c.server_notices_localpart.as_deref(), Some("server"));
        // Synapse's default localpart.
        let c = config("server_name: example.com\nserver_notices: {room_name: N}\n");
        assert_eq!(c.server_notices_localpart.as_deref(), Some("notices"));
        let c = config("server_name: example.com\n");
        assert_eq!(c.server_notices_localpart, None);
    }
}
