//! The SQL of both backends, written once. SQLite and PostgreSQL both accept
//! `$N` placeholders, `RETURNING` and `ON CONFLICT`, so one macro body
//! implements [`Store`] for each pool type; only connecting and the
//! migrations (`migrations/{sqlite,postgres}`) differ.

use super::{
    ClientIpSeen, Device, DeviceSeen, HomeserverJob, NewAccessToken, NewRegistration, NewUser,
    RegistrationOutcome, RegistrationToken, Store, StoreError, StoreResult, TokenOwner, UiaSession,
    User,
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

fn to_json_text(map: &Map<String, Value>) -> String {
    Value::Object(map.clone()).to_string()
}

fn parse_object(text: &str) -> StoreResult<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StoreError::Corrupt(
            "a UIA dict is not a JSON object".into(),
        )),
    }
}

fn parse_value(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("bad JSON: {e}")))
}

use super::{ThreepidSession, UserThreepid};

const THREEPID_SESSION_COLUMNS: &str = "session_id, medium, address, client_secret, \
    last_send_attempt, validated_at, token_hash, token_expires_at, next_link, created_at";

const USER_COLUMNS: &str = "name, password_hash, admin, user_type, is_guest, deactivated, \
                            locked, creation_ts, displayname, appservice_id, consent_version, \
                            credentials_version";
const DEVICE_COLUMNS: &str = "user_id, device_id, display_name, last_seen_ts, last_seen_ip";

