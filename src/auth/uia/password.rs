//! `m.login.password` and every provider's login type as UIA stages: a
//! login (Synapse's `validate_login`, `auth/providers/login.rs`: providers
//! first, then the local database) that must prove to be the session's
//! user, under the failed-attempts limit of logins (`auth/ratelimit.rs`).

use super::{Stage, StageError, StageResult};
use crate::auth::identifiers::UserId;
use crate::auth::login::{failed_attempts_key, LoginError, LOGIN_TYPE_PASSWORD};
use crate::auth::Auth;
use crate::error::ErrCode;
use crate::store::StoreResult;
use crate::store::UiaSession;
use serde_json::{json, Map, Value};

pub const PASSWORD: &str = LOGIN_TYPE_PASSWORD;

/// `m.login.password`, re-authenticating with the local database's
/// password (a provider checking passwords offers it too: see
/// [`ProviderLoginType`]).
pub(crate) struct Password;

#[async_trait::async_trait]
impl Stage for Password {
    fn kind(&self) -> &str {
        PASSWORD
    }

    async fn check(
        &self,
        auth: &Auth,
        dict: &Map<String, Value>,
        session: &UiaSession,
    ) -> StageResult {
        check_login(auth, PASSWORD, dict, session).await
    }

    fn fallback_page(&self) -> Option<&'static str> {
        Some("password.html")
    }

    /// When passwords may re-authenticate and the user has one.
    async fn offered_for_reauth(&self, auth: &Auth, user_id: &UserId) -> StoreResult<bool> {
        let pc = &auth.config.password_config;
        if !(pc.reauth_enabled() && pc.localdb_enabled) {
            return Ok(false);
        }
        Ok(auth
            .store
            .users()
            .get_user(user_id.as_str())
            .await?
            .is_some_and(|u| u.password_hash.is_some()))
    }
}

/// A login type a provider checks (`auth_checkers`), one stage per type.
/// No fallback page.
pub(crate) struct ProviderLoginType(pub String);

#[async_trait::async_trait]
impl Stage for ProviderLoginType {
    fn kind(&self) -> &str {
        &self.0
    }

    async fn check(
        &self,
        auth: &Auth,
        dict: &Map<String, Value>,
        session: &UiaSession,
    ) -> StageResult {
        check_login(auth, &self.0, dict, session).await
    }

    fn fallback_page(&self) -> Option<&'static str> {
        None
    }

    /// When a provider of the type offers re-authentication (as Synapse;
    /// `m.login.password` only when passwords may re-authenticate).
    async fn offered_for_reauth(&self, auth: &Auth, _user_id: &UserId) -> StoreResult<bool> {
        let kind = self.0.as_str();
        Ok(
            (kind != PASSWORD || auth.config.password_config.reauth_enabled())
                && auth.providers.reauth_login_types().any(|t| t == kind),
        )
    }
}

/// The login must prove to be the session's user.
async fn check_login(
    auth: &Auth,
    stage: &str,
    dict: &Map<String, Value>,
    session: &UiaSession,
) -> StageResult {
    // Failed passwords count against the session's user, in the bucket
    // of its logins: a stolen access token does not buy endless guesses.
    let key = match &session.user_id {
        Some(user) => Some(user.to_lowercase()),
        None => failed_attempts_key(stage, dict, auth.server_name()),
    };
    let checked = auth
        .counting_failures(
            key.as_deref(),
            async {
                let Some(found) = auth.validate_login(stage, dict, true).await? else {
                    return Err(LoginError::BadCredentials);
                };
                let Some(user) = auth.provider_user(&found).await? else {
                    return Err(LoginError::BadCredentials);
                };
                if session.user_id.as_deref() != Some(user.as_str()) {
                    return Err(LoginError::WrongUser);
                }
                Ok(user)
            },
            |outcome| {
                outcome
                    .as_ref()
                    .is_err_and(LoginError::is_credential_failure)
            },
        )
        .await;
    match checked {
        Ok(user) => Ok(json!(user)),
        Err(LoginError::BadCredentials) => Err(StageError::Failed(
            ErrCode::Forbidden,
            "Invalid username or password".into(),
        )),
        Err(e) => Err(StageError::Fatal(e.into())),
    }
}
