//! The SQL of access tokens, for both backends.

use super::{NewAccessToken, StoreResult, TokenOwner};
use crate::clock::Timestamp;
use async_trait::async_trait;
use sqlx::Row;

#[async_trait]
pub trait AccessTokenRepository: Send {
    async fn create_access_token(&mut self, token: &NewAccessToken) -> StoreResult<i64>;
    /// The hot path: one indexed lookup, no write.
    async fn get_token_owner(&mut self, token_hash: &[u8]) -> StoreResult<Option<TokenOwner>>;
    async fn delete_access_token(&mut self, token_id: i64) -> StoreResult<()>;
    /// Records the first authenticated use of a token issued with a
    /// refresh token (a no-op once recorded).
    async fn set_token_first_used(&mut self, token_id: i64, ts: Timestamp) -> StoreResult<()>;
    /// Records that the token's user passed user-interactive auth at `ts`.
    async fn set_token_last_validated(&mut self, token_id: i64, ts: Timestamp) -> StoreResult<()>;
    async fn get_token_last_validated(&mut self, token_id: i64) -> StoreResult<Option<Timestamp>>;

    /// Deletes every access token of the user but the one with id `keep`,
    /// and every refresh token but the one issued with `keep`.
    async fn delete_user_access_tokens(
        &mut self,
        user_id: &str,
        keep: Option<i64>,
    ) -> StoreResult<u64>;
}

macro_rules! tokens_store {
    ($db:ty) => {
        #[async_trait]
        impl AccessTokenRepository for Repo<'_, $db> {
            #[tracing::instrument(skip_all)]
            async fn create_access_token(&mut self, t: &NewAccessToken) -> StoreResult<i64> {
                let row = sqlx::query(
                    "INSERT INTO access_tokens (token_hash, user_id, device_id, puppet_owner, \
                     created_ts, valid_until_ts, oauth_client_id, scope) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(&t.token_hash)
                .bind(&t.user_id)
                .bind(&t.device_id)
                .bind(&t.puppet_owner)
                .bind(t.created_ts)
                .bind(t.valid_until_ts)
                .bind(&t.oauth_client_id)
                .bind(&t.scope)
                .fetch_one(&mut *self.conn.get().await?)
                .await?;
                Ok(row.try_get("id")?)
            }

            async fn get_token_owner(
                &mut self,
                token_hash: &[u8],
            ) -> StoreResult<Option<TokenOwner>> {
                let row = sqlx::query(
                    "SELECT t.id, t.user_id, t.device_id, t.puppet_owner, t.valid_until_ts, \
                     t.refresh_token_id, t.first_used_ts, t.oauth_client_id, t.scope, \
                     u.deactivated, u.locked, u.is_guest, u.admin \
                     FROM access_tokens t JOIN users u ON u.name = t.user_id \
                     WHERE t.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(TokenOwner {
                    token_id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    device_id: r.try_get("device_id")?,
                    puppet_owner: r.try_get("puppet_owner")?,
                    valid_until_ts: r.try_get("valid_until_ts")?,
                    refresh_token_id: r.try_get("refresh_token_id")?,
                    first_used_ts: r.try_get("first_used_ts")?,
                    oauth_client_id: r.try_get("oauth_client_id")?,
                    scope: r.try_get("scope")?,
                    user_deactivated: r.try_get("deactivated")?,
                    user_locked: r.try_get("locked")?,
                    user_is_guest: r.try_get("is_guest")?,
                    user_admin: r.try_get("admin")?,
                }))
            }

            #[tracing::instrument(skip_all)]
            async fn delete_access_token(&mut self, token_id: i64) -> StoreResult<()> {
                sqlx::query("DELETE FROM access_tokens WHERE id = $1")
                    .bind(token_id)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            async fn set_token_first_used(
                &mut self,
                token_id: i64,
                ts: Timestamp,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE access_tokens SET first_used_ts = $2 \
                     WHERE id = $1 AND first_used_ts IS NULL",
                )
                .bind(token_id)
                .bind(ts)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            async fn set_token_last_validated(
                &mut self,
                token_id: i64,
                ts: Timestamp,
            ) -> StoreResult<()> {
                sqlx::query("UPDATE access_tokens SET last_validated_ts = $2 WHERE id = $1")
                    .bind(token_id)
                    .bind(ts)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            async fn get_token_last_validated(
                &mut self,
                token_id: i64,
            ) -> StoreResult<Option<Timestamp>> {
                let row = sqlx::query("SELECT last_validated_ts FROM access_tokens WHERE id = $1")
                    .bind(token_id)
                    .fetch_optional(&mut *self.conn.get().await?)
                    .await?;
                Ok(match row {
                    Some(r) => r.try_get("last_validated_ts")?,
                    None => None,
                })
            }

            #[tracing::instrument(skip_all)]
            async fn delete_user_access_tokens(
                &mut self,
                user_id: &str,
                keep: Option<i64>,
            ) -> StoreResult<u64> {
                let mut tx = self.conn.atomic().await?;
                // A refresh token goes with its access tokens.
                sqlx::query(
                    "DELETE FROM refresh_tokens WHERE user_id = $1 \
                     AND (access_token_id IS NULL OR access_token_id <> $2)",
                )
                .bind(user_id)
                .bind(keep.unwrap_or(-1))
                .execute(&mut *tx)
                .await?;
                let done = sqlx::query("DELETE FROM access_tokens WHERE user_id = $1 AND id <> $2")
                    .bind(user_id)
                    .bind(keep.unwrap_or(-1))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }
        }
    };
}

use super::conn::Repo;
tokens_store!(sqlx::Sqlite);
tokens_store!(sqlx::Postgres);
