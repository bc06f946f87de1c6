//! The SQL of user accounts, for both backends.

use super::sql::USER_COLUMNS;
use super::user_list::{Arg, UserListQuery, UserListRow};
use super::{NewUser, StoreError, StoreResult, User};
use async_trait::async_trait;
use sqlx::{FromRow, Row};

#[async_trait]
pub trait UserRepository: Send {
    /// Creates the user; `false` if the user ID is taken.
    async fn create_user(&mut self, user: &NewUser) -> StoreResult<bool>;
    async fn get_user(&mut self, user_id: &str) -> StoreResult<Option<User>>;
    /// Users whose ID equals `user_id` case-insensitively (ASCII).
    async fn get_users_case_insensitive(&mut self, user_id: &str) -> StoreResult<Vec<User>>;
    /// Sets the password hash (`None`: no password) and bumps the
    /// credentials version.
    async fn set_password_hash(&mut self, user_id: &str, hash: Option<&str>) -> StoreResult<()>;
    async fn set_admin(&mut self, user_id: &str, admin: bool) -> StoreResult<()>;
    /// The user IDs of the server admins (deactivated ones too), in order.
    async fn list_admins(&mut self) -> StoreResult<Vec<String>>;
    /// Sets `user_type` and `displayname` where given (`None` leaves a field).
    async fn set_profile_fields(
        &mut self,
        user_id: &str,
        user_type: Option<&str>,
        displayname: Option<&str>,
    ) -> StoreResult<()>;
    /// Replaces the hash of the same password (a scheme upgrade), only if
    /// the credentials version is still `credentials_version`.
    async fn upgrade_password_hash(
        &mut self,
        user_id: &str,
        credentials_version: i64,
        hash: &str,
    ) -> StoreResult<bool>;

    /// Makes the guest a normal user with this password hash and, if given,
    /// display name. `false` if the user is not (or no longer) a guest.
    async fn upgrade_guest(
        &mut self,
        user_id: &str,
        password_hash: Option<&str>,
        displayname: Option<&str>,
    ) -> StoreResult<bool>;
    async fn set_consent_version(&mut self, user_id: &str, version: &str) -> StoreResult<()>;
    /// Sets the display name (`None`: none). `false` if no such user.
    async fn set_displayname(
        &mut self,
        user_id: &str,
        displayname: Option<&str>,
    ) -> StoreResult<bool>;
    /// Marks the user deactivated (its password hash is kept, unusable).
    async fn set_deactivated(&mut self, user_id: &str) -> StoreResult<()>;
    /// A deactivated account active again, not erased, and without a
    /// password (the unusable hash deactivation kept goes, and the
    /// credentials version moves as with any password change; the
    /// addresses went at deactivation).
    async fn set_reactivated(&mut self, user_id: &str) -> StoreResult<()>;
    /// Locks the account (its tokens answer `M_USER_LOCKED`, it cannot log
    /// in) or unlocks it.
    async fn set_locked(&mut self, user_id: &str, locked: bool) -> StoreResult<()>;
    /// Locks the user's row until the end of the transaction (PostgreSQL;
    /// on SQLite the transaction holds the write lock already) and gives
    /// its deactivated flag and credentials version; `None` if no such user.
    async fn lock_credentials(&mut self, user_id: &str) -> StoreResult<Option<(bool, i64)>>;
    /// Suspends the user, or not (Synapse's `PUT /admin/v1/suspend`).
    async fn set_suspended(&mut self, user_id: &str, suspended: bool) -> StoreResult<()>;
    /// Marks the user erased (deactivated with `erase`), or not.
    async fn set_erased(&mut self, user_id: &str, erased: bool) -> StoreResult<()>;
    /// Sets the avatar (`None`: none).
    async fn set_avatar_url(&mut self, user_id: &str, avatar_url: Option<&str>) -> StoreResult<()>;
    /// Sets the user type (`None`: none).
    async fn set_user_type(&mut self, user_id: &str, user_type: Option<&str>) -> StoreResult<()>;
    /// When the user last made a request (`user_ips`), if ever.
    async fn last_seen_ts(&mut self, user_id: &str) -> StoreResult<Option<i64>>;
    /// The rows of a page of the admin's user list (its cursor checked
    /// first with [`UserListQuery::cursor_fits`]).
    async fn list_users(&mut self, query: &UserListQuery) -> StoreResult<Vec<UserListRow>>;
    /// How many users the query's filters match, all pages together
    /// (a scan of every matching row: callers keep it a while).
    async fn count_users(&mut self, query: &UserListQuery) -> StoreResult<i64>;
}

