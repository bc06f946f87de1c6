//! One file per endpoint or small group: request/response shapes and the
//! handler, which parses, calls `auth`, and renders.

pub mod account;
pub mod admin;
pub mod devices;
pub mod login;
pub mod logout;
pub mod oauth;
pub mod register;
pub mod threepid;
pub mod versions;