macro_rules! sql_store {
    ($store:ident, $db:ty, $name:literal) => {
        impl $store {
            fn user_from_row(r: &<$db as sqlx::Database>::Row) -> Result<User, sqlx::Error> {
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

            fn device_from_row(r: &<$db as sqlx::Database>::Row) -> Result<Device, sqlx::Error> {
                Ok(Device {
                    user_id: r.try_get("user_id")?,
                    device_id: r.try_get("device_id")?,
                    display_name: r.try_get("display_name")?,
                    last_seen_ts: r.try_get("last_seen_ts")?,
                    last_seen_ip: r.try_get("last_seen_ip")?,
                })
            }

            fn registration_token_from_row(
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

            fn uia_from_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<UiaSession> {
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
            fn threepid_session_from_row(
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
            async fn set_consent_version(&self, user_id: &str, version: &str) -> StoreResult<()> {
                sqlx::query("UPDATE users SET consent_version = $2 WHERE name = $1")
                    .bind(user_id)
                    .bind(version)
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
            async fn upgrade_guest(&self, user_id: &str, password_hash: &str) -> StoreResult<bool> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                let done = sqlx::query(
                    "UPDATE users SET is_guest = $3, password_hash = $2 \
                     WHERE name = $1 AND is_guest = $4",
                )
                .bind(user_id)
                .bind(password_hash)
                .bind(false)
                .bind(true)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM access_tokens WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
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
            async fn add_user_threepid(&self, t: &UserThreepid) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO user_threepids (user_id, medium, address, validated_at, added_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (medium, address) DO NOTHING",
                )
                .bind(&t.user_id)
                .bind(&t.medium)
                .bind(&t.address)
                .bind(t.validated_at)
                .bind(t.added_at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn get_user_by_threepid(
                &self,
                medium: &str,
                address: &str,
            ) -> StoreResult<Option<String>> {
                let row = sqlx::query(
                    "SELECT user_id FROM user_threepids WHERE medium = $1 AND address = $2",
                )
                .bind(medium)
                .bind(address)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| r.try_get("user_id")).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn list_user_threepids(&self, user_id: &str) -> StoreResult<Vec<UserThreepid>> {
                let rows = sqlx::query(
                    "SELECT user_id, medium, address, validated_at, added_at FROM user_threepids \
                     WHERE user_id = $1 ORDER BY added_at, medium, address",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        Ok::<_, sqlx::Error>(UserThreepid {
                            user_id: r.try_get("user_id")?,
                            medium: r.try_get("medium")?,
                            address: r.try_get("address")?,
                            validated_at: r.try_get("validated_at")?,
                            added_at: r.try_get("added_at")?,
                        })
                    })
                    .collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn delete_user_threepid(
                &self,
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
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            #[tracing::instrument(skip_all)]
            async fn create_threepid_session(&self, s: &ThreepidSession) -> StoreResult<()> {
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
                    .bind(s.validated_at)
                    .bind(&s.token_hash)
                    .bind(s.token_expires_at)
                    .bind(&s.next_link)
                    .bind(s.created_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn get_threepid_session(
                &self,
                session_id: &str,
            ) -> StoreResult<Option<ThreepidSession>> {
                let sql = format!(
                    "SELECT {THREEPID_SESSION_COLUMNS} FROM threepid_validation_sessions \
                     WHERE session_id = $1"
                );
                let row = sqlx::query(&sql)
                    .bind(session_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.as_ref().map(Self::threepid_session_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn find_threepid_session(
                &self,
                medium: &str,
                address: &str,
                client_secret: &str,
            ) -> StoreResult<Option<ThreepidSession>> {
                let sql = format!(
                    "SELECT {THREEPID_SESSION_COLUMNS} FROM threepid_validation_sessions \
                     WHERE medium = $1 AND address = $2 AND client_secret = $3 \
                     ORDER BY created_at DESC LIMIT 1"
                );
                let row = sqlx::query(&sql)
                    .bind(medium)
                    .bind(address)
                    .bind(client_secret)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.as_ref().map(Self::threepid_session_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn update_threepid_session_token(
                &self,
                session_id: &str,
                send_attempt: i64,
                token_hash: &[u8],
                token_expires_at: i64,
                next_link: Option<&str>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE threepid_validation_sessions SET last_send_attempt = $2, \
                     token_hash = $3, token_expires_at = $4, next_link = $5 WHERE session_id = $1",
                )
                .bind(session_id)
                .bind(send_attempt)
                .bind(token_hash)
                .bind(token_expires_at)
                .bind(next_link)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn set_threepid_session_validated(
                &self,
                session_id: &str,
                ts: i64,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE threepid_validation_sessions SET validated_at = $2 \
                     WHERE session_id = $1 AND validated_at IS NULL",
                )
                .bind(session_id)
                .bind(ts)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn use_threepid_session(
                &self,
                session_id: &str,
                used_by: &str,
                validated_after: i64,
                now: i64,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE threepid_validation_sessions \
                     SET spent_at = COALESCE(spent_at, $4), spent_by = $2 \
                     WHERE session_id = $1 AND validated_at IS NOT NULL \
                     AND validated_at > $3 AND (spent_by IS NULL OR spent_by = $2)",
                )
                .bind(session_id)
                .bind(used_by)
                .bind(validated_after)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            #[tracing::instrument(skip_all)]
            async fn sweep_threepid_sessions(&self, now: i64, validated_before: i64) -> StoreResult<u64> {
                let done = sqlx::query(
                    "DELETE FROM threepid_validation_sessions \
                     WHERE (validated_at IS NULL AND token_expires_at <= $1) \
                     OR validated_at <= $2",
                )
                .bind(now)
                .bind(validated_before)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
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

            #[tracing::instrument(skip_all, fields(count = seen.len()))]
            async fn record_device_last_seen(&self, seen: &[DeviceSeen]) -> StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                for s in seen {
                    sqlx::query(
                        "UPDATE devices SET last_seen_ts = $3, last_seen_ip = COALESCE($4, last_seen_ip) \
                         WHERE user_id = $1 AND device_id = $2",
                    )
                    .bind(&s.user_id)
                    .bind(&s.device_id)
                    .bind(s.ts)
                    .bind(&s.ip)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            /// One transaction for the batch; if it fails, each row on its
            /// own, so that a row the database refuses costs only itself.
            #[tracing::instrument(skip_all, fields(count = seen.len()))]
            async fn record_client_ips(&self, seen: &[ClientIpSeen]) -> StoreResult<()> {
                const UPSERT: &str = "INSERT INTO user_ips \
                     (user_id, token_id, ip, user_agent, device_id, last_seen) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (user_id, token_id, ip) DO UPDATE \
                     SET last_seen = excluded.last_seen, device_id = excluded.device_id, \
                     user_agent = excluded.user_agent \
                     WHERE user_ips.last_seen < excluded.last_seen";
                let batch = async {
                    let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                    for s in seen {
                        sqlx::query(UPSERT)
                            .bind(&s.user_id)
                            .bind(s.token_id)
                            .bind(&s.ip)
                            .bind(&s.user_agent)
                            .bind(&s.device_id)
                            .bind(s.last_seen)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await
                };
                match batch.await {
                    Ok(()) => return Ok(()),
                    // The database is unreachable: no row would do better.
                    Err(e) if !matches!(e, sqlx::Error::Database(_)) => return Err(e.into()),
                    Err(e) => tracing::warn!("a client-IP batch failed, writing its rows one by one: {e}"),
                }
                for s in seen {
                    let one = sqlx::query(UPSERT)
                        .bind(&s.user_id)
                        .bind(s.token_id)
                        .bind(&s.ip)
                        .bind(&s.user_agent)
                        .bind(&s.device_id)
                        .bind(s.last_seen)
                        .execute(&self.pool)
                        .await;
                    match one {
                        Ok(_) => {}
                        Err(e @ sqlx::Error::Database(_)) => {
                            tracing::warn!(user_id = %s.user_id, "a client-IP row was refused: {e}");
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn list_client_ips(&self, user_id: &str) -> StoreResult<Vec<ClientIpSeen>> {
                let rows = sqlx::query(
                    "SELECT user_id, token_id, ip, user_agent, device_id, last_seen FROM user_ips \
                     WHERE user_id = $1 ORDER BY last_seen DESC, token_id, ip",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(ClientIpSeen {
                            user_id: r.try_get("user_id")?,
                            token_id: r.try_get("token_id")?,
                            ip: r.try_get("ip")?,
                            user_agent: r.try_get("user_agent")?,
                            device_id: r.try_get("device_id")?,
                            last_seen: r.try_get("last_seen")?,
                        })
                    })
                    .collect()
            }

            #[tracing::instrument(skip_all)]
            async fn prune_client_ips(&self, before: i64, limit: i64) -> StoreResult<u64> {
                let done = sqlx::query(
                    "DELETE FROM user_ips WHERE last_seen IN (SELECT last_seen FROM user_ips \
                     WHERE last_seen <= $1 ORDER BY last_seen LIMIT $2)",
                )
                .bind(before)
                .bind(limit)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn mau_last_seen(&self, user_id: &str) -> StoreResult<Option<i64>> {
                let row = sqlx::query("SELECT last_seen FROM monthly_active_users WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| r.try_get("last_seen")).transpose()?)
            }

            async fn count_monthly_active_users(&self) -> StoreResult<i64> {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n FROM monthly_active_users m \
                     LEFT JOIN users u ON u.name = m.user_id \
                     WHERE u.appservice_id IS NULL OR u.appservice_id = ''",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok(row.try_get("n")?)
            }

            async fn upsert_monthly_active_user(&self, user_id: &str, ts: i64) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO monthly_active_users (user_id, last_seen) VALUES ($1, $2) \
                     ON CONFLICT (user_id) DO UPDATE SET last_seen = excluded.last_seen \
                     WHERE monthly_active_users.last_seen < excluded.last_seen",
                )
                .bind(user_id)
                .bind(ts)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn reap_monthly_active_users(
                &self,
                before: i64,
                keep: &[String],
                max: Option<i64>,
            ) -> StoreResult<()> {
                // `AND user_id NOT IN ($first, ...)` over the kept users.
                let not_kept = |first: usize| {
                    if keep.is_empty() {
                        return String::new();
                    }
                    let params: Vec<String> =
                        (0..keep.len()).map(|i| format!("${}", first + i)).collect();
                    format!(" AND user_id NOT IN ({})", params.join(", "))
                };
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                let sql = format!(
                    "DELETE FROM monthly_active_users WHERE last_seen < $1{}",
                    not_kept(2)
                );
                let mut q = sqlx::query(&sql).bind(before);
                for k in keep {
                    q = q.bind(k);
                }
                q.execute(&mut *tx).await?;
                if let Some(max) = max {
                    let others = (max - keep.len() as i64).max(0);
                    let sql = format!(
                        "DELETE FROM monthly_active_users WHERE user_id NOT IN \
                         (SELECT user_id FROM monthly_active_users WHERE TRUE{} \
                         ORDER BY last_seen DESC LIMIT $1){}",
                        not_kept(2),
                        not_kept(2 + keep.len()),
                    );
                    let mut q = sqlx::query(&sql).bind(others);
                    for k in keep.iter().chain(keep) {
                        q = q.bind(k);
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
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

            #[tracing::instrument(skip_all, fields(count = used.len()))]
            async fn record_tokens_last_used(&self, used: &[(i64, i64)]) -> StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                for (id, ts) in used {
                    sqlx::query("UPDATE access_tokens SET last_used_ts = $2 WHERE id = $1")
                        .bind(id)
                        .bind(ts)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn create_uia_session(&self, s: &UiaSession) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO uia_sessions (session_id, creation_ts, uri, method, user_id, \
                     client_dict, server_dict, result) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&s.session_id)
                .bind(s.creation_ts)
                .bind(&s.uri)
                .bind(&s.method)
                .bind(&s.user_id)
                .bind(to_json_text(&s.client_dict))
                .bind(to_json_text(&s.server_dict))
                .bind(s.result.as_ref().map(|v| v.to_string()))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn get_uia_session(&self, session_id: &str) -> StoreResult<Option<UiaSession>> {
                let row = sqlx::query(
                    "SELECT session_id, creation_ts, uri, method, user_id, client_dict, \
                     server_dict, result FROM uia_sessions WHERE session_id = $1",
                )
                .bind(session_id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::uia_from_row).transpose()
            }

            #[tracing::instrument(skip_all)]
            async fn update_uia_client_dict(
                &self,
                session_id: &str,
                client_dict: &Map<String, Value>,
            ) -> StoreResult<()> {
                sqlx::query("UPDATE uia_sessions SET client_dict = $2 WHERE session_id = $1")
                    .bind(session_id)
                    .bind(to_json_text(client_dict))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn set_uia_server_value(
                &self,
                session_id: &str,
                key: &str,
                value: &Value,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
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
                &self,
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
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn get_uia_completed_stages(
                &self,
                session_id: &str,
            ) -> StoreResult<Vec<(String, Value)>> {
                let rows = sqlx::query(
                    "SELECT stage_type, result FROM uia_completed_stages WHERE session_id = $1 \
                     ORDER BY stage_type",
                )
                .bind(session_id)
                .fetch_all(&self.pool)
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
                &self,
                session_id: &str,
                result: &Value,
            ) -> StoreResult<Option<Value>> {
                let done = sqlx::query(
                    "UPDATE uia_sessions SET result = $2 WHERE session_id = $1 AND result IS NULL",
                )
                .bind(session_id)
                .bind(result.to_string())
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 1 {
                    return Ok(None);
                }
                let row = sqlx::query("SELECT result FROM uia_sessions WHERE session_id = $1")
                    .bind(session_id)
                    .fetch_optional(&self.pool)
                    .await?;
                let text: Option<String> = match row {
                    Some(r) => r.try_get("result")?,
                    None => None,
                };
                text.as_deref().map(parse_value).transpose()
            }

            #[tracing::instrument(skip_all)]
            async fn delete_uia_session(&self, session_id: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM uia_sessions WHERE session_id = $1")
                    .bind(session_id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn delete_uia_session_releasing(
                &self,
                session_id: &str,
                key: &str,
            ) -> StoreResult<bool> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
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
                &self,
                before_ts: i64,
                limit: i64,
            ) -> StoreResult<Vec<UiaSession>> {
                let rows = sqlx::query(
                    "SELECT session_id, creation_ts, uri, method, user_id, client_dict, \
                     server_dict, result FROM uia_sessions WHERE creation_ts < $1 \
                     ORDER BY creation_ts LIMIT $2",
                )
                .bind(before_ts)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::uia_from_row).collect()
            }

            async fn create_registration_token(&self, t: &RegistrationToken) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO registration_tokens (token, uses_allowed, pending, completed, expiry_time) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token) DO NOTHING",
                )
                .bind(&t.token)
                .bind(t.uses_allowed)
                .bind(t.pending)
                .bind(t.completed)
                .bind(t.expiry_time)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_registration_token(&self, token: &str) -> StoreResult<Option<RegistrationToken>> {
                let row = sqlx::query(
                    "SELECT token, uses_allowed, pending, completed, expiry_time \
                     FROM registration_tokens WHERE token = $1",
                )
                .bind(token)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.as_ref().map(Self::registration_token_from_row).transpose()?)
            }

            async fn list_registration_tokens(&self) -> StoreResult<Vec<RegistrationToken>> {
                let rows = sqlx::query(
                    "SELECT token, uses_allowed, pending, completed, expiry_time \
                     FROM registration_tokens ORDER BY token",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .iter()
                    .map(Self::registration_token_from_row)
                    .collect::<Result<_, _>>()?)
            }

            async fn update_registration_token(
                &self,
                token: &str,
                uses_allowed: Option<Option<i64>>,
                expiry_time: Option<Option<i64>>,
            ) -> StoreResult<Option<RegistrationToken>> {
                if let Some(value) = uses_allowed {
                    sqlx::query("UPDATE registration_tokens SET uses_allowed = $2 WHERE token = $1")
                        .bind(token)
                        .bind(value)
                        .execute(&self.pool)
                        .await?;
                }
                if let Some(value) = expiry_time {
                    sqlx::query("UPDATE registration_tokens SET expiry_time = $2 WHERE token = $1")
                        .bind(token)
                        .bind(value)
                        .execute(&self.pool)
                        .await?;
                }
                self.get_registration_token(token).await
            }

            async fn delete_registration_token(&self, token: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM registration_tokens WHERE token = $1")
                    .bind(token)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn reserve_registration_token(&self, token: &str, now: i64) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE registration_tokens SET pending = pending + 1 WHERE token = $1 \
                     AND (uses_allowed IS NULL OR pending + completed < uses_allowed) \
                     AND (expiry_time IS NULL OR expiry_time > $2)",
                )
                .bind(token)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn reserve_registration_token_for_session(
                &self,
                session_id: &str,
                key: &str,
                token: &str,
                now: i64,
            ) -> StoreResult<bool> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
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
                     AND (expiry_time IS NULL OR expiry_time > $2)",
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

            async fn settle_registration_token(&self, token: &str, completed: bool) -> StoreResult<()> {
                let sql = if completed {
                    "UPDATE registration_tokens SET pending = pending - 1, completed = completed + 1 \
                     WHERE token = $1 AND pending > 0"
                } else {
                    "UPDATE registration_tokens SET pending = pending - 1 WHERE token = $1 AND pending > 0"
                };
                sqlx::query(sql).bind(token).execute(&self.pool).await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, fields(count = jobs.len()))]
            async fn enqueue_homeserver_jobs(
                &self,
                user_id: &str,
                jobs: &[(&str, Value)],
                now: i64,
            ) -> StoreResult<Vec<i64>> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                let mut ids = Vec::with_capacity(jobs.len());
                for (kind, payload) in jobs {
                    let row = sqlx::query(
                        "INSERT INTO homeserver_jobs (user_id, kind, payload, created_ts, next_attempt_ts) \
                         VALUES ($1, $2, $3, $4, $4) RETURNING id",
                    )
                    .bind(user_id)
                    .bind(*kind)
                    .bind(payload.to_string())
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    ids.push(row.try_get("id")?);
                }
                tx.commit().await?;
                Ok(ids)
            }

            #[tracing::instrument(skip_all)]
            async fn enqueue_device_sync(
                &self,
                user_id: &str,
                jobs: &[(&str, Value)],
                now: i64,
            ) -> StoreResult<bool> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                for (kind, payload) in jobs {
                    // A unique index allows one waiting `sync_devices` per
                    // user: a second one is not inserted, and then nothing is.
                    let done = sqlx::query(
                        "INSERT INTO homeserver_jobs (user_id, kind, payload, created_ts, \
                         next_attempt_ts) VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(user_id)
                    .bind(*kind)
                    .bind(payload.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn claim_homeserver_job(
                &self,
                now: i64,
                lease_ms: i64,
                user_id: Option<&str>,
            ) -> StoreResult<Option<HomeserverJob>> {
                // The outer condition is checked again on the row itself, so
                // two processes racing for one job cannot both win it.
                let row = sqlx::query(
                    "UPDATE homeserver_jobs SET claimed_until = $1 + $2 \
                     WHERE id = (SELECT j.id FROM homeserver_jobs j \
                        WHERE j.next_attempt_ts <= $1 \
                          AND (j.claimed_until IS NULL OR j.claimed_until < $1) \
                          AND ($3 = '' OR j.user_id = $3) \
                          AND NOT EXISTS (SELECT 1 FROM homeserver_jobs e \
                                          WHERE e.user_id = j.user_id AND e.id < j.id) \
                        ORDER BY j.id LIMIT 1) \
                     AND (claimed_until IS NULL OR claimed_until < $1) \
                     RETURNING id, user_id, kind, payload, attempts",
                )
                .bind(now)
                .bind(lease_ms)
                .bind(user_id.unwrap_or(""))
                .fetch_optional(&self.pool)
                .await?;
                let Some(r) = row else { return Ok(None) };
                let payload: String = r.try_get("payload")?;
                Ok(Some(HomeserverJob {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    kind: r.try_get("kind")?,
                    payload: parse_value(&payload)?,
                    attempts: r.try_get("attempts")?,
                }))
            }

            async fn complete_homeserver_job(&self, id: i64) -> StoreResult<()> {
                sqlx::query("DELETE FROM homeserver_jobs WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn fail_homeserver_job(
                &self,
                id: i64,
                next_attempt_ts: i64,
                error: &str,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE homeserver_jobs SET attempts = attempts + 1, next_attempt_ts = $2, \
                     claimed_until = NULL, last_error = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(next_attempt_ts)
                .bind(error)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn count_homeserver_jobs(&self, ids: &[i64]) -> StoreResult<i64> {
                let mut count = 0;
                for id in ids {
                    let row = sqlx::query("SELECT COUNT(*) AS n FROM homeserver_jobs WHERE id = $1")
                        .bind(id)
                        .fetch_one(&self.pool)
                        .await?;
                    let n: i64 = row.try_get("n")?;
                    count += n;
                }
                Ok(count)
            }

            #[tracing::instrument(skip_all)]
            async fn all_user_devices(&self) -> StoreResult<Vec<(String, Vec<String>)>> {
                let rows = sqlx::query(
                    "SELECT d.user_id, d.device_id FROM devices d JOIN users u ON u.name = d.user_id \
                     WHERE NOT u.deactivated ORDER BY d.user_id, d.device_id",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut out: Vec<(String, Vec<String>)> = Vec::new();
                for r in rows {
                    let user: String = r.try_get("user_id")?;
                    let device: String = r.try_get("device_id")?;
                    match out.last_mut() {
                        Some((u, devices)) if *u == user => devices.push(device),
                        _ => out.push((user, vec![device])),
                    }
                }
                Ok(out)
            }

            #[tracing::instrument(skip_all)]
            async fn create_registration_nonce(&self, nonce: &str, created_ts: i64) -> StoreResult<()> {
                sqlx::query("INSERT INTO registration_nonces (nonce, created_ts) VALUES ($1, $2)")
                    .bind(nonce)
                    .bind(created_ts)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn take_registration_nonce(&self, nonce: &str, not_before_ts: i64) -> StoreResult<bool> {
                let row = sqlx::query(
                    "DELETE FROM registration_nonces WHERE nonce = $1 RETURNING created_ts",
                )
                .bind(nonce)
                .fetch_optional(&self.pool)
                .await?;
                // Old nonces nobody used are swept on the way.
                sqlx::query("DELETE FROM registration_nonces WHERE created_ts < $1")
                    .bind(not_before_ts)
                    .execute(&self.pool)
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
            async fn sweep_registration_nonces(&self, before_ts: i64) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM registration_nonces WHERE created_ts < $1")
                    .bind(before_ts)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all)]
            async fn trim_registration_nonces(&self, keep: i64) -> StoreResult<u64> {
                // Oldest first, at most a batch a call (one call per nonce
                // made keeps the count at `keep`).
                let done = sqlx::query(
                    "DELETE FROM registration_nonces WHERE nonce IN \
                     (SELECT nonce FROM registration_nonces \
                      ORDER BY created_ts DESC, nonce DESC LIMIT 1000 OFFSET $1)",
                )
                .bind(keep)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

sql_store!(SqliteStore, sqlx::Sqlite, "sqlite");
sql_store!(PostgresStore, sqlx::Postgres, "postgres");