macro_rules! users_store {
    ($db:ty) => {
        #[async_trait]
        impl UserRepository for Repo<'_, $db> {
            #[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
            async fn create_user(&mut self, user: &NewUser) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO users (name, password_hash, admin, user_type, is_guest, \
                     created_ts, displayname, appservice_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING",
                )
                .bind(&user.user_id)
                .bind(&user.password_hash)
                .bind(user.admin)
                .bind(&user.user_type)
                .bind(user.is_guest)
                .bind(user.created_ts)
                .bind(&user.displayname)
                .bind(&user.appservice_id)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn get_user(&mut self, user_id: &str) -> StoreResult<Option<User>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1");
                let row = sqlx::query(&sql)
                    .bind(user_id)
                    .fetch_optional(&mut *self.conn.get().await?)
                    .await?;
                Ok(row.as_ref().map(User::from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn get_users_case_insensitive(
                &mut self,
                user_id: &str,
            ) -> StoreResult<Vec<User>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(name) = lower($1)");
                let rows = sqlx::query(&sql)
                    .bind(user_id)
                    .fetch_all(&mut *self.conn.get().await?)
                    .await?;
                Ok(rows.iter().map(User::from_row).collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn set_password_hash(
                &mut self,
                user_id: &str,
                hash: Option<&str>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE users SET password_hash = $2, \
                     credentials_version = credentials_version + 1 WHERE name = $1",
                )
                .bind(user_id)
                .bind(hash)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn upgrade_password_hash(
                &mut self,
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
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn set_admin(&mut self, user_id: &str, admin: bool) -> StoreResult<()> {
                sqlx::query("UPDATE users SET admin = $2 WHERE name = $1")
                    .bind(user_id)
                    .bind(admin)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn list_admins(&mut self) -> StoreResult<Vec<String>> {
                let rows = sqlx::query("SELECT name FROM users WHERE admin ORDER BY name")
                    .fetch_all(&mut *self.conn.get().await?)
                    .await?;
                rows.iter()
                    .map(|r| r.try_get::<String, _>("name").map_err(Into::into))
                    .collect()
            }

            #[tracing::instrument(skip_all)]
            async fn set_profile_fields(
                &mut self,
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
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn upgrade_guest(
                &mut self,
                user_id: &str,
                password_hash: Option<&str>,
                displayname: Option<&str>,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE users SET is_guest = $3, password_hash = $2, \
                     displayname = COALESCE($5, displayname) \
                     WHERE name = $1 AND is_guest = $4",
                )
                .bind(user_id)
                .bind(password_hash)
                .bind(false)
                .bind(true)
                .bind(displayname)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn set_displayname(
                &mut self,
                user_id: &str,
                displayname: Option<&str>,
            ) -> StoreResult<bool> {
                let done = sqlx::query("UPDATE users SET displayname = $2 WHERE name = $1")
                    .bind(user_id)
                    .bind(displayname)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn set_consent_version(
                &mut self,
                user_id: &str,
                version: &str,
            ) -> StoreResult<()> {
                sqlx::query("UPDATE users SET consent_version = $2 WHERE name = $1")
                    .bind(user_id)
                    .bind(version)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn set_reactivated(&mut self, user_id: &str) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE users SET deactivated = FALSE, erased = FALSE, password_hash = NULL, \
                     credentials_version = credentials_version + 1 WHERE name = $1",
                )
                .bind(user_id)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn set_locked(&mut self, user_id: &str, locked: bool) -> StoreResult<()> {
                sqlx::query("UPDATE users SET locked = $2 WHERE name = $1")
                    .bind(user_id)
                    .bind(locked)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn set_deactivated(&mut self, user_id: &str) -> StoreResult<()> {
                sqlx::query("UPDATE users SET deactivated = TRUE WHERE name = $1")
                    .bind(user_id)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn set_suspended(&mut self, user_id: &str, suspended: bool) -> StoreResult<()> {
                sqlx::query("UPDATE users SET suspended = $2 WHERE name = $1")
                    .bind(user_id)
                    .bind(suspended)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn set_erased(&mut self, user_id: &str, erased: bool) -> StoreResult<()> {
                sqlx::query("UPDATE users SET erased = $2 WHERE name = $1")
                    .bind(user_id)
                    .bind(erased)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn set_avatar_url(
                &mut self,
                user_id: &str,
                avatar_url: Option<&str>,
            ) -> StoreResult<()> {
                sqlx::query("UPDATE users SET avatar_url = $2 WHERE name = $1")
                    .bind(user_id)
                    .bind(avatar_url)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn set_user_type(
                &mut self,
                user_id: &str,
                user_type: Option<&str>,
            ) -> StoreResult<()> {
                sqlx::query("UPDATE users SET user_type = $2 WHERE name = $1")
                    .bind(user_id)
                    .bind(user_type)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn last_seen_ts(&mut self, user_id: &str) -> StoreResult<Option<i64>> {
                let row = sqlx::query(
                    "SELECT MAX(last_seen_ts) AS seen FROM user_ips WHERE user_id = $1",
                )
                .bind(user_id)
                .fetch_one(&mut *self.conn.get().await?)
                .await?;
                Ok(row.try_get::<Option<i64>, _>("seen")?)
            }

            #[tracing::instrument(skip_all)]
            async fn count_users(&mut self, query: &UserListQuery) -> StoreResult<i64> {
                let sql = query.sql().map_err(|e| StoreError::Corrupt(e.into()))?;
                let mut count = sqlx::query_scalar::<_, i64>(&sql.count);
                for a in &sql.args[..sql.count_args] {
                    count = match a {
                        Arg::Text(t) => count.bind(t.clone()),
                        Arg::Int(i) => count.bind(*i),
                        Arg::Bool(b) => count.bind(*b),
                    };
                }
                Ok(count.fetch_one(&mut *self.conn.get().await?).await?)
            }

            #[tracing::instrument(skip_all)]
            async fn list_users(&mut self, query: &UserListQuery) -> StoreResult<Vec<UserListRow>> {
                let sql = query.sql().map_err(|e| StoreError::Corrupt(e.into()))?;
                let mut page = sqlx::query(&sql.page);
                for a in &sql.args {
                    page = match a {
                        Arg::Text(t) => page.bind(t.clone()),
                        Arg::Int(i) => page.bind(*i),
                        Arg::Bool(b) => page.bind(*b),
                    };
                }
                let rows = page.fetch_all(&mut *self.conn.get().await?).await?;
                Ok(rows
                    .iter()
                    .map(UserListRow::from_row)
                    .collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn lock_credentials(
                &mut self,
                user_id: &str,
            ) -> StoreResult<Option<(bool, i64)>> {
                // A write that changes nothing: it locks the row (PostgreSQL)
                // until commit, in SQL both backends accept.
                let row = sqlx::query(
                    "UPDATE users SET credentials_version = credentials_version \
                     WHERE name = $1 RETURNING deactivated, credentials_version",
                )
                .bind(user_id)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?;
                Ok(match row {
                    Some(r) => Some((r.try_get("deactivated")?, r.try_get("credentials_version")?)),
                    None => None,
                })
            }
        }
    };
}

use super::conn::Repo;
users_store!(sqlx::Sqlite);
users_store!(sqlx::Postgres);
