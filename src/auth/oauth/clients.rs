//! OAuth 2.0 clients: those of the config file (`mxauth.oauth.clients`)
//! and those registered dynamically (`registration.rs`, kept in the
//! database); their lookup, their redirect URIs, their authentication at
//! the token and revocation endpoints (RFC 6749 2.3: `none`,
//! `client_secret_basic`, `client_secret_post`), and the pruning of
//! registered clients that never got a session.

use super::error::ClientAuthError;
use super::{ApplicationType, ClientAuthMethod};
use crate::auth::Auth;
use crate::clock::Timestamp;
use crate::config::{OAuthConfig, Secret, StaticClient};
use crate::store::{OAuthClientRow, StoreError, StoreResult};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

/// RFC 8628's name of the device authorization grant (`device.rs`).
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The grant types mxauth's token endpoint serves.
pub const SUPPORTED_GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    DEVICE_CODE_GRANT_TYPE,
];
/// The response types mxauth's authorization endpoint serves.
pub const SUPPORTED_RESPONSE_TYPES: &[&str] = &["code"];

/// A client, static or registered. Serialised (without `client_id`, the
/// secret and the timestamps), it is the metadata stored for a registered
/// client, under RFC 7591's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClient {
    #[serde(skip)]
    pub client_id: String,
    pub application_type: ApplicationType,
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: ClientAuthMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// The localized variants as registered: `client_name#fr` → its value
    /// (for `client_name`, `client_uri`, `logo_uri`, `tos_uri`, `policy_uri`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub localized: BTreeMap<String, String>,
    /// Those asked for that mxauth serves ([`SUPPORTED_GRANT_TYPES`]).
    pub grant_types: Vec<String>,
    /// Those asked for that mxauth serves ([`SUPPORTED_RESPONSE_TYPES`]).
    pub response_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// When it was registered (`client_id_issued_at`); `None` for a
    /// client of the config file.
    #[serde(skip)]
    pub created_ts: Option<Timestamp>,
    #[serde(skip)]
    pub(super) secret: ClientSecret,
}

/// What a client's secret is checked against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) enum ClientSecret {
    /// A public client.
    #[default]
    None,
    /// A client of the config file.
    Static(Secret),
    /// A registered client: the hex SHA-256 of the secret it was given.
    Sha256Hex(String),
}

/// The hex SHA-256 of a registered client's secret, as stored.
pub(super) fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl OAuthClient {
    /// Whether `uri` is one of the client's redirect URIs: compared
    /// exactly, except that a native client's loopback URI registered
    /// without a port (`http://127.0.0.1/cb`, `localhost`, `[::1]`)
    /// matches on any port (RFC 8252 7.3).
    pub fn redirect_uri_allowed(&self, uri: &str) -> bool {
        if self.redirect_uris.iter().any(|r| r == uri) {
            return true;
        }
        if self.application_type != ApplicationType::Native {
            return false;
        }
        let Ok(mut candidate) = url::Url::parse(uri) else {
            return false;
        };
        if candidate.scheme() != "http" || !is_loopback_host(&candidate) {
            return false;
        }
        if candidate.set_port(None).is_err() {
            return false;
        }
        self.redirect_uris.iter().any(|registered| {
            url::Url::parse(registered)
                .is_ok_and(|r| r.port().is_none() && is_loopback_host(&r) && r == candidate)
        })
    }

    fn from_static(c: &StaticClient) -> Self {
        OAuthClient {
            client_id: c.client_id.clone(),
            application_type: c.application_type,
            redirect_uris: c.redirect_uris.clone(),
            token_endpoint_auth_method: c.auth_method,
            client_name: c.client_name.clone(),
            client_uri: None,
            logo_uri: None,
            tos_uri: None,
            policy_uri: None,
            localized: BTreeMap::new(),
            grant_types: SUPPORTED_GRANT_TYPES
                .iter()
                .map(|g| g.to_string())
                .collect(),
            response_types: SUPPORTED_RESPONSE_TYPES
                .iter()
                .map(|r| r.to_string())
                .collect(),
            contacts: Vec::new(),
            created_ts: None,
            secret: match &c.client_secret {
                Some(s) => ClientSecret::Static(s.clone()),
                None => ClientSecret::None,
            },
        }
    }

    fn from_row(row: OAuthClientRow) -> StoreResult<Self> {
        let mut client: OAuthClient = serde_json::from_str(&row.metadata).map_err(|e| {
            StoreError::Corrupt(format!("OAuth client {}: bad metadata: {e}", row.client_id))
        })?;
        client.client_id = row.client_id;
        client.created_ts = Some(row.created_ts);
        client.secret = match row.client_secret_hash {
            Some(hash) => ClientSecret::Sha256Hex(hash),
            None => ClientSecret::None,
        };
        Ok(client)
    }

    /// Whether `presented` is the client's secret (constant time).
    fn secret_matches(&self, presented: &str) -> bool {
        match &self.secret {
            ClientSecret::None => false,
            ClientSecret::Static(s) => s.expose().as_bytes().ct_eq(presented.as_bytes()).into(),
            ClientSecret::Sha256Hex(hash) => secret_hash(presented)
                .as_bytes()
                .ct_eq(hash.as_bytes())
                .into(),
        }
    }
}

