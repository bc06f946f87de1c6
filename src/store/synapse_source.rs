//! Reading a Synapse database (SQLite or PostgreSQL, schema versions
//! [`SUPPORTED_SCHEMA`]) for `mxauth import-synapse`: read-only
//! connections, the auth tables row by row as Synapse keeps them, users in
//! pages by name and everything else for one page of users at a time. Every
//! column is read as text or as an integer (Synapse's booleans are
//! SMALLINT in some tables and BOOLEAN in others, on both backends), so one
//! SQL text serves both. Nothing here interprets a row.

use super::StoreResult;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{FromRow, QueryBuilder};
use std::str::FromStr;

/// The Synapse schema versions whose auth tables this reads: 85 added
/// `users.suspended`; 94 is Synapse 1.163's.
pub const SUPPORTED_SCHEMA: std::ops::RangeInclusive<i64> = 85..=94;

/// A Synapse database, opened read-only.
pub enum SynapseSource {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A row of `users` with its profile and erasure.
#[derive(Debug, Clone, Default, PartialEq, Eq, FromRow)]
pub struct SynapseUser {
    pub name: String,
    pub password_hash: Option<String>,
    /// Seconds, not milliseconds (Synapse's `users.creation_ts`).
    pub creation_ts: Option<i64>,
    pub admin: i32,
    pub is_guest: i32,
    pub deactivated: i32,
    pub locked: i32,
    pub suspended: i32,
    pub shadow_banned: i32,
    pub user_type: Option<String>,
    pub appservice_id: Option<String>,
    pub consent_version: Option<String>,
    pub consent_ts: Option<i64>,
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
    pub erased: i32,
}

/// A row of `devices` (hidden ones are not read: cross-signing keys and
/// dehydrated devices, not sessions).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SynapseDevice {
    pub user_id: String,
    pub device_id: String,
    pub display_name: Option<String>,
    pub last_seen: Option<i64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A row of `access_tokens`: `user_id` is the token's owner, who acts as
/// `puppets_user_id` when that is set.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SynapseAccessToken {
    pub id: i64,
    pub user_id: String,
    pub device_id: Option<String>,
    pub token: String,
    pub valid_until_ms: Option<i64>,
    pub puppets_user_id: Option<String>,
    pub refresh_token_id: Option<i64>,
    pub used: i32,
}

/// A row of `refresh_tokens`.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SynapseRefreshToken {
    pub id: i64,
    pub user_id: String,
    pub device_id: String,
    pub token: String,
    pub next_token_id: Option<i64>,
    pub expiry_ts: Option<i64>,
    pub ultimate_session_expiry_ts: Option<i64>,
}

/// A row of `user_threepids`.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SynapseThreepid {
    pub user_id: String,
    pub medium: String,
    pub address: String,
    pub validated_at: i64,
    pub added_at: i64,
}

/// A row of `user_external_ids`.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SynapseExternalId {
    pub user_id: String,
    pub auth_provider: String,
    pub external_id: String,
}

/// A row of `ratelimit_override` (NULL counts as 0, as Synapse reads it).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SynapseRatelimitOverride {
    pub user_id: String,
    pub messages_per_second: i64,
    pub burst_count: i64,
}

/// A row of `monthly_active_users`.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SynapseMau {
    pub user_id: String,
    pub timestamp: i64,
}

/// A row of `user_ips` (the raw access token, as Synapse keeps it).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SynapseUserIp {
    pub user_id: String,
    pub access_token: String,
    pub device_id: Option<String>,
    pub ip: String,
    pub user_agent: String,
    pub last_seen: i64,
}

/// A row of `registration_tokens`.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SynapseRegistrationToken {
    pub token: String,
    pub uses_allowed: Option<i64>,
    pub pending: i64,
    pub completed: i64,
    pub expiry_time: Option<i64>,
}

/// Everything of one page of users.
#[derive(Debug, Clone, Default)]
pub struct SynapseUserRows {
    pub devices: Vec<SynapseDevice>,
    pub access_tokens: Vec<SynapseAccessToken>,
    pub refresh_tokens: Vec<SynapseRefreshToken>,
    pub threepids: Vec<SynapseThreepid>,
    pub external_ids: Vec<SynapseExternalId>,
    pub ratelimit_overrides: Vec<SynapseRatelimitOverride>,
    pub monthly_active: Vec<SynapseMau>,
    pub user_ips: Vec<SynapseUserIp>,
}

