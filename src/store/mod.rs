//! Persistence: one interface ([`Store`]), two backends (SQLite and
//! PostgreSQL) whose SQL is written once (`sql.rs`). All SQL of mxauth lives
//! under this module, and nothing here knows a rule of Matrix auth: callers
//! pass in plain values (already-hashed tokens and passwords, timestamps from
//! the injected clock).

pub mod changes;
mod conn;
mod devices;
mod jobs;
mod oauth;
mod oauth_device;
mod oauth_grants;
mod ratelimit;
mod refresh_tokens;
mod registration;
mod sql;
mod sso;
mod synapse_import;
pub mod synapse_source;
mod threepids;
mod tokens;
mod uia;
mod usage;
mod user_list;
mod users;

use crate::clock::Timestamp;
use async_trait::async_trait;
use std::sync::Arc;

pub use devices::{DeviceRepository, DevicelessToken};
pub use jobs::HomeserverJobRepository;
pub use oauth::{OAuthClientRow, OAuthRepository, SigningKeyRow};
pub use oauth_device::{status as device_grant_status, DeviceGrant, DeviceGrantRepository};
pub use oauth_grants::{BrowserSession, CompatLogin, OAuthGrant, OAuthGrantRepository};
pub use ratelimit::{BucketSpec, BucketState, RateLimitOverride, RateLimitRepository};
pub use refresh_tokens::RefreshTokenRepository;
pub use registration::RegistrationRepository;
pub use sql::{PostgresStore, SqlTransaction, SqliteStore};
pub use sso::{NewLoginToken, PendingRegistration, SsoRepository, SsoSession};
pub use synapse_import::{
    ImportAccessToken, ImportDevice, ImportExternalId, ImportRatelimitOverride, ImportRefreshToken,
    ImportWrite, ImportedRow, LocalQuery, LocalRows, SynapseImportRepository,
};
pub use threepids::ThreepidRepository;
pub use tokens::AccessTokenRepository;
pub use uia::{ResultOnce, UiaRepository};
pub use usage::{MauCount, UsageRepository};
pub use user_list::{
    UserCursor, UserListFilter, UserListPage, UserListQuery, UserListRow, UserOrder,
};
pub use users::UserRepository;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A user account. `user_id` is the full Matrix ID (`@alice:example.org`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    #[sqlx(rename = "name")]
    pub user_id: String,
    pub password_hash: Option<String>,
    pub admin: bool,
    pub user_type: Option<String>,
    pub is_guest: bool,
    pub deactivated: bool,
    pub locked: bool,
    pub created_ts: Timestamp,
    pub displayname: Option<String>,
    pub appservice_id: Option<String>,
    /// The `user_consent` policy version the user accepted.
    pub consent_version: Option<String>,
    /// Bumped by every password change (not by a rehash of the same
    /// password): a password login's token is issued only while the
    /// version it verified is current.
    pub credentials_version: i64,
    /// Suspended by an admin: the homeserver refuses the user's writes.
    pub suspended: bool,
    /// Deactivated with `erase` (Synapse's `erased_users`).
    pub erased: bool,
    pub avatar_url: Option<String>,
}

/// What is needed to create a user.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub user_id: String,
    pub password_hash: Option<String>,
    pub admin: bool,
    pub user_type: Option<String>,
    pub is_guest: bool,
    pub created_ts: Timestamp,
    pub displayname: Option<String>,
    pub appservice_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Device {
    pub user_id: String,
    pub device_id: String,
    pub display_name: Option<String>,
    pub last_seen_ts: Option<Timestamp>,
    pub last_seen_ip: Option<String>,
}

/// A device as the account pages list it: a legacy login or an OAuth 2.0
/// session (both are devices), with what its tokens and sightings say.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceSession {
    pub device_id: String,
    pub display_name: Option<String>,
    /// When the device was made; for a device older than migration 0019,
    /// its oldest token's time (`None` without tokens).
    pub created_ts: Option<Timestamp>,
    pub last_seen_ts: Option<Timestamp>,
    pub last_seen_ip: Option<String>,
    /// The latest user agent seen with the device (`user_ips`).
    pub last_user_agent: Option<String>,
    /// The OAuth 2.0 client of its tokens; `None` for a legacy login.
    pub oauth_client_id: Option<String>,
}

/// A new access token. `token_hash` is the SHA-256 of the token: the token
/// itself is never stored.
#[derive(Debug, Clone, Default)]
pub struct NewAccessToken {
    pub token_hash: Vec<u8>,
    pub user_id: String,
    pub device_id: Option<String>,
    /// For a puppet token: the admin who created it.
    pub puppet_owner: Option<String>,
    pub created_ts: Timestamp,
    pub valid_until_ts: Option<Timestamp>,
    /// An OAuth grant's client and scope (space-separated, as granted);
    /// `None` for a legacy login (the full scope).
    pub oauth_client_id: Option<String>,
    pub scope: Option<String>,
}

