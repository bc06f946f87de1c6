//! The SQL of `mxauth import-synapse` on mxauth's side, for both backends
//! ([`SynapseImportRepository`]): what mxauth holds now of a page of
//! imported users (and of the 3PIDs, external IDs and tokens the page
//! names), and the writes an import decided, applied in the caller's
//! transaction. The rules that decide them are `auth/import_synapse.rs`.

use super::sql::USER_COLUMNS;
use super::{StoreResult, User, UserThreepid};
use crate::clock::Timestamp;
use async_trait::async_trait;
use sqlx::{FromRow, QueryBuilder};

/// What an earlier import recorded of one Synapse row.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ImportedRow {
    /// The user the row belongs to at Synapse ('' for none).
    pub user_id: String,
    pub kind: String,
    pub row_key: String,
    /// The row's values as imported (JSON).
    pub imported: String,
}

/// A device as the import compares it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ImportDevice {
    pub user_id: String,
    pub device_id: String,
    pub display_name: Option<String>,
    pub last_seen_ts: Option<Timestamp>,
    pub last_seen_ip: Option<String>,
    pub last_seen_user_agent: Option<String>,
}

/// An access token as the import compares it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ImportAccessToken {
    pub token_hash: Vec<u8>,
    pub user_id: String,
    pub first_used_ts: Option<Timestamp>,
}

/// A refresh token as the import compares it (`next_hash`: its successor's).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ImportRefreshToken {
    pub token_hash: Vec<u8>,
    pub user_id: String,
    pub next_hash: Option<Vec<u8>>,
}

/// An external ID link.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ImportExternalId {
    pub auth_provider: String,
    pub external_id: String,
    pub user_id: String,
}

/// A rate-limit override.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ImportRatelimitOverride {
    pub user_id: String,
    pub messages_per_second: i64,
    pub burst_count: i64,
}

/// What mxauth holds of a page of users, and of the keys their Synapse
/// rows name (a 3PID or external ID may be another user's here).
#[derive(Debug, Clone, Default)]
pub struct LocalRows {
    pub users: Vec<User>,
    pub devices: Vec<ImportDevice>,
    pub access_tokens: Vec<ImportAccessToken>,
    pub refresh_tokens: Vec<ImportRefreshToken>,
    pub threepids: Vec<UserThreepid>,
    pub external_ids: Vec<ImportExternalId>,
    pub ratelimit_overrides: Vec<ImportRatelimitOverride>,
    pub imported: Vec<ImportedRow>,
}

/// What to read for [`SynapseImportRepository::local_rows`].
#[derive(Debug, Clone, Default)]
pub struct LocalQuery {
    pub users: Vec<String>,
    /// Hashes of access and refresh tokens (Synapse's now and as imported).
    pub token_hashes: Vec<Vec<u8>>,
    /// 3PIDs (medium, address) and external IDs (provider, ID) named at
    /// Synapse.
    pub threepids: Vec<(String, String)>,
    pub external_ids: Vec<(String, String)>,
}

