//! The SQL of both backends, written once. SQLite and PostgreSQL both accept
//! `$N` placeholders, `RETURNING` and `ON CONFLICT`, so one macro body
//! implements [`Store`] for each pool type; only connecting and the
//! migrations (`migrations/{sqlite,postgres}`) differ. Here: connecting,
//! the row mappers and shared helpers, users, devices and access tokens;
//! each other area is a supertrait of [`Store`] in a file of its own
//! (`threepids.rs`, `usage.rs`, `uia.rs`, `registration.rs`, `jobs.rs`,
//! `sso.rs`, `ratelimit.rs`), written with the same macro pattern.

use super::{
    Device, NewAccessToken, NewRegistration, NewUser, RegistrationOutcome, RegistrationToken,
    Store, StoreError, StoreResult, TokenOwner, UiaSession, User,
};
use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;

/// SQLite (WAL), the embedded default.
#[derive(Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
}

impl SqliteStore {
    /// How a transaction starts. SQLite's default (deferred) transaction
    /// takes the write lock only at its first write, and in WAL mode fails
    /// at once (SQLITE_BUSY_SNAPSHOT, no busy wait) if another connection
    /// wrote since it first read; taking the lock up front waits instead.
    pub(super) const BEGIN: &'static str = "BEGIN IMMEDIATE";

    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let filename = options.get_filename().to_owned();
        let in_memory = filename.as_os_str() == ":memory:" || url.contains("mode=memory");
        if !in_memory {
            if let Some(dir) = filename.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Database(sqlx::Error::Configuration(
                        format!("cannot create {}: {e}", dir.display()).into(),
                    ))
                })?;
            }
        }
        // An in-memory database exists once per connection: keep exactly one.
        let max = if in_memory { 1 } else { max_connections.max(1) };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(if in_memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if in_memory {
                None
            } else {
                Some(Duration::from_secs(1800))
            })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

/// PostgreSQL, for several processes on one database.
#[derive(Clone)]
pub struct PostgresStore {
    pub(super) pool: PgPool,
}

impl PostgresStore {
    /// How a transaction starts (see [`SqliteStore::BEGIN`]).
    pub(super) const BEGIN: &'static str = "BEGIN";

    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PostgresStore { pool })
    }
}

pub(super) fn to_json_text(map: &Map<String, Value>) -> String {
    Value::Object(map.clone()).to_string()
}

pub(super) fn parse_object(text: &str) -> StoreResult<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StoreError::Corrupt(
            "a UIA dict is not a JSON object".into(),
        )),
    }
}

pub(super) fn parse_value(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("bad JSON: {e}")))
}

use super::ThreepidSession;

pub(super) const THREEPID_SESSION_COLUMNS: &str = "session_id, medium, address, client_secret, \
    last_send_attempt, validated_at, token_hash, token_expires_at, next_link, created_at";

const USER_COLUMNS: &str = "name, password_hash, admin, user_type, is_guest, deactivated, \
                            locked, creation_ts, displayname, appservice_id, consent_version, \
                            credentials_version";
const DEVICE_COLUMNS: &str = "user_id, device_id, display_name, last_seen_ts, last_seen_ip";

