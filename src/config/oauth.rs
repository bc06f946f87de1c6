//! `mxauth.oauth`: the OAuth 2.0 API (the Matrix spec's "OAuth 2.0 API",
//! MSC3861): on by default when `public_baseurl` is set, the lifetimes of
//! its tokens and browser sessions, dynamic client registration, and the
//! clients an admin registers in the file.
//!
//! ```yaml
//! mxauth:
//!   oauth:
//!     enabled: true                  # default: true when public_baseurl is set
//!     access_token_lifetime: 5m
//!     refresh_token_lifetime: 30d    # default: none (refresh tokens do not expire)
//!     browser_session_lifetime: 7d
//!     dynamic_registration: true
//!     unused_client_lifetime: 24h    # registered clients that never got a session
//!     device_code_lifetime: 10m      # the device authorization grant's codes
//!     clients:
//!       - client_id: element-web
//!         client_secret_path: /etc/mxauth/element-web.secret
//!         redirect_uris: [https://app.example.org/]
//!         client_name: Element
//!         client_auth_method: client_secret_basic
//! ```

use std::collections::HashSet;

use super::secret::{Secret, SecretKey};
use super::yaml::{self, as_list, as_string, KResult, KeyError, Map};

/// The key under `mxauth:` parsed here.
pub(super) const MXAUTH_KEY: &str = "oauth";

const KEYS: &[&str] = &[
    "enabled",
    "access_token_lifetime",
    "refresh_token_lifetime",
    "browser_session_lifetime",
    "dynamic_registration",
    "unused_client_lifetime",
    "device_code_lifetime",
    "clients",
];

const CLIENT_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "client_secret_path",
    "redirect_uris",
    "client_name",
    "client_auth_method",
    "application_type",
];

/// How a client authenticates at the token endpoint
/// (`token_endpoint_auth_method`, RFC 7591).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// A public client: no secret.
    None,
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl ClientAuthMethod {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::None => "none",
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "none" => Some(ClientAuthMethod::None),
            "client_secret_basic" => Some(ClientAuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(ClientAuthMethod::ClientSecretPost),
            _ => None,
        }
    }

    /// Every method, in the order discovery lists them.
    pub const ALL: [ClientAuthMethod; 3] = [
        ClientAuthMethod::None,
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
    ];
}

/// `application_type` (OpenID Connect Dynamic Client Registration): which
/// redirect URIs a client may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    Web,
    Native,
}

impl ApplicationType {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationType::Web => "web",
            ApplicationType::Native => "native",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "web" => Some(ApplicationType::Web),
            "native" => Some(ApplicationType::Native),
            _ => None,
        }
    }
}

/// A client registered in the file (`mxauth.oauth.clients[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticClient {
    pub client_id: String,
    /// `client_secret` or read from `client_secret_path`; `None` for a
    /// public client.
    pub client_secret: Option<Secret>,
    /// Absolute URIs without a fragment, compared exactly (a native
    /// client's loopback ones on any port).
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    /// `client_auth_method`; default `client_secret_basic` with a secret,
    /// `none` without.
    pub auth_method: ClientAuthMethod,
    /// `application_type`, default `web`.
    pub application_type: ApplicationType,
}

/// The OAuth 2.0 API's settings; `Config.oauth` is `None` when it is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    /// The issuer: `public_baseurl` (ends with `/`).
    pub issuer: String,
    /// `access_token_lifetime`, default 5 minutes.
    pub access_token_lifetime_ms: i64,
    /// `refresh_token_lifetime`, default none (no expiry).
    pub refresh_token_lifetime_ms: Option<i64>,
    /// `browser_session_lifetime`, default 7 days.
    pub browser_session_lifetime_ms: i64,
    /// `dynamic_registration`, default true: `POST /oauth2/registration`.
    pub dynamic_registration: bool,
    /// `unused_client_lifetime`, default 24h: a registered client that
    /// never got a session is deleted this long after its registration.
    pub unused_client_lifetime_ms: i64,
    /// `device_code_lifetime`, default 10 minutes: how long a device
    /// authorization grant's codes are good for (RFC 8628).
    pub device_code_lifetime_ms: i64,
    /// `clients`: registered in the file, looked up before the database's.
    pub clients: Vec<StaticClient>,
}

