//! Why single sign-on refuses: [`SsoError`], the rules' answer, which the
//! HTTP layer renders as the Matrix error or the SSO error page
//! (`From<SsoError> for Error`, `http/error/sso.rs`).

use crate::auth::blocking::Blocked;
use crate::auth::identifiers::UsernameError;
use crate::auth::login::LoginError;
use crate::auth::session::SessionError;
use crate::auth::uia::UiaError;

#[derive(Debug)]
pub enum SsoError {
    /// No configured provider has this `idp_id` (or, for re-authentication,
    /// none the user is linked to).
    UnknownProvider,
    /// The client's `redirectUrl` is not an absolute http(s) URL.
    InvalidRedirectUrl,
    /// The provider's callback carries no `state`.
    MissingState,
    /// The provider's callback carries no `code`.
    MissingCode,
    /// The login in progress expired or was already finished.
    LoginExpired,
    /// The callback came to another browser than the one that started.
    OtherBrowser,
    /// The provider answered with an error instead of a code.
    ProviderRefused,
    /// The answer names another issuer than the provider's (RFC 9207).
    IssuerMismatch,
    /// The provider could not be reached or gave an invalid answer (logged
    /// where it happened).
    ProviderUnavailable,
    /// The claims do not meet `attribute_requirements`.
    RequirementsNotMet,
    /// The subject template renders empty.
    NoSubject,
    /// No account is linked and the provider may not create one.
    RegistrationDisabled,
    /// Every numbered candidate localpart is taken.
    NoFreeUsername,
    /// The mapped localpart matches several accounts case-insensitively.
    AmbiguousUser,
    /// The picker's pending sign-up expired, was finished, or is not this
    /// browser's.
    SignUpExpired,
    /// The username chosen at the picker is taken or reserved.
    UsernameTaken,
    /// A UIA session without a signed-in user asks for `m.login.sso`.
    NotSignedIn,
    /// The UIA session's flows do not offer `m.login.sso`.
    SsoNotOffered,
    /// The provider's identity is not linked to the UIA session's user.
    NotTheSessionUser,
    /// `login_via_existing_session` is off: `POST /login/get_token` does
    /// not exist.
    GetTokenDisabled,
    /// This UIA session already issued a login token.
    UiaAlreadyUsed,
    /// An unknown, used or expired login token: one answer for all.
    InvalidLoginToken,
    /// The account may not log in (deactivated, locked): the login rules'
    /// answer.
    Login(LoginError),
    /// The UIA engine's answer (unknown session, the challenge).
    Uia(UiaError),
    /// The localpart rules refuse the chosen or mapped name.
    Username(UsernameError),
    /// Auth blocking refuses a new account.
    Blocked(Blocked),
    /// No session could be opened for the user.
    Session(SessionError),
    /// Logged where it happened.
    Internal,
}

internal_error!(SsoError, store);

impl SsoError {}

wrap_error!(LoginError => SsoError::Login, LoginError::Internal);

wrap_error!(UiaError => SsoError::Uia, UiaError::Internal);

wrap_error!(UsernameError => SsoError::Username);

wrap_error!(Blocked => SsoError::Blocked, Blocked::Internal);

wrap_error!(SessionError => SsoError::Session, SessionError::Internal);
