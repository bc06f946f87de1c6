//! `m.login.sso` as a UIA stage, for users with a link to a configured
//! provider: completed on its fallback page, which sends the browser to
//! the provider; the callback completes the stage only if the identity
//! that came back is linked to the session's user. And `POST
//! /login/get_token` (MSC3882), behind UIA.

use super::login_token::LOGIN_TYPE_TOKEN;
use super::LOGIN_TYPE_SSO;
use crate::auth::tokens::IssuedToken;
use crate::auth::uia::Reauth;
use crate::auth::Auth;
use crate::config::OidcProviderConfig;
use crate::error::{Error, Result};
use serde_json::json;

impl Auth {
    /// The configured providers the user has a link with: the ones UIA's
    /// `m.login.sso` can send them to.
    pub async fn sso_providers_of(&self, user_id: &str) -> Result<Vec<&OidcProviderConfig>> {
        if self.sso_providers().is_empty() {
            return Ok(Vec::new());
        }
        let links = self.store.list_external_ids(user_id).await?;
        Ok(self
            .sso_providers()
            .iter()
            .filter(|p| links.iter().any(|(idp, _)| *idp == p.idp_id))
            .collect())
    }

    /// Whether `m.login.sso` is offered to re-authenticate `user_id`.
    pub(crate) async fn sso_reauth_available(&self, user_id: &str) -> Result<bool> {
        Ok(!self.sso_providers_of(user_id).await?.is_empty())
    }

    /// Starts re-authentication at `idp_id` for UIA session `session_id`
    /// (from the stage's fallback page).
    pub async fn start_sso_uia(&self, session_id: &str, idp_id: &str) -> Result<super::SsoStart> {
        let (session, flows) = self.fallback_session(session_id).await?;
        let user = session
            .user_id
            .ok_or_else(|| Error::forbidden("This session is not for a signed-in user"))?;
        if !flows.flows.iter().flatten().any(|s| s == LOGIN_TYPE_SSO) {
            return Err(Error::unrecognized(
                400,
                "This session does not offer m.login.sso",
            ));
        }
        if !self
            .sso_providers_of(&user)
            .await?
            .iter()
            .any(|p| p.idp_id == idp_id)
        {
            return Err(Error::not_found("Unknown identity provider"));
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
    ) -> Result<()> {
        let (session, _) = self.fallback_session(session_id).await?;
        let owner = self.store.get_user_by_external_id(idp_id, subject).await?;
        if owner.is_none() || owner != session.user_id {
            tracing::info!(
                idp_id,
                "UIA m.login.sso: the identity is not the session user's"
            );
            return Err(Error::forbidden(
                "This identity provider account does not belong to the account you are \
                 signed in with",
            ));
        }
        self.store
            .mark_uia_stage_completed(session_id, LOGIN_TYPE_SSO, &json!(owner))
            .await?;
        Ok(())
    }

    /// Whether `m.login.token` is accepted at `POST /login`.
    pub fn login_token_enabled(&self) -> bool {
        !self.sso_providers().is_empty() || self.config.login_via_existing_session.enabled
    }

    /// `POST /login/get_token`: a login token for the requester's user, for
    /// signing in another device; behind UIA unless the config says not.
    pub async fn get_login_token(&self, req: Reauth<'_>) -> Result<(IssuedToken, i64)> {
        let cfg = &self.config.login_via_existing_session;
        if !cfg.enabled {
            return Err(Error::unrecognized(404, "Unrecognized request"));
        }
        let session_id = if cfg.require_ui_auth {
            let passed = self.reauthenticate(&req, &[], false).await?;
            if passed.previous_result.is_some() {
                return Err(Error::forbidden(
                    "This authentication was already used for a login token",
                ));
            }
            // Empty when UIA was skipped (ui_auth.session_timeout).
            Some(passed.session_id).filter(|id| !id.is_empty())
        } else {
            None
        };
        let lifetime = cfg.token_timeout_ms as i64;
        let user_id = &req.requester.user_id;
        let token = match session_id {
            // The token and the session's result in one transaction: one
            // token per session, whatever the concurrency.
            Some(id) => {
                let (token, row) = self.new_login_token(user_id, None, lifetime);
                let result = json!({ "issued": LOGIN_TYPE_TOKEN });
                if !self
                    .store
                    .create_login_token_for_uia(&id, &result, &row)
                    .await?
                {
                    return Err(Error::forbidden(
                        "This authentication was already used for a login token",
                    ));
                }
                token
            }
            None => self.create_login_token_for(user_id, None, lifetime).await?,
        };
        Ok((token, lifetime))
    }
}