impl OAuthConfig {
    /// The defaults for `issuer` (a `public_baseurl`, ending with `/`).
    pub fn new(issuer: impl Into<String>) -> Self {
        OAuthConfig {
            issuer: issuer.into(),
            access_token_lifetime_ms: 5 * 60 * 1000,
            refresh_token_lifetime_ms: None,
            browser_session_lifetime_ms: 7 * 24 * 3600 * 1000,
            dynamic_registration: true,
            unused_client_lifetime_ms: 24 * 3600 * 1000,
            device_code_lifetime_ms: 10 * 60 * 1000,
            clients: Vec::new(),
        }
    }
}

/// `mxauth.oauth` (`mxauth` is the top-level section, checked by
/// `mxauth.rs`); `public_baseurl` as `server.rs` normalised it.
pub(super) fn parse(top: &Map<'_>, public_baseurl: Option<&str>) -> KResult<Option<OAuthConfig>> {
    let section = match top.get("mxauth") {
        Some(l) => Map::from_value(l.value, &l.path)?,
        None => return Ok(public_baseurl.map(OAuthConfig::new)),
    };
    let Some(l) = section.get(MXAUTH_KEY) else {
        return Ok(public_baseurl.map(OAuthConfig::new));
    };
    let map = Map::from_node(l.node())?;
    map.check_keys(KEYS, &[])?;
    let enabled = match map.get("enabled") {
        None => public_baseurl.is_some(),
        Some(l) => yaml::as_bool(l.node())?,
    };
    if !enabled {
        return Ok(None);
    }
    let Some(issuer) = public_baseurl else {
        return Err(KeyError::new(
            map.path_of("enabled"),
            "the OAuth 2.0 API needs `public_baseurl` (its issuer and endpoints)",
        ));
    };
    let mut c = OAuthConfig::new(issuer);
    let positive = |key: &str, default: i64| -> KResult<i64> {
        match map.get(key) {
            None => Ok(default),
            Some(l) => {
                let ms = yaml::as_duration_ms(l.node())?;
                match i64::try_from(ms) {
                    Ok(ms) if ms > 0 => Ok(ms),
                    Ok(_) => Err(KeyError::new(l.path, "must be longer than zero")),
                    Err(_) => Err(KeyError::new(l.path, "too long")),
                }
            }
        }
    };
    c.access_token_lifetime_ms = positive("access_token_lifetime", c.access_token_lifetime_ms)?;
    c.browser_session_lifetime_ms =
        positive("browser_session_lifetime", c.browser_session_lifetime_ms)?;
    c.unused_client_lifetime_ms = positive("unused_client_lifetime", c.unused_client_lifetime_ms)?;
    c.device_code_lifetime_ms = positive("device_code_lifetime", c.device_code_lifetime_ms)?;
    if map.contains("refresh_token_lifetime") {
        c.refresh_token_lifetime_ms = Some(positive("refresh_token_lifetime", 0)?);
    }
    c.dynamic_registration = map.bool_or("dynamic_registration", true)?;
    if let Some(l) = map.get("clients") {
        c.clients = parse_clients(l.node())?;
    }
    Ok(Some(c))
}

fn parse_clients(node: yaml::Node<'_>) -> KResult<Vec<StaticClient>> {
    let mut clients = Vec::new();
    let mut seen = HashSet::new();
    for item in as_list(node)? {
        let map = Map::from_node(item.node())?;
        map.check_keys(CLIENT_KEYS, &[])?;
        let client_id = match map.get("client_id") {
            Some(l) => {
                let id = as_string(l.node())?;
                if id.is_empty() || id.len() > 255 || id.chars().any(char::is_control) {
                    return Err(KeyError::new(
                        l.path,
                        "must be 1 to 255 characters, none of them a control character",
                    ));
                }
                if !seen.insert(id.clone()) {
                    return Err(KeyError::new(
                        l.path,
                        format!("`{id}` is the client_id of an earlier client"),
                    ));
                }
                id
            }
            None => return Err(KeyError::new(map.path_of("client_id"), "missing")),
        };
        let client_secret = SecretKey::new("client_secret")
            .read(&map)?
            .map(|f| f.refuse_empty_file())
            .transpose()?
            .map(|f| {
                if f.value.is_empty() {
                    Err(KeyError::new(f.path, "must not be empty"))
                } else {
                    Ok(f.value)
                }
            })
            .transpose()?;
        let redirect_uris = match map.get("redirect_uris") {
            None => return Err(KeyError::new(map.path_of("redirect_uris"), "missing")),
            Some(l) => {
                let mut uris = Vec::new();
                for uri in as_list(l.node())? {
                    let text = as_string(uri.node())?;
                    check_redirect_uri(&text).map_err(|m| KeyError::new(&uri.path, m))?;
                    uris.push(text);
                }
                if uris.is_empty() {
                    return Err(KeyError::new(l.path, "must list at least one URI"));
                }
                uris
            }
        };
        let client_name = map.string("client_name")?;
        let application_type = match map.get("application_type") {
            None => ApplicationType::Web,
            Some(l) => ApplicationType::parse(&as_string(l.node())?)
                .ok_or_else(|| KeyError::new(&l.path, "expected `web` or `native`"))?,
        };
        let auth_method = match map.get("client_auth_method") {
            None if client_secret.is_some() => ClientAuthMethod::ClientSecretBasic,
            None => ClientAuthMethod::None,
            Some(l) => {
                let method = ClientAuthMethod::parse(&as_string(l.node())?).ok_or_else(|| {
                    KeyError::new(
                        &l.path,
                        "expected `none`, `client_secret_basic` or `client_secret_post`",
                    )
                })?;
                match (method, &client_secret) {
                    (ClientAuthMethod::None, Some(_)) => {
                        return Err(KeyError::new(
                            l.path,
                            "`none` is for a public client: remove its client_secret",
                        ))
                    }
                    (ClientAuthMethod::None, None) | (_, Some(_)) => method,
                    (_, None) => {
                        return Err(KeyError::new(
                            l.path,
                            format!("`{}` needs a client_secret", method.as_str()),
                        ))
                    }
                }
            }
        };
        clients.push(StaticClient {
            client_id,
            client_secret,
            redirect_uris,
            client_name,
            auth_method,
            application_type,
        });
    }
    Ok(clients)
}

