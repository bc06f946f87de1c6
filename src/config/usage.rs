//! Who counts as active, and what is recorded of requests: Synapse's
//! monthly-active-user keys (`limit_usage_by_mau` and friends),
//! `track_appservice_user_ips`, `track_puppeted_user_ips` and
//! `user_ips_max_age`.

use super::yaml::{self, as_list, KResult, KeyError, Map};
use std::collections::BTreeMap;

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &[
    "limit_usage_by_mau",
    "max_mau_value",
    "mau_stats_only",
    "mau_trial_days",
    "mau_appservice_trial_days",
    "mau_limit_reserved_threepids",
    "track_appservice_user_ips",
    "track_puppeted_user_ips",
    "user_ips_max_age",
];

/// Monthly active users and client-IP tracking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageConfig {
    /// `limit_usage_by_mau`: refuse new logins and registrations once
    /// `max_mau_value` users are monthly-active.
    pub limit_usage_by_mau: bool,
    /// `max_mau_value` (0 unless `limit_usage_by_mau`, as in Synapse).
    pub max_mau_value: u64,
    /// `mau_stats_only`: count monthly-active users without limiting.
    pub mau_stats_only: bool,
    /// `mau_trial_days`: new users are neither counted nor blocked for this long.
    pub mau_trial_days: u64,
    /// `mau_appservice_trial_days`: the same per application service id.
    pub mau_appservice_trial_days: BTreeMap<String, u64>,
    /// `mau_limit_reserved_threepids`: (medium, address) pairs whose users
    /// always have room (emails canonicalised).
    pub mau_limit_reserved_threepids: Vec<(String, String)>,
    /// `track_appservice_user_ips`: record application services' requests
    /// too (and then count and block their users).
    pub track_appservice_user_ips: bool,
    /// `track_puppeted_user_ips`: record a puppet token's requests for the
    /// puppeted user as well as for the admin who owns the token.
    pub track_puppeted_user_ips: bool,
    /// `user_ips_max_age` (default 28 days; null keeps them forever).
    pub user_ips_max_age_ms: Option<u64>,
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            limit_usage_by_mau: false,
            max_mau_value: 0,
            mau_stats_only: false,
            mau_trial_days: 0,
            mau_appservice_trial_days: BTreeMap::new(),
            mau_limit_reserved_threepids: Vec::new(),
            track_appservice_user_ips: false,
            track_puppeted_user_ips: false,
            user_ips_max_age_ms: Some(28 * 24 * 60 * 60 * 1000),
        }
    }
}

impl UsageConfig {
    /// Whether monthly-active users are counted at all.
    pub fn counts_mau(&self) -> bool {
        self.limit_usage_by_mau || self.mau_stats_only
    }

    /// `mau_limit_reserved_threepids`, emails canonicalised.
    pub fn reserved_threepids(&self) -> impl Iterator<Item = (&str, String)> + '_ {
        self.mau_limit_reserved_threepids
            .iter()
            .map(|(m, a)| (m.as_str(), canonical_address(m, a)))
    }

    /// Whether (medium, address) is one of `mau_limit_reserved_threepids`.
    pub fn is_reserved_threepid(&self, medium: &str, address: &str) -> bool {
        let address = canonical_address(medium, address);
        self.reserved_threepids()
            .any(|(m, a)| m == medium && a == address)
    }
}

/// Emails compare lower-cased and trimmed, as Synapse canonicalises them.
fn canonical_address(medium: &str, address: &str) -> String {
    if medium == "email" {
        address.trim().to_lowercase()
    } else {
        address.to_owned()
    }
}

