//! `m.login.terms`: the client showed the policies of `params` and the
//! user accepted them (offered when `user_consent.require_at_registration`).

use super::{Stage, StageResult};
use crate::auth::Auth;
use crate::store::UiaSession;
use serde_json::{json, Map, Value};

pub const TERMS: &str = "m.login.terms";

pub(crate) struct Terms;

#[async_trait::async_trait]
impl Stage for Terms {
    fn kind(&self) -> &str {
        TERMS
    }

    async fn check(&self, _: &Auth, _: &Map<String, Value>, _: &UiaSession) -> StageResult {
        Ok(json!(true))
    }

    /// The privacy policy of `user_consent`, at its `/_matrix/consent` page.
    fn params(&self, auth: &Auth) -> Option<Value> {
        let consent = auth.config.user_consent.as_ref()?;
        let base = auth.config.public_baseurl.as_deref().unwrap_or("/");
        Some(json!({ "policies": { "privacy_policy": {
            "version": consent.version,
            "en": {
                "name": consent.policy_name,
                "url": format!("{base}_matrix/consent?v={}", consent.version),
            },
        }}}))
    }

    fn fallback_page(&self) -> Option<&'static str> {
        Some("terms.html")
    }
}