/// One write of an import. Tokens are named by their hash; a reference to
/// another token is resolved to its row id by the SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportWrite {
    /// A new user, every column given.
    InsertUser(User),
    /// Sets every column but the name and creation time.
    UpdateUser(User),
    InsertDevice(ImportDevice),
    UpdateDevice(ImportDevice),
    /// The device and the tokens of it.
    DeleteDevice {
        user_id: String,
        device_id: String,
    },
    InsertRefreshToken {
        token_hash: Vec<u8>,
        user_id: String,
        device_id: String,
        created_ts: Timestamp,
        expires_ts: Option<Timestamp>,
        session_until_ts: Option<Timestamp>,
        access_token_lifetime_ms: Option<i64>,
        refresh_token_lifetime_ms: Option<i64>,
    },
    /// Sets a refresh token's successor (`None`: none yet).
    LinkRefreshToken {
        token_hash: Vec<u8>,
        next_hash: Option<Vec<u8>>,
    },
    DeleteRefreshToken {
        token_hash: Vec<u8>,
    },
    InsertAccessToken {
        token_hash: Vec<u8>,
        user_id: String,
        device_id: Option<String>,
        puppet_owner: Option<String>,
        created_ts: Timestamp,
        valid_until_ts: Option<Timestamp>,
        refresh_hash: Option<Vec<u8>>,
        first_used_ts: Option<Timestamp>,
    },
    /// Marks a token used (it was used at Synapse).
    AccessTokenUsed {
        token_hash: Vec<u8>,
        ts: Timestamp,
    },
    DeleteAccessToken {
        token_hash: Vec<u8>,
    },
    InsertThreepid(UserThreepid),
    DeleteThreepid {
        user_id: String,
        medium: String,
        address: String,
    },
    InsertExternalId {
        link: ImportExternalId,
        created_ts: Timestamp,
    },
    DeleteExternalId {
        auth_provider: String,
        external_id: String,
    },
    SetRatelimitOverride(ImportRatelimitOverride),
    DeleteRatelimitOverride {
        user_id: String,
    },
    /// Monthly activity: kept at the later of both times.
    MonthlyActive {
        user_id: String,
        ts: Timestamp,
    },
    /// A client-IP sighting of an access token: kept at the later one.
    ClientIp {
        user_id: String,
        token_hash: Vec<u8>,
        ip: String,
        user_agent: String,
        device_id: Option<String>,
        last_seen_ts: Timestamp,
    },
    /// Creates or sets a registration token.
    SetRegistrationToken(super::RegistrationToken),
    DeleteRegistrationToken {
        token: String,
    },
    /// Records what was imported of a Synapse row.
    Record(ImportedRow),
    /// Forgets a Synapse row that is gone.
    Forget {
        user_id: String,
        kind: String,
        row_key: String,
    },
}

#[async_trait]
pub trait SynapseImportRepository: Send {
    async fn local_rows(&mut self, query: &LocalQuery) -> StoreResult<LocalRows>;
    /// Registration tokens and their import records.
    async fn local_registration_tokens(
        &mut self,
    ) -> StoreResult<(Vec<super::RegistrationToken>, Vec<ImportedRow>)>;
    /// The import records of these users.
    async fn imported_rows(&mut self, users: &[String]) -> StoreResult<Vec<ImportedRow>>;
    /// Import records of `kind` for every user.
    async fn imported_of_kind(&mut self, kind: &str) -> StoreResult<Vec<ImportedRow>>;
    /// Applies `writes` in order.
    async fn apply(&mut self, writes: &[ImportWrite]) -> StoreResult<()>;
}

/// Appends ` IN ($1, ...)` for `values` (`IN (NULL)` when empty: no row).
macro_rules! push_in {
    ($q:expr, $values:expr) => {{
        $q.push(" IN (");
        if $values.is_empty() {
            $q.push("NULL");
        }
        let mut list = $q.separated(", ");
        for value in $values {
            list.push_bind(value.clone());
        }
        list.push_unseparated(")");
    }};
}

/// Appends `a IN (...) AND b IN (...)` for the distinct first and second
/// columns of `pairs` (a superset of the pairs, served by the key's index;
/// the caller keeps the pairs asked for).
macro_rules! push_keys {
    ($q:expr, $a:literal, $b:literal, $pairs:expr) => {{
        let firsts: std::collections::BTreeSet<&String> = $pairs.iter().map(|(a, _)| a).collect();
        let seconds: std::collections::BTreeSet<&String> = $pairs.iter().map(|(_, b)| b).collect();
        $q.push($a);
        push_in!($q, firsts);
        $q.push(concat!(" AND ", $b));
        push_in!($q, seconds);
    }};
}

/// The rows of `$select` (ending in `WHERE `) of the users `$users`, then
/// those of the keys `$pairs` (columns `$cols`) that are other users':
/// by user, then by key, each query on its index (an `OR` of both would
/// scan the table).
macro_rules! by_user_and_key {
    ($db:ty, $conn:expr, $select:literal, $row:ty, ($a:literal, $b:literal), $users:expr, $pairs:expr, $key:expr) => {{
        let mut found: Vec<$row> = Vec::new();
        for by_key in [false, true] {
            let mut q = QueryBuilder::<$db>::new($select);
            if by_key {
                if $pairs.is_empty() {
                    break;
                }
                push_keys!(q, $a, $b, &$pairs);
            } else {
                q.push("user_id");
                push_in!(q, &$users);
            }
            for row in q.build_query_as::<$row>().fetch_all(&mut *$conn).await? {
                if by_key && (!$pairs.contains(&$key(&row)) || $users.contains(&row.user_id)) {
                    continue;
                }
                found.push(row);
            }
        }
        found
    }};
}

