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

#[macro_use]
mod writes;
use writes::same_insert;

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
    /// The import records of the users: not read by `local_rows` (the
    /// caller reads them first, with `imported_rows`, to know which token
    /// hashes to ask for).
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

                Ok(LocalRows {
                    users,
                    devices,
                    access_tokens,
                    refresh_tokens,
                    threepids,
                    external_ids,
                    ratelimit_overrides,
                    // The caller's, read first (`imported_rows`).
                    imported: Vec::new(),
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
                    // A run of new rows of one kind goes in multi-row INSERTs.
                    let run = rest
                        .iter()
                        .take(INSERT_CHUNK)
                        .take_while(|w| same_insert(first, w))
                        .count();
                    if run > 0 {
                        insert_many!($db, &mut *conn, &rest[..run]);
                        rest = &rest[run..];
                    } else {
                        apply_one!($db, &mut *conn, first);
                        rest = &rest[1..];
                    }
                }
                conn.commit().await?;
                Ok(())
            }
        }
    };
}

use super::conn::Repo;
synapse_import_store!(sqlx::Sqlite);
synapse_import_store!(sqlx::Postgres);
