//! OAuth 2.0 aware legacy login (spec v1.18, MSC3824; matrix-authentication-
//! service's "compat SSO"): with the OAuth 2.0 API on and no upstream
//! provider, `/login/sso/redirect` takes the browser to mxauth's own login
//! (or registration) page; once it is logged in there, it goes back to the
//! client's `redirectUrl` with an `m.login.token`, through the same trust
//! check and confirmation page as SSO. The login in progress is a row
//! bound to the browser's cookie, like a grant, and is used once.

use super::grant::AuthorizeError;
use crate::auth::sso::redirect::RedirectTarget;
use crate::auth::sso::{SsoError, SsoFinish};
use crate::auth::Auth;
use crate::clock::random_string;
use crate::store::{CompatLogin, StoreResult};

/// How long a user has from the redirect to logging in.
const COMPAT_LOGIN_LIFETIME_MS: i64 = 30 * 60 * 1000;

impl Auth {
    /// Whether `/login/sso/redirect` leads to mxauth's own pages: the
    /// OAuth 2.0 API is on and no upstream provider is configured.
    pub fn compat_sso_enabled(&self) -> bool {
        self.config.oauth.is_some() && self.sso_providers().is_empty()
    }

    /// Records a legacy login for a client that wants to go back to
    /// `redirect_url`, bound to the browser whose cookie hashes to
    /// `binding_hash`: its ID.
    pub async fn start_compat_login(
        &self,
        redirect_url: &str,
        binding_hash: &[u8],
    ) -> Result<String, SsoError> {
        if !self.compat_sso_enabled() {
            return Err(SsoError::UnknownProvider);
        }
        if self.classify_sso_redirect(redirect_url) == RedirectTarget::Invalid {
            return Err(SsoError::InvalidRedirectUrl);
        }
        let now = self.now();
        let login = CompatLogin {
            compat_id: random_string(self.rng.as_ref(), 24),
            redirect_url: redirect_url.to_owned(),
            browser_binding_hash: binding_hash.to_vec(),
            created_ts: now,
            expires_ts: now + COMPAT_LOGIN_LIFETIME_MS,
        };
        self.store
            .oauth_grants()
            .create_compat_login(&login)
            .await?;
        Ok(login.compat_id)
    }

    /// The legacy login a page continues, if it is this browser's and has
    /// not expired or finished.
    pub async fn compat_login_for_browser(
        &self,
        compat_id: &str,
        binding_hash: &[u8],
    ) -> Result<CompatLogin, AuthorizeError> {
        self.store
            .oauth_grants()
            .get_compat_login(compat_id, self.now())
            .await?
            .filter(|l| {
                bool::from(subtle::ConstantTimeEq::ct_eq(
                    l.browser_binding_hash.as_slice(),
                    binding_hash,
                ))
            })
            .ok_or(AuthorizeError::UnknownGrant)
    }

    /// The login now belongs to the browser with the new cookie (set at
    /// login).
    pub async fn rebind_compat_login(
        &self,
        compat_id: &str,
        binding_hash: &[u8],
    ) -> StoreResult<()> {
        self.store
            .oauth_grants()
            .rebind_compat_login(compat_id, binding_hash)
            .await
    }

    /// The browser is logged in as `user_id`: the login is used up, and a
    /// login token goes back to the client (as SSO sends one).
    pub async fn finish_compat_login(
        &self,
        login: &CompatLogin,
        user_id: &str,
    ) -> Result<SsoFinish, SsoError> {
        if !self
            .store
            .oauth_grants()
            .take_compat_login(&login.compat_id)
            .await?
        {
            return Err(SsoError::LoginExpired);
        }
        let user = self
            .store
            .users()
            .get_user(user_id)
            .await?
            .ok_or(SsoError::LoginExpired)?;
        crate::auth::login::check_may_log_in(&user)?;
        self.sso_login_redirect(user_id, None, &login.redirect_url)
            .await
    }
}
