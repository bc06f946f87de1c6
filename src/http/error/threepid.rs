//! The 3PID rules' refusals ([`ThreepidError`], [`Unusable`]) as Matrix
//! errors: Synapse's errcodes and words for each.

use crate::auth::threepids::{ThreepidError, Unusable};
use crate::error::{ErrCode, Error};

/// The 400 M_THREEPID_AUTH_FAILED of a validated session that cannot be
/// spent (a failed `m.login.email.identity` stage says the same words).
impl From<Unusable> for Error {
    fn from(why: Unusable) -> Self {
        Error::new(400, ErrCode::ThreepidAuthFailed, why.to_string())
    }
}

impl From<ThreepidError> for Error {
    fn from(e: ThreepidError) -> Self {
        let in_use = || Error::new(400, ErrCode::ThreepidInUse, "Email is already in use");
        match e {
            ThreepidError::EmailNotConfigured => Error::new(
                400,
                ErrCode::ThreepidMediumNotSupported,
                "Email is not supported on this homeserver",
            ),
            ThreepidError::ChangesDisabled => Error::new(
                400,
                ErrCode::Forbidden,
                "3PID changes are disabled on this server",
            ),
            ThreepidError::RegistrationDisabled => {
                Error::forbidden("Registration has been disabled")
            }
            ThreepidError::Denied => Error::new(
                403,
                ErrCode::ThreepidDenied,
                "Your email domain is not authorized on this server",
            ),
            ThreepidError::NotFound => {
                Error::new(400, ErrCode::ThreepidNotFound, "Email not found")
            }
            ThreepidError::NoLongerBound => {
                Error::new(400, ErrCode::ThreepidNotFound, "Email address not found")
            }
            ThreepidError::InUse => in_use(),
            ThreepidError::UnknownSession => {
                Error::new(400, ErrCode::ThreepidAuthFailed, "Unknown session_id")
            }
            ThreepidError::BadToken => Error::new(
                400,
                ErrCode::ThreepidAuthFailed,
                "Validation token not found or has expired",
            ),
            ThreepidError::Unusable(why) => why.into(),
            // Without email, `POST /account/password` is a password change.
            ThreepidError::ResetUnavailable => Error::missing_token("Missing access token"),
            ThreepidError::InvalidEmail => Error::invalid_param("Unable to parse email address"),
            ThreepidError::InvalidClientSecret => {
                Error::invalid_param("Invalid client_secret parameter")
            }
            ThreepidError::BadSendAttempt => {
                Error::invalid_param("'send_attempt' must be an integer")
            }
            ThreepidError::NextLinkNotHttp => {
                Error::invalid_param("next_link must be an http(s) URL")
            }
            ThreepidError::NextLinkNotWhitelisted => {
                Error::invalid_param("'next_link' domain not included in whitelist, or not http(s)")
            }
            ThreepidError::MissingParam(field) => {
                Error::missing_param(format!("Missing param: {field}"))
            }
            ThreepidError::WrongType { field, expected } => {
                Error::bad_json(format!("'{field}' must be {expected}"))
            }
            ThreepidError::Uia(e) => e.into(),
            ThreepidError::WeakPassword(e) => e.into(),
            ThreepidError::Internal => Error::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::tests::{assert_renders, rendered};

    #[test]
    fn threepid_refusals_are_synapses_errors() {
        use ThreepidError as E;
        let cases: Vec<(ThreepidError, u16, ErrCode, &str)> = vec![
            (
                E::EmailNotConfigured,
                400,
                ErrCode::ThreepidMediumNotSupported,
                "Email is not supported on this homeserver",
            ),
            (
                E::ChangesDisabled,
                400,
                ErrCode::Forbidden,
                "3PID changes are disabled on this server",
            ),
            (
                E::RegistrationDisabled,
                403,
                ErrCode::Forbidden,
                "Registration has been disabled",
            ),
            (
                E::Denied,
                403,
                ErrCode::ThreepidDenied,
                "Your email domain is not authorized on this server",
            ),
            (
                E::NotFound,
                400,
                ErrCode::ThreepidNotFound,
                "Email not found",
            ),
            (
                E::NoLongerBound,
                400,
                ErrCode::ThreepidNotFound,
                "Email address not found",
            ),
            (
                E::InUse,
                400,
                ErrCode::ThreepidInUse,
                "Email is already in use",
            ),
            (
                E::UnknownSession,
                400,
                ErrCode::ThreepidAuthFailed,
                "Unknown session_id",
            ),
            (
                E::BadToken,
                400,
                ErrCode::ThreepidAuthFailed,
                "Validation token not found or has expired",
            ),
            (
                E::Unusable(Unusable::NoSession),
                400,
                ErrCode::ThreepidAuthFailed,
                "No validated 3pid session found",
            ),
            (
                E::Unusable(Unusable::Expired),
                400,
                ErrCode::ThreepidAuthFailed,
                "This email validation has expired: validate the address again",
            ),
            (
                E::Unusable(Unusable::Spent),
                400,
                ErrCode::ThreepidAuthFailed,
                "This email validation has been used already: validate the address again",
            ),
            (
                E::ResetUnavailable,
                401,
                ErrCode::MissingToken,
                "Missing access token",
            ),
            (
                E::InvalidEmail,
                400,
                ErrCode::InvalidParam,
                "Unable to parse email address",
            ),
            (
                E::InvalidClientSecret,
                400,
                ErrCode::InvalidParam,
                "Invalid client_secret parameter",
            ),
            (
                E::BadSendAttempt,
                400,
                ErrCode::InvalidParam,
                "'send_attempt' must be an integer",
            ),
            (
                E::NextLinkNotHttp,
                400,
                ErrCode::InvalidParam,
                "next_link must be an http(s) URL",
            ),
            (
                E::NextLinkNotWhitelisted,
                400,
                ErrCode::InvalidParam,
                "'next_link' domain not included in whitelist, or not http(s)",
            ),
            (
                E::MissingParam("client_secret"),
                400,
                ErrCode::MissingParam,
                "Missing param: client_secret",
            ),
            (
                E::WrongType {
                    field: "threepid_creds",
                    expected: "an object",
                },
                400,
                ErrCode::BadJson,
                "'threepid_creds' must be an object",
            ),
        ];
        for (e, want_status, want_code, want_message) in cases {
            let extra = assert_renders(e, want_status, want_code, want_message);
            assert!(extra.is_empty(), "{want_message}: {extra:?}");
        }
    }

    #[test]
    fn a_500_stays_bare() {
        assert!(matches!(
            Error::from(ThreepidError::Internal),
            Error::Internal
        ));
    }

    #[test]
    fn uia_and_the_password_policy_answer_as_themselves() {
        let (status, errcode, message, _) = rendered(ThreepidError::from(
            crate::auth::policy::PasswordPolicyError::NoDigit,
        ));
        assert_eq!(
            (status, errcode, message.as_str()),
            (
                400,
                ErrCode::WeakPassword,
                "The password must include at least one digit"
            )
        );
        let (status, errcode, message, _) = rendered(ThreepidError::from(
            crate::auth::uia::UiaError::UnknownSession,
        ));
        assert_eq!(
            (status, errcode, message.as_str()),
            (400, ErrCode::Unknown, "Unknown session ID")
        );
        assert!(matches!(
            ThreepidError::from(crate::auth::uia::UiaError::Internal),
            ThreepidError::Internal
        ));
    }
}