/// `127.0.0.1`, `[::1]` or `localhost`.
pub(super) fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// How a client presented itself at the token or revocation endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCredentials {
    /// From `Authorization: Basic` (id and secret form-urldecoded).
    pub basic: Option<(String, Secret)>,
    /// The form's `client_id`.
    pub client_id: Option<String>,
    /// The form's `client_secret`.
    pub client_secret: Option<Secret>,
}

impl ClientCredentials {
    /// The credentials of a request: its `Authorization` header (only a
    /// `Basic` one is read) and the form's `client_id` and `client_secret`.
    pub fn from_request(
        authorization: Option<&str>,
        client_id: Option<String>,
        client_secret: Option<String>,
    ) -> Result<Self, ClientAuthError> {
        let basic = match authorization.and_then(|v| v.trim().split_once(' ')) {
            Some((scheme, value)) if scheme.eq_ignore_ascii_case("basic") => {
                Some(decode_basic(value.trim()).ok_or(ClientAuthError::Malformed)?)
            }
            _ => None,
        };
        Ok(ClientCredentials {
            basic,
            client_id,
            client_secret: client_secret.map(Secret::new),
        })
    }

    /// The client named and the method used, or why they do not add up
    /// (RFC 6749 2.3: one method per request).
    fn method(&self) -> Result<(&str, ClientAuthMethod, Option<&Secret>), ClientAuthError> {
        match (&self.basic, &self.client_id, &self.client_secret) {
            (Some(_), _, Some(_)) => Err(ClientAuthError::Malformed),
            (Some((id, _)), Some(form_id), None) if form_id != id => {
                Err(ClientAuthError::Malformed)
            }
            (Some((id, secret)), _, None) => {
                Ok((id, ClientAuthMethod::ClientSecretBasic, Some(secret)))
            }
            (None, Some(id), Some(secret)) => {
                Ok((id, ClientAuthMethod::ClientSecretPost, Some(secret)))
            }
            (None, Some(id), None) => Ok((id, ClientAuthMethod::None, None)),
            (None, None, _) => Err(ClientAuthError::Malformed),
        }
    }
}

/// `base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 2.3.1).
fn decode_basic(value: &str) -> Option<(String, Secret)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    let text = zeroize::Zeroizing::new(String::from_utf8(bytes).ok()?);
    let (id, secret) = text.split_once(':')?;
    let id = form_urldecode(id)?;
    let secret = Secret::new(form_urldecode(secret)?);
    if id.is_empty() {
        return None;
    }
    Some((id, secret))
}

fn form_urldecode(s: &str) -> Option<String> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

impl Auth {
    /// The OAuth 2.0 API's settings; `None` when it is off.
    pub fn oauth(&self) -> Option<&OAuthConfig> {
        self.config.oauth.as_ref()
    }

    /// The client `client_id`: one of the config file's, else a registered
    /// one. `None` when there is none (or the OAuth 2.0 API is off).
    #[tracing::instrument(skip_all)]
    pub async fn oauth_client(&self, client_id: &str) -> StoreResult<Option<OAuthClient>> {
        let Some(oauth) = self.oauth() else {
            return Ok(None);
        };
        if let Some(c) = oauth.clients.iter().find(|c| c.client_id == client_id) {
            return Ok(Some(OAuthClient::from_static(c)));
        }
        match self.store.oauth().get_oauth_client(client_id).await? {
            Some(row) => OAuthClient::from_row(row).map(Some),
            None => Ok(None),
        }
    }

