//! What a server admin does to another user's devices and sessions:
//! Synapse's device admin API (`/_synapse/admin/v2/users/{user_id}/devices`
//! and `delete_devices`) and mxauth's session admin API
//! (`/_mxauth/admin/v1/users/{user_id}/sessions`, `puppet_tokens`).
//!
//! Each change is the one the user's own endpoint makes, through the same
//! repository calls and the same calls out: a device is deleted as
//! `DELETE /devices/{id}` deletes it (its access and refresh tokens, and so
//! the OAuth 2.0 session on it, go in one transaction; the homeserver gets
//! `delete_device` through its queue; the providers hear `on_logged_out`),
//! renamed as `PUT /devices/{id}` renames it (`update_device_display_name`),
//! and a device created here is created as a login creates one (upserted on
//! the homeserver). A session is a device: ending one is deleting it.
//!
//! The target user is checked once, by [`Auth::admin_target`]: the
//! requester is an admin, the user is of this server and exists. Every
//! rule here takes the [`AdminTarget`] that check gives, so none can run
//! without it, and the HTTP layer can read a body between the check and
//! the rule (Synapse's order: who asks, about whom, then what).

use super::admin::{require_admin, NotAdmin};
use super::identifiers::{is_local, DeviceId, OwnedUserId, UserId};
use super::session::SessionError;
use super::{check_device_display_name, Auth, DisplayNameTooLong, Requester};
use crate::store::{DeviceSession, DevicelessToken};

/// At most this many device IDs in one `delete_devices` (Synapse has no
/// bound; each ID is a statement and a call to the homeserver).
pub const MAX_DEVICES_PER_DELETE: usize = 1000;

/// Why an admin's request about a user's devices or sessions is refused.
#[derive(Debug)]
pub enum AdminDeviceError {
    /// See [`NotAdmin`].
    NotAdmin,
    /// What is no user ID at all (Synapse's `UserID.from_string` refuses
    /// it).
    MalformedUserId,
    /// A user of another server.
    RemoteUser,
    /// The same, asking to create a device (Synapse says it its own way).
    RemoteUserCreate,
    /// No such local user.
    UnknownUser,
    /// The user has no device of this ID.
    NoSuchDevice,
    /// The user has no session (device) of this ID.
    NoSuchSession,
    /// The user has no token without a device of this ID.
    NoSuchPuppetToken,
    /// The new display name is too long.
    DisplayNameTooLong(DisplayNameTooLong),
    /// More than [`MAX_DEVICES_PER_DELETE`] device IDs at once.
    TooManyDevices,
    /// Logged where it happened.
    Internal,
}

internal_error!(AdminDeviceError, store);

wrap_error!(DisplayNameTooLong => AdminDeviceError::DisplayNameTooLong);

impl From<NotAdmin> for AdminDeviceError {
    fn from(NotAdmin: NotAdmin) -> Self {
        AdminDeviceError::NotAdmin
    }
}

type Result<T> = std::result::Result<T, AdminDeviceError>;

/// A local user who exists, asked about by an admin: what
/// [`Auth::admin_target`] gives once it has checked both.
#[derive(Debug)]
pub struct AdminTarget {
    admin: OwnedUserId,
    user_id: OwnedUserId,
}

impl AdminTarget {
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }
}

/// What kind of login made a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// The Client-Server API's `/login` or `/register` (or a device an
    /// admin created): no OAuth 2.0 client.
    Legacy,
    /// An OAuth 2.0 grant: its tokens name the client.
    OAuth,
}

impl SessionKind {
    pub fn of(session: &DeviceSession) -> Self {
        match session.oauth_client_id {
            Some(_) => SessionKind::OAuth,
            None => SessionKind::Legacy,
        }
    }
}

/// A user's sessions: their devices, and their live tokens without a device.
#[derive(Debug)]
pub struct UserSessions {
    pub devices: Vec<DeviceSession>,
    pub puppet_tokens: Vec<DevicelessToken>,
}

impl Auth {
    /// The requester is an admin, `user_id` is of this server and exists:
    /// the target of the other rules here. `None` is what is no user ID at
    /// all (the path's, which `parse_user_id` refused), 400
    /// `M_INVALID_PARAM`; a user of another server, `remote` (one message
    /// per endpoint, as Synapse's); both only once the requester is known
    /// to be an admin.
    pub async fn admin_target(
        &self,
        requester: &Requester,
        user_id: Option<&UserId>,
        remote: AdminDeviceError,
    ) -> Result<AdminTarget> {
        require_admin(requester)?;
        let user_id = user_id.ok_or(AdminDeviceError::MalformedUserId)?;
        if !is_local(user_id, self.server_name()) {
            return Err(remote);
        }
        if self
            .store
            .users()
            .get_user(user_id.as_str())
            .await?
            .is_none()
        {
            return Err(AdminDeviceError::UnknownUser);
        }
        Ok(AdminTarget {
            admin: requester.user_id.clone(),
            user_id: user_id.to_owned(),
        })
    }

    /// The user's devices, by device ID, with what was last seen of each.
    pub async fn admin_list_devices(&self, target: &AdminTarget) -> Result<Vec<DeviceSession>> {
        Ok(self
            .store
            .devices()
            .list_device_sessions(target.user_id.as_str(), None)
            .await?)
    }

    /// One device of the user.
    pub async fn admin_get_device(
        &self,
        target: &AdminTarget,
        device_id: &str,
    ) -> Result<DeviceSession> {
        self.store
            .devices()
            .list_device_sessions(target.user_id.as_str(), Some(device_id))
            .await?
            .into_iter()
            .next()
            .ok_or(AdminDeviceError::NoSuchDevice)
    }

