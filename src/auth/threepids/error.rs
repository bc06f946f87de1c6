//! Why a 3PID rule refuses: [`ThreepidError`], and [`Unusable`], why a
//! validated session cannot be spent. The HTTP layer renders them as the
//! Matrix errors (`From<ThreepidError> for Error`).

use crate::auth::policy::PasswordPolicyError;
use crate::auth::uia::UiaError;

/// The 3PID rules' answer when they refuse.
#[derive(Debug, thiserror::Error)]
pub enum ThreepidError {
    /// `email:` is not configured: no address can be validated.
    #[error("email is not configured")]
    EmailNotConfigured,
    /// `enable_3pid_changes` is off: no address may be added or removed.
    #[error("3PID changes are disabled")]
    ChangesDisabled,
    /// A registration's address, while registration is disabled.
    #[error("registration is disabled")]
    RegistrationDisabled,
    /// `allowed_local_3pids` or a password provider refuses the address.
    #[error("the address is not allowed")]
    Denied,
    /// A password reset's address that no account has.
    #[error("no account has the address")]
    NotFound,
    /// A password reset whose validated address no account has any more.
    #[error("no account has the validated address any more")]
    NoLongerBound,
    /// A registration's or a 3PID add's address that an account has.
    #[error("the address is in use")]
    InUse,
    /// A validation link with a session ID or client secret that matches
    /// no session.
    #[error("unknown validation session")]
    UnknownSession,
    /// A validation link with a token that is not the latest mail's, or
    /// that expired before the session was validated.
    #[error("wrong or expired validation token")]
    BadToken,
    /// A validated session that cannot be spent.
    #[error("{0}")]
    Unusable(Unusable),
    /// A password reset without `email:` configured: the request is a
    /// password change, which needs an access token.
    #[error("no password reset without email")]
    ResetUnavailable,
    /// An email address that does not parse.
    #[error("unparsable email address")]
    InvalidEmail,
    /// A `client_secret` outside the spec's alphabet or length.
    #[error("invalid client_secret")]
    InvalidClientSecret,
    /// A `send_attempt` that is a number but not an integer that fits.
    #[error("send_attempt is not an integer")]
    BadSendAttempt,
    /// A `next_link` that is not an http(s) URL.
    #[error("next_link is not an http(s) URL")]
    NextLinkNotHttp,
    /// A `next_link` whose host `next_link_domain_whitelist` does not list.
    #[error("next_link's host is not whitelisted")]
    NextLinkNotWhitelisted,
    /// The field the request needs is missing.
    #[error("missing {0}")]
    MissingParam(&'static str),
    /// The field has the wrong JSON type: `expected` is what it must be
    /// ("a string", "an integer", ...).
    #[error("'{field}' must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    /// The UIA engine's answer (a challenge, a failed stage, an unknown
    /// session).
    #[error("user-interactive auth did not pass")]
    Uia(UiaError),
    /// The password policy refuses a reset's new password.
    #[error("{0}")]
    WeakPassword(PasswordPolicyError),
    /// Logged where it happened.
    #[error("internal error")]
    Internal,
}

internal_error!(ThreepidError, store);

/// Why a validated session cannot be spent: the message of a failed
/// `m.login.email.identity` stage, and of a refused 3PID add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// Unknown, not validated, another client's, or not an email's.
    #[error("No validated 3pid session found")]
    NoSession,
    /// Validated longer ago than `validation_token_lifetime`.
    #[error("This email validation has expired: validate the address again")]
    Expired,
    /// Spent by another operation already.
    #[error("This email validation has been used already: validate the address again")]
    Spent,
}

wrap_error!(Unusable => ThreepidError::Unusable);

wrap_error!(UiaError => ThreepidError::Uia, UiaError::Internal);

wrap_error!(PasswordPolicyError => ThreepidError::WeakPassword);
