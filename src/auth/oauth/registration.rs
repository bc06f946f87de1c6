//! Dynamic client registration (RFC 7591, with the Matrix spec's rules
//! on client metadata and redirect URIs): `POST /oauth2/registration`.
//!
//! - `client_uri` is required and `https`; `logo_uri`, `tos_uri`,
//!   `policy_uri` (and their localized variants, `client_name#fr`...) are
//!   `https` on its host or a subdomain.
//! - Redirect URIs have no fragment and no user info. `web`: `https` on
//!   the client's host or a subdomain. `native`: a private-use scheme that
//!   is the reverse-DNS of the client's host (or starts with it and a dot)
//!   with no authority; `http` on `localhost`, `127.0.0.1` or `[::1]`
//!   without a port (any port is accepted at authorization); or a claimed
//!   `https` URI as for `web`.
//! - Unknown grant and response types are ignored: the client keeps those
//!   mxauth serves. Unknown metadata is ignored.
//! - A public client (`none`) registered again with identical metadata
//!   gets the same `client_id`; a confidential one gets a secret, stored
//!   as its SHA-256 only.
//! - Bounded: a rate limit per address, and caps on the number and length
//!   of redirect URIs, localized values and contacts (the body's size is
//!   capped by the route).

use super::clients::{secret_hash, ClientSecret, SUPPORTED_GRANT_TYPES, SUPPORTED_RESPONSE_TYPES};
use super::error::RegistrationError;
use super::{ApplicationType, ClientAuthMethod, OAuthClient};
use crate::auth::ratelimit::{address_key, Limiter};
use crate::auth::Auth;
use crate::clock::random_string;
use crate::config::Secret;
use crate::store::OAuthClientRow;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// At most this many redirect URIs per client.
pub const MAX_REDIRECT_URIS: usize = 10;
/// At most this many localized values (`client_name#fr`, ...).
pub const MAX_LOCALIZED: usize = 20;
/// At most this many contacts.
pub const MAX_CONTACTS: usize = 10;
/// The longest URI, name or contact accepted, in bytes.
pub const MAX_VALUE_LEN: usize = 2048;
/// The longest language tag of a localized value.
const MAX_LANGUAGE_TAG_LEN: usize = 35;

/// The fields that may be localized, and whether each is a URI.
const LOCALIZABLE: &[(&str, bool)] = &[
    ("client_name", false),
    ("client_uri", true),
    ("logo_uri", true),
    ("tos_uri", true),
    ("policy_uri", true),
];

/// A registered client and, for a confidential one, its secret (shown once).
#[derive(Debug)]
pub struct Registered {
    pub client: OAuthClient,
    pub client_secret: Option<Secret>,
}

type R<T> = Result<T, RegistrationError>;

fn metadata_error(message: impl Into<String>) -> RegistrationError {
    RegistrationError::InvalidClientMetadata(message.into())
}

fn redirect_error(message: impl Into<String>) -> RegistrationError {
    RegistrationError::InvalidRedirectUri(message.into())
}

impl Auth {
    /// Registers a client from its metadata (the request's JSON object),
    /// for a caller at `ip`.
    #[tracing::instrument(skip_all)]
    pub async fn register_oauth_client(
        &self,
        metadata: &Map<String, Value>,
        ip: Option<&str>,
    ) -> R<Registered> {
        match self.oauth() {
            Some(o) if o.dynamic_registration => {}
            _ => return Err(RegistrationError::Disabled),
        }
        self.ratelimit(Limiter::OAuthClientRegistration, address_key(ip))
            .await??;
        let mut client = parse_metadata(metadata)?;
        let now = self.now();
        let secret = match client.token_endpoint_auth_method {
            ClientAuthMethod::None => None,
            _ => Some(Secret::new(random_string(self.rng.as_ref(), 48))),
        };
        let stored_metadata =
            serde_json::to_string(&client).map_err(RegistrationError::internal)?;
        // Only public clients share a registration: a secret is the
        // client's own.
        let metadata_hash = secret
            .is_none()
            .then(|| hex::encode(Sha256::digest(stored_metadata.as_bytes())));
        let row = OAuthClientRow {
            client_id: random_string(self.rng.as_ref(), 24),
            metadata: stored_metadata,
            metadata_hash,
            client_secret_hash: secret.as_ref().map(|s| secret_hash(s.expose())),
            created_ts: now,
            last_registered_ts: now,
            last_session_ts: None,
        };
        let client_id = self.store.oauth().insert_oauth_client(&row).await?;
        let created_ts = if client_id == row.client_id {
            now
        } else {
            // An identical public client registered earlier.
            self.store
                .oauth()
                .get_oauth_client(&client_id)
                .await?
                .map_or(now, |stored| stored.created_ts)
        };
        client.client_id = client_id;
        client.created_ts = Some(created_ts);
        client.secret = match &row.client_secret_hash {
            Some(hash) => ClientSecret::Sha256Hex(hash.clone()),
            None => ClientSecret::None,
        };
        Ok(Registered {
            client,
            client_secret: secret,
        })
    }
}

