//! `m.login.registration_token`: reserves a use of the token for the
//! session (a pending use, completed when the registration is done, given
//! back if the session expires unused). Once per session. Offered when
//! `registration_requires_token`.

use super::{Stage, StageError, StageResult};
use crate::auth::Auth;
use crate::error::ErrCode;
use crate::store::UiaSession;
use serde_json::{json, Map, Value};

pub const REGISTRATION_TOKEN: &str = "m.login.registration_token";

/// The server-dict key holding the registration token a session reserved.
pub(crate) const REGISTRATION_TOKEN_KEY: &str = "registration_token";

pub(crate) struct RegistrationToken;

#[async_trait::async_trait]
impl Stage for RegistrationToken {
    fn kind(&self) -> &str {
        REGISTRATION_TOKEN
    }

    async fn check(
        &self,
        auth: &Auth,
        dict: &Map<String, Value>,
        session: &UiaSession,
    ) -> StageResult {
        let token = match dict.get("token") {
            Some(Value::String(t)) => t,
            None | Some(Value::Null) => {
                return Err(StageError::Failed(
                    ErrCode::MissingParam,
                    "Missing registration token".into(),
                ))
            }
            Some(_) => {
                return Err(StageError::Failed(
                    ErrCode::InvalidParam,
                    "Registration token must be a string".into(),
                ))
            }
        };
        if let Some(held) = session.server_dict.get(REGISTRATION_TOKEN_KEY) {
            return if held == token {
                Ok(json!(token))
            } else {
                Err(StageError::Failed(
                    ErrCode::Unauthorized,
                    "Invalid registration token".into(),
                ))
            };
        }
        // Reserved and recorded in the session together: concurrent
        // requests of one session take one use between them.
        if !auth
            .store
            .registration()
            .reserve_registration_token_for_session(
                &session.session_id,
                REGISTRATION_TOKEN_KEY,
                token,
                auth.now(),
            )
            .await?
        {
            return Err(StageError::Failed(
                ErrCode::Unauthorized,
                "Invalid registration token".into(),
            ));
        }
        Ok(json!(token))
    }

    fn fallback_page(&self) -> Option<&'static str> {
        Some("registration_token.html")
    }

    fn held_token_key(&self) -> Option<&'static str> {
        Some(REGISTRATION_TOKEN_KEY)
    }
}
