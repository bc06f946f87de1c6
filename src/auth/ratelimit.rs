//! Rate limiting with Synapse's limiters and semantics (`rc_login`,
//! `rc_registration`, `rc_registration_token_validity`,
//! `rc_3pid_validation`) and mxauth's own for endpoints that answer an
//! oracle or make the server work. The buckets live in the database, so
//! every process behind a load balancer draws from one budget; each
//! limited request costs one statement.
//!
//! Who is limited where (as Synapse, unless said):
//! - `/login`: [`Limiter::LoginAddress`] first, every login type (an
//!   application service with `rate_limited: false` is exempt);
//!   [`Limiter::FailedAttempts`] checked before the credentials and
//!   counted on failure, keyed on the lower-cased full user ID (whether
//!   or not it exists) or the canonical email address;
//!   [`Limiter::LoginAccount`] counted once the credentials are good.
//! - UIA passwords (device deletion, password change, deactivation, the
//!   fallback page): [`Limiter::FailedAttempts`] on the session's user,
//!   the same bucket as its logins. Synapse never counts these.
//! - `/register`: [`Limiter::Registration`] checked on every call (both
//!   UIA steps, guests too), counted per completed registration;
//!   application services and shared-secret registration are exempt.
//!   [`Limiter::RegistrationSession`] (mxauth's) counts the calls that
//!   start a UIA session, so an address cannot make the server keep
//!   sessions without end.
//! - Overrides (`override_ratelimit`) lift none of these: they are keyed
//!   on addresses or on users who are not logged in.

use super::Auth;
use crate::config::RateLimit;
use crate::error::{Error, Result};
use crate::store::{BucketSpec, BucketState, RateLimitOverride};
use sha2::{Digest, Sha256};

/// The limiters, each with its own buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limiter {
    LoginAddress,
    LoginAccount,
    FailedAttempts,
    Registration,
    RegistrationTokenValidity,
    /// `rc_3pid_validation` per client address.
    ThreepidAddress,
    /// `rc_3pid_validation` per email address.
    ThreepidEmail,
    UsernameAvailable,
    /// New registration UIA sessions, per address (each is a row).
    RegistrationSession,
    SsoRedirect,
    RegistrationNonce,
}

impl Limiter {
    /// The prefix of its buckets' keys.
    fn name(self) -> &'static str {
        match self {
            Limiter::LoginAddress => "login.address",
            Limiter::LoginAccount => "login.account",
            Limiter::FailedAttempts => "login.failed",
            Limiter::Registration => "register",
            Limiter::RegistrationTokenValidity => "regtoken.validity",
            Limiter::ThreepidAddress => "3pid.ip",
            Limiter::ThreepidEmail => "3pid.email",
            Limiter::UsernameAvailable => "username.available",
            Limiter::RegistrationSession => "register.session",
            Limiter::SsoRedirect => "sso.redirect",
            Limiter::RegistrationNonce => "register.nonce",
        }
    }

    fn settings(self, auth: &Auth) -> RateLimit {
        let c = &auth.config.rate_limits;
        match self {
            Limiter::LoginAddress => c.login_address,
            Limiter::LoginAccount => c.login_account,
            Limiter::FailedAttempts => c.login_failed_attempts,
            Limiter::Registration => c.registration,
            Limiter::RegistrationTokenValidity => c.registration_token_validity,
            Limiter::ThreepidAddress | Limiter::ThreepidEmail => c.threepid_validation,
            Limiter::UsernameAvailable => c.username_available,
            Limiter::RegistrationSession => c.registration_session,
            Limiter::SsoRedirect => c.sso_redirect,
            Limiter::RegistrationNonce => c.registration_nonce,
        }
    }
}

/// The key of a client address; requests whose address is unknown share one.
pub fn address_key(ip: Option<&str>) -> &str {
    ip.unwrap_or("unknown")
}

/// The bucket's row key. A long key (an email address, say) is hashed so
/// that what an anonymous caller makes the server store stays small.
fn bucket(limiter: Limiter, key: &str) -> String {
    if key.len() <= 128 {
        format!("{}:{key}", limiter.name())
    } else {
        format!("{}:#{}", limiter.name(), hex::encode(Sha256::digest(key)))
    }
}

fn spec(limit: RateLimit) -> BucketSpec {
    BucketSpec {
        per_second: limit.per_second,
        burst_count: limit.burst_count,
    }
}

/// Whether an offered action is counted when it fits.
#[derive(Clone, Copy)]
enum Offer {
    Take,
    Peek,
}

/// 429 M_LIMIT_EXCEEDED with how long to wait until one more action fits.
fn refused(state: BucketState, limit: RateLimit) -> Error {
    let excess = (state.level - (limit.burst_count - 1.0)).max(0.0);
    let wait_ms = (excess / limit.per_second * 1000.0).ceil().max(1.0);
    Error::limit_exceeded(wait_ms.min(u64::MAX as f64 / 2.0) as u64)
}

impl Auth {
    /// Checks and counts one action: 429 when the bucket is full (the
    /// refused action is not counted).
    pub async fn ratelimit(&self, limiter: Limiter, key: &str) -> Result<()> {
        self.offer(limiter, key, Offer::Take).await?.map_err(|e| *e)
    }

    /// Checks without counting: 429 when one more action would not fit.
    pub(crate) async fn ratelimit_check(&self, limiter: Limiter, key: &str) -> Result<()> {
        self.offer(limiter, key, Offer::Peek).await?.map_err(|e| *e)
    }

    /// Counts an action that has happened (a failure, a registration);
    /// a full bucket stays full and is no error here.
    pub(crate) async fn ratelimit_record(&self, limiter: Limiter, key: &str) -> Result<()> {
        self.offer(limiter, key, Offer::Take).await?.ok();
        Ok(())
    }

