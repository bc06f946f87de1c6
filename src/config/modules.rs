//! `modules:` (the auth provider modules mxauth has built in, configured
//! with the names and `config:` of the Synapse modules they replace) and
//! `jwt_config:` (Synapse's `org.matrix.login.jwt`).

use super::secret::{SecretKey, Trim};
use super::yaml::{as_duration_ms, as_list, as_string, KResult, KeyError, Map, Node};
use super::Secret;

/// The top-level keys this file parses.
pub(super) const KEYS: &[&str] = &["modules", "password_providers", "jwt_config"];

/// synapse-ldap3's module.
pub const LDAP_MODULE: &str = "ldap_auth_provider.LdapAuthProviderModule";
/// synapse-ldap3's class for the legacy `password_providers:` list.
pub const LDAP_LEGACY_MODULE: &str = "ldap_auth_provider.LdapAuthProvider";
/// matrix-synapse-rest-password-provider.
pub const REST_MODULE: &str = "rest_auth_provider.RestAuthProvider";
const BUILT_IN_MODULES: &[&str] = &[LDAP_MODULE, REST_MODULE];

/// One entry of `modules:`, in the order of the file (the order providers
/// are asked in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleConfig {
    Ldap(LdapProviderConfig),
    Rest(RestProviderConfig),
}

/// The `config:` of `ldap_auth_provider.LdapAuthProviderModule`
/// (synapse-ldap3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapProviderConfig {
    /// `uri`: one URI or a list (tried in order): `ldap://` or `ldaps://`.
    pub uris: Vec<String>,
    /// `start_tls` (default false): StartTLS on an `ldap://` connection.
    pub start_tls: bool,
    /// `validate_cert` (default true): check the server's certificate.
    pub validate_cert: bool,
    /// `tls_options.ca_certs_file`: the CA certificates (PEM) the
    /// directory's certificate is checked against, instead of the system's.
    pub ca_certs_file: Option<std::path::PathBuf>,
    /// `base`: where users are (simple mode binds as `<uid>=<user>,<base>`).
    pub base: String,
    /// `attributes.uid`, `attributes.name`, `attributes.mail`.
    pub uid_attribute: String,
    pub name_attribute: String,
    pub mail_attribute: String,
    /// Search mode (`mode: search`, or `bind_dn` set): find the user's
    /// entry first (bound as `bind_dn`, or anonymously), then bind as it.
    pub search: Option<LdapSearch>,
    /// `timeout` (mxauth's; default 5s): for connecting and for each
    /// operation, and for a whole check.
    pub timeout_ms: u64,
}

/// Search mode's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapSearch {
    /// `bind_dn` with `bind_password` (or `bind_password_file`); `None`: anonymous.
    pub bind: Option<(String, Secret)>,
    /// `filter`: ANDed with the uid (or mail) filter, e.g. `(objectClass=posixAccount)`.
    pub filter: Option<String>,
}

/// The `config:` of `rest_auth_provider.RestAuthProvider`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestProviderConfig {
    /// `endpoint`: the backend's base URL (`/_matrix-internal/...` is appended).
    pub endpoint: String,
    /// `policy.registration.username.enforceLowercase` (default true): a
    /// user whose localpart is not lower-case is not created.
    pub enforce_lowercase: bool,
    /// `policy.registration.profile.name` (default true): the backend's
    /// display name is set when the user is created.
    pub set_name_on_register: bool,
    /// `policy.all.threepid.update` (default true): the backend's 3PIDs are
    /// added to the user when it is created.
    pub update_threepids: bool,
    /// `timeout` (mxauth's; default 10s): how long the backend may take.
    pub timeout_ms: u64,
}

