//! The registration tokens' refusals ([`RegistrationTokenError`]) as
//! Matrix errors: Synapse's statuses, errcodes and messages for the
//! validity check and the admin API.

use crate::auth::admin::NotAdmin;
use crate::auth::registration_tokens::RegistrationTokenError;
use crate::error::Error;

impl From<RegistrationTokenError> for Error {
    fn from(e: RegistrationTokenError) -> Self {
        use RegistrationTokenError as E;
        match e {
            E::Disabled => Error::forbidden("Registration tokens are not enabled"),
            E::NotAdmin => NotAdmin.into(),
            E::UnknownToken(token) => {
                Error::not_found(format!("No such registration token: {token}"))
            }
            E::TokenLength => Error::invalid_param(
                "token must not be empty and must not be longer than 64 characters",
            ),
            E::TokenCharacters => Error::invalid_param(
                "token must consist only of characters matched by the regex [A-Za-z0-9._~-]",
            ),
            E::TokenNotString => Error::invalid_param("token must be a string"),
            E::LengthNotInteger => Error::invalid_param("length must be an integer"),
            E::LengthOutOfRange => {
                Error::invalid_param("length must be greater than zero and not greater than 64")
            }
            E::TokenExists(token) => Error::invalid_param(format!("Token already exists: {token}")),
            E::InvalidUsesAllowed => {
                Error::invalid_param("uses_allowed must be a non-negative integer or null")
            }
            E::ExpiryInPast => Error::invalid_param("expiry_time must not be in the past"),
            E::InvalidExpiryTime => Error::invalid_param("expiry_time must be an integer or null"),
            E::Internal => Error::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrCode;
    use crate::http::error::tests::assert_renders;

    #[test]
    fn registration_token_refusals_are_the_errors_synapse_gives() {
        use ErrCode::*;
        use RegistrationTokenError as E;
        let cases: Vec<(E, u16, ErrCode, &str)> = vec![
            (
                E::Disabled,
                403,
                Forbidden,
                "Registration tokens are not enabled",
            ),
            (E::NotAdmin, 403, Forbidden, "You are not a server admin"),
            (
                E::UnknownToken("abc".into()),
                404,
                NotFound,
                "No such registration token: abc",
            ),
            (
                E::TokenLength,
                400,
                InvalidParam,
                "token must not be empty and must not be longer than 64 characters",
            ),
            (
                E::TokenCharacters,
                400,
                InvalidParam,
                "token must consist only of characters matched by the regex [A-Za-z0-9._~-]",
            ),
            (
                E::TokenNotString,
                400,
                InvalidParam,
                "token must be a string",
            ),
            (
                E::LengthNotInteger,
                400,
                InvalidParam,
                "length must be an integer",
            ),
            (
                E::LengthOutOfRange,
                400,
                InvalidParam,
                "length must be greater than zero and not greater than 64",
            ),
            (
                E::TokenExists("abc".into()),
                400,
                InvalidParam,
                "Token already exists: abc",
            ),
            (
                E::InvalidUsesAllowed,
                400,
                InvalidParam,
                "uses_allowed must be a non-negative integer or null",
            ),
            (
                E::ExpiryInPast,
                400,
                InvalidParam,
                "expiry_time must not be in the past",
            ),
            (
                E::InvalidExpiryTime,
                400,
                InvalidParam,
                "expiry_time must be an integer or null",
            ),
        ];
        for (e, status, errcode, message) in cases {
            let extra = assert_renders(e, status, errcode, message);
            assert!(extra.is_empty(), "{message}: {extra:?}");
        }
        assert!(matches!(Error::from(E::Internal), Error::Internal));
    }
}
