//! Synapse's `oidc_providers`, `sso` and `login_via_existing_session`
//! blocks: single sign-on through upstream OpenID Connect providers, where
//! the browser may be sent back to, and `POST /login/get_token`.

mod mapping;

use super::secret::SecretKey;
use super::yaml::{as_list, as_string, KResult, KeyError, Map, Node};
use super::Secret;
use mapping::parse_mapping;
pub use mapping::{Filter, MappingConfig, Template, TemplatePart};

/// One entry of `oidc_providers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProviderConfig {
    /// As Synapse: `oidc` when unset, else `oidc-<idp_id>`.
    pub idp_id: String,
    pub idp_name: String,
    pub idp_icon: Option<String>,
    pub idp_brand: Option<String>,
    pub discover: bool,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub client_auth_method: ClientAuthMethod,
    pub pkce_method: PkceMethod,
    pub scopes: Vec<String>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    /// Synapse's escape hatch for providers that are not compliant (an
    /// `http://` issuer, say): the discovery document is not checked.
    pub skip_verification: bool,
    pub user_profile_method: UserProfileMethod,
    pub allow_existing_users: bool,
    /// mxauth's own: with `allow_existing_users`, also match an existing
    /// user whose validated email is the provider's verified email.
    pub match_existing_users_by_email: bool,
    pub enable_registration: bool,
    pub attribute_requirements: Vec<AttributeRequirement>,
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    pub mapping: MappingConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkceMethod {
    /// When the discovery document lists S256.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserProfileMethod {
    Auto,
    UserinfoEndpoint,
}

/// One of `attribute_requirements`: the claim must equal `value`, or be
/// one of `one_of` (a list claim: contain one); neither: exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeRequirement {
    pub attribute: String,
    pub value: Option<String>,
    pub one_of: Option<Vec<String>>,
}

/// Synapse's `sso:` block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SsoConfig {
    /// URL prefixes the browser is sent back to without a confirmation page.
    pub client_whitelist: Vec<String>,
    /// Accepted; mxauth sets profile fields on first login only (see
    /// ARCHITECTURE.md), so `true` is refused.
    pub update_profile_information: bool,
}

/// Synapse's `login_via_existing_session:` (MSC3882, `POST /login/get_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginViaExistingSession {
    pub enabled: bool,
    pub require_ui_auth: bool,
    pub token_timeout_ms: u64,
}

impl Default for LoginViaExistingSession {
    fn default() -> Self {
        LoginViaExistingSession {
            enabled: false,
            require_ui_auth: true,
            token_timeout_ms: 5 * 60 * 1000,
        }
    }
}

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &["oidc_providers", "sso", "login_via_existing_session"];

/// This section's part of [`Config`](super::Config).
pub(super) struct Sso {
    pub oidc_providers: Vec<OidcProviderConfig>,
    pub sso: SsoConfig,
    pub login_via_existing_session: LoginViaExistingSession,
}

/// The three blocks; providers need `public_baseurl` (the callback URL is
/// built from it).
pub(super) fn parse(top: &Map<'_>, public_baseurl: Option<&str>) -> KResult<Sso> {
    let oidc_providers = parse_oidc_providers(top)?;
    if !oidc_providers.is_empty() && public_baseurl.is_none() {
        return Err(KeyError::new(
            "public_baseurl",
            "missing: required with `oidc_providers` (the callback URL is built from it)",
        ));
    }
    Ok(Sso {
        oidc_providers,
        sso: parse_sso(top)?,
        login_via_existing_session: parse_login_via_existing_session(top)?,
    })
}

const PROVIDER_KEYS: &[&str] = &[
    "idp_id",
    "idp_name",
    "idp_icon",
    "idp_brand",
    "discover",
    "issuer",
    "client_id",
    "client_secret",
    "client_secret_path",
    "client_auth_method",
    "pkce_method",
    "id_token_signing_alg_values_supported",
    "scopes",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "skip_verification",
    "user_profile_method",
    "allow_existing_users",
    "match_existing_users_by_email",
    "enable_registration",
    "attribute_requirements",
    "user_mapping_provider",
];

