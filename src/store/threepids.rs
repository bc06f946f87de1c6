//! The SQL of 3PIDs bound to users and of email validation sessions, for
//! both backends. [`ThreepidRepository`].

use super::sql::THREEPID_SESSION_COLUMNS;
use super::{StoreResult, ThreepidSession, UserThreepid};
use crate::clock::Timestamp;
use async_trait::async_trait;
use sqlx::{FromRow, Row};

#[async_trait]
pub trait ThreepidRepository: Send {
    /// Binds the 3PID to the user; `false` if it is bound already (to anyone).
    async fn add_user_threepid(&mut self, threepid: &UserThreepid) -> StoreResult<bool>;
    /// The user a 3PID is bound to.
    async fn get_user_by_threepid(
        &mut self,
        medium: &str,
        address: &str,
    ) -> StoreResult<Option<String>>;
    async fn list_user_threepids(&mut self, user_id: &str) -> StoreResult<Vec<UserThreepid>>;
    /// `false` when the user had no such 3PID.
    async fn delete_user_threepid(
        &mut self,
        user_id: &str,
        medium: &str,
        address: &str,
    ) -> StoreResult<bool>;
    async fn create_threepid_session(&mut self, session: &ThreepidSession) -> StoreResult<()>;
    async fn get_threepid_session(
        &mut self,
        session_id: &str,
    ) -> StoreResult<Option<ThreepidSession>>;
    /// The newest session for this address and client secret, if any.
    async fn find_threepid_session(
        &mut self,
        medium: &str,
        address: &str,
        client_secret: &str,
    ) -> StoreResult<Option<ThreepidSession>>;
    /// A new token was sent for the session (a higher `send_attempt`).
    async fn update_threepid_session_token(
        &mut self,
        session_id: &str,
        send_attempt: i64,
        token_hash: &[u8],
        token_expires_ts: Timestamp,
        next_link: Option<&str>,
    ) -> StoreResult<()>;
    /// Marks the session validated at `ts` unless it already is.
    async fn set_threepid_session_validated(
        &mut self,
        session_id: &str,
        ts: Timestamp,
    ) -> StoreResult<()>;
    /// Spends a validated session for the operation `used_by` (a UIA
    /// session ID) at `now`: `true` when it was validated after
    /// `validated_after` and is unspent, or was spent by `used_by` already.
    /// One statement, so of two operations racing for it one wins.
    async fn use_threepid_session(
        &mut self,
        session_id: &str,
        used_by: &str,
        validated_after: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Deletes validation sessions that can no longer be used: never
    /// validated and their token expired at or before `now`, or validated
    /// at or before `validated_before`. Returns how many went.
    async fn sweep_threepid_sessions(
        &mut self,
        now: Timestamp,
        validated_before: Timestamp,
    ) -> StoreResult<u64>;

    /// Unbinds every 3PID of the user.
    async fn delete_user_threepids(&mut self, user_id: &str) -> StoreResult<u64>;
}

macro_rules! threepids_store {
    ($db:ty) => {
        #[async_trait]
        impl ThreepidRepository for Repo<'_, $db> {
            #[tracing::instrument(skip_all)]
            async fn add_user_threepid(&mut self, t: &UserThreepid) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO user_threepids (user_id, medium, address, validated_ts, added_ts) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (medium, address) DO NOTHING",
                )
                .bind(&t.user_id)
                .bind(&t.medium)
                .bind(&t.address)
                .bind(t.validated_ts)
                .bind(t.added_ts)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn get_user_by_threepid(
                &mut self,
                medium: &str,
                address: &str,
            ) -> StoreResult<Option<String>> {
                let row = sqlx::query(
                    "SELECT user_id FROM user_threepids WHERE medium = $1 AND address = $2",
                )
                .bind(medium)
                .bind(address)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?;
                Ok(row.map(|r| r.try_get("user_id")).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn list_user_threepids(&mut self, user_id: &str) -> StoreResult<Vec<UserThreepid>> {
                let rows = sqlx::query(
                    "SELECT user_id, medium, address, validated_ts, added_ts FROM user_threepids \
                     WHERE user_id = $1 ORDER BY added_ts, medium, address",
                )
                .bind(user_id)
                .fetch_all(&mut *self.conn.get().await?)
                .await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        Ok::<_, sqlx::Error>(UserThreepid {
                            user_id: r.try_get("user_id")?,
                            medium: r.try_get("medium")?,
                            address: r.try_get("address")?,
                            validated_ts: r.try_get("validated_ts")?,
                            added_ts: r.try_get("added_ts")?,
                        })
                    })
                    .collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn delete_user_threepid(
                &mut self,
                user_id: &str,
                medium: &str,
                address: &str,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "DELETE FROM user_threepids WHERE user_id = $1 AND medium = $2 AND address = $3",
                )
                .bind(user_id)
                .bind(medium)
                .bind(address)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            #[tracing::instrument(skip_all)]
            async fn create_threepid_session(&mut self, s: &ThreepidSession) -> StoreResult<()> {
                let sql = format!(
                    "INSERT INTO threepid_validation_sessions ({THREEPID_SESSION_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                );
                sqlx::query(&sql)
                    .bind(&s.session_id)
                    .bind(&s.medium)
                    .bind(&s.address)
                    .bind(&s.client_secret)
                    .bind(s.last_send_attempt)
                    .bind(s.validated_ts)
                    .bind(&s.token_hash)
                    .bind(s.token_expires_ts)
                    .bind(&s.next_link)
                    .bind(s.created_ts)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn get_threepid_session(
                &mut self,
                session_id: &str,
            ) -> StoreResult<Option<ThreepidSession>> {
                let sql = format!(
                    "SELECT {THREEPID_SESSION_COLUMNS} FROM threepid_validation_sessions \
                     WHERE session_id = $1"
                );
                let row = sqlx::query(&sql)
                    .bind(session_id)
                    .fetch_optional(&mut *self.conn.get().await?)
                    .await?;
                Ok(row.as_ref().map(ThreepidSession::from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn find_threepid_session(
                &mut self,
                medium: &str,
                address: &str,
                client_secret: &str,
            ) -> StoreResult<Option<ThreepidSession>> {
                let sql = format!(
                    "SELECT {THREEPID_SESSION_COLUMNS} FROM threepid_validation_sessions \
                     WHERE medium = $1 AND address = $2 AND client_secret = $3 \
                     ORDER BY created_ts DESC LIMIT 1"
                );
                let row = sqlx::query(&sql)
                    .bind(medium)
                    .bind(address)
                    .bind(client_secret)
                    .fetch_optional(&mut *self.conn.get().await?)
                    .await?;
                Ok(row.as_ref().map(ThreepidSession::from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn update_threepid_session_token(
                &mut self,
                session_id: &str,
                send_attempt: i64,
                token_hash: &[u8],
                token_expires_ts: Timestamp,
                next_link: Option<&str>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE threepid_validation_sessions SET last_send_attempt = $2, \
                     token_hash = $3, token_expires_ts = $4, next_link = $5 WHERE session_id = $1",
                )
                .bind(session_id)
                .bind(send_attempt)
                .bind(token_hash)
                .bind(token_expires_ts)
                .bind(next_link)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn set_threepid_session_validated(
                &mut self,
                session_id: &str,
                ts: Timestamp,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE threepid_validation_sessions SET validated_ts = $2 \
                     WHERE session_id = $1 AND validated_ts IS NULL",
                )
                .bind(session_id)
                .bind(ts)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn use_threepid_session(
                &mut self,
                session_id: &str,
                used_by: &str,
                validated_after: Timestamp,
                now: Timestamp,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE threepid_validation_sessions \
                     SET spent_ts = COALESCE(spent_ts, $4), spent_by = $2 \
                     WHERE session_id = $1 AND validated_ts IS NOT NULL \
                     AND validated_ts > $3 AND (spent_by IS NULL OR spent_by = $2)",
                )
                .bind(session_id)
                .bind(used_by)
                .bind(validated_after)
                .bind(now)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            #[tracing::instrument(skip_all)]
            async fn sweep_threepid_sessions(&mut self, now: Timestamp, validated_before: Timestamp) -> StoreResult<u64> {
                let done = sqlx::query(
                    "DELETE FROM threepid_validation_sessions \
                     WHERE (validated_ts IS NULL AND token_expires_ts <= $1) \
                     OR validated_ts <= $2",
                )
                .bind(now)
                .bind(validated_before)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all)]
            async fn delete_user_threepids(&mut self, user_id: &str) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM user_threepids WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

use super::conn::Repo;
threepids_store!(sqlx::Sqlite);
threepids_store!(sqlx::Postgres);
