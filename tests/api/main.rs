//! Black-box tests: the real server on a random port with a fresh database,
//! each test once on SQLite and once on PostgreSQL.

mod support;

mod account;
mod admin;
mod cli;
mod devices;
mod email;
mod errors;
mod introspect;
mod login;
mod multiprocess;
mod passwords;
mod register;
mod smtp;
mod store;
mod store_threepids;
