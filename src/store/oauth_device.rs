//! The SQL of the OAuth 2.0 device authorization grant (RFC 8628), for both
//! backends: a device's request from the device authorization endpoint,
//! through the user's decision at the verification page, to the tokens.
//! [`DeviceGrantRepository`].

use super::StoreResult;
use crate::clock::Timestamp;
use async_trait::async_trait;

/// Where a device grant stands.
pub mod status {
    /// Waiting for the user.
    pub const PENDING: &str = "pending";
    /// The user approved: the next poll gets the tokens.
    pub const APPROVED: &str = "approved";
    /// The user declined.
    pub const DENIED: &str = "denied";
    /// The tokens were issued (once).
    pub const EXCHANGED: &str = "exchanged";
}

/// A device authorization request as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceGrant {
    /// Random; names the grant in the pages' URLs (not a secret: the
    /// browser's cookie binds it).
    pub device_grant_id: String,
    /// SHA-256 of the device code.
    pub device_code_hash: Vec<u8>,
    /// Normalised: upper case letters, no separator.
    pub user_code: String,
    pub client_id: String,
    /// Space-separated, as asked for (checked).
    pub scope: String,
    pub created_ts: Timestamp,
    pub expires_ts: Timestamp,
    /// How long the device must wait between polls.
    pub interval_ms: i64,
    pub last_polled_ts: Option<Timestamp>,
    /// SHA-256 of the cookie of the browser that typed the user code.
    pub browser_binding_hash: Option<Vec<u8>>,
    /// One of [`status`].
    pub status: String,
    /// Who approved or declined, and when they logged in.
    pub user_id: Option<String>,
    pub auth_ts: Option<Timestamp>,
    /// The device of the session the tokens opened.
    pub device_id: Option<String>,
}