/// A new refresh token, stored as its SHA-256 with what a refresh needs to
/// reissue the session the same way.
#[derive(Debug, Clone, Default)]
pub struct NewRefreshToken {
    pub token_hash: Vec<u8>,
    pub user_id: String,
    pub device_id: String,
    pub oauth_client_id: Option<String>,
    pub scope: Option<String>,
    pub created_ts: Timestamp,
    /// When this refresh token stops working, if it does.
    pub expires_ts: Option<Timestamp>,
    /// Synapse's ultimate session expiry: no token of the session, however
    /// often refreshed, works past it.
    pub session_until_ts: Option<Timestamp>,
    pub access_token_lifetime_ms: Option<i64>,
    pub refresh_token_lifetime_ms: Option<i64>,
}

/// A stored refresh token, with what its rotation rule needs to know of
/// its successor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: i64,
    pub user_id: String,
    pub device_id: String,
    pub oauth_client_id: Option<String>,
    pub scope: Option<String>,
    pub created_ts: Timestamp,
    pub expires_ts: Option<Timestamp>,
    pub session_until_ts: Option<Timestamp>,
    pub access_token_lifetime_ms: Option<i64>,
    pub refresh_token_lifetime_ms: Option<i64>,
    /// The access token issued with it.
    pub access_token_id: Option<i64>,
    /// Set once it was used for a refresh: the token that replaced it.
    pub next: Option<Successor>,
}

/// The refresh token that replaced another, as far as the older one's
/// retry window is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Successor {
    pub id: i64,
    /// It was itself used for a refresh.
    pub refreshed: bool,
    /// The access token issued with it was used (`first_used_ts`).
    pub access_token_used: bool,
}

/// The answer to "whose token is this?": the token row joined with the
/// user flags request authentication needs, in one indexed lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub token_id: i64,
    pub user_id: String,
    pub device_id: Option<String>,
    pub puppet_owner: Option<String>,
    pub valid_until_ts: Option<Timestamp>,
    /// The refresh token it was issued with, if any.
    pub refresh_token_id: Option<i64>,
    /// Its first authenticated use (only recorded for a token issued with
    /// a refresh token).
    pub first_used_ts: Option<Timestamp>,
    pub oauth_client_id: Option<String>,
    pub scope: Option<String>,
    pub user_deactivated: bool,
    pub user_locked: bool,
    pub user_is_guest: bool,
    pub user_admin: bool,
}

/// A User-Interactive Auth session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct UiaSession {
    pub session_id: String,
    pub created_ts: Timestamp,
    pub uri: String,
    pub method: String,
    /// The user the session is bound to (re-authentication), if any.
    pub user_id: Option<String>,
    /// The request body the session was started with (JSON object, secrets removed).
    pub client_dict: serde_json::Map<String, serde_json::Value>,
    /// Data the server keeps for the session (JSON object).
    pub server_dict: serde_json::Map<String, serde_json::Value>,
    /// Set once the operation the session authorised has been carried out.
    pub result: Option<serde_json::Value>,
}

/// The one storage handle: a repository per area, each call atomic on its
/// own, and [`Store::begin`] for several calls that must happen together.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is ("sqlite" or "postgres"), for logs.
    fn backend(&self) -> &'static str;
    /// Starts a transaction: its repositories see and write one snapshot,
    /// committed by [`Transaction::commit`] and rolled back if dropped.
    async fn begin(&self) -> StoreResult<Box<dyn Transaction>>;
    /// The changes request authentication's cache must forget, made by
    /// any process on the database, delivered to `sink`
    /// ([`changes::ChangeFeed::follow`] runs the feed).
    fn change_feed(&self, sink: Arc<dyn changes::ChangeSink>) -> Arc<dyn changes::ChangeFeed>;
    /// Whether the database answers: one cheap read of a table (readiness).
    async fn ping(&self) -> StoreResult<()>;
    /// This process's pool now (for the metrics, at scrape time).
    fn pool_status(&self) -> PoolStatus;
    /// Reports every later wait for a pooled connection to `histogram`.
    fn report_pool_waits_to(&self, histogram: prometheus::Histogram);

    fn users(&self) -> Box<dyn UserRepository + '_>;
    fn devices(&self) -> Box<dyn DeviceRepository + '_>;
    fn access_tokens(&self) -> Box<dyn AccessTokenRepository + '_>;
    fn refresh_tokens(&self) -> Box<dyn RefreshTokenRepository + '_>;
    fn threepids(&self) -> Box<dyn ThreepidRepository + '_>;
    fn uia(&self) -> Box<dyn UiaRepository + '_>;
    fn registration(&self) -> Box<dyn RegistrationRepository + '_>;
    fn usage(&self) -> Box<dyn UsageRepository + '_>;
    fn jobs(&self) -> Box<dyn HomeserverJobRepository + '_>;
    fn sso(&self) -> Box<dyn SsoRepository + '_>;
    fn rate_limits(&self) -> Box<dyn RateLimitRepository + '_>;
    fn oauth(&self) -> Box<dyn OAuthRepository + '_>;
    fn oauth_grants(&self) -> Box<dyn OAuthGrantRepository + '_>;
    fn device_grants(&self) -> Box<dyn DeviceGrantRepository + '_>;
    fn synapse_import(&self) -> Box<dyn SynapseImportRepository + '_>;
}

