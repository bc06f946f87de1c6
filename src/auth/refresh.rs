//! Refresh tokens: rotation, and the session behind either of its tokens.
//!
//! One rule for the legacy `POST /refresh` and the OAuth 2.0 token
//! endpoint. A refresh token is used once: the refresh answers a new
//! access token and a new refresh token, and the old one is recorded as
//! replaced. A client whose answer was lost may present the old one again
//! until the new access token has been used (or the new refresh token
//! refreshed): it gets another new pair, and the pair it never received
//! stops working. Presented after that, the old token ends the whole
//! session (the device is logged out): either it was stolen or its
//! client is confused, and a stolen session must not go on.
//!
//! As in Synapse, the chain keeps its last two refresh tokens (the current
//! one and the one it replaced); the access token issued with the older
//! one works until it expires or the newer one is itself refreshed.

use super::session::{OAuthBinding, Refreshable, SessionError, SessionTokens};
use super::tokens;
use super::writes::{self, RefreshRefusal, Rotation};
use super::{Auth, Session};
use crate::clock::Timestamp;
use crate::store::{RefreshToken, StoreResult};

/// Why a refresh token is not exchanged.
#[derive(Debug)]
pub enum RefreshError {
    /// Malformed, unknown, superseded long ago, its session ended, its user
    /// deactivated; or (legacy API) an OAuth grant's token.
    UnknownToken,
    /// It, or its session (`session_lifetime`), has expired.
    Expired,
    /// A replaced token presented after its successor was used: the session
    /// has been ended.
    Reused,
    /// (OAuth) another client's token.
    WrongClient,
    /// No new tokens for this user: locked (the token is kept, and works
    /// again once the user is unlocked).
    Session(SessionError),
    /// Logged where it happened.
    Internal,
}

internal_error!(RefreshError, store);

wrap_error!(SessionError => RefreshError::Session, SessionError::Internal);

/// Whether `token` (found, locked) may be exchanged now by `client_id`
/// (`None`: the legacy API, which knows only tokens without a client).
pub(crate) fn check_refresh(
    token: &RefreshToken,
    client_id: Option<&str>,
    now: Timestamp,
) -> Result<(), RefreshRefusal> {
    if token.oauth_client_id.as_deref() != client_id {
        return Err(match client_id {
            Some(_) => RefreshRefusal::WrongClient,
            None => RefreshRefusal::Unknown,
        });
    }
    if token
        .next
        .as_ref()
        .is_some_and(|next| next.refreshed || next.access_token_used)
    {
        return Err(RefreshRefusal::Reused {
            user_id: token.user_id.clone(),
            device_id: token.device_id.clone(),
        });
    }
    let past = |ts: Option<Timestamp>| ts.is_some_and(|ts| ts <= now);
    if past(token.expires_ts) || past(token.session_until_ts) {
        return Err(RefreshRefusal::Expired);
    }
    Ok(())
}

