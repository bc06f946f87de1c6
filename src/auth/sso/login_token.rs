//! `m.login.token`: short-lived (two minutes), single-use tokens that SSO
//! (and `POST /login/get_token`) hand to a client, which trades one for an
//! access token at `POST /login`. Only their SHA-256 is stored.

use super::SsoError;
use crate::auth::tokens::{hash_token, IssuedToken};
use crate::auth::{Auth, Session};
use crate::clock::random_string;
use crate::store::NewLoginToken;

pub const LOGIN_TYPE_TOKEN: &str = "m.login.token";
/// Synapse's lifetime of a login token from SSO.
pub const LOGIN_TOKEN_LIFETIME_MS: i64 = 2 * 60 * 1000;
const LOGIN_TOKEN_PREFIX: &str = "syl_";

impl Auth {
    /// A new login token for `user_id`, valid for two minutes.
    pub async fn create_login_token(
        &self,
        user_id: &str,
        auth_provider_id: Option<&str>,
    ) -> Result<IssuedToken, SsoError> {
        self.create_login_token_for(user_id, auth_provider_id, LOGIN_TOKEN_LIFETIME_MS)
            .await
    }

    pub(crate) async fn create_login_token_for(
        &self,
        user_id: &str,
        auth_provider_id: Option<&str>,
        lifetime_ms: i64,
    ) -> Result<IssuedToken, SsoError> {
        let (token, row) = self.new_login_token(user_id, auth_provider_id, lifetime_ms);
        self.store.sso().create_login_token(&row).await?;
        Ok(token)
    }

    /// A new login token and the row that stores it.
    pub(crate) fn new_login_token(
        &self,
        user_id: &str,
        auth_provider_id: Option<&str>,
        lifetime_ms: i64,
    ) -> (IssuedToken, NewLoginToken) {
        let token = IssuedToken::new(format!(
            "{LOGIN_TOKEN_PREFIX}{}",
            random_string(self.rng.as_ref(), 40)
        ));
        let now = self.now();
        let row = NewLoginToken {
            token_hash: token.hash(),
            user_id: user_id.to_owned(),
            auth_provider_id: auth_provider_id.map(str::to_owned),
            created_ts: now,
            expires_ts: now + lifetime_ms,
        };
        (token, row)
    }

    /// Deletes expired SSO rows (logins in progress, sign-ups, login
    /// tokens a day past their expiry), for the background sweep.
    pub async fn sweep_sso(&self) -> crate::store::StoreResult<u64> {
        let now = self.now();
        self.store
            .sso()
            .sweep_sso(now, now - 24 * 60 * 60 * 1000)
            .await
    }

    /// `POST /login` with `m.login.token`: the token is used up whatever
    /// happens next; unknown, used and expired tokens look the same.
    #[tracing::instrument(skip_all)]
    pub async fn login_with_token(
        &self,
        token: &str,
        device_id: Option<crate::auth::identifiers::DeviceId>,
        display_name: Option<&str>,
        options: &crate::auth::SessionOptions,
    ) -> Result<Session, SsoError> {
        let consumed = self
            .store
            .sso()
            .consume_login_token(&hash_token(token), self.now())
            .await?;
        let Some((user_id, _provider)) = consumed else {
            return Err(SsoError::InvalidLoginToken);
        };
        let user = self
            .store
            .users()
            .get_user(&user_id)
            .await?
            .ok_or(SsoError::InvalidLoginToken)?;
        crate::auth::login::check_may_log_in(&user)?;
        Ok(self
            .start_login_session(&user_id, None, device_id, display_name, options)
            .await?)
    }
}
