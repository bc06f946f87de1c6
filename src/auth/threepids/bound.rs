//! The addresses bound to accounts (`/account/3pid*`), the lookup that
//! lets a user log in with their address, and password reset by email:
//! each spends a validated session of `super` at most once.

use super::{canonicalise_email, check_client_secret, required, ThreepidError, MEDIUM_EMAIL};
use crate::auth::identifiers::UserId;
use crate::auth::policy::check_new_password;
use crate::auth::uia::email_identity::EMAIL_IDENTITY;
use crate::auth::uia::{Flows, Reauth, UiaRequest};
use crate::auth::Auth;
use crate::store::UserThreepid;
use serde_json::{json, Map, Value};

impl Auth {
    /// `GET /account/3pid`.
    pub async fn list_threepids(
        &self,
        user_id: &UserId,
    ) -> Result<Vec<UserThreepid>, ThreepidError> {
        Ok(self
            .store
            .threepids()
            .list_user_threepids(user_id.as_str())
            .await?)
    }

    /// `POST /account/3pid/add`: re-authentication, then the address of a
    /// validated session (`sid`, `client_secret` in the body) is bound.
    #[tracing::instrument(skip_all)]
    pub async fn add_threepid(&self, req: Reauth<'_>) -> Result<(), ThreepidError> {
        self.check_3pid_changes()?;
        let sid = required(req.body, "sid")?.to_owned();
        let client_secret = required(req.body, "client_secret")?.to_owned();
        check_client_secret(&client_secret)?;
        let passed = self.reauthenticate(&req, &[], false).await?;
        if passed.previous_result.is_some() {
            return Ok(());
        }
        self.bind_validated_session(
            req.requester.user_id.as_str(),
            &sid,
            &client_secret,
            &passed.session_id,
        )
        .await?;
        self.finish_uia(&passed.session_id, &json!({ "added": true }))
            .await?;
        Ok(())
    }

    /// Binds the address of the validated session `sid` to the user,
    /// spending the session for `used_by` (the operation: a UIA session,
    /// an account page's form). Fails if someone else has the address.
    pub(crate) async fn bind_validated_session(
        &self,
        user_id: &str,
        sid: &str,
        client_secret: &str,
        used_by: &str,
    ) -> Result<(), ThreepidError> {
        self.check_3pid_changes()?;
        check_client_secret(client_secret)?;
        let session = self
            .use_validated_session(sid, client_secret, used_by)
            .await??;
        let now = self.now();
        let bound = self
            .store
            .threepids()
            .add_user_threepid(&UserThreepid {
                user_id: user_id.to_owned(),
                medium: session.medium.clone(),
                address: session.address.clone(),
                validated_ts: session.validated_ts.unwrap_or(now),
                added_ts: now,
            })
            .await?;
        if !bound {
            let owner = self
                .store
                .threepids()
                .get_user_by_threepid(&session.medium, &session.address)
                .await?;
            if owner.as_deref() != Some(user_id) {
                return Err(ThreepidError::InUse);
            }
        }
        Ok(())
    }

    /// `POST /account/3pid/delete`. Deleting an address the user does not
    /// have is not an error (the spec lists none).
    #[tracing::instrument(skip_all)]
    pub async fn delete_threepid(
        &self,
        user_id: &UserId,
        body: &Map<String, Value>,
    ) -> Result<(), ThreepidError> {
        self.check_3pid_changes()?;
        let medium = required(body, "medium")?;
        let address = required(body, "address")?;
        let address = if medium == MEDIUM_EMAIL {
            canonicalise_email(address)?
        } else {
            address.to_owned()
        };
        self.store
            .threepids()
            .delete_user_threepid(user_id.as_str(), medium, &address)
            .await?;
        Ok(())
    }

    /// The user a login's `m.id.thirdparty` identifier names.
    pub(crate) async fn find_user_by_threepid(
        &self,
        medium: &str,
        address: &str,
    ) -> crate::store::StoreResult<Option<crate::store::User>> {
        let address = match medium {
            MEDIUM_EMAIL => match canonicalise_email(address) {
                Ok(a) => a,
                Err(_) => return Ok(None),
            },
            _ => address.to_owned(),
        };
        match self
            .store
            .threepids()
            .get_user_by_threepid(medium, &address)
            .await?
        {
            Some(user_id) => Ok(self.store.users().get_user(&user_id).await?),
            None => Ok(None),
        }
    }

    /// `POST /account/password` without an access token: the password of
    /// the user owning the validated address is set. With `logout_devices`
    /// (the default) every device and token of the user goes.
    #[tracing::instrument(skip_all)]
    pub async fn reset_password(
        &self,
        method: &str,
        uri: &str,
        body: &Map<String, Value>,
        auth: Option<&Map<String, Value>>,
    ) -> Result<(), ThreepidError> {
        self.email_enabled()
            .map_err(|_| ThreepidError::ResetUnavailable)?;
        match body.get("new_password") {
            Some(Value::String(p)) => check_new_password(&self.config.password_config.policy, p)?,
            None | Some(Value::Null) => {}
            Some(_) => {
                return Err(ThreepidError::WrongType {
                    field: "new_password",
                    expected: "a string",
                })
            }
        }
        let logout_devices = match body.get("logout_devices") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ThreepidError::WrongType {
                    field: "logout_devices",
                    expected: "a boolean",
                })
            }
        };
        let passed = self
            .check_uia(
                UiaRequest {
                    method,
                    uri,
                    body,
                    auth,
                    requester: None,
                    secret_fields: &["new_password"],
                },
                &Flows::single(&[EMAIL_IDENTITY]),
            )
            .await?;
        if passed.previous_result.is_some() {
            return Ok(());
        }
        let hash = passed
            .secret_hashes
            .get("new_password")
            .ok_or(ThreepidError::MissingParam("new_password"))?;
        let address = self
            .uia_validated_email(&passed.session_id)
            .await?
            .ok_or_else(|| {
                ThreepidError::internal("password reset passed without an email stage")
            })?;
        let user_id = self
            .store
            .threepids()
            .get_user_by_threepid(MEDIUM_EMAIL, &address)
            .await?
            .ok_or(ThreepidError::NoLongerBound)?;
        let deleted = crate::auth::writes::change_password(
            &*self.store,
            &user_id,
            hash,
            logout_devices,
            None,
            None,
        )
        .await?;
        self.forget_devices_on_homeserver(&user_id, &deleted)
            .await?;
        self.providers_logged_out(&user_id, &deleted, None).await;
        self.finish_uia(&passed.session_id, &json!({ "password_reset": true }))
            .await?;
        tracing::info!(%user_id, "password reset by email");
        Ok(())
    }
}
