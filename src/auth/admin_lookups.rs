//! The admin API's lookups: whether a username is free
//! (`/_synapse/admin/v1/username_available`), and whose an external
//! identity (`auth_providers/{provider}/users/{external_id}`) or a 3PID
//! (`threepid/{medium}/users/{address}`) is. Admins only.

use super::admin::{require_admin, NotAdmin};
use super::register::RegisterError;
use super::threepids::{canonicalise_email, MEDIUM_EMAIL};
use super::{Auth, Requester};

/// Why a lookup is refused.
#[derive(Debug)]
pub enum LookupError {
    /// See [`NotAdmin`].
    NotAdmin,
    /// No user has this external identity or 3PID.
    UserNotFound,
    /// The username is not available: the registration's reason (its
    /// characters, taken, an application service's).
    Username(RegisterError),
    /// Logged where it happened.
    Internal,
}

internal_error!(LookupError, store);

wrap_error!(RegisterError => LookupError::Username, RegisterError::Internal);

impl From<NotAdmin> for LookupError {
    fn from(NotAdmin: NotAdmin) -> Self {
        LookupError::NotAdmin
    }
}

type Result<T> = std::result::Result<T, LookupError>;

impl Auth {
    /// Whether `localpart` could be registered, by the registration's own
    /// check (`/register/available`'s), whether registration is enabled
    /// or not. The name is taken as given: Synapse does not lower-case it
    /// here, so a capital letter is an invalid username.
    pub async fn admin_username_available(
        &self,
        requester: &Requester,
        localpart: &str,
    ) -> Result<()> {
        require_admin(requester)?;
        Ok(self.check_username_available(localpart).await?)
    }

    /// The user an upstream identity is linked to.
    pub async fn admin_user_by_external_id(
        &self,
        requester: &Requester,
        auth_provider: &str,
        external_id: &str,
    ) -> Result<String> {
        require_admin(requester)?;
        self.store
            .sso()
            .get_user_by_external_id(auth_provider, external_id)
            .await?
            .ok_or(LookupError::UserNotFound)
    }

    /// The user a 3PID is bound to. An email is looked up as given (as
    /// Synapse does, which finds rows an older Synapse stored as they were
    /// typed) and then, if that differs, as mxauth stores it (canonical:
    /// trimmed and lower-cased), so `Alice@Example.org` finds
    /// `alice@example.org`. Other media are looked up as given.
    pub async fn admin_user_by_threepid(
        &self,
        requester: &Requester,
        medium: &str,
        address: &str,
    ) -> Result<String> {
        require_admin(requester)?;
        let threepids = || self.store.threepids();
        if let Some(user_id) = threepids().get_user_by_threepid(medium, address).await? {
            return Ok(user_id);
        }
        if medium == MEDIUM_EMAIL {
            if let Ok(canonical) = canonicalise_email(address) {
                if canonical != address {
                    if let Some(user_id) =
                        threepids().get_user_by_threepid(medium, &canonical).await?
                    {
                        return Ok(user_id);
                    }
                }
            }
        }
        Err(LookupError::UserNotFound)
    }
}
