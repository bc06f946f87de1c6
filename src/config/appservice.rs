//! Application service registration files (`app_service_config_files`),
//! in Synapse's format. Keys mxauth does not use are accepted, as Synapse
//! accepts them; a bad file stops the start with the file and field named.

use super::server::local_user_id;
use super::yaml::{as_list, as_string, KResult, KeyError, Map};
use super::Secret;
use ruma_common::ServerName;
use serde_yaml::Value;
use std::path::Path;

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &["app_service_config_files"];

/// One user namespace of an application service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Matched from the start of the user ID, as Python's `re.match`
    /// ([`Namespace::compile`]).
    pub regex: String,
    pub exclusive: bool,
}

impl Namespace {
    /// The regex as it is matched: anchored at the start, as Python's
    /// `re.match`. The loader checks this very form, so a namespace read
    /// from a file always compiles.
    pub fn compile(&self) -> Result<regex::Regex, regex::Error> {
        anchored(&self.regex)
    }
}

/// `regex` anchored at the start, as Python's `re.match` applies it.
fn anchored(regex: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{regex})"))
}

/// An application service's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppServiceConfig {
    pub id: String,
    pub url: Option<String>,
    pub as_token: Secret,
    pub hs_token: Secret,
    /// Makes a valid user ID of this server (checked with ruma at load).
    pub sender_localpart: String,
    pub users: Vec<Namespace>,
    pub rate_limited: bool,
    /// CIDR ranges the `as_token` is accepted from (empty: anywhere).
    pub ip_range_whitelist: Vec<ipnet::IpNet>,
}

fn field_error(file: &Path, field: &str, message: impl std::fmt::Display) -> String {
    format!("{}: {field}: {message}", file.display())
}

fn string(map: &serde_yaml::Mapping, file: &Path, key: &str) -> Result<String, String> {
    match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(field_error(file, key, "expected a non-empty string")),
        None => Err(field_error(file, key, "missing")),
    }
}

/// `app_service_config_files`: every file read at load.
pub(super) fn parse(top: &Map<'_>, server_name: &ServerName) -> KResult<Vec<AppServiceConfig>> {
    let Some(l) = top.get("app_service_config_files") else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for item in as_list(l.node())? {
        files.push(as_string(item.node())?);
    }
    load_all(&files, server_name).map_err(|m| KeyError::new(&l.path, m))
}

/// Reads one registration file.
fn load_registration(file: &Path, server_name: &ServerName) -> Result<AppServiceConfig, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    let doc: Value = serde_yaml::from_str(&text)
        .map_err(|e| format!("{}: not valid YAML: {e}", file.display()))?;
    let Value::Mapping(map) = doc else {
        return Err(format!("{}: expected a mapping of keys", file.display()));
    };
    let id = string(&map, file, "id")?;
    let as_token = Secret::new(string(&map, file, "as_token")?);
    let hs_token = Secret::new(string(&map, file, "hs_token")?);
    let sender_localpart = string(&map, file, "sender_localpart")?;
    local_user_id(&sender_localpart, server_name)
        .map_err(|m| field_error(file, "sender_localpart", m))?;
    let url = match map.get("url") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => Some(u.clone()),
        Some(_) => return Err(field_error(file, "url", "expected a URL or null")),
    };
    let rate_limited = match map.get("rate_limited") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(field_error(file, "rate_limited", "expected true or false")),
    };
    let mut users = Vec::new();
    if let Some(ns) = map.get("namespaces") {
        let Value::Mapping(ns) = ns else {
            return Err(field_error(file, "namespaces", "expected a mapping"));
        };
        for kind in ["users", "aliases", "rooms"] {
            let Some(list) = ns.get(kind) else { continue };
            let Value::Sequence(list) = list else {
                return Err(field_error(
                    file,
                    &format!("namespaces.{kind}"),
                    "expected a list",
                ));
            };
            for (i, entry) in list.iter().enumerate() {
                let path = format!("namespaces.{kind}[{i}]");
                let Value::Mapping(entry) = entry else {
                    return Err(field_error(file, &path, "expected {regex, exclusive}"));
                };
                let regex = match entry.get("regex") {
                    Some(Value::String(r)) => r.clone(),
                    _ => {
                        return Err(field_error(
                            file,
                            &format!("{path}.regex"),
                            "expected a string",
                        ))
                    }
                };
                // User namespaces are checked in the form they are matched in.
                let compiled = if kind == "users" {
                    anchored(&regex)
                } else {
                    regex::Regex::new(&regex)
                };
                compiled.map_err(|e| {
                    field_error(
                        file,
                        &format!("{path}.regex"),
                        format!("not a valid regex: {e}"),
                    )
                })?;
                let exclusive = match entry.get("exclusive") {
                    Some(Value::Bool(b)) => *b,
                    _ => {
                        return Err(field_error(
                            file,
                            &format!("{path}.exclusive"),
                            "expected true or false",
                        ))
                    }
                };
                if kind == "users" {
                    users.push(Namespace { regex, exclusive });
                }
            }
        }
    }
    let mut ip_range_whitelist = Vec::new();
    if let Some(list) = map.get("ip_range_whitelist") {
        let Value::Sequence(list) = list else {
            return Err(field_error(
                file,
                "ip_range_whitelist",
                "expected a list of CIDR ranges",
            ));
        };
        for (i, item) in list.iter().enumerate() {
            let text = item.as_str().unwrap_or_default();
            let net = text
                .parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    field_error(
                        file,
                        &format!("ip_range_whitelist[{i}]"),
                        format!("`{text}` is not a CIDR range"),
                    )
                })?;
            ip_range_whitelist.push(net);
        }
    }
    Ok(AppServiceConfig {
        id,
        url,
        as_token,
        hs_token,
        sender_localpart,
        users,
        rate_limited,
        ip_range_whitelist,
    })
}

