//! Sessions: a device, an access token and, where asked, a refresh token
//! for a user whose credentials were checked (login, registration, SSO,
//! the admin API, and an OAuth grant), after auth blocking and
//! `rc_login.account`, once the homeserver knows the device. A legacy login
//! and an OAuth grant are the same kind of session; [`SessionOptions`]
//! says how its tokens are issued.

use super::blocking::Blocked;
use super::identifiers::{self, DeviceId};
use super::ratelimit::{LimitExceeded, Limiter};
use super::tokens::{self, IssuedToken};
use super::{check_device_display_name, writes, Auth, DisplayNameTooLong, Session};
use crate::clock::Timestamp;
use crate::store::{NewAccessToken, NewRefreshToken};

/// How a session's tokens are issued. Default = today's legacy login: one
/// access token, bounded by `session_lifetime` and
/// `nonrefreshable_access_token_lifetime`.
#[derive(Debug, Default, Clone)]
pub struct SessionOptions {
    pub refreshable: bool,
    /// Access-token lifetime of a refreshable session (legacy:
    /// `refreshable_access_token_lifetime`; OAuth: `mxauth.oauth`'s).
    pub access_token_lifetime_ms: Option<i64>,
    pub refresh_token_lifetime_ms: Option<i64>,
    /// Set for an OAuth grant's session.
    pub oauth: Option<OAuthBinding>,
}

/// The OAuth grant a session belongs to.
#[derive(Debug, Clone)]
pub struct OAuthBinding {
    pub client_id: String,
    /// Space-separated, as granted.
    pub scope: String,
}

/// A session's new tokens and the rows that store them (hashed).
pub(crate) struct SessionTokens {
    pub access_token: IssuedToken,
    pub access_row: NewAccessToken,
    pub refresh: Option<(IssuedToken, NewRefreshToken)>,
}

impl SessionTokens {
    pub(crate) fn refresh_row(&self) -> Option<&NewRefreshToken> {
        self.refresh.as_ref().map(|(_, row)| row)
    }

    /// The session a client gets for these tokens.
    pub(crate) fn into_session(self, user_id: String, device_id: String) -> Session {
        Session {
            user_id,
            device_id,
            valid_until_ts: self.access_row.valid_until_ts,
            scope: self.access_row.scope,
            access_token: self.access_token,
            refresh_token: self.refresh.map(|(token, _)| token),
        }
    }
}

/// What a refreshable session's tokens are issued with, at its start and
/// at every refresh (kept on its refresh token's row).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refreshable {
    pub access_token_lifetime_ms: Option<i64>,
    pub refresh_token_lifetime_ms: Option<i64>,
    /// Synapse's ultimate session expiry.
    pub session_until_ts: Option<Timestamp>,
}

/// When a refreshable session's access and refresh tokens, issued at
/// `now`, stop working: their lifetimes, neither past the session's end
/// (Synapse's ultimate session expiry), as Synapse computes them at login
/// and at every refresh.
pub(crate) fn refreshable_expiries(
    now: Timestamp,
    access_token_lifetime_ms: Option<i64>,
    refresh_token_lifetime_ms: Option<i64>,
    session_until_ts: Option<Timestamp>,
) -> (Option<Timestamp>, Option<Timestamp>) {
    let bounded = |lifetime: Option<i64>| {
        [lifetime.map(|ms| now.saturating_add(ms)), session_until_ts]
            .into_iter()
            .flatten()
            .min()
    };
    (
        bounded(access_token_lifetime_ms),
        bounded(refresh_token_lifetime_ms),
    )
}

/// Why no session is opened.
#[derive(Debug)]
pub enum SessionError {
    /// `rc_login.account`: too many logins of this user.
    LimitExceeded(LimitExceeded),
    /// Auth blocking refuses the user a new token.
    Blocked(Blocked),
    DisplayNameTooLong,
    /// The homeserver could not be told of the device in time (the calls
    /// stay queued).
    HomeserverUnreachable,
    /// The user was deactivated meanwhile.
    Deactivated,
    /// The user is locked (a grant approved, or a session refreshed, after
    /// the lock): nothing is ended, but no new tokens are made.
    Locked,
    /// The password changed since the one that logged in was checked.
    CredentialsChanged,
    /// Logged where it happened.
    Internal,
}

internal_error!(SessionError, store);

wrap_error!(Blocked => SessionError::Blocked, Blocked::Internal);

wrap_error!(LimitExceeded => SessionError::LimitExceeded);

