//! mxauth as an OAuth 2.0 authorization server (the Matrix spec's "OAuth
//! 2.0 API"): its clients (`clients.rs`: static and registered, lookup,
//! redirect URIs, client authentication), the keys that sign id_tokens
//! (`keys.rs`), the server metadata (`metadata.rs`), dynamic client
//! registration (`registration.rs`); `mxauth.oauth` being read by
//! `config/oauth.rs`; the authorization code grant: `scope.rs` (the
//! Matrix scopes), `grant.rs` (`/authorize`, approval, refusals back to
//! the client), `browser.rs` (the pages' browser session, CSRF, the login
//! form's credential check), `signup.rs` (registration from the pages,
//! through `/register`'s operation and UIA flow), `token.rs` (the token endpoint's grants and
//! RFC 7009 revocation on the one session model), `compat.rs` (legacy
//! clients' `/login/sso/redirect` through these pages, MSC3824); the device
//! authorization grant (`device.rs`, RFC 8628: device and user codes,
//! the verification page's decision, polling).

pub mod browser;
pub mod clients;
pub mod compat;
pub mod device;
pub mod error;
pub mod grant;
pub mod keys;
pub mod metadata;
pub mod registration;
pub mod scope;
pub mod signup;
pub mod token;

pub use crate::config::{ApplicationType, ClientAuthMethod, OAuthConfig};
pub use clients::{ClientCredentials, OAuthClient};
pub use error::{ClientAuthError, RegistrationError, SigningError};
