//! Why no session is opened ([`SessionError`]) as Matrix errors: a user
//! deactivated or locked, or whose password changed, since the credentials
//! were checked gets what a login with them would get.

use crate::auth::login::LoginError;
use crate::auth::session::SessionError;
use crate::auth::DisplayNameTooLong;
use crate::error::{ErrCode, Error};

impl From<SessionError> for Error {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::LimitExceeded(wait) => wait.into(),
            SessionError::Blocked(why) => why.into(),
            SessionError::DisplayNameTooLong => DisplayNameTooLong.into(),
            SessionError::HomeserverUnreachable => Error::new(
                503,
                ErrCode::Unknown,
                "The homeserver could not be reached to set up this session; try again later",
            ),
            SessionError::Deactivated => LoginError::Deactivated.into(),
            SessionError::Locked => LoginError::Locked.into(),
            SessionError::CredentialsChanged => LoginError::BadCredentials.into(),
            SessionError::Internal => Error::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::blocking::Blocked;
    use crate::auth::ratelimit::LimitExceeded;
    use crate::http::error::tests::assert_renders;

    #[test]
    fn session_refusals_are_the_spec_errors() {
        let cases: Vec<(SessionError, u16, ErrCode, &str)> = vec![
            (
                SessionError::LimitExceeded(LimitExceeded {
                    retry_after_ms: 700,
                }),
                429,
                ErrCode::LimitExceeded,
                "Too Many Requests",
            ),
            (
                SessionError::Blocked(Blocked::MonthlyActiveUsers {
                    admin_contact: None,
                }),
                403,
                ErrCode::ResourceLimitExceeded,
                "Monthly Active User Limit Exceeded",
            ),
            (
                SessionError::DisplayNameTooLong,
                400,
                ErrCode::TooLarge,
                "Device display name is too long (max 100)",
            ),
            (
                SessionError::HomeserverUnreachable,
                503,
                ErrCode::Unknown,
                "The homeserver could not be reached to set up this session; try again later",
            ),
            (
                SessionError::Deactivated,
                403,
                ErrCode::UserDeactivated,
                "This account has been deactivated",
            ),
            (
                SessionError::CredentialsChanged,
                403,
                ErrCode::Forbidden,
                "Invalid username or password",
            ),
        ];
        for (e, status, errcode, message) in cases {
            assert_renders(e, status, errcode, message);
        }
        let extra = assert_renders(
            SessionError::Locked,
            401,
            ErrCode::UserLocked,
            "User account has been locked",
        );
        assert_eq!(extra.get("soft_logout"), Some(&serde_json::json!(true)));
        assert!(matches!(
            Error::from(SessionError::Internal),
            Error::Internal
        ));
    }
}
