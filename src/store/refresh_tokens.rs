//! The SQL of refresh tokens, for both backends. A refresh token and the
//! access token issued with it are written together; a rotation keeps the
//! last two refresh tokens of a chain (the current one and the one it
//! replaced, for a client whose answer was lost), as Synapse does.

use super::{NewAccessToken, NewRefreshToken, RefreshToken, StoreResult, Successor};
use async_trait::async_trait;
use sqlx::Row;

#[async_trait]
pub trait RefreshTokenRepository: Send {
    /// Writes the refresh token and the access token issued with it, each
    /// naming the other. Returns their ids (refresh, access).
    async fn create_refresh_token(
        &mut self,
        refresh: &NewRefreshToken,
        access: &NewAccessToken,
    ) -> StoreResult<(i64, i64)>;

    /// The refresh token with this SHA-256, and the state of its successor.
    async fn get_refresh_token(&mut self, token_hash: &[u8]) -> StoreResult<Option<RefreshToken>>;

    /// [`Self::get_refresh_token`], with its row locked until the caller's
    /// transaction ends (PostgreSQL; SQLite's transactions take the write
    /// lock up front), so two refreshes of one token happen one after the
    /// other.
    async fn lock_refresh_token(&mut self, token_hash: &[u8]) -> StoreResult<Option<RefreshToken>>;

    /// Records that `old_id` was replaced by `new_id`: a successor `old_id`
    /// had before (a refresh whose answer was lost) goes with its access
    /// token, and so does the token `old_id` itself replaced (with its
    /// access token), which can no longer be retried.
    async fn rotate_refresh_token(&mut self, old_id: i64, new_id: i64) -> StoreResult<()>;
}

/// The columns of a refresh token and of its successor's state
/// (`nrt`: the next refresh token, `nat`: the access token issued with it).
const SELECT_REFRESH_TOKEN: &str = "SELECT rt.id, rt.user_id, rt.device_id, rt.oauth_client_id, \
     rt.scope, rt.created_ts, rt.expires_ts, rt.session_until_ts, rt.access_token_lifetime_ms, \
     rt.refresh_token_lifetime_ms, rt.access_token_id, nrt.id AS next_id, \
     nrt.next_token_id AS next_next_id, nat.first_used_ts AS next_first_used_ts \
     FROM refresh_tokens rt \
     LEFT JOIN refresh_tokens nrt ON nrt.id = rt.next_token_id \
     LEFT JOIN access_tokens nat ON nat.id = nrt.access_token_id \
     WHERE rt.token_hash = $1";

macro_rules! refresh_tokens_store {
    ($db:ty) => {
        #[async_trait]
        impl RefreshTokenRepository for Repo<'_, $db> {
            #[tracing::instrument(skip_all)]
            async fn create_refresh_token(
                &mut self,
                r: &NewRefreshToken,
                a: &NewAccessToken,
            ) -> StoreResult<(i64, i64)> {
                let mut tx = self.conn.atomic().await?;
                let refresh_id: i64 = sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, user_id, device_id, \
                     oauth_client_id, scope, created_ts, expires_ts, session_until_ts, \
                     access_token_lifetime_ms, refresh_token_lifetime_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                )
                .bind(&r.token_hash)
                .bind(&r.user_id)
                .bind(&r.device_id)
                .bind(&r.oauth_client_id)
                .bind(&r.scope)
                .bind(r.created_ts)
                .bind(r.expires_ts)
                .bind(r.session_until_ts)
                .bind(r.access_token_lifetime_ms)
                .bind(r.refresh_token_lifetime_ms)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
                let access_id: i64 = sqlx::query(
                    "INSERT INTO access_tokens (token_hash, user_id, device_id, puppet_owner, \
                     created_ts, valid_until_ts, oauth_client_id, scope, refresh_token_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                )
                .bind(&a.token_hash)
                .bind(&a.user_id)
                .bind(&a.device_id)
                .bind(&a.puppet_owner)
                .bind(a.created_ts)
                .bind(a.valid_until_ts)
                .bind(&a.oauth_client_id)
                .bind(&a.scope)
                .bind(refresh_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
                sqlx::query("UPDATE refresh_tokens SET access_token_id = $2 WHERE id = $1")
                    .bind(refresh_id)
                    .bind(access_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok((refresh_id, access_id))
            }

            #[tracing::instrument(skip_all)]
            async fn get_refresh_token(
                &mut self,
                token_hash: &[u8],
            ) -> StoreResult<Option<RefreshToken>> {
                let row = sqlx::query(SELECT_REFRESH_TOKEN)
                    .bind(token_hash)
                    .fetch_optional(&mut *self.conn.get().await?)
                    .await?;
                let Some(r) = row else { return Ok(None) };
                let next_id: Option<i64> = r.try_get("next_id")?;
                let next_next: Option<i64> = r.try_get("next_next_id")?;
                let next_used: Option<i64> = r.try_get("next_first_used_ts")?;
                Ok(Some(RefreshToken {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    device_id: r.try_get("device_id")?,
                    oauth_client_id: r.try_get("oauth_client_id")?,
                    scope: r.try_get("scope")?,
                    created_ts: r.try_get("created_ts")?,
                    expires_ts: r.try_get("expires_ts")?,
                    session_until_ts: r.try_get("session_until_ts")?,
                    access_token_lifetime_ms: r.try_get("access_token_lifetime_ms")?,
                    refresh_token_lifetime_ms: r.try_get("refresh_token_lifetime_ms")?,
                    access_token_id: r.try_get("access_token_id")?,
                    next: next_id.map(|id| Successor {
                        id,
                        refreshed: next_next.is_some(),
                        access_token_used: next_used.is_some(),
                    }),
                }))
            }

            #[tracing::instrument(skip_all)]
            async fn lock_refresh_token(
                &mut self,
                token_hash: &[u8],
            ) -> StoreResult<Option<RefreshToken>> {
                // A write that changes nothing: it locks the row (PostgreSQL)
                // until commit, in SQL both backends accept.
                sqlx::query(
                    "UPDATE refresh_tokens SET next_token_id = next_token_id \
                     WHERE token_hash = $1",
                )
                .bind(token_hash)
                .execute(&mut *self.conn.get().await?)
                .await?;
                self.get_refresh_token(token_hash).await
            }

            #[tracing::instrument(skip_all)]
            async fn rotate_refresh_token(&mut self, old_id: i64, new_id: i64) -> StoreResult<()> {
                let mut tx = self.conn.atomic().await?;
                let previous_next: Option<i64> =
                    sqlx::query("SELECT next_token_id FROM refresh_tokens WHERE id = $1")
                        .bind(old_id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|r| r.try_get("next_token_id"))
                        .transpose()?
                        .flatten();
                sqlx::query("UPDATE refresh_tokens SET next_token_id = $2 WHERE id = $1")
                    .bind(old_id)
                    .bind(new_id)
                    .execute(&mut *tx)
                    .await?;
                if let Some(stale) = previous_next {
                    sqlx::query("DELETE FROM access_tokens WHERE refresh_token_id = $1")
                        .bind(stale)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM refresh_tokens WHERE id = $1")
                        .bind(stale)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "DELETE FROM access_tokens WHERE refresh_token_id IN \
                     (SELECT id FROM refresh_tokens WHERE next_token_id = $1)",
                )
                .bind(old_id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM refresh_tokens WHERE next_token_id = $1")
                    .bind(old_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

use super::conn::Repo;
refresh_tokens_store!(sqlx::Sqlite);
refresh_tokens_store!(sqlx::Postgres);