/// A row of `user_threepids`.
#[derive(FromRow)]
struct ThreepidRow {
    user_id: String,
    medium: String,
    address: String,
    validated_ts: Timestamp,
    added_ts: Timestamp,
}

/// Token hashes per look-up (each served by the index on both backends).
const HASH_CHUNK: usize = 100;

/// Rows per multi-row INSERT (at most 8 columns each: well under both
/// backends' limits on bound values).
const INSERT_CHUNK: usize = 500;

macro_rules! synapse_import_store {
    ($db:ty) => {
        #[async_trait]
        impl SynapseImportRepository for Repo<'_, $db> {
            async fn local_rows(&mut self, query: &LocalQuery) -> StoreResult<LocalRows> {
                let conn = &mut *self.conn.get().await?;
                let mut q = QueryBuilder::<$db>::new(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE name"
                ));
                push_in!(q, &query.users);
                let users = q.build_query_as::<User>().fetch_all(&mut *conn).await?;

                let mut q = QueryBuilder::<$db>::new(
                    "SELECT user_id, device_id, display_name, last_seen_ts, last_seen_ip, \
                     last_seen_user_agent FROM devices WHERE user_id",
                );
                push_in!(q, &query.users);
                let devices = q
                    .build_query_as::<ImportDevice>()
                    .fetch_all(&mut *conn)
                    .await?;

                // In chunks: PostgreSQL scans the table for a long list.
                let mut access_tokens = Vec::new();
                let mut refresh_tokens = Vec::new();
                for hashes in query.token_hashes.chunks(HASH_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT token_hash, user_id, first_used_ts FROM access_tokens \
                         WHERE token_hash",
                    );
                    push_in!(q, hashes);
                    access_tokens.extend(
                        q.build_query_as::<ImportAccessToken>()
                            .fetch_all(&mut *conn)
                            .await?,
                    );
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT r.token_hash, r.user_id, n.token_hash AS next_hash \
                         FROM refresh_tokens r \
                         LEFT JOIN refresh_tokens n ON n.id = r.next_token_id \
                         WHERE r.token_hash",
                    );
                    push_in!(q, hashes);
                    refresh_tokens.extend(
                        q.build_query_as::<ImportRefreshToken>()
                            .fetch_all(&mut *conn)
                            .await?,
                    );
                }

                let threepids = by_user_and_key!(
                    $db,
                    conn,
                    "SELECT user_id, medium, address, validated_ts, added_ts \
                     FROM user_threepids WHERE ",
                    ThreepidRow,
                    ("medium", "address"),
                    query.users,
                    query.threepids,
                    |r: &ThreepidRow| (r.medium.clone(), r.address.clone())
                )
                .into_iter()
                .map(|row| UserThreepid {
                    user_id: row.user_id,
                    medium: row.medium,
                    address: row.address,
                    validated_ts: row.validated_ts,
                    added_ts: row.added_ts,
                })
                .collect();
                let external_ids = by_user_and_key!(
                    $db,
                    conn,
                    "SELECT auth_provider, external_id, user_id FROM user_external_ids WHERE ",
                    ImportExternalId,
                    ("auth_provider", "external_id"),
                    query.users,
                    query.external_ids,
                    |r: &ImportExternalId| (r.auth_provider.clone(), r.external_id.clone())
                );

                let mut q = QueryBuilder::<$db>::new(
                    "SELECT user_id, messages_per_second, burst_count FROM ratelimit_overrides \
                     WHERE user_id",
                );
                push_in!(q, &query.users);
                let ratelimit_overrides = q
                    .build_query_as::<ImportRatelimitOverride>()
                    .fetch_all(&mut *conn)
                    .await?;

                let mut q = QueryBuilder::<$db>::new(
                    "SELECT user_id, kind, row_key, imported FROM synapse_import_rows \
                     WHERE user_id",
                );
                push_in!(q, &query.users);
                let imported = q
                    .build_query_as::<ImportedRow>()
                    .fetch_all(&mut *conn)
                    .await?;

                Ok(LocalRows {
                    users,
                    devices,
                    access_tokens,
                    refresh_tokens,
                    threepids,
                    external_ids,
                    ratelimit_overrides,
                    imported,
                })
            }

            async fn local_registration_tokens(
                &mut self,
            ) -> StoreResult<(Vec<super::RegistrationToken>, Vec<ImportedRow>)> {
                let conn = &mut *self.conn.get().await?;
                let tokens = sqlx::query_as::<_, super::RegistrationToken>(
                    "SELECT token, uses_allowed, pending, completed, expires_ts \
                     FROM registration_tokens",
                )
                .fetch_all(&mut *conn)
                .await?;
                let imported = sqlx::query_as::<_, ImportedRow>(
                    "SELECT user_id, kind, row_key, imported FROM synapse_import_rows \
                     WHERE user_id = '' AND kind = 'registration_token'",
                )
                .fetch_all(&mut *conn)
                .await?;
                Ok((tokens, imported))
            }

            async fn imported_rows(&mut self, users: &[String]) -> StoreResult<Vec<ImportedRow>> {
                let mut q = QueryBuilder::<$db>::new(
                    "SELECT user_id, kind, row_key, imported FROM synapse_import_rows \
                     WHERE user_id",
                );
                push_in!(q, users);
                Ok(q.build_query_as::<ImportedRow>()
                    .fetch_all(&mut *self.conn.get().await?)
                    .await?)
            }

            async fn imported_of_kind(&mut self, kind: &str) -> StoreResult<Vec<ImportedRow>> {
                Ok(sqlx::query_as::<_, ImportedRow>(
                    "SELECT user_id, kind, row_key, imported FROM synapse_import_rows \
                     WHERE kind = $1",
                )
                .bind(kind)
                .fetch_all(&mut *self.conn.get().await?)
                .await?)
            }

            async fn apply(&mut self, writes: &[ImportWrite]) -> StoreResult<()> {
                let mut conn = self.conn.atomic().await?;
                let mut rest = writes;
                while let Some(first) = rest.first() {
                    // A run of rows of one kind goes in multi-row INSERTs.
                    let run = rest
                        .iter()
                        .take(INSERT_CHUNK)
                        .take_while(|w| same_insert(first, w))
                        .count();
                    if run > 1 {
                        insert_many!($db, &mut *conn, &rest[..run]);
                        rest = &rest[run..];
                    } else {
                        apply_one!(&mut *conn, first);
                        rest = &rest[1..];
                    }
                }
                conn.commit().await?;
                Ok(())
            }
        }
    };
}

