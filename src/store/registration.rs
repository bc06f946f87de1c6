//! The SQL of registration tokens (Synapse's admin API and the UIA stage)
//! and shared-secret registration nonces, for both backends.
//! [`RegistrationRepository`].

use super::sql::{parse_object, to_json_text};
use super::{RegistrationToken, StoreResult};
use crate::clock::Timestamp;
use async_trait::async_trait;
use serde_json::Value;
use sqlx::{FromRow, Row};

#[async_trait]
pub trait RegistrationRepository: Send {
    /// `false` when the token exists already.
    async fn create_registration_token(&mut self, token: &RegistrationToken) -> StoreResult<bool>;
    async fn get_registration_token(
        &mut self,
        token: &str,
    ) -> StoreResult<Option<RegistrationToken>>;
    async fn list_registration_tokens(&mut self) -> StoreResult<Vec<RegistrationToken>>;
    /// Sets the fields given (`Some(None)` clears one); `None` if no such token.
    async fn update_registration_token(
        &mut self,
        token: &str,
        uses_allowed: Option<Option<i64>>,
        expires_ts: Option<Option<i64>>,
    ) -> StoreResult<Option<RegistrationToken>>;
    async fn delete_registration_token(&mut self, token: &str) -> StoreResult<bool>;
    /// For UIA session `session_id`: takes a pending use of `token` (as
    /// [`Store::reserve_registration_token`]) and records it under `key` in
    /// the session's server dict, in one transaction, unless the session
    /// holds a token already. `true` when the session holds `token` (from
    /// before or now); `false` if it holds another or no use was left.
    async fn reserve_registration_token_for_session(
        &mut self,
        session_id: &str,
        key: &str,
        token: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn create_registration_nonce(
        &mut self,
        nonce: &str,
        created_ts: Timestamp,
    ) -> StoreResult<()>;
    /// Consumes the nonce: `true` if it existed and was created at or after
    /// `not_before_ts`. A nonce is consumed whatever the answer.
    async fn take_registration_nonce(
        &mut self,
        nonce: &str,
        not_before_ts: Timestamp,
    ) -> StoreResult<bool>;
    /// Deletes nonces created before `before_ts`; returns how many went.
    async fn sweep_registration_nonces(&mut self, before_ts: Timestamp) -> StoreResult<u64>;
    /// Keeps only the `keep` newest nonces; returns how many went.
    async fn trim_registration_nonces(&mut self, keep: i64) -> StoreResult<u64>;

    /// A pending use of the token becomes a completed one.
    async fn complete_registration_token_use(&mut self, token: &str) -> StoreResult<()>;
}

macro_rules! registration_store {
    ($db:ty) => {
        #[async_trait]
        impl RegistrationRepository for Repo<'_, $db> {
            async fn create_registration_token(&mut self, t: &RegistrationToken) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO registration_tokens (token, uses_allowed, pending, completed, expires_ts) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token) DO NOTHING",
                )
                .bind(&t.token)
                .bind(t.uses_allowed)
                .bind(t.pending)
                .bind(t.completed)
                .bind(t.expires_ts)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_registration_token(&mut self, token: &str) -> StoreResult<Option<RegistrationToken>> {
                let row = sqlx::query(
                    "SELECT token, uses_allowed, pending, completed, expires_ts \
                     FROM registration_tokens WHERE token = $1",
                )
                .bind(token)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?;
                Ok(row.as_ref().map(RegistrationToken::from_row).transpose()?)
            }

            async fn list_registration_tokens(&mut self) -> StoreResult<Vec<RegistrationToken>> {
                let rows = sqlx::query(
                    "SELECT token, uses_allowed, pending, completed, expires_ts \
                     FROM registration_tokens ORDER BY token",
                )
                .fetch_all(&mut *self.conn.get().await?)
                .await?;
                Ok(rows
                    .iter()
                    .map(RegistrationToken::from_row)
                    .collect::<Result<_, _>>()?)
            }