impl From<DisplayNameTooLong> for SessionError {
    fn from(_: DisplayNameTooLong) -> Self {
        SessionError::DisplayNameTooLong
    }
}

impl Auth {
    /// The options of a legacy login or registration: refreshable when the
    /// client asked (`refresh_token: true`) and refresh tokens are on
    /// (`refreshable_access_token_lifetime` not null), as in Synapse.
    pub fn legacy_session_options(&self, refresh_token_requested: bool) -> SessionOptions {
        let sessions = &self.config.sessions;
        let ms = |v: Option<u64>| v.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX));
        match sessions.refreshable_access_token_lifetime_ms {
            Some(lifetime) if refresh_token_requested => SessionOptions {
                refreshable: true,
                access_token_lifetime_ms: ms(Some(lifetime)),
                refresh_token_lifetime_ms: ms(sessions.refresh_token_lifetime_ms),
                oauth: None,
            },
            _ => SessionOptions::default(),
        }
    }

    /// Whether `POST /refresh` is served (`refreshable_access_token_lifetime`
    /// not null, as in Synapse).
    pub fn legacy_refresh_enabled(&self) -> bool {
        self.config
            .sessions
            .refreshable_access_token_lifetime_ms
            .is_some()
    }

    /// Makes sure the device exists and issues its tokens, unless auth
    /// blocking refuses the user a new token.
    pub(crate) async fn start_session(
        &self,
        user_id: &str,
        device_id: Option<DeviceId>,
        display_name: Option<&str>,
        options: &SessionOptions,
    ) -> Result<Session, SessionError> {
        self.check_auth_blocking(Some(user_id)).await?;
        self.open_session_checked(user_id, None, device_id, display_name, options)
            .await
    }

    /// [`Auth::start_session`] for a login: counted by `rc_login.account`
    /// (per user, lower-cased) once the credentials are good. A password
    /// login passes the credentials version it verified: no token if the
    /// password changed meanwhile.
    pub(crate) async fn start_login_session(
        &self,
        user_id: &str,
        credentials_version: Option<i64>,
        device_id: Option<DeviceId>,
        display_name: Option<&str>,
        options: &SessionOptions,
    ) -> Result<Session, SessionError> {
        self.ratelimit(Limiter::LoginAccount, &user_id.to_lowercase())
            .await??;
        self.check_auth_blocking(Some(user_id)).await?;
        self.open_session_checked(
            user_id,
            credentials_version,
            device_id,
            display_name,
            options,
        )
        .await
    }

    /// [`Auth::start_session`] without auth blocking: for the admin API.
    pub(crate) async fn open_session(
        &self,
        user_id: &str,
        device_id: Option<DeviceId>,
        display_name: Option<&str>,
        options: &SessionOptions,
    ) -> Result<Session, SessionError> {
        self.open_session_checked(user_id, None, device_id, display_name, options)
            .await
    }

    async fn open_session_checked(
        &self,
        user_id: &str,
        credentials_version: Option<i64>,
        device_id: Option<DeviceId>,
        display_name: Option<&str>,
        options: &SessionOptions,
    ) -> Result<Session, SessionError> {
        if let Some(name) = display_name {
            check_device_display_name(name)?;
        }
        let device_id = match device_id {
            Some(d) => d.into_string(),
            None => self.new_device_id(),
        };
        let created = self
            .store
            .devices()
            .ensure_device(user_id, &device_id, display_name, Some(self.now()))
            .await?;
        self.provision_session(user_id, &device_id, display_name.filter(|_| created))
            .await?;
        match self
            .issue_session_tokens(user_id, &device_id, credentials_version, options)
            .await
        {
            Ok(tokens) => Ok(tokens.into_session(user_id.to_owned(), device_id)),
            Err(e) => {
                if created {
                    // The device was made for this session only.
                    self.store
                        .devices()
                        .delete_devices(user_id, std::slice::from_ref(&device_id))
                        .await?;
                }
                Err(e)
            }
        }
    }

    /// New tokens for a device the homeserver knows, unless the user was
    /// deactivated or (with `credentials_version`) changed their password
    /// since: then 403 as for any login of a deactivated user or with a
    /// wrong password.
    pub(crate) async fn issue_session_tokens(
        &self,
        user_id: &str,
        device_id: &str,
        credentials_version: Option<i64>,
        options: &SessionOptions,
    ) -> Result<SessionTokens, SessionError> {
        let tokens = self.new_session_tokens(user_id, device_id, options);
        let created = writes::create_session_token(
            &*self.store,
            &tokens.access_row,
            tokens.refresh_row(),
            credentials_version,
        )
        .await?;
        if created.is_some() {
            return Ok(tokens);
        }
        let deactivated = self
            .store
            .users()
            .get_user(user_id)
            .await?
            .is_none_or(|u| u.deactivated);
        Err(if deactivated {
            SessionError::Deactivated
        } else {
            SessionError::CredentialsChanged
        })
    }
}