/// The metadata as accepted, or why not.
fn parse_metadata(m: &Map<String, Value>) -> R<OAuthClient> {
    let application_type = match optional_string(m, "application_type")? {
        None => ApplicationType::Web,
        Some(t) => ApplicationType::parse(&t)
            .ok_or_else(|| metadata_error("application_type must be `web` or `native`"))?,
    };
    let token_endpoint_auth_method = match optional_string(m, "token_endpoint_auth_method")? {
        // RFC 7591 2's default.
        None => ClientAuthMethod::ClientSecretBasic,
        Some(name) => ClientAuthMethod::parse(&name).ok_or_else(|| {
            metadata_error(format!(
                "token_endpoint_auth_method `{name}` is not supported; use `none`, \
                 `client_secret_basic` or `client_secret_post`"
            ))
        })?,
    };
    let client_uri = optional_string(m, "client_uri")?
        .ok_or_else(|| metadata_error("client_uri is required"))?;
    let client_host =
        https_host(&client_uri).map_err(|why| metadata_error(format!("client_uri {why}")))?;
    let on_client_host = |field: &str, uri: Option<String>| -> R<Option<String>> {
        let Some(uri) = uri else { return Ok(None) };
        let host = https_host(&uri).map_err(|why| metadata_error(format!("{field} {why}")))?;
        if !same_or_subdomain(&host, &client_host) {
            return Err(metadata_error(format!(
                "{field} must be on the host of client_uri ({client_host}) or a subdomain of it"
            )));
        }
        Ok(Some(uri))
    };
    let logo_uri = on_client_host("logo_uri", optional_string(m, "logo_uri")?)?;
    let tos_uri = on_client_host("tos_uri", optional_string(m, "tos_uri")?)?;
    let policy_uri = on_client_host("policy_uri", optional_string(m, "policy_uri")?)?;
    let client_name = optional_string(m, "client_name")?;

    let mut localized = BTreeMap::new();
    for (key, value) in m {
        let Some((field, tag)) = key.split_once('#') else {
            continue;
        };
        let Some(&(_, is_uri)) = LOCALIZABLE.iter().find(|(f, _)| *f == field) else {
            continue;
        };
        if tag.is_empty()
            || tag.len() > MAX_LANGUAGE_TAG_LEN
            || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(metadata_error(format!("`{key}` has no valid language tag")));
        }
        if localized.len() == MAX_LOCALIZED {
            return Err(metadata_error(format!(
                "at most {MAX_LOCALIZED} localized values are accepted"
            )));
        }
        let value = string_value(key, value)?;
        if is_uri {
            on_client_host(key, Some(value.clone()))?;
        }
        localized.insert(key.clone(), value);
    }

    let grant_types = known_values(
        m,
        "grant_types",
        &["authorization_code"],
        SUPPORTED_GRANT_TYPES,
    )?;
    let code_grant = grant_types.iter().any(|g| g == "authorization_code");
    // A client of the device code grant alone has no response type.
    let default_response_types: &[&str] = match code_grant {
        true => &["code"],
        false => &[],
    };
    let response_types = known_values(
        m,
        "response_types",
        default_response_types,
        SUPPORTED_RESPONSE_TYPES,
    )?;
    if code_grant != response_types.iter().any(|r| r == "code") {
        return Err(metadata_error(
            "the authorization_code grant type and the code response type go together",
        ));
    }
    let redirect_uris = string_list(m, "redirect_uris", MAX_REDIRECT_URIS)?;
    if code_grant && redirect_uris.is_empty() {
        return Err(redirect_error(
            "redirect_uris is required for the authorization_code grant type",
        ));
    }
    for uri in &redirect_uris {
        check_redirect_uri(uri, application_type, &client_host)?;
    }
    let contacts = string_list(m, "contacts", MAX_CONTACTS)?;

    Ok(OAuthClient {
        client_id: String::new(),
        application_type,
        redirect_uris,
        token_endpoint_auth_method,
        client_name,
        client_uri: Some(client_uri),
        logo_uri,
        tos_uri,
        policy_uri,
        localized,
        grant_types,
        response_types,
        contacts,
        created_ts: None,
        secret: ClientSecret::None,
    })
}

fn string_value(key: &str, value: &Value) -> R<String> {
    match value {
        Value::String(s) if s.len() <= MAX_VALUE_LEN => Ok(s.clone()),
        Value::String(_) => Err(metadata_error(format!(
            "{key} is longer than {MAX_VALUE_LEN} bytes"
        ))),
        _ => Err(metadata_error(format!("{key} must be a string"))),
    }
}

fn optional_string(m: &Map<String, Value>, key: &str) -> R<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => string_value(key, v).map(Some),
    }
}

fn string_list(m: &Map<String, Value>, key: &str, max: usize) -> R<Vec<String>> {
    let items = match m.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(metadata_error(format!("{key} must be an array of strings"))),
    };
    if items.len() > max {
        let e = format!("at most {max} {key} are accepted");
        return Err(if key == "redirect_uris" {
            redirect_error(e)
        } else {
            metadata_error(e)
        });
    }
    items.iter().map(|v| string_value(key, v)).collect()
}

