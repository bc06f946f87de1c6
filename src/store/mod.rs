//! Persistence: one interface ([`Store`]), two backends (SQLite and
//! PostgreSQL) whose SQL is written once (`sql.rs`). All SQL of mxauth lives
//! under this module, and nothing here knows a rule of Matrix auth: callers
//! pass in plain values (already-hashed tokens and passwords, timestamps from
//! the injected clock).

mod jobs;
mod ratelimit;
mod registration;
mod sql;
mod sso;
mod threepids;
mod uia;
mod usage;

use async_trait::async_trait;
use std::sync::Arc;

pub use jobs::HomeserverJobStore;
pub use ratelimit::{BucketSpec, BucketState, RateLimitOverride, RateLimitStore};
pub use registration::RegistrationStore;
pub use sql::{PostgresStore, SqliteStore};
pub use sso::{CreatedWithLink, NewLoginToken, PendingRegistration, SsoSession, SsoStore};
pub use threepids::ThreepidStore;
pub use uia::UiaStore;
pub use usage::UsageStore;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: String,
    pub password_hash: Option<String>,
    pub admin: bool,
    pub user_type: Option<String>,
    pub is_guest: bool,
    pub deactivated: bool,
    pub locked: bool,
    pub creation_ts: i64,
    pub displayname: Option<String>,
    pub appservice_id: Option<String>,
    /// The `user_consent` policy version the user accepted.
    pub consent_version: Option<String>,
    /// Bumped by every password change (not by a rehash of the same
    /// password): a password login's token is issued only while the
    /// version it verified is current.
    pub credentials_version: i64,
}

/// What is needed to create a user.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub user_id: String,
    pub password_hash: Option<String>,
    pub admin: bool,
    pub user_type: Option<String>,
    pub is_guest: bool,
    pub creation_ts: i64,
    pub displayname: Option<String>,
    pub appservice_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub user_id: String,
    pub device_id: String,
    pub display_name: Option<String>,
    pub last_seen_ts: Option<i64>,
    pub last_seen_ip: Option<String>,
}

/// A new access token. `token_hash` is the SHA-256 of the token: the token
/// itself is never stored.
#[derive(Debug, Clone)]
pub struct NewAccessToken {
    pub token_hash: Vec<u8>,
    pub user_id: String,
    pub device_id: Option<String>,
    /// For a puppet token: the admin who created it.
    pub puppet_owner: Option<String>,
    pub created_ts: i64,
    pub valid_until_ms: Option<i64>,
}

/// The answer to "whose token is this?": the token row joined with the
/// user flags request authentication needs, in one indexed lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub token_id: i64,
    pub user_id: String,
    pub device_id: Option<String>,
    pub puppet_owner: Option<String>,
    pub valid_until_ms: Option<i64>,
    pub user_deactivated: bool,
    pub user_locked: bool,
    pub user_is_guest: bool,
    pub user_admin: bool,
}

/// A registration, written by [`Store::complete_registration`] in one
/// transaction: all of it or nothing.
#[derive(Debug, Clone, Default)]
pub struct NewRegistration {
    /// The user to create; with `upgrade_guest`, the guest that becomes a
    /// normal user with `user.password_hash` (its access tokens go) and,
    /// if given, `user.displayname`.
    pub user: NewUser,
    pub upgrade_guest: bool,
    pub consent_version: Option<String>,
    /// A validated 3PID to bind; the registration fails if it is bound.
    pub threepid: Option<UserThreepid>,
    /// Counted as monthly-active at this time (a reserved address).
    pub monthly_active_ts: Option<i64>,
    /// A registration token whose pending use becomes completed.
    pub registration_token: Option<String>,
    /// The UIA session that authorised the registration and the result to
    /// record in it: the registration happens only if it has none yet.
    pub uia_session: Option<(String, serde_json::Value)>,
    /// The first device: its ID and display name.
    pub device: Option<(String, Option<String>)>,
    /// An access token for that device.
    pub access_token: Option<NewAccessToken>,
}

/// What [`Store::complete_registration`] did. Anything but `Done` wrote nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistrationOutcome {
    Done,
    UserTaken,
    /// `upgrade_guest` named a user that is not (or no longer) a guest.
    NotAGuest,
    ThreepidTaken,
    /// The UIA session already has a result (given), or is gone (`None`).
    SessionSpent(Option<serde_json::Value>),
}

/// A User-Interactive Auth session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct UiaSession {
    pub session_id: String,
    pub creation_ts: i64,
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

