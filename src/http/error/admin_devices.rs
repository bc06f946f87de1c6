//! The device and session admin APIs' refusals ([`AdminDeviceError`]) as
//! Matrix errors: Synapse's statuses, errcodes and messages where Synapse
//! has the endpoint.

use crate::auth::admin::NotAdmin;
use crate::auth::admin_devices::{AdminDeviceError, MAX_DEVICES_PER_DELETE};
use crate::error::{ErrCode, Error};

impl From<AdminDeviceError> for Error {
    fn from(e: AdminDeviceError) -> Self {
        match e {
            AdminDeviceError::NotAdmin => NotAdmin.into(),
            AdminDeviceError::MalformedUserId => {
                Error::invalid_param("Expected UserID of the form '@localname:domain'")
            }
            AdminDeviceError::RemoteUser => {
                Error::new(400, ErrCode::Unknown, "Can only lookup local users")
            }
            AdminDeviceError::RemoteUserCreate => Error::new(
                400,
                ErrCode::Unknown,
                "Can only create devices for local users",
            ),
            AdminDeviceError::UnknownUser => Error::not_found("Unknown user"),
            // Synapse's `NotFoundError()`: its default message.
            AdminDeviceError::NoSuchDevice => Error::not_found("Not found"),
            AdminDeviceError::NoSuchSession => Error::not_found("No such session"),
            AdminDeviceError::NoSuchPuppetToken => Error::not_found("No such token"),
            AdminDeviceError::DisplayNameTooLong(e) => e.into(),
            AdminDeviceError::TooManyDevices => Error::invalid_param(format!(
                "'devices' may list at most {MAX_DEVICES_PER_DELETE} device IDs"
            )),
            AdminDeviceError::Internal => Error::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::DisplayNameTooLong;
    use crate::http::error::tests::assert_renders;

    #[test]
    fn device_admin_refusals_are_synapses_errors() {
        use ErrCode::*;
        let cases: Vec<(AdminDeviceError, u16, ErrCode, &str)> = vec![
            (
                AdminDeviceError::NotAdmin,
                403,
                Forbidden,
                "You are not a server admin",
            ),
            (
                AdminDeviceError::MalformedUserId,
                400,
                InvalidParam,
                "Expected UserID of the form '@localname:domain'",
            ),
            (
                AdminDeviceError::RemoteUser,
                400,
                Unknown,
                "Can only lookup local users",
            ),
            (
                AdminDeviceError::RemoteUserCreate,
                400,
                Unknown,
                "Can only create devices for local users",
            ),
            (AdminDeviceError::UnknownUser, 404, NotFound, "Unknown user"),
            (AdminDeviceError::NoSuchDevice, 404, NotFound, "Not found"),
            (
                AdminDeviceError::NoSuchSession,
                404,
                NotFound,
                "No such session",
            ),
            (
                AdminDeviceError::NoSuchPuppetToken,
                404,
                NotFound,
                "No such token",
            ),
            (
                DisplayNameTooLong.into(),
                400,
                TooLarge,
                "Device display name is too long (max 100)",
            ),
            (
                AdminDeviceError::TooManyDevices,
                400,
                InvalidParam,
                "'devices' may list at most 1000 device IDs",
            ),
        ];
        for (e, status, errcode, message) in cases {
            let extra = assert_renders(e, status, errcode, message);
            assert!(extra.is_empty(), "{message}: {extra:?}");
        }
    }

    #[test]
    fn a_500_stays_bare() {
        assert!(matches!(
            Error::from(AdminDeviceError::Internal),
            Error::Internal
        ));
    }
}