/// An absolute URI with no fragment.
fn check_redirect_uri(text: &str) -> Result<(), String> {
    let parsed =
        url::Url::parse(text).map_err(|e| format!("`{text}` is not an absolute URI: {e}"))?;
    if parsed.fragment().is_some() {
        return Err(format!("`{text}` must not have a fragment (`#`)"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("`{text}` must not have user information"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    const BASE: &str = "server_name: example.com\npublic_baseurl: https://auth.example.com\n";

    #[test]
    fn on_by_default_with_public_baseurl_and_defaults() {
        let c = config(BASE).oauth.expect("on");
        assert_eq!(c.issuer, "https://auth.example.com/");
        assert_eq!(c.access_token_lifetime_ms, 300_000);
        assert_eq!(c.refresh_token_lifetime_ms, None);
        assert_eq!(c.browser_session_lifetime_ms, 7 * 86_400_000);
        assert_eq!(c.unused_client_lifetime_ms, 86_400_000);
        assert_eq!(c.device_code_lifetime_ms, 600_000);
        assert!(c.dynamic_registration);
        assert!(c.clients.is_empty());
        // An mxauth section without oauth keeps the default.
        let c = config(&format!("{BASE}mxauth:\n  max_connections: 10\n"));
        assert!(c.oauth.is_some());
        assert!(config(&format!("{BASE}mxauth:\n  oauth:\n"))
            .oauth
            .is_some());
    }

    #[test]
    fn off_without_public_baseurl_or_when_disabled() {
        assert_eq!(config("server_name: example.com\n").oauth, None);
        let off = config(&format!("{BASE}mxauth:\n  oauth:\n    enabled: false\n"));
        assert_eq!(off.oauth, None);
        let off = config("server_name: example.com\nmxauth: {oauth: {enabled: false}}\n");
        assert_eq!(off.oauth, None);
    }

    #[test]
    fn enabled_without_public_baseurl_is_an_error_at_its_key() {
        let (path, shown) =
            parse_error("server_name: example.com\nmxauth:\n  oauth:\n    enabled: true\n");
        assert_eq!(path, "mxauth.oauth.enabled");
        assert!(shown.contains("public_baseurl"), "{shown}");
    }

    #[test]
    fn lifetimes() {
        let c = config(&format!(
            "{BASE}mxauth:\n  oauth:\n    access_token_lifetime: 2m\n    \
             refresh_token_lifetime: 30d\n    browser_session_lifetime: 1h\n    \
             unused_client_lifetime: 3h\n    dynamic_registration: false\n    \
             device_code_lifetime: 15m\n"
        ))
        .oauth
        .unwrap();
        assert_eq!(c.access_token_lifetime_ms, 120_000);
        assert_eq!(c.refresh_token_lifetime_ms, Some(30 * 86_400_000));
        assert_eq!(c.browser_session_lifetime_ms, 3_600_000);
        assert_eq!(c.unused_client_lifetime_ms, 3 * 3_600_000);
        assert_eq!(c.device_code_lifetime_ms, 15 * 60_000);
        assert!(!c.dynamic_registration);
        for (yaml, path) in [
            (
                "access_token_lifetime: 0",
                "mxauth.oauth.access_token_lifetime",
            ),
            (
                "refresh_token_lifetime: soon",
                "mxauth.oauth.refresh_token_lifetime",
            ),
            (
                "browser_session_lifetme: 1h",
                "mxauth.oauth.browser_session_lifetme",
            ),
        ] {
            let (got, shown) = parse_error(&format!("{BASE}mxauth:\n  oauth:\n    {yaml}\n"));
            assert_eq!(got, path, "{shown}");
        }
    }

    #[test]
    fn static_clients() {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, "s3cret\n").unwrap();
        let c = config(&format!(
            "{BASE}mxauth:\n  oauth:\n    clients:\n      \
             - client_id: web\n        client_secret: inline\n        \
               redirect_uris: ['https://app.example.org/cb']\n        client_name: App\n      \
             - client_id: post\n        client_secret_path: '{}'\n        \
               client_auth_method: client_secret_post\n        \
               redirect_uris: ['https://app.example.org/cb', 'org.example.app:/cb']\n      \
             - client_id: cli\n        application_type: native\n        \
               redirect_uris: ['http://127.0.0.1/cb']\n",
            secret_file.display()
        ))
        .oauth
        .unwrap();
        let [web, post, cli] = c.clients.as_slice() else {
            panic!("{:?}", c.clients)
        };
        assert_eq!(web.client_id, "web");
        assert_eq!(web.client_secret.as_ref().unwrap().expose(), "inline");
        assert_eq!(web.auth_method, ClientAuthMethod::ClientSecretBasic);
        assert_eq!(web.client_name.as_deref(), Some("App"));
        assert_eq!(web.application_type, ApplicationType::Web);
        assert_eq!(post.client_secret.as_ref().unwrap().expose(), "s3cret");
        assert_eq!(post.auth_method, ClientAuthMethod::ClientSecretPost);
        assert_eq!(post.redirect_uris.len(), 2);
        assert_eq!(cli.client_secret, None);
        assert_eq!(cli.auth_method, ClientAuthMethod::None);
        assert_eq!(cli.application_type, ApplicationType::Native);
    }

    #[test]
    fn bad_static_clients_name_their_key() {
        let client = |body: &str| {
            format!("{BASE}mxauth:\n  oauth:\n    clients:\n      - client_id: a\n        {body}\n")
        };
        let uris = "redirect_uris: ['https://a.example/']";
        for (text, path) in [
            (client(""), "mxauth.oauth.clients[0].redirect_uris"),
            (
                client("redirect_uris: []"),
                "mxauth.oauth.clients[0].redirect_uris",
            ),
            (
                client("redirect_uris: ['/relative']"),
                "mxauth.oauth.clients[0].redirect_uris[0]",
            ),
            (
                client("redirect_uris: ['https://a.example/#frag']"),
                "mxauth.oauth.clients[0].redirect_uris[0]",
            ),
            (
                client("redirect_uris: ['https://u:p@a.example/']"),
                "mxauth.oauth.clients[0].redirect_uris[0]",
            ),
            (
                client(&format!("{uris}\n        client_auth_method: private_key_jwt")),
                "mxauth.oauth.clients[0].client_auth_method",
            ),
            (
                client(&format!("{uris}\n        client_auth_method: client_secret_post")),
                "mxauth.oauth.clients[0].client_auth_method",
            ),
            (
                client(&format!(
                    "{uris}\n        client_secret: x\n        client_auth_method: none"
                )),
                "mxauth.oauth.clients[0].client_auth_method",
            ),
            (
                client(&format!("{uris}\n        client_secret: ''")),
                "mxauth.oauth.clients[0].client_secret",
            ),
            (
                client(&format!("{uris}\n        application_type: desktop")),
                "mxauth.oauth.clients[0].application_type",
            ),
            (
                client(&format!("{uris}\n        client_secrt: x")),
                "mxauth.oauth.clients[0].client_secrt",
            ),
            (
                format!(
                    "{BASE}mxauth:\n  oauth:\n    clients:\n      - {{client_id: a, {uris}}}\n      \
                     - {{client_id: a, {uris}}}\n"
                ),
                "mxauth.oauth.clients[1].client_id",
            ),
            (
                format!("{BASE}mxauth:\n  oauth:\n    clients:\n      - {{{uris}}}\n"),
                "mxauth.oauth.clients[0].client_id",
            ),
        ] {
            let (got, shown) = parse_error(&text);
            assert_eq!(got, path, "{text}: {shown}");
        }
    }
}
