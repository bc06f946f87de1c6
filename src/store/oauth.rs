//! The SQL of the OAuth 2.0 API's clients (those registered dynamically)
//! and of the keys that sign id_tokens, for both backends.
//! [`OAuthRepository`].

use super::StoreResult;
use crate::clock::Timestamp;
use async_trait::async_trait;
use sqlx::FromRow;

/// A dynamically registered client as stored.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OAuthClientRow {
    pub client_id: String,
    /// The JSON of the accepted metadata.
    pub metadata: String,
    /// Set for a public client: identical registrations share the row.
    pub metadata_hash: Option<String>,
    /// Hex SHA-256 of the issued secret (confidential clients).
    pub client_secret_hash: Option<String>,
    pub created_ts: Timestamp,
    pub last_registered_ts: Timestamp,
    pub last_session_ts: Option<Timestamp>,
}

/// An id_token signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    /// `RS256`, ...
    pub alg: String,
    /// The private key, PKCS#8 PEM.
    pub private_pem: String,
    /// The public key as a JWK (JSON text, with `kid`, `alg`, `use`).
    pub public_jwk: String,
    pub created_ts: Timestamp,
    /// When it stopped signing; `None` for the current key of its `alg`.
    pub retired_ts: Option<Timestamp>,
}

const CLIENT_COLUMNS: &str = "client_id, metadata, metadata_hash, client_secret_hash, \
     created_ts, last_registered_ts, last_session_ts";
const KEY_COLUMNS: &str = "kid, alg, private_pem, public_jwk, created_ts, retired_ts";

#[async_trait]
pub trait OAuthRepository: Send {
    /// Stores a new client and gives the client_id stored: with a
    /// `metadata_hash` already stored, that client's (its
    /// `last_registered_ts` moved to this one's), else `client.client_id`.
    async fn insert_oauth_client(&mut self, client: &OAuthClientRow) -> StoreResult<String>;
    async fn get_oauth_client(&mut self, client_id: &str) -> StoreResult<Option<OAuthClientRow>>;
    /// Notes that the client got a session at `now` (pruning keeps it).
    async fn touch_oauth_client(&mut self, client_id: &str, now: Timestamp) -> StoreResult<()>;
    /// Deletes the clients that never got a session and were last
    /// registered before `before_ts`; returns how many went.
    async fn prune_unused_oauth_clients(&mut self, before_ts: Timestamp) -> StoreResult<u64>;

    /// Inserts `key` unless its `alg` has a current key; `false` then.
    async fn insert_signing_key_if_absent(&mut self, key: &SigningKeyRow) -> StoreResult<bool>;
    /// Every key, the current ones first, newest first.
    async fn signing_keys(&mut self) -> StoreResult<Vec<SigningKeyRow>>;
    /// The current key of `alg` stops signing at `now`; `false` if it had none.
    async fn retire_signing_key(&mut self, alg: &str, now: Timestamp) -> StoreResult<bool>;
    /// Deletes keys retired before `before_ts`; returns how many went.
    async fn delete_retired_signing_keys(&mut self, before_ts: Timestamp) -> StoreResult<u64>;
}

macro_rules! oauth_store {
    ($db:ty) => {
        #[async_trait]
        impl OAuthRepository for Repo<'_, $db> {
            #[tracing::instrument(skip_all)]
            async fn insert_oauth_client(&mut self, c: &OAuthClientRow) -> StoreResult<String> {
                // A conflict on the hash (a public client registered again)
                // keeps the stored client, whose client_id is returned.
                let sql = format!(
                    "INSERT INTO oauth_clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (metadata_hash) DO UPDATE \
                     SET last_registered_ts = excluded.last_registered_ts \
                     RETURNING client_id"
                );
                let (client_id,): (String,) = sqlx::query_as(&sql)
                    .bind(&c.client_id)
                    .bind(&c.metadata)
                    .bind(&c.metadata_hash)
                    .bind(&c.client_secret_hash)
                    .bind(c.created_ts)
                    .bind(c.last_registered_ts)
                    .bind(c.last_session_ts)
                    .fetch_one(&mut *self.conn.get().await?)
                    .await?;
                Ok(client_id)
            }

            #[tracing::instrument(skip_all)]
            async fn get_oauth_client(&mut self, client_id: &str) -> StoreResult<Option<OAuthClientRow>> {
                let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1");
                Ok(sqlx::query_as(&sql)
                    .bind(client_id)
                    .fetch_optional(&mut *self.conn.get().await?)
                    .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn touch_oauth_client(&mut self, client_id: &str, now: Timestamp) -> StoreResult<()> {
                sqlx::query("UPDATE oauth_clients SET last_session_ts = $2 WHERE client_id = $1")
                    .bind(client_id)
                    .bind(now)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn prune_unused_oauth_clients(&mut self, before_ts: Timestamp) -> StoreResult<u64> {
                let done = sqlx::query(
                    "DELETE FROM oauth_clients \
                     WHERE last_session_ts IS NULL AND last_registered_ts < $1",
                )
                .bind(before_ts)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all)]
            async fn insert_signing_key_if_absent(&mut self, k: &SigningKeyRow) -> StoreResult<bool> {
                // The partial unique index on (alg) of current keys is the
                // conflict: of two processes starting at once, one inserts.
                let sql = format!(
                    "INSERT INTO oauth_signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT DO NOTHING"
                );
                let done = sqlx::query(&sql)
                    .bind(&k.kid)
                    .bind(&k.alg)
                    .bind(&k.private_pem)
                    .bind(&k.public_jwk)
                    .bind(k.created_ts)
                    .bind(k.retired_ts)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn signing_keys(&mut self) -> StoreResult<Vec<SigningKeyRow>> {
                let sql = format!(
                    "SELECT {KEY_COLUMNS} FROM oauth_signing_keys \
                     ORDER BY CASE WHEN retired_ts IS NULL THEN 0 ELSE 1 END, created_ts DESC, kid"
                );
                Ok(sqlx::query_as(&sql)
                    .fetch_all(&mut *self.conn.get().await?)
                    .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn retire_signing_key(&mut self, alg: &str, now: Timestamp) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE oauth_signing_keys SET retired_ts = $2 \
                     WHERE alg = $1 AND retired_ts IS NULL",
                )
                .bind(alg)
                .bind(now)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            #[tracing::instrument(skip_all)]
            async fn delete_retired_signing_keys(&mut self, before_ts: Timestamp) -> StoreResult<u64> {
                let done = sqlx::query(
                    "DELETE FROM oauth_signing_keys WHERE retired_ts IS NOT NULL AND retired_ts < $1",
                )
                .bind(before_ts)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

use super::conn::Repo;
oauth_store!(sqlx::Sqlite);
oauth_store!(sqlx::Postgres);