/// Keys of Synapse's provider block that mxauth refuses rather than ignore
/// (ignoring them would change who can log in, or how).
const PROVIDER_UNSUPPORTED_KEYS: &[&str] = &[
    "client_secret_jwt_key",
    "backchannel_logout_enabled",
    "backchannel_logout_ignore_sub",
    "redirect_uri",
    "additional_authorization_parameters",
    "passthrough_authorization_parameters",
];

fn parse_oidc_providers(top: &Map<'_>) -> KResult<Vec<OidcProviderConfig>> {
    let mut providers = Vec::new();
    if let Some(l) = top.get("oidc_providers") {
        for item in as_list(l.node())? {
            providers.push(parse_provider(item.node())?);
        }
    }
    if let Some(l) = top.get("oidc_config") {
        let enabled = Map::from_node(l.node())?
            .get("enabled")
            .is_some_and(|e| e.value.as_bool() == Some(true));
        if enabled {
            return Err(KeyError::new(
                l.path,
                "the legacy `oidc_config` block is not supported: use `oidc_providers`",
            ));
        }
    }
    for (i, p) in providers.iter().enumerate() {
        if providers[..i].iter().any(|q| q.idp_id == p.idp_id) {
            return Err(KeyError::new(
                format!("oidc_providers[{i}].idp_id"),
                format!("several OIDC providers have the idp_id `{}`", p.idp_id),
            ));
        }
    }
    Ok(providers)
}

