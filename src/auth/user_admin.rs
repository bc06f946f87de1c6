//! What a server admin does to an account, whatever the way in: today the
//! command line (`mxauth manage ...`, `crate::cli`), next Synapse's user
//! admin API. Each change is the rule the user's own endpoint uses (a
//! password through `set_new_password`, sessions ended as `/logout/all`
//! ends them), so the homeserver and the providers hear of it the same way.

use super::identifiers::{qualify, DeviceId};
use super::policy::{check_new_password, PasswordPolicyError};
use super::session::{SessionError, SessionOptions};
use super::{Auth, Session};
use crate::store::{StoreResult, User};

/// Why an admin's change is refused.
#[derive(Debug)]
pub enum UserAdminError {
    /// No such user on this server (or another server's user ID).
    NoSuchUser(String),
    /// The account is deactivated: it cannot get a session.
    Deactivated,
    /// The account is not deactivated: there is nothing to reactivate.
    Active,
    /// The account is locked: a session would be refused at every request.
    Locked,
    /// A token for an admin was asked without saying so
    /// (`--allow-admin`): an admin's token can do anything.
    IsAdmin,
    /// The new password is not allowed by the policy.
    WeakPassword(PasswordPolicyError),
    /// The password cannot be hashed (too long, the queue full).
    Hash(super::password::HashError),
    /// No session could be opened.
    Session(SessionError),
    /// An admin asked to stop being one.
    DemoteSelf,
    /// Passwords are off (`password_config`): none can be set.
    PasswordChangeDisabled,
    /// A 3PID to bind is bound to another account.
    ThreepidInUse,
    /// An external ID to link is linked to another account.
    ExternalIdInUse,
    /// An email address that does not parse.
    InvalidEmail,
    /// A 3PID medium other than `email` and `msisdn`.
    InvalidMedium(String),
    /// A user list's `from` token is not one this order made.
    BadListToken,
    /// The name of a new user is refused (its characters, taken,
    /// reserved).
    Register(super::register::RegisterError),
    /// Logged where it happened.
    Internal,
}

internal_error!(UserAdminError, store);

wrap_error!(PasswordPolicyError => UserAdminError::WeakPassword);

wrap_error!(SessionError => UserAdminError::Session, SessionError::Internal);

impl std::fmt::Display for UserAdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserAdminError::NoSuchUser(u) => write!(f, "there is no user {u} on this server"),
            UserAdminError::Deactivated => f.write_str("the account is deactivated"),
            UserAdminError::Active => f.write_str("the account is not deactivated"),
            UserAdminError::Locked => f.write_str("the account is locked (unlock-user first)"),
            UserAdminError::IsAdmin => f.write_str(
                "the user is a server admin: say --allow-admin to issue a token that can do anything",
            ),
            UserAdminError::WeakPassword(e) => write!(f, "{e}"),
            UserAdminError::Hash(e) => write!(f, "{e}"),
            UserAdminError::Session(e) => write!(f, "no session: {e:?}"),
            UserAdminError::DemoteSelf => f.write_str("you may not demote yourself"),
            UserAdminError::PasswordChangeDisabled => f.write_str("password change disabled"),
            UserAdminError::ThreepidInUse => f.write_str("the address is bound to another account"),
            UserAdminError::ExternalIdInUse => f.write_str("external id is already in use"),
            UserAdminError::InvalidEmail => f.write_str("unable to parse email address"),
            UserAdminError::InvalidMedium(m) => write!(f, "{m:?} is not a valid value for 'medium'"),
            UserAdminError::BadListToken => f.write_str("the 'from' token is not valid here"),
            UserAdminError::Register(e) => write!(f, "{e:?}"),
            UserAdminError::Internal => f.write_str("internal error (see the log)"),
        }
    }
}

type Result<T> = std::result::Result<T, UserAdminError>;

impl Auth {
    /// The account `user` names (a localpart or a user ID of this server).
    pub async fn admin_find_user(&self, user: &str) -> Result<User> {
        let user_id = qualify(user, self.server_name())
            .ok_or_else(|| UserAdminError::NoSuchUser(user.to_owned()))?;
        self.store
            .users()
            .get_user(&user_id)
            .await?
            .ok_or(UserAdminError::NoSuchUser(user_id))
    }

