//! The account pages (`account_management_uri`, the spec's "Account
//! management" of the OAuth 2.0 API): what a user logged in at mxauth's
//! pages may do to their own account. Each operation is the rule of the
//! Matrix endpoint that does the same thing, so there is one rule per
//! change: ending a session is device deletion (tokens, refresh tokens,
//! the homeserver told), a password change is `POST /account/password`'s
//! write with its logout, an address is added through the same email
//! validation and binding as `/account/3pid/add`, deactivation is
//! `/account/deactivate`'s. In place of User-Interactive Auth, the page
//! asks for the current password (checked as the login form checks it:
//! providers, `rc_login` limits) where the Matrix endpoint asks for
//! re-authentication: a password change, an address to add, deactivation.

use super::login::LoginError;
use super::policy::{check_new_password, PasswordPolicyError};
use super::ratelimit::LimitExceeded;
use super::threepids::{canonicalise_email, ThreepidError, TokenPurpose, MEDIUM_EMAIL};
use super::Auth;
use crate::store::{DeviceSession, User};
use serde_json::{json, Map, Value};

/// The actions of the spec's `account_management_actions_supported`, and
/// the unstable names of MSC4191 that clients still send.
pub const ACTION_PROFILE: &str = "org.matrix.profile";
pub const ACTION_DEVICES_LIST: &str = "org.matrix.devices_list";
pub const ACTION_DEVICE_VIEW: &str = "org.matrix.device_view";
pub const ACTION_DEVICE_DELETE: &str = "org.matrix.device_delete";
pub const ACTION_ACCOUNT_DEACTIVATE: &str = "org.matrix.account_deactivate";
pub const ACTION_CROSS_SIGNING_RESET: &str = "org.matrix.cross_signing_reset";
pub const ACTION_SESSIONS_LIST_UNSTABLE: &str = "org.matrix.sessions_list";
pub const ACTION_SESSION_VIEW_UNSTABLE: &str = "org.matrix.session_view";
pub const ACTION_SESSION_END_UNSTABLE: &str = "org.matrix.session_end";

/// How recent a sign-in at the pages stands in for the password (for an
/// account that signs in upstream and has none): adding an address,
/// deactivating.
pub const RECENT_SIGN_IN_MS: i64 = 5 * 60 * 1000;

/// Synapse's limit on a display name (`MAX_DISPLAYNAME_LEN`).
pub const MAX_DISPLAYNAME_LEN: usize = 256;

/// Why an account page's operation is refused.
#[derive(Debug)]
pub enum ManageError {
    /// The user has no session (device) of this ID: another user's is
    /// unknown too.
    NoSuchSession,
    /// The current password was refused (wrong, or too many failures:
    /// the login form's answers).
    Password(LoginError),
    /// The new password is not allowed by the policy.
    WeakPassword(PasswordPolicyError),
    /// Passwords are not managed here (`password_config`), or the user
    /// has none to confirm a change with.
    PasswordChangeUnavailable,
    DisplayNameTooLong,
    /// The email validation or binding refused (email off, changes
    /// disabled, a bad or taken address, a link not followed yet).
    Email(ThreepidError),
    /// `rc_3pid_validation`.
    LimitExceeded(LimitExceeded),
    /// No homeserver is configured: there is nothing to reset.
    NoHomeserver,
    /// No password given, and the sign-in is not recent.
    SignInAgain,
    /// The homeserver has not taken the call yet (it stays queued).
    HomeserverUnreachable,
    /// Logged where it happened.
    Internal,
}

internal_error!(ManageError, store);

wrap_error!(LoginError => ManageError::Password, LoginError::Internal);

wrap_error!(PasswordPolicyError => ManageError::WeakPassword);

wrap_error!(ThreepidError => ManageError::Email, ThreepidError::Internal);

wrap_error!(LimitExceeded => ManageError::LimitExceeded);

type Result<T> = std::result::Result<T, ManageError>;

/// What the account's first page shows and offers.
#[derive(Debug, Clone)]
pub struct AccountOverview {
    pub user: User,
    pub emails: Vec<String>,
    /// A password change can be made here.
    pub password_change: bool,
    /// Addresses can be added and removed here (`email:` configured and
    /// `enable_3pid_changes`).
    pub email_changes: bool,
    /// A homeserver is configured: cross-signing reset is offered.
    pub cross_signing_reset: bool,
}

/// An OAuth 2.0 client as a session's page names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClient {
    pub client_id: String,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
}

/// A session (device) of the user, with its OAuth 2.0 client if it is
/// one's (a legacy login has none).
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub device: DeviceSession,
    pub client: Option<SessionClient>,
}

/// An address waiting for its validation link to be followed: what the
/// page keeps (in the form of the browser that asked) to finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAddress {
    pub email: String,
    pub sid: String,
    pub client_secret: String,
}