/// Whether `b` can go in one multi-row INSERT with `a` (the row kinds of
/// [`insert_many`], an access token only without a refresh token).
fn same_insert(a: &ImportWrite, b: &ImportWrite) -> bool {
    use ImportWrite::*;
    matches!(
        (a, b),
        (InsertUser(_), InsertUser(_))
            | (InsertDevice(_), InsertDevice(_))
            | (InsertThreepid(_), InsertThreepid(_))
            | (Record(_), Record(_))
            | (
                InsertAccessToken {
                    refresh_hash: None,
                    ..
                },
                InsertAccessToken {
                    refresh_hash: None,
                    ..
                },
            )
    )
}

/// One multi-row INSERT for a run of writes that [`same_insert`] groups.
macro_rules! insert_many {
    ($db:ty, $conn:expr, $run:expr) => {{
        let run: &[ImportWrite] = $run;
        let mut q: QueryBuilder<'_, $db> = match &run[0] {
            ImportWrite::InsertUser(_) => QueryBuilder::new(
                "INSERT INTO users (name, password_hash, admin, user_type, is_guest, \
                 deactivated, locked, displayname, appservice_id, consent_version, \
                 credentials_version, suspended, erased, avatar_url, created_ts) ",
            ),
            ImportWrite::InsertDevice(_) => QueryBuilder::new(
                "INSERT INTO devices (user_id, device_id, display_name, last_seen_ts, \
                 last_seen_ip, last_seen_user_agent) ",
            ),
            ImportWrite::InsertThreepid(_) => QueryBuilder::new(
                "INSERT INTO user_threepids (user_id, medium, address, validated_ts, added_ts) ",
            ),
            ImportWrite::InsertAccessToken { .. } => QueryBuilder::new(
                "INSERT INTO access_tokens (token_hash, user_id, device_id, puppet_owner, \
                 created_ts, valid_until_ts, first_used_ts) ",
            ),
            _ => QueryBuilder::new(
                "INSERT INTO synapse_import_rows (user_id, kind, row_key, imported) ",
            ),
        };
        q.push_values(run, |mut row, write| match write {
            ImportWrite::InsertUser(u) => {
                row.push_bind(&u.user_id)
                    .push_bind(&u.password_hash)
                    .push_bind(u.admin)
                    .push_bind(&u.user_type)
                    .push_bind(u.is_guest)
                    .push_bind(u.deactivated)
                    .push_bind(u.locked)
                    .push_bind(&u.displayname)
                    .push_bind(&u.appservice_id)
                    .push_bind(&u.consent_version)
                    .push_bind(u.credentials_version)
                    .push_bind(u.suspended)
                    .push_bind(u.erased)
                    .push_bind(&u.avatar_url)
                    .push_bind(u.created_ts);
            }
            ImportWrite::InsertDevice(d) => {
                row.push_bind(&d.user_id)
                    .push_bind(&d.device_id)
                    .push_bind(&d.display_name)
                    .push_bind(d.last_seen_ts)
                    .push_bind(&d.last_seen_ip)
                    .push_bind(&d.last_seen_user_agent);
            }
            ImportWrite::InsertThreepid(t) => {
                row.push_bind(&t.user_id)
                    .push_bind(&t.medium)
                    .push_bind(&t.address)
                    .push_bind(t.validated_ts)
                    .push_bind(t.added_ts);
            }
            ImportWrite::InsertAccessToken {
                token_hash,
                user_id,
                device_id,
                puppet_owner,
                created_ts,
                valid_until_ts,
                first_used_ts,
                ..
            } => {
                row.push_bind(token_hash)
                    .push_bind(user_id)
                    .push_bind(device_id)
                    .push_bind(puppet_owner)
                    .push_bind(created_ts)
                    .push_bind(valid_until_ts)
                    .push_bind(first_used_ts);
            }
            ImportWrite::Record(r) => {
                row.push_bind(&r.user_id)
                    .push_bind(&r.kind)
                    .push_bind(&r.row_key)
                    .push_bind(&r.imported);
            }
            // `same_insert` groups nothing else.
            _ => {}
        });
        if matches!(run[0], ImportWrite::Record(_)) {
            q.push(
                " ON CONFLICT (user_id, kind, row_key) DO UPDATE SET imported = excluded.imported",
            );
        }
        q.build().execute(&mut *$conn).await?;
    }};
}