/// A pool's connections at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub in_use: u32,
    pub idle: u32,
}

/// A transaction: the same repositories as [`Store`], inside it.
#[async_trait]
pub trait Transaction: Send {
    async fn commit(self: Box<Self>) -> StoreResult<()>;

    fn users(&mut self) -> Box<dyn UserRepository + '_>;
    fn devices(&mut self) -> Box<dyn DeviceRepository + '_>;
    fn access_tokens(&mut self) -> Box<dyn AccessTokenRepository + '_>;
    fn refresh_tokens(&mut self) -> Box<dyn RefreshTokenRepository + '_>;
    fn threepids(&mut self) -> Box<dyn ThreepidRepository + '_>;
    fn uia(&mut self) -> Box<dyn UiaRepository + '_>;
    fn registration(&mut self) -> Box<dyn RegistrationRepository + '_>;
    fn usage(&mut self) -> Box<dyn UsageRepository + '_>;
    fn jobs(&mut self) -> Box<dyn HomeserverJobRepository + '_>;
    fn sso(&mut self) -> Box<dyn SsoRepository + '_>;
    fn rate_limits(&mut self) -> Box<dyn RateLimitRepository + '_>;
    fn oauth(&mut self) -> Box<dyn OAuthRepository + '_>;
    fn oauth_grants(&mut self) -> Box<dyn OAuthGrantRepository + '_>;
    fn device_grants(&mut self) -> Box<dyn DeviceGrantRepository + '_>;
    fn synapse_import(&mut self) -> Box<dyn SynapseImportRepository + '_>;
}

/// A registration token (Synapse's shape).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RegistrationToken {
    pub token: String,
    pub uses_allowed: Option<i64>,
    pub pending: i64,
    pub completed: i64,
    pub expires_ts: Option<Timestamp>,
}

/// A 3PID bound to a user. Email addresses are stored lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserThreepid {
    pub user_id: String,
    pub medium: String,
    pub address: String,
    pub validated_ts: Timestamp,
    pub added_ts: Timestamp,
}

/// An email validation session (`requestToken`, then the link in the mail).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ThreepidSession {
    pub session_id: String,
    pub medium: String,
    pub address: String,
    pub client_secret: String,
    /// The highest `send_attempt` the client sent (a counter, not a time).
    pub last_send_attempt: i64,
    pub validated_ts: Option<Timestamp>,
    /// SHA-256 of the latest token sent: the token itself is never stored.
    pub token_hash: Vec<u8>,
    pub token_expires_ts: Timestamp,
    pub next_link: Option<String>,
    pub created_ts: Timestamp,
}

/// A call to the homeserver waiting to be made.
#[derive(Debug, Clone, PartialEq)]
pub struct HomeserverJob {
    pub id: i64,
    pub user_id: String,
    /// The `/_synapse/mas/<kind>` endpoint.
    pub kind: String,
    /// The JSON body to send.
    pub payload: serde_json::Value,
    /// Failed attempts so far.
    pub attempts: i64,
}

/// One device sighting, for [`Store::record_device_last_seen`].
#[derive(Debug, Clone)]
pub struct DeviceSeen {
    pub user_id: String,
    pub device_id: String,
    pub last_seen_ts: Timestamp,
    pub ip: Option<String>,
}

/// One client-IP sighting (Synapse's `user_ips` row), keyed by user,
/// token and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIpSeen {
    pub user_id: String,
    /// The access token's row id; -1 for an application service's as_token.
    pub token_id: i64,
    pub ip: String,
    /// The latest seen; empty when the client sent none.
    pub user_agent: String,
    pub device_id: Option<String>,
    pub last_seen_ts: Timestamp,
}

/// Opens the store a database URL names (`sqlite:...` or `postgres://...`)
/// and applies the migrations.
pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(
            PostgresStore::connect(url, max_connections).await?,
        ))
    } else {
        Ok(Arc::new(SqliteStore::connect(url, max_connections).await?))
    }
}

#[cfg(test)]
mod tests;