/// `jwt_config:`, as Synapse's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// `secret`: the HMAC secret, or the PEM public key for RS*/ES*/PS*/EdDSA.
    pub secret: Secret,
    /// `algorithm`, such as `HS256` or `RS256`.
    pub algorithm: String,
    /// `subject_claim` (default `sub`): the claim holding the localpart.
    pub subject_claim: String,
    /// `display_name_claim`: the claim giving a new user's display name.
    pub display_name_claim: Option<String>,
    /// `issuer`: when set, the `iss` claim must equal it.
    pub issuer: Option<String>,
    /// `audiences`: when set, the `aud` claim must hold one of them; when
    /// not, a token with an `aud` claim is refused (as Synapse does).
    pub audiences: Option<Vec<String>>,
}

/// `modules:` and then the legacy `password_providers:` (as Synapse loads
/// them), as a list of the providers to build, in order.
pub(super) fn parse_modules(top: &Map<'_>) -> KResult<Vec<ModuleConfig>> {
    let mut modules = Vec::new();
    for key in ["modules", "password_providers"] {
        if let Some(list) = top.get(key) {
            parse_module_list(list.node(), key == "password_providers", &mut modules)?;
        }
    }
    Ok(modules)
}

fn parse_module_list(list: Node<'_>, legacy: bool, modules: &mut Vec<ModuleConfig>) -> KResult<()> {
    for item in as_list(list)? {
        let map = Map::from_node(item.node())?;
        map.check_keys(&["module", "config"], &[])?;
        let Some(name) = map.get("module") else {
            return Err(KeyError::new(
                map.path_of("module"),
                "missing: the module's Python name",
            ));
        };
        let name_path = name.path.clone();
        let name = as_string(name.node())?;
        let config = map.get("config");
        let config_path = map.path_of("config");
        let config = match &config {
            Some(l) => Map::from_node(l.node())?,
            None => Map::from_value(&serde_yaml::Value::Null, &config_path)?,
        };
        match name.as_str() {
            REST_MODULE => modules.push(ModuleConfig::Rest(parse_rest(&config)?)),
            LDAP_MODULE => {
                if let Some(ldap) = parse_ldap(&config)? {
                    modules.push(ModuleConfig::Ldap(ldap));
                }
            }
            LDAP_LEGACY_MODULE if legacy => {
                if let Some(ldap) = parse_ldap(&config)? {
                    modules.push(ModuleConfig::Ldap(ldap));
                }
            }
            _ => {
                return Err(KeyError::new(
                    name_path,
                    format!(
                        "module `{name}` is not built into mxauth (the modules it has: {})",
                        BUILT_IN_MODULES.join(", ")
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// synapse-ldap3's keys; `None` with `enabled: false`.
fn parse_ldap(map: &Map<'_>) -> KResult<Option<LdapProviderConfig>> {
    map.check_keys(
        &[
            "enabled",
            "mode",
            "uri",
            "start_tls",
            "validate_cert",
            "base",
            "attributes",
            "bind_dn",
            "bind_password",
            "bind_password_file",
            "filter",
            "timeout",
            "tls_options",
        ],
        &[],
    )?;
    let ca_certs_file = match map.get("tls_options") {
        Some(l) => {
            if map.contains("validate_cert") {
                return Err(KeyError::new(
                    l.path,
                    "validate_cert and tls_options cannot both be set (as in synapse-ldap3)",
                ));
            }
            let options = Map::from_node(l.node())?;
            options.check_keys(&["ca_certs_file"], &[])?;
            options.string("ca_certs_file")?.map(Into::into)
        }
        None => None,
    };
    for unsupported in ["active_directory", "default_domain"] {
        if map.contains(unsupported) {
            return Err(KeyError::new(
                map.path_of(unsupported),
                "not supported by mxauth",
            ));
        }
    }
    if !map.bool_or("enabled", true)? {
        return Ok(None);
    }
    let required =
        |key: &str| KeyError::new(map.path_of(key), "missing: required by the LDAP module");
    let uris = match map.get("uri") {
        Some(l) => match l.value {
            serde_yaml::Value::Sequence(_) => string_list(l.node())?,
            _ => vec![as_string(l.node())?],
        },
        None => return Err(required("uri")),
    };
    if uris.is_empty() {
        return Err(required("uri"));
    }
    for uri in &uris {
        if !(uri.starts_with("ldap://") || uri.starts_with("ldaps://")) {
            return Err(KeyError::new(
                map.path_of("uri"),
                format!("`{uri}` is not an ldap:// or ldaps:// URI"),
            ));
        }
    }
    let base = map.string("base")?.ok_or_else(|| required("base"))?;
    let attributes = map
        .get("attributes")
        .ok_or_else(|| required("attributes"))?;
    let attributes = Map::from_node(attributes.node())?;
    attributes.check_keys(&["uid", "name", "mail"], &[])?;
    let attribute = |key: &str| {
        attributes.string(key)?.ok_or_else(|| {
            KeyError::new(
                attributes.path_of(key),
                "missing: required by the LDAP module",
            )
        })
    };
    let (uid_attribute, name_attribute, mail_attribute) =
        (attribute("uid")?, attribute("name")?, attribute("mail")?);
    let mode = map.string("mode")?.unwrap_or_else(|| "simple".into());
    let bind = match map.string("bind_dn")? {
        Some(dn) => {
            let password = SecretKey::new("bind_password")
                .file_keys(&["bind_password_file"])
                .trim(Trim::TrailingNewlines)
                .read(map)?
                .ok_or_else(|| {
                    KeyError::new(
                        map.path_of("bind_password"),
                        "missing: bind_password or bind_password_file is required with bind_dn",
                    )
                })?;
            Some((dn, password.value))
        }
        None => None,
    };
    let search = if bind.is_some() || mode == "search" {
        Some(LdapSearch {
            bind,
            filter: map.string("filter")?,
        })
    } else {
        None
    };
    Ok(Some(LdapProviderConfig {
        uris,
        start_tls: map.bool_or("start_tls", false)?,
        validate_cert: map.bool_or("validate_cert", true)?,
        ca_certs_file,
        base,
        uid_attribute,
        name_attribute,
        mail_attribute,
        search,
        timeout_ms: match map.get("timeout") {
            Some(l) => as_duration_ms(l.node())?,
            None => 5_000,
        },
    }))
}

fn parse_rest(map: &Map<'_>) -> KResult<RestProviderConfig> {
    map.check_keys(&["endpoint", "policy", "timeout"], &[])?;
    let endpoint = map.string("endpoint")?.ok_or_else(|| {
        KeyError::new(
            map.path_of("endpoint"),
            "missing: the URL of the REST backend",
        )
    })?;
    let parsed = url::Url::parse(&endpoint)
        .map_err(|e| KeyError::new(map.path_of("endpoint"), format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(KeyError::new(
            map.path_of("endpoint"),
            "must be an http:// or https:// URL",
        ));
    }
    let timeout_ms = match map.get("timeout") {
        Some(l) => as_duration_ms(l.node())?,
        None => 10_000,
    };
    let mut config = RestProviderConfig {
        endpoint: endpoint.trim_end_matches('/').to_owned(),
        enforce_lowercase: true,
        set_name_on_register: true,
        update_threepids: true,
        timeout_ms,
    };
    if let Some(policy) = map.get("policy") {
        let policy = Map::from_node(policy.node())?;
        policy.check_keys(&["registration", "login", "all"], &[])?;
        if let Some(reg) = policy.get("registration") {
            let reg = Map::from_node(reg.node())?;
            reg.check_keys(&["username", "profile"], &[])?;
            if let Some(u) = reg.get("username") {
                let u = Map::from_node(u.node())?;
                u.check_keys(&["enforceLowercase"], &[])?;
                config.enforce_lowercase = u.bool_or("enforceLowercase", true)?;
            }
            if let Some(p) = reg.get("profile") {
                let p = Map::from_node(p.node())?;
                p.check_keys(&["name"], &[])?;
                config.set_name_on_register = p.bool_or("name", true)?;
            }
        }
        if let Some(login) = policy.get("login") {
            let login = Map::from_node(login.node())?;
            login.check_keys(&["profile"], &[])?;
            if let Some(p) = login.get("profile") {
                let p = Map::from_node(p.node())?;
                p.check_keys(&["name"], &[])?;
                if p.bool_or("name", false)? {
                    return Err(KeyError::new(
                        p.path_of("name"),
                        "not supported by mxauth: the display name is set only when \
                         the user is created",
                    ));
                }
            }
        }
        if let Some(all) = policy.get("all") {
            let all = Map::from_node(all.node())?;
            all.check_keys(&["threepid"], &[])?;
            if let Some(t) = all.get("threepid") {
                let t = Map::from_node(t.node())?;
                t.check_keys(&["update", "replace"], &[])?;
                config.update_threepids = t.bool_or("update", true)?;
                if t.bool_or("replace", false)? {
                    return Err(KeyError::new(
                        t.path_of("replace"),
                        "not supported by mxauth: 3PIDs are taken from the backend only \
                         when the user is created",
                    ));
                }
            }
        }
    }
    Ok(config)
}

/// `jwt_config:`; `None` unless `enabled: true`.
pub(super) fn parse_jwt(top: &Map<'_>) -> KResult<Option<JwtConfig>> {
    let Some(l) = top.get("jwt_config") else {
        return Ok(None);
    };
    let map = Map::from_node(l.node())?;
    map.check_keys(
        &[
            "enabled",
            "secret",
            "algorithm",
            "subject_claim",
            "display_name_claim",
            "issuer",
            "audiences",
        ],
        &[],
    )?;
    if !map.bool_or("enabled", false)? {
        return Ok(None);
    }
    let required = |key: &str| KeyError::new(map.path_of(key), "missing: required with enabled");
    let secret = map
        .secret("secret")?
        .map(Secret::new)
        .ok_or_else(|| required("secret"))?;
    let algorithm = map
        .string("algorithm")?
        .ok_or_else(|| required("algorithm"))?;
    if algorithm.parse::<jsonwebtoken::Algorithm>().is_err() {
        return Err(KeyError::new(
            map.path_of("algorithm"),
            format!("unknown algorithm `{algorithm}` (HS256, RS256, ES256, EdDSA, ...)"),
        ));
    }
    let audiences = match map.get("audiences") {
        Some(l) => Some(string_list(l.node())?),
        None => None,
    };
    Ok(Some(JwtConfig {
        secret,
        algorithm,
        subject_claim: map.string("subject_claim")?.unwrap_or_else(|| "sub".into()),
        display_name_claim: map.string("display_name_claim")?,
        issuer: map.string("issuer")?,
        audiences,
    }))
}

fn string_list(node: Node<'_>) -> KResult<Vec<String>> {
    as_list(node)?
        .iter()
        .map(|item| as_string(item.node()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError};
    use std::path::Path;

    fn load(text: &str) -> Result<Config, (String, String)> {
        match Config::from_yaml_str(text, Path::new("hs.yaml")) {
            Ok(l) => Ok(l.config),
            Err(ConfigError::Parse { path, message, .. }) => Err((path, message)),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn synapse_module_sections_load_unchanged() {
        let c = load(
            "server_name: hs\nmodules:\n  - module: rest_auth_provider.RestAuthProvider\n    config:\n      endpoint: https://auth.example/\n      policy:\n        registration:\n          username: {enforceLowercase: false}\n          profile: {name: false}\n        all:\n          threepid: {update: false}\n",
        )
        .unwrap();
        assert_eq!(
            c.modules,
            [ModuleConfig::Rest(RestProviderConfig {
                endpoint: "https://auth.example".into(),
                enforce_lowercase: false,
                set_name_on_register: false,
                update_threepids: false,
                timeout_ms: 10_000,
            })]
        );
    }

    #[test]
    fn unknown_modules_and_bad_keys_are_named() {
        let (path, message) =
            load("server_name: hs\nmodules:\n  - module: my_spam_checker.Checker\n").unwrap_err();
        assert_eq!(path, "modules[0].module");
        assert!(message.contains("my_spam_checker.Checker"), "{message}");
        let (path, _) = load(
            "server_name: hs\nmodules:\n  - module: rest_auth_provider.RestAuthProvider\n    config: {}\n",
        )
        .unwrap_err();
        assert_eq!(path, "modules[0].config.endpoint");
        let (path, _) = load(
            "server_name: hs\nmodules:\n  - module: rest_auth_provider.RestAuthProvider\n    config: {endpoint: 'http://x', endpont: 1}\n",
        )
        .unwrap_err();
        assert_eq!(path, "modules[0].config.endpont");
        let (path, _) = load(
            "server_name: hs\nmodules:\n  - module: rest_auth_provider.RestAuthProvider\n    config: {endpoint: 'http://x', policy: {all: {threepid: {replace: true}}}}\n",
        )
        .unwrap_err();
        assert_eq!(path, "modules[0].config.policy.all.threepid.replace");
    }

    #[test]
    fn jwt_config_as_synapse() {
        let c = load("server_name: hs\njwt_config:\n  enabled: true\n  secret: s3cret\n  algorithm: HS256\n  issuer: idp\n  audiences: [a, b]\n").unwrap();
        let jwt = c.jwt.expect("enabled");
        assert_eq!(jwt.secret.expose(), "s3cret");
        assert_eq!(jwt.subject_claim, "sub");
        assert_eq!(jwt.issuer.as_deref(), Some("idp"));
        assert_eq!(jwt.audiences, Some(vec!["a".into(), "b".into()]));
        let c = load("server_name: hs\njwt_config:\n  enabled: false\n  secret: s\n").unwrap();
        assert!(c.jwt.is_none());
        let (path, _) = load("server_name: hs\njwt_config:\n  enabled: true\n  algorithm: HS256\n")
            .unwrap_err();
        assert_eq!(path, "jwt_config.secret");
        let (path, _) = load(
            "server_name: hs\njwt_config:\n  enabled: true\n  secret: s\n  algorithm: HS257\n",
        )
        .unwrap_err();
        assert_eq!(path, "jwt_config.algorithm");
    }
}

#[cfg(test)]
mod ldap_tests {
    use super::*;
    use crate::config::{Config, ConfigError};
    use std::path::Path;

    fn load(text: &str) -> Result<Config, (String, String)> {
        match Config::from_yaml_str(text, Path::new("hs.yaml")) {
            Ok(l) => Ok(l.config),
            Err(ConfigError::Parse { path, message, .. }) => Err((path, message)),
            Err(e) => panic!("{e}"),
        }
    }

    const LDAP: &str = "server_name: hs
modules:
  - module: ldap_auth_provider.LdapAuthProviderModule
    config:
      enabled: true
      uri: ldap://ldap.example.com:389
      start_tls: true
      base: ou=users,dc=example,dc=com
      attributes:
        uid: cn
        mail: mail
        name: givenName
";

    #[test]
    fn synapse_ldap3_config_loads() {
        let c = load(LDAP).unwrap();
        let [ModuleConfig::Ldap(l)] = c.modules.as_slice() else {
            panic!("{:?}", c.modules)
        };
        assert_eq!(l.uris, ["ldap://ldap.example.com:389"]);
        assert!(l.start_tls && l.validate_cert);
        assert_eq!(
            (l.uid_attribute.as_str(), l.name_attribute.as_str()),
            ("cn", "givenName")
        );
        assert!(l.search.is_none(), "simple mode by default");

        let search = format!(
            "{LDAP}      bind_dn: cn=svc,dc=example,dc=com\n      bind_password: pw\n      filter: '(objectClass=posixAccount)'\n"
        );
        let c = load(&search).unwrap();
        let [ModuleConfig::Ldap(l)] = c.modules.as_slice() else {
            panic!()
        };
        let s = l.search.as_ref().expect("bind_dn means search mode");
        assert_eq!(s.bind.as_ref().unwrap().1.expose(), "pw");
        assert_eq!(s.filter.as_deref(), Some("(objectClass=posixAccount)"));

        let off = LDAP.replace("enabled: true", "enabled: false");
        assert!(load(&off).unwrap().modules.is_empty());
    }

    #[test]
    fn legacy_password_providers_come_after_modules() {
        let text = format!(
            "{LDAP}password_providers:\n  - module: ldap_auth_provider.LdapAuthProvider\n    config: {{uri: 'ldap://second', base: b, attributes: {{uid: uid, name: cn, mail: mail}}}}\n  - module: rest_auth_provider.RestAuthProvider\n    config: {{endpoint: 'http://rest'}}\n"
        );
        let c = load(&text).unwrap();
        let kinds: Vec<String> = c
            .modules
            .iter()
            .map(|m| match m {
                ModuleConfig::Ldap(l) => l.uris[0].clone(),
                ModuleConfig::Rest(r) => r.endpoint.clone(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "ldap://ldap.example.com:389",
                "ldap://second",
                "http://rest"
            ]
        );
        let unknown = "server_name: hs\npassword_providers:\n  - module: other.Provider\n";
        assert_eq!(load(unknown).unwrap_err().0, "password_providers[0].module");
    }

    #[test]
    fn ldap_config_errors_name_the_key() {
        let no_pw = format!("{LDAP}      bind_dn: cn=svc\n");
        assert_eq!(
            load(&no_pw).unwrap_err().0,
            "modules[0].config.bind_password"
        );
        let ad = format!("{LDAP}      active_directory: true\n");
        assert_eq!(
            load(&ad).unwrap_err().0,
            "modules[0].config.active_directory"
        );
        let both = format!(
            "{LDAP}      validate_cert: true\n      tls_options: {{ca_certs_file: /ca.pem}}\n"
        );
        assert_eq!(load(&both).unwrap_err().0, "modules[0].config.tls_options");
        let tls = format!("{LDAP}      tls_options: {{ca_certs_file: /ca.pem}}\n");
        let c = load(&tls).unwrap();
        let [ModuleConfig::Ldap(l)] = c.modules.as_slice() else {
            panic!()
        };
        assert_eq!(l.ca_certs_file.as_deref(), Some(Path::new("/ca.pem")));
        let bad_uri = LDAP.replace("ldap://ldap.example.com:389", "http://x");
        assert_eq!(load(&bad_uri).unwrap_err().0, "modules[0].config.uri");
        let no_uid = LDAP.replace("        uid: cn\n", "");
        assert_eq!(
            load(&no_uid).unwrap_err().0,
            "modules[0].config.attributes.uid"
        );
    }

    #[test]
    fn bind_password_from_a_file_keeps_its_spaces() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, " pass word \n").unwrap();
        let text = format!(
            "{LDAP}      bind_dn: cn=svc\n      bind_password_file: '{}'\n",
            file.display()
        );
        let c = load(&text).unwrap();
        let [ModuleConfig::Ldap(l)] = c.modules.as_slice() else {
            panic!()
        };
        let (dn, password) = l.search.as_ref().unwrap().bind.as_ref().unwrap();
        assert_eq!(dn, "cn=svc");
        assert_eq!(password.expose(), " pass word ");

        let both = format!(
            "{LDAP}      bind_dn: cn=svc\n      bind_password: pw\n      bind_password_file: '{}'\n",
            file.display()
        );
        assert_eq!(
            load(&both).unwrap_err().0,
            "modules[0].config.bind_password_file"
        );
        let missing =
            format!("{LDAP}      bind_dn: cn=svc\n      bind_password_file: /nonexistent/pw\n");
        let (path, message) = load(&missing).unwrap_err();
        assert_eq!(path, "modules[0].config.bind_password_file");
        assert!(message.contains("/nonexistent/pw"), "{message}");
    }
}
