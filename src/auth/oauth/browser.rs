//! The browser's session at mxauth's pages: a random cookie whose SHA-256
//! keys a row once the user has logged in (so any process can continue
//! it), and the login form's credential check, which is `/login`'s:
//! the same providers (LDAP, REST, custom), the same limits, the same
//! answer for an unknown user and a wrong password.

use crate::auth::login::{failed_attempts_key, LoginError, LOGIN_TYPE_PASSWORD};
use crate::auth::tokens::{hash_token, IssuedToken};
use crate::auth::Auth;
use crate::clock::random_string;
use crate::store::{BrowserSession, StoreResult};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The cookie that names the browser's session.
pub const BROWSER_COOKIE: &str = "mxauth_browser_session";

/// A new cookie value for a browser (before or at login).
pub fn new_browser_cookie(auth: &Auth) -> IssuedToken {
    IssuedToken::new(random_string(auth.rng.as_ref(), 32))
}

/// The CSRF token of the pages' forms: derived from the browser's cookie,
/// which a page of another site can neither read nor set, so a form
/// posted from elsewhere cannot carry it.
pub fn csrf_token(cookie: &str) -> String {
    let digest = Sha256::digest(format!("mxauth-csrf\0{cookie}").as_bytes());
    hex::encode(&digest[..16])
}

/// Whether `presented` is the CSRF token of the cookie (constant time).
pub fn csrf_ok(cookie: &str, presented: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(
        csrf_token(cookie).as_bytes(),
        presented.as_bytes(),
    ))
}

impl Auth {
    /// The login form: `username` (a localpart, a user ID, or an email
    /// address where login by email is allowed) and `password`, checked
    /// as `/login`'s `m.login.password` is. Answers the user's ID.
    pub async fn browser_password_login(
        &self,
        username: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Result<String, LoginError> {
        self.limit_login_address(ip, None).await?;
        let identifier = if !username.starts_with('@') && username.contains('@') {
            json!({"type": "m.id.thirdparty", "medium": "email", "address": username})
        } else {
            json!({"type": "m.id.user", "user": username})
        };
        let body: Map<String, Value> = match json!({
            "type": LOGIN_TYPE_PASSWORD,
            "identifier": identifier,
            "password": password,
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let key = failed_attempts_key(LOGIN_TYPE_PASSWORD, &body, self.server_name());
        let (user_id, _) = self
            .counting_failures(
                key.as_deref(),
                self.check_login(LOGIN_TYPE_PASSWORD, &body),
                |outcome| {
                    outcome
                        .as_ref()
                        .is_err_and(LoginError::is_credential_failure)
                },
            )
            .await?;
        Ok(user_id)
    }

    /// Logs the browser in as `user_id` under a NEW cookie (the one it had
    /// before login is not trusted with a session): the cookie to set.
    pub async fn start_browser_session(&self, user_id: &str) -> StoreResult<IssuedToken> {
        let cookie = new_browser_cookie(self);
        let now = self.now();
        let lifetime = self
            .config
            .oauth
            .as_ref()
            .map_or(24 * 60 * 60 * 1000, |o| o.browser_session_lifetime_ms);
        self.store
            .oauth_grants()
            .create_browser_session(
                &cookie.hash(),
                &BrowserSession {
                    user_id: user_id.to_owned(),
                    authenticated_ts: now,
                    expires_ts: now.saturating_add(lifetime),
                },
            )
            .await?;
        Ok(cookie)
    }

    /// The logged-in user of the browser with this cookie, unless the
    /// session expired or the user may no longer log in.
    pub async fn browser_session(&self, cookie: &str) -> StoreResult<Option<BrowserSession>> {
        let Some(session) = self
            .store
            .oauth_grants()
            .get_browser_session(&hash_token(cookie), self.now())
            .await?
        else {
            return Ok(None);
        };
        let usable = self
            .store
            .users()
            .get_user(&session.user_id)
            .await?
            .is_some_and(|u| !u.deactivated && !u.locked);
        Ok(usable.then_some(session))
    }

    /// Logs the browser out of mxauth's pages.
    pub async fn end_browser_session(&self, cookie: &str) -> StoreResult<()> {
        self.store
            .oauth_grants()
            .delete_browser_session(&hash_token(cookie))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_bound_to_the_cookie() {
        let t = csrf_token("cookie-a");
        assert_eq!(t.len(), 32);
        assert!(csrf_ok("cookie-a", &t));
        assert!(!csrf_ok("cookie-b", &t));
        assert!(!csrf_ok("cookie-a", ""));
        assert_ne!(csrf_token("cookie-a"), csrf_token("cookie-b"));
    }
}
