//! The SQL of devices, for both backends.

use super::sql::DEVICE_COLUMNS;
use super::{Device, DeviceSession, StoreResult};
use crate::clock::Timestamp;
use async_trait::async_trait;
use sqlx::{FromRow, Row};

/// An access token of the user bound to no device: a puppet token (an
/// admin's "login as"), or one imported from Synapse without a device.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DevicelessToken {
    /// The token's row (never the token, which is not stored).
    pub id: i64,
    /// For a puppet token: the admin who made it.
    pub puppet_owner: Option<String>,
    pub created_ts: Timestamp,
    pub valid_until_ts: Option<Timestamp>,
    pub last_used_ts: Option<Timestamp>,
}

#[async_trait]
pub trait DeviceRepository: Send {
    /// Creates the device unless it exists (an existing one is kept as is).
    /// Returns `true` when it was created. `created_ts`: when (`None` only
    /// for tests of devices older than migration 0019, which has no time).
    async fn ensure_device(
        &mut self,
        user_id: &str,
        device_id: &str,
        display_name: Option<&str>,
        created_ts: Option<Timestamp>,
    ) -> StoreResult<bool>;
    async fn get_device(&mut self, user_id: &str, device_id: &str) -> StoreResult<Option<Device>>;
    async fn list_devices(&mut self, user_id: &str) -> StoreResult<Vec<Device>>;
    /// The user's devices (only `device_id` if given) with their creation
    /// time, OAuth 2.0 client and latest user agent, by device ID.
    async fn list_device_sessions(
        &mut self,
        user_id: &str,
        device_id: Option<&str>,
    ) -> StoreResult<Vec<DeviceSession>>;
    /// `false` when there is no such device.
    async fn set_device_display_name(
        &mut self,
        user_id: &str,
        device_id: &str,
        display_name: Option<&str>,
    ) -> StoreResult<bool>;
    /// Deletes the devices and every access and refresh token bound to
    /// them. Returns the IDs of the devices that existed.
    async fn delete_devices(
        &mut self,
        user_id: &str,
        device_ids: &[String],
    ) -> StoreResult<Vec<String>>;
    /// Deletes every access and refresh token of the device; the device
    /// stays (a new session for the same device ID replaces the old one).
    async fn delete_device_tokens(&mut self, user_id: &str, device_id: &str) -> StoreResult<u64>;
    /// Deletes every device of the user but `keep` and every token but the
    /// one with id `keep_token` (and the refresh token issued with it).
    /// Returns the deleted device IDs.
    async fn delete_all_devices_except(
        &mut self,
        user_id: &str,
        keep_device: Option<&str>,
        keep_token: Option<i64>,
    ) -> StoreResult<Vec<String>>;

    /// Deletes every device of the user but `keep` (its tokens are the
    /// caller's business). Returns the deleted device IDs.
    async fn delete_user_devices(
        &mut self,
        user_id: &str,
        keep: Option<&str>,
    ) -> StoreResult<Vec<String>>;

    /// The user's access tokens that have no device, oldest first.
    async fn list_deviceless_tokens(&mut self, user_id: &str) -> StoreResult<Vec<DevicelessToken>>;
    /// Deletes the user's token `token_id` if it has no device; `false`
    /// when the user has no such token.
    async fn delete_deviceless_token(&mut self, user_id: &str, token_id: i64) -> StoreResult<bool>;
}