/// A page of users; their profile and erasure are read by key after
/// (joined here, PostgreSQL merges each page with every profile before it).
const USER_SELECT: &str = "SELECT u.name, u.password_hash, \
     CAST(u.creation_ts AS BIGINT) AS creation_ts, \
     CAST(u.admin AS INTEGER) AS admin, CAST(u.is_guest AS INTEGER) AS is_guest, \
     CAST(u.deactivated AS INTEGER) AS deactivated, \
     CAST(COALESCE(u.locked, FALSE) AS INTEGER) AS locked, \
     CAST(COALESCE(u.suspended, FALSE) AS INTEGER) AS suspended, \
     CAST(COALESCE(u.shadow_banned, FALSE) AS INTEGER) AS shadow_banned, \
     u.user_type, u.appservice_id, u.consent_version, \
     CAST(u.consent_ts AS BIGINT) AS consent_ts, \
     CAST(NULL AS TEXT) AS displayname, CAST(NULL AS TEXT) AS avatar_url, \
     CAST(0 AS INTEGER) AS erased \
     FROM users u WHERE u.name > ";

/// A profile (Synapse keys it by localpart).
#[derive(FromRow)]
struct Profile {
    full_user_id: Option<String>,
    user_id: String,
    displayname: Option<String>,
    avatar_url: Option<String>,
}

#[derive(FromRow)]
struct Erased {
    user_id: String,
}

/// Runs one query built by `$build` (a closure filling a `QueryBuilder`)
/// on whichever backend `$source` is, and fetches all rows as `$row`.
macro_rules! fetch {
    ($source:expr, $row:ty, $build:expr) => {
        match $source {
            SynapseSource::Sqlite(pool) => {
                let mut q = QueryBuilder::<sqlx::Sqlite>::new("");
                $build(&mut q);
                q.build_query_as::<$row>().fetch_all(pool).await?
            }
            SynapseSource::Postgres(pool) => {
                let mut q = QueryBuilder::<sqlx::Postgres>::new("");
                $build(&mut q);
                q.build_query_as::<$row>().fetch_all(pool).await?
            }
        }
    };
}

/// `<select> WHERE user_id IN (<names>)<rest>` for both backends.
macro_rules! for_users {
    ($source:expr, $row:ty, $select:expr, $names:expr, $rest:expr) => {
        fetch!($source, $row, |q: &mut QueryBuilder<'_, _>| {
            q.push($select);
            q.push(" WHERE user_id IN (");
            let mut list = q.separated(", ");
            for name in $names {
                list.push_bind(name.clone());
            }
            list.push_unseparated(")");
            $rest(q);
        })
    };
}

#[derive(FromRow)]
struct One {
    n: i64,
}

