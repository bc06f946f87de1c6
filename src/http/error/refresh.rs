//! Why a refresh token is not exchanged ([`RefreshError`]) as Matrix
//! errors (`POST /refresh`). Synapse's messages; an unknown or replaced
//! token is the spec's 401 `M_UNKNOWN_TOKEN` ("unknown, or has already
//! been used"), never a soft logout: the client must log in again. An
//! expired one is Synapse's 403 `M_FORBIDDEN` (the spec does not say). A
//! locked user's is 401 `M_USER_LOCKED` with `soft_logout`, as every
//! request of theirs is (Synapse would rotate it into tokens that answer
//! that), and is kept for after the unlock.

use crate::auth::RefreshError;
use crate::error::{ErrCode, Error};

impl From<RefreshError> for Error {
    fn from(e: RefreshError) -> Self {
        let unknown = |message: &str| {
            Error::new(401, ErrCode::UnknownToken, message).with_extra("soft_logout", false)
        };
        match e {
            RefreshError::UnknownToken | RefreshError::WrongClient => {
                unknown("refresh token does not exist")
            }
            RefreshError::Reused => unknown("refresh token isn't valid anymore"),
            RefreshError::Expired => Error::forbidden("The supplied refresh token has expired"),
            RefreshError::Session(e) => e.into(),
            RefreshError::Internal => Error::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::session::SessionError;
    use crate::http::error::tests::assert_renders;
    use serde_json::json;

    #[test]
    fn refresh_refusals_are_the_spec_errors() {
        let cases: Vec<(RefreshError, u16, ErrCode, &str, Option<bool>)> = vec![
            (
                RefreshError::UnknownToken,
                401,
                ErrCode::UnknownToken,
                "refresh token does not exist",
                Some(false),
            ),
            (
                RefreshError::WrongClient,
                401,
                ErrCode::UnknownToken,
                "refresh token does not exist",
                Some(false),
            ),
            (
                RefreshError::Reused,
                401,
                ErrCode::UnknownToken,
                "refresh token isn't valid anymore",
                Some(false),
            ),
            (
                RefreshError::Expired,
                403,
                ErrCode::Forbidden,
                "The supplied refresh token has expired",
                None,
            ),
            (
                RefreshError::Session(SessionError::Deactivated),
                403,
                ErrCode::UserDeactivated,
                "This account has been deactivated",
                None,
            ),
            (
                RefreshError::Session(SessionError::Locked),
                401,
                ErrCode::UserLocked,
                "User account has been locked",
                Some(true),
            ),
        ];
        for (e, status, errcode, message, soft_logout) in cases {
            let extra = assert_renders(e, status, errcode, message);
            assert_eq!(
                extra.get("soft_logout"),
                soft_logout.map(|s| json!(s)).as_ref(),
                "{message}"
            );
        }
        assert!(matches!(
            Error::from(RefreshError::Internal),
            Error::Internal
        ));
    }
}
