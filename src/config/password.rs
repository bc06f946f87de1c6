//! `password_config:` with its policy, and `bcrypt_rounds`.

use serde_yaml::Value;

use super::yaml::{self, as_bool, KResult, KeyError, Map, Node};
use super::Secret;

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &["password_config", "bcrypt_rounds"];

pub(super) const DEFAULT_BCRYPT_ROUNDS: u32 = 12;

/// Whether passwords may be used (`password_config.enabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordEnabled {
    /// `true` (the default): log in and re-authenticate with a password.
    #[default]
    Yes,
    /// `false`: no password use at all.
    No,
    /// `"only_for_reauth"`: users who have a password may use it for
    /// user-interactive re-authentication, but not to log in.
    OnlyForReauth,
}

/// `password_config:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordConfig {
    pub enabled: PasswordEnabled,
    /// Check passwords against the local database (default true).
    pub localdb_enabled: bool,
    /// Appended to passwords before bcrypt hashing (Synapse's pepper; default empty).
    pub pepper: Secret,
    pub policy: PasswordPolicy,
}

/// `password_config.policy:` (MSC2000).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PasswordPolicy {
    /// Default false, as in Synapse: when false, no rule below is enforced.
    pub enabled: bool,
    pub minimum_length: usize,
    pub require_digit: bool,
    pub require_symbol: bool,
    pub require_lowercase: bool,
    pub require_uppercase: bool,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig {
            enabled: PasswordEnabled::Yes,
            localdb_enabled: true,
            pepper: Secret::default(),
            policy: PasswordPolicy::default(),
        }
    }
}

impl PasswordConfig {
    /// Whether `m.login.password` login is offered (Synapse's
    /// `password_enabled_for_login`).
    pub fn login_enabled(&self) -> bool {
        self.enabled == PasswordEnabled::Yes
    }

    /// Whether a password may be used for user-interactive re-authentication
    /// (Synapse's `password_enabled_for_reauth`).
    pub fn reauth_enabled(&self) -> bool {
        matches!(
            self.enabled,
            PasswordEnabled::Yes | PasswordEnabled::OnlyForReauth
        )
    }
}

/// This section's part of [`Config`](super::Config).
pub(super) struct Passwords {
    pub password_config: PasswordConfig,
    pub bcrypt_rounds: u32,
}

pub(super) fn parse(top: &Map<'_>) -> KResult<Passwords> {
    let password_config = match top.get("password_config") {
        Some(l) => parse_password_config(l.node())?,
        None => PasswordConfig::default(),
    };
    let bcrypt_rounds = top.u32_or("bcrypt_rounds", DEFAULT_BCRYPT_ROUNDS)?;
    if !(4..=31).contains(&bcrypt_rounds) {
        return Err(KeyError::new(
            top.path_of("bcrypt_rounds"),
            format!("must be between 4 and 31, found {bcrypt_rounds}"),
        ));
    }
    Ok(Passwords {
        password_config,
        bcrypt_rounds,
    })
}

const PASSWORD_CONFIG_KEYS: &[&str] = &["enabled", "localdb_enabled", "pepper", "policy"];
const POLICY_KEYS: &[&str] = &[
    "enabled",
    "minimum_length",
    "require_digit",
    "require_symbol",
    "require_lowercase",
    "require_uppercase",
];

fn parse_password_config(node: Node<'_>) -> KResult<PasswordConfig> {
    let map = Map::from_node(node)?;
    map.check_keys(PASSWORD_CONFIG_KEYS, &[])?;
    let enabled = match map.get("enabled") {
        None => PasswordEnabled::Yes,
        Some(l) => match l.value {
            Value::String(s) if s == "only_for_reauth" => PasswordEnabled::OnlyForReauth,
            _ => match as_bool(l.node()) {
                Ok(true) => PasswordEnabled::Yes,
                Ok(false) => PasswordEnabled::No,
                Err(_) => {
                    return Err(KeyError::new(
                        l.path,
                        format!(
                            "expected true, false or \"only_for_reauth\", found {}",
                            yaml::describe(l.value)
                        ),
                    ))
                }
            },
        },
    };
    let localdb_enabled = map.bool_or("localdb_enabled", true)?;
    let pepper = map.secret("pepper")?.map(Secret::new).unwrap_or_default();
    let policy = match map.get("policy") {
        Some(l) => parse_policy(l.node())?,
        None => PasswordPolicy::default(),
    };
    Ok(PasswordConfig {
        enabled,
        localdb_enabled,
        pepper,
        policy,
    })
}

fn parse_policy(node: Node<'_>) -> KResult<PasswordPolicy> {
    let map = Map::from_node(node)?;
    map.check_keys(POLICY_KEYS, &[])?;
    Ok(PasswordPolicy {
        enabled: map.bool_or("enabled", false)?,
        minimum_length: map.usize_or("minimum_length", 0)?,
        require_digit: map.bool_or("require_digit", false)?,
        require_symbol: map.bool_or("require_symbol", false)?,
        require_lowercase: map.bool_or("require_lowercase", false)?,
        require_uppercase: map.bool_or("require_uppercase", false)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn typo_in_password_policy_names_the_nested_path() {
        let text = "server_name: example.com\npassword_config:\n  policy:\n    minimum_lenght: 8\n";
        let (path, shown) = parse_error(text);
        assert_eq!(path, "password_config.policy.minimum_lenght");
        assert!(
            shown.ends_with(
                "password_config.policy.minimum_lenght: unknown key `minimum_lenght`; \
                 did you mean `minimum_length`?"
            ),
            "{shown}"
        );
    }

    #[test]
    fn bcrypt_rounds_range() {
        let (path, shown) = parse_error("server_name: example.com\nbcrypt_rounds: 3\n");
        assert_eq!(path, "bcrypt_rounds");
        assert!(
            shown.ends_with("must be between 4 and 31, found 3"),
            "{shown}"
        );
        assert_eq!(
            config("server_name: example.com\nbcrypt_rounds: 31\n").bcrypt_rounds,
            31
        );
    }

    #[test]
    fn password_enabled_only_for_reauth() {
        let c = config("server_name: example.com\npassword_config:\n  enabled: only_for_reauth\n");
        assert_eq!(c.password_config.enabled, PasswordEnabled::OnlyForReauth);
        assert!(!c.password_config.login_enabled());
        assert!(c.password_config.reauth_enabled());

        let c = config(
            "server_name: example.com\npassword_config:\n  enabled: false\n  localdb_enabled: false\n",
        );
        assert!(!c.password_config.login_enabled());
        assert!(!c.password_config.reauth_enabled());
        assert!(!c.password_config.localdb_enabled);

        // An empty section and a null pepper are the defaults.
        let c = config("server_name: example.com\npassword_config:\n  pepper:\n");
        assert_eq!(c.password_config, PasswordConfig::default());
    }
}
