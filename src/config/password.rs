//! `password_config:` with its policy.

use super::*;

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

// ----- password_config -----

pub(super) const PASSWORD_CONFIG_KEYS: &[&str] =
    &["enabled", "localdb_enabled", "pepper", "policy"];
pub(super) const POLICY_KEYS: &[&str] = &[
    "enabled",
    "minimum_length",
    "require_digit",
    "require_symbol",
    "require_lowercase",
    "require_uppercase",
];

pub(super) fn parse_password_config(node: Node<'_>) -> KResult<PasswordConfig> {
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

pub(super) fn parse_policy(node: Node<'_>) -> KResult<PasswordPolicy> {
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
