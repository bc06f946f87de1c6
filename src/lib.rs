//! mxauth: the authentication server of a Matrix homeserver.
//! See ARCHITECTURE.md for the map.

pub mod adapters;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod templates;
