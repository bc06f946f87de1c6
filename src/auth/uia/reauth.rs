//! Re-authentication: a signed-in user proves again that it is them
//! before a sensitive operation (device deletion, password change,
//! deactivation, adding an address, a login token).

use super::{Flows, UiaError, UiaPassed, UiaRequest};
use crate::auth::identifiers::UserId;
use crate::auth::{Auth, Requester};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// A request protected by re-authentication: where it was sent and its body.
pub struct Reauth<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub body: &'a Map<String, Value>,
    pub auth: Option<&'a Map<String, Value>>,
    pub requester: &'a Requester,
}

impl Auth {
    /// The flows offered to a user proving it is them: each stage that
    /// offers itself for the user, in the registry's order, a flow of its
    /// own (`m.login.password` when passwords may re-authenticate and the
    /// user has one, `m.login.sso` when linked to a provider, every
    /// provider's login type as Synapse).
    pub(crate) async fn reauth_flows(&self, user_id: &UserId) -> Result<Flows, UiaError> {
        let mut types: Vec<&str> = Vec::new();
        for stage in self.uia_stages.iter() {
            let kind = stage.kind();
            if types.contains(&kind) {
                continue;
            }
            if stage.offered_for_reauth(self, user_id).await? {
                types.push(kind);
            }
        }
        if types.is_empty() {
            return Err(UiaError::NoWayToReauthenticate);
        }
        Ok(Flows {
            flows: types.into_iter().map(|t| vec![t.to_owned()]).collect(),
        })
    }

    /// Runs re-authentication for `req`: the operation may go ahead when
    /// this returns (and does nothing new if `previous_result` is set).
    ///
    /// With `may_skip` (device deletion, as in Synapse) and
    /// `ui_auth.session_timeout` set, a token whose user passed UIA within
    /// the timeout goes ahead without a new challenge.
    pub(crate) async fn reauthenticate(
        &self,
        req: &Reauth<'_>,
        secret_fields: &[&str],
        may_skip: bool,
    ) -> Result<UiaPassed, UiaError> {
        let timeout = self.config.ui_auth_session_timeout_ms as i64;
        if may_skip && timeout > 0 {
            let last = self
                .store
                .access_tokens()
                .get_token_last_validated(req.requester.token_id)
                .await?;
            if last.is_some_and(|t| self.now() - t < timeout) {
                return Ok(UiaPassed {
                    session_id: String::new(),
                    params: req.body.clone(),
                    secret_hashes: HashMap::new(),
                    previous_result: None,
                    server_data: Map::new(),
                });
            }
        }
        let flows = self.reauth_flows(&req.requester.user_id).await?;
        let passed = self
            .check_uia(
                UiaRequest {
                    method: req.method,
                    uri: req.uri,
                    body: req.body,
                    auth: req.auth,
                    requester: Some(req.requester),
                    secret_fields,
                },
                &flows,
            )
            .await?;
        if passed.previous_result.is_none() && timeout > 0 {
            self.store
                .access_tokens()
                .set_token_last_validated(req.requester.token_id, self.now())
                .await?;
        }
        Ok(passed)
    }
}