    /// Creates the device unless the user has it (then nothing changes);
    /// a new one is upserted on the homeserver, whose queue keeps the call
    /// if it is away. `true` when the device is new.
    #[tracing::instrument(skip_all, fields(user_id = %target.user_id))]
    pub async fn admin_create_device(
        &self,
        target: &AdminTarget,
        device_id: &DeviceId,
    ) -> Result<bool> {
        let user_id = target.user_id.as_str();
        let created = self
            .store
            .devices()
            .ensure_device(user_id, device_id, None, Some(self.now()))
            .await?;
        if !created {
            return Ok(false);
        }
        tracing::info!(admin = %target.admin, "device created by an admin");
        match self.provision_session(user_id, device_id, None).await {
            Ok(()) => Ok(true),
            // The device is made; the homeserver gets it from the queue.
            Err(SessionError::HomeserverUnreachable) => Ok(true),
            Err(e) => Err(AdminDeviceError::internal(format!(
                "upserting a device on the homeserver: {e:?}"
            ))),
        }
    }

    /// Renames the device (`None`: leaves it as it is), and the homeserver's
    /// copy of it.
    #[tracing::instrument(skip_all, fields(user_id = %target.user_id))]
    pub async fn admin_rename_device(
        &self,
        target: &AdminTarget,
        device_id: &str,
        display_name: Option<&str>,
    ) -> Result<()> {
        let user_id = target.user_id.as_str();
        let Some(name) = display_name else {
            // Nothing to change, but the device must exist.
            return self.admin_get_device(target, device_id).await.map(|_| ());
        };
        check_device_display_name(name)?;
        if !self
            .store
            .devices()
            .set_device_display_name(user_id, device_id, Some(name))
            .await?
        {
            return Err(AdminDeviceError::NoSuchDevice);
        }
        self.rename_device_on_homeserver(user_id, device_id, Some(name))
            .await?;
        Ok(())
    }

    /// Deletes the devices, as the user's own deletion does: their access
    /// and refresh tokens go with them, the homeserver and the providers
    /// are told. IDs the user has no device of are ignored. Returns the
    /// IDs of the devices that went.
    #[tracing::instrument(skip_all, fields(user_id = %target.user_id, count = device_ids.len()))]
    pub async fn admin_delete_devices(
        &self,
        target: &AdminTarget,
        device_ids: &[String],
    ) -> Result<Vec<String>> {
        if device_ids.len() > MAX_DEVICES_PER_DELETE {
            return Err(AdminDeviceError::TooManyDevices);
        }
        let deleted = self
            .delete_devices_everywhere(target.user_id.as_str(), device_ids)
            .await?;
        tracing::info!(admin = %target.admin, deleted = deleted.len(), "devices deleted by an admin");
        Ok(deleted)
    }

    /// The user's sessions: every device (a legacy login or an OAuth 2.0
    /// session) and every token without a device that is still valid.
    pub async fn admin_list_sessions(&self, target: &AdminTarget) -> Result<UserSessions> {
        let user_id = target.user_id.as_str();
        let devices = self
            .store
            .devices()
            .list_device_sessions(user_id, None)
            .await?;
        let now = self.now();
        let puppet_tokens = self
            .store
            .devices()
            .list_deviceless_tokens(user_id)
            .await?
            .into_iter()
            .filter(|t| t.valid_until_ts.is_none_or(|until| until > now))
            .collect();
        Ok(UserSessions {
            devices,
            puppet_tokens,
        })
    }

    /// Ends the session on `session_id` (a device ID) as deleting the
    /// device does.
    #[tracing::instrument(skip_all, fields(user_id = %target.user_id))]
    pub async fn admin_end_session(&self, target: &AdminTarget, session_id: &str) -> Result<()> {
        if !self
            .end_session(target.user_id.as_str(), session_id)
            .await?
        {
            return Err(AdminDeviceError::NoSuchSession);
        }
        tracing::info!(admin = %target.admin, "session ended by an admin");
        Ok(())
    }

    /// Ends the user's token without a device `token_id` (a puppet token),
    /// as `POST /logout` with it would: the providers hear of it (without
    /// the token, which is not kept); the homeserver has no device to
    /// forget.
    #[tracing::instrument(skip_all, fields(user_id = %target.user_id))]
    pub async fn admin_end_puppet_token(&self, target: &AdminTarget, token_id: i64) -> Result<()> {
        let user_id = target.user_id.as_str();
        if !self
            .store
            .devices()
            .delete_deviceless_token(user_id, token_id)
            .await?
        {
            return Err(AdminDeviceError::NoSuchPuppetToken);
        }
        if !self.providers.is_empty() {
            self.providers.on_logged_out(user_id, &[None], None).await;
        }
        tracing::info!(admin = %target.admin, token_id, "token without a device ended by an admin");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(client: Option<&str>) -> DeviceSession {
        DeviceSession {
            device_id: "D".into(),
            display_name: None,
            created_ts: None,
            last_seen_ts: None,
            last_seen_ip: None,
            last_user_agent: None,
            oauth_client_id: client.map(str::to_owned),
        }
    }

    #[test]
    fn a_session_with_a_client_is_an_oauth_one() {
        assert_eq!(SessionKind::of(&session(None)), SessionKind::Legacy);
        assert_eq!(SessionKind::of(&session(Some("app"))), SessionKind::OAuth);
    }

    #[test]
    fn a_500_stays_bare() {
        assert!(matches!(
            AdminDeviceError::internal("cause"),
            AdminDeviceError::Internal
        ));
    }
}
