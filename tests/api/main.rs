//! Black-box tests: the real server on a random port with a fresh database,
//! each test once on SQLite and once on PostgreSQL.

mod support;

mod cli;
mod login;
mod passwords;
mod register;
