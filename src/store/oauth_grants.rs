//! The SQL of the OAuth 2.0 authorization code grant, for both backends:
//! authorization requests from `/authorize` to the token endpoint, the
//! browser sessions of mxauth's login pages, and legacy clients' logins
//! through those pages (MSC3824). [`OAuthGrantRepository`].

use super::StoreResult;
use crate::clock::Timestamp;
use async_trait::async_trait;

/// An authorization request as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OAuthGrant {
    /// Random; names the request in the pages' URLs (not a secret: the
    /// browser's cookie binds it).
    pub grant_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// `query` or `fragment`.
    pub response_mode: String,
    /// Space-separated, as asked for (checked).
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    pub prompt: Option<String>,
    /// SHA-256 of the value of the cookie of the browser that may continue it.
    pub browser_binding_hash: Vec<u8>,
    pub created_ts: Timestamp,
    pub expires_ts: Timestamp,
    /// Set when the user approves: who, when they logged in, and the
    /// code's hash.
    pub user_id: Option<String>,
    pub auth_ts: Option<Timestamp>,
    pub code_hash: Option<Vec<u8>>,
    /// Set when the code is exchanged, with the device of the session.
    pub exchanged_ts: Option<Timestamp>,
    pub device_id: Option<String>,
}

/// A browser logged in at mxauth's pages.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BrowserSession {
    pub user_id: String,
    pub authenticated_ts: Timestamp,
    pub expires_ts: Timestamp,
}

/// A legacy client's login through mxauth's pages (MSC3824), from
/// `/login/sso/redirect` until the redirect with a login token.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CompatLogin {
    /// Random; names the login in the pages' URLs (the cookie binds it).
    pub compat_id: String,
    /// The client's `redirectUrl` (checked when stored).
    pub redirect_url: String,
    /// SHA-256 of the value of the cookie of the browser that may continue it.
    pub browser_binding_hash: Vec<u8>,
    pub created_ts: Timestamp,
    pub expires_ts: Timestamp,
}