fn parse_provider(node: Node<'_>) -> KResult<OidcProviderConfig> {
    let map = Map::from_node(node)?;
    for key in PROVIDER_UNSUPPORTED_KEYS {
        if map.contains(key) {
            return Err(KeyError::new(
                map.path_of(key),
                "not supported by mxauth (yet); remove it",
            ));
        }
    }
    map.check_keys(PROVIDER_KEYS, &[])?;
    let required = |key: &str| -> KResult<String> {
        map.string(key)?.ok_or_else(|| {
            KeyError::new(map.path_of(key), "missing: required for an OIDC provider")
        })
    };
    let issuer = required("issuer")?;
    let client_id = required("client_id")?;
    let idp_id = match map.get("idp_id") {
        Some(l) => {
            let id = as_string(l.node())?;
            let ok = !id.is_empty()
                && id.len() <= 250
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._~-".contains(c));
            if !ok {
                return Err(KeyError::new(
                    l.path,
                    "must be 1 to 250 characters of A-Z a-z 0-9 . _ ~ -",
                ));
            }
            // Synapse's namespacing, so IDs of other SSO kinds cannot clash.
            if id == "oidc" {
                id
            } else {
                format!("oidc-{id}")
            }
        }
        None => "oidc".to_owned(),
    };
    if let Some(l) = map.get("idp_brand") {
        let brand = as_string(l.node())?;
        let ok = brand.len() <= 255
            && brand.starts_with(|c: char| c.is_ascii_lowercase())
            && brand
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
        if !ok {
            return Err(KeyError::new(l.path, "must match ^[a-z][a-z0-9_.-]*$"));
        }
    }
    if let Some(l) = map.get("idp_icon") {
        let icon = as_string(l.node())?;
        let ok = <&ruma_common::MxcUri>::from(icon.as_str())
            .media_id()
            .is_ok_and(|media| !media.is_empty());
        if !ok {
            return Err(KeyError::new(l.path, "idp_icon must be a valid MXC URI"));
        }
    }
    let client_secret = SecretKey::new("client_secret")
        .read(&map)?
        .map(|found| found.value);
    let client_auth_method = match map.string("client_auth_method")?.as_deref() {
        None if client_secret.is_none() => ClientAuthMethod::None,
        None | Some("client_secret_basic") => ClientAuthMethod::ClientSecretBasic,
        Some("client_secret_post") => ClientAuthMethod::ClientSecretPost,
        Some("none") => ClientAuthMethod::None,
        Some(other) => {
            return Err(KeyError::new(
                map.path_of("client_auth_method"),
                format!("`{other}`: expected client_secret_basic, client_secret_post or none"),
            ))
        }
    };
    if client_secret.is_none() && client_auth_method != ClientAuthMethod::None {
        return Err(KeyError::new(
            map.path_of("client_auth_method"),
            "no `client_secret` is set, and `client_auth_method` is not `none`",
        ));
    }
    let pkce_method = match map.string("pkce_method")?.as_deref() {
        None | Some("auto") => PkceMethod::Auto,
        Some("always") => PkceMethod::Always,
        Some("never") => PkceMethod::Never,
        Some(other) => {
            return Err(KeyError::new(
                map.path_of("pkce_method"),
                format!("`{other}`: expected auto, always or never"),
            ))
        }
    };
    let user_profile_method = match map.string("user_profile_method")?.as_deref() {
        None | Some("auto") => UserProfileMethod::Auto,
        Some("userinfo_endpoint") => UserProfileMethod::UserinfoEndpoint,
        Some(other) => {
            return Err(KeyError::new(
                map.path_of("user_profile_method"),
                format!("`{other}`: expected auto or userinfo_endpoint"),
            ))
        }
    };
    let strings = |key: &str| -> KResult<Option<Vec<String>>> {
        match map.get(key) {
            Some(l) => {
                let mut out = Vec::new();
                for item in as_list(l.node())? {
                    out.push(as_string(item.node())?);
                }
                Ok(Some(out))
            }
            None => Ok(None),
        }
    };
    let scopes = strings("scopes")?.unwrap_or_else(|| vec!["openid".to_owned()]);
    let discover = map.bool_or("discover", true)?;
    let skip_verification = map.bool_or("skip_verification", false)?;
    let endpoint = |key: &str| -> KResult<Option<String>> {
        let Some(l) = map.get(key) else {
            return Ok(None);
        };
        let text = as_string(l.node())?;
        check_url(&text, skip_verification).map_err(|m| KeyError::new(&l.path, m))?;
        Ok(Some(text))
    };
    check_url(&issuer, skip_verification).map_err(|m| KeyError::new(map.path_of("issuer"), m))?;
    let authorization_endpoint = endpoint("authorization_endpoint")?;
    let token_endpoint = endpoint("token_endpoint")?;
    let userinfo_endpoint = endpoint("userinfo_endpoint")?;
    let jwks_uri = endpoint("jwks_uri")?;
    if !discover {
        for (key, value) in [
            ("authorization_endpoint", &authorization_endpoint),
            ("token_endpoint", &token_endpoint),
        ] {
            if value.is_none() {
                return Err(KeyError::new(
                    map.path_of(key),
                    "missing: required with `discover: false`",
                ));
            }
        }
    }
    let mut attribute_requirements = Vec::new();
    if let Some(l) = map.get("attribute_requirements") {
        for item in as_list(l.node())? {
            let req = Map::from_node(item.node())?;
            req.check_keys(&["attribute", "value", "one_of"], &[])?;
            let attribute = req.string("attribute")?.ok_or_else(|| {
                KeyError::new(req.path_of("attribute"), "missing: the claim to check")
            })?;
            let one_of = match req.get("one_of") {
                Some(l) => {
                    let mut out = Vec::new();
                    for v in as_list(l.node())? {
                        out.push(as_string(v.node())?);
                    }
                    Some(out)
                }
                None => None,
            };
            attribute_requirements.push(AttributeRequirement {
                attribute,
                value: req.string("value")?,
                one_of,
            });
        }
    }
    let mapping = parse_mapping(&map)?;
    Ok(OidcProviderConfig {
        idp_id,
        idp_name: map.string("idp_name")?.unwrap_or_else(|| "OIDC".to_owned()),
        idp_icon: map.string("idp_icon")?,
        idp_brand: map.string("idp_brand")?,
        discover,
        issuer,
        client_id,
        client_secret,
        client_auth_method,
        pkce_method,
        scopes,
        authorization_endpoint,
        token_endpoint,
        userinfo_endpoint,
        jwks_uri,
        skip_verification,
        user_profile_method,
        allow_existing_users: map.bool_or("allow_existing_users", false)?,
        match_existing_users_by_email: map.bool_or("match_existing_users_by_email", false)?,
        enable_registration: map.bool_or("enable_registration", true)?,
        attribute_requirements,
        id_token_signing_alg_values_supported: strings("id_token_signing_alg_values_supported")?,
        mapping,
    })
}

