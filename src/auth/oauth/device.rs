//! The device authorization grant (RFC 8628; the Matrix spec's "Device
//! authorization grant", used by devices without a browser and by QR-code
//! login): the device asks for a device code and a user code; the user
//! types the user code at the verification page (`/link`), logs in and
//! approves or declines there; the device polls the token endpoint with
//! the device code and gets `authorization_pending`, `slow_down`,
//! `access_denied` or `expired_token`, and then its tokens, once.

use super::clients::{OAuthClient, DEVICE_CODE_GRANT_TYPE};
use super::grant::AuthorizeError;
use super::scope::{parse_scope, GrantScope, ScopeError};
use super::token::{TokenError, Tokens};
use crate::auth::ratelimit::{address_key, LimitExceeded, Limiter};
use crate::auth::session::SessionError;
use crate::auth::tokens::{hash_token, IssuedToken};
use crate::auth::Auth;
use crate::clock::{random_from, random_string, Timestamp};
use crate::store::{device_grant_status as status, DeviceGrant, StoreResult};

/// The verification page, under the issuer: short, to be typed.
pub const VERIFICATION_PATH: &str = "link";
/// The letters of a user code: consonants only (RFC 8628 §6.1: no vowels,
/// so no words; no look-alikes such as 0/O or 1/I).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// 20^8 ≈ 2.6·10^10 codes; guessing is rate limited per address.
const USER_CODE_LEN: usize = 8;
/// How often the device may poll at first (RFC 8628 §3.2 default).
pub const POLL_INTERVAL_MS: i64 = 5_000;
/// What `slow_down` adds to the interval (RFC 8628 §3.5).
const SLOW_DOWN_STEP_MS: i64 = 5_000;
/// How long an expired device code still answers `expired_token` (then it
/// is swept and unknown: `invalid_grant`).
pub const EXPIRED_KEPT_MS: i64 = 60 * 60 * 1000;

/// The device authorization endpoint's answer.
#[derive(Debug)]
pub struct DeviceAuthorization {
    pub device_code: IssuedToken,
    /// As shown to the user: `BCDF-GHJK`.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in_s: i64,
    pub interval_s: i64,
}

/// Why a typed user code leads nowhere.
#[derive(Debug)]
pub enum UserCodeError {
    /// Unknown, expired, or decided already (one answer for all).
    Unknown,
    LimitExceeded(LimitExceeded),
    Internal,
}

internal_error!(UserCodeError, store);

wrap_error!(LimitExceeded => UserCodeError::LimitExceeded);

/// A user code as stored: upper case, letters of the alphabet only (what
/// the user typed may have spaces, dashes, lower case).
pub fn normalise_user_code(typed: &str) -> String {
    typed
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A user code as shown: two groups of four.
pub fn display_user_code(code: &str) -> String {
    match code.len() == USER_CODE_LEN && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        true => format!("{}-{}", &code[..4], &code[4..]),
        false => code.to_owned(),
    }
}

impl Auth {
    /// `POST /oauth2/device`: a device code and a user code for `client`
    /// (which registered the device code grant), for `scope` (checked as
    /// `/authorize` checks it). Each is a row: rate limited per address.
    pub async fn start_device_authorization(
        &self,
        client: &OAuthClient,
        scope: Option<&str>,
        ip: Option<&str>,
    ) -> Result<DeviceAuthorization, TokenError> {
        if !client
            .grant_types
            .iter()
            .any(|g| g == DEVICE_CODE_GRANT_TYPE)
        {
            return Err(TokenError::UnauthorizedClient);
        }
        let scope = parse_scope(scope.unwrap_or(""))
            .map_err(|e: ScopeError| TokenError::InvalidScope(e.to_string()))?;
        self.ratelimit(Limiter::OAuthAuthorize, address_key(ip))
            .await?
            .map_err(TokenError::LimitExceeded)?;
        let lifetime = self
            .config
            .oauth
            .as_ref()
            .map_or(10 * 60 * 1000, |o| o.device_code_lifetime_ms);
        let now = self.now();
        // A clash of user codes is rare (live codes are few of 20^8): try
        // again with new ones.
        for _ in 0..5 {
            let device_code = IssuedToken::new(random_string(self.rng.as_ref(), 43));
            let user_code = random_from(self.rng.as_ref(), USER_CODE_LEN, USER_CODE_ALPHABET);
            let grant = DeviceGrant {
                device_grant_id: random_string(self.rng.as_ref(), 24),
                device_code_hash: device_code.hash(),
                user_code: user_code.clone(),
                client_id: client.client_id.clone(),
                scope: scope.as_string(),
                created_ts: now,
                expires_ts: now.saturating_add(lifetime),
                interval_ms: POLL_INTERVAL_MS,
                last_polled_ts: None,
                browser_binding_hash: None,
                status: status::PENDING.to_owned(),
                user_id: None,
                auth_ts: None,
                device_id: None,
            };
            if self
                .store
                .device_grants()
                .create_device_grant(&grant)
                .await?
            {
                let verification_uri = format!("{}{VERIFICATION_PATH}", self.oauth_issuer());
                let shown = display_user_code(&user_code);
                return Ok(DeviceAuthorization {
                    device_code,
                    verification_uri_complete: format!("{verification_uri}?code={user_code}"),
                    verification_uri,
                    user_code: shown,
                    expires_in_s: lifetime / 1000,
                    interval_s: POLL_INTERVAL_MS / 1000,
                });
            }
        }
        tracing::error!("no free user code after five tries");
        Err(TokenError::Internal)
    }

