//! Rate limits: Synapse's `rc_login`, `rc_registration`,
//! `rc_registration_token_validity` and `rc_3pid_validation` (same keys,
//! defaults and meaning), and mxauth's own limits under
//! `mxauth.rate_limits` for endpoints Synapse leaves unlimited but that
//! answer an oracle or make the server work (defaults no real client reaches).

use super::yaml::{self, KResult, KeyError, Map, Node};
use serde_yaml::Value;

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &[
    "rc_login",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_3pid_validation",
];

/// The key under `mxauth:` parsed here.
pub(super) const MXAUTH_KEY: &str = "rate_limits";

/// One leaky bucket: `burst_count` actions at once, refilled at
/// `per_second` (Synapse's `RatelimitSettings`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst_count: f64,
}

// Parsed values are finite and positive, never NaN.
impl Eq for RateLimit {}

impl RateLimit {
    pub const fn new(per_second: f64, burst_count: f64) -> Self {
        RateLimit {
            per_second,
            burst_count,
        }
    }

    /// A limit no test or client reaches: for tests that are not about limits.
    pub const fn unlimited() -> Self {
        RateLimit::new(1_000_000.0, 1_000_000.0)
    }
}

/// Every limiter's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// `rc_login.address`: every `/login`, per client address.
    pub login_address: RateLimit,
    /// `rc_login.account`: successful logins, per user.
    pub login_account: RateLimit,
    /// `rc_login.failed_attempts`: failed logins and failed UIA
    /// passwords, per user (or per address for a login by email).
    pub login_failed_attempts: RateLimit,
    /// `rc_registration`: `/register` calls, per client address.
    pub registration: RateLimit,
    /// `rc_registration_token_validity`: the validity check, per address.
    pub registration_token_validity: RateLimit,
    /// `rc_3pid_validation`: email `requestToken`, per address and per email.
    pub threepid_validation: RateLimit,
    /// `mxauth.rate_limits.username_available`: `GET /register/available`
    /// and the SSO username picker's check, per address.
    pub username_available: RateLimit,
    /// `mxauth.rate_limits.registration_session`: registration calls that
    /// start a UIA session (each is a row kept for its lifetime), per address.
    pub registration_session: RateLimit,
    /// `mxauth.rate_limits.sso_redirect`: SSO redirects (each makes an SSO
    /// session and may ask the provider), per address.
    pub sso_redirect: RateLimit,
    /// `mxauth.rate_limits.registration_nonce`: shared-secret registration
    /// nonces (each is a row), per address.
    pub registration_nonce: RateLimit,
    /// `mxauth.rate_limits.oauth_client_registration`: OAuth 2.0 dynamic
    /// client registrations (each may be a row), per address.
    pub oauth_client_registration: RateLimit,
    /// `mxauth.rate_limits.oauth_authorize`: OAuth 2.0 authorization
    /// requests (each is a grant row kept for its lifetime), per address.
    pub oauth_authorize: RateLimit,
    /// `mxauth.rate_limits.oauth_user_code`: user codes typed at the device
    /// authorization grant's verification page, per address (it bounds
    /// guessing: a code is 8 of 20 letters, alive for minutes).
    pub oauth_user_code: RateLimit,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            login_address: RateLimit::new(0.003, 5.0),
            login_account: RateLimit::new(0.003, 5.0),
            login_failed_attempts: RateLimit::new(0.17, 3.0),
            registration: RateLimit::new(0.17, 3.0),
            registration_token_validity: RateLimit::new(0.1, 5.0),
            threepid_validation: RateLimit::new(0.003, 5.0),
            username_available: RateLimit::new(1.0, 60.0),
            registration_session: RateLimit::new(0.1, 30.0),
            sso_redirect: RateLimit::new(0.2, 20.0),
            registration_nonce: RateLimit::new(0.2, 20.0),
            oauth_client_registration: RateLimit::new(0.02, 10.0),
            oauth_authorize: RateLimit::new(0.2, 30.0),
            oauth_user_code: RateLimit::new(0.1, 10.0),
        }
    }
}

impl RateLimitConfig {
    /// Every limit lifted: for tests and benchmarks that are not about limits.
    pub fn unlimited() -> Self {
        let u = RateLimit::unlimited();
        RateLimitConfig {
            login_address: u,
            login_account: u,
            login_failed_attempts: u,
            registration: u,
            registration_token_validity: u,
            threepid_validation: u,
            username_available: u,
            registration_session: u,
            sso_redirect: u,
            registration_nonce: u,
            oauth_client_registration: u,
            oauth_authorize: u,
            oauth_user_code: u,
        }
    }
}