    /// Offers one action to the limiter's bucket for `key`: the outer
    /// error is the store's, the inner one the 429 of a full bucket.
    async fn offer(
        &self,
        limiter: Limiter,
        key: &str,
        how: Offer,
    ) -> Result<std::result::Result<(), Box<Error>>> {
        let limit = limiter.settings(self);
        let (bucket, spec, now) = (bucket(limiter, key), spec(limit), self.now());
        let state = match how {
            Offer::Take => {
                self.store
                    .rate_limits()
                    .ratelimit_take(&bucket, spec, 1.0, now)
                    .await?
            }
            Offer::Peek => {
                self.store
                    .rate_limits()
                    .ratelimit_peek(&bucket, spec, 1.0, now)
                    .await?
            }
        };
        if state.allowed {
            return Ok(Ok(()));
        }
        tracing::info!(limiter = limiter.name(), "rate limited");
        Ok(Err(Box::new(refused(state, limit))))
    }

    /// Runs `attempt` under the failed-attempts limiter of `key`: refused
    /// while the bucket is full, whatever the credentials; a failure
    /// (403 M_FORBIDDEN: bad credentials) is counted.
    pub(crate) async fn with_failed_attempts<T>(
        &self,
        key: Option<&str>,
        attempt: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        self.counting_failures(key, attempt, |outcome| {
            outcome.as_ref().is_err_and(is_credential_failure)
        })
        .await
    }

    /// [`Auth::with_failed_attempts`] where `failed` says which outcomes
    /// are failures.
    pub(crate) async fn counting_failures<T>(
        &self,
        key: Option<&str>,
        attempt: impl std::future::Future<Output = Result<T>>,
        failed: impl FnOnce(&Result<T>) -> bool,
    ) -> Result<T> {
        let Some(key) = key else {
            return attempt.await;
        };
        self.ratelimit_check(Limiter::FailedAttempts, key).await?;
        let outcome = attempt.await;
        if failed(&outcome) {
            self.ratelimit_record(Limiter::FailedAttempts, key).await?;
        }
        outcome
    }

    /// `rc_3pid_validation` for an email `requestToken`: per client
    /// address, and per email address when the body names a valid one.
    pub async fn limit_threepid_validation(
        &self,
        ip: Option<&str>,
        body: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        self.ratelimit(Limiter::ThreepidAddress, address_key(ip))
            .await?;
        let email = body
            .get("email")
            .and_then(serde_json::Value::as_str)
            .and_then(|e| super::threepids::canonicalise_email(e).ok());
        if let Some(email) = email {
            self.ratelimit(Limiter::ThreepidEmail, &email).await?;
        }
        Ok(())
    }

    /// Synapse's `override_ratelimit` admin API: the user's override, if
    /// any (`None` to read, `Some(Some(v))` to set, `Some(None)` to delete).
    /// Kept for the homeserver's limits on logged-in users; it lifts none
    /// of mxauth's (see the module's doc).
    pub async fn ratelimit_override(
        &self,
        requester: &super::Requester,
        user_id: &super::identifiers::UserId,
        change: Option<Option<RateLimitOverride>>,
    ) -> Result<Option<RateLimitOverride>> {
        super::admin::require_admin(requester)?;
        if !super::identifiers::is_local(user_id, self.server_name()) {
            return Err(override_not_local());
        }
        let user_id = user_id.as_str();
        if self.store.users().get_user(user_id).await?.is_none() {
            return Err(Error::not_found("User does not exist"));
        }
        match change {
            None => Ok(self
                .store
                .rate_limits()
                .get_ratelimit_override(user_id)
                .await?),
            Some(Some(value)) => {
                self.store
                    .rate_limits()
                    .set_ratelimit_override(user_id, value)
                    .await?;
                tracing::info!(admin = %requester.user_id, user_id, "rate-limit override set");
                Ok(Some(value))
            }
            Some(None) => {
                self.store
                    .rate_limits()
                    .delete_ratelimit_override(user_id)
                    .await?;
                Ok(None)
            }
        }
    }

    /// Deletes the buckets that have drained.
    pub async fn sweep_ratelimits(&self) -> Result<u64> {
        Ok(self
            .store
            .rate_limits()
            .sweep_ratelimit_buckets(self.now())
            .await?)
    }
}

/// Bad credentials, as every login and UIA stage answers them.
pub(crate) fn is_credential_failure(e: &Error) -> bool {
    matches!(
        e,
        Error::Matrix {
            status: 403,
            errcode: crate::error::ErrCode::Forbidden,
            ..
        }
    )
}

/// `override_ratelimit` of a user of another server, or of what is no
/// user ID at all.
pub fn override_not_local() -> Error {
    Error::invalid_param("Can only look up local users")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_are_hashed() {
        assert_eq!(
            bucket(Limiter::LoginAddress, "1.2.3.4"),
            "login.address:1.2.3.4"
        );
        let long = "a".repeat(500);
        let b = bucket(Limiter::ThreepidEmail, &long);
        assert!(b.starts_with("3pid.email:#") && b.len() < 100, "{b}");
        assert_ne!(b, bucket(Limiter::ThreepidEmail, &"b".repeat(500)));
    }

    #[test]
    fn the_wait_is_until_one_more_fits() {
        let limit = RateLimit::new(0.5, 3.0);
        let e = refused(
            BucketState {
                allowed: false,
                level: 3.0,
            },
            limit,
        );
        match e {
            Error::Matrix { status, extra, .. } => {
                assert_eq!(status, 429);
                assert_eq!(extra["retry_after_ms"], 2000);
            }
            other => panic!("{other:?}"),
        }
    }
}
