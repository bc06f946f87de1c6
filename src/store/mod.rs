//! Persistence: one interface ([`Store`]), two backends (SQLite and
//! PostgreSQL) whose SQL is written once (`sql.rs`). All SQL of mxauth lives
//! under this module, and nothing here knows a rule of Matrix auth: callers
//! pass in plain values (already-hashed tokens and passwords, timestamps from
//! the injected clock).

mod ratelimit;
mod sql;
mod sso;

use async_trait::async_trait;
use std::sync::Arc;

pub use ratelimit::{BucketSpec, BucketState, RateLimitOverride, RateLimitStore};
pub use sql::{PostgresStore, SqliteStore};
pub use sso::{CreatedWithLink, NewLoginToken, PendingRegistration, SsoSession, SsoStore};

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
pub trait Store: SsoStore + RateLimitStore + Send + Sync + 'static {
    /// Which backend this is ("sqlite" or "postgres"), for logs.
    fn backend(&self) -> &'static str;

    // --- users
    /// Creates the user; `false` if the user ID is taken.
    async fn create_user(&self, user: &NewUser) -> StoreResult<bool>;
    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>>;
    /// Users whose ID equals `user_id` case-insensitively (ASCII).
    async fn get_users_case_insensitive(&self, user_id: &str) -> StoreResult<Vec<User>>;
    async fn set_password_hash(&self, user_id: &str, hash: Option<&str>) -> StoreResult<()>;
    /// Turns a guest into a normal user with this password hash and
    /// revokes the guest's access tokens (as Synapse's guest tokens stop
    /// working on upgrade). False when the user is not (or no longer) a guest.
    async fn upgrade_guest(&self, user_id: &str, password_hash: &str) -> StoreResult<bool>;
    async fn set_admin(&self, user_id: &str, admin: bool) -> StoreResult<()>;
    async fn set_consent_version(&self, user_id: &str, version: &str) -> StoreResult<()>;
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

    // --- third-party identifiers (3PIDs) and their validation sessions
    /// Binds the 3PID to the user; `false` if it is bound already (to anyone).
    async fn add_user_threepid(&self, threepid: &UserThreepid) -> StoreResult<bool>;
    /// The user a 3PID is bound to.
    async fn get_user_by_threepid(
        &self,
        medium: &str,
        address: &str,
    ) -> StoreResult<Option<String>>;
    async fn list_user_threepids(&self, user_id: &str) -> StoreResult<Vec<UserThreepid>>;
    /// `false` when the user had no such 3PID.
    async fn delete_user_threepid(
        &self,
        user_id: &str,
        medium: &str,
        address: &str,
    ) -> StoreResult<bool>;
    async fn create_threepid_session(&self, session: &ThreepidSession) -> StoreResult<()>;
    async fn get_threepid_session(&self, session_id: &str) -> StoreResult<Option<ThreepidSession>>;
    /// The newest session for this address and client secret, if any.
    async fn find_threepid_session(
        &self,
        medium: &str,
        address: &str,
        client_secret: &str,
    ) -> StoreResult<Option<ThreepidSession>>;
    /// A new token was sent for the session (a higher `send_attempt`).
    async fn update_threepid_session_token(
        &self,
        session_id: &str,
        send_attempt: i64,
        token_hash: &[u8],
        token_expires_at: i64,
        next_link: Option<&str>,
    ) -> StoreResult<()>;
    /// Marks the session validated at `ts` unless it already is.
    async fn set_threepid_session_validated(&self, session_id: &str, ts: i64) -> StoreResult<()>;
    /// Spends a validated session for the operation `used_by` (a UIA
    /// session ID) at `now`: `true` when it was validated after
    /// `validated_after` and is unspent, or was spent by `used_by` already.
    /// One statement, so of two operations racing for it one wins.
    async fn use_threepid_session(
        &self,
        session_id: &str,
        used_by: &str,
        validated_after: i64,
        now: i64,
    ) -> StoreResult<bool>;
    /// Deletes validation sessions that can no longer be used: never
    /// validated and their token expired at or before `now`, or validated
    /// at or before `validated_before`. Returns how many went.
    async fn sweep_threepid_sessions(&self, now: i64, validated_before: i64) -> StoreResult<u64>;

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
    /// Records when and from where devices were last seen (a batch).
    async fn record_device_last_seen(&self, seen: &[DeviceSeen]) -> StoreResult<()>;

    // --- client IPs and monthly active users
    /// Upserts a batch of client-IP sightings, one row per (user, token,
    /// address); a later `last_seen` wins, with its user agent and device.
    /// A row the database refuses is skipped (and logged), not the batch.
    async fn record_client_ips(&self, seen: &[ClientIpSeen]) -> StoreResult<()>;
    /// Every recorded sighting of the user, newest first.
    async fn list_client_ips(&self, user_id: &str) -> StoreResult<Vec<ClientIpSeen>>;
    /// Deletes at most `limit` sightings last seen at or before `before`;
    /// returns how many went.
    async fn prune_client_ips(&self, before: i64, limit: i64) -> StoreResult<u64>;
    /// When the user was last counted as monthly-active, if they are.
    async fn mau_last_seen(&self, user_id: &str) -> StoreResult<Option<i64>>;
    /// How many users are monthly-active, not counting the users of
    /// application services.
    async fn count_monthly_active_users(&self) -> StoreResult<i64>;
    async fn upsert_monthly_active_user(&self, user_id: &str, ts: i64) -> StoreResult<()>;
    /// Forgets users last seen before `before`, except those in `keep`;
    /// then, with `max`, keeps only the `max - keep.len()` most recently
    /// seen of the others.
    async fn reap_monthly_active_users(
        &self,
        before: i64,
        keep: &[String],
        max: Option<i64>,
    ) -> StoreResult<()>;

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
    /// Writes last-used times for a batch of tokens.
    async fn record_tokens_last_used(&self, used: &[(i64, i64)]) -> StoreResult<()>;

    // --- user-interactive auth
    async fn create_uia_session(&self, session: &UiaSession) -> StoreResult<()>;
    async fn get_uia_session(&self, session_id: &str) -> StoreResult<Option<UiaSession>>;
    async fn update_uia_client_dict(
        &self,
        session_id: &str,
        client_dict: &serde_json::Map<String, serde_json::Value>,
    ) -> StoreResult<()>;
    /// Sets one key of the server dict, keeping the others.
    async fn set_uia_server_value(
        &self,
        session_id: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> StoreResult<()>;
    async fn mark_uia_stage_completed(
        &self,
        session_id: &str,
        stage: &str,
        result: &serde_json::Value,
    ) -> StoreResult<()>;
    async fn get_uia_completed_stages(
        &self,
        session_id: &str,
    ) -> StoreResult<Vec<(String, serde_json::Value)>>;
    /// Records the outcome of the session's operation, once: returns the
    /// result already recorded if there is one (and leaves it), else stores
    /// `result` and returns `None`.
    async fn set_uia_result_once(
        &self,
        session_id: &str,
        result: &serde_json::Value,
    ) -> StoreResult<Option<serde_json::Value>>;
    /// `true` when this call deleted it (so two processes sweeping the same
    /// session cannot both act on it).
    async fn delete_uia_session(&self, session_id: &str) -> StoreResult<bool>;
    /// Deletes the session; if this call deleted it and it had no result,
    /// gives back the pending use of the registration token its server
    /// dict holds under `key`, in the same transaction. `true` when this
    /// call deleted it.
    async fn delete_uia_session_releasing(&self, session_id: &str, key: &str) -> StoreResult<bool>;
    /// Sessions created before `before_ts` (at most `limit`).
    async fn list_uia_sessions_before(
        &self,
        before_ts: i64,
        limit: i64,
    ) -> StoreResult<Vec<UiaSession>>;

    // --- registration tokens
    /// `false` when the token exists already.
    async fn create_registration_token(&self, token: &RegistrationToken) -> StoreResult<bool>;
    async fn get_registration_token(&self, token: &str) -> StoreResult<Option<RegistrationToken>>;
    async fn list_registration_tokens(&self) -> StoreResult<Vec<RegistrationToken>>;
    /// Sets the fields given (`Some(None)` clears one); `None` if no such token.
    async fn update_registration_token(
        &self,
        token: &str,
        uses_allowed: Option<Option<i64>>,
        expiry_time: Option<Option<i64>>,
    ) -> StoreResult<Option<RegistrationToken>>;
    async fn delete_registration_token(&self, token: &str) -> StoreResult<bool>;
    /// Takes a pending use of the token if it is valid at `now` and has a
    /// use left; `false` otherwise. Atomic.
    async fn reserve_registration_token(&self, token: &str, now: i64) -> StoreResult<bool>;
    /// For UIA session `session_id`: takes a pending use of `token` (as
    /// [`Store::reserve_registration_token`]) and records it under `key` in
    /// the session's server dict, in one transaction, unless the session
    /// holds a token already. `true` when the session holds `token` (from
    /// before or now); `false` if it holds another or no use was left.
    async fn reserve_registration_token_for_session(
        &self,
        session_id: &str,
        key: &str,
        token: &str,
        now: i64,
    ) -> StoreResult<bool>;
    /// A pending use becomes completed (`completed`) or is given back.
    async fn settle_registration_token(&self, token: &str, completed: bool) -> StoreResult<()>;

    // --- calls to the homeserver, in order per user
    /// Queues calls; returns their ids.
    async fn enqueue_homeserver_jobs(
        &self,
        user_id: &str,
        jobs: &[(&str, serde_json::Value)],
        now: i64,
    ) -> StoreResult<Vec<i64>>;
    /// Queues a device-list reconciliation (`jobs`, the last of kind
    /// `sync_devices`) unless one is already waiting for the user; `false`
    /// then, and nothing is queued.
    async fn enqueue_device_sync(
        &self,
        user_id: &str,
        jobs: &[(&str, serde_json::Value)],
        now: i64,
    ) -> StoreResult<bool>;
    /// Claims the oldest due job (of `user_id` only, if given) whose user has
    /// no older job waiting, for `lease_ms`. Another process cannot claim it
    /// until the lease runs out.
    async fn claim_homeserver_job(
        &self,
        now: i64,
        lease_ms: i64,
        user_id: Option<&str>,
    ) -> StoreResult<Option<HomeserverJob>>;
    /// A job is done: it goes.
    async fn complete_homeserver_job(&self, id: i64) -> StoreResult<()>;
    /// A job failed: retried at `next_attempt_ts`.
    async fn fail_homeserver_job(
        &self,
        id: i64,
        next_attempt_ts: i64,
        error: &str,
    ) -> StoreResult<()>;
    /// How many of these jobs are still waiting.
    async fn count_homeserver_jobs(&self, ids: &[i64]) -> StoreResult<i64>;
    /// Every user that has at least one device, with its devices' IDs.
    async fn all_user_devices(&self) -> StoreResult<Vec<(String, Vec<String>)>>;

    // --- shared-secret registration nonces
    async fn create_registration_nonce(&self, nonce: &str, created_ts: i64) -> StoreResult<()>;
    /// Consumes the nonce: `true` if it existed and was created at or after
    /// `not_before_ts`. A nonce is consumed whatever the answer.
    async fn take_registration_nonce(&self, nonce: &str, not_before_ts: i64) -> StoreResult<bool>;
    /// Deletes nonces created before `before_ts`; returns how many went.
    async fn sweep_registration_nonces(&self, before_ts: i64) -> StoreResult<u64>;
    /// Keeps only the `keep` newest nonces; returns how many went.
    async fn trim_registration_nonces(&self, keep: i64) -> StoreResult<u64>;
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
