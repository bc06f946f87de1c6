//! The admin lookups' refusals ([`LookupError`]) as Matrix errors:
//! Synapse's statuses, errcodes and messages.

use crate::auth::admin::NotAdmin;
use crate::auth::admin_lookups::LookupError;
use crate::error::Error;

impl From<LookupError> for Error {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::NotAdmin => NotAdmin.into(),
            LookupError::UserNotFound => Error::not_found("User not found"),
            LookupError::Username(e) => e.into(),
            LookupError::Internal => Error::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::identifiers::UsernameError;
    use crate::auth::register::RegisterError;
    use crate::error::ErrCode;
    use crate::http::error::tests::assert_renders;

    #[test]
    fn lookup_refusals_are_synapses_errors() {
        use ErrCode::*;
        let cases: Vec<(LookupError, u16, ErrCode, &str)> = vec![
            (
                LookupError::NotAdmin,
                403,
                Forbidden,
                "You are not a server admin",
            ),
            (LookupError::UserNotFound, 404, NotFound, "User not found"),
            (
                RegisterError::UserInUse.into(),
                400,
                UserInUse,
                "User ID already taken.",
            ),
            (
                RegisterError::Reserved.into(),
                400,
                Exclusive,
                "This user ID is reserved by an application service.",
            ),
            (
                RegisterError::Username(UsernameError::BadCharacter).into(),
                400,
                InvalidUsername,
                "User ID can only contain characters a-z, 0-9, or '=_-./+'",
            ),
        ];
        for (e, status, errcode, message) in cases {
            let extra = assert_renders(e, status, errcode, message);
            assert!(extra.is_empty(), "{message}: {extra:?}");
        }
    }

    #[test]
    fn a_500_stays_bare() {
        let e = LookupError::from(RegisterError::Internal);
        assert!(matches!(e, LookupError::Internal));
        assert!(matches!(Error::from(e), Error::Internal));
    }
}