/// Provider URLs are https, as Synapse requires, unless `skip_verification`.
fn check_url(text: &str, skip_verification: bool) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if skip_verification => Ok(()),
        "http" => Err(format!(
            "`{text}` must be an https:// URL (or set `skip_verification: true`)"
        )),
        other => Err(format!("`{text}`: {other}:// is not http(s)")),
    }
}

fn parse_sso(top: &Map<'_>) -> KResult<SsoConfig> {
    let Some(l) = top.get("sso") else {
        return Ok(SsoConfig::default());
    };
    let map = Map::from_node(l.node())?;
    map.check_keys(
        &["client_whitelist", "update_profile_information"],
        &["template_dir"],
    )?;
    let mut client_whitelist = Vec::new();
    if let Some(w) = map.get("client_whitelist") {
        for item in as_list(w.node())? {
            let text = as_string(item.node())?;
            url::Url::parse(&text)
                .map_err(|e| KeyError::new(&item.path, format!("`{text}` is not a URL: {e}")))?;
            client_whitelist.push(text);
        }
    }
    let update_profile_information = map.bool_or("update_profile_information", false)?;
    if update_profile_information {
        return Err(KeyError::new(
            map.path_of("update_profile_information"),
            "mxauth sets the display name and email from the provider on the first login \
             only; `true` is not supported",
        ));
    }
    Ok(SsoConfig {
        client_whitelist,
        update_profile_information,
    })
}

fn parse_login_via_existing_session(top: &Map<'_>) -> KResult<LoginViaExistingSession> {
    let Some(l) = top.get("login_via_existing_session") else {
        return Ok(LoginViaExistingSession::default());
    };
    let map = Map::from_node(l.node())?;
    map.check_keys(&["enabled", "require_ui_auth", "token_timeout"], &[])?;
    let defaults = LoginViaExistingSession::default();
    Ok(LoginViaExistingSession {
        enabled: map.bool_or("enabled", false)?,
        require_ui_auth: map.bool_or("require_ui_auth", true)?,
        token_timeout_ms: match map.get("token_timeout") {
            Some(t) => super::yaml::as_duration_ms(t.node())?,
            None => defaults.token_timeout_ms,
        },
    })
}

#[cfg(test)]
mod config_tests {
    use crate::config::{Config, ConfigError};

    fn load(text: &str) -> Result<Config, (String, String)> {
        Config::from_yaml_str(text, std::path::Path::new("t.yaml"))
            .map(|l| l.config)
            .map_err(|e| match e {
                ConfigError::Parse { path, message, .. } => (path, message),
                other => (String::new(), other.to_string()),
            })
    }

    const BASE: &str = "server_name: example.org\npublic_baseurl: https://example.org/\n";

    #[test]
    fn a_full_provider_block_with_synapses_keys() {
        let c = load(&format!(
            "{BASE}oidc_providers:\n  - idp_id: my_idp\n    idp_name: My IdP\n    \
             idp_icon: mxc://example.org/abc\n    idp_brand: gitlab\n    \
             issuer: https://id.example.com/\n    client_id: cid\n    client_secret: sec\n    \
             client_auth_method: client_secret_post\n    pkce_method: always\n    \
             scopes: [openid, profile]\n    user_profile_method: userinfo_endpoint\n    \
             allow_existing_users: true\n    enable_registration: false\n    \
             attribute_requirements:\n      - attribute: groups\n        one_of: [a, b]\n    \
             user_mapping_provider:\n      config:\n        subject_claim: id\n        \
             localpart_template: \"{{{{ user.login }}}}\"\n        \
             display_name_template: \"{{{{ user.name }}}}\"\n\
             sso:\n  client_whitelist: [https://app.example.org/]\n\
             login_via_existing_session:\n  enabled: true\n  token_timeout: 1m\n"
        ))
        .unwrap();
        let p = &c.oidc_providers[0];
        assert_eq!(p.idp_id, "oidc-my_idp");
        assert_eq!(p.idp_brand.as_deref(), Some("gitlab"));
        assert_eq!(
            p.client_auth_method,
            super::ClientAuthMethod::ClientSecretPost
        );
        assert_eq!(p.pkce_method, super::PkceMethod::Always);
        assert!(p.allow_existing_users && !p.enable_registration);
        assert_eq!(
            p.attribute_requirements[0].one_of.as_deref(),
            Some(&["a".to_owned(), "b".to_owned()][..])
        );
        assert_eq!(p.mapping.subject_template, super::Template::claim("id"));
        assert_eq!(c.sso.client_whitelist, vec!["https://app.example.org/"]);
        assert!(c.login_via_existing_session.enabled);
        assert_eq!(c.login_via_existing_session.token_timeout_ms, 60_000);
    }

