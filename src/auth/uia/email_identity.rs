//! `m.login.email.identity`: `threepid_creds` of an email validation
//! session that was validated (its link followed); the UIA session spends
//! it (`auth/threepids/` keeps the validation sessions and checks them).
//! Offered by registration when `email:` is configured, and by password
//! reset. No fallback page: the link in the mail is the page.

use super::{Stage, StageError, StageResult};
use crate::auth::Auth;
use crate::error::{ErrCode, Error};
use crate::store::UiaSession;
use serde_json::{Map, Value};

pub const EMAIL_IDENTITY: &str = "m.login.email.identity";

pub(crate) struct EmailIdentity;

#[async_trait::async_trait]
impl Stage for EmailIdentity {
    fn kind(&self) -> &str {
        EMAIL_IDENTITY
    }

    async fn check(
        &self,
        auth: &Auth,
        dict: &Map<String, Value>,
        session: &UiaSession,
    ) -> StageResult {
        auth.check_email_identity_stage(dict, &session.session_id)
            .await
            .map_err(Error::from)?
            .map_err(|why| StageError::Failed(ErrCode::ThreepidAuthFailed, why.to_string()))
    }

    fn fallback_page(&self) -> Option<&'static str> {
        None
    }
}
