//! The one error type of mxauth: a Matrix error (`errcode`, `error`, extra
//! fields) or a User-Interactive Auth challenge. `auth` returns it, `http`
//! renders it. A 500 carries nothing but "Internal server error"; its cause
//! is logged where it happened.

use serde_json::{Map, Value};

/// The spec's error codes that mxauth answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrCode {
    Forbidden,
    UnknownToken,
    MissingToken,
    UserLocked,
    UserDeactivated,
    BadJson,
    NotJson,
    NotFound,
    LimitExceeded,
    Unrecognized,
    Unknown,
    Unauthorized,
    UserInUse,
    ThreepidInUse,
    ThreepidDenied,
    ThreepidNotFound,
    ThreepidAuthFailed,
    ThreepidMediumNotSupported,
    InvalidUsername,
    InvalidParam,
    MissingParam,
    TooLarge,
    WeakPassword,
    GuestAccessForbidden,
    ResourceLimitExceeded,
    Exclusive,
    CaptchaNeeded,
    UnknownDevice,
}

impl ErrCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrCode::Forbidden => "M_FORBIDDEN",
            ErrCode::UnknownToken => "M_UNKNOWN_TOKEN",
            ErrCode::MissingToken => "M_MISSING_TOKEN",
            ErrCode::UserLocked => "M_USER_LOCKED",
            ErrCode::UserDeactivated => "M_USER_DEACTIVATED",
            ErrCode::BadJson => "M_BAD_JSON",
            ErrCode::NotJson => "M_NOT_JSON",
            ErrCode::NotFound => "M_NOT_FOUND",
            ErrCode::LimitExceeded => "M_LIMIT_EXCEEDED",
            ErrCode::Unrecognized => "M_UNRECOGNIZED",
            ErrCode::Unknown => "M_UNKNOWN",
            ErrCode::Unauthorized => "M_UNAUTHORIZED",
            ErrCode::UserInUse => "M_USER_IN_USE",
            ErrCode::ThreepidInUse => "M_THREEPID_IN_USE",
            ErrCode::ThreepidDenied => "M_THREEPID_DENIED",
            ErrCode::ThreepidNotFound => "M_THREEPID_NOT_FOUND",
            ErrCode::ThreepidAuthFailed => "M_THREEPID_AUTH_FAILED",
            ErrCode::ThreepidMediumNotSupported => "M_THREEPID_MEDIUM_NOT_SUPPORTED",
            ErrCode::InvalidUsername => "M_INVALID_USERNAME",
            ErrCode::InvalidParam => "M_INVALID_PARAM",
            ErrCode::MissingParam => "M_MISSING_PARAM",
            ErrCode::TooLarge => "M_TOO_LARGE",
            ErrCode::WeakPassword => "M_WEAK_PASSWORD",
            ErrCode::GuestAccessForbidden => "M_GUEST_ACCESS_FORBIDDEN",
            ErrCode::ResourceLimitExceeded => "M_RESOURCE_LIMIT_EXCEEDED",
            ErrCode::Exclusive => "M_EXCLUSIVE",
            ErrCode::CaptchaNeeded => "M_CAPTCHA_NEEDED",
            ErrCode::UnknownDevice => "M_UNKNOWN_DEVICE",
        }
    }
}

/// An error as the client sees it.
#[derive(Debug)]
pub enum Error {
    /// `{"errcode": .., "error": .., ...extra}` with an HTTP status.
    Matrix {
        status: u16,
        errcode: ErrCode,
        message: String,
        extra: Map<String, Value>,
    },
    /// A User-Interactive Auth challenge: 401 with `{session, flows, params,
    /// completed?, errcode?, error?}`; the body is built by the UIA engine.
    AuthRequired(Box<Map<String, Value>>),
    /// Anything unexpected. The cause has been logged already; the client
    /// sees only "Internal server error".
    Internal,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(status: u16, errcode: ErrCode, message: impl Into<String>) -> Self {
        Error::Matrix {
            status,
            errcode,
            message: message.into(),
            extra: Map::new(),
        }
    }

    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Error::Matrix { extra, .. } = &mut self {
            extra.insert(key.to_owned(), value.into());
        }
        self
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, ErrCode::Forbidden, message)
    }
    pub fn bad_json(message: impl Into<String>) -> Self {
        Self::new(400, ErrCode::BadJson, message)
    }
    pub fn not_json(message: impl Into<String>) -> Self {
        Self::new(400, ErrCode::NotJson, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, ErrCode::NotFound, message)
    }
    pub fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(400, ErrCode::InvalidParam, message)
    }
    pub fn missing_param(message: impl Into<String>) -> Self {
        Self::new(400, ErrCode::MissingParam, message)
    }
    pub fn unrecognized(status: u16, message: impl Into<String>) -> Self {
        Self::new(status, ErrCode::Unrecognized, message)
    }
    pub fn missing_token(message: impl Into<String>) -> Self {
        Self::new(401, ErrCode::MissingToken, message)
    }
    /// 429 M_LIMIT_EXCEEDED: try again in `retry_after_ms` (the HTTP layer
    /// adds a `Retry-After` header in whole seconds, rounded up).
    pub fn limit_exceeded(retry_after_ms: u64) -> Self {
        Self::new(429, ErrCode::LimitExceeded, "Too Many Requests")
            .with_extra("retry_after_ms", retry_after_ms)
    }
    pub fn unknown_token(soft_logout: bool) -> Self {
        Self::new(401, ErrCode::UnknownToken, "Invalid access token passed.")
            .with_extra("soft_logout", soft_logout)
    }

    /// Log `cause` and turn it into a bare 500.
    #[track_caller]
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        crate::telemetry::log_internal(cause);
        Error::Internal
    }

    /// The errcode, for tests and logs.
    pub fn errcode(&self) -> Option<ErrCode> {
        match self {
            Error::Matrix { errcode, .. } => Some(*errcode),
            Error::AuthRequired(_) | Error::Internal => None,
        }
    }
}

impl From<crate::store::StoreError> for Error {
    #[track_caller]
    fn from(e: crate::store::StoreError) -> Self {
        Error::internal(e)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Matrix {
                status,
                errcode,
                message,
                ..
            } => write!(f, "{status} {}: {message}", errcode.as_str()),
            Error::AuthRequired(_) => write!(f, "401 user-interactive auth required"),
            Error::Internal => write!(f, "500 Internal server error"),
        }
    }
}
