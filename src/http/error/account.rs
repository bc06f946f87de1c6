//! The account rules' refusals ([`AccountError`]: password change,
//! deactivation) as Matrix errors.

use crate::auth::account::AccountError;
use crate::error::Error;

impl From<AccountError> for Error {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::WrongType { field, expected } => {
                Error::bad_json(format!("'{field}' must be {expected}"))
            }
            AccountError::NoNewPassword => Error::missing_param("Missing param: new_password"),
            AccountError::WeakPassword(e) => e.into(),
            AccountError::Uia(e) => e.into(),
            AccountError::Internal => Error::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::policy::PasswordPolicyError;
    use crate::auth::uia::UiaError;
    use crate::error::ErrCode;
    use crate::http::error::tests::assert_renders;

    #[test]
    fn account_refusals_are_synapses_errors() {
        let cases: Vec<(AccountError, u16, ErrCode, &str)> = vec![
            (
                AccountError::WrongType {
                    field: "new_password",
                    expected: "a string",
                },
                400,
                ErrCode::BadJson,
                "'new_password' must be a string",
            ),
            (
                AccountError::WrongType {
                    field: "logout_devices",
                    expected: "a boolean",
                },
                400,
                ErrCode::BadJson,
                "'logout_devices' must be a boolean",
            ),
            (
                AccountError::NoNewPassword,
                400,
                ErrCode::MissingParam,
                "Missing param: new_password",
            ),
            (
                PasswordPolicyError::NoDigit.into(),
                400,
                ErrCode::WeakPassword,
                "The password must include at least one digit",
            ),
            (
                UiaError::NoWayToReauthenticate.into(),
                403,
                ErrCode::Forbidden,
                "This account has no way to re-authenticate (no password set)",
            ),
            (
                UiaError::OperationChanged.into(),
                403,
                ErrCode::Forbidden,
                "Requested operation has changed during the UI authentication session.",
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
            AccountError::from(UiaError::Internal),
            AccountError::Internal
        ));
        assert!(matches!(
            Error::from(AccountError::Internal),
            Error::Internal
        ));
    }
}