/// The one storage interface. Every method is atomic on its own.
#[async_trait]
pub trait Store:
    SsoStore
    + RateLimitStore
    + ThreepidStore
    + UsageStore
    + UiaStore
    + RegistrationStore
    + HomeserverJobStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is ("sqlite" or "postgres"), for logs.
    fn backend(&self) -> &'static str;

    // --- users
    /// Creates the user; `false` if the user ID is taken.
    async fn create_user(&self, user: &NewUser) -> StoreResult<bool>;
    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>>;
    /// Users whose ID equals `user_id` case-insensitively (ASCII).
    async fn get_users_case_insensitive(&self, user_id: &str) -> StoreResult<Vec<User>>;
    async fn set_password_hash(&self, user_id: &str, hash: Option<&str>) -> StoreResult<()>;
    async fn set_admin(&self, user_id: &str, admin: bool) -> StoreResult<()>;
    /// Sets `user_type` and `displayname` where given (`None` leaves a field).
    async fn set_profile_fields(
        &self,
        user_id: &str,
        user_type: Option<&str>,
        displayname: Option<&str>,
    ) -> StoreResult<()>;
    /// Marks the user deactivated (its password hash is kept, unusable, so
    /// that only the right password learns the account is deactivated),
    /// and deletes all its devices, access tokens and 3PIDs, in one
    /// transaction (a login token still unused is refused at use: its user
    /// is deactivated). Returns the deleted device IDs.
    async fn deactivate_user(&self, user_id: &str) -> StoreResult<Vec<String>>;
    /// Writes a whole registration in one transaction (see [`NewRegistration`]).
    async fn complete_registration(
        &self,
        registration: &NewRegistration,
    ) -> StoreResult<RegistrationOutcome>;
    /// Sets a new password hash and bumps the credentials version; with
    /// `logout_devices`, deletes every device but `keep_device`, every
    /// access token but `keep_token` and every unused login token, in the
    /// same transaction. Returns the deleted device IDs.
    async fn change_password(
        &self,
        user_id: &str,
        hash: &str,
        logout_devices: bool,
        keep_device: Option<&str>,
        keep_token: Option<i64>,
    ) -> StoreResult<Vec<String>>;
    /// Replaces the hash of the same password (a scheme upgrade), only if
    /// the credentials version is still `credentials_version`.
    async fn upgrade_password_hash(
        &self,
        user_id: &str,
        credentials_version: i64,
        hash: &str,
    ) -> StoreResult<bool>;

    // --- devices
    /// Creates the device unless it exists (an existing one is kept as is).
    /// Returns `true` when it was created.
    async fn ensure_device(
        &self,
        user_id: &str,
        device_id: &str,
        display_name: Option<&str>,
    ) -> StoreResult<bool>;
    async fn get_device(&self, user_id: &str, device_id: &str) -> StoreResult<Option<Device>>;
    async fn list_devices(&self, user_id: &str) -> StoreResult<Vec<Device>>;
    /// `false` when there is no such device.
    async fn set_device_display_name(
        &self,
        user_id: &str,
        device_id: &str,
        display_name: Option<&str>,
    ) -> StoreResult<bool>;
    /// Deletes the devices and every access token bound to them. Returns the
    /// IDs of the devices that existed.
    async fn delete_devices(
        &self,
        user_id: &str,
        device_ids: &[String],
    ) -> StoreResult<Vec<String>>;
    /// Deletes every device of the user but `keep` and every token but the
    /// one with id `keep_token`. Returns the deleted device IDs.
    async fn delete_all_devices_except(
        &self,
        user_id: &str,
        keep_device: Option<&str>,
        keep_token: Option<i64>,
    ) -> StoreResult<Vec<String>>;

    // --- access tokens
    async fn create_access_token(&self, token: &NewAccessToken) -> StoreResult<i64>;
    /// A session's token: created only if its user is not deactivated and,
    /// with `credentials_version`, the user's version is still that one
    /// (checked with the user's row locked until the token is written, so
    /// a password change or deactivation is either before, and no token
    /// is made, or after, and deletes it). `None` when refused.
    async fn create_session_token(
        &self,
        token: &NewAccessToken,
        credentials_version: Option<i64>,
    ) -> StoreResult<Option<i64>>;
    /// The hot path: one indexed lookup, no write.
    async fn get_token_owner(&self, token_hash: &[u8]) -> StoreResult<Option<TokenOwner>>;
    async fn delete_access_token(&self, token_id: i64) -> StoreResult<()>;
    /// Records that the token's user passed user-interactive auth at `ts`.
    async fn set_token_last_validated(&self, token_id: i64, ts: i64) -> StoreResult<()>;
    async fn get_token_last_validated(&self, token_id: i64) -> StoreResult<Option<i64>>;
}

/// A registration token (Synapse's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationToken {
    pub token: String,
    pub uses_allowed: Option<i64>,
    pub pending: i64,
    pub completed: i64,
    pub expiry_time: Option<i64>,
}

/// A 3PID bound to a user. Email addresses are stored lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserThreepid {
    pub user_id: String,
    pub medium: String,
    pub address: String,
    pub validated_at: i64,
    pub added_at: i64,
}

/// An email validation session (`requestToken`, then the link in the mail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreepidSession {
    pub session_id: String,
    pub medium: String,
    pub address: String,
    pub client_secret: String,
    pub last_send_attempt: i64,
    pub validated_at: Option<i64>,
    /// SHA-256 of the latest token sent: the token itself is never stored.
    pub token_hash: Vec<u8>,
    pub token_expires_at: i64,
    pub next_link: Option<String>,
    pub created_at: i64,
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
    pub ts: i64,
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
    pub last_seen: i64,
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