            async fn update_registration_token(
                &mut self,
                token: &str,
                uses_allowed: Option<Option<i64>>,
                expires_ts: Option<Option<i64>>,
            ) -> StoreResult<Option<RegistrationToken>> {
                if let Some(value) = uses_allowed {
                    sqlx::query("UPDATE registration_tokens SET uses_allowed = $2 WHERE token = $1")
                        .bind(token)
                        .bind(value)
                        .execute(&mut *self.conn.get().await?)
                        .await?;
                }
                if let Some(value) = expires_ts {
                    sqlx::query("UPDATE registration_tokens SET expires_ts = $2 WHERE token = $1")
                        .bind(token)
                        .bind(value)
                        .execute(&mut *self.conn.get().await?)
                        .await?;
                }
                self.get_registration_token(token).await
            }

            async fn delete_registration_token(&mut self, token: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM registration_tokens WHERE token = $1")
                    .bind(token)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn reserve_registration_token_for_session(
                &mut self,
                session_id: &str,
                key: &str,
                token: &str,
                now: Timestamp,
            ) -> StoreResult<bool> {
                let mut tx = self.conn.atomic().await?;
                // Lock the session's row first: a concurrent request of the
                // same session waits, then finds the token held.
                sqlx::query("UPDATE uia_sessions SET session_id = session_id WHERE session_id = $1")
                    .bind(session_id)
                    .execute(&mut *tx)
                    .await?;
                let row = sqlx::query("SELECT server_dict FROM uia_sessions WHERE session_id = $1")
                    .bind(session_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { return Ok(false) };
                let text: String = row.try_get("server_dict")?;
                let mut dict = parse_object(&text)?;
                if let Some(held) = dict.get(key) {
                    return Ok(held.as_str() == Some(token));
                }
                let reserved = sqlx::query(
                    "UPDATE registration_tokens SET pending = pending + 1 WHERE token = $1 \
                     AND (uses_allowed IS NULL OR pending + completed < uses_allowed) \
                     AND (expires_ts IS NULL OR expires_ts > $2)",
                )
                .bind(token)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if reserved.rows_affected() != 1 {
                    return Ok(false);
                }
                dict.insert(key.to_owned(), Value::String(token.to_owned()));
                sqlx::query("UPDATE uia_sessions SET server_dict = $2 WHERE session_id = $1")
                    .bind(session_id)
                    .bind(to_json_text(&dict))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            #[tracing::instrument(skip_all)]
            async fn create_registration_nonce(&mut self, nonce: &str, created_ts: Timestamp) -> StoreResult<()> {
                sqlx::query("INSERT INTO registration_nonces (nonce, created_ts) VALUES ($1, $2)")
                    .bind(nonce)
                    .bind(created_ts)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn take_registration_nonce(&mut self, nonce: &str, not_before_ts: Timestamp) -> StoreResult<bool> {
                let row = sqlx::query(
                    "DELETE FROM registration_nonces WHERE nonce = $1 RETURNING created_ts",
                )
                .bind(nonce)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?;
                // Old nonces nobody used are swept on the way.
                sqlx::query("DELETE FROM registration_nonces WHERE created_ts < $1")
                    .bind(not_before_ts)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                match row {
                    Some(r) => {
                        let created: i64 = r.try_get("created_ts")?;
                        Ok(created >= not_before_ts)
                    }
                    None => Ok(false),
                }
            }

            #[tracing::instrument(skip_all)]
            async fn sweep_registration_nonces(&mut self, before_ts: Timestamp) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM registration_nonces WHERE created_ts < $1")
                    .bind(before_ts)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all)]
            async fn trim_registration_nonces(&mut self, keep: i64) -> StoreResult<u64> {
                // Oldest first, at most a batch a call (one call per nonce
                // made keeps the count at `keep`).
                let done = sqlx::query(
                    "DELETE FROM registration_nonces WHERE nonce IN \
                     (SELECT nonce FROM registration_nonces \
                      ORDER BY created_ts DESC, nonce DESC LIMIT 1000 OFFSET $1)",
                )
                .bind(keep)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all)]
            async fn complete_registration_token_use(&mut self, token: &str) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE registration_tokens SET pending = pending - 1, \
                     completed = completed + 1 WHERE token = $1 AND pending > 0",
                )
                .bind(token)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }
        }
    };
}

use super::conn::Repo;
registration_store!(sqlx::Sqlite);
registration_store!(sqlx::Postgres);