    /// Sets the user's password (under the password policy unless
    /// `ignore_policy`); with `logout_devices` every session of the user
    /// ends, as after `POST /account/password`.
    pub async fn admin_set_password(
        &self,
        user: &str,
        password: &str,
        ignore_policy: bool,
        logout_devices: bool,
    ) -> Result<User> {
        let found = self.admin_find_user(user).await?;
        if !ignore_policy {
            check_new_password(&self.config.password_config.policy, password)?;
        }
        let hash = self
            .hash_password(password)
            .await
            .map_err(UserAdminError::Hash)?;
        self.set_new_password(&found.user_id, &hash, logout_devices, None, None)
            .await?;
        tracing::info!(user_id = %found.user_id, logout_devices, "password set by an admin");
        Ok(found)
    }

    /// Ends every session of the user (devices, access and refresh
    /// tokens), as `POST /logout/all`: how many devices went.
    pub async fn admin_end_sessions(&self, user: &str) -> Result<(User, usize)> {
        let found = self.admin_find_user(user).await?;
        let deleted = self.end_all_sessions(&found.user_id).await?;
        tracing::info!(user_id = %found.user_id, devices = deleted.len(), "sessions ended by an admin");
        Ok((found, deleted.len()))
    }

    /// Makes the user a server admin, or not. (A delegating homeserver
    /// learns it from introspection: the `urn:synapse:admin:*` scope.)
    pub async fn admin_set_admin(&self, user: &str, admin: bool) -> Result<User> {
        let found = self.admin_find_user(user).await?;
        self.store.users().set_admin(&found.user_id, admin).await?;
        tracing::info!(user_id = %found.user_id, admin, "admin flag set");
        Ok(found)
    }

    /// Locks the account, or unlocks it: a locked user's tokens answer 401
    /// `M_USER_LOCKED` (with `soft_logout`), its logins and the pages
    /// refuse it, until it is unlocked; nothing is deleted.
    pub async fn admin_set_locked(&self, user: &str, locked: bool) -> Result<User> {
        let found = self.admin_find_user(user).await?;
        self.store
            .users()
            .set_locked(&found.user_id, locked)
            .await?;
        self.lock_on_homeserver(&found.user_id, locked).await?;
        tracing::info!(user_id = %found.user_id, locked, "lock set by an admin");
        Ok(found)
    }

    /// Deactivates the account as `/account/deactivate` does (sessions,
    /// tokens, addresses and the password go; the ID stays taken; a
    /// delegating homeserver is told, with `erase`).
    pub async fn admin_deactivate(&self, user: &str, erase: bool) -> Result<User> {
        let found = self.admin_find_user(user).await?;
        if found.deactivated {
            return Err(UserAdminError::Deactivated);
        }
        self.deactivate_everywhere(&found.user_id, erase).await?;
        tracing::info!(user_id = %found.user_id, erase, "account deactivated by an admin");
        Ok(found)
    }

    /// Makes a deactivated account active again, as Synapse's admin API
    /// does: without a password or an address (deactivation removed them;
    /// `admin_set_password` gives one); a delegating homeserver is told
    /// (`reactivate_user`).
    pub async fn admin_reactivate(&self, user: &str) -> Result<User> {
        let found = self.admin_find_user(user).await?;
        if !found.deactivated {
            return Err(UserAdminError::Active);
        }
        // Synapse's deactivation removes the password; here the hash is
        // kept while deactivated (and refused), so it goes now: the
        // account comes back without one either way.
        self.store.users().set_reactivated(&found.user_id).await?;
        self.reactivate_on_homeserver(&found.user_id).await?;
        tracing::info!(user_id = %found.user_id, "account reactivated by an admin");
        Ok(found)
    }

    /// The server admins' user IDs, in order.
    pub async fn list_admins(&self) -> StoreResult<Vec<String>> {
        self.store.users().list_admins().await
    }

    /// A session for the user (a bot, say) on `device_id` (a new device
    /// if `None`), as a login makes one; an admin's only with
    /// `allow_admin`.
    pub async fn admin_issue_session(
        &self,
        user: &str,
        device_id: Option<DeviceId>,
        allow_admin: bool,
    ) -> Result<(User, Session)> {
        let found = self.admin_find_user(user).await?;
        if found.deactivated {
            return Err(UserAdminError::Deactivated);
        }
        if found.locked {
            return Err(UserAdminError::Locked);
        }
        if found.admin && !allow_admin {
            return Err(UserAdminError::IsAdmin);
        }
        let session = self
            .start_login_session(
                &found.user_id,
                None,
                device_id,
                Some("mxauth manage issue-access-token"),
                &SessionOptions::default(),
            )
            .await?;
        tracing::info!(user_id = %found.user_id, device_id = %session.device_id, "access token issued by an admin");
        Ok((found, session))
    }
}
