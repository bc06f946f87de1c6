//! mxauth as an OAuth 2.0 authorization server (the Matrix spec's "OAuth
//! 2.0 API"): its clients (`clients.rs`: static and registered, lookup,
//! redirect URIs, client authentication), `mxauth.oauth` being read by
//! `config/oauth.rs`.

pub mod clients;
pub mod error;

pub use crate::config::{ApplicationType, ClientAuthMethod, OAuthConfig};
pub use clients::{ClientCredentials, OAuthClient};
pub use error::ClientAuthError;
