//! Token introspection for a homeserver that delegates its auth here
//! (Synapse's `matrix_authentication_service` seam, RFC 7662 in shape).
//! The same budget as request authentication: one lookup, no write (but
//! the first use of a token issued with a refresh token, recorded once).
//! An OAuth grant's token reports the scope it was granted; a legacy one
//! everything its user may do.

use super::identifiers::{is_local, DeviceId};
use super::oauth::scope::{
    SCOPE_API, SCOPE_API_UNSTABLE, SCOPE_DEVICE_PREFIX, SCOPE_DEVICE_PREFIX_UNSTABLE, SCOPE_GUEST,
    SCOPE_GUEST_UNSTABLE, SCOPE_SYNAPSE_ADMIN,
};
use super::requester::AuthnError;
use super::Auth;
use subtle::ConstantTimeEq;

/// An active token, as introspection describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    /// The user's localpart.
    pub username: String,
    /// The full user ID.
    pub sub: String,
    pub scope: Vec<String>,
    pub device_id: Option<String>,
    /// Seconds left, for a token that expires.
    pub expires_in: Option<i64>,
}

/// What the discovery document says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub account_management_uri: String,
    pub introspection_endpoint: String,
}

impl Auth {
    /// Whether `presented` is the secret shared with the homeserver
    /// (constant time). `None` when no homeserver is configured.
    pub fn is_homeserver_secret(&self, presented: &str) -> Option<bool> {
        let expected = self.config.matrix.as_ref()?.secret.expose();
        Some(bool::from(expected.as_bytes().ct_eq(presented.as_bytes())))
    }

    /// The introspection answer for `token`: `{"active": false}` for any
    /// token that is unknown, revoked, expired, or whose user may not act.
    /// Every refusal of request authentication is such an answer, so the
    /// only error is [`AuthnError::Internal`] (logged where it happened).
    pub async fn introspect(&self, token: &str) -> Result<Option<Introspection>, AuthnError> {
        let requester = match self.authenticate(token).await {
            Ok(r) => r,
            Err(AuthnError::Internal) => return Err(AuthnError::Internal),
            Err(_) => return Ok(None),
        };
        // A foreign user's "username" is its whole ID.
        let localpart = if is_local(&requester.user_id, self.server_name()) {
            requester.user_id.localpart()
        } else {
            requester.user_id.as_str()
        };
        let scope = match &requester.scope {
            // An OAuth grant's token: the scope it was granted.
            Some(granted) => granted.split_whitespace().map(str::to_owned).collect(),
            None => legacy_scope(&requester),
        };
        Ok(Some(Introspection {
            username: localpart.to_owned(),
            sub: requester.user_id.to_string(),
            scope,
            device_id: requester.device_id.map(DeviceId::into_string),
            expires_in: requester
                .valid_until_ts
                .map(|until| ((until - self.now()) / 1000).max(0)),
        }))
    }

    /// The discovery document the homeserver reads (`issuer`,
    /// `account_management_uri`: the account pages unless
    /// `matrix.account_management_uri` says otherwise, ...); `None`
    /// without `public_baseurl`.
    pub fn openid_configuration(&self) -> Option<Discovery> {
        let base = self.config.public_baseurl.as_deref()?;
        let account = self
            .config
            .matrix
            .as_ref()
            .and_then(|m| m.account_management_uri.clone())
            .unwrap_or_else(|| format!("{base}account/"));
        Some(Discovery {
            issuer: base.to_owned(),
            account_management_uri: account,
            introspection_endpoint: format!("{base}oauth2/introspect"),
        })
    }
}

/// What a legacy token may do, in scopes: everything its user may (a
/// guest's scope for a guest), on its device, and Synapse's admin scope for
/// an admin.
fn legacy_scope(requester: &super::Requester) -> Vec<String> {
    let mut scope = if requester.is_guest {
        vec![SCOPE_GUEST.to_owned(), SCOPE_GUEST_UNSTABLE.to_owned()]
    } else {
        vec![SCOPE_API.to_owned(), SCOPE_API_UNSTABLE.to_owned()]
    };
    if let Some(d) = &requester.device_id {
        scope.push(format!("{SCOPE_DEVICE_PREFIX}{d}"));
        scope.push(format!("{SCOPE_DEVICE_PREFIX_UNSTABLE}{d}"));
    }
    if requester.admin {
        scope.push(SCOPE_SYNAPSE_ADMIN.to_owned());
    }
    scope
}
