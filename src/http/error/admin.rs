//! The admin APIs' refusals ([`AdminError`], [`NotAdmin`]) as Matrix
//! errors: Synapse's statuses, errcodes and messages.

use crate::auth::admin::{AdminError, NotAdmin};
use crate::error::{ErrCode, Error};

impl From<NotAdmin> for Error {
    fn from(NotAdmin: NotAdmin) -> Self {
        Error::forbidden("You are not a server admin")
    }
}

impl From<AdminError> for Error {
    fn from(e: AdminError) -> Self {
        let unknown = |m: &str| Error::new(400, ErrCode::Unknown, m);
        match e {
            AdminError::SharedSecretDisabled => {
                unknown("Shared secret registration is not enabled")
            }
            AdminError::UnknownNonce => unknown("unrecognised nonce"),
            AdminError::InvalidUsername => unknown("Invalid username"),
            AdminError::InvalidPassword => unknown("Invalid password"),
            AdminError::InvalidUserType => unknown("Invalid user type"),
            AdminError::BadMac => Error::forbidden("HMAC incorrect"),
            AdminError::NotAdmin => NotAdmin.into(),
            AdminError::PuppetOfRemoteUser => unknown("Only local users can be logged in as"),
            AdminError::PuppetOfSelf => unknown("Cannot use admin API to login as self"),
            AdminError::UnknownPuppet => Error::not_found("User not found"),
            AdminError::OverrideOfRemoteUser => unknown("Can only look up local users"),
            AdminError::UnknownOverrideUser => Error::not_found("User does not exist"),
            AdminError::WhoisOfRemoteUser => unknown("Can only whois a local user"),
            AdminError::Hash(e) => e.into(),
            AdminError::Blocked(e) => e.into(),
            AdminError::Register(e) => e.into(),
            AdminError::Session(e) => e.into(),
            AdminError::Internal => Error::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::blocking::Blocked;
    use crate::auth::password::HashError;
    use crate::auth::ratelimit::LimitExceeded;
    use crate::http::error::tests::{assert_renders, rendered};

    #[test]
    fn admin_refusals_are_the_errors_synapse_gives() {
        use ErrCode::*;
        let cases: Vec<(AdminError, u16, ErrCode, &str)> = vec![
            (
                AdminError::SharedSecretDisabled,
                400,
                Unknown,
                "Shared secret registration is not enabled",
            ),
            (AdminError::UnknownNonce, 400, Unknown, "unrecognised nonce"),
            (
                AdminError::InvalidUsername,
                400,
                Unknown,
                "Invalid username",
            ),
            (
                AdminError::InvalidPassword,
                400,
                Unknown,
                "Invalid password",
            ),
            (
                AdminError::InvalidUserType,
                400,
                Unknown,
                "Invalid user type",
            ),
            (AdminError::BadMac, 403, Forbidden, "HMAC incorrect"),
            (
                AdminError::NotAdmin,
                403,
                Forbidden,
                "You are not a server admin",
            ),
            (
                AdminError::PuppetOfRemoteUser,
                400,
                Unknown,
                "Only local users can be logged in as",
            ),
            (
                AdminError::PuppetOfSelf,
                400,
                Unknown,
                "Cannot use admin API to login as self",
            ),
            (AdminError::UnknownPuppet, 404, NotFound, "User not found"),
            (
                AdminError::OverrideOfRemoteUser,
                400,
                Unknown,
                "Can only look up local users",
            ),
            (
                AdminError::UnknownOverrideUser,
                404,
                NotFound,
                "User does not exist",
            ),
            (
                AdminError::WhoisOfRemoteUser,
                400,
                Unknown,
                "Can only whois a local user",
            ),
            (
                AdminError::Hash(HashError::TooLong),
                400,
                InvalidParam,
                "Password too long",
            ),
            (
                AdminError::Register(crate::auth::register::RegisterError::UserInUse),
                400,
                UserInUse,
                "User ID already taken.",
            ),
        ];
        for (e, status, errcode, message) in cases {
            let extra = assert_renders(e, status, errcode, message);
            assert!(extra.is_empty(), "{message}: {extra:?}");
        }
    }

    #[test]
    fn not_admin_alone_is_the_same_refusal() {
        let (status, errcode, message, _) = rendered(NotAdmin);
        assert_eq!(
            (status, errcode, message.as_str()),
            (403, ErrCode::Forbidden, "You are not a server admin")
        );
    }

    #[test]
    fn wrapped_refusals_keep_their_own_fields() {
        let (status, errcode, _, extra) =
            rendered(AdminError::Hash(HashError::Busy(LimitExceeded {
                retry_after_ms: 1500,
            })));
        assert_eq!((status, errcode), (429, ErrCode::LimitExceeded));
        assert_eq!(extra["retry_after_ms"], 1500);
        let (status, errcode, message, extra) =
            rendered(AdminError::from(Blocked::MonthlyActiveUsers {
                admin_contact: Some("mailto:admin@example.com".into()),
            }));
        assert_eq!(
            (status, errcode, message.as_str()),
            (
                403,
                ErrCode::ResourceLimitExceeded,
                "Monthly Active User Limit Exceeded"
            )
        );
        assert_eq!(extra["limit_type"], "monthly_active_user");
        assert_eq!(extra["admin_contact"], "mailto:admin@example.com");
    }

    #[test]
    fn internal_stays_internal_from_every_source() {
        for e in [
            AdminError::Internal,
            AdminError::from(HashError::Internal),
            AdminError::from(Blocked::Internal),
            AdminError::from(crate::auth::register::RegisterError::Internal),
            AdminError::from(crate::auth::session::SessionError::Internal),
        ] {
            assert!(matches!(e, AdminError::Internal), "{e:?}");
            assert!(matches!(Error::from(e), Error::Internal));
        }
    }
}
