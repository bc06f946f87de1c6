//! One file per endpoint or small group: request/response shapes and the
//! handler, which parses, calls `auth`, and renders.

pub mod account;
pub mod account_forms;
pub mod account_pages;
pub mod admin;
pub mod admin_devices;
pub mod admin_lookups;
pub mod admin_users;
pub mod consent;
pub mod devices;
pub mod fallback;
pub mod login;
pub mod logout;
pub mod oauth;
pub mod oauth_browser;
pub mod oauth_compat;
pub mod oauth_device;
pub mod oauth_pages;
pub mod oauth_registration;
pub mod oauth_token;
pub mod operations;
pub mod refresh;
pub mod register;
pub mod registration_tokens;
pub mod sso;
pub mod threepid;
pub mod versions;
