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
//! - `POST /oauth2/registration`: [`Limiter::OAuthClientRegistration`]
//!   (mxauth's) on every call, per address: each registration may be a
//!   row kept until it is pruned.
//! - OAuth 2.0 (mxauth's): `/authorize` counts
//!   [`Limiter::OAuthAuthorize`] per address for each grant it stores
//!   (and the device authorization endpoint for each device grant); the
//!   verification page counts [`Limiter::OAuthUserCode`] per address for
//!   each user code typed;
//!   the login page is `/login`'s password login (`LoginAddress`,
//!   `FailedAttempts`, and `LoginAccount` when the code is exchanged).
//! - Overrides (`override_ratelimit`) lift none of these: they are keyed
//!   on addresses or on users who are not logged in.

use super::Auth;
use crate::config::RateLimit;
use crate::store::{BucketSpec, BucketState, StoreError};
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
    /// OAuth 2.0 dynamic client registrations, per address.
    OAuthClientRegistration,
    /// OAuth 2.0 authorization requests, per address (each is a row).
    OAuthAuthorize,
    /// User codes typed at the device grant's verification page, per
    /// address (each a guess).
    OAuthUserCode,
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
            Limiter::OAuthClientRegistration => "oauth.registration",
            Limiter::OAuthAuthorize => "oauth.authorize",
            Limiter::OAuthUserCode => "oauth.user_code",
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
            Limiter::OAuthClientRegistration => c.oauth_client_registration,
            Limiter::OAuthAuthorize => c.oauth_authorize,
            Limiter::OAuthUserCode => c.oauth_user_code,
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
#[derive(Clone, Copy, PartialEq, Eq)]
enum Offer {
    Take,
    Peek,
    /// Taken after the fact (a failure, a registration): a full bucket
    /// refuses nothing now, so it is no refusal in the logs or metrics.
    Record,
}

/// A limit was reached: try again in `retry_after_ms` (429
/// M_LIMIT_EXCEEDED on the wire, with a `Retry-After` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitExceeded {
    pub retry_after_ms: u64,
}

/// How long to wait until one more action fits.
fn refused(state: BucketState, limit: RateLimit) -> LimitExceeded {
    let excess = (state.level - (limit.burst_count - 1.0)).max(0.0);
    let wait_ms = (excess / limit.per_second * 1000.0).ceil().max(1.0);
    LimitExceeded {
        retry_after_ms: wait_ms.min(u64::MAX as f64 / 2.0) as u64,
    }
}

impl Auth {
    /// Checks and counts one action (a refused one is not counted): the
    /// outer error is the store's, the inner one says the bucket is full.
    pub async fn ratelimit(
        &self,
        limiter: Limiter,
        key: &str,
    ) -> Result<Result<(), LimitExceeded>, StoreError> {
        self.offer(limiter, key, Offer::Take).await
    }

    /// Checks without counting: whether one more action would fit.
    pub(crate) async fn ratelimit_peek(
        &self,
        limiter: Limiter,
        key: &str,
    ) -> Result<Result<(), LimitExceeded>, StoreError> {
        self.offer(limiter, key, Offer::Peek).await
    }

    /// Counts an action that has happened (a failure, a registration);
    /// a full bucket stays full and is no error here.
    pub(crate) async fn ratelimit_record(
        &self,
        limiter: Limiter,
        key: &str,
    ) -> Result<(), StoreError> {
        self.offer(limiter, key, Offer::Record).await?.ok();
        Ok(())
    }

    /// Offers one action to the limiter's bucket for `key`: the outer
    /// error is the store's, the inner one says the bucket is full.
    async fn offer(
        &self,
        limiter: Limiter,
        key: &str,
        how: Offer,
    ) -> Result<Result<(), LimitExceeded>, StoreError> {
        let limit = limiter.settings(self);
        let (bucket, spec, now) = (bucket(limiter, key), spec(limit), self.now());
        let state = match how {
            Offer::Take | Offer::Record => {
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
        if how != Offer::Record {
            tracing::info!(limiter = limiter.name(), "rate limited");
            self.metrics.count_rate_limited(limiter.name());
        }
        Ok(Err(refused(state, limit)))
    }

    /// Runs `attempt` under the failed-attempts limiter of `key`: refused
    /// while the bucket is full, whatever the credentials; an outcome that
    /// `failed` says is one (bad credentials) is counted. `E` is the
    /// attempt's own error, which can say both "wait" and "store failed".
    pub(crate) async fn counting_failures<T, E>(
        &self,
        key: Option<&str>,
        attempt: impl std::future::Future<Output = Result<T, E>>,
        failed: impl FnOnce(&Result<T, E>) -> bool,
    ) -> Result<T, E>
    where
        E: From<LimitExceeded> + From<StoreError>,
    {
        let Some(key) = key else {
            return attempt.await;
        };
        self.offer(Limiter::FailedAttempts, key, Offer::Peek)
            .await??;
        let outcome = attempt.await;
        if failed(&outcome) {
            self.offer(Limiter::FailedAttempts, key, Offer::Record)
                .await?
                .ok();
        }
        outcome
    }

    /// `rc_3pid_validation` for an email `requestToken`: per client
    /// address, and per email address when the body names a valid one.
    pub async fn limit_threepid_validation(
        &self,
        ip: Option<&str>,
        body: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Result<(), LimitExceeded>, StoreError> {
        if let Err(wait) = self
            .ratelimit(Limiter::ThreepidAddress, address_key(ip))
            .await?
        {
            return Ok(Err(wait));
        }
        let email = body
            .get("email")
            .and_then(serde_json::Value::as_str)
            .and_then(|e| super::threepids::canonicalise_email(e).ok());
        if let Some(email) = email {
            return self.ratelimit(Limiter::ThreepidEmail, &email).await;
        }
        Ok(Ok(()))
    }

    /// Deletes the buckets that have drained.
    pub async fn sweep_ratelimits(&self) -> Result<u64, StoreError> {
        self.store
            .rate_limits()
            .sweep_ratelimit_buckets(self.now())
            .await
    }
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
        assert_eq!(
            e,
            LimitExceeded {
                retry_after_ms: 2000
            }
        );
    }
}
