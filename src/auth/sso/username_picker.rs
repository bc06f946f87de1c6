//! Synapse's username picker (`confirm_localpart`, or no localpart could be
//! mapped): after the provider, a new user chooses their username. What the
//! provider said waits in the database (any process can take the form),
//! bound to the browser by a cookie.

use super::{PendingUser, SsoError, SsoFinish};
use crate::auth::identifiers::check_new_localpart;
use crate::auth::tokens::hash_token;
use crate::auth::writes::CreatedWithLink;
use crate::auth::Auth;
use crate::clock::random_string;
use crate::store::PendingRegistration;

/// The cookie that names the pending registration (`<session>.<secret>`).
pub const USERNAME_COOKIE: &str = "mxauth_sso_username";
/// How long the user has to choose (Synapse: 15 minutes).
const PENDING_LIFETIME_MS: i64 = 15 * 60 * 1000;

/// What the picker's form sends.
#[derive(Debug)]
pub struct UsernameChoice {
    pub localpart: String,
    pub use_display_name: bool,
    pub use_email: bool,
}

impl Auth {
    pub(super) async fn start_username_pick(
        &self,
        pending: PendingUser,
        client_redirect_url: &str,
        oauth_grant_id: Option<String>,
    ) -> Result<SsoFinish, SsoError> {
        let session_id = random_string(self.rng.as_ref(), 24);
        let secret = random_string(self.rng.as_ref(), 32);
        self.store
            .sso()
            .create_pending_registration(&PendingRegistration {
                session_id: session_id.clone(),
                idp_id: pending.idp_id,
                external_id: pending.subject,
                suggested_localpart: pending.suggested_localpart,
                display_name: pending.display_name,
                email: pending.email,
                client_redirect_url: client_redirect_url.to_owned(),
                browser_binding_hash: hash_token(&secret),
                oauth_grant_id,
                expires_ts: self.now() + PENDING_LIFETIME_MS,
            })
            .await?;
        Ok(SsoFinish::PickUsername {
            username_cookie: format!("{session_id}.{secret}"),
        })
    }

    /// The pending registration the browser's cookie names.
    pub async fn pending_registration(
        &self,
        cookie: Option<&str>,
    ) -> Result<PendingRegistration, SsoError> {
        let (session_id, secret) = cookie
            .and_then(|c| c.split_once('.'))
            .ok_or(SsoError::SignUpExpired)?;
        let pending = self
            .store
            .sso()
            .get_pending_registration(session_id, self.now())
            .await?
            .ok_or(SsoError::SignUpExpired)?;
        let bound = subtle::ConstantTimeEq::ct_eq(
            hash_token(secret).as_slice(),
            pending.browser_binding_hash.as_slice(),
        );
        if !bool::from(bound) {
            return Err(SsoError::SignUpExpired);
        }
        Ok(pending)
    }

    /// Whether `localpart` could be chosen now, asked by the picker's page:
    /// only a browser holding a pending sign-up's cookie may ask (as in
    /// Synapse), so the check is no oracle for who has an account here.
    pub async fn username_available(
        &self,
        cookie: Option<&str>,
        localpart: &str,
    ) -> Result<bool, SsoError> {
        self.pending_registration(cookie).await?;
        let localpart = localpart.to_lowercase();
        check_new_localpart(&localpart, self.server_name())?;
        let user_id = format!("@{localpart}:{}", self.server_name());
        if self.exclusively_claimed(&user_id, None) {
            return Ok(false);
        }
        Ok(self.store.users().get_user(&user_id).await?.is_none())
    }

    /// The form was sent: creates the user with the chosen username (and,
    /// if ticked, the provider's display name and email), links it, and
    /// goes on as a login. A taken or invalid name is an error the form
    /// shows.
    pub async fn finish_username_pick(
        &self,
        cookie: Option<&str>,
        choice: &UsernameChoice,
    ) -> Result<SsoFinish, SsoError> {
        let pending = self.pending_registration(cookie).await?;
        let localpart = choice.localpart.trim().to_lowercase();
        check_new_localpart(&localpart, self.server_name())?;
        let user_id = format!("@{localpart}:{}", self.server_name());
        if self.exclusively_claimed(&user_id, None) {
            return Err(SsoError::UsernameTaken);
        }
        let email_threepid = pending.email.as_deref().filter(|_| choice.use_email);
        self.check_registration_blocking(email_threepid.map(|a| ("email", a)), None)
            .await?;
        let display_name = pending
            .display_name
            .as_deref()
            .filter(|_| choice.use_display_name);
        let outcome = self
            .create_sso_user(
                &user_id,
                &pending.idp_id,
                &pending.external_id,
                display_name,
                email_threepid,
            )
            .await?;
        let user_id = match outcome {
            CreatedWithLink::Created => user_id,
            // Linked meanwhile (the same person in two tabs): that account.
            CreatedWithLink::LinkTaken(owner) => owner,
            CreatedWithLink::UserTaken => return Err(SsoError::UsernameTaken),
        };
        self.store
            .sso()
            .delete_pending_registration(&pending.session_id)
            .await?;
        self.sso_login_finish(
            &user_id,
            &pending.idp_id,
            &pending.client_redirect_url,
            pending.oauth_grant_id,
        )
        .await
    }
}
