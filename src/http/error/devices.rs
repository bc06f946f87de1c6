//! The device rules' refusals ([`DeviceError`]) as Matrix errors.

use crate::auth::devices::DeviceError;
use crate::error::Error;

impl From<DeviceError> for Error {
    fn from(e: DeviceError) -> Self {
        match e {
            DeviceError::NotFound => Error::not_found("No device found"),
            DeviceError::DisplayNameTooLong(e) => e.into(),
            DeviceError::Uia(e) => e.into(),
            DeviceError::Internal => Error::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::uia::UiaError;
    use crate::auth::DisplayNameTooLong;
    use crate::error::ErrCode;
    use crate::http::error::tests::assert_renders;

    #[test]
    fn device_refusals_are_synapses_errors() {
        let cases: Vec<(DeviceError, u16, ErrCode, &str)> = vec![
            (
                DeviceError::NotFound,
                404,
                ErrCode::NotFound,
                "No device found",
            ),
            (
                DisplayNameTooLong.into(),
                400,
                ErrCode::TooLarge,
                "Device display name is too long (max 100)",
            ),
            (
                UiaError::UnknownSession.into(),
                400,
                ErrCode::Unknown,
                "Unknown session ID",
            ),
            (
                UiaError::AnotherUser.into(),
                403,
                ErrCode::Forbidden,
                "This authentication session belongs to another user.",
            ),
        ];
        for (e, want_status, want_code, want_message) in cases {
            let extra = assert_renders(e, want_status, want_code, want_message);
            assert!(extra.is_empty(), "{want_message}: {extra:?}");
        }
    }

    #[test]
    fn the_uia_challenge_stays_a_challenge() {
        let challenge = UiaError::Challenge(Box::new(crate::auth::uia::UiaChallenge {
            session: "S".into(),
            flows: vec![vec!["m.login.password".into()]],
            params: Default::default(),
            completed: None,
            failure: None,
        }));
        match Error::from(DeviceError::from(challenge)) {
            Error::AuthRequired(body) => assert_eq!(body["session"], "S"),
            other => panic!("not a challenge: {other:?}"),
        }
    }

    #[test]
    fn a_500_stays_bare() {
        assert!(matches!(
            DeviceError::from(UiaError::Internal),
            DeviceError::Internal
        ));
        assert!(matches!(
            Error::from(DeviceError::Internal),
            Error::Internal
        ));
    }
}