pub(super) fn parse(top: &Map<'_>) -> KResult<UsageConfig> {
    let defaults = UsageConfig::default();
    let limit_usage_by_mau = top.bool_or("limit_usage_by_mau", false)?;
    let max_mau_value = if limit_usage_by_mau {
        u64::from(top.u32_or("max_mau_value", 0)?)
    } else {
        0
    };
    let mut appservice_days = BTreeMap::new();
    if let Some(l) = top.get("mau_appservice_trial_days") {
        let map = Map::from_node(l.node())?;
        for id in map.keys() {
            let days = map.u32_or(id, 0)?;
            appservice_days.insert(id.to_owned(), u64::from(days));
        }
    }
    let mut reserved = Vec::new();
    if let Some(l) = top.get("mau_limit_reserved_threepids") {
        for item in as_list(l.node())? {
            let map = Map::from_node(item.node())?;
            map.check_keys(&["medium", "address"], &[])?;
            let field = |k: &str| {
                map.string(k)?
                    .ok_or_else(|| KeyError::new(map.path_of(k), "missing"))
            };
            let medium = field("medium")?;
            let address = canonical_address(&medium, &field("address")?);
            reserved.push((medium, address));
        }
    }
    let user_ips_max_age_ms = if top.is_null("user_ips_max_age") {
        None
    } else {
        match top.get("user_ips_max_age") {
            Some(l) => Some(yaml::as_duration_ms(l.node())?),
            None => defaults.user_ips_max_age_ms,
        }
    };
    Ok(UsageConfig {
        limit_usage_by_mau,
        max_mau_value,
        mau_stats_only: top.bool_or("mau_stats_only", false)?,
        mau_trial_days: u64::from(top.u32_or("mau_trial_days", 0)?),
        mau_appservice_trial_days: appservice_days,
        mau_limit_reserved_threepids: reserved,
        track_appservice_user_ips: top.bool_or("track_appservice_user_ips", false)?,
        track_puppeted_user_ips: top.bool_or("track_puppeted_user_ips", false)?,
        user_ips_max_age_ms,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;
    use crate::config::UsageConfig;

    #[test]
    fn monthly_active_user_and_client_ip_keys() {
        let base = "server_name: example.org\n";
        let c = load(base).unwrap().config;
        assert_eq!(c.usage, UsageConfig::default());
        assert_eq!(c.usage.user_ips_max_age_ms, Some(28 * 24 * 3600 * 1000));
        assert!(!c.usage.counts_mau());

        let c = load(&format!(
            "{base}limit_usage_by_mau: true\nmax_mau_value: 50\nmau_trial_days: 2\n\
             mau_appservice_trial_days: {{bridge: 7}}\n\
             mau_limit_reserved_threepids:\n  - {{medium: email, address: Boss@Example.org}}\n\
             track_appservice_user_ips: true\ntrack_puppeted_user_ips: yes\n\
             user_ips_max_age: 1d\n"
        ))
        .unwrap()
        .config;
        assert!(c.usage.limit_usage_by_mau && c.usage.counts_mau());
        assert_eq!(c.usage.max_mau_value, 50);
        assert_eq!(c.usage.mau_trial_days, 2);
        assert_eq!(c.usage.mau_appservice_trial_days.get("bridge"), Some(&7));
        assert!(c.usage.is_reserved_threepid("email", "boss@example.org"));
        assert!(!c.usage.is_reserved_threepid("email", "other@example.org"));
        assert!(c.usage.track_appservice_user_ips && c.usage.track_puppeted_user_ips);
        assert_eq!(c.usage.user_ips_max_age_ms, Some(24 * 3600 * 1000));

        // As in Synapse: max_mau_value only counts with the limit on; null
        // user_ips_max_age keeps client IPs forever.
        let c = load(&format!(
            "{base}max_mau_value: 50\nuser_ips_max_age: null\n"
        ))
        .unwrap()
        .config;
        assert_eq!(c.usage.max_mau_value, 0);
        assert_eq!(c.usage.user_ips_max_age_ms, None);

        let err = load(&format!(
            "{base}mau_limit_reserved_threepids:\n  - {{medium: email}}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("mau_limit_reserved_threepids"), "{err}");
        assert!(err.contains("address"), "{err}");
        let err = load(&format!("{base}user_ips_max_age: soon\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("user_ips_max_age"), "{err}");
    }
}