    /// The client that `creds` authenticate, by the method it was
    /// registered with (`none`, `client_secret_basic`,
    /// `client_secret_post`); any other method, an unknown client or a
    /// wrong secret is [`ClientAuthError`], the secret compared in
    /// constant time.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate_oauth_client(
        &self,
        creds: ClientCredentials,
    ) -> Result<OAuthClient, ClientAuthError> {
        let (client_id, method, secret) = creds.method()?;
        let Some(client) = self.oauth_client(client_id).await? else {
            return Err(ClientAuthError::UnknownClient);
        };
        if client.token_endpoint_auth_method != method {
            return Err(ClientAuthError::WrongMethod);
        }
        match secret {
            None => Ok(client),
            Some(s) if client.secret_matches(s.expose()) => Ok(client),
            Some(_) => Err(ClientAuthError::BadSecret),
        }
    }

    /// Notes that `client_id` has (had) a session, so pruning keeps it.
    /// A client of the config file is never pruned: nothing is written.
    pub async fn touch_oauth_client(&self, client_id: &str) -> StoreResult<()> {
        let now = self.now();
        self.store.oauth().touch_oauth_client(client_id, now).await
    }

    /// Deletes the registered clients that never got a session,
    /// `unused_client_lifetime` after their last registration (a
    /// background job); returns how many went.
    pub async fn prune_oauth_clients(&self) -> StoreResult<u64> {
        let Some(oauth) = self.oauth() else {
            return Ok(0);
        };
        let before = self.now() - oauth.unused_client_lifetime_ms;
        self.store.oauth().prune_unused_oauth_clients(before).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native(uris: &[&str]) -> OAuthClient {
        let mut c = OAuthClient::from_static(&StaticClient {
            client_id: "c".into(),
            client_secret: None,
            redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
            client_name: None,
            auth_method: ClientAuthMethod::None,
            application_type: ApplicationType::Native,
        });
        c.application_type = ApplicationType::Native;
        c
    }

    #[test]
    fn redirect_uris_match_exactly_but_loopback_on_any_port() {
        let c = native(&[
            "http://127.0.0.1/cb",
            "http://localhost/",
            "http://[::1]/x?y=1",
            "org.example.app:/cb",
            "http://127.0.0.1:5000/fixed",
        ]);
        for ok in [
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8123/cb",
            "http://localhost:1/",
            "http://[::1]:9999/x?y=1",
            "org.example.app:/cb",
            "http://127.0.0.1:5000/fixed",
        ] {
            assert!(c.redirect_uri_allowed(ok), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:8123/cb2",
            "https://127.0.0.1:8123/cb",
            "http://127.0.0.2:8123/cb",
            "http://localhost.evil.example:1/",
            "http://[::1]:9999/x?y=2",
            "org.example.app:/cb/",
            "http://127.0.0.1:5001/fixed",
            "not a uri",
        ] {
            assert!(!c.redirect_uri_allowed(bad), "{bad}");
        }
        let mut web = c.clone();
        web.application_type = ApplicationType::Web;
        assert!(!web.redirect_uri_allowed("http://127.0.0.1:8123/cb"));
        assert!(web.redirect_uri_allowed("http://127.0.0.1/cb"));
    }

    #[test]
    fn basic_credentials_are_form_urldecoded() {
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("my%3Aclient:s%2Bx+y%25")
        );
        let creds = ClientCredentials::from_request(Some(&header), None, None).unwrap();
        let (id, secret) = creds.basic.clone().unwrap();
        assert_eq!(id, "my:client");
        assert_eq!(secret.expose(), "s+x y%");
        let (id, method, _) = creds.method().unwrap();
        assert_eq!(
            (id, method),
            ("my:client", ClientAuthMethod::ClientSecretBasic)
        );
        for bad in ["Basic !!!", "Basic Zm9v", "basic OnNlY3JldA=="] {
            assert_eq!(
                ClientCredentials::from_request(Some(bad), None, None),
                Err(ClientAuthError::Malformed),
                "{bad}"
            );
        }
        // Another scheme is not client authentication.
        let bearer = ClientCredentials::from_request(Some("Bearer x"), Some("c".into()), None);
        assert_eq!(bearer.unwrap().method().unwrap().1, ClientAuthMethod::None);
    }

    #[test]
    fn one_method_per_request() {
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("c:s")
        );
        let both = ClientCredentials::from_request(Some(&header), None, Some("s".into())).unwrap();
        assert_eq!(both.method().unwrap_err(), ClientAuthError::Malformed);
        let other_id =
            ClientCredentials::from_request(Some(&header), Some("d".into()), None).unwrap();
        assert_eq!(other_id.method().unwrap_err(), ClientAuthError::Malformed);
        let same_id =
            ClientCredentials::from_request(Some(&header), Some("c".into()), None).unwrap();
        assert_eq!(
            same_id.method().unwrap().1,
            ClientAuthMethod::ClientSecretBasic
        );
        let post = ClientCredentials::from_request(None, Some("c".into()), Some("s".into()));
        assert_eq!(
            post.unwrap().method().unwrap().1,
            ClientAuthMethod::ClientSecretPost
        );
        let nothing = ClientCredentials::from_request(None, None, None).unwrap();
        assert_eq!(nothing.method().unwrap_err(), ClientAuthError::Malformed);
    }
}
