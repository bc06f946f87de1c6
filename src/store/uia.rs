//! The SQL of User-Interactive Auth sessions, for both backends.

use super::sql::{parse_object, parse_value, to_json_text};
use super::{StoreResult, UiaSession};
use crate::clock::Timestamp;
use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::{FromRow, Row};

/// A `uia_sessions` row as stored: the dicts and the result are JSON text.
#[derive(FromRow)]
struct UiaRow {
    session_id: String,
    created_ts: Timestamp,
    uri: String,
    method: String,
    user_id: Option<String>,
    client_dict: String,
    server_dict: String,
    result: Option<String>,
}

fn uia_session_from_row<'r, R: Row>(r: &'r R) -> StoreResult<UiaSession>
where
    UiaRow: FromRow<'r, R>,
{
    let row = UiaRow::from_row(r)?;
    Ok(UiaSession {
        session_id: row.session_id,
        created_ts: row.created_ts,
        uri: row.uri,
        method: row.method,
        user_id: row.user_id,
        client_dict: parse_object(&row.client_dict)?,
        server_dict: parse_object(&row.server_dict)?,
        result: row.result.as_deref().map(parse_value).transpose()?,
    })
}

/// What [`UiaRepository::set_uia_result_once`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum ResultOnce {
    Recorded,
    /// The session had a result already (this one).
    Already(serde_json::Value),
    /// There is no such session.
    NoSession,
}