    #[test]
    fn provider_errors_name_the_key() {
        let p = |body: &str| {
            load(&format!(
                "{BASE}oidc_providers:\n  - issuer: https://id.example.com/\n    client_id: c\n{body}"
            ))
            .unwrap_err()
        };
        assert_eq!(
            p("    pkce_method: sometimes\n").0,
            "oidc_providers[0].pkce_method"
        );
        assert_eq!(p("    idp_id: \"a b\"\n").0, "oidc_providers[0].idp_id");
        assert_eq!(
            p("    idp_icon: https://x/y.png\n").0,
            "oidc_providers[0].idp_icon"
        );
        assert_eq!(
            p("    client_auth_method: client_secret_basic\n").0,
            "oidc_providers[0].client_auth_method"
        );
        assert_eq!(p("    clientid: x\n").0, "oidc_providers[0].clientid");
        assert_eq!(
            p("    user_mapping_provider:\n      config:\n        localpart_template: \"{{ user.x | shout }}\"\n").0,
            "oidc_providers[0].user_mapping_provider.config.localpart_template"
        );
        let (path, message) = load(
            "server_name: example.org\npublic_baseurl: https://example.org/\n\
             oidc_providers:\n  - issuer: http://id.example.com/\n    client_id: c\n",
        )
        .unwrap_err();
        assert_eq!(path, "oidc_providers[0].issuer");
        assert!(message.contains("https"), "{message}");
        let (path, _) = load(
            "server_name: example.org\noidc_providers:\n  - issuer: https://id.example.com/\n    client_id: c\n",
        )
        .unwrap_err();
        assert_eq!(path, "public_baseurl");
        let (path, _) = load(&format!(
            "{BASE}oidc_providers:\n  - issuer: https://a/\n    client_id: c\n  - issuer: https://b/\n    client_id: d\n"
        ))
        .unwrap_err();
        assert_eq!(path, "oidc_providers[1].idp_id");
    }

    #[test]
    fn client_secret_inline_or_from_a_file() {
        let provider = "oidc_providers:\n  - issuer: https://id.example.com/\n    client_id: c\n";
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "from-file\n").unwrap();
        let c = load(&format!(
            "{BASE}{provider}    client_secret_path: '{}'\n",
            file.display()
        ))
        .unwrap();
        let p = &c.oidc_providers[0];
        assert_eq!(p.client_secret.as_ref().unwrap().expose(), "from-file");
        assert_eq!(
            p.client_auth_method,
            super::ClientAuthMethod::ClientSecretBasic
        );
        let (path, _) = load(&format!(
            "{BASE}{provider}    client_secret: s\n    client_secret_path: '{}'\n",
            file.display()
        ))
        .unwrap_err();
        assert_eq!(path, "oidc_providers[0].client_secret_path");
        let (path, _) = load(&format!(
            "{BASE}{provider}    client_secret_path: /nonexistent\n"
        ))
        .unwrap_err();
        assert_eq!(path, "oidc_providers[0].client_secret_path");
    }

    #[test]
    fn idp_icon_is_an_mxc_uri_as_ruma_reads_it() {
        let provider = "oidc_providers:\n  - issuer: https://id.example.com/\n    client_id: c\n";
        let c = load(&format!(
            "{BASE}{provider}    idp_icon: mxc://example.org/aBc-1_2\n"
        ))
        .unwrap();
        assert_eq!(
            c.oidc_providers[0].idp_icon.as_deref(),
            Some("mxc://example.org/aBc-1_2")
        );
        for bad in [
            "mxc://example.org/",
            "mxc:///abc",
            "mxc://exa mple.org/abc",
            "mxc://example.org/a/b",
        ] {
            let (path, _) = load(&format!("{BASE}{provider}    idp_icon: '{bad}'\n")).unwrap_err();
            assert_eq!(path, "oidc_providers[0].idp_icon", "{bad}");
        }
    }
}
