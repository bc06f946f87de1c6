//! The SQL of SSO, for both backends: logins in progress at an identity
//! provider, links from external identities to users, and login tokens.
//! [`SsoRepository`].

use super::{StoreError, StoreResult};
use crate::clock::Timestamp;
use async_trait::async_trait;
use sqlx::Row;

/// A login in progress at an identity provider (the redirect has been
/// served; the callback has not come yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSession {
    /// The OAuth 2.0 `state`: the key the callback brings back.
    pub state: String,
    pub idp_id: String,
    pub nonce: String,
    pub code_verifier: Option<String>,
    pub client_redirect_url: String,
    /// SHA-256 of the value of the browser's cookie.
    pub browser_binding_hash: Vec<u8>,
    /// The UIA session this flow re-authenticates for, if any.
    pub ui_auth_session_id: Option<String>,
    /// The OAuth 2.0 grant this login continues (from the OAuth login
    /// page), if any.
    pub oauth_grant_id: Option<String>,
    pub created_ts: Timestamp,
    pub expires_ts: Timestamp,
}

/// An SSO user choosing their username: what the provider said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRegistration {
    pub session_id: String,
    pub idp_id: String,
    pub external_id: String,
    pub suggested_localpart: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub client_redirect_url: String,
    /// SHA-256 of the value of the browser's cookie.
    pub browser_binding_hash: Vec<u8>,
    /// The OAuth 2.0 grant the sign-up continues, if any.
    pub oauth_grant_id: Option<String>,
    pub expires_ts: Timestamp,
}

/// A login token as stored (only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLoginToken {
    pub token_hash: Vec<u8>,
    pub user_id: String,
    pub auth_provider_id: Option<String>,
    pub created_ts: Timestamp,
    pub expires_ts: Timestamp,
}

#[async_trait]
pub trait SsoRepository: Send {
    async fn create_sso_session(&mut self, session: &SsoSession) -> StoreResult<()>;
    /// Removes and returns the session: a `state` can be used once.
    /// Expired sessions are swept on the way (and not returned).
    async fn take_sso_session(
        &mut self,
        state: &str,
        now: Timestamp,
    ) -> StoreResult<Option<SsoSession>>;

    /// The user an external identity is linked to.
    async fn get_user_by_external_id(
        &mut self,
        auth_provider: &str,
        external_id: &str,
    ) -> StoreResult<Option<String>>;
    /// Links the identity to `user_id` unless it is linked already; returns
    /// the user it is linked to afterwards (which may be another one).
    async fn link_external_id(
        &mut self,
        auth_provider: &str,
        external_id: &str,
        user_id: &str,
        ts: Timestamp,
    ) -> StoreResult<String> {
        self.insert_external_id(auth_provider, external_id, user_id, ts)
            .await?;
        self.get_user_by_external_id(auth_provider, external_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("an external ID vanished as it was linked".into()))
    }
    /// The (provider, external ID) pairs linked to the user.
    async fn list_external_ids(&mut self, user_id: &str) -> StoreResult<Vec<(String, String)>>;

