//! Black-box tests: the real server on a random port with a fresh database,
//! each test once on SQLite and once on PostgreSQL.

mod support;

mod account;
mod admin;
mod appservice;
mod architecture;
mod atomic;
mod blocking;
pub(crate) mod browser;
mod cli;
mod client_ips;
mod devices;
mod email;
mod errors;
mod example;
mod fallback;
mod guests;
mod html_pages;
mod introspect;
mod jwt;
mod ldap;
mod login;
mod mau;
mod multiprocess;
mod nginx;
mod passwords;
mod process_group;
mod providers;
mod puppet;
mod ratelimit;
mod register;
mod registration_tokens;
mod rest_provider;
mod seed_request_auth;
mod sessions_and_tokens;
mod smtp;
mod sso;
mod sso_cache;
mod store;
mod store_sso;
mod store_threepids;
mod store_usage;
mod templates;
mod terms;
mod uia_timeout;
mod work_bounds;
