//! Devices: list, read, rename, delete (behind UIA), logout. The rules
//! answer with [`DeviceError`]; the HTTP layer renders it
//! (`http/error/devices.rs`).

use super::uia::{Reauth, UiaError};
use super::{check_device_display_name, Auth, DisplayNameTooLong, Requester};
use crate::store::{Device, StoreResult};
use serde_json::json;

/// Why a device rule refuses.
#[derive(Debug)]
pub enum DeviceError {
    /// The user has no device of this ID (another user's is unknown too).
    NotFound,
    /// The new display name is too long.
    DisplayNameTooLong(DisplayNameTooLong),
    /// The UIA engine's answer to a deletion (the challenge, a failed
    /// stage, an unknown session).
    Uia(UiaError),
    /// Logged where it happened.
    Internal,
}

internal_error!(DeviceError, store);

wrap_error!(DisplayNameTooLong => DeviceError::DisplayNameTooLong);

wrap_error!(UiaError => DeviceError::Uia, UiaError::Internal);

type Result<T> = std::result::Result<T, DeviceError>;

impl Auth {
    pub async fn list_devices(&self, requester: &Requester) -> Result<Vec<Device>> {
        Ok(self
            .store
            .devices()
            .list_devices(requester.user_id.as_str())
            .await?)
    }

    pub async fn get_device(&self, requester: &Requester, device_id: &str) -> Result<Device> {
        self.store
            .devices()
            .get_device(requester.user_id.as_str(), device_id)
            .await?
            .ok_or(DeviceError::NotFound)
    }

    pub async fn rename_device(
        &self,
        requester: &Requester,
        device_id: &str,
        display_name: Option<&str>,
    ) -> Result<()> {
        if let Some(name) = display_name {
            check_device_display_name(name)?;
        }
        if !self
            .store
            .devices()
            .set_device_display_name(requester.user_id.as_str(), device_id, display_name)
            .await?
        {
            return Err(DeviceError::NotFound);
        }
        Ok(self
            .rename_device_on_homeserver(requester.user_id.as_str(), device_id, display_name)
            .await?)
    }

    /// `DELETE /devices/{id}` and `POST /delete_devices`: behind UIA.
    /// Deleting a device kills its tokens. Unknown devices are ignored.
    #[tracing::instrument(skip_all, fields(count = device_ids.len()))]
    pub async fn delete_devices(&self, req: Reauth<'_>, device_ids: &[String]) -> Result<()> {
        let passed = self.reauthenticate(&req, &[], true).await?;
        if passed.previous_result.is_some() {
            return Ok(());
        }
        self.delete_devices_everywhere(req.requester.user_id.as_str(), device_ids)
            .await?;
        self.finish_uia(&passed.session_id, &json!({ "deleted": device_ids }))
            .await?;
        Ok(())
    }

    /// `POST /logout`: the token (`access_token`, the requester's) and
    /// its device go.
    pub async fn logout(&self, requester: &Requester, access_token: &str) -> Result<()> {
        match &requester.device_id {
            Some(device) => {
                let deleted = self
                    .store
                    .devices()
                    .delete_devices(requester.user_id.as_str(), &[device.to_string()])
                    .await?;
                self.forget_devices_on_homeserver(requester.user_id.as_str(), &deleted)
                    .await?;
            }
            None => {
                self.store
                    .access_tokens()
                    .delete_access_token(requester.token_id)
                    .await?
            }
        }
        // The token may also have no device row (e.g. a puppet token).
        self.store
            .access_tokens()
            .delete_access_token(requester.token_id)
            .await?;
        match &requester.device_id {
            Some(device) => {
                self.providers_logged_out(
                    requester.user_id.as_str(),
                    &[device.to_string()],
                    Some(access_token),
                )
                .await
            }
            None => {
                self.providers_logged_out_deviceless(requester.user_id.as_str(), access_token)
                    .await
            }
        }
        Ok(())
    }

    /// `POST /logout/all`: every token and device of the user.
    pub async fn logout_all(&self, requester: &Requester) -> Result<()> {
        self.end_all_sessions(requester.user_id.as_str()).await?;
        Ok(())
    }

    /// Deletes the user's devices `device_ids` with their tokens (IDs the
    /// user has no device of are ignored), then tells the homeserver and
    /// the providers: the user's own deletion and an admin's. Returns the
    /// IDs of the devices that went.
    pub(crate) async fn delete_devices_everywhere(
        &self,
        user_id: &str,
        device_ids: &[String],
    ) -> StoreResult<Vec<String>> {
        let deleted = self
            .store
            .devices()
            .delete_devices(user_id, device_ids)
            .await?;
        self.forget_devices_on_homeserver(user_id, &deleted).await?;
        self.providers_logged_out(user_id, &deleted, None).await;
        Ok(deleted)
    }

    /// Ends every session of the user (devices, access and refresh
    /// tokens), then tells the homeserver and the providers: `/logout/all`
    /// and an admin's `kill-sessions`. Returns the IDs of the devices that
    /// went.
    pub(crate) async fn end_all_sessions(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let deleted = self
            .store
            .devices()
            .delete_all_devices_except(user_id, None, None)
            .await?;
        self.forget_devices_on_homeserver(user_id, &deleted).await?;
        self.providers_logged_out(user_id, &deleted, None).await;
        Ok(deleted)
    }
}
