//! Account operations behind re-authentication: password change and
//! deactivation. The rules answer with [`AccountError`]; the HTTP layer
//! renders it (`http/error/account.rs`).

use super::policy::{check_new_password, PasswordPolicyError};
use super::uia::{Reauth, UiaError};
use super::Auth;
use serde_json::{json, Value};

/// Why a password change or a deactivation is refused.
#[derive(Debug)]
pub enum AccountError {
    /// A field of the body has the wrong JSON type: `expected` is what it
    /// must be ("a string", "a boolean").
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    /// Re-authentication passed, but the body has no `new_password`.
    NoNewPassword,
    /// The password policy refuses the new password.
    WeakPassword(PasswordPolicyError),
    /// The UIA engine's answer (the challenge, a failed stage, an unknown
    /// session, no way to re-authenticate).
    Uia(UiaError),
    /// Logged where it happened.
    Internal,
}

internal_error!(AccountError, store);

wrap_error!(PasswordPolicyError => AccountError::WeakPassword);

wrap_error!(UiaError => AccountError::Uia, UiaError::Internal);

type Result<T> = std::result::Result<T, AccountError>;

impl Auth {
    /// `POST /account/password`. With `logout_devices` (the default) every
    /// other device and token of the user goes; the caller's stays.
    #[tracing::instrument(skip_all)]
    pub async fn change_password(&self, req: Reauth<'_>) -> Result<()> {
        match req.body.get("new_password") {
            Some(Value::String(p)) => check_new_password(&self.config.password_config.policy, p)?,
            None | Some(Value::Null) => {}
            Some(_) => {
                return Err(AccountError::WrongType {
                    field: "new_password",
                    expected: "a string",
                })
            }
        }
        let logout_devices = match req.body.get("logout_devices") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(AccountError::WrongType {
                    field: "logout_devices",
                    expected: "a boolean",
                })
            }
        };
        let passed = self.reauthenticate(&req, &["new_password"], false).await?;
        if passed.previous_result.is_some() {
            return Ok(());
        }
        let hash = passed
            .secret_hashes
            .get("new_password")
            .ok_or(AccountError::NoNewPassword)?;
        self.set_new_password(
            req.requester.user_id.as_str(),
            hash,
            logout_devices,
            req.requester.device_id.as_deref(),
            Some(req.requester.token_id),
        )
        .await?;
        self.finish_uia(&passed.session_id, &json!({ "password_changed": true }))
            .await?;
        Ok(())
    }

    /// `POST /account/deactivate`: tokens, devices and the password go; the
    /// user ID stays taken. There is no identity server to unbind from.
    #[tracing::instrument(skip_all)]
    pub async fn deactivate(&self, req: Reauth<'_>) -> Result<()> {
        let passed = self.reauthenticate(&req, &[], false).await?;
        if passed.previous_result.is_some() {
            return Ok(());
        }
        let erase = passed
            .params
            .get("erase")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.deactivate_everywhere(req.requester.user_id.as_str(), erase)
            .await?;
        self.finish_uia(&passed.session_id, &json!({ "deactivated": true }))
            .await?;
        tracing::info!(user_id = %req.requester.user_id, "account deactivated");
        Ok(())
    }

    /// A password change once it is allowed (here and from the account
    /// page). One transaction: the new password, a new credentials version
    /// (a login that verified the old one gets no token) and, with
    /// `logout_devices`, every other device and token of the user (but
    /// `keep_device` and `keep_token`); then the homeserver and the
    /// providers hear of the devices gone.
    pub(crate) async fn set_new_password(
        &self,
        user_id: &str,
        hash: &str,
        logout_devices: bool,
        keep_device: Option<&str>,
        keep_token: Option<i64>,
    ) -> crate::store::StoreResult<()> {
        let deleted = super::writes::change_password(
            &*self.store,
            user_id,
            hash,
            logout_devices,
            keep_device,
            keep_token,
        )
        .await?;
        self.forget_devices_on_homeserver(user_id, &deleted).await?;
        self.providers_logged_out(user_id, &deleted, None).await;
        Ok(())
    }

    /// Deactivation once it is allowed (here and from the account page):
    /// devices, tokens, addresses and browser sessions go (the user ID
    /// stays taken; with `erase`, the profile goes too), then the
    /// providers and the homeserver are told.
    pub(crate) async fn deactivate_everywhere(
        &self,
        user_id: &str,
        erase: bool,
    ) -> crate::store::StoreResult<()> {
        let deleted = super::writes::deactivate_user(&*self.store, user_id).await?;
        if erase {
            super::writes::erase_user(&*self.store, user_id).await?;
        }
        self.providers_logged_out(user_id, &deleted, None).await;
        self.deactivate_on_homeserver(user_id, erase).await
    }
}