#[async_trait]
pub trait DeviceGrantRepository: Send {
    /// Stores the grant: `false` (nothing stored) if its user code or
    /// device code is taken.
    async fn create_device_grant(&mut self, grant: &DeviceGrant) -> StoreResult<bool>;
    /// The pending grant of this user code, unless it expired at `now`.
    async fn find_pending_by_user_code(
        &mut self,
        user_code: &str,
        now: Timestamp,
    ) -> StoreResult<Option<DeviceGrant>>;
    /// The grant, unless it expired at `now`.
    async fn get_device_grant(
        &mut self,
        device_grant_id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<DeviceGrant>>;
    /// The grant of this device code, whatever its state or expiry.
    async fn get_by_device_code(&mut self, code_hash: &[u8]) -> StoreResult<Option<DeviceGrant>>;
    /// The grant now belongs to the browser with this cookie hash.
    async fn bind_device_grant(
        &mut self,
        device_grant_id: &str,
        binding_hash: &[u8],
    ) -> StoreResult<()>;
    /// Records the user's decision (`status::APPROVED` or `DENIED`), once:
    /// `false` if the grant was decided already, or expired at `now`.
    async fn decide_device_grant(
        &mut self,
        device_grant_id: &str,
        decision: &str,
        user_id: &str,
        auth_ts: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// A poll at `now`; the interval the device must keep from now on.
    async fn record_poll(
        &mut self,
        device_grant_id: &str,
        now: Timestamp,
        interval_ms: i64,
    ) -> StoreResult<()>;
    /// Marks an approved grant exchanged, unless it expired at `now`.
    /// Atomic: `true` for the one poll that gets the tokens.
    async fn exchange_device_grant(
        &mut self,
        device_grant_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// An exchange whose session could not be opened (the homeserver was
    /// away, say): approved again, so the device's next poll tries again.
    async fn reopen_device_grant(&mut self, device_grant_id: &str) -> StoreResult<()>;
    /// The device of the session the exchange opened.
    async fn set_device_grant_device(
        &mut self,
        device_grant_id: &str,
        device_id: &str,
    ) -> StoreResult<()>;
    /// Deletes grants that expired before `before`; how many went.
    async fn sweep_device_grants(&mut self, before: Timestamp) -> StoreResult<u64>;
}

const COLUMNS: &str = "device_grant_id, device_code_hash, user_code, client_id, scope, \
     created_ts, expires_ts, interval_ms, last_polled_ts, browser_binding_hash, status, user_id, \
     auth_ts, device_id";

macro_rules! device_grants_store {
    ($db:ty) => {
        #[async_trait]
        impl DeviceGrantRepository for Repo<'_, $db> {
            #[tracing::instrument(skip_all)]
            async fn create_device_grant(&mut self, g: &DeviceGrant) -> StoreResult<bool> {
                let done = sqlx::query(&format!(
                    "INSERT INTO oauth_device_grants ({COLUMNS}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                     ON CONFLICT DO NOTHING"
                ))
                .bind(&g.device_grant_id)
                .bind(&g.device_code_hash)
                .bind(&g.user_code)
                .bind(&g.client_id)
                .bind(&g.scope)
                .bind(g.created_ts)
                .bind(g.expires_ts)
                .bind(g.interval_ms)
                .bind(g.last_polled_ts)
                .bind(&g.browser_binding_hash)
                .bind(&g.status)
                .bind(&g.user_id)
                .bind(g.auth_ts)
                .bind(&g.device_id)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn find_pending_by_user_code(
                &mut self,
                user_code: &str,
                now: Timestamp,
            ) -> StoreResult<Option<DeviceGrant>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM oauth_device_grants \
                     WHERE user_code = $1 AND expires_ts > $2 AND status = $3"
                ))
                .bind(user_code)
                .bind(now)
                .bind(status::PENDING)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?)
            }

            async fn get_device_grant(
                &mut self,
                device_grant_id: &str,
                now: Timestamp,
            ) -> StoreResult<Option<DeviceGrant>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM oauth_device_grants \
                     WHERE device_grant_id = $1 AND expires_ts > $2"
                ))
                .bind(device_grant_id)
                .bind(now)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn get_by_device_code(
                &mut self,
                code_hash: &[u8],
            ) -> StoreResult<Option<DeviceGrant>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM oauth_device_grants WHERE device_code_hash = $1"
                ))
                .bind(code_hash)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?)
            }

            async fn bind_device_grant(
                &mut self,
                device_grant_id: &str,
                binding_hash: &[u8],
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE oauth_device_grants SET browser_binding_hash = $2 \
                     WHERE device_grant_id = $1",
                )
                .bind(device_grant_id)
                .bind(binding_hash)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn decide_device_grant(
                &mut self,
                device_grant_id: &str,
                decision: &str,
                user_id: &str,
                auth_ts: Timestamp,
                now: Timestamp,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE oauth_device_grants SET status = $2, user_id = $3, auth_ts = $4 \
                     WHERE device_grant_id = $1 AND status = $5 AND expires_ts > $6",
                )
                .bind(device_grant_id)
                .bind(decision)
                .bind(user_id)
                .bind(auth_ts)
                .bind(status::PENDING)
                .bind(now)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn record_poll(
                &mut self,
                device_grant_id: &str,
                now: Timestamp,
                interval_ms: i64,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE oauth_device_grants SET last_polled_ts = $2, interval_ms = $3 \
                     WHERE device_grant_id = $1",
                )
                .bind(device_grant_id)
                .bind(now)
                .bind(interval_ms)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn exchange_device_grant(
                &mut self,
                device_grant_id: &str,
                now: Timestamp,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE oauth_device_grants SET status = $2 \
                     WHERE device_grant_id = $1 AND status = $3 AND expires_ts > $4",
                )
                .bind(device_grant_id)
                .bind(status::EXCHANGED)
                .bind(status::APPROVED)
                .bind(now)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn reopen_device_grant(&mut self, device_grant_id: &str) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE oauth_device_grants SET status = $2 \
                     WHERE device_grant_id = $1 AND status = $3 AND device_id IS NULL",
                )
                .bind(device_grant_id)
                .bind(status::APPROVED)
                .bind(status::EXCHANGED)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            async fn set_device_grant_device(
                &mut self,
                device_grant_id: &str,
                device_id: &str,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE oauth_device_grants SET device_id = $2 WHERE device_grant_id = $1",
                )
                .bind(device_grant_id)
                .bind(device_id)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn sweep_device_grants(&mut self, before: Timestamp) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM oauth_device_grants WHERE expires_ts <= $1")
                    .bind(before)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

use super::conn::Repo;
device_grants_store!(sqlx::Sqlite);
device_grants_store!(sqlx::Postgres);
