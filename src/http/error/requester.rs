//! Request authentication's failures ([`AuthnError`]) as Matrix errors.

use super::login::user_locked;
use crate::auth::requester::AuthnError;
use crate::error::{ErrCode, Error};

/// Request authentication's failures as Matrix errors.
impl From<AuthnError> for Error {
    fn from(e: AuthnError) -> Self {
        match e {
            AuthnError::MissingToken => Error::missing_token("Missing access token."),
            AuthnError::UnknownToken => Error::unknown_token(false),
            AuthnError::Expired => Error::unknown_token(true),
            AuthnError::UserLocked => user_locked(),
            AuthnError::NotInNamespace => {
                Error::forbidden("Application service cannot masquerade as this user.")
            }
            AuthnError::NotRegistered => {
                Error::forbidden("Application service has not registered this user.")
            }
            AuthnError::UnknownDevice => Error::new(
                400,
                ErrCode::UnknownDevice,
                "Application service trying to use a device that doesn't exist",
            ),
            AuthnError::Internal => Error::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn request_authentication_failures_are_the_spec_errors() {
        let cases = [
            (
                AuthnError::UnknownToken,
                401,
                ErrCode::UnknownToken,
                Some(false),
            ),
            (AuthnError::Expired, 401, ErrCode::UnknownToken, Some(true)),
            (AuthnError::UserLocked, 401, ErrCode::UserLocked, Some(true)),
            (AuthnError::NotInNamespace, 403, ErrCode::Forbidden, None),
            (AuthnError::NotRegistered, 403, ErrCode::Forbidden, None),
            (AuthnError::UnknownDevice, 400, ErrCode::UnknownDevice, None),
            (AuthnError::MissingToken, 401, ErrCode::MissingToken, None),
        ];
        for (e, want_status, want_code, want_soft) in cases {
            let label = format!("{e:?}");
            match Error::from(e) {
                Error::Matrix {
                    status,
                    errcode,
                    extra,
                    ..
                } => {
                    assert_eq!((status, errcode), (want_status, want_code), "{label}");
                    assert_eq!(
                        extra.get("soft_logout").and_then(Value::as_bool),
                        want_soft,
                        "{label}"
                    );
                }
                other => panic!("{label}: {other:?}"),
            }
        }
        assert!(matches!(Error::from(AuthnError::Internal), Error::Internal));
    }
}
