//! How long a login lasts (Synapse's `session_lifetime`,
//! `nonrefreshable_access_token_lifetime`, `refreshable_access_token_lifetime`
//! and `refresh_token_lifetime`), and the Synapse keys about sessions and
//! accounts that mxauth does not implement and so refuses at start rather
//! than ignore: an admin who sets one must not believe it is in force.

use super::yaml::{as_bool, as_duration_ms, KResult, KeyError, Map};
use serde_yaml::Value;

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &[
    "session_lifetime",
    "nonrefreshable_access_token_lifetime",
    "refreshable_access_token_lifetime",
    "refresh_token_lifetime",
    "delete_stale_devices_after",
    "account_validity",
    "inhibit_user_in_use_error",
];

/// Synapse's default `refreshable_access_token_lifetime`: 5 minutes.
pub const DEFAULT_REFRESHABLE_ACCESS_TOKEN_LIFETIME_MS: u64 = 5 * 60 * 1000;

/// How long the tokens of logins and registrations work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// `session_lifetime`: a token stops working this long after the login
    /// or registration that made it (default: never); a refreshable
    /// session cannot be refreshed past it either (Synapse's ultimate
    /// session expiry).
    pub session_lifetime_ms: Option<u64>,
    /// `nonrefreshable_access_token_lifetime`: the same bound for tokens
    /// without a refresh token (default: never).
    pub nonrefreshable_access_token_lifetime_ms: Option<u64>,
    /// `refreshable_access_token_lifetime`: the lifetime of an access token
    /// issued with a refresh token (default 5 minutes); `null` turns refresh
    /// tokens off (a client asking for one gets none, and `/refresh` is
    /// not served).
    pub refreshable_access_token_lifetime_ms: Option<u64>,
    /// `refresh_token_lifetime`: how long a refresh token can be used
    /// (default: until it is used).
    pub refresh_token_lifetime_ms: Option<u64>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            session_lifetime_ms: None,
            nonrefreshable_access_token_lifetime_ms: None,
            refreshable_access_token_lifetime_ms: Some(
                DEFAULT_REFRESHABLE_ACCESS_TOKEN_LIFETIME_MS,
            ),
            refresh_token_lifetime_ms: None,
        }
    }
}

impl SessionConfig {
    /// When a token issued at `now_ms` stops working: the sooner of the two
    /// lifetimes, as Synapse's `register_device` computes it.
    pub fn token_valid_until(&self, now_ms: i64) -> Option<i64> {
        [
            self.session_lifetime_ms,
            self.nonrefreshable_access_token_lifetime_ms,
        ]
        .into_iter()
        .flatten()
        .map(|ms| now_ms.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)))
        .min()
    }
}