    async fn create_pending_registration(&mut self, p: &PendingRegistration) -> StoreResult<()>;
    /// The pending registration, unless it expired at `now` (expired ones
    /// are swept on the way).
    async fn get_pending_registration(
        &mut self,
        session_id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<PendingRegistration>>;
    async fn delete_pending_registration(&mut self, session_id: &str) -> StoreResult<()>;

    /// Deletes logins in progress and sign-ups expired at `now`, and login
    /// tokens that expired before `tokens_before`. Returns how many rows went.
    async fn sweep_sso(&mut self, now: Timestamp, tokens_before: Timestamp) -> StoreResult<u64>;

    async fn create_login_token(&mut self, token: &NewLoginToken) -> StoreResult<()>;
    /// Records `result` in the UIA session and creates the login token, in
    /// one transaction, only if the session has no result yet: one token
    /// per session. `false` (nothing written) otherwise.
    async fn create_login_token_for_uia(
        &mut self,
        session_id: &str,
        result: &serde_json::Value,
        token: &NewLoginToken,
    ) -> StoreResult<bool>;
    /// Marks the token used if it exists, is unused and has not expired at
    /// `now`; returns its user and provider then. Atomic: one use wins.
    async fn consume_login_token(
        &mut self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> StoreResult<Option<(String, Option<String>)>>;

    /// Deletes the user's login tokens not traded yet.
    async fn delete_unused_login_tokens(&mut self, user_id: &str) -> StoreResult<u64>;
    /// Unlinks every external identity of the user: how many went.
    async fn delete_user_external_ids(&mut self, user_id: &str) -> StoreResult<u64>;
    /// Links the identity to the user unless it is linked: `false` if it was.
    async fn insert_external_id(
        &mut self,
        auth_provider: &str,
        external_id: &str,
        user_id: &str,
        ts: Timestamp,
    ) -> StoreResult<bool>;
}

const SSO_SESSION_COLUMNS: &str = "state, idp_id, nonce, code_verifier, client_redirect_url, \
     browser_binding_hash, ui_auth_session_id, created_ts, expires_ts, oauth_grant_id";

const PENDING_COLUMNS: &str = "session_id, idp_id, external_id, suggested_localpart, \
     display_name, email, client_redirect_url, browser_binding_hash, expires_ts, oauth_grant_id";

macro_rules! sso_store {
    ($db:ty) => {
        #[async_trait]
        impl SsoRepository for Repo<'_, $db> {
            #[tracing::instrument(skip_all)]
            async fn create_sso_session(&mut self, s: &SsoSession) -> StoreResult<()> {
                sqlx::query(&format!(
                    "INSERT INTO sso_sessions ({SSO_SESSION_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ))
                .bind(&s.state)
                .bind(&s.idp_id)
                .bind(&s.nonce)
                .bind(&s.code_verifier)
                .bind(&s.client_redirect_url)
                .bind(&s.browser_binding_hash)
                .bind(&s.ui_auth_session_id)
                .bind(s.created_ts)
                .bind(s.expires_ts)
                .bind(&s.oauth_grant_id)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn take_sso_session(
                &mut self,
                state: &str,
                now: Timestamp,
            ) -> StoreResult<Option<SsoSession>> {
                let row = sqlx::query(&format!(
                    "DELETE FROM sso_sessions WHERE state = $1 RETURNING {SSO_SESSION_COLUMNS}"
                ))
                .bind(state)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?;
                sqlx::query("DELETE FROM sso_sessions WHERE expires_ts <= $1")
                    .bind(now)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                let Some(r) = row else { return Ok(None) };
                let session = SsoSession {
                    state: r.try_get("state")?,
                    idp_id: r.try_get("idp_id")?,
                    nonce: r.try_get("nonce")?,
                    code_verifier: r.try_get("code_verifier")?,
                    client_redirect_url: r.try_get("client_redirect_url")?,
                    browser_binding_hash: r.try_get("browser_binding_hash")?,
                    ui_auth_session_id: r.try_get("ui_auth_session_id")?,
                    oauth_grant_id: r.try_get("oauth_grant_id")?,
                    created_ts: r.try_get("created_ts")?,
                    expires_ts: r.try_get("expires_ts")?,
                };
                Ok(Some(session).filter(|s| s.expires_ts > now))
            }

            #[tracing::instrument(skip_all)]
            async fn get_user_by_external_id(
                &mut self,
                auth_provider: &str,
                external_id: &str,
            ) -> StoreResult<Option<String>> {
                let row = sqlx::query(
                    "SELECT user_id FROM user_external_ids \
                     WHERE auth_provider = $1 AND external_id = $2",
                )
                .bind(auth_provider)
                .bind(external_id)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?;
                Ok(row.map(|r| r.try_get("user_id")).transpose()?)
            }


            #[tracing::instrument(skip_all)]
            async fn list_external_ids(&mut self, user_id: &str) -> StoreResult<Vec<(String, String)>> {
                let rows = sqlx::query(
                    "SELECT auth_provider, external_id FROM user_external_ids \
                     WHERE user_id = $1 ORDER BY auth_provider, external_id",
                )
                .bind(user_id)
                .fetch_all(&mut *self.conn.get().await?)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push((r.try_get("auth_provider")?, r.try_get("external_id")?));
                }
                Ok(out)
            }


            #[tracing::instrument(skip_all)]
            async fn create_pending_registration(&mut self, p: &PendingRegistration) -> StoreResult<()> {
                sqlx::query(&format!(
                    "INSERT INTO sso_pending_registrations ({PENDING_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ))
                .bind(&p.session_id)
                .bind(&p.idp_id)
                .bind(&p.external_id)
                .bind(&p.suggested_localpart)
                .bind(&p.display_name)
                .bind(&p.email)
                .bind(&p.client_redirect_url)
                .bind(&p.browser_binding_hash)
                .bind(p.expires_ts)
                .bind(&p.oauth_grant_id)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn get_pending_registration(
                &mut self,
                session_id: &str,
                now: Timestamp,
            ) -> StoreResult<Option<PendingRegistration>> {
                sqlx::query("DELETE FROM sso_pending_registrations WHERE expires_ts <= $1")
                    .bind(now)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                let row = sqlx::query(&format!(
                    "SELECT {PENDING_COLUMNS} FROM sso_pending_registrations WHERE session_id = $1"
                ))
                .bind(session_id)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(PendingRegistration {
                    session_id: r.try_get("session_id")?,
                    idp_id: r.try_get("idp_id")?,
                    external_id: r.try_get("external_id")?,
                    suggested_localpart: r.try_get("suggested_localpart")?,
                    display_name: r.try_get("display_name")?,
                    email: r.try_get("email")?,
                    client_redirect_url: r.try_get("client_redirect_url")?,
                    browser_binding_hash: r.try_get("browser_binding_hash")?,
                    oauth_grant_id: r.try_get("oauth_grant_id")?,
                    expires_ts: r.try_get("expires_ts")?,
                }))
            }

            #[tracing::instrument(skip_all)]
            async fn delete_pending_registration(&mut self, session_id: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM sso_pending_registrations WHERE session_id = $1")
                    .bind(session_id)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn sweep_sso(&mut self, now: Timestamp, tokens_before: Timestamp) -> StoreResult<u64> {
                let mut n = 0;
                for (sql, ts) in [
                    ("DELETE FROM sso_sessions WHERE expires_ts <= $1", now),
                    ("DELETE FROM sso_pending_registrations WHERE expires_ts <= $1", now),
                    ("DELETE FROM login_tokens WHERE expires_ts < $1", tokens_before),
                ] {
                    n += sqlx::query(sql).bind(ts).execute(&mut *self.conn.get().await?).await?.rows_affected();
                }
                Ok(n)
            }

            #[tracing::instrument(skip_all)]
            async fn create_login_token(&mut self, t: &NewLoginToken) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO login_tokens (token_hash, user_id, auth_provider_id, created_ts, \
                     expires_ts) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&t.token_hash)
                .bind(&t.user_id)
                .bind(&t.auth_provider_id)
                .bind(t.created_ts)
                .bind(t.expires_ts)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn create_login_token_for_uia(
                &mut self,
                session_id: &str,
                result: &serde_json::Value,
                t: &NewLoginToken,
            ) -> StoreResult<bool> {
                let mut tx = self.conn.atomic().await?;
                let done = sqlx::query(
                    "UPDATE uia_sessions SET result = $2 WHERE session_id = $1 AND result IS NULL",
                )
                .bind(session_id)
                .bind(result.to_string())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO login_tokens (token_hash, user_id, auth_provider_id, created_ts, \
                     expires_ts) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&t.token_hash)
                .bind(&t.user_id)
                .bind(&t.auth_provider_id)
                .bind(t.created_ts)
                .bind(t.expires_ts)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            #[tracing::instrument(skip_all)]
            async fn consume_login_token(
                &mut self,
                token_hash: &[u8],
                now: Timestamp,
            ) -> StoreResult<Option<(String, Option<String>)>> {
                let row = sqlx::query(
                    "UPDATE login_tokens SET used_ts = $2 \
                     WHERE token_hash = $1 AND used_ts IS NULL AND expires_ts > $2 \
                     RETURNING user_id, auth_provider_id",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?;
                // Tokens long past their expiry are of no use, even as a
                // record that they were used.
                sqlx::query("DELETE FROM login_tokens WHERE expires_ts < $1")
                    .bind(now - 24 * 60 * 60 * 1000)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                match row {
                    Some(r) => Ok(Some((r.try_get("user_id")?, r.try_get("auth_provider_id")?))),
                    None => Ok(None),
                }
            }

            #[tracing::instrument(skip_all)]
            async fn delete_unused_login_tokens(&mut self, user_id: &str) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM login_tokens WHERE user_id = $1 AND used_ts IS NULL")
                    .bind(user_id)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all)]
            async fn delete_user_external_ids(&mut self, user_id: &str) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM user_external_ids WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn insert_external_id(
                &mut self,
                auth_provider: &str,
                external_id: &str,
                user_id: &str,
                ts: Timestamp,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO user_external_ids (auth_provider, external_id, user_id, created_ts) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (auth_provider, external_id) DO NOTHING",
                )
                .bind(auth_provider)
                .bind(external_id)
                .bind(user_id)
                .bind(ts)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

sso_store!(sqlx::Sqlite);
sso_store!(sqlx::Postgres);

use super::conn::Repo;