impl Auth {
    /// A session's first tokens and their rows. Their lifetimes are fixed
    /// here: a non-refreshable token by `session_lifetime` and
    /// `nonrefreshable_access_token_lifetime`; a refreshable session's by
    /// its options, none past `session_lifetime` from now, which every
    /// refresh carries on (`session_until_ts`).
    pub(crate) fn new_session_tokens(
        &self,
        user_id: &str,
        device_id: &str,
        options: &SessionOptions,
    ) -> SessionTokens {
        let now = self.now();
        let oauth = options.oauth.as_ref();
        if !options.refreshable {
            return self.mint_tokens(
                user_id,
                device_id,
                self.config.sessions.token_valid_until(now),
                None,
                oauth,
            );
        }
        let session_until_ts = self
            .config
            .sessions
            .session_lifetime_ms
            .map(|ms| now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)));
        let refreshable = Refreshable {
            access_token_lifetime_ms: options.access_token_lifetime_ms,
            refresh_token_lifetime_ms: options.refresh_token_lifetime_ms,
            session_until_ts,
        };
        self.mint_tokens(user_id, device_id, None, Some(refreshable), oauth)
    }

    /// The tokens of one issue: a non-refreshable access token valid until
    /// `valid_until_ts`, or (`refreshable`) an access token and a refresh
    /// token with that session's lifetimes.
    pub(crate) fn mint_tokens(
        &self,
        user_id: &str,
        device_id: &str,
        valid_until_ts: Option<Timestamp>,
        refreshable: Option<Refreshable>,
        oauth: Option<&OAuthBinding>,
    ) -> SessionTokens {
        let localpart = identifiers::local_localpart(user_id, self.server_name()).unwrap_or("");
        let now = self.now();
        let access_token =
            tokens::generate(tokens::ACCESS_TOKEN_PREFIX, localpart, self.rng.as_ref());
        let mut access_row = NewAccessToken {
            token_hash: access_token.hash(),
            user_id: user_id.to_owned(),
            device_id: Some(device_id.to_owned()),
            puppet_owner: None,
            created_ts: now,
            valid_until_ts,
            oauth_client_id: oauth.map(|o| o.client_id.clone()),
            scope: oauth.map(|o| o.scope.clone()),
        };
        let refresh = refreshable.map(|r| {
            let (access_until, refresh_until) = refreshable_expiries(
                now,
                r.access_token_lifetime_ms,
                r.refresh_token_lifetime_ms,
                r.session_until_ts,
            );
            access_row.valid_until_ts = access_until;
            let token =
                tokens::generate(tokens::REFRESH_TOKEN_PREFIX, localpart, self.rng.as_ref());
            let row = NewRefreshToken {
                token_hash: token.hash(),
                user_id: user_id.to_owned(),
                device_id: device_id.to_owned(),
                oauth_client_id: oauth.map(|o| o.client_id.clone()),
                scope: oauth.map(|o| o.scope.clone()),
                created_ts: now,
                expires_ts: refresh_until,
                session_until_ts: r.session_until_ts,
                access_token_lifetime_ms: r.access_token_lifetime_ms,
                refresh_token_lifetime_ms: r.refresh_token_lifetime_ms,
            };
            (token, row)
        });
        SessionTokens {
            access_token,
            access_row,
            refresh,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::refreshable_expiries;

    #[test]
    fn refreshable_tokens_never_outlive_the_session() {
        // No session bound: the lifetimes as given, none for "never".
        assert_eq!(
            refreshable_expiries(1000, Some(300), None, None),
            (Some(1300), None)
        );
        // The session's end bounds both, and stands for a refresh token
        // that has no lifetime of its own.
        assert_eq!(
            refreshable_expiries(1000, Some(300), None, Some(1200)),
            (Some(1200), Some(1200))
        );
        assert_eq!(
            refreshable_expiries(1000, Some(300), Some(5000), Some(9000)),
            (Some(1300), Some(6000))
        );
        assert_eq!(refreshable_expiries(1000, None, None, None), (None, None));
        assert_eq!(
            refreshable_expiries(i64::MAX - 1, Some(300), None, None),
            (Some(i64::MAX), None)
        );
    }
}
