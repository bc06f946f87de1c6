//! Auth blocking (Synapse's `check_auth_blocking`): with `hs_disabled`, or
//! once `max_mau_value` users are monthly-active under
//! `limit_usage_by_mau`, new tokens and registrations are refused with 403
//! M_RESOURCE_LIMIT_EXCEEDED, a `limit_type` and the `admin_contact`.
//!
//! Exempt: the server-notices user, support users, and users registered
//! by an application service unless `track_appservice_user_ips`. Under the
//! monthly limit, users already counted as active and users still in
//! their trial (`mau_trial_days`, `mau_appservice_trial_days`) pass, and so
//! does a registration with a reserved address (`mau_limit_reserved_threepids`)
//! or of a support user. Bots are not exempt.

use super::Auth;
use crate::store::User;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Why auth blocking refuses a new token or account (on the wire 403
/// M_RESOURCE_LIMIT_EXCEEDED with its `limit_type` and `admin_contact`).
#[derive(Debug)]
pub enum Blocked {
    /// `hs_disabled`: the server is closed, with the admin's message.
    ServerDisabled {
        message: String,
        admin_contact: Option<String>,
    },
    /// `limit_usage_by_mau`: the month's active users are at `max_mau_value`.
    MonthlyActiveUsers { admin_contact: Option<String> },
    /// Logged where it happened.
    Internal,
}

internal_error!(Blocked, store);

type Result<T> = std::result::Result<T, Blocked>;

/// Who is asking for a token or an account.
#[derive(Debug, Clone, Copy)]
enum Subject<'a> {
    /// An existing user, about to get a token.
    User(&'a str),
    /// Someone registering: the address they validated, the user type asked for.
    Newcomer {
        threepid: Option<(&'a str, &'a str)>,
        user_type: Option<&'a str>,
    },
}

impl Auth {
    /// Whether `user_id` may get a new token (login, registration's token,
    /// puppet token); `None` for a user yet to be created.
    pub(crate) async fn check_auth_blocking(&self, user_id: Option<&str>) -> Result<()> {
        let subject = match user_id {
            Some(u) => Subject::User(u),
            None => Subject::Newcomer {
                threepid: None,
                user_type: None,
            },
        };
        self.check_blocking(subject).await
    }

    /// Whether an account may be created, for someone who validated
    /// `threepid` (medium, address), of `user_type`.
    pub(crate) async fn check_registration_blocking(
        &self,
        threepid: Option<(&str, &str)>,
        user_type: Option<&str>,
    ) -> Result<()> {
        self.check_blocking(Subject::Newcomer {
            threepid,
            user_type,
        })
        .await
    }

    /// `hs_disabled` alone: checked before a registration's first stage,
    /// when nothing is known of the newcomer yet.
    pub(crate) fn check_hs_disabled(&self) -> Result<()> {
        if self.config.hs_disabled {
            return Err(self.hs_disabled_error());
        }
        Ok(())
    }

    async fn check_blocking(&self, subject: Subject<'_>) -> Result<()> {
        let usage = &self.config.usage;
        if !self.config.hs_disabled && !usage.limit_usage_by_mau {
            return Ok(());
        }
        let mut user = None;
        if let Subject::User(user_id) = subject {
            if self.config.server_notices_user_id().as_deref() == Some(user_id) {
                return Ok(());
            }
            let found = self.store.users().get_user(user_id).await?;
            if let Some(u) = &found {
                if u.user_type.as_deref() == Some("support") {
                    return Ok(());
                }
                if u.appservice_id.is_some() && !usage.track_appservice_user_ips {
                    return Ok(());
                }
            }
            user = found;
        }
        if self.config.hs_disabled {
            return Err(self.hs_disabled_error());
        }
        match subject {
            Subject::User(user_id) => {
                if self.store.usage().mau_last_seen(user_id).await?.is_some() {
                    return Ok(());
                }
                if user.as_ref().is_some_and(|u| self.is_trial_user(u)) {
                    return Ok(());
                }
            }
            Subject::Newcomer {
                threepid,
                user_type,
            } => {
                if threepid.is_some_and(|(m, a)| usage.is_reserved_threepid(m, a)) {
                    return Ok(());
                }
                if user_type == Some("support") {
                    return Ok(());
                }
            }
        }
        let active = self.monthly_active_users().await?;
        if u64::try_from(active).unwrap_or(0) >= usage.max_mau_value {
            return Err(Blocked::MonthlyActiveUsers {
                admin_contact: self.config.admin_contact.clone(),
            });
        }
        Ok(())
    }

    /// Whether the user is still in the trial that `mau_trial_days` (or,
    /// for a service's users, `mau_appservice_trial_days`) grants.
    pub(crate) fn is_trial_user(&self, user: &User) -> bool {
        let usage = &self.config.usage;
        let days = user
            .appservice_id
            .as_ref()
            .and_then(|id| usage.mau_appservice_trial_days.get(id))
            .copied()
            .unwrap_or(usage.mau_trial_days);
        let days = i64::try_from(days).unwrap_or(i64::MAX / DAY_MS);
        self.now() - user.created_ts < days.saturating_mul(DAY_MS)
    }

    fn hs_disabled_error(&self) -> Blocked {
        Blocked::ServerDisabled {
            message: self.config.hs_disabled_message.clone(),
            admin_contact: self.config.admin_contact.clone(),
        }
    }
}
