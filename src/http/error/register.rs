//! Registration's refusals ([`RegisterError`]) as Matrix errors, with
//! Synapse's messages.

use crate::auth::register::RegisterError;
use crate::error::{ErrCode, Error};

impl From<RegisterError> for Error {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Disabled => Error::forbidden("Registration has been disabled"),
            RegisterError::GuestAccessDisabled => Error::new(
                403,
                ErrCode::GuestAccessForbidden,
                "Guest access is disabled",
            ),
            RegisterError::BadJson(why) => Error::bad_json(why),
            RegisterError::NotAString(field) => {
                Error::bad_json(format!("{field} must be a string"))
            }
            RegisterError::MissingParam(message) => Error::missing_param(message),
            RegisterError::UserInUse => {
                Error::new(400, ErrCode::UserInUse, "User ID already taken.")
            }
            RegisterError::NotThisGuest => Error::forbidden(
                "Cannot register taken user ID without valid guest credentials for that user.",
            ),
            RegisterError::UnknownGuestToken => Error::unknown_token(false),
            RegisterError::ThreepidInUse => {
                Error::new(400, ErrCode::ThreepidInUse, "Email is already in use")
            }
            RegisterError::UnknownSession => {
                Error::new(400, ErrCode::Unknown, "Unknown session ID")
            }
            RegisterError::SessionSpent => {
                Error::forbidden("This registration session has already been used")
            }
            RegisterError::NotInNamespace => Error::new(
                400,
                ErrCode::Exclusive,
                "Invalid user localpart for this application service.",
            ),
            RegisterError::Reserved => Error::new(
                400,
                ErrCode::Exclusive,
                "This user ID is reserved by an application service.",
            ),
            RegisterError::Username(e) => e.into(),
            RegisterError::WeakPassword(e) => e.into(),
            RegisterError::DeviceId(e) => e.into(),
            RegisterError::DisplayNameTooLong => crate::auth::DisplayNameTooLong.into(),
            RegisterError::Blocked(e) => e.into(),
            RegisterError::LimitExceeded(e) => e.into(),
            RegisterError::Uia(e) => e.into(),
            RegisterError::Threepid(e) => e.into(),
            RegisterError::AppService(e) => e.into(),
            RegisterError::Session(e) => e.into(),
            RegisterError::Internal => Error::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::identifiers::UsernameError;
    use crate::auth::requester::AuthnError;
    use crate::auth::uia::UiaError;
    use crate::http::error::tests::{assert_renders, rendered};

    #[test]
    fn registration_refusals_are_synapses_errors() {
        use ErrCode::*;
        let cases: Vec<(RegisterError, u16, ErrCode, &str)> = vec![
            (
                RegisterError::Disabled,
                403,
                Forbidden,
                "Registration has been disabled",
            ),
            (
                RegisterError::GuestAccessDisabled,
                403,
                GuestAccessForbidden,
                "Guest access is disabled",
            ),
            (
                RegisterError::NotAString("guest_access_token"),
                400,
                BadJson,
                "guest_access_token must be a string",
            ),
            (
                RegisterError::MissingParam("Missing params: password"),
                400,
                MissingParam,
                "Missing params: password",
            ),
            (
                RegisterError::UserInUse,
                400,
                UserInUse,
                "User ID already taken.",
            ),
            (
                RegisterError::NotThisGuest,
                403,
                Forbidden,
                "Cannot register taken user ID without valid guest credentials for that user.",
            ),
            (
                RegisterError::UnknownGuestToken,
                401,
                UnknownToken,
                "Invalid access token passed.",
            ),
            (
                RegisterError::ThreepidInUse,
                400,
                ThreepidInUse,
                "Email is already in use",
            ),
            (
                RegisterError::UnknownSession,
                400,
                Unknown,
                "Unknown session ID",
            ),
            (
                RegisterError::SessionSpent,
                403,
                Forbidden,
                "This registration session has already been used",
            ),
            (
                RegisterError::NotInNamespace,
                400,
                Exclusive,
                "Invalid user localpart for this application service.",
            ),
            (
                RegisterError::Reserved,
                400,
                Exclusive,
                "This user ID is reserved by an application service.",
            ),
            (
                RegisterError::Username(UsernameError::Numeric),
                400,
                InvalidUsername,
                "Numeric user IDs are reserved for guest users.",
            ),
            (
                RegisterError::Uia(UiaError::UnknownSession),
                400,
                Unknown,
                "Unknown session ID",
            ),
            (
                RegisterError::AppService(AuthnError::MissingToken),
                401,
                MissingToken,
                "Missing access token.",
            ),
        ];
        for (e, status, errcode, message) in cases {
            assert_renders(e, status, errcode, message);
        }
        assert_eq!(
            rendered(RegisterError::UnknownGuestToken).3["soft_logout"],
            false
        );
        assert!(matches!(
            RegisterError::from(UiaError::Internal),
            RegisterError::Internal
        ));
        assert!(matches!(
            Error::from(RegisterError::Internal),
            Error::Internal
        ));
    }
}