impl SynapseSource {
    /// Opens the database at `url` (`sqlite:` or `postgres:`) read-only.
    pub async fn connect(url: &str) -> StoreResult<SynapseSource> {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?
                .application_name("mxauth-import-synapse")
                .options([("default_transaction_read_only", "on")]);
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await?;
            Ok(SynapseSource::Postgres(pool))
        } else {
            let options = SqliteConnectOptions::from_str(url)?
                .read_only(true)
                .create_if_missing(false);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            Ok(SynapseSource::Sqlite(pool))
        }
    }

    pub async fn close(&self) {
        match self {
            SynapseSource::Sqlite(pool) => pool.close().await,
            SynapseSource::Postgres(pool) => pool.close().await,
        }
    }

    /// `schema_version.version`, or `None` if the table is missing (not a
    /// Synapse database).
    pub async fn schema_version(&self) -> StoreResult<Option<i64>> {
        let found = match self {
            SynapseSource::Sqlite(pool) => {
                sqlx::query_as::<_, One>(
                    "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM sqlite_master \
                     WHERE type = 'table' AND name = 'schema_version'",
                )
                .fetch_one(pool)
                .await?
                .n
            }
            SynapseSource::Postgres(pool) => {
                sqlx::query_as::<_, One>(
                    "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name = 'schema_version'",
                )
                .fetch_one(pool)
                .await?
                .n
            }
        };
        if found == 0 {
            return Ok(None);
        }
        let rows = fetch!(self, One, |q: &mut QueryBuilder<'_, _>| {
            q.push("SELECT CAST(version AS BIGINT) AS n FROM schema_version");
        });
        Ok(rows.first().map(|r| r.n))
    }

    /// Other sessions on a PostgreSQL database (a running Synapse holds
    /// some); `None` on SQLite, where no such count exists.
    pub async fn other_sessions(&self) -> StoreResult<Option<i64>> {
        match self {
            SynapseSource::Sqlite(_) => Ok(None),
            SynapseSource::Postgres(pool) => Ok(Some(
                sqlx::query_as::<_, One>(
                    "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid() \
                     AND application_name <> 'mxauth-import-synapse'",
                )
                .fetch_one(pool)
                .await?
                .n,
            )),
        }
    }

    /// How many users there are (the progress's total).
    pub async fn count_users(&self) -> StoreResult<i64> {
        let rows = fetch!(self, One, |q: &mut QueryBuilder<'_, _>| {
            q.push("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM users");
        });
        Ok(rows.first().map_or(0, |r| r.n))
    }

    /// Up to `limit` users whose names sort after `after`, by name, with
    /// their profile and erasure.
    pub async fn users_after(&self, after: &str, limit: i64) -> StoreResult<Vec<SynapseUser>> {
        let mut users = fetch!(self, SynapseUser, |q: &mut QueryBuilder<'_, _>| {
            q.push(USER_SELECT);
            q.push_bind(after.to_owned());
            q.push(" ORDER BY u.name LIMIT ");
            q.push_bind(limit);
        });
        if users.is_empty() {
            return Ok(users);
        }
        let localparts: Vec<String> = users
            .iter()
            .map(|u| {
                let rest = u.name.strip_prefix('@').unwrap_or(&u.name);
                rest.split_once(':').map_or(rest, |(l, _)| l).to_owned()
            })
            .collect();
        let profiles = fetch!(self, Profile, |q: &mut QueryBuilder<'_, _>| {
            q.push(
                "SELECT full_user_id, user_id, displayname, avatar_url FROM profiles \
                 WHERE user_id IN (",
            );
            let mut list = q.separated(", ");
            for l in &localparts {
                list.push_bind(l.clone());
            }
            list.push_unseparated(")");
        });
        let names: Vec<String> = users.iter().map(|u| u.name.clone()).collect();
        let erased = fetch!(self, Erased, |q: &mut QueryBuilder<'_, _>| {
            q.push("SELECT user_id FROM erased_users WHERE user_id IN (");
            let mut list = q.separated(", ");
            for n in &names {
                list.push_bind(n.clone());
            }
            list.push_unseparated(")");
        });
        let erased: std::collections::HashSet<String> =
            erased.into_iter().map(|e| e.user_id).collect();
        let profiles: std::collections::HashMap<String, Profile> = profiles
            .into_iter()
            .map(|p| (p.user_id.clone(), p))
            .collect();
        for (user, localpart) in users.iter_mut().zip(&localparts) {
            // A profile of this server's user of that localpart (its full ID,
            // where Synapse has filled it in, must be the user's).
            if let Some(p) = profiles
                .get(localpart)
                .filter(|p| p.full_user_id.as_deref().is_none_or(|f| f == user.name))
            {
                user.displayname = p.displayname.clone();
                user.avatar_url = p.avatar_url.clone();
            }
            user.erased = i32::from(erased.contains(&user.name));
        }
        Ok(users)
    }

    /// Every auth row of the users `names`; client IPs seen since
    /// `ips_since` (milliseconds).
    pub async fn rows_of(&self, names: &[String], ips_since: i64) -> StoreResult<SynapseUserRows> {
        Ok(SynapseUserRows {
            devices: for_users!(
                self,
                SynapseDevice,
                "SELECT user_id, device_id, display_name, CAST(last_seen AS BIGINT) AS last_seen, \
                 ip, user_agent FROM devices",
                names,
                |q: &mut QueryBuilder<'_, _>| {
                    q.push(" AND NOT COALESCE(hidden, FALSE)");
                }
            ),
            access_tokens: for_users!(
                self,
                SynapseAccessToken,
                "SELECT CAST(id AS BIGINT) AS id, user_id, device_id, token, \
                 CAST(valid_until_ms AS BIGINT) AS valid_until_ms, puppets_user_id, \
                 CAST(refresh_token_id AS BIGINT) AS refresh_token_id, \
                 CAST(COALESCE(used, FALSE) AS INTEGER) AS used FROM access_tokens",
                names,
                |_: &mut QueryBuilder<'_, _>| {}
            ),
            refresh_tokens: for_users!(
                self,
                SynapseRefreshToken,
                "SELECT CAST(id AS BIGINT) AS id, user_id, device_id, token, \
                 CAST(next_token_id AS BIGINT) AS next_token_id, \
                 CAST(expiry_ts AS BIGINT) AS expiry_ts, \
                 CAST(ultimate_session_expiry_ts AS BIGINT) AS ultimate_session_expiry_ts \
                 FROM refresh_tokens",
                names,
                |_: &mut QueryBuilder<'_, _>| {}
            ),
            threepids: for_users!(
                self,
                SynapseThreepid,
                "SELECT user_id, medium, address, CAST(validated_at AS BIGINT) AS validated_at, \
                 CAST(added_at AS BIGINT) AS added_at FROM user_threepids",
                names,
                |_: &mut QueryBuilder<'_, _>| {}
            ),
            external_ids: for_users!(
                self,
                SynapseExternalId,
                "SELECT user_id, auth_provider, external_id FROM user_external_ids",
                names,
                |_: &mut QueryBuilder<'_, _>| {}
            ),
            ratelimit_overrides: for_users!(
                self,
                SynapseRatelimitOverride,
                "SELECT user_id, CAST(COALESCE(messages_per_second, 0) AS BIGINT) \
                 AS messages_per_second, CAST(COALESCE(burst_count, 0) AS BIGINT) AS burst_count \
                 FROM ratelimit_override",
                names,
                |_: &mut QueryBuilder<'_, _>| {}
            ),
            monthly_active: for_users!(
                self,
                SynapseMau,
                "SELECT user_id, CAST(timestamp AS BIGINT) AS timestamp FROM monthly_active_users",
                names,
                |_: &mut QueryBuilder<'_, _>| {}
            ),
            user_ips: for_users!(
                self,
                SynapseUserIp,
                "SELECT user_id, access_token, device_id, ip, user_agent, \
                 CAST(last_seen AS BIGINT) AS last_seen FROM user_ips",
                names,
                |q: &mut QueryBuilder<'_, _>| {
                    q.push(" AND last_seen >= ");
                    q.push_bind(ips_since);
                }
            ),
        })
    }

    /// Every access token acting as another user (an admin's puppet token).
    pub async fn puppet_tokens(&self) -> StoreResult<Vec<SynapseAccessToken>> {
        Ok(fetch!(self, SynapseAccessToken, |q: &mut QueryBuilder<
            '_,
            _,
        >| {
            q.push(
                "SELECT CAST(id AS BIGINT) AS id, user_id, device_id, token, \
                 CAST(valid_until_ms AS BIGINT) AS valid_until_ms, puppets_user_id, \
                 CAST(refresh_token_id AS BIGINT) AS refresh_token_id, \
                 CAST(COALESCE(used, FALSE) AS INTEGER) AS used FROM access_tokens \
                 WHERE puppets_user_id IS NOT NULL ORDER BY id",
            );
        }))
    }

    pub async fn registration_tokens(&self) -> StoreResult<Vec<SynapseRegistrationToken>> {
        Ok(fetch!(
            self,
            SynapseRegistrationToken,
            |q: &mut QueryBuilder<'_, _>| {
                q.push(
                    "SELECT token, CAST(uses_allowed AS BIGINT) AS uses_allowed, \
                     CAST(pending AS BIGINT) AS pending, CAST(completed AS BIGINT) AS completed, \
                     CAST(expiry_time AS BIGINT) AS expiry_time FROM registration_tokens \
                     ORDER BY token",
                );
            }
        ))
    }
}