macro_rules! sql_store {
    ($store:ident, $db:ty, $name:literal) => {
        impl $store {
            pub(super) fn user_from_row(r: &<$db as sqlx::Database>::Row) -> Result<User, sqlx::Error> {
                Ok(User {
                    user_id: r.try_get("name")?,
                    password_hash: r.try_get("password_hash")?,
                    admin: r.try_get("admin")?,
                    user_type: r.try_get("user_type")?,
                    is_guest: r.try_get("is_guest")?,
                    deactivated: r.try_get("deactivated")?,
                    locked: r.try_get("locked")?,
                    creation_ts: r.try_get("creation_ts")?,
                    displayname: r.try_get("displayname")?,
                    appservice_id: r.try_get("appservice_id")?,
                    consent_version: r.try_get("consent_version")?,
                    credentials_version: r.try_get("credentials_version")?,
                })
            }

            pub(super) fn device_from_row(r: &<$db as sqlx::Database>::Row) -> Result<Device, sqlx::Error> {
                Ok(Device {
                    user_id: r.try_get("user_id")?,
                    device_id: r.try_get("device_id")?,
                    display_name: r.try_get("display_name")?,
                    last_seen_ts: r.try_get("last_seen_ts")?,
                    last_seen_ip: r.try_get("last_seen_ip")?,
                })
            }

            pub(super) fn registration_token_from_row(
                r: &<$db as sqlx::Database>::Row,
            ) -> Result<RegistrationToken, sqlx::Error> {
                Ok(RegistrationToken {
                    token: r.try_get("token")?,
                    uses_allowed: r.try_get("uses_allowed")?,
                    pending: r.try_get("pending")?,
                    completed: r.try_get("completed")?,
                    expiry_time: r.try_get("expiry_time")?,
                })
            }

            pub(super) fn uia_from_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<UiaSession> {
                let client: String = r.try_get("client_dict")?;
                let server: String = r.try_get("server_dict")?;
                let result: Option<String> = r.try_get("result")?;
                Ok(UiaSession {
                    session_id: r.try_get("session_id")?,
                    creation_ts: r.try_get("creation_ts")?,
                    uri: r.try_get("uri")?,
                    method: r.try_get("method")?,
                    user_id: r.try_get("user_id")?,
                    client_dict: parse_object(&client)?,
                    server_dict: parse_object(&server)?,
                    result: result.as_deref().map(parse_value).transpose()?,
                })
            }
        }

        impl $store {
            pub(super) fn threepid_session_from_row(
                r: &<$db as sqlx::Database>::Row,
            ) -> Result<ThreepidSession, sqlx::Error> {
                Ok(ThreepidSession {
                    session_id: r.try_get("session_id")?,
                    medium: r.try_get("medium")?,
                    address: r.try_get("address")?,
                    client_secret: r.try_get("client_secret")?,
                    last_send_attempt: r.try_get("last_send_attempt")?,
                    validated_at: r.try_get("validated_at")?,
                    token_hash: r.try_get("token_hash")?,
                    token_expires_at: r.try_get("token_expires_at")?,
                    next_link: r.try_get("next_link")?,
                    created_at: r.try_get("created_at")?,
                })
            }

            /// Inserts the user unless the ID is taken: `true` when it was
            /// inserted. On the pool or inside a transaction.
            pub(super) async fn insert_user<'c, E>(exec: E, user: &NewUser) -> Result<bool, sqlx::Error>
            where
                E: sqlx::Executor<'c, Database = $db>,
            {
                let done = sqlx::query(
                    "INSERT INTO users (name, password_hash, admin, user_type, is_guest, \
                     creation_ts, displayname, appservice_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING",
                )
                .bind(&user.user_id)
                .bind(&user.password_hash)
                .bind(user.admin)
                .bind(&user.user_type)
                .bind(user.is_guest)
                .bind(user.creation_ts)
                .bind(&user.displayname)
                .bind(&user.appservice_id)
                .execute(exec)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $name
            }

            #[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
            async fn create_user(&self, user: &NewUser) -> StoreResult<bool> {
                Ok(Self::insert_user(&self.pool, user).await?)
            }

            #[tracing::instrument(skip_all)]
            async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1");
                let row = sqlx::query(&sql)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.as_ref().map(Self::user_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn get_users_case_insensitive(&self, user_id: &str) -> StoreResult<Vec<User>> {
                let sql =
                    format!("SELECT {USER_COLUMNS} FROM users WHERE lower(name) = lower($1)");
                let rows = sqlx::query(&sql)
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows
                    .iter()
                    .map(Self::user_from_row)
                    .collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn set_password_hash(&self, user_id: &str, hash: Option<&str>) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE users SET password_hash = $2, \
                     credentials_version = credentials_version + 1 WHERE name = $1",
                )
                .bind(user_id)
                .bind(hash)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn change_password(
                &self,
                user_id: &str,
                hash: &str,
                logout_devices: bool,
                keep_device: Option<&str>,
                keep_token: Option<i64>,
            ) -> StoreResult<Vec<String>> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                sqlx::query(
                    "UPDATE users SET password_hash = $2, \
                     credentials_version = credentials_version + 1 WHERE name = $1",
                )
                .bind(user_id)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
                let mut deleted = Vec::new();
                if logout_devices {
                    sqlx::query("DELETE FROM access_tokens WHERE user_id = $1 AND id <> $2")
                        .bind(user_id)
                        .bind(keep_token.unwrap_or(-1))
                        .execute(&mut *tx)
                        .await?;
                    let rows = sqlx::query(
                        "DELETE FROM devices WHERE user_id = $1 AND device_id <> $2 \
                         RETURNING device_id",
                    )
                    .bind(user_id)
                    .bind(keep_device.unwrap_or(""))
                    .fetch_all(&mut *tx)
                    .await?;
                    for r in &rows {
                        deleted.push(r.try_get("device_id")?);
                    }
                    // A login token not traded yet would start a session
                    // the change should have ended.
                    sqlx::query("DELETE FROM login_tokens WHERE user_id = $1 AND used_ts IS NULL")
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(deleted)
            }

            #[tracing::instrument(skip_all)]
            async fn upgrade_password_hash(
                &self,
                user_id: &str,
                credentials_version: i64,
                hash: &str,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE users SET password_hash = $3 \
                     WHERE name = $1 AND credentials_version = $2",
                )
                .bind(user_id)
                .bind(credentials_version)
                .bind(hash)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn set_admin(&self, user_id: &str, admin: bool) -> StoreResult<()> {
                sqlx::query("UPDATE users SET admin = $2 WHERE name = $1")
                    .bind(user_id)
                    .bind(admin)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn set_profile_fields(
                &self,
                user_id: &str,
                user_type: Option<&str>,
                displayname: Option<&str>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE users SET user_type = COALESCE($2, user_type), \
                     displayname = COALESCE($3, displayname) WHERE name = $1",
                )
                .bind(user_id)
                .bind(user_type)
                .bind(displayname)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn deactivate_user(&self, user_id: &str) -> StoreResult<Vec<String>> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                sqlx::query(
                    "UPDATE users SET deactivated = TRUE WHERE name = $1",
                )
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM access_tokens WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM user_threepids WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                let rows = sqlx::query("DELETE FROM devices WHERE user_id = $1 RETURNING device_id")
                    .bind(user_id)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(rows
                    .iter()
                    .map(|r| r.try_get("device_id"))
                    .collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all, fields(user_id = %reg.user.user_id))]
            async fn complete_registration(
                &self,
                reg: &NewRegistration,
            ) -> StoreResult<RegistrationOutcome> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                // The session first: its row stays locked (PostgreSQL) until
                // the end, so a concurrent request of the same session waits
                // here and then finds the result.
                if let Some((session_id, result)) = &reg.uia_session {
                    let done = sqlx::query(
                        "UPDATE uia_sessions SET result = $2 \
                         WHERE session_id = $1 AND result IS NULL",
                    )
                    .bind(session_id)
                    .bind(result.to_string())
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        let row =
                            sqlx::query("SELECT result FROM uia_sessions WHERE session_id = $1")
                                .bind(session_id)
                                .fetch_optional(&mut *tx)
                                .await?;
                        let text: Option<String> = match row {
                            Some(r) => r.try_get("result")?,
                            None => None,
                        };
                        let previous = text.as_deref().map(parse_value).transpose()?;
                        return Ok(RegistrationOutcome::SessionSpent(previous));
                    }
                }
                let user = &reg.user;
                if reg.upgrade_guest {
                    let done = sqlx::query(
                        "UPDATE users SET is_guest = $3, password_hash = $2, \
                         displayname = COALESCE($5, displayname) \
                         WHERE name = $1 AND is_guest = $4",
                    )
                    .bind(&user.user_id)
                    .bind(&user.password_hash)
                    .bind(false)
                    .bind(true)
                    .bind(&user.displayname)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Ok(RegistrationOutcome::NotAGuest);
                    }
                    sqlx::query("DELETE FROM access_tokens WHERE user_id = $1")
                        .bind(&user.user_id)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    if !Self::insert_user(&mut *tx, user).await? {
                        return Ok(RegistrationOutcome::UserTaken);
                    }
                }
                if let Some(version) = &reg.consent_version {
                    sqlx::query("UPDATE users SET consent_version = $2 WHERE name = $1")
                        .bind(&user.user_id)
                        .bind(version)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(t) = &reg.threepid {
                    let done = sqlx::query(
                        "INSERT INTO user_threepids (user_id, medium, address, validated_at, \
                         added_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (medium, address) DO NOTHING",
                    )
                    .bind(&t.user_id)
                    .bind(&t.medium)
                    .bind(&t.address)
                    .bind(t.validated_at)
                    .bind(t.added_at)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Ok(RegistrationOutcome::ThreepidTaken);
                    }
                }
                if let Some(ts) = reg.monthly_active_ts {
                    sqlx::query(
                        "INSERT INTO monthly_active_users (user_id, last_seen) VALUES ($1, $2) \
                         ON CONFLICT (user_id) DO UPDATE SET last_seen = excluded.last_seen \
                         WHERE monthly_active_users.last_seen < excluded.last_seen",
                    )
                    .bind(&user.user_id)
                    .bind(ts)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some(token) = &reg.registration_token {
                    sqlx::query(
                        "UPDATE registration_tokens SET pending = pending - 1, \
                         completed = completed + 1 WHERE token = $1 AND pending > 0",
                    )
                    .bind(token)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some((device_id, display_name)) = &reg.device {
                    sqlx::query(
                        "INSERT INTO devices (user_id, device_id, display_name) \
                         VALUES ($1, $2, $3) ON CONFLICT (user_id, device_id) DO NOTHING",
                    )
                    .bind(&user.user_id)
                    .bind(device_id)
                    .bind(display_name)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some(t) = &reg.access_token {
                    sqlx::query(
                        "INSERT INTO access_tokens (token_hash, user_id, device_id, \
                         puppet_owner, created_ts, valid_until_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&t.token_hash)
                    .bind(&t.user_id)
                    .bind(&t.device_id)
                    .bind(&t.puppet_owner)
                    .bind(t.created_ts)
                    .bind(t.valid_until_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(RegistrationOutcome::Done)
            }

            #[tracing::instrument(skip_all)]
            async fn ensure_device(
                &self,
                user_id: &str,
                device_id: &str,
                display_name: Option<&str>,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO devices (user_id, device_id, display_name) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, device_id) DO NOTHING",
                )
                .bind(user_id)
                .bind(device_id)
                .bind(display_name)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn get_device(&self, user_id: &str, device_id: &str) -> StoreResult<Option<Device>> {
                let sql = format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 AND device_id = $2"
                );
                let row = sqlx::query(&sql)
                    .bind(user_id)
                    .bind(device_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.as_ref().map(Self::device_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn list_devices(&self, user_id: &str) -> StoreResult<Vec<Device>> {
                let sql = format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY device_id"
                );
                let rows = sqlx::query(&sql)
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows
                    .iter()
                    .map(Self::device_from_row)
                    .collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn set_device_display_name(
                &self,
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
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all, fields(count = device_ids.len()))]
            async fn delete_devices(
                &self,
                user_id: &str,
                device_ids: &[String],
            ) -> StoreResult<Vec<String>> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                let mut existed = Vec::new();
                for device_id in device_ids {
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
                &self,
                user_id: &str,
                keep_device: Option<&str>,
                keep_token: Option<i64>,
            ) -> StoreResult<Vec<String>> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
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
            async fn create_access_token(&self, t: &NewAccessToken) -> StoreResult<i64> {
                let row = sqlx::query(
                    "INSERT INTO access_tokens (token_hash, user_id, device_id, puppet_owner, \
                     created_ts, valid_until_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(&t.token_hash)
                .bind(&t.user_id)
                .bind(&t.device_id)
                .bind(&t.puppet_owner)
                .bind(t.created_ts)
                .bind(t.valid_until_ms)
                .fetch_one(&self.pool)
                .await?;
                Ok(row.try_get("id")?)
            }

            #[tracing::instrument(skip_all)]
            async fn create_session_token(
                &self,
                t: &NewAccessToken,
                credentials_version: Option<i64>,
            ) -> StoreResult<Option<i64>> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                // A write that changes nothing: it checks the user and locks
                // its row (PostgreSQL) or the database (SQLite) until commit.
                let done = sqlx::query(
                    "UPDATE users SET credentials_version = credentials_version \
                     WHERE name = $1 AND NOT deactivated \
                     AND ($2 < 0 OR credentials_version = $2)",
                )
                .bind(&t.user_id)
                .bind(credentials_version.unwrap_or(-1))
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                let row = sqlx::query(
                    "INSERT INTO access_tokens (token_hash, user_id, device_id, puppet_owner, \
                     created_ts, valid_until_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(&t.token_hash)
                .bind(&t.user_id)
                .bind(&t.device_id)
                .bind(&t.puppet_owner)
                .bind(t.created_ts)
                .bind(t.valid_until_ms)
                .fetch_one(&mut *tx)
                .await?;
                let id = row.try_get("id")?;
                tx.commit().await?;
                Ok(Some(id))
            }

            async fn get_token_owner(&self, token_hash: &[u8]) -> StoreResult<Option<TokenOwner>> {
                let row = sqlx::query(
                    "SELECT t.id, t.user_id, t.device_id, t.puppet_owner, t.valid_until_ms, \
                     u.deactivated, u.locked, u.is_guest, u.admin \
                     FROM access_tokens t JOIN users u ON u.name = t.user_id \
                     WHERE t.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(TokenOwner {
                    token_id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    device_id: r.try_get("device_id")?,
                    puppet_owner: r.try_get("puppet_owner")?,
                    valid_until_ms: r.try_get("valid_until_ms")?,
                    user_deactivated: r.try_get("deactivated")?,
                    user_locked: r.try_get("locked")?,
                    user_is_guest: r.try_get("is_guest")?,
                    user_admin: r.try_get("admin")?,
                }))
            }

            #[tracing::instrument(skip_all)]
            async fn delete_access_token(&self, token_id: i64) -> StoreResult<()> {
                sqlx::query("DELETE FROM access_tokens WHERE id = $1")
                    .bind(token_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn set_token_last_validated(&self, token_id: i64, ts: i64) -> StoreResult<()> {
                sqlx::query("UPDATE access_tokens SET last_validated = $2 WHERE id = $1")
                    .bind(token_id)
                    .bind(ts)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn get_token_last_validated(&self, token_id: i64) -> StoreResult<Option<i64>> {
                let row = sqlx::query("SELECT last_validated FROM access_tokens WHERE id = $1")
                    .bind(token_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(match row {
                    Some(r) => r.try_get("last_validated")?,
                    None => None,
                })
            }

        }
    };
}

sql_store!(SqliteStore, sqlx::Sqlite, "sqlite");
sql_store!(PostgresStore, sqlx::Postgres, "postgres");