#[async_trait]
pub trait UiaRepository: Send {
    async fn create_uia_session(&mut self, session: &UiaSession) -> StoreResult<()>;
    async fn get_uia_session(&mut self, session_id: &str) -> StoreResult<Option<UiaSession>>;
    async fn update_uia_client_dict(
        &mut self,
        session_id: &str,
        client_dict: &serde_json::Map<String, serde_json::Value>,
    ) -> StoreResult<()>;
    /// Sets one key of the server dict, keeping the others.
    async fn set_uia_server_value(
        &mut self,
        session_id: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> StoreResult<()>;
    async fn mark_uia_stage_completed(
        &mut self,
        session_id: &str,
        stage: &str,
        result: &serde_json::Value,
    ) -> StoreResult<()>;
    async fn get_uia_completed_stages(
        &mut self,
        session_id: &str,
    ) -> StoreResult<Vec<(String, serde_json::Value)>>;
    /// Records the outcome of the session's operation, once: a result
    /// already recorded is left as it is and given back.
    async fn set_uia_result_once(
        &mut self,
        session_id: &str,
        result: &serde_json::Value,
    ) -> StoreResult<ResultOnce>;
    /// `true` when this call deleted it (so two processes sweeping the same
    /// session cannot both act on it).
    async fn delete_uia_session(&mut self, session_id: &str) -> StoreResult<bool>;
    /// Deletes the session; if this call deleted it and it had no result,
    /// gives back the pending use of the registration token its server
    /// dict holds under `key`, in the same transaction. `true` when this
    /// call deleted it.
    async fn delete_uia_session_releasing(
        &mut self,
        session_id: &str,
        key: &str,
    ) -> StoreResult<bool>;
    /// Sessions created before `before_ts` (at most `limit`).
    async fn list_uia_sessions_before(
        &mut self,
        before_ts: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<UiaSession>>;
}

macro_rules! uia_store {
    ($db:ty) => {
        #[async_trait]
        impl UiaRepository for Repo<'_, $db> {
            #[tracing::instrument(skip_all)]
            async fn create_uia_session(&mut self, s: &UiaSession) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO uia_sessions (session_id, created_ts, uri, method, user_id, \
                     client_dict, server_dict, result) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&s.session_id)
                .bind(s.created_ts)
                .bind(&s.uri)
                .bind(&s.method)
                .bind(&s.user_id)
                .bind(to_json_text(&s.client_dict))
                .bind(to_json_text(&s.server_dict))
                .bind(s.result.as_ref().map(|v| v.to_string()))
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn get_uia_session(&mut self, session_id: &str) -> StoreResult<Option<UiaSession>> {
                let row = sqlx::query(
                    "SELECT session_id, created_ts, uri, method, user_id, client_dict, \
                     server_dict, result FROM uia_sessions WHERE session_id = $1",
                )
                .bind(session_id)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?;
                row.as_ref().map(uia_session_from_row).transpose()
            }

            #[tracing::instrument(skip_all)]
            async fn update_uia_client_dict(
                &mut self,
                session_id: &str,
                client_dict: &Map<String, Value>,
            ) -> StoreResult<()> {
                sqlx::query("UPDATE uia_sessions SET client_dict = $2 WHERE session_id = $1")
                    .bind(session_id)
                    .bind(to_json_text(client_dict))
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn set_uia_server_value(
                &mut self,
                session_id: &str,
                key: &str,
                value: &Value,
            ) -> StoreResult<()> {
                let mut tx = self.conn.atomic().await?;
                // A write first: it locks the row on PostgreSQL and takes the
                // write lock on SQLite, so the read-modify-write is atomic.
                sqlx::query("UPDATE uia_sessions SET session_id = session_id WHERE session_id = $1")
                    .bind(session_id)
                    .execute(&mut *tx)
                    .await?;
                let row = sqlx::query("SELECT server_dict FROM uia_sessions WHERE session_id = $1")
                    .bind(session_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { return Ok(()) };
                let text: String = row.try_get("server_dict")?;
                let mut dict = parse_object(&text)?;
                dict.insert(key.to_owned(), value.clone());
                sqlx::query("UPDATE uia_sessions SET server_dict = $2 WHERE session_id = $1")
                    .bind(session_id)
                    .bind(to_json_text(&dict))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, fields(stage))]
            async fn mark_uia_stage_completed(
                &mut self,
                session_id: &str,
                stage: &str,
                result: &Value,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO uia_completed_stages (session_id, stage_type, result) \
                     VALUES ($1, $2, $3) ON CONFLICT (session_id, stage_type) \
                     DO UPDATE SET result = excluded.result",
                )
                .bind(session_id)
                .bind(stage)
                .bind(result.to_string())
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn get_uia_completed_stages(
                &mut self,
                session_id: &str,
            ) -> StoreResult<Vec<(String, Value)>> {
                let rows = sqlx::query(
                    "SELECT stage_type, result FROM uia_completed_stages WHERE session_id = $1 \
                     ORDER BY stage_type",
                )
                .bind(session_id)
                .fetch_all(&mut *self.conn.get().await?)
                .await?;
                rows.iter()
                    .map(|r| {
                        let stage: String = r.try_get("stage_type")?;
                        let result: String = r.try_get("result")?;
                        Ok((stage, parse_value(&result)?))
                    })
                    .collect()
            }

            #[tracing::instrument(skip_all)]
            async fn set_uia_result_once(
                &mut self,
                session_id: &str,
                result: &Value,
            ) -> StoreResult<ResultOnce> {
                let done = sqlx::query(
                    "UPDATE uia_sessions SET result = $2 WHERE session_id = $1 AND result IS NULL",
                )
                .bind(session_id)
                .bind(result.to_string())
                .execute(&mut *self.conn.get().await?)
                .await?;
                if done.rows_affected() == 1 {
                    return Ok(ResultOnce::Recorded);
                }
                let row = sqlx::query("SELECT result FROM uia_sessions WHERE session_id = $1")
                    .bind(session_id)
                    .fetch_optional(&mut *self.conn.get().await?)
                    .await?;
                let Some(row) = row else {
                    return Ok(ResultOnce::NoSession);
                };
                // Not updated, so the row has a result.
                let text: String = row.try_get("result")?;
                Ok(ResultOnce::Already(parse_value(&text)?))
            }

            #[tracing::instrument(skip_all)]
            async fn delete_uia_session(&mut self, session_id: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM uia_sessions WHERE session_id = $1")
                    .bind(session_id)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn delete_uia_session_releasing(
                &mut self,
                session_id: &str,
                key: &str,
            ) -> StoreResult<bool> {
                let mut tx = self.conn.atomic().await?;
                let row = sqlx::query(
                    "DELETE FROM uia_sessions WHERE session_id = $1 RETURNING result, server_dict",
                )
                .bind(session_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Ok(false) };
                let result: Option<String> = row.try_get("result")?;
                let server: String = row.try_get("server_dict")?;
                let dict = parse_object(&server)?;
                if let (None, Some(Value::String(token))) = (result, dict.get(key)) {
                    sqlx::query(
                        "UPDATE registration_tokens SET pending = pending - 1 \
                         WHERE token = $1 AND pending > 0",
                    )
                    .bind(token)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            #[tracing::instrument(skip_all)]
            async fn list_uia_sessions_before(
                &mut self,
                before_ts: Timestamp,
                limit: i64,
            ) -> StoreResult<Vec<UiaSession>> {
                let rows = sqlx::query(
                    "SELECT session_id, created_ts, uri, method, user_id, client_dict, \
                     server_dict, result FROM uia_sessions WHERE created_ts < $1 \
                     ORDER BY created_ts LIMIT $2",
                )
                .bind(before_ts)
                .bind(limit)
                .fetch_all(&mut *self.conn.get().await?)
                .await?;
                rows.iter().map(uia_session_from_row).collect()
            }
        }
    };
}

use super::conn::Repo;
uia_store!(sqlx::Sqlite);
uia_store!(sqlx::Postgres);
