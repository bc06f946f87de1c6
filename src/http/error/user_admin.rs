//! An admin's changes to accounts refused ([`UserAdminError`]), as the
//! Matrix errors Synapse's user admin API gives for them.

use crate::auth::user_admin::UserAdminError;
use crate::error::{ErrCode, Error};

impl From<UserAdminError> for Error {
    fn from(e: UserAdminError) -> Self {
        let unknown = |m: &str| Error::new(400, ErrCode::Unknown, m);
        match e {
            UserAdminError::NoSuchUser(_) => Error::not_found("User not found"),
            UserAdminError::Deactivated => unknown("The account is deactivated"),
            UserAdminError::Active => unknown("The account is not deactivated"),
            UserAdminError::Locked => {
                Error::new(401, ErrCode::UserLocked, "User account has been locked")
            }
            UserAdminError::IsAdmin => Error::forbidden("The user is a server admin"),
            UserAdminError::WeakPassword(e) => e.into(),
            UserAdminError::Hash(e) => e.into(),
            UserAdminError::Session(e) => e.into(),
            UserAdminError::DemoteSelf => unknown("You may not demote yourself."),
            UserAdminError::PasswordChangeDisabled => Error::forbidden("Password change disabled"),
            UserAdminError::ThreepidInUse => Error::new(
                400,
                ErrCode::ThreepidInUse,
                "Third-party identifier is already in use by another user",
            ),
            UserAdminError::ExternalIdInUse => {
                Error::new(409, ErrCode::Unknown, "External id is already in use.")
            }
            UserAdminError::InvalidEmail => unknown("Unable to parse email address"),
            UserAdminError::InvalidMedium(m) => {
                Error::invalid_param(format!("'{m}' is not a valid value for 'medium'"))
            }
            UserAdminError::BadListToken => {
                Error::invalid_param("The 'from' token was made for another order")
            }
            UserAdminError::Register(e) => e.into(),
            UserAdminError::Internal => Error::Internal,
        }
    }
}