/// Binds a user's columns in the order of `apply_one`'s user statements
/// (`$1` to `$14`).
macro_rules! bind_user {
    ($query:expr, $u:expr) => {
        $query
            .bind(&$u.user_id)
            .bind(&$u.password_hash)
            .bind($u.admin)
            .bind(&$u.user_type)
            .bind($u.is_guest)
            .bind($u.deactivated)
            .bind($u.locked)
            .bind(&$u.displayname)
            .bind(&$u.appservice_id)
            .bind(&$u.consent_version)
            .bind($u.credentials_version)
            .bind($u.suspended)
            .bind($u.erased)
            .bind(&$u.avatar_url)
    };
}

/// One [`ImportWrite`] on `$conn`.
macro_rules! apply_one {
    ($conn:expr, $write:expr) => {
        match $write {
            ImportWrite::InsertUser(u) => {
                bind_user!(
                    sqlx::query(
                        "INSERT INTO users (name, password_hash, admin, user_type, is_guest, \
                         deactivated, locked, displayname, appservice_id, consent_version, \
                         credentials_version, suspended, erased, avatar_url, created_ts) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                    ),
                    u
                )
                .bind(u.created_ts)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::UpdateUser(u) => {
                // Every column the import sets but the creation time.
                bind_user!(
                    sqlx::query(
                        "UPDATE users SET password_hash = $2, admin = $3, user_type = $4, \
                         is_guest = $5, deactivated = $6, locked = $7, displayname = $8, \
                         appservice_id = $9, consent_version = $10, credentials_version = $11, \
                         suspended = $12, erased = $13, avatar_url = $14 WHERE name = $1",
                    ),
                    u
                )
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::InsertDevice(d) | ImportWrite::UpdateDevice(d) => {
                let sql = if matches!($write, ImportWrite::InsertDevice(_)) {
                    "INSERT INTO devices (user_id, device_id, display_name, last_seen_ts, \
                     last_seen_ip, last_seen_user_agent) VALUES ($1, $2, $3, $4, $5, $6)"
                } else {
                    "UPDATE devices SET display_name = $3, last_seen_ts = $4, \
                     last_seen_ip = $5, last_seen_user_agent = $6 \
                     WHERE user_id = $1 AND device_id = $2"
                };
                sqlx::query(sql)
                    .bind(&d.user_id)
                    .bind(&d.device_id)
                    .bind(&d.display_name)
                    .bind(d.last_seen_ts)
                    .bind(&d.last_seen_ip)
                    .bind(&d.last_seen_user_agent)
                    .execute(&mut *$conn)
                    .await?;
            }
            ImportWrite::DeleteDevice { user_id, device_id } => {
                for sql in [
                    "DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2",
                    "DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2",
                    "DELETE FROM devices WHERE user_id = $1 AND device_id = $2",
                ] {
                    sqlx::query(sql)
                        .bind(user_id)
                        .bind(device_id)
                        .execute(&mut *$conn)
                        .await?;
                }
            }
            ImportWrite::InsertRefreshToken {
                token_hash,
                user_id,
                device_id,
                created_ts,
                expires_ts,
                session_until_ts,
                access_token_lifetime_ms,
                refresh_token_lifetime_ms,
            } => {
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts, \
                     expires_ts, session_until_ts, access_token_lifetime_ms, \
                     refresh_token_lifetime_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(device_id)
                .bind(created_ts)
                .bind(expires_ts)
                .bind(session_until_ts)
                .bind(access_token_lifetime_ms)
                .bind(refresh_token_lifetime_ms)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::LinkRefreshToken {
                token_hash,
                next_hash,
            } => {
                sqlx::query(
                    "UPDATE refresh_tokens SET next_token_id = \
                     (SELECT n.id FROM refresh_tokens n WHERE n.token_hash = $2) \
                     WHERE token_hash = $1",
                )
                .bind(token_hash)
                .bind(next_hash)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::DeleteRefreshToken { token_hash } => {
                sqlx::query("DELETE FROM refresh_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *$conn)
                    .await?;
            }
            ImportWrite::InsertAccessToken {
                token_hash,
                user_id,
                device_id,
                puppet_owner,
                created_ts,
                valid_until_ts,
                refresh_hash,
                first_used_ts,
            } => {
                sqlx::query(
                    "INSERT INTO access_tokens (token_hash, user_id, device_id, puppet_owner, \
                     created_ts, valid_until_ts, refresh_token_id, first_used_ts) \
                     VALUES ($1, $2, $3, $4, $5, $6, \
                     (SELECT r.id FROM refresh_tokens r WHERE r.token_hash = $7), $8)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(device_id)
                .bind(puppet_owner)
                .bind(created_ts)
                .bind(valid_until_ts)
                .bind(refresh_hash)
                .bind(first_used_ts)
                .execute(&mut *$conn)
                .await?;
                // The refresh token names the latest access token issued with it.
                if refresh_hash.is_some() {
                sqlx::query(
                    "UPDATE refresh_tokens SET access_token_id = \
                     (SELECT a.id FROM access_tokens a WHERE a.token_hash = $1) \
                     WHERE token_hash = $2",
                )
                .bind(token_hash)
                .bind(refresh_hash)
                .execute(&mut *$conn)
                .await?;
                }
            }
            ImportWrite::AccessTokenUsed { token_hash, ts } => {
                sqlx::query(
                    "UPDATE access_tokens SET first_used_ts = $2 \
                     WHERE token_hash = $1 AND first_used_ts IS NULL",
                )
                .bind(token_hash)
                .bind(ts)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::DeleteAccessToken { token_hash } => {
                sqlx::query("DELETE FROM access_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *$conn)
                    .await?;
            }
            ImportWrite::InsertThreepid(t) => {
                sqlx::query(
                    "INSERT INTO user_threepids (user_id, medium, address, validated_ts, added_ts) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&t.user_id)
                .bind(&t.medium)
                .bind(&t.address)
                .bind(t.validated_ts)
                .bind(t.added_ts)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::DeleteThreepid {
                user_id,
                medium,
                address,
            } => {
                sqlx::query(
                    "DELETE FROM user_threepids WHERE user_id = $1 AND medium = $2 AND address = $3",
                )
                .bind(user_id)
                .bind(medium)
                .bind(address)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::InsertExternalId { link, created_ts } => {
                sqlx::query(
                    "INSERT INTO user_external_ids (auth_provider, external_id, user_id, created_ts) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&link.auth_provider)
                .bind(&link.external_id)
                .bind(&link.user_id)
                .bind(created_ts)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::DeleteExternalId {
                auth_provider,
                external_id,
            } => {
                sqlx::query(
                    "DELETE FROM user_external_ids WHERE auth_provider = $1 AND external_id = $2",
                )
                .bind(auth_provider)
                .bind(external_id)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::SetRatelimitOverride(o) => {
                sqlx::query(
                    "INSERT INTO ratelimit_overrides (user_id, messages_per_second, burst_count) \
                     VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE SET \
                     messages_per_second = excluded.messages_per_second, \
                     burst_count = excluded.burst_count",
                )
                .bind(&o.user_id)
                .bind(o.messages_per_second)
                .bind(o.burst_count)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::DeleteRatelimitOverride { user_id } => {
                sqlx::query("DELETE FROM ratelimit_overrides WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *$conn)
                    .await?;
            }
            ImportWrite::MonthlyActive { user_id, ts } => {
                sqlx::query(
                    "INSERT INTO monthly_active_users (user_id, last_seen_ts) VALUES ($1, $2) \
                     ON CONFLICT (user_id) DO UPDATE SET last_seen_ts = excluded.last_seen_ts \
                     WHERE monthly_active_users.last_seen_ts < excluded.last_seen_ts",
                )
                .bind(user_id)
                .bind(ts)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::ClientIp {
                user_id,
                token_hash,
                ip,
                user_agent,
                device_id,
                last_seen_ts,
            } => {
                sqlx::query(
                    "INSERT INTO user_ips (user_id, token_id, ip, user_agent, device_id, last_seen_ts) \
                     SELECT $1, a.id, $3, $4, $5, $6 FROM access_tokens a WHERE a.token_hash = $2 \
                     ON CONFLICT (user_id, token_id, ip) DO UPDATE SET \
                     user_agent = excluded.user_agent, device_id = excluded.device_id, \
                     last_seen_ts = excluded.last_seen_ts \
                     WHERE user_ips.last_seen_ts < excluded.last_seen_ts",
                )
                .bind(user_id)
                .bind(token_hash)
                .bind(ip)
                .bind(user_agent)
                .bind(device_id)
                .bind(last_seen_ts)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::SetRegistrationToken(t) => {
                sqlx::query(
                    "INSERT INTO registration_tokens (token, uses_allowed, pending, completed, expires_ts) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token) DO UPDATE SET \
                     uses_allowed = excluded.uses_allowed, completed = excluded.completed, \
                     expires_ts = excluded.expires_ts",
                )
                .bind(&t.token)
                .bind(t.uses_allowed)
                .bind(t.pending)
                .bind(t.completed)
                .bind(t.expires_ts)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::DeleteRegistrationToken { token } => {
                sqlx::query("DELETE FROM registration_tokens WHERE token = $1")
                    .bind(token)
                    .execute(&mut *$conn)
                    .await?;
            }
            ImportWrite::Record(r) => {
                sqlx::query(
                    "INSERT INTO synapse_import_rows (user_id, kind, row_key, imported) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, kind, row_key) \
                     DO UPDATE SET imported = excluded.imported",
                )
                .bind(&r.user_id)
                .bind(&r.kind)
                .bind(&r.row_key)
                .bind(&r.imported)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::Forget {
                user_id,
                kind,
                row_key,
            } => {
                sqlx::query(
                    "DELETE FROM synapse_import_rows WHERE user_id = $1 AND kind = $2 AND row_key = $3",
                )
                .bind(user_id)
                .bind(kind)
                .bind(row_key)
                .execute(&mut *$conn)
                .await?;
            }
        }
    };
}

use super::conn::Repo;
synapse_import_store!(sqlx::Sqlite);
synapse_import_store!(sqlx::Postgres);