pub(super) fn parse(top: &Map<'_>) -> KResult<SessionConfig> {
    let lifetime = |key: &str| -> KResult<Option<u64>> {
        match top.get(key) {
            None => Ok(None),
            Some(l) => match as_duration_ms(l.node())? {
                0 => Err(KeyError::new(
                    l.path,
                    "must be longer than zero (leave it out for tokens that do not expire)",
                )),
                ms => Ok(Some(ms)),
            },
        }
    };
    let refreshable = "refreshable_access_token_lifetime";
    let config = SessionConfig {
        session_lifetime_ms: lifetime("session_lifetime")?,
        nonrefreshable_access_token_lifetime_ms: lifetime("nonrefreshable_access_token_lifetime")?,
        // Absent: Synapse's default; an explicit null: refresh tokens off.
        refreshable_access_token_lifetime_ms: match lifetime(refreshable)? {
            Some(ms) => Some(ms),
            None if top.is_null(refreshable) => None,
            None => Some(DEFAULT_REFRESHABLE_ACCESS_TOKEN_LIFETIME_MS),
        },
        refresh_token_lifetime_ms: lifetime("refresh_token_lifetime")?,
    };
    // Synapse's checks: no lifetime set beside `session_lifetime` may
    // exceed it (the default 5 minutes is not checked, as in Synapse).
    if let Some(session) = config.session_lifetime_ms {
        for (key, value) in [
            (
                refreshable,
                config
                    .refreshable_access_token_lifetime_ms
                    .filter(|_| top.contains(refreshable)),
            ),
            (
                "nonrefreshable_access_token_lifetime",
                config.nonrefreshable_access_token_lifetime_ms,
            ),
            ("refresh_token_lifetime", config.refresh_token_lifetime_ms),
        ] {
            if value.is_some_and(|v| v > session) {
                return Err(KeyError::new(
                    top.path_of(key),
                    "exceeds `session_lifetime`: no token can outlive the session",
                ));
            }
        }
    }
    if let Some(l) = top.get("delete_stale_devices_after") {
        return Err(KeyError::new(
            l.path,
            "not supported: mxauth does not delete stale devices, so their tokens would keep \
             working; bound logins with `session_lifetime` instead",
        ));
    }
    if let Some(l) = top.get("account_validity") {
        let enabled = match l.value {
            Value::Mapping(_) => {
                let map = Map::from_node(l.node())?;
                match map.get("enabled") {
                    Some(e) => as_bool(e.node())?,
                    None => false,
                }
            }
            _ => false,
        };
        if enabled {
            return Err(KeyError::new(
                l.path,
                "not supported: mxauth does not expire accounts, so accounts would stay valid \
                 for ever; remove the section or set `enabled: false`",
            ));
        }
    }
    if let Some(l) = top.get("inhibit_user_in_use_error") {
        if as_bool(l.node())? {
            return Err(KeyError::new(
                l.path,
                "not supported: `/register/available` and registration still say when a user \
                 ID is taken; set it to false",
            ));
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::SessionConfig;
    use crate::config::{Config, ConfigError};
    use std::path::Path;

    fn load(extra: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str(&format!("server_name: x.org\n{extra}"), Path::new("t.yaml"))
            .map(|l| l.config)
    }

    fn refusal(extra: &str) -> (String, String) {
        match load(extra).unwrap_err() {
            ConfigError::Parse { path, message, .. } => (path, message),
            other => panic!("not a parse error: {other}"),
        }
    }

    #[test]
    fn lifetimes_are_read_and_combined() {
        let c = load("session_lifetime: 24h\nnonrefreshable_access_token_lifetime: 1h\n").unwrap();
        assert_eq!(c.sessions.session_lifetime_ms, Some(86_400_000));
        assert_eq!(
            c.sessions.nonrefreshable_access_token_lifetime_ms,
            Some(3_600_000)
        );
        assert_eq!(c.sessions.token_valid_until(1000), Some(3_601_000));
        let c = load("session_lifetime: 2d\n").unwrap();
        assert_eq!(c.sessions.token_valid_until(0), Some(172_800_000));
        let c = load("session_lifetime: null\n").unwrap();
        assert_eq!(c.sessions, SessionConfig::default());
        assert_eq!(
            c.sessions.refreshable_access_token_lifetime_ms,
            Some(300_000),
            "Synapse's default"
        );
        assert_eq!(c.sessions.token_valid_until(5), None);
        assert_eq!(refusal("session_lifetime: 0\n").0, "session_lifetime");
        assert_eq!(
            refusal("nonrefreshable_access_token_lifetime: soon\n").0,
            "nonrefreshable_access_token_lifetime"
        );
    }

    #[test]
    fn unimplemented_security_keys_are_refused_with_the_reason() {
        for (yaml, key, reason) in [
            (
                "delete_stale_devices_after: 1y\n",
                "delete_stale_devices_after",
                "stale devices",
            ),
            (
                "account_validity:\n  enabled: true\n  period: 6w\n",
                "account_validity",
                "does not expire accounts",
            ),
            (
                "inhibit_user_in_use_error: true\n",
                "inhibit_user_in_use_error",
                "taken",
            ),
        ] {
            let (path, message) = refusal(yaml);
            assert_eq!(path, key, "{yaml}");
            assert!(message.contains(reason), "{yaml}: {message}");
        }
        // Their harmless values load (and are not listed as ignored).
        let loaded = Config::from_yaml_str(
            "server_name: x.org\ndelete_stale_devices_after: null\n\
             account_validity:\n  enabled: false\n  period: 6w\n\
             inhibit_user_in_use_error: false\n",
            Path::new("t.yaml"),
        )
        .unwrap();
        assert!(loaded.ignored_keys.is_empty(), "{:?}", loaded.ignored_keys);
    }

    #[test]
    fn refresh_lifetimes_are_read_as_synapse_reads_them() {
        let c =
            load("refreshable_access_token_lifetime: 10m\nrefresh_token_lifetime: 1d\n").unwrap();
        assert_eq!(
            c.sessions.refreshable_access_token_lifetime_ms,
            Some(600_000)
        );
        assert_eq!(c.sessions.refresh_token_lifetime_ms, Some(86_400_000));
        // An explicit null turns refresh tokens off; `~` too.
        let c =
            load("refreshable_access_token_lifetime: null\nrefresh_token_lifetime: ~\n").unwrap();
        assert_eq!(c.sessions.refreshable_access_token_lifetime_ms, None);
        assert_eq!(c.sessions.refresh_token_lifetime_ms, None);
        assert_eq!(
            refusal("refreshable_access_token_lifetime: 0\n").0,
            "refreshable_access_token_lifetime"
        );
        // Nothing set beside `session_lifetime` may exceed it...
        for key in [
            "refreshable_access_token_lifetime",
            "refresh_token_lifetime",
            "nonrefreshable_access_token_lifetime",
        ] {
            let (path, message) = refusal(&format!("session_lifetime: 1h\n{key}: 2h\n"));
            assert_eq!(path, key);
            assert!(message.contains("exceeds `session_lifetime`"), "{message}");
            assert!(
                load(&format!("session_lifetime: 1h\n{key}: 1h\n")).is_ok(),
                "{key}"
            );
        }
        // ... but the default 5 minutes is not checked, as in Synapse.
        let c = load("session_lifetime: 1m\n").unwrap();
        assert_eq!(
            c.sessions.refreshable_access_token_lifetime_ms,
            Some(300_000)
        );
    }
}
