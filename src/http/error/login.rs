//! A login's refusals ([`LoginError`], [`IdentifierError`], [`HashError`],
//! [`LimitExceeded`]) as Matrix errors.

use crate::auth::identifiers::IdentifierError;
use crate::auth::login::LoginError;
use crate::auth::password::HashError;
use crate::auth::ratelimit::LimitExceeded;
use crate::error::{ErrCode, Error};

/// 401 M_USER_LOCKED with `soft_logout`, as the spec says for locked accounts.
pub(super) fn user_locked() -> Error {
    Error::new(401, ErrCode::UserLocked, "User account has been locked")
        .with_extra("soft_logout", true)
}

/// A login's refusal as the spec's error: one body for every kind of bad
/// credentials; a deactivated or locked account only to its right password.
impl From<LoginError> for Error {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::BadCredentials => Error::forbidden("Invalid username or password"),
            LoginError::WrongUser => Error::forbidden("Invalid auth: wrong user"),
            LoginError::Deactivated => Error::new(
                403,
                ErrCode::UserDeactivated,
                "This account has been deactivated",
            ),
            LoginError::Locked => user_locked(),
            LoginError::UnknownLoginType => Error::new(400, ErrCode::Unknown, "Unknown login type"),
            LoginError::PasswordLoginDisabled => {
                Error::new(400, ErrCode::Unknown, "Password login has been disabled.")
            }
            LoginError::MissingParam(m) => Error::missing_param(m),
            LoginError::InvalidParam(m) => Error::invalid_param(m),
            LoginError::BadIdentifier(e) => e.into(),
            LoginError::BadJwt(why) => Error::forbidden(why),
            LoginError::AppService(e) => e.into(),
            LoginError::NotThisServicesUser => {
                Error::forbidden("This application service cannot log in as this user")
            }
            LoginError::Session(e) => e.into(),
            LoginError::LimitExceeded(wait) => wait.into(),
            LoginError::Blocked(e) => e.into(),
            LoginError::Internal => Error::Internal,
        }
    }
}

impl From<IdentifierError> for Error {
    fn from(e: IdentifierError) -> Self {
        let message = e.to_string();
        match e {
            IdentifierError::NotAnObject | IdentifierError::NotAString(_) => {
                Error::bad_json(message)
            }
            IdentifierError::Missing(_) => Error::missing_param(message),
            IdentifierError::UnknownType => Error::new(400, ErrCode::Unknown, message),
            IdentifierError::BadPhoneNumber => Error::invalid_param(message),
        }
    }
}

impl From<HashError> for Error {
    fn from(e: HashError) -> Self {
        match e {
            HashError::TooLong => Error::invalid_param("Password too long"),
            HashError::Busy(wait) => wait.into(),
            HashError::Internal => Error::Internal,
        }
    }
}

impl From<LimitExceeded> for Error {
    fn from(e: LimitExceeded) -> Self {
        Error::limit_exceeded(e.retry_after_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::tests::rendered;

    #[test]
    fn login_refusals_are_the_spec_errors_and_bad_credentials_are_one_body() {
        let bad = rendered(LoginError::BadCredentials);
        assert_eq!(
            (bad.0, bad.1, bad.2.as_str()),
            (403, ErrCode::Forbidden, "Invalid username or password")
        );
        assert!(bad.3.is_empty());
        let cases: Vec<(LoginError, u16, ErrCode)> = vec![
            (LoginError::WrongUser, 403, ErrCode::Forbidden),
            (LoginError::Deactivated, 403, ErrCode::UserDeactivated),
            (LoginError::Locked, 401, ErrCode::UserLocked),
            (LoginError::UnknownLoginType, 400, ErrCode::Unknown),
            (LoginError::PasswordLoginDisabled, 400, ErrCode::Unknown),
            (
                LoginError::MissingParam("m".into()),
                400,
                ErrCode::MissingParam,
            ),
            (
                LoginError::InvalidParam("i".into()),
                400,
                ErrCode::InvalidParam,
            ),
            (
                LoginError::BadIdentifier(IdentifierError::UnknownType),
                400,
                ErrCode::Unknown,
            ),
            (LoginError::BadJwt("why".into()), 403, ErrCode::Forbidden),
            (
                LoginError::AppService(crate::auth::requester::AuthnError::MissingToken),
                401,
                ErrCode::MissingToken,
            ),
            (LoginError::NotThisServicesUser, 403, ErrCode::Forbidden),
            (
                LoginError::Session(crate::auth::session::SessionError::HomeserverUnreachable),
                503,
                ErrCode::Unknown,
            ),
            (
                LoginError::LimitExceeded(LimitExceeded {
                    retry_after_ms: 1500,
                }),
                429,
                ErrCode::LimitExceeded,
            ),
        ];
        for (e, want_status, want_code) in cases {
            let label = format!("{e:?}");
            let (status, errcode, _, extra) = rendered(e);
            assert_eq!((status, errcode), (want_status, want_code), "{label}");
            if errcode == ErrCode::UserLocked {
                assert_eq!(extra["soft_logout"], true, "{label}");
            }
            if errcode == ErrCode::LimitExceeded {
                assert_eq!(extra["retry_after_ms"], 1500, "{label}");
            }
        }
        let blocked = LoginError::from(crate::auth::blocking::Blocked::MonthlyActiveUsers {
            admin_contact: None,
        });
        let (status, errcode, _, extra) = rendered(blocked);
        assert_eq!((status, errcode), (403, ErrCode::ResourceLimitExceeded));
        assert_eq!(extra["limit_type"], "monthly_active_user");
        assert!(matches!(
            LoginError::from(crate::auth::blocking::Blocked::Internal),
            LoginError::Internal
        ));
        assert!(matches!(Error::from(LoginError::Internal), Error::Internal));
    }

    #[test]
    fn identifier_and_hashing_errors_are_the_spec_errors() {
        let cases = [
            (IdentifierError::NotAnObject, ErrCode::BadJson),
            (IdentifierError::NotAString("user".into()), ErrCode::BadJson),
            (
                IdentifierError::Missing("Missing param: identifier"),
                ErrCode::MissingParam,
            ),
            (IdentifierError::UnknownType, ErrCode::Unknown),
            (IdentifierError::BadPhoneNumber, ErrCode::InvalidParam),
        ];
        for (e, want) in cases {
            let message = e.to_string();
            let got = rendered(e);
            assert_eq!((got.0, got.1, got.2), (400, want, message));
        }
        let too_long = rendered(HashError::TooLong);
        assert_eq!((too_long.0, too_long.1), (400, ErrCode::InvalidParam));
        let busy = rendered(HashError::Busy(LimitExceeded {
            retry_after_ms: 250,
        }));
        assert_eq!((busy.0, busy.1), (429, ErrCode::LimitExceeded));
        assert_eq!(busy.3["retry_after_ms"], 250);
        assert!(matches!(Error::from(HashError::Internal), Error::Internal));
    }
}