    /// The verification page's form: the pending grant of the typed user
    /// code, now bound to this browser; its ID. Each try counts against
    /// the address (guessing).
    pub async fn device_grant_by_user_code(
        &self,
        typed: &str,
        binding_hash: &[u8],
        ip: Option<&str>,
    ) -> Result<String, UserCodeError> {
        self.ratelimit(Limiter::OAuthUserCode, address_key(ip))
            .await??;
        let code = normalise_user_code(typed);
        if code.len() != USER_CODE_LEN {
            return Err(UserCodeError::Unknown);
        }
        let grant = self
            .store
            .device_grants()
            .find_pending_by_user_code(&code, self.now())
            .await?
            .ok_or(UserCodeError::Unknown)?;
        self.store
            .device_grants()
            .bind_device_grant(&grant.device_grant_id, binding_hash)
            .await?;
        Ok(grant.device_grant_id)
    }

    /// The device grant a page continues, if this browser typed its code,
    /// it is pending and not expired; with its client and scope.
    pub async fn device_grant_for_browser(
        &self,
        device_grant_id: &str,
        binding_hash: &[u8],
    ) -> Result<(DeviceGrant, OAuthClient, GrantScope), AuthorizeError> {
        let grant = self
            .store
            .device_grants()
            .get_device_grant(device_grant_id, self.now())
            .await?
            .filter(|g| g.status == status::PENDING)
            .filter(|g| {
                g.browser_binding_hash.as_deref().is_some_and(|bound| {
                    bool::from(subtle::ConstantTimeEq::ct_eq(bound, binding_hash))
                })
            })
            .ok_or(AuthorizeError::UnknownGrant)?;
        let (client, scope) = self
            .grant_client_and_scope(&grant.client_id, &grant.scope)
            .await?;
        Ok((grant, client, scope))
    }

    /// The grant now belongs to the browser with the new cookie (set at
    /// login).
    pub async fn rebind_device_grant(
        &self,
        device_grant_id: &str,
        binding_hash: &[u8],
    ) -> StoreResult<()> {
        self.store
            .device_grants()
            .bind_device_grant(device_grant_id, binding_hash)
            .await
    }

    /// The user's decision at the consent page. An admin scope is granted
    /// to admins only: for anyone else the grant is declined
    /// (`AuthorizeError::AdminOnly`), and the device hears `access_denied`.
    pub async fn decide_device_grant(
        &self,
        grant: &DeviceGrant,
        scope: &GrantScope,
        user_id: &str,
        auth_ts: Timestamp,
        approve: bool,
    ) -> Result<(), AuthorizeError> {
        let admin_refused = approve
            && scope.admin
            && !self
                .store
                .users()
                .get_user(user_id)
                .await?
                .is_some_and(|u| u.admin);
        let decision = match approve && !admin_refused {
            true => status::APPROVED,
            false => status::DENIED,
        };
        if !self
            .store
            .device_grants()
            .decide_device_grant(
                &grant.device_grant_id,
                decision,
                user_id,
                auth_ts,
                self.now(),
            )
            .await?
        {
            return Err(AuthorizeError::UnknownGrant);
        }
        match admin_refused {
            true => Err(AuthorizeError::AdminOnly),
            false => Ok(()),
        }
    }