impl Auth {
    /// Exchanges a refresh token for a new access token and refresh token
    /// of the same session (same device, lifetimes, client and scope; none
    /// past the session's end). `client_id`: the OAuth client presenting
    /// it, which must be the one it was issued to; `None` for the legacy
    /// API.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_session(
        &self,
        refresh_token: &str,
        client_id: Option<&str>,
    ) -> Result<Session, RefreshError> {
        if !tokens::is_well_formed_refresh(refresh_token) {
            return Err(RefreshError::UnknownToken);
        }
        let now = self.now();
        let mut minted: Option<SessionTokens> = None;
        let mut session_of: Option<(String, String)> = None;
        let rotation = writes::rotate_refresh_token(
            &*self.store,
            &tokens::hash_token(refresh_token),
            |current| {
                check_refresh(current, client_id, now)?;
                let oauth = current
                    .oauth_client_id
                    .clone()
                    .map(|client_id| OAuthBinding {
                        client_id,
                        scope: current.scope.clone().unwrap_or_default(),
                    });
                let refreshable = Refreshable {
                    access_token_lifetime_ms: current.access_token_lifetime_ms,
                    refresh_token_lifetime_ms: current.refresh_token_lifetime_ms,
                    session_until_ts: current.session_until_ts,
                };
                let new = self.mint_tokens(
                    &current.user_id,
                    &current.device_id,
                    None,
                    Some(refreshable),
                    oauth.as_ref(),
                );
                let rows = (
                    new.access_row.clone(),
                    new.refresh_row().cloned().unwrap_or_default(),
                );
                minted = Some(new);
                session_of = Some((current.user_id.clone(), current.device_id.clone()));
                Ok(rows)
            },
        )
        .await?;
        match rotation {
            Rotation::Rotated(_) => {}
            Rotation::Refused(RefreshRefusal::Reused { user_id, device_id }) => {
                tracing::warn!(%user_id, "a replaced refresh token was used again: session ended");
                self.end_session(&user_id, &device_id).await?;
                return Err(RefreshError::Reused);
            }
            Rotation::Refused(RefreshRefusal::Expired) => return Err(RefreshError::Expired),
            Rotation::Refused(RefreshRefusal::WrongClient) => {
                return Err(RefreshError::WrongClient)
            }
            Rotation::Refused(RefreshRefusal::Unknown) => return Err(RefreshError::UnknownToken),
            Rotation::Refused(RefreshRefusal::Locked) => {
                return Err(RefreshError::Session(SessionError::Locked))
            }
        }
        match (minted, session_of) {
            (Some(tokens), Some((user_id, device_id))) => {
                Ok(tokens.into_session(user_id, device_id))
            }
            _ => Err(RefreshError::internal(
                "a rotation wrote tokens it did not mint",
            )),
        }
    }

    /// The session an access token or a refresh token belongs to (expired
    /// or not): its user, device and OAuth client. `None` for an unknown
    /// token, or one with no device (a puppet token). For RFC 7009
    /// revocation.
    pub async fn find_session_by_token(
        &self,
        token: &str,
    ) -> StoreResult<Option<(String, String, Option<String>)>> {
        let hash = tokens::hash_token(token);
        if tokens::is_well_formed(token) {
            let owner = self.store.access_tokens().get_token_owner(&hash).await?;
            return Ok(owner.and_then(|o| Some((o.user_id, o.device_id?, o.oauth_client_id))));
        }
        if tokens::is_well_formed_refresh(token) {
            let found = self.store.refresh_tokens().get_refresh_token(&hash).await?;
            return Ok(found.map(|r| (r.user_id, r.device_id, r.oauth_client_id)));
        }
        Ok(None)
    }

    /// Ends a session as `POST /logout` does: the device goes with every
    /// access and refresh token of it, the homeserver is told (through the
    /// queue) and the providers hear of the logout. `false`: the user
    /// had no such device.
    pub async fn end_session(&self, user_id: &str, device_id: &str) -> StoreResult<bool> {
        let deleted = self
            .store
            .devices()
            .delete_devices(user_id, &[device_id.to_owned()])
            .await?;
        self.forget_devices_on_homeserver(user_id, &deleted).await?;
        self.providers_logged_out(user_id, &deleted, None).await;
        Ok(!deleted.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::check_refresh;
    use crate::auth::writes::RefreshRefusal;
    use crate::store::{RefreshToken, Successor};

    fn token() -> RefreshToken {
        RefreshToken {
            id: 1,
            user_id: "@a:x".into(),
            device_id: "D".into(),
            oauth_client_id: None,
            scope: None,
            created_ts: 0,
            expires_ts: None,
            session_until_ts: None,
            access_token_lifetime_ms: Some(300_000),
            refresh_token_lifetime_ms: None,
            access_token_id: Some(7),
            next: None,
        }
    }

    fn next(refreshed: bool, access_token_used: bool) -> Option<Successor> {
        Some(Successor {
            id: 2,
            refreshed,
            access_token_used,
        })
    }

    #[test]
    fn a_replaced_token_may_be_retried_until_its_successor_is_used() {
        let mut t = token();
        assert_eq!(check_refresh(&t, None, 10), Ok(()));
        t.next = next(false, false);
        assert_eq!(check_refresh(&t, None, 10), Ok(()), "the answer was lost");
        let reused = Err(RefreshRefusal::Reused {
            user_id: "@a:x".into(),
            device_id: "D".into(),
        });
        t.next = next(false, true);
        assert_eq!(check_refresh(&t, None, 10), reused, "new access token used");
        t.next = next(true, false);
        assert_eq!(
            check_refresh(&t, None, 10),
            reused,
            "new refresh token used"
        );
        // Reuse is judged before expiry, as in Synapse.
        t.expires_ts = Some(5);
        assert_eq!(check_refresh(&t, None, 10), reused);
    }

    #[test]
    fn expiry_and_the_session_end_bound_a_refresh_token() {
        let mut t = token();
        t.expires_ts = Some(10);
        assert_eq!(check_refresh(&t, None, 9), Ok(()));
        assert_eq!(check_refresh(&t, None, 10), Err(RefreshRefusal::Expired));
        let mut t = token();
        t.session_until_ts = Some(10);
        assert_eq!(check_refresh(&t, None, 10), Err(RefreshRefusal::Expired));
    }

    #[test]
    fn a_token_is_exchanged_only_by_its_own_client() {
        let mut t = token();
        assert_eq!(
            check_refresh(&t, Some("c1"), 0),
            Err(RefreshRefusal::WrongClient),
            "a legacy token at the OAuth endpoint"
        );
        t.oauth_client_id = Some("c1".into());
        assert_eq!(check_refresh(&t, Some("c1"), 0), Ok(()));
        assert_eq!(
            check_refresh(&t, Some("c2"), 0),
            Err(RefreshRefusal::WrongClient)
        );
        assert_eq!(
            check_refresh(&t, None, 0),
            Err(RefreshRefusal::Unknown),
            "an OAuth token at the legacy API"
        );
    }
}
