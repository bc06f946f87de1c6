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
use crate::store::StoreError;

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

impl RegisterError {
    /// Log `cause` and give [`RegisterError::Internal`].
    #[track_caller]
    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        let at = std::panic::Location::caller();
        tracing::error!(%at, "internal error: {cause}");
        RegisterError::Internal
    }
}

impl From<StoreError> for RegisterError {
    #[track_caller]
    fn from(e: StoreError) -> Self {
        RegisterError::internal(e)
    }
}

/// `From` for a wrapped area's error, keeping its `Internal` ours.
macro_rules! wrap {
    ($from:ty, $variant:ident, $internal:pat) => {
        impl From<$from> for RegisterError {
            fn from(e: $from) -> Self {
                match e {
                    $internal => RegisterError::Internal,
                    e => RegisterError::$variant(e),
                }
            }
        }
    };
    ($from:ty, $variant:ident) => {
        impl From<$from> for RegisterError {
            fn from(e: $from) -> Self {
                RegisterError::$variant(e)
            }
        }
    };
}

wrap!(UsernameError, Username);
wrap!(PasswordPolicyError, WeakPassword);
wrap!(DeviceIdError, DeviceId);
wrap!(LimitExceeded, LimitExceeded);
wrap!(Blocked, Blocked, Blocked::Internal);
wrap!(UiaError, Uia, UiaError::Internal);
wrap!(ThreepidError, Threepid, ThreepidError::Internal);
wrap!(AuthnError, AppService, AuthnError::Internal);
wrap!(SessionError, Session, SessionError::Internal);

impl From<DisplayNameTooLong> for RegisterError {
    fn from(_: DisplayNameTooLong) -> Self {
        RegisterError::DisplayNameTooLong
    }
}
