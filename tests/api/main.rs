//! Black-box tests: the real server on a random port with a fresh database,
//! each test once on SQLite and once on PostgreSQL.

mod support;

mod account;
mod admin;
mod appservice;
mod blocking;
pub(crate) mod browser;
mod cli;
mod devices;
mod email;
mod errors;
mod fallback;
mod guests;
mod introspect;
mod login;
mod multiprocess;
mod passwords;
mod puppet;
mod register;
mod registration_tokens;
mod smtp;
mod sso;
mod store;
mod store_sso;
mod store_threepids;
mod terms;
mod uia_timeout;