/// Reads every file; ids and as_tokens must be unique.
fn load_all(files: &[String], server_name: &ServerName) -> Result<Vec<AppServiceConfig>, String> {
    let mut out: Vec<AppServiceConfig> = Vec::new();
    for f in files {
        let a = load_registration(Path::new(f), server_name)?;
        if out.iter().any(|b| b.id == a.id) {
            return Err(format!(
                "{f}: id: `{}` is used by another application service",
                a.id
            ));
        }
        if out.iter().any(|b| b.as_token == a.as_token) {
            return Err(format!(
                "{f}: as_token: the same token is used by another application service"
            ));
        }
        out.push(a);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn app_service_registration_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p.display().to_string()
        };
        let good = write(
            "irc.yaml",
            "id: irc\nurl: http://localhost:9999\nas_token: aaa\nhs_token: hhh\nsender_localpart: ircbot\n\
             namespaces:\n  users: [{regex: '@irc_.*', exclusive: true}]\n  aliases: []\n  rooms: []\n\
             rate_limited: false\nip_range_whitelist: ['127.0.0.0/8', '::1']\nprotocols: [irc]\n",
        );
        let ok = load(&format!(
            "server_name: example.org\napp_service_config_files: ['{good}']\n"
        ))
        .unwrap();
        let a = &ok.config.app_services[0];
        assert_eq!(
            (a.id.as_str(), a.sender_localpart.as_str()),
            ("irc", "ircbot")
        );
        assert_eq!(
            a.users,
            vec![crate::config::Namespace {
                regex: "@irc_.*".into(),
                exclusive: true
            }]
        );
        assert_eq!(a.ip_range_whitelist.len(), 2);
        assert!(!a.rate_limited);

        let bad_regex = write("bad.yaml", "id: b\nas_token: x\nhs_token: y\nsender_localpart: b\nnamespaces:\n  users: [{regex: '(', exclusive: true}]\n");
        let err = load(&format!(
            "server_name: example.org\napp_service_config_files: ['{bad_regex}']\n"
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("namespaces.users[0].regex"),
            "{err}"
        );
        assert!(err.to_string().contains("bad.yaml"), "{err}");
        let no_token = write("nt.yaml", "id: c\nhs_token: y\nsender_localpart: c\n");
        let err = load(&format!(
            "server_name: example.org\napp_service_config_files: ['{no_token}']\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("as_token: missing"), "{err}");
        let bad_ip = write(
            "ip.yaml",
            "id: d\nas_token: z\nhs_token: y\nsender_localpart: d\nip_range_whitelist: [nonsense]\n",
        );
        let err = load(&format!(
            "server_name: example.org\napp_service_config_files: ['{bad_ip}']\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("ip_range_whitelist[0]"), "{err}");
        let same_id = write(
            "dup.yaml",
            "id: irc\nas_token: other\nhs_token: y\nsender_localpart: e\n",
        );
        let err = load(&format!(
            "server_name: example.org\napp_service_config_files: ['{good}', '{same_id}']\n"
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("`irc` is used by another"),
            "{err}"
        );
        let same_token = write(
            "dup2.yaml",
            "id: other\nas_token: aaa\nhs_token: y\nsender_localpart: f\n",
        );
        let err = load(&format!(
            "server_name: example.org\napp_service_config_files: ['{good}', '{same_token}']\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("as_token"), "{err}");
    }

    #[test]
    fn senders_and_namespaces_are_checked_as_they_are_used() {
        let dir = tempfile::tempdir().unwrap();
        let load_one = |text: &str| {
            let file = dir.path().join("as.yaml");
            std::fs::write(&file, text).unwrap();
            load(&format!(
                "server_name: example.org\napp_service_config_files: ['{}']\n",
                file.display()
            ))
        };
        let base = "id: a\nas_token: x\nhs_token: y\n";
        // The sender must make a user ID of this server (ruma's rules).
        for bad in ["'bot one'", "'bot:other.org'", "''"] {
            let err = load_one(&format!("{base}sender_localpart: {bad}\n")).unwrap_err();
            assert!(err.to_string().contains("sender_localpart"), "{bad}: {err}");
        }
        let c = load_one(&format!("{base}sender_localpart: Bridge_Bot\n")).unwrap();
        assert_eq!(c.config.app_services[0].sender_localpart, "Bridge_Bot");
        // A user namespace compiles in the anchored form it is matched in:
        // here the `)` that closes the anchoring group would be commented out.
        let err = load_one(&format!(
            "{base}sender_localpart: b\nnamespaces:\n  users: [{{regex: '(?x)@a_.* # x', exclusive: true}}]\n"
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("namespaces.users[0].regex"),
            "{err}"
        );
        let ns = crate::config::Namespace {
            regex: "@irc_.*".into(),
            exclusive: true,
        };
        let compiled = ns.compile().unwrap();
        assert!(compiled.is_match("@irc_bob:example.org"));
        assert!(!compiled.is_match("@bob:example.org/@irc_x"));
    }
}
