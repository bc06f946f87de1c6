//! mxauth as an OAuth 2.0 authorization server (the Matrix spec's "OAuth
//! 2.0 API"): its clients (`clients.rs`: static and registered, lookup,
//! redirect URIs, client authentication), the keys that sign id_tokens
//! (`keys.rs`), the server metadata (`metadata.rs`), dynamic client
//! registration (`registration.rs`); `mxauth.oauth` being read by
//! `config/oauth.rs`.

pub mod clients;
pub mod error;
pub mod keys;
pub mod metadata;
pub mod registration;

pub use crate::config::{ApplicationType, ClientAuthMethod, OAuthConfig};
pub use clients::{ClientCredentials, OAuthClient};
pub use error::{ClientAuthError, RegistrationError, SigningError};