    /// `grant_type=urn:ietf:params:oauth:grant-type:device_code`: where the
    /// grant stands, or (once approved) its tokens, once.
    pub async fn poll_device_code(
        &self,
        client: &OAuthClient,
        device_code: Option<&str>,
    ) -> Result<Tokens, TokenError> {
        let code = device_code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| TokenError::InvalidRequest("device_code is missing".into()))?;
        let unknown = || TokenError::InvalidGrant("Unknown device code".into());
        let grant = self
            .store
            .device_grants()
            .get_by_device_code(&hash_token(code))
            .await?
            .ok_or_else(unknown)?;
        if grant.client_id != client.client_id {
            return Err(unknown());
        }
        let now = self.now();
        if now >= grant.expires_ts {
            return Err(TokenError::ExpiredToken);
        }
        match grant.status.as_str() {
            status::PENDING => {
                let too_soon = grant
                    .last_polled_ts
                    .is_some_and(|last| now - last < grant.interval_ms);
                let interval = match too_soon {
                    true => grant.interval_ms + SLOW_DOWN_STEP_MS,
                    false => grant.interval_ms,
                };
                self.store
                    .device_grants()
                    .record_poll(&grant.device_grant_id, now, interval)
                    .await?;
                Err(match too_soon {
                    true => TokenError::SlowDown,
                    false => TokenError::AuthorizationPending,
                })
            }
            status::DENIED => Err(TokenError::AccessDenied),
            status::APPROVED => self.exchange_device_grant(client, &grant, now).await,
            _ => Err(TokenError::InvalidGrant(
                "The device code was used already".into(),
            )),
        }
    }

    async fn exchange_device_grant(
        &self,
        client: &OAuthClient,
        grant: &DeviceGrant,
        now: Timestamp,
    ) -> Result<Tokens, TokenError> {
        let used = || TokenError::InvalidGrant("The device code was used already".into());
        let (Some(user_id), Some(auth_ts)) = (grant.user_id.as_deref(), grant.auth_ts) else {
            return Err(used());
        };
        if !self
            .store
            .device_grants()
            .exchange_device_grant(&grant.device_grant_id, now)
            .await?
        {
            return Err(used());
        }
        let scope = parse_scope(&grant.scope).map_err(|_| used())?;
        let session = match self.open_grant_session(client, user_id, &scope).await {
            Ok(session) => session,
            Err(e) => {
                // Not the device's fault (the homeserver away, a limit):
                // its next poll may try again. An account locked or
                // deactivated since the approval is final: an unlock does
                // not bring the old approval back.
                let final_refusal = matches!(
                    e,
                    TokenError::Session(SessionError::Locked | SessionError::Deactivated)
                );
                if !final_refusal {
                    self.store
                        .device_grants()
                        .reopen_device_grant(&grant.device_grant_id)
                        .await?;
                }
                return Err(e);
            }
        };
        self.store
            .device_grants()
            .set_device_grant_device(&grant.device_grant_id, &session.device_id)
            .await?;
        let id_token = match scope.openid {
            true => Some(
                self.id_token(client, user_id, None, auth_ts, &session)
                    .await?,
            ),
            false => None,
        };
        Ok(Tokens { session, id_token })
    }

    /// Sweeps device grants expired longer than [`EXPIRED_KEPT_MS`].
    pub async fn sweep_device_grants(&self) -> StoreResult<u64> {
        self.store
            .device_grants()
            .sweep_device_grants(self.now() - EXPIRED_KEPT_MS)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_typed_loosely_and_shown_in_two_groups() {
        assert_eq!(normalise_user_code(" bcdf-ghjk "), "BCDFGHJK");
        assert_eq!(normalise_user_code("BCDF GHJK"), "BCDFGHJK");
        assert_eq!(display_user_code("BCDFGHJK"), "BCDF-GHJK");
        assert_eq!(display_user_code("BCD"), "BCD");
        // Whatever a link carries is shown as it is, never cut mid-character.
        assert_eq!(display_user_code("éééé"), "éééé");
        assert_eq!(display_user_code("abcédef"), "abcédef");
        assert!(USER_CODE_ALPHABET
            .iter()
            .all(|c| !b"AEIOU01".contains(c) && c.is_ascii_uppercase()));
    }
}