impl Auth {
    /// The actions the account pages serve, as the metadata lists them:
    /// the stable names, cross-signing reset only with a homeserver.
    pub fn account_management_actions(&self) -> Vec<&'static str> {
        let mut actions = vec![
            ACTION_PROFILE,
            ACTION_DEVICES_LIST,
            ACTION_DEVICE_VIEW,
            ACTION_DEVICE_DELETE,
            ACTION_ACCOUNT_DEACTIVATE,
        ];
        if self.homeserver.is_some() {
            actions.push(ACTION_CROSS_SIGNING_RESET);
        }
        actions
    }

    /// The account's overview; `None` if the user is gone.
    pub async fn account_overview(&self, user_id: &str) -> Result<Option<AccountOverview>> {
        let Some(user) = self.store.users().get_user(user_id).await? else {
            return Ok(None);
        };
        let emails = self
            .store
            .threepids()
            .list_user_threepids(user_id)
            .await?
            .into_iter()
            .filter(|t| t.medium == MEDIUM_EMAIL)
            .map(|t| t.address)
            .collect();
        Ok(Some(AccountOverview {
            password_change: self.page_password_change_enabled() && user.password_hash.is_some(),
            user,
            emails,
            email_changes: self.config.email.is_some() && self.config.threepids.enable_3pid_changes,
            cross_signing_reset: self.homeserver.is_some(),
        }))
    }

    /// Passwords may be changed (`m.change_password`'s rule).
    fn page_password_change_enabled(&self) -> bool {
        let pc = &self.config.password_config;
        pc.localdb_enabled && pc.reauth_enabled()
    }

    /// Every session of the user: legacy logins and OAuth 2.0 sessions.
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>> {
        let devices = self
            .store
            .devices()
            .list_device_sessions(user_id, None)
            .await?;
        let mut sessions = Vec::with_capacity(devices.len());
        for device in devices {
            sessions.push(self.session_info(device).await?);
        }
        Ok(sessions)
    }

    /// One session of the user.
    pub async fn get_session(&self, user_id: &str, device_id: &str) -> Result<SessionInfo> {
        let device = self
            .store
            .devices()
            .list_device_sessions(user_id, Some(device_id))
            .await?
            .into_iter()
            .next()
            .ok_or(ManageError::NoSuchSession)?;
        self.session_info(device).await
    }

    async fn session_info(&self, device: DeviceSession) -> Result<SessionInfo> {
        let client = match &device.oauth_client_id {
            None => None,
            Some(id) => {
                // A client registered once and pruned since is named by its ID.
                let found = self.oauth_client(id).await?;
                Some(SessionClient {
                    client_id: id.clone(),
                    client_name: found.as_ref().and_then(|c| c.client_name.clone()),
                    client_uri: found.and_then(|c| c.client_uri),
                })
            }
        };
        Ok(SessionInfo { device, client })
    }

    /// Ends a session of the user as device deletion does: the device and
    /// every access and refresh token of it go at once, the homeserver and
    /// the providers are told.
    #[tracing::instrument(skip_all)]
    pub async fn end_session_from_page(&self, user_id: &str, device_id: &str) -> Result<()> {
        if !self.end_session(user_id, device_id).await? {
            return Err(ManageError::NoSuchSession);
        }
        tracing::info!(user_id, "session ended from the account page");
        Ok(())
    }

    /// The user is who they say: their password, or (none given) a sign-in
    /// at the pages in the last [`RECENT_SIGN_IN_MS`], which is how an
    /// account without a password (upstream sign-in) confirms.
    async fn confirm_identity(
        &self,
        user_id: &str,
        password: &str,
        authenticated_ts: i64,
        ip: Option<&str>,
    ) -> Result<()> {
        if !password.is_empty() {
            return self.confirm_password(user_id, password, ip).await;
        }
        match self.now().saturating_sub(authenticated_ts) <= RECENT_SIGN_IN_MS {
            true => Ok(()),
            false => Err(ManageError::SignInAgain),
        }
    }

    /// The user's own password, checked as the login form checks it
    /// (same providers, same limits, same answer for every failure).
    async fn confirm_password(
        &self,
        user_id: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Result<()> {
        let who = self.browser_password_login(user_id, password, ip).await?;
        if who != user_id {
            return Err(ManageError::Password(LoginError::BadCredentials));
        }
        Ok(())
    }

    /// A new password, the current one confirmed, under the password
    /// policy; the user's other sessions (and other browsers at the pages,
    /// this one's included) end unless `keep_sessions`, in the same
    /// transaction as `POST /account/password`'s.
    #[tracing::instrument(skip_all)]
    pub async fn change_password_from_page(
        &self,
        user_id: &str,
        current: &str,
        new: &str,
        keep_sessions: bool,
        ip: Option<&str>,
    ) -> Result<()> {
        if !self.page_password_change_enabled() {
            return Err(ManageError::PasswordChangeUnavailable);
        }
        check_new_password(&self.config.password_config.policy, new)?;
        self.confirm_password(user_id, current, ip).await?;
        let hash = self
            .hash_password(new)
            .await
            .map_err(|e| ManageError::from(LoginError::from(e)))?;
        self.set_new_password(user_id, &hash, !keep_sessions, None, None)
            .await?;
        tracing::info!(user_id, "password changed from the account page");
        Ok(())
    }

    /// First step of adding an address: the password confirmed, then the
    /// validation mail under `requestToken`'s rules and limits.
    #[tracing::instrument(skip_all)]
    pub async fn request_address_from_page(
        &self,
        user_id: &str,
        email: &str,
        password: &str,
        authenticated_ts: i64,
        ip: Option<&str>,
    ) -> Result<PendingAddress> {
        let email = canonicalise_email(email)?;
        self.confirm_identity(user_id, password, authenticated_ts, ip)
            .await?;
        let (client_secret, sid) = self
            .request_email_token_for_page(TokenPurpose::AddThreepid, &email, ip)
            .await??;
        Ok(PendingAddress {
            email,
            sid,
            client_secret,
        })
    }

    /// A validation mail asked for by one of mxauth's own pages (the
    /// registration page, the account's addresses; here as the rules that
    /// may name both threepids and the limits): `requestToken` with a
    /// fresh client secret, under `rc_3pid_validation`. Answers the client
    /// secret and the session ID, which the page keeps in its form.
    pub(crate) async fn request_email_token_for_page(
        &self,
        purpose: TokenPurpose,
        email: &str,
        ip: Option<&str>,
    ) -> std::result::Result<std::result::Result<(String, String), LimitExceeded>, ThreepidError>
    {
        let client_secret = crate::clock::random_string(self.rng.as_ref(), 32);
        let body = as_map(json!({
            "email": email,
            "client_secret": client_secret,
            "send_attempt": 1,
        }));
        if let Err(limited) = self.limit_threepid_validation(ip, &body).await? {
            return Ok(Err(limited));
        }
        let sid = self.request_email_token(purpose, &body).await?;
        Ok(Ok((client_secret, sid)))
    }

    /// Second step, once the mail's link was followed: the address is
    /// bound to the user (the validation session spent).
    #[tracing::instrument(skip_all)]
    pub async fn finish_address_from_page(
        &self,
        user_id: &str,
        pending: &PendingAddress,
    ) -> Result<()> {
        let used_by = format!(
            "account-page:{}",
            crate::clock::random_string(self.rng.as_ref(), 16)
        );
        self.bind_validated_session(user_id, &pending.sid, &pending.client_secret, &used_by)
            .await?;
        Ok(())
    }

    /// Removes an address of the user (`/account/3pid/delete`'s rule).
    #[tracing::instrument(skip_all)]
    pub async fn remove_address_from_page(&self, user_id: &str, email: &str) -> Result<()> {
        let parsed = super::identifiers::stored_user_id(user_id)
            .ok_or_else(|| ManageError::internal("a browser session names no user ID"))?;
        let body = as_map(json!({ "medium": MEDIUM_EMAIL, "address": email }));
        self.delete_threepid(&parsed, &body).await?;
        Ok(())
    }

    /// The display name (`None` or blank: none), here and on the homeserver.
    #[tracing::instrument(skip_all)]
    pub async fn set_displayname_from_page(
        &self,
        user_id: &str,
        displayname: Option<&str>,
    ) -> Result<()> {
        let name = displayname.map(str::trim).filter(|n| !n.is_empty());
        if name.is_some_and(|n| n.chars().count() > MAX_DISPLAYNAME_LEN) {
            return Err(ManageError::DisplayNameTooLong);
        }
        self.store.users().set_displayname(user_id, name).await?;
        self.set_displayname_on_homeserver(user_id, name).await?;
        Ok(())
    }

    /// Deactivation, the password confirmed: `/account/deactivate`'s
    /// write (devices, tokens, addresses, browser sessions; the user ID
    /// stays taken), then the providers and the homeserver told.
    #[tracing::instrument(skip_all)]
    pub async fn deactivate_from_page(
        &self,
        user_id: &str,
        password: &str,
        authenticated_ts: i64,
        ip: Option<&str>,
    ) -> Result<()> {
        self.confirm_identity(user_id, password, authenticated_ts, ip)
            .await?;
        self.deactivate_everywhere(user_id, false).await?;
        tracing::info!(user_id, "account deactivated from the account page");
        Ok(())
    }

    /// The user approves replacing their cross-signing keys: the
    /// homeserver lets the next upload through.
    #[tracing::instrument(skip_all)]
    pub async fn allow_cross_signing_reset(&self, user_id: &str) -> Result<()> {
        if self.homeserver.is_none() {
            return Err(ManageError::NoHomeserver);
        }
        match self
            .allow_cross_signing_reset_on_homeserver(user_id)
            .await?
        {
            true => Ok(()),
            false => Err(ManageError::HomeserverUnreachable),
        }
    }
}

fn as_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