macro_rules! devices_store {
    ($db:ty) => {
        #[async_trait]
        impl DeviceRepository for Repo<'_, $db> {
            #[tracing::instrument(skip_all)]
            async fn ensure_device(
                &mut self,
                user_id: &str,
                device_id: &str,
                display_name: Option<&str>,
                created_ts: Option<Timestamp>,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO devices (user_id, device_id, display_name, created_ts) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, device_id) DO NOTHING",
                )
                .bind(user_id)
                .bind(device_id)
                .bind(display_name)
                .bind(created_ts)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn list_device_sessions(
                &mut self,
                user_id: &str,
                device_id: Option<&str>,
            ) -> StoreResult<Vec<DeviceSession>> {
                // A device's tokens all come from one session: one client.
                let rows = sqlx::query(
                    "SELECT d.device_id, d.display_name, d.last_seen_ts, d.last_seen_ip, \
                     COALESCE(d.created_ts, \
                       (SELECT MIN(a.created_ts) FROM access_tokens a \
                        WHERE a.user_id = d.user_id AND a.device_id = d.device_id), \
                       (SELECT MIN(r.created_ts) FROM refresh_tokens r \
                        WHERE r.user_id = d.user_id AND r.device_id = d.device_id)) AS created_ts, \
                     COALESCE( \
                       (SELECT MAX(a.oauth_client_id) FROM access_tokens a \
                        WHERE a.user_id = d.user_id AND a.device_id = d.device_id), \
                       (SELECT MAX(r.oauth_client_id) FROM refresh_tokens r \
                        WHERE r.user_id = d.user_id AND r.device_id = d.device_id)) AS oauth_client_id, \
                     COALESCE((SELECT u.user_agent FROM user_ips u \
                      WHERE u.user_id = d.user_id AND u.device_id = d.device_id \
                      ORDER BY u.last_seen_ts DESC LIMIT 1), d.last_seen_user_agent) \
                       AS last_user_agent \
                     FROM devices d WHERE d.user_id = $1 AND ($2 IS NULL OR d.device_id = $2) \
                     ORDER BY d.device_id",
                )
                .bind(user_id)
                .bind(device_id)
                .fetch_all(&mut *self.conn.get().await?)
                .await?;
                Ok(rows
                    .iter()
                    .map(DeviceSession::from_row)
                    .collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn get_device(&mut self, user_id: &str, device_id: &str) -> StoreResult<Option<Device>> {
                let sql = format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 AND device_id = $2"
                );
                let row = sqlx::query(&sql)
                    .bind(user_id)
                    .bind(device_id)
                    .fetch_optional(&mut *self.conn.get().await?)
                    .await?;
                Ok(row.as_ref().map(Device::from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn list_devices(&mut self, user_id: &str) -> StoreResult<Vec<Device>> {
                let sql = format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY device_id"
                );
                let rows = sqlx::query(&sql)
                    .bind(user_id)
                    .fetch_all(&mut *self.conn.get().await?)
                    .await?;
                Ok(rows
                    .iter()
                    .map(Device::from_row)
                    .collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn set_device_display_name(
                &mut self,
                user_id: &str,
                device_id: &str,
                display_name: Option<&str>,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2",
                )
                .bind(user_id)
                .bind(device_id)
                .bind(display_name)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn delete_device_tokens(&mut self, user_id: &str, device_id: &str) -> StoreResult<u64> {
                let mut tx = self.conn.atomic().await?;
                let refresh = sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2")
                    .bind(user_id)
                    .bind(device_id)
                    .execute(&mut *tx)
                    .await?;
                let access = sqlx::query("DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2")
                    .bind(user_id)
                    .bind(device_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(refresh.rows_affected() + access.rows_affected())
            }

            #[tracing::instrument(skip_all, fields(count = device_ids.len()))]
            async fn delete_devices(
                &mut self,
                user_id: &str,
                device_ids: &[String],
            ) -> StoreResult<Vec<String>> {
                let mut tx = self.conn.atomic().await?;
                let mut existed = Vec::new();
                for device_id in device_ids {
                    sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2")
                        .bind(user_id)
                        .bind(device_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2")
                        .bind(user_id)
                        .bind(device_id)
                        .execute(&mut *tx)
                        .await?;
                    let done =
                        sqlx::query("DELETE FROM devices WHERE user_id = $1 AND device_id = $2")
                            .bind(user_id)
                            .bind(device_id)
                            .execute(&mut *tx)
                            .await?;
                    if done.rows_affected() == 1 {
                        existed.push(device_id.clone());
                    }
                }
                tx.commit().await?;
                Ok(existed)
            }

            #[tracing::instrument(skip_all)]
            async fn delete_all_devices_except(
                &mut self,
                user_id: &str,
                keep_device: Option<&str>,
                keep_token: Option<i64>,
            ) -> StoreResult<Vec<String>> {
                let mut tx = self.conn.atomic().await?;
                sqlx::query(
                    "DELETE FROM refresh_tokens WHERE user_id = $1 \
                     AND (access_token_id IS NULL OR access_token_id <> $2)",
                )
                .bind(user_id)
                .bind(keep_token.unwrap_or(-1))
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM access_tokens WHERE user_id = $1 AND id <> $2")
                    .bind(user_id)
                    .bind(keep_token.unwrap_or(-1))
                    .execute(&mut *tx)
                    .await?;
                let rows = sqlx::query(
                    "DELETE FROM devices WHERE user_id = $1 AND device_id <> $2 RETURNING device_id",
                )
                .bind(user_id)
                .bind(keep_device.unwrap_or(""))
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows
                    .iter()
                    .map(|r| r.try_get("device_id"))
                    .collect::<Result<_, _>>()?)
            }


            #[tracing::instrument(skip_all)]
            async fn delete_user_devices(&mut self, user_id: &str, keep: Option<&str>) -> StoreResult<Vec<String>> {
                let rows = sqlx::query(
                    "DELETE FROM devices WHERE user_id = $1 AND device_id <> $2 RETURNING device_id",
                )
                .bind(user_id)
                .bind(keep.unwrap_or(""))
                .fetch_all(&mut *self.conn.get().await?)
                .await?;
                Ok(rows
                    .iter()
                    .map(|r| r.try_get("device_id"))
                    .collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn list_deviceless_tokens(
                &mut self,
                user_id: &str,
            ) -> StoreResult<Vec<DevicelessToken>> {
                let rows = sqlx::query(
                    "SELECT id, puppet_owner, created_ts, valid_until_ts, last_used_ts \
                     FROM access_tokens WHERE user_id = $1 AND device_id IS NULL ORDER BY id",
                )
                .bind(user_id)
                .fetch_all(&mut *self.conn.get().await?)
                .await?;
                Ok(rows
                    .iter()
                    .map(DevicelessToken::from_row)
                    .collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn delete_deviceless_token(
                &mut self,
                user_id: &str,
                token_id: i64,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "DELETE FROM access_tokens WHERE id = $1 AND user_id = $2 AND device_id IS NULL",
                )
                .bind(token_id)
                .bind(user_id)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

use super::conn::Repo;
devices_store!(sqlx::Sqlite);
devices_store!(sqlx::Postgres);
