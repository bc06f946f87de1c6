//! `m.login.recaptcha`: the widget's response, checked at siteverify by
//! the verifier `Auth::captcha` (offered when `recaptcha` is configured).

use super::{Stage, StageError, StageResult};
use crate::auth::Auth;
use crate::error::{ErrCode, Error};
use crate::store::UiaSession;
use serde_json::{json, Map, Value};

pub const RECAPTCHA: &str = "m.login.recaptcha";

pub(crate) struct Recaptcha;

#[async_trait::async_trait]
impl Stage for Recaptcha {
    fn kind(&self) -> &str {
        RECAPTCHA
    }

    async fn check(&self, auth: &Auth, dict: &Map<String, Value>, _: &UiaSession) -> StageResult {
        let response = match dict.get("response") {
            Some(Value::String(r)) if !r.is_empty() => r,
            _ => {
                return Err(StageError::Failed(
                    ErrCode::CaptchaNeeded,
                    "Captcha response is required".into(),
                ))
            }
        };
        let Some(verifier) = &auth.captcha else {
            return Err(Error::internal("m.login.recaptcha offered without a verifier").into());
        };
        match verifier.verify(response).await {
            Ok(true) => Ok(json!(true)),
            Ok(false) => Err(StageError::Failed(
                ErrCode::Unauthorized,
                "Captcha authentication failed".into(),
            )),
            Err(why) => {
                tracing::warn!("could not verify a captcha: {why}");
                Err(StageError::Failed(
                    ErrCode::Unauthorized,
                    "Captcha authentication failed".into(),
                ))
            }
        }
    }

    /// The site key the client's widget needs.
    fn params(&self, auth: &Auth) -> Option<Value> {
        let captcha = auth.config.recaptcha.as_ref()?;
        Some(json!({ "public_key": captcha.public_key }))
    }

    fn fallback_page(&self) -> Option<&'static str> {
        Some("recaptcha.html")
    }
}