pub(super) fn parse(top: &Map<'_>) -> KResult<RateLimitConfig> {
    let mut c = RateLimitConfig::default();
    if let Some(l) = top.get("rc_login") {
        let map = Map::from_node(l.node())?;
        map.check_keys(&["address", "account", "failed_attempts"], &[])?;
        c.login_address = sub(&map, "address", c.login_address)?;
        c.login_account = sub(&map, "account", c.login_account)?;
        c.login_failed_attempts = sub(&map, "failed_attempts", c.login_failed_attempts)?;
    }
    c.registration = sub(top, "rc_registration", c.registration)?;
    c.registration_token_validity = sub(
        top,
        "rc_registration_token_validity",
        c.registration_token_validity,
    )?;
    c.threepid_validation = sub(top, "rc_3pid_validation", c.threepid_validation)?;
    if let Some(mxauth) = top.get("mxauth") {
        let mxauth = Map::from_node(mxauth.node())?;
        if let Some(l) = mxauth.get(MXAUTH_KEY) {
            let map = Map::from_node(l.node())?;
            map.check_keys(
                &[
                    "username_available",
                    "registration_session",
                    "sso_redirect",
                    "registration_nonce",
                    "oauth_client_registration",
                    "oauth_authorize",
                    "oauth_user_code",
                ],
                &[],
            )?;
            c.username_available = sub(&map, "username_available", c.username_available)?;
            c.registration_session = sub(&map, "registration_session", c.registration_session)?;
            c.sso_redirect = sub(&map, "sso_redirect", c.sso_redirect)?;
            c.registration_nonce = sub(&map, "registration_nonce", c.registration_nonce)?;
            c.oauth_client_registration = sub(
                &map,
                "oauth_client_registration",
                c.oauth_client_registration,
            )?;
            c.oauth_authorize = sub(&map, "oauth_authorize", c.oauth_authorize)?;
            c.oauth_user_code = sub(&map, "oauth_user_code", c.oauth_user_code)?;
        }
    }
    Ok(c)
}

/// `{per_second, burst_count}` under `key`; a key left out keeps its default.
fn sub(map: &Map<'_>, key: &str, default: RateLimit) -> KResult<RateLimit> {
    let Some(l) = map.get(key) else {
        return Ok(default);
    };
    let m = Map::from_node(l.node())?;
    m.check_keys(&["per_second", "burst_count"], &[])?;
    let number = |k: &str, default: f64| -> KResult<f64> {
        match m.get(k) {
            None => Ok(default),
            Some(v) => positive(v.node()),
        }
    };
    Ok(RateLimit {
        per_second: number("per_second", default.per_second)?,
        burst_count: number("burst_count", default.burst_count)?,
    })
}

fn positive(node: Node<'_>) -> KResult<f64> {
    let n = match node.value {
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(KeyError::new(
            node.path,
            format!(
                "expected a number larger than zero, found {}",
                yaml::describe(node.value)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError};
    use std::path::Path;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str(&format!("server_name: x.org\n{text}"), Path::new("hs.yaml"))
            .map(|l| l.config)
    }

    #[test]
    fn synapse_defaults() {
        let c = load("").unwrap().rate_limits;
        assert_eq!(c.login_address, RateLimit::new(0.003, 5.0));
        assert_eq!(c.login_account, RateLimit::new(0.003, 5.0));
        assert_eq!(c.login_failed_attempts, RateLimit::new(0.17, 3.0));
        assert_eq!(c.registration, RateLimit::new(0.17, 3.0));
        assert_eq!(c.registration_token_validity, RateLimit::new(0.1, 5.0));
        assert_eq!(c.threepid_validation, RateLimit::new(0.003, 5.0));
    }

    #[test]
    fn synapse_keys_and_mxauth_own() {
        let c = load(
            "rc_login:\n  address: {per_second: 1, burst_count: 10}\n  \
             failed_attempts: {burst_count: 7}\n\
             rc_registration: {per_second: 0.5, burst_count: 2}\n\
             rc_registration_token_validity: {per_second: 2}\n\
             rc_3pid_validation: {per_second: 0.25, burst_count: 4}\n\
             mxauth:\n  rate_limits:\n    username_available: {per_second: 3, burst_count: 9}\n",
        )
        .unwrap()
        .rate_limits;
        assert_eq!(c.login_address, RateLimit::new(1.0, 10.0));
        assert_eq!(
            c.login_account,
            RateLimit::new(0.003, 5.0),
            "left out: default"
        );
        assert_eq!(c.login_failed_attempts, RateLimit::new(0.17, 7.0));
        assert_eq!(c.registration, RateLimit::new(0.5, 2.0));
        assert_eq!(c.registration_token_validity, RateLimit::new(2.0, 5.0));
        assert_eq!(c.threepid_validation, RateLimit::new(0.25, 4.0));
        assert_eq!(c.username_available, RateLimit::new(3.0, 9.0));
        assert_eq!(c.sso_redirect, RateLimitConfig::default().sso_redirect);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, path) in [
            (
                "rc_login: {address: {per_second: 0}}",
                "rc_login.address.per_second",
            ),
            (
                "rc_registration: {burst_count: -1}",
                "rc_registration.burst_count",
            ),
            (
                "rc_registration: {burst_count: lots}",
                "rc_registration.burst_count",
            ),
            ("rc_login: {adress: {per_second: 1}}", "rc_login.adress"),
            (
                "rc_3pid_validation: {per_sec: 1}",
                "rc_3pid_validation.per_sec",
            ),
            (
                "mxauth: {rate_limits: {sso: {per_second: 1}}}",
                "mxauth.rate_limits.sso",
            ),
        ] {
            match load(text) {
                Err(ConfigError::Parse { path: p, .. }) => assert_eq!(p, path, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
