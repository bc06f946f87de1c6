//! Single sign-on's refusals ([`SsoError`]) as Matrix errors; the SSO
//! pages (`http/routes/sso.rs`) show the same status and message.

use crate::auth::sso::SsoError;
use crate::error::{ErrCode, Error};

impl From<SsoError> for Error {
    fn from(e: SsoError) -> Self {
        let again = |m: &str| Error::new(400, ErrCode::Unknown, m);
        match e {
            SsoError::UnknownProvider => Error::not_found("Unknown identity provider"),
            SsoError::InvalidRedirectUrl => {
                Error::invalid_param("redirectUrl must be an absolute http(s) URL")
            }
            SsoError::MissingState => Error::missing_param("The callback has no state"),
            SsoError::MissingCode => Error::missing_param("The callback has no code"),
            SsoError::LoginExpired => {
                again("This login has expired or was already used; please start again")
            }
            SsoError::OtherBrowser => {
                again("This login was started in another browser; please start again")
            }
            SsoError::ProviderRefused => {
                Error::forbidden("The identity provider did not log you in")
            }
            SsoError::IssuerMismatch => {
                Error::forbidden("The answer came from another identity provider")
            }
            SsoError::ProviderUnavailable => Error::new(
                502,
                ErrCode::Unknown,
                "The identity provider could not be reached or gave an invalid answer",
            ),
            SsoError::RequirementsNotMet => Error::forbidden(
                "You are not allowed to log in here with this identity provider account",
            ),
            SsoError::NoSubject => {
                Error::forbidden("The identity provider sent no user identifier")
            }
            SsoError::RegistrationDisabled => Error::forbidden(
                "There is no account here for this identity provider account, \
                 and new accounts cannot be created with it",
            ),
            SsoError::NoFreeUsername => Error::forbidden(
                "No free username could be found for this identity provider account",
            ),
            SsoError::AmbiguousUser => {
                Error::forbidden("This username matches several accounts; ask an administrator")
            }
            SsoError::SignUpExpired => {
                again("This sign-up has expired or was finished; please start again")
            }
            SsoError::UsernameTaken => {
                Error::new(400, ErrCode::UserInUse, "This username is taken")
            }
            SsoError::NotSignedIn => Error::forbidden("This session is not for a signed-in user"),
            SsoError::SsoNotOffered => {
                Error::unrecognized(400, "This session does not offer m.login.sso")
            }
            SsoError::NotTheSessionUser => Error::forbidden(
                "This identity provider account does not belong to the account you are \
                 signed in with",
            ),
            SsoError::GetTokenDisabled => Error::unrecognized(404, "Unrecognized request"),
            SsoError::UiaAlreadyUsed => {
                Error::forbidden("This authentication was already used for a login token")
            }
            SsoError::InvalidLoginToken => Error::forbidden("Invalid login token"),
            SsoError::Login(e) => e.into(),
            SsoError::Uia(e) => e.into(),
            SsoError::Username(e) => e.into(),
            SsoError::Blocked(e) => e.into(),
            SsoError::Session(e) => e.into(),
            SsoError::Internal => Error::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::blocking::Blocked;
    use crate::auth::identifiers::UsernameError;
    use crate::auth::login::LoginError;
    use crate::auth::uia::UiaError;
    use crate::http::error::tests::{assert_renders, rendered};

    #[test]
    fn sso_refusals_are_the_errors_clients_and_pages_have_always_had() {
        use ErrCode::*;
        let cases: Vec<(SsoError, u16, ErrCode, &str)> = vec![
            (
                SsoError::UnknownProvider,
                404,
                NotFound,
                "Unknown identity provider",
            ),
            (
                SsoError::InvalidRedirectUrl,
                400,
                InvalidParam,
                "redirectUrl must be an absolute http(s) URL",
            ),
            (
                SsoError::MissingState,
                400,
                MissingParam,
                "The callback has no state",
            ),
            (
                SsoError::MissingCode,
                400,
                MissingParam,
                "The callback has no code",
            ),
            (
                SsoError::LoginExpired,
                400,
                Unknown,
                "This login has expired or was already used; please start again",
            ),
            (
                SsoError::OtherBrowser,
                400,
                Unknown,
                "This login was started in another browser; please start again",
            ),
            (
                SsoError::ProviderRefused,
                403,
                Forbidden,
                "The identity provider did not log you in",
            ),
            (
                SsoError::IssuerMismatch,
                403,
                Forbidden,
                "The answer came from another identity provider",
            ),
            (
                SsoError::ProviderUnavailable,
                502,
                Unknown,
                "The identity provider could not be reached or gave an invalid answer",
            ),
            (
                SsoError::RequirementsNotMet,
                403,
                Forbidden,
                "You are not allowed to log in here with this identity provider account",
            ),
            (
                SsoError::NoSubject,
                403,
                Forbidden,
                "The identity provider sent no user identifier",
            ),
            (
                SsoError::RegistrationDisabled,
                403,
                Forbidden,
                "There is no account here for this identity provider account, and new \
                 accounts cannot be created with it",
            ),
            (
                SsoError::NoFreeUsername,
                403,
                Forbidden,
                "No free username could be found for this identity provider account",
            ),
            (
                SsoError::AmbiguousUser,
                403,
                Forbidden,
                "This username matches several accounts; ask an administrator",
            ),
            (
                SsoError::SignUpExpired,
                400,
                Unknown,
                "This sign-up has expired or was finished; please start again",
            ),
            (
                SsoError::UsernameTaken,
                400,
                UserInUse,
                "This username is taken",
            ),
            (
                SsoError::NotSignedIn,
                403,
                Forbidden,
                "This session is not for a signed-in user",
            ),
            (
                SsoError::SsoNotOffered,
                400,
                Unrecognized,
                "This session does not offer m.login.sso",
            ),
            (
                SsoError::NotTheSessionUser,
                403,
                Forbidden,
                "This identity provider account does not belong to the account you are \
                 signed in with",
            ),
            (
                SsoError::GetTokenDisabled,
                404,
                Unrecognized,
                "Unrecognized request",
            ),
            (
                SsoError::UiaAlreadyUsed,
                403,
                Forbidden,
                "This authentication was already used for a login token",
            ),
            (
                SsoError::InvalidLoginToken,
                403,
                Forbidden,
                "Invalid login token",
            ),
            (
                SsoError::Login(LoginError::Deactivated),
                403,
                UserDeactivated,
                "This account has been deactivated",
            ),
            (
                SsoError::Login(LoginError::Locked),
                401,
                UserLocked,
                "User account has been locked",
            ),
            (
                SsoError::Username(UsernameError::LeadingUnderscore),
                400,
                InvalidUsername,
                "User ID may not begin with _",
            ),
            (
                SsoError::Uia(UiaError::UnknownSession),
                400,
                Unknown,
                "Unknown session ID",
            ),
        ];
        for (e, want_status, want_code, want_message) in cases {
            let extra = assert_renders(e, want_status, want_code, want_message);
            if want_code == UserLocked {
                assert_eq!(extra["soft_logout"], true, "{want_message}");
            } else {
                assert!(extra.is_empty(), "{want_message}: {extra:?}");
            }
        }
    }

    #[test]
    fn other_areas_answers_are_theirs_and_internal_stays_bare() {
        let (status, errcode, _, extra) = rendered(SsoError::from(Blocked::MonthlyActiveUsers {
            admin_contact: None,
        }));
        assert_eq!((status, errcode), (403, ErrCode::ResourceLimitExceeded));
        assert_eq!(extra["limit_type"], "monthly_active_user");
        assert!(matches!(
            SsoError::from(Blocked::Internal),
            SsoError::Internal
        ));
        assert!(matches!(
            SsoError::from(UiaError::Internal),
            SsoError::Internal
        ));
        let (status, errcode, message, _) = rendered(SsoError::from(
            crate::auth::session::SessionError::HomeserverUnreachable,
        ));
        assert_eq!((status, errcode), (503, ErrCode::Unknown));
        assert!(message.contains("homeserver"), "{message}");
        assert!(matches!(
            SsoError::from(crate::auth::session::SessionError::Internal),
            SsoError::Internal
        ));
        assert!(matches!(
            SsoError::from(LoginError::Internal),
            SsoError::Internal
        ));
        assert!(matches!(Error::from(SsoError::Internal), Error::Internal));
    }
}
