//! Rendering [`Error`] as the Matrix JSON error.

use crate::auth::identifiers::IdentifierError;
use crate::auth::login::LoginError;
use crate::auth::password::HashError;
use crate::auth::ratelimit::LimitExceeded;
use crate::auth::requester::AuthnError;
use crate::error::{ErrCode, Error};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

/// Request authentication's failures as Matrix errors.
impl From<AuthnError> for Error {
    fn from(e: AuthnError) -> Self {
        match e {
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

/// 401 M_USER_LOCKED with `soft_logout`, as the spec says for locked accounts.
fn user_locked() -> Error {
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
            LoginError::LimitExceeded(wait) => wait.into(),
            LoginError::NotCreated(e) => *e,
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

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::Matrix {
                status,
                errcode,
                message,
                extra,
            } => {
                let retry_after = (status == 429)
                    .then(|| extra.get("retry_after_ms").and_then(Value::as_u64))
                    .flatten()
                    .map(|ms| ms.div_ceil(1000));
                let mut body = Map::new();
                body.insert("errcode".into(), json!(errcode.as_str()));
                body.insert("error".into(), json!(message));
                body.extend(extra);
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                let mut response = (status, Json(Value::Object(body))).into_response();
                if let Some(secs) = retry_after {
                    response
                        .headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, secs.into());
                }
                response
            }
            Error::AuthRequired(body) => {
                (StatusCode::UNAUTHORIZED, Json(Value::Object(*body))).into_response()
            }
            Error::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"errcode": "M_UNKNOWN", "error": "Internal server error"})),
            )
                .into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

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

    /// The status, errcode and message a domain error renders as.
    fn rendered(e: impl Into<Error>) -> (u16, ErrCode, String, Map<String, Value>) {
        match e.into() {
            Error::Matrix {
                status,
                errcode,
                message,
                extra,
            } => (status, errcode, message, extra),
            other => panic!("not a Matrix error: {other:?}"),
        }
    }

    #[test]
    fn login_refusals_are_the_spec_errors_and_bad_credentials_are_one_body() {
        let bad = rendered(LoginError::BadCredentials);
        assert_eq!(
            (bad.0, bad.1, bad.2.as_str()),
            (403, ErrCode::Forbidden, "Invalid username or password")
        );
        assert!(bad.3.is_empty());
        let cases: [(LoginError, u16, ErrCode); 10] = [
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
        let blocked = Error::new(403, ErrCode::ResourceLimitExceeded, "limit")
            .with_extra("limit_type", "monthly_active_user");
        let (status, errcode, _, extra) = rendered(LoginError::not_created(blocked));
        assert_eq!((status, errcode), (403, ErrCode::ResourceLimitExceeded));
        assert_eq!(extra["limit_type"], "monthly_active_user");
        assert!(matches!(
            Error::from(LoginError::not_created(Error::Internal)),
            Error::Internal
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

    #[test]
    fn limit_exceeded_has_retry_after_in_whole_seconds_rounded_up() {
        for (ms, secs) in [(1, "1"), (1000, "1"), (1001, "2"), (0, "0")] {
            let r = Error::limit_exceeded(ms).into_response();
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(r.headers()[header::RETRY_AFTER], secs, "{ms} ms");
        }
        // Other errors carry no Retry-After.
        let r = Error::forbidden("no").into_response();
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }
}