#[async_trait]
pub trait OAuthGrantRepository: Send {
    async fn create_grant(&mut self, grant: &OAuthGrant) -> StoreResult<()>;
    /// The grant, unless it expired at `now`.
    async fn get_grant(
        &mut self,
        grant_id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OAuthGrant>>;
    /// Binds the grant to another browser cookie (a new one is set at login).
    async fn rebind_grant(&mut self, grant_id: &str, binding_hash: &[u8]) -> StoreResult<()>;
    /// Records the user's approval and the code, which is good until
    /// `code_expires_ts` (the grant's new expiry), once: `false` if the
    /// grant was approved already (or is gone).
    async fn approve_grant(
        &mut self,
        grant_id: &str,
        user_id: &str,
        auth_ts: Timestamp,
        code_hash: &[u8],
        code_expires_ts: Timestamp,
    ) -> StoreResult<bool>;
    /// Marks the grant of this code exchanged at `now` and returns it, if it
    /// was not exchanged before and has not expired. Atomic: one use wins.
    /// (An exchanged grant keeps its row, so a second use is recognised.)
    async fn exchange_code(
        &mut self,
        code_hash: &[u8],
        now: Timestamp,
    ) -> StoreResult<Option<OAuthGrant>>;
    /// The grant of a code whatever its state (to recognise a second use).
    async fn get_grant_by_code(&mut self, code_hash: &[u8]) -> StoreResult<Option<OAuthGrant>>;
    /// The device of the session the exchange opened.
    async fn set_grant_device(&mut self, grant_id: &str, device_id: &str) -> StoreResult<()>;
    async fn delete_grant(&mut self, grant_id: &str) -> StoreResult<()>;

    async fn create_browser_session(
        &mut self,
        session_hash: &[u8],
        session: &BrowserSession,
    ) -> StoreResult<()>;
    /// The session, unless it expired at `now`.
    async fn get_browser_session(
        &mut self,
        session_hash: &[u8],
        now: Timestamp,
    ) -> StoreResult<Option<BrowserSession>>;
    async fn delete_browser_session(&mut self, session_hash: &[u8]) -> StoreResult<()>;
    /// Ends every browser session of the user (deactivation, password change).
    async fn delete_user_browser_sessions(&mut self, user_id: &str) -> StoreResult<u64>;

    async fn create_compat_login(&mut self, login: &CompatLogin) -> StoreResult<()>;
    /// The login unless it expired at `now`.
    async fn get_compat_login(
        &mut self,
        compat_id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<CompatLogin>>;
    /// The login now belongs to the browser with this cookie hash.
    async fn rebind_compat_login(
        &mut self,
        compat_id: &str,
        binding_hash: &[u8],
    ) -> StoreResult<()>;
    /// Deletes the login: `true` for the one caller that did (used once).
    async fn take_compat_login(&mut self, compat_id: &str) -> StoreResult<bool>;

    /// Deletes grants that expired before `grants_before` (kept a while
    /// after, so a second use of a code is recognised), browser sessions
    /// and legacy logins expired at `now`; how many went.
    async fn sweep_oauth_grants(
        &mut self,
        grants_before: Timestamp,
        now: Timestamp,
    ) -> StoreResult<u64>;
}

const GRANT_COLUMNS: &str = "grant_id, client_id, redirect_uri, response_mode, scope, state, \
     nonce, code_challenge, prompt, browser_binding_hash, created_ts, expires_ts, user_id, \
     auth_ts, code_hash, exchanged_ts, device_id";

macro_rules! oauth_grants_store {
    ($db:ty) => {
        #[async_trait]
        impl OAuthGrantRepository for Repo<'_, $db> {
            #[tracing::instrument(skip_all)]
            async fn create_grant(&mut self, g: &OAuthGrant) -> StoreResult<()> {
                sqlx::query(&format!(
                    "INSERT INTO oauth_grants ({GRANT_COLUMNS}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
                ))
                .bind(&g.grant_id)
                .bind(&g.client_id)
                .bind(&g.redirect_uri)
                .bind(&g.response_mode)
                .bind(&g.scope)
                .bind(&g.state)
                .bind(&g.nonce)
                .bind(&g.code_challenge)
                .bind(&g.prompt)
                .bind(&g.browser_binding_hash)
                .bind(g.created_ts)
                .bind(g.expires_ts)
                .bind(&g.user_id)
                .bind(g.auth_ts)
                .bind(&g.code_hash)
                .bind(g.exchanged_ts)
                .bind(&g.device_id)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            async fn get_grant(
                &mut self,
                grant_id: &str,
                now: Timestamp,
            ) -> StoreResult<Option<OAuthGrant>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE grant_id = $1 AND expires_ts > $2"
                ))
                .bind(grant_id)
                .bind(now)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?)
            }

