//! Why a registration is refused: [`RegisterError`], the answer of
//! `register.rs` and `guests.rs`, rendered by the HTTP layer
//! (`http/error/register.rs`).

use super::blocking::Blocked;
use super::identifiers::{DeviceIdError, UsernameError};
use super::policy::PasswordPolicyError;
use super::ratelimit::LimitExceeded;
use super::requester::AuthnError;
use super::session::SessionError;
use super::threepids::ThreepidError;
use super::uia::UiaError;
use super::DisplayNameTooLong;

#[derive(Debug)]
pub enum RegisterError {
    /// `enable_registration` is off.
    Disabled,
    /// `allow_guest_access` is off.
    GuestAccessDisabled,
    /// The body does not parse as a registration (serde's reason).
    BadJson(String),
    /// A field that must be a string is not: its name.
    NotAString(&'static str),
    /// A field the registration needs is missing: the message.
    MissingParam(&'static str),
    /// The username is taken.
    UserInUse,
    /// A taken username without the guest's own token.
    NotThisGuest,
    /// A `guest_access_token` that is no live guest's token.
    UnknownGuestToken,
    /// The validated email address is bound to an account meanwhile.
    ThreepidInUse,
    /// The registration's UIA session is gone.
    UnknownSession,
    /// A replay of a spent session after the login it made has ended.
    SessionSpent,
    /// An application service registering outside its namespaces, or in
    /// another's exclusive one.
    NotInNamespace,
    /// The username is in an application service's exclusive namespace.
    Reserved,
    Username(UsernameError),
    WeakPassword(PasswordPolicyError),
    DeviceId(DeviceIdError),
    DisplayNameTooLong,
    Blocked(Blocked),
    LimitExceeded(LimitExceeded),
    /// UIA has not passed (the challenge) or refused.
    Uia(UiaError),
    /// The validated email of the session is refused.
    Threepid(ThreepidError),
    /// An application service's `as_token` is missing or not one.
    AppService(AuthnError),
    /// No session could be opened for the new user.
    Session(SessionError),
    /// Logged where it happened.
    Internal,
}

internal_error!(RegisterError, store);

wrap_error!(UsernameError => RegisterError::Username);
wrap_error!(PasswordPolicyError => RegisterError::WeakPassword);
wrap_error!(DeviceIdError => RegisterError::DeviceId);
wrap_error!(LimitExceeded => RegisterError::LimitExceeded);
wrap_error!(Blocked => RegisterError::Blocked, Blocked::Internal);
wrap_error!(UiaError => RegisterError::Uia, UiaError::Internal);
wrap_error!(ThreepidError => RegisterError::Threepid, ThreepidError::Internal);
wrap_error!(AuthnError => RegisterError::AppService, AuthnError::Internal);
wrap_error!(SessionError => RegisterError::Session, SessionError::Internal);

impl From<DisplayNameTooLong> for RegisterError {
    fn from(_: DisplayNameTooLong) -> Self {
        RegisterError::DisplayNameTooLong
    }
}
