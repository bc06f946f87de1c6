//! Synapse's `email:` block (the parts about validating addresses) and the
//! top-level 3PID keys: `registrations_require_3pid`, `allowed_local_3pids`,
//! `enable_3pid_changes`, `request_token_inhibit_3pid_errors`,
//! `next_link_domain_whitelist`.

use super::yaml::{as_duration_ms, as_list, as_port, as_string, KResult, KeyError, Map};
use super::Secret;

/// `email:`: how mxauth sends validation mails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailConfig {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_user: Option<String>,
    pub smtp_pass: Option<Secret>,
    /// Implicit TLS from the first byte (SMTPS, port 465).
    pub force_tls: bool,
    /// STARTTLS is required (the mail is not sent without it).
    pub require_transport_security: bool,
    /// STARTTLS when the server offers it (default true).
    pub enable_tls: bool,
    /// The name the TLS certificate is checked against (default `smtp_host`).
    pub tlsname: Option<String>,
    /// The From of every mail, `%(app)s` already replaced by `app_name`.
    pub notif_from: String,
    pub app_name: String,
    /// How long a link in a validation mail works (default 1h).
    pub validation_token_lifetime_ms: u64,
}

/// One entry of `allowed_local_3pids`.
#[derive(Debug, Clone)]
pub struct AllowedThreepid {
    pub medium: String,
    /// Matched from the start of the address, as Python's `re.match` does.
    pub pattern: regex::Regex,
}

impl PartialEq for AllowedThreepid {
    fn eq(&self, other: &Self) -> bool {
        self.medium == other.medium && self.pattern.as_str() == other.pattern.as_str()
    }
}
impl Eq for AllowedThreepid {}

/// The 3PID rules of registration and accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreepidConfig {
    /// `registrations_require_3pid`: the media a registration must validate.
    pub registrations_require_3pid: Vec<String>,
    /// `allowed_local_3pids`: `None` means every address is allowed.
    pub allowed_local_3pids: Option<Vec<AllowedThreepid>>,
    /// `enable_3pid_changes` (default true): users may add and remove 3PIDs.
    pub enable_3pid_changes: bool,
    /// `request_token_inhibit_3pid_errors`: requestToken never says whether
    /// an address is in use or unknown.
    pub request_token_inhibit_3pid_errors: bool,
    /// `next_link_domain_whitelist`: `None` (absent or null) allows a
    /// `next_link` on any host; a list (lower-cased) only those hosts.
    pub next_link_domain_whitelist: Option<Vec<String>>,
}

impl Default for ThreepidConfig {
    fn default() -> Self {
        ThreepidConfig {
            registrations_require_3pid: Vec::new(),
            allowed_local_3pids: None,
            enable_3pid_changes: true,
            request_token_inhibit_3pid_errors: false,
            next_link_domain_whitelist: None,
        }
    }
}

/// The top-level keys this file parses.
pub(super) const KEYS: &[&str] = &[
    "email",
    "registrations_require_3pid",
    "allowed_local_3pids",
    "enable_3pid_changes",
    "request_token_inhibit_3pid_errors",
    "next_link_domain_whitelist",
];

const EMAIL_KEYS: &[&str] = &[
    "smtp_host",
    "smtp_port",
    "smtp_user",
    "smtp_pass",
    "force_tls",
    "require_transport_security",
    "enable_tls",
    "tlsname",
    "notif_from",
    "app_name",
    "validation_token_lifetime",
];

/// Keys of Synapse's `email:` block about notifications and templates:
/// accepted and ignored (mxauth sends plain-text validation mails only).
const EMAIL_IGNORED_KEYS: &[&str] = &[
    "enable_notifs",
    "notif_for_new_users",
    "notif_delay_before_mail",
    "client_base_url",
    "riot_base_url",
    "invite_client_location",
    "subjects",
    "template_dir",
    "notif_template_html",
    "notif_template_text",
    "expiry_template_html",
    "expiry_template_text",
    "password_reset_template_html",
    "password_reset_template_text",
    "password_reset_template_success_html",
    "password_reset_template_failure_html",
    "registration_template_html",
    "registration_template_text",
    "add_threepid_template_html",
    "add_threepid_template_text",
    "add_threepid_template_success_html",
    "add_threepid_template_failure_html",
];

const DEFAULT_TOKEN_LIFETIME_MS: u64 = 60 * 60 * 1000;

