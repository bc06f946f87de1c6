//! The provider round trip of `m.login.sso` as a UIA stage (the stage
//! itself: `auth/uia/sso.rs`), for users with a link to a configured
//! provider: completed on its fallback page, which sends the browser to
//! the provider; the callback completes the stage only if the identity
//! that came back is linked to the session's user. And `POST
//! /login/get_token` (MSC3882), behind UIA.

use super::login_token::LOGIN_TYPE_TOKEN;
use super::{SsoError, LOGIN_TYPE_SSO};
use crate::auth::tokens::IssuedToken;
use crate::auth::uia::Reauth;
use crate::auth::Auth;
use crate::config::OidcProviderConfig;
use crate::store::StoreResult;
use serde_json::json;

/// What a UIA session would let its client do, from the method and URI
/// that started it, in words for the re-authentication page ("A client is
/// trying to ..."), as Synapse's `sso_auth_confirm.html` shows the
/// session's description.
pub fn operation_description(method: &str, uri: &str) -> String {
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    // `/_matrix/client/{version}/rest...`
    let rest = path
        .strip_prefix("/_matrix/client/")
        .and_then(|r| r.split_once('/'))
        .map(|(_, rest)| rest)
        .unwrap_or(path.trim_start_matches('/'));
    let segments: Vec<&str> = rest.split('/').collect();
    let known = match (method, segments.as_slice()) {
        ("DELETE", ["devices", _]) => Some("remove a device from your account"),
        ("POST", ["delete_devices"]) => Some("remove devices from your account"),
        ("POST", ["account", "password"]) => Some("change your password"),
        ("POST", ["account", "deactivate"]) => Some("deactivate your account"),
        ("POST", ["account", "3pid", "add"]) => Some("add an email address to your account"),
        ("POST", ["login", "get_token"]) => Some("sign in to your account on another device"),
        ("POST", ["keys", "device_signing", "upload"]) => {
            Some("add a device signing key to your account")
        }
        _ => None,
    };
    match known {
        Some(d) => d.to_owned(),
        None => format!("make a request to your account ({method} {path})"),
    }
}

impl Auth {
    /// The configured providers the user has a link with: the ones UIA's
    /// `m.login.sso` can send them to.
    pub async fn sso_providers_of(&self, user_id: &str) -> StoreResult<Vec<&OidcProviderConfig>> {
        if self.sso_providers().is_empty() {
            return Ok(Vec::new());
        }
        let links = self.store.sso().list_external_ids(user_id).await?;
        Ok(self
            .sso_providers()
            .iter()
            .filter(|p| links.iter().any(|(idp, _)| *idp == p.idp_id))
            .collect())
    }

    /// Whether `m.login.sso` is offered to re-authenticate `user_id`.
    pub(crate) async fn sso_reauth_available(&self, user_id: &str) -> StoreResult<bool> {
        Ok(!self.sso_providers_of(user_id).await?.is_empty())
    }

    /// Starts re-authentication at `idp_id` for UIA session `session_id`
    /// (from the stage's fallback page).
    pub async fn start_sso_uia(
        &self,
        session_id: &str,
        idp_id: &str,
    ) -> Result<super::SsoStart, SsoError> {
        let (session, flows) = self.fallback_session(session_id).await?;
        let user = session.user_id.ok_or(SsoError::NotSignedIn)?;
        if !flows.flows.iter().flatten().any(|s| s == LOGIN_TYPE_SSO) {
            return Err(SsoError::SsoNotOffered);
        }
        if !self
            .sso_providers_of(&user)
            .await?
            .iter()
            .any(|p| p.idp_id == idp_id)
        {
            return Err(SsoError::UnknownProvider);
        }
        self.start_sso(idp_id, "", Some(session_id.to_owned()))
            .await
    }

    /// The provider sent back `subject`: the stage is done if that identity
    /// is linked to the session's user; any other identity fails it.
    pub(crate) async fn complete_sso_uia_stage(
        &self,
        session_id: &str,
        idp_id: &str,
        subject: &str,
    ) -> Result<(), SsoError> {
        let (session, _) = self.fallback_session(session_id).await?;
        let owner = self
            .store
            .sso()
            .get_user_by_external_id(idp_id, subject)
            .await?;
        if owner.is_none() || owner != session.user_id {
            tracing::info!(
                idp_id,
                "UIA m.login.sso: the identity is not the session user's"
            );
            return Err(SsoError::NotTheSessionUser);
        }
        self.store
            .uia()
            .mark_uia_stage_completed(session_id, LOGIN_TYPE_SSO, &json!(owner))
            .await?;
        Ok(())
    }

    /// Whether `m.login.token` is accepted at `POST /login`.
    pub fn login_token_enabled(&self) -> bool {
        !self.sso_providers().is_empty()
            || self.config.login_via_existing_session.enabled
            || self.compat_sso_enabled()
    }

    /// `POST /login/get_token`: a login token for the requester's user, for
    /// signing in another device; behind UIA unless the config says not.
    pub async fn get_login_token(&self, req: Reauth<'_>) -> Result<(IssuedToken, i64), SsoError> {
        let cfg = &self.config.login_via_existing_session;
        if !cfg.enabled {
            return Err(SsoError::GetTokenDisabled);
        }
        let session_id = if cfg.require_ui_auth {
            let passed = self.reauthenticate(&req, &[], false).await?;
            if passed.previous_result.is_some() {
                return Err(SsoError::UiaAlreadyUsed);
            }
            // Empty when UIA was skipped (ui_auth.session_timeout).
            Some(passed.session_id).filter(|id| !id.is_empty())
        } else {
            None
        };
        let lifetime = cfg.token_timeout_ms as i64;
        let user_id = req.requester.user_id.as_str();
        let token = match session_id {
            // The token and the session's result in one transaction: one
            // token per session, whatever the concurrency.
            Some(id) => {
                let (token, row) = self.new_login_token(user_id, None, lifetime);
                let result = json!({ "issued": LOGIN_TYPE_TOKEN });
                if !self
                    .store
                    .sso()
                    .create_login_token_for_uia(&id, &result, &row)
                    .await?
                {
                    return Err(SsoError::UiaAlreadyUsed);
                }
                token
            }
            None => self.create_login_token_for(user_id, None, lifetime).await?,
        };
        Ok((token, lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::operation_description as d;

    #[test]
    fn operations_are_named_from_method_and_uri() {
        assert_eq!(
            d("DELETE", "/_matrix/client/v3/devices/ABC"),
            "remove a device from your account"
        );
        assert_eq!(
            d("DELETE", "/_matrix/client/r0/devices/ABC?x=1"),
            "remove a device from your account"
        );
        assert_eq!(
            d("POST", "/_matrix/client/v3/delete_devices"),
            "remove devices from your account"
        );
        assert_eq!(
            d("POST", "/_matrix/client/v3/account/password"),
            "change your password"
        );
        assert_eq!(
            d("POST", "/_matrix/client/v3/account/deactivate"),
            "deactivate your account"
        );
        assert_eq!(
            d("POST", "/_matrix/client/v3/account/3pid/add"),
            "add an email address to your account"
        );
        assert_eq!(
            d("POST", "/_matrix/client/v1/login/get_token"),
            "sign in to your account on another device"
        );
        assert_eq!(
            d("PUT", "/_matrix/client/v3/something?access_token=x"),
            "make a request to your account (PUT /_matrix/client/v3/something)"
        );
    }
}
