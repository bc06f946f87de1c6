//! What the rules refuse in a client's fields ([`DeviceIdError`],
//! [`UsernameError`], [`PasswordPolicyError`], [`DisplayNameTooLong`]) as
//! Matrix errors.

use crate::auth::identifiers::{DeviceIdError, UsernameError, MAX_DEVICE_DISPLAY_NAME_LEN};
use crate::auth::policy::PasswordPolicyError;
use crate::auth::DisplayNameTooLong;
use crate::error::{ErrCode, Error};

impl From<DeviceIdError> for Error {
    fn from(e: DeviceIdError) -> Self {
        match e {
            DeviceIdError::Empty | DeviceIdError::TooLong => Error::invalid_param(e.to_string()),
            DeviceIdError::NotAString => Error::bad_json(e.to_string()),
        }
    }
}

impl From<UsernameError> for Error {
    fn from(e: UsernameError) -> Self {
        Error::new(400, ErrCode::InvalidUsername, e.to_string())
    }
}

impl From<PasswordPolicyError> for Error {
    fn from(e: PasswordPolicyError) -> Self {
        match e {
            PasswordPolicyError::TooLong => Error::invalid_param(e.to_string()),
            _ => Error::new(400, ErrCode::WeakPassword, e.to_string()),
        }
    }
}

impl From<DisplayNameTooLong> for Error {
    fn from(_: DisplayNameTooLong) -> Self {
        Error::new(
            400,
            ErrCode::TooLarge,
            format!("Device display name is too long (max {MAX_DEVICE_DISPLAY_NAME_LEN})"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::tests::assert_renders;

    #[test]
    fn field_refusals_are_the_spec_errors_with_synapse_messages() {
        let cases: Vec<(Error, u16, ErrCode, &str)> = vec![
            (
                DeviceIdError::Empty.into(),
                400,
                ErrCode::InvalidParam,
                "device_id cannot be empty",
            ),
            (
                DeviceIdError::TooLong.into(),
                400,
                ErrCode::InvalidParam,
                "device_id cannot be longer than 512 characters",
            ),
            (
                DeviceIdError::NotAString.into(),
                400,
                ErrCode::BadJson,
                "'device_id' must be a string",
            ),
            (
                UsernameError::LeadingUnderscore.into(),
                400,
                ErrCode::InvalidUsername,
                "User ID may not begin with _",
            ),
            (
                UsernameError::TooLong.into(),
                400,
                ErrCode::InvalidUsername,
                "User ID may not be longer than 255 characters",
            ),
            (
                PasswordPolicyError::TooLong.into(),
                400,
                ErrCode::InvalidParam,
                "Password too long",
            ),
            (
                PasswordPolicyError::TooShort(8).into(),
                400,
                ErrCode::WeakPassword,
                "The password must be at least 8 characters long",
            ),
            (
                PasswordPolicyError::NoSymbol.into(),
                400,
                ErrCode::WeakPassword,
                "The password must include at least one symbol",
            ),
            (
                DisplayNameTooLong.into(),
                400,
                ErrCode::TooLarge,
                "Device display name is too long (max 100)",
            ),
        ];
        for (e, status, errcode, message) in cases {
            assert_renders(e, status, errcode, message);
        }
    }
}