            async fn rebind_grant(&mut self, grant_id: &str, binding_hash: &[u8]) -> StoreResult<()> {
                sqlx::query("UPDATE oauth_grants SET browser_binding_hash = $2 WHERE grant_id = $1")
                    .bind(grant_id)
                    .bind(binding_hash)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn approve_grant(
                &mut self,
                grant_id: &str,
                user_id: &str,
                auth_ts: Timestamp,
                code_hash: &[u8],
                code_expires_ts: Timestamp,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE oauth_grants SET user_id = $2, auth_ts = $3, code_hash = $4, \
                     expires_ts = $5 WHERE grant_id = $1 AND code_hash IS NULL",
                )
                .bind(grant_id)
                .bind(user_id)
                .bind(auth_ts)
                .bind(code_hash)
                .bind(code_expires_ts)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn exchange_code(
                &mut self,
                code_hash: &[u8],
                now: Timestamp,
            ) -> StoreResult<Option<OAuthGrant>> {
                Ok(sqlx::query_as(&format!(
                    "UPDATE oauth_grants SET exchanged_ts = $2 \
                     WHERE code_hash = $1 AND exchanged_ts IS NULL AND expires_ts > $2 \
                     RETURNING {GRANT_COLUMNS}"
                ))
                .bind(code_hash)
                .bind(now)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?)
            }

            async fn get_grant_by_code(&mut self, code_hash: &[u8]) -> StoreResult<Option<OAuthGrant>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE code_hash = $1"
                ))
                .bind(code_hash)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?)
            }

            async fn set_grant_device(&mut self, grant_id: &str, device_id: &str) -> StoreResult<()> {
                sqlx::query("UPDATE oauth_grants SET device_id = $2 WHERE grant_id = $1")
                    .bind(grant_id)
                    .bind(device_id)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            async fn delete_grant(&mut self, grant_id: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM oauth_grants WHERE grant_id = $1")
                    .bind(grant_id)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn create_browser_session(
                &mut self,
                session_hash: &[u8],
                s: &BrowserSession,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO oauth_browser_sessions \
                     (session_hash, user_id, authenticated_ts, expires_ts) VALUES ($1, $2, $3, $4)",
                )
                .bind(session_hash)
                .bind(&s.user_id)
                .bind(s.authenticated_ts)
                .bind(s.expires_ts)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            async fn get_browser_session(
                &mut self,
                session_hash: &[u8],
                now: Timestamp,
            ) -> StoreResult<Option<BrowserSession>> {
                Ok(sqlx::query_as(
                    "SELECT user_id, authenticated_ts, expires_ts FROM oauth_browser_sessions \
                     WHERE session_hash = $1 AND expires_ts > $2",
                )
                .bind(session_hash)
                .bind(now)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?)
            }

            async fn delete_browser_session(&mut self, session_hash: &[u8]) -> StoreResult<()> {
                sqlx::query("DELETE FROM oauth_browser_sessions WHERE session_hash = $1")
                    .bind(session_hash)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(())
            }

            async fn delete_user_browser_sessions(&mut self, user_id: &str) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM oauth_browser_sessions WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all)]
            async fn sweep_oauth_grants(
                &mut self,
                grants_before: Timestamp,
                now: Timestamp,
            ) -> StoreResult<u64> {
                let grants = sqlx::query("DELETE FROM oauth_grants WHERE expires_ts <= $1")
                    .bind(grants_before)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                let sessions = sqlx::query("DELETE FROM oauth_browser_sessions WHERE expires_ts <= $1")
                    .bind(now)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                let compat = sqlx::query("DELETE FROM oauth_compat_logins WHERE expires_ts <= $1")
                    .bind(now)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(grants.rows_affected() + sessions.rows_affected() + compat.rows_affected())
            }

            #[tracing::instrument(skip_all)]
            async fn create_compat_login(&mut self, l: &CompatLogin) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO oauth_compat_logins (compat_id, redirect_url, \
                     browser_binding_hash, created_ts, expires_ts) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&l.compat_id)
                .bind(&l.redirect_url)
                .bind(&l.browser_binding_hash)
                .bind(l.created_ts)
                .bind(l.expires_ts)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn get_compat_login(
                &mut self,
                compat_id: &str,
                now: Timestamp,
            ) -> StoreResult<Option<CompatLogin>> {
                Ok(sqlx::query_as(
                    "SELECT compat_id, redirect_url, browser_binding_hash, created_ts, expires_ts \
                     FROM oauth_compat_logins WHERE compat_id = $1 AND expires_ts > $2",
                )
                .bind(compat_id)
                .bind(now)
                .fetch_optional(&mut *self.conn.get().await?)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn rebind_compat_login(
                &mut self,
                compat_id: &str,
                binding_hash: &[u8],
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE oauth_compat_logins SET browser_binding_hash = $2 WHERE compat_id = $1",
                )
                .bind(compat_id)
                .bind(binding_hash)
                .execute(&mut *self.conn.get().await?)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn take_compat_login(&mut self, compat_id: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM oauth_compat_logins WHERE compat_id = $1")
                    .bind(compat_id)
                    .execute(&mut *self.conn.get().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

use super::conn::Repo;
oauth_grants_store!(sqlx::Sqlite);
oauth_grants_store!(sqlx::Postgres);
