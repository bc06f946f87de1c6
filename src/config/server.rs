//! The server itself: `server_name` (a ruma [`ServerName`]),
//! `public_baseurl`, and auth blocking's `hs_disabled`,
//! `hs_disabled_message`, `admin_contact` and
//! `server_notices.system_mxid_localpart`.

use ruma_common::{OwnedServerName, OwnedUserId, ServerName, UserId};
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
    pub server_name: OwnedServerName,
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
            parse_server_name(&name).map_err(|m| KeyError::new(&l.path, m))?
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
            Value::Mapping(m) => {
                let localpart = m
                    .get(Value::String("system_mxid_localpart".into()))
                    .and_then(Value::as_str)
                    .unwrap_or("notices");
                local_user_id(localpart, &server_name)
                    .map_err(|m| KeyError::new(format!("{}.system_mxid_localpart", l.path), m))?;
                Some(localpart.to_owned())
            }
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

/// A Matrix server name, as ruma's [`ServerName`] reads it: `hostname [
/// ":" port ]` where hostname is an IPv4 address, `[` IPv6 address `]`, or
/// a DNS name of `A-Z a-z 0-9 - .`. The spec's limits that ruma lets
/// through are added: a host name is 1 to 255 characters, a port 1 to 5
/// digits.
pub(super) fn parse_server_name(name: &str) -> Result<OwnedServerName, String> {
    let bad = |why: Option<&str>| {
        let why = why.map_or(String::new(), |w| format!(" ({w})"));
        format!(
            "`{name}` is not a valid Matrix server name{why}; expected a host name, an IPv4 \
             address or a [bracketed] IPv6 address, optionally followed by :port"
        )
    };
    let parsed = <&ServerName>::try_from(name).map_err(|_| bad(None))?;
    let host = parsed.host();
    if host.is_empty() {
        return Err(bad(Some("the host name is empty")));
    }
    if host.len() > 255 {
        return Err(bad(Some("the host name is longer than 255 characters")));
    }
    if let Some(port) = name[host.len()..].strip_prefix(':') {
        if port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(Some("the port must be a number from 0 to 65535")));
        }
    }
    Ok(parsed.to_owned())
}

/// `@localpart:server_name` as a ruma [`UserId`] (at most 255 characters,
/// the spec's characters or the historical ones), or why not.
pub(super) fn local_user_id(
    localpart: &str,
    server_name: &ServerName,
) -> Result<OwnedUserId, String> {
    let id = format!("@{localpart}:{server_name}");
    match UserId::parse(id.as_str()) {
        Ok(user_id) if user_id.localpart() == localpart => Ok(user_id),
        Ok(_) => Err(format!("`{localpart}` makes `{id}`, not a valid user ID")),
        Err(e) => Err(format!(
            "`{localpart}` makes `{id}`, not a valid user ID: {e}"
        )),
    }
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
            // Let through by ruma, refused by the spec's grammar.
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
        assert_eq!(
            c.server_notices_user_id().as_deref(),
            Some("@server:example.com")
        );
        // Synapse's default localpart.
        let c = config("server_name: example.com\nserver_notices: {room_name: N}\n");
        assert_eq!(c.server_notices_localpart.as_deref(), Some("notices"));
        let c = config("server_name: example.com\n");
        assert_eq!(c.server_notices_localpart, None);
        assert_eq!(c.server_notices_user_id(), None);

        let (path, shown) = parse_error(
            "server_name: example.com\nserver_notices: {system_mxid_localpart: 'a b'}\n",
        );
        assert_eq!(path, "server_notices.system_mxid_localpart");
        assert!(shown.contains("not a valid user ID"), "{shown}");
    }

    #[test]
    fn local_user_ids_are_checked_by_ruma() {
        let name = super::parse_server_name("example.com").unwrap();
        assert_eq!(
            super::local_user_id("bot", &name).unwrap().as_str(),
            "@bot:example.com"
        );
        // Historical characters are still user IDs; spaces, colons and
        // over-long IDs are not.
        assert!(super::local_user_id("Bot", &name).is_ok());
        for bad in ["", "a b", "a:b", &"a".repeat(250)] {
            assert!(super::local_user_id(bad, &name).is_err(), "{bad:?}");
        }
    }
}
