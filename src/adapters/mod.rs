//! The outbound adapters: every connection mxauth opens to another server,
//! each behind a trait of the rules (`auth/`) that it implements. The
//! rules decide what to send and what an answer means; an adapter only
//! speaks the protocol. `server.rs` builds them from the config and hands
//! them to `Auth`; nothing in `auth/` names this module, and an adapter
//! imports from `auth/` only the trait it implements and its plain types.
//!
//! - `http.rs`: the one place that builds HTTP clients (rustls, redirects
//!   off, timeouts), for every adapter, the REST provider and the CLI.
//! - `smtp.rs`: [`crate::auth::mail::Mailer`] over SMTP (lettre).
//! - `recaptcha.rs`: [`crate::auth::captcha::CaptchaVerifier`] at siteverify.
//! - `synapse.rs`: [`crate::auth::homeserver::HomeserverApi`], Synapse's
//!   `/_synapse/mas/*` API.
//! - `oidc.rs`: [`crate::auth::sso::upstream::UpstreamOidc`], the HTTP
//!   calls to upstream OpenID Connect providers.
//! - `rest_backend.rs`: [`crate::auth::providers::rest::RestBackend`], the
//!   REST password provider's backend.

pub mod http;
pub mod oidc;
pub mod recaptcha;
pub mod rest_backend;
pub mod smtp;
pub mod synapse;