pub(super) fn parse_email(top: &Map<'_>) -> KResult<Option<EmailConfig>> {
    let Some(located) = top.get("email") else {
        return Ok(None);
    };
    let map = Map::from_node(located.node())?;
    map.check_keys(EMAIL_KEYS, EMAIL_IGNORED_KEYS)?;
    let force_tls = map.bool_or("force_tls", false)?;
    let require_transport_security = map.bool_or("require_transport_security", false)?;
    let enable_tls = map.bool_or("enable_tls", true)?;
    if require_transport_security && !enable_tls {
        return Err(KeyError::new(
            map.path_of("require_transport_security"),
            "cannot be true with `enable_tls: false`",
        ));
    }
    let smtp_port = match map.get("smtp_port") {
        Some(l) => as_port(l.node())?,
        None if force_tls => 465,
        None => 25,
    };
    let app_name = map.string("app_name")?.unwrap_or_else(|| "Matrix".into());
    let notif_from = match map.string("notif_from")? {
        Some(f) => f.replace("%(app)s", &app_name),
        None => {
            return Err(KeyError::new(
                map.path_of("notif_from"),
                "missing: the From address of validation mails (for example \
                 `Your Friendly %(app)s homeserver <noreply@example.com>`)",
            ))
        }
    };
    if notif_from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(KeyError::new(
            map.path_of("notif_from"),
            format!("`{notif_from}` is not a valid email address"),
        ));
    }
    let validation_token_lifetime_ms = match map.get("validation_token_lifetime") {
        Some(l) => match as_duration_ms(l.node())? {
            0 => return Err(KeyError::new(l.path, "must be longer than zero")),
            ms => ms,
        },
        None => DEFAULT_TOKEN_LIFETIME_MS,
    };
    Ok(Some(EmailConfig {
        smtp_host: map
            .string("smtp_host")?
            .unwrap_or_else(|| "localhost".into()),
        smtp_port,
        smtp_user: map.string("smtp_user")?.filter(|u| !u.is_empty()),
        smtp_pass: map
            .secret("smtp_pass")?
            .filter(|p| !p.is_empty())
            .map(Secret::new),
        force_tls,
        require_transport_security,
        enable_tls,
        tlsname: map.string("tlsname")?,
        notif_from,
        app_name,
        validation_token_lifetime_ms,
    }))
}

