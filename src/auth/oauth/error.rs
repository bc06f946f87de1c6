//! The refusals of the OAuth 2.0 API's client side, as reasons
//! (`http/error/oauth.rs` renders them as RFC 6749 / RFC 7591 errors).

use crate::auth::ratelimit::LimitExceeded;

/// Why a client could not be authenticated (token and revocation
/// endpoints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuthError {
    /// No client named, a `Basic` header that does not decode, or more
    /// than one method in one request (RFC 6749 2.3).
    Malformed,
    /// No such client.
    UnknownClient,
    /// Not the method the client was registered with.
    WrongMethod,
    /// The secret is not the client's.
    BadSecret,
    Internal,
}

internal_error!(ClientAuthError, store);

/// Signing keys could not be made, read or used: always a 500 (logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningError {
    Internal,
}

internal_error!(SigningError, store);

/// Why a dynamic client registration was refused (RFC 7591 3.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationError {
    /// The OAuth 2.0 API or its dynamic registration is off.
    Disabled,
    /// A redirect URI breaks the rules of the client's type (the message
    /// says which and why).
    InvalidRedirectUri(String),
    /// Other metadata is missing or wrong (the message says which).
    InvalidClientMetadata(String),
    /// Too many registrations from this address.
    RateLimited(LimitExceeded),
    Internal,
}

internal_error!(RegistrationError, store);
wrap_error!(LimitExceeded => RegistrationError::RateLimited);
