//! Sessions: a device and an access token for a user whose credentials
//! were checked (login, registration, SSO, the admin API), after auth
//! blocking and `rc_login.account`, once the homeserver knows the device.

use super::blocking::Blocked;
use super::identifiers::DeviceId;
use super::ratelimit::{LimitExceeded, Limiter};
use super::tokens::IssuedToken;
use super::{check_device_display_name, writes, Auth, DisplayNameTooLong, Session};

/// Why no session is opened.
#[derive(Debug)]
pub enum SessionError {
    /// `rc_login.account`: too many logins of this user.
    LimitExceeded(LimitExceeded),
    /// Auth blocking refuses the user a new token.
    Blocked(Blocked),
    DisplayNameTooLong,
    /// The homeserver could not be told of the device in time (the calls
    /// stay queued).
    HomeserverUnreachable,
    /// The user was deactivated meanwhile.
    Deactivated,
    /// The password changed since the one that logged in was checked.
    CredentialsChanged,
    /// Logged where it happened.
    Internal,
}

internal_error!(SessionError, store);

wrap_error!(Blocked => SessionError::Blocked, Blocked::Internal);

wrap_error!(LimitExceeded => SessionError::LimitExceeded);

impl From<DisplayNameTooLong> for SessionError {
    fn from(_: DisplayNameTooLong) -> Self {
        SessionError::DisplayNameTooLong
    }
}

impl Auth {
    /// Makes sure the device exists and issues an access token for it,
    /// unless auth blocking refuses the user a new token.
    pub(crate) async fn start_session(
        &self,
        user_id: &str,
        device_id: Option<DeviceId>,
        display_name: Option<&str>,
    ) -> Result<Session, SessionError> {
        self.check_auth_blocking(Some(user_id)).await?;
        self.open_session_checked(user_id, None, device_id, display_name)
            .await
    }

    /// [`Auth::start_session`] for a login: counted by `rc_login.account`
    /// (per user, lower-cased) once the credentials are good. A password
    /// login passes the credentials version it verified: no token if the
    /// password changed meanwhile.
    pub(crate) async fn start_login_session(
        &self,
        user_id: &str,
        credentials_version: Option<i64>,
        device_id: Option<DeviceId>,
        display_name: Option<&str>,
    ) -> Result<Session, SessionError> {
        self.ratelimit(Limiter::LoginAccount, &user_id.to_lowercase())
            .await??;
        self.check_auth_blocking(Some(user_id)).await?;
        self.open_session_checked(user_id, credentials_version, device_id, display_name)
            .await
    }

    /// [`Auth::start_session`] without auth blocking: for the admin API.
    pub(crate) async fn open_session(
        &self,
        user_id: &str,
        device_id: Option<DeviceId>,
        display_name: Option<&str>,
    ) -> Result<Session, SessionError> {
        self.open_session_checked(user_id, None, device_id, display_name)
            .await
    }

    async fn open_session_checked(
        &self,
        user_id: &str,
        credentials_version: Option<i64>,
        device_id: Option<DeviceId>,
        display_name: Option<&str>,
    ) -> Result<Session, SessionError> {
        if let Some(name) = display_name {
            check_device_display_name(name)?;
        }
        let device_id = match device_id {
            Some(d) => d.into_string(),
            None => self.new_device_id(),
        };
        let created = self
            .store
            .devices()
            .ensure_device(user_id, &device_id, display_name)
            .await?;
        self.provision_session(user_id, &device_id, display_name.filter(|_| created))
            .await?;
        match self
            .issue_access_token(user_id, &device_id, credentials_version)
            .await
        {
            Ok((access_token, valid_until_ts)) => Ok(Session {
                user_id: user_id.to_owned(),
                device_id,
                access_token,
                valid_until_ts,
            }),
            Err(e) => {
                if created {
                    // The device was made for this session only.
                    self.store
                        .devices()
                        .delete_devices(user_id, std::slice::from_ref(&device_id))
                        .await?;
                }
                Err(e)
            }
        }
    }

    /// A new access token for a device the homeserver knows (and when it
    /// expires, `session_lifetime`), unless the
    /// user was deactivated or (with `credentials_version`) changed their
    /// password since: then 403 as for any login of a deactivated user or
    /// with a wrong password.
    pub(crate) async fn issue_access_token(
        &self,
        user_id: &str,
        device_id: &str,
        credentials_version: Option<i64>,
    ) -> Result<(IssuedToken, Option<i64>), SessionError> {
        let (token, row) = self.new_access_token(user_id, device_id);
        let created = writes::create_session_token(&*self.store, &row, credentials_version).await?;
        if created.is_some() {
            return Ok((token, row.valid_until_ts));
        }
        let deactivated = self
            .store
            .users()
            .get_user(user_id)
            .await?
            .is_none_or(|u| u.deactivated);
        Err(if deactivated {
            SessionError::Deactivated
        } else {
            SessionError::CredentialsChanged
        })
    }
}