/// The values of `key` (`default` when absent) that mxauth knows, in the
/// order asked: the others are ignored, as RFC 7591 says.
fn known_values(
    m: &Map<String, Value>,
    key: &str,
    default: &[&str],
    supported: &[&str],
) -> R<Vec<String>> {
    let asked = match m.get(key) {
        None | Some(Value::Null) => default.iter().map(|s| s.to_string()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(metadata_error(format!("{key} must be an array of strings"))),
            })
            .collect::<R<Vec<_>>>()?,
        Some(_) => return Err(metadata_error(format!("{key} must be an array of strings"))),
    };
    let mut known: Vec<String> = Vec::new();
    for value in asked {
        if supported.contains(&value.as_str()) && !known.contains(&value) {
            known.push(value);
        }
    }
    Ok(known)
}

/// The host of an `https` URL without user info, or why not.
fn https_host(uri: &str) -> Result<String, String> {
    let parsed = url::Url::parse(uri).map_err(|_| "is not a valid URL".to_owned())?;
    if parsed.scheme() != "https" {
        return Err("must use https".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not have a user or password".into());
    }
    match parsed.host_str() {
        Some(h) if !h.is_empty() => Ok(h.to_ascii_lowercase()),
        _ => Err("has no host".into()),
    }
}

fn same_or_subdomain(host: &str, base: &str) -> bool {
    host == base
        || host
            .strip_suffix(base)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

/// The spec's redirect URI rules for the client's type.
fn check_redirect_uri(uri: &str, app: ApplicationType, client_host: &str) -> R<()> {
    let parsed = url::Url::parse(uri)
        .map_err(|_| redirect_error(format!("`{uri}` is not an absolute URI")))?;
    if parsed.fragment().is_some() {
        return Err(redirect_error(format!("`{uri}` has a fragment")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(redirect_error(format!("`{uri}` has a user or password")));
    }
    let on_client_host = || -> R<()> {
        match parsed.host_str() {
            Some(h) if same_or_subdomain(&h.to_ascii_lowercase(), client_host) => Ok(()),
            _ => Err(redirect_error(format!(
                "`{uri}` is not on the host of client_uri ({client_host}) or a subdomain of it"
            ))),
        }
    };
    match (app, parsed.scheme()) {
        (_, "https") => on_client_host(),
        (ApplicationType::Web, _) => Err(redirect_error(format!(
            "`{uri}`: a web client's redirect URIs use https"
        ))),
        (ApplicationType::Native, "http") => {
            if !super::clients::is_loopback_host(&parsed) {
                return Err(redirect_error(format!(
                    "`{uri}`: a native client's http redirect URIs are on localhost, \
                     127.0.0.1 or [::1]"
                )));
            }
            if parsed.port().is_some() || has_explicit_port(uri) {
                return Err(redirect_error(format!(
                    "`{uri}`: a loopback redirect URI has no port (any port is accepted \
                     when authorizing)"
                )));
            }
            Ok(())
        }
        (ApplicationType::Native, scheme) => {
            let reversed: Vec<&str> = client_host.rsplit('.').collect();
            let reversed = reversed.join(".");
            let prefixed = scheme == reversed
                || scheme
                    .strip_prefix(reversed.as_str())
                    .is_some_and(|rest| rest.starts_with('.'));
            if !scheme.contains('.') || !prefixed {
                return Err(redirect_error(format!(
                    "`{uri}`: a private-use scheme is the client_uri's host in reverse-DNS \
                     notation (`{reversed}` or `{reversed}.*`)"
                )));
            }
            if uri[scheme.len() + 1..].starts_with("//") {
                return Err(redirect_error(format!(
                    "`{uri}`: a private-use scheme URI has no authority (`{scheme}:/path`)"
                )));
            }
            Ok(())
        }
    }
}

/// `http://localhost:80/` parses with no port (80 is http's default), but
/// the spec refuses any port written.
fn has_explicit_port(uri: &str) -> bool {
    let Some(rest) = uri.split_once("://").map(|(_, r)| r) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let after_host = match authority.rfind(']') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    after_host.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_and_reverse_dns() {
        assert!(same_or_subdomain("example.com", "example.com"));
        assert!(same_or_subdomain("app.example.com", "example.com"));
        assert!(!same_or_subdomain("badexample.com", "example.com"));
        assert!(!same_or_subdomain("example.com.evil", "example.com"));
        let native = |uri: &str| check_redirect_uri(uri, ApplicationType::Native, "example.com");
        for ok in [
            "com.example.app:/callback",
            "com.example:/",
            "com.example:callback",
            "http://localhost/callback",
            "http://127.0.0.1/callback",
            "http://[::1]/callback",
            "https://app.example.com/cb",
        ] {
            assert!(native(ok).is_ok(), "{ok}");
        }
        for bad in [
            "example:/callback",
            "com.example.app://callback",
            "com.examplex:/cb",
            "https://localhost/callback",
            "http://localhost:1234/callback",
            "http://localhost:80/callback",
            "http://[::1]:80/callback",
            "http://example.com/callback",
        ] {
            assert!(native(bad).is_err(), "{bad}");
        }
    }
}