pub(super) fn parse_threepids(top: &Map<'_>, email: bool) -> KResult<ThreepidConfig> {
    let mut registrations_require_3pid = Vec::new();
    if let Some(l) = top.get("registrations_require_3pid") {
        for item in as_list(l.node())? {
            let medium = as_string(item.node())?;
            match medium.as_str() {
                "email" if !email => {
                    return Err(KeyError::new(
                        &item.path,
                        "`email` needs an `email:` section to send validation mails",
                    ))
                }
                "email" => registrations_require_3pid.push(medium),
                "msisdn" => {
                    return Err(KeyError::new(
                        &item.path,
                        "`msisdn` is not supported: mxauth cannot send text messages",
                    ))
                }
                other => {
                    return Err(KeyError::new(
                        &item.path,
                        format!("unknown medium `{other}`: expected `email`"),
                    ))
                }
            }
        }
    }
    let allowed_local_3pids = match top.get("allowed_local_3pids") {
        None => None,
        Some(l) => {
            let mut allowed = Vec::new();
            for item in as_list(l.node())? {
                let entry = Map::from_node(item.node())?;
                entry.check_keys(&["medium", "pattern"], &[])?;
                let need = |key: &str| {
                    entry.string(key)?.ok_or_else(|| {
                        KeyError::new(entry.path_of(key), "missing: required in each entry")
                    })
                };
                let medium = need("medium")?;
                let pattern = need("pattern")?;
                let pattern = regex::Regex::new(&format!("^(?:{pattern})")).map_err(|e| {
                    KeyError::new(entry.path_of("pattern"), format!("not a valid regex: {e}"))
                })?;
                allowed.push(AllowedThreepid { medium, pattern });
            }
            Some(allowed)
        }
    };
    Ok(ThreepidConfig {
        registrations_require_3pid,
        allowed_local_3pids,
        enable_3pid_changes: top.bool_or("enable_3pid_changes", true)?,
        request_token_inhibit_3pid_errors: top
            .bool_or("request_token_inhibit_3pid_errors", false)?,
        next_link_domain_whitelist: match top.get("next_link_domain_whitelist") {
            None => None,
            Some(l) => Some(
                as_list(l.node())?
                    .iter()
                    .map(|item| as_string(item.node()).map(|h| h.to_lowercase()))
                    .collect::<KResult<Vec<_>>>()?,
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};
    use std::path::Path;

    fn load(yaml: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str(yaml, Path::new("t.yaml")).map(|l| l.config)
    }

    fn err_path(yaml: &str) -> String {
        load(yaml)
            .unwrap_err()
            .key_path()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn email_block_with_synapse_keys() {
        let c = load(
            "server_name: x.org\nemail:\n  smtp_host: mail.x.org\n  smtp_port: 587\n  \
             smtp_user: u\n  smtp_pass: p\n  require_transport_security: true\n  \
             notif_from: '%(app)s <noreply@x.org>'\n  app_name: Chat\n  \
             validation_token_lifetime: 15m\n  client_base_url: https://app.x.org\n  \
             invite_client_location: https://app.x.org\n",
        )
        .unwrap();
        let e = c.email.unwrap();
        assert_eq!(e.smtp_host, "mail.x.org");
        assert_eq!(e.smtp_port, 587);
        assert_eq!(e.smtp_user.as_deref(), Some("u"));
        assert_eq!(e.smtp_pass.unwrap().expose(), "p");
        assert!(e.require_transport_security && e.enable_tls && !e.force_tls);
        assert_eq!(e.notif_from, "Chat <noreply@x.org>");
        assert_eq!(e.validation_token_lifetime_ms, 15 * 60 * 1000);
        assert!(c.threepids.enable_3pid_changes);
    }

    #[test]
    fn email_defaults() {
        let c = load("server_name: x.org\nemail: {notif_from: 'a@x.org'}\n").unwrap();
        let e = c.email.unwrap();
        assert_eq!((e.smtp_host.as_str(), e.smtp_port), ("localhost", 25));
        assert_eq!(e.app_name, "Matrix");
        assert_eq!(e.validation_token_lifetime_ms, 3_600_000);
        let c =
            load("server_name: x.org\nemail: {notif_from: 'a@x.org', force_tls: true}\n").unwrap();
        assert_eq!(c.email.unwrap().smtp_port, 465);
    }

    #[test]
    fn email_errors_name_their_key() {
        assert_eq!(
            err_path("server_name: x.org\nemail: {smtp_hots: a}\n"),
            "email.smtp_hots"
        );
        assert_eq!(
            err_path("server_name: x.org\nemail: {smtp_host: a}\n"),
            "email.notif_from"
        );
        assert_eq!(
            err_path("server_name: x.org\nemail: {notif_from: 'not an address'}\n"),
            "email.notif_from"
        );
        assert_eq!(
            err_path("server_name: x.org\nemail: {notif_from: a@x.org, smtp_port: 70000}\n"),
            "email.smtp_port"
        );
        assert_eq!(
            err_path(
                "server_name: x.org\nemail: {notif_from: a@x.org, validation_token_lifetime: 0}\n"
            ),
            "email.validation_token_lifetime"
        );
    }

    #[test]
    fn threepid_keys() {
        let c = load(
            "server_name: x.org\nemail: {notif_from: a@x.org}\n\
             registrations_require_3pid: [email]\n\
             allowed_local_3pids:\n  - {medium: email, pattern: '^[^@]+@x\\.org$'}\n\
             enable_3pid_changes: false\nrequest_token_inhibit_3pid_errors: true\n",
        )
        .unwrap();
        let t = c.threepids;
        assert_eq!(t.registrations_require_3pid, vec!["email"]);
        let allowed = t.allowed_local_3pids.unwrap();
        assert!(allowed[0].pattern.is_match("bob@x.org"));
        assert!(!allowed[0].pattern.is_match("bob@y.org"));
        assert!(!t.enable_3pid_changes);
        assert!(t.request_token_inhibit_3pid_errors);
    }

    #[test]
    fn next_link_domain_whitelist_as_synapse_reads_it() {
        let c = load("server_name: x.org\n").unwrap();
        assert_eq!(c.threepids.next_link_domain_whitelist, None);
        let c = load("server_name: x.org\nnext_link_domain_whitelist: null\n").unwrap();
        assert_eq!(c.threepids.next_link_domain_whitelist, None);
        let c = load("server_name: x.org\nnext_link_domain_whitelist: []\n").unwrap();
        assert_eq!(c.threepids.next_link_domain_whitelist, Some(vec![]));
        let loaded = crate::config::Config::from_yaml_str(
            "server_name: x.org\nnext_link_domain_whitelist: [App.Example.org, x.org]\n",
            Path::new("t.yaml"),
        )
        .unwrap();
        assert_eq!(
            loaded.config.threepids.next_link_domain_whitelist,
            Some(vec!["app.example.org".to_owned(), "x.org".to_owned()])
        );
        assert!(loaded.ignored_keys.is_empty(), "{:?}", loaded.ignored_keys);
        assert_eq!(
            err_path("server_name: x.org\nnext_link_domain_whitelist: x.org\n"),
            "next_link_domain_whitelist"
        );
    }

    #[test]
    fn threepid_errors_name_their_key() {
        assert_eq!(
            err_path("server_name: x.org\nregistrations_require_3pid: [email]\n"),
            "registrations_require_3pid[0]"
        );
        assert_eq!(
            err_path(
                "server_name: x.org\nemail: {notif_from: a@x.org}\n\
                 registrations_require_3pid: [msisdn]\n"
            ),
            "registrations_require_3pid[0]"
        );
        assert_eq!(
            err_path("server_name: x.org\nallowed_local_3pids: [{medium: email, patern: x}]\n"),
            "allowed_local_3pids[0].patern"
        );
        assert_eq!(
            err_path("server_name: x.org\nallowed_local_3pids: [{medium: email, pattern: '('}]\n"),
            "allowed_local_3pids[0].pattern"
        );
    }
}
