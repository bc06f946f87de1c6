//! `m.login.sso` as a UIA stage, for users linked to a configured
//! provider. It is completed on its fallback page only: the page sends the
//! browser to the provider, and the callback records the stage if the
//! identity that came back is linked to the session's user
//! (`auth/sso/uia.rs`). A client's `auth` dict of this type then finds it
//! done.

use super::{Stage, StageError, StageResult};
use crate::auth::identifiers::UserId;
use crate::auth::sso::LOGIN_TYPE_SSO;
use crate::auth::Auth;
use crate::error::ErrCode;
use crate::store::{StoreResult, UiaSession};
use serde_json::{Map, Value};

pub(crate) struct Sso;

#[async_trait::async_trait]
impl Stage for Sso {
    fn kind(&self) -> &str {
        LOGIN_TYPE_SSO
    }

    async fn check(
        &self,
        auth: &Auth,
        _: &Map<String, Value>,
        session: &UiaSession,
    ) -> StageResult {
        let done = auth
            .store
            .uia()
            .get_uia_completed_stages(&session.session_id)
            .await?
            .into_iter()
            .find(|(s, _)| s == LOGIN_TYPE_SSO);
        done.map(|(_, result)| result).ok_or_else(|| {
            StageError::Failed(
                ErrCode::Forbidden,
                "Complete m.login.sso on its fallback page".into(),
            )
        })
    }

    /// The page that lists the user's providers (`http/routes/sso.rs`,
    /// Synapse's `sso_auth_confirm.html`).
    fn fallback_page(&self) -> Option<&'static str> {
        Some("sso_auth_confirm.html")
    }

    /// Users linked to an identity provider re-authenticate there.
    async fn offered_for_reauth(&self, auth: &Auth, user_id: &UserId) -> StoreResult<bool> {
        auth.sso_reauth_available(user_id.as_str()).await
    }
}
