//! Logging in and re-authenticating through the providers: Synapse's
//! `validate_login` (providers first, in order, then the local database if
//! `password_config.localdb_enabled`), and the local user a provider
//! vouched for, created on its first login when the provider says so.

use super::jwt::LOGIN_TYPE_JWT;
use super::{Authenticated, LoginResponse, NewUserProfile, Providers};
use crate::auth::identifiers::{local_localpart, parse_identifier, UserIdentifier};
use crate::auth::login::{LoginError, LOGIN_TYPE_PASSWORD};
use crate::auth::register::RegisterError;
use crate::auth::threepids::{canonicalise_email, MEDIUM_EMAIL};
use crate::auth::{Auth, Session};
use crate::store::UserThreepid;
use serde_json::{Map, Value};
use std::sync::Arc;
use zeroize::Zeroizing;

impl Auth {
    /// Asks `providers` (in their order) about logins, logouts and
    /// registrations.
    pub fn with_providers(mut self, providers: Providers) -> Self {
        self.uia_stages = Arc::new(crate::auth::uia::registry::stages(&providers));
        self.providers = Arc::new(providers);
        self
    }

    /// The login types `GET /login` offers beyond `m.login.password`:
    /// `org.matrix.login.jwt` when enabled, then the providers' types.
    pub(crate) fn provider_login_types(&self) -> Vec<&str> {
        let jwt = self.providers.jwt.as_ref().map(|_| LOGIN_TYPE_JWT);
        jwt.into_iter()
            .chain(self.providers.login_types())
            .filter(|t| *t != LOGIN_TYPE_PASSWORD)
            .collect()
    }

    /// Synapse's `validate_login`: who `submission` (a `/login` body or a
    /// UIA `auth` dict of type `login_type`) proves to be. `Ok(None)` for
    /// bad credentials; an error for a malformed request, an unknown login
    /// type, or a deactivated or locked account.
    pub(crate) async fn validate_login(
        &self,
        login_type: &str,
        submission: &Map<String, Value>,
        is_reauth: bool,
    ) -> Result<Option<Authenticated>, LoginError> {
        let pc = &self.config.password_config;
        let is_password = login_type == LOGIN_TYPE_PASSWORD;
        let provider_fields = self.providers.fields(login_type);
        let local = is_password && pc.localdb_enabled;
        if !local && provider_fields.is_none() {
            return Err(LoginError::UnknownLoginType);
        }
        let password = if is_password {
            let allowed = if is_reauth {
                pc.reauth_enabled()
            } else {
                pc.login_enabled()
            };
            if !allowed {
                return Err(LoginError::PasswordLoginDisabled);
            }
            match submission.get("password") {
                Some(Value::String(p)) => Some(Zeroizing::new(p.clone())),
                None | Some(Value::Null) => {
                    return Err(LoginError::MissingParam("Missing param: password".into()))
                }
                Some(_) => return Err(LoginError::InvalidParam("Bad parameter: password".into())),
            }
        } else {
            None
        };
        // Over Synapse's length limit no password can be right: refused as
        // a wrong one, before any provider, normalisation or hash.
        if password
            .as_deref()
            .is_some_and(|p| crate::auth::password::too_long(p))
        {
            return Ok(None);
        }
        let identifier = parse_identifier(submission)?;
        let user = match &identifier {
            UserIdentifier::User(typed) => typed.clone(),
            UserIdentifier::ThirdParty { medium, address } => {
                if let Some(password) = &password {
                    let found = self
                        .providers
                        .check_3pid_auth(medium, address, password)
                        .await;
                    if found.is_some() {
                        return Ok(found);
                    }
                }
                match self.find_user_by_threepid(medium, address).await? {
                    Some(u) => u.user_id,
                    None => {
                        if let (true, Some(password)) = (local, &password) {
                            // The same work as a wrong password.
                            self.check_password(&identifier, password).await?;
                        }
                        return Ok(None);
                    }
                }
            }
        };
        if let Some(fields) = provider_fields {
            let mut login_dict = Map::new();
            let mut missing = Vec::new();
            for field in fields {
                match submission.get(field) {
                    Some(v) => {
                        login_dict.insert(field.clone(), v.clone());
                    }
                    None => missing.push(field.as_str()),
                }
            }
            if !missing.is_empty() {
                return Err(LoginError::MissingParam(format!(
                    "Missing parameters for login type {login_type}: {}",
                    missing.join(", ")
                )));
            }
            let found = self
                .providers
                .check_auth(&user, login_type, &login_dict)
                .await;
            if found.is_some() {
                return Ok(found);
            }
        }
        if let (true, Some(password)) = (local, &password) {
            let checked = self
                .check_password(&UserIdentifier::User(user), password)
                .await?;
            return Ok(checked.map(|(user_id, version)| {
                let mut found = Authenticated::user(user_id);
                found.credentials_version = Some(version);
                found
            }));
        }
        Ok(None)
    }

    /// Who the credentials of a `POST /login` of any type but the
    /// application services' prove to be: a JSON Web Token, or
    /// [`Auth::validate_login`]; then the local user (created if the
    /// provider asked for it) who may log in.
    #[tracing::instrument(skip_all, fields(login_type))]
    pub(crate) async fn check_login(
        &self,
        login_type: &str,
        submission: &Map<String, Value>,
    ) -> Result<(String, Authenticated), LoginError> {
        let found = match &self.providers.jwt {
            Some(jwt) if login_type == LOGIN_TYPE_JWT => {
                let token = match submission.get("token") {
                    Some(Value::String(t)) => t,
                    _ => return Err(LoginError::BadJwt("Token field for JWT is missing".into())),
                };
                jwt.verify(token, self.now(), self.server_name())
                    .map_err(|why| LoginError::BadJwt(format!("JWT validation failed: {why}")))?
            }
            _ => self
                .validate_login(login_type, submission, false)
                .await?
                .ok_or(LoginError::BadCredentials)?,
        };
        let user_id = self
            .provider_user(&found)
            .await?
            .ok_or(LoginError::BadCredentials)?;
        Ok((user_id, found))
    }

    /// A session for the user [`Auth::check_login`] found; the provider's
    /// post-login callback hears of it.
    pub(crate) async fn finish_login(
        &self,
        (user_id, found): (String, Authenticated),
        device_id: Option<crate::auth::identifiers::DeviceId>,
        display_name: Option<&str>,
        options: &crate::auth::SessionOptions,
    ) -> Result<Session, LoginError> {
        let session = self
            .start_login_session(
                &user_id,
                found.credentials_version,
                device_id,
                display_name,
                options,
            )
            .await?;
        if let Some(callback) = found.on_login {
            let response = LoginResponse {
                user_id: session.user_id.clone(),
                device_id: session.device_id.clone(),
                access_token: session.access_token.expose().to_owned(),
                home_server: self.server_name().to_owned(),
            };
            if tokio::time::timeout(super::DEFAULT_TIMEOUT, callback(response))
                .await
                .is_err()
            {
                tracing::warn!("a provider's post-login callback timed out");
            }
        }
        Ok(session)
    }

    /// The local user `found` names, created first if the provider asked
    /// for it. `None` (with a log line) when it is not a user of this
    /// server, or does not exist and the provider did not ask for it.
    pub(crate) async fn provider_user(
        &self,
        found: &Authenticated,
    ) -> Result<Option<String>, LoginError> {
        let Some(localpart) = local_localpart(&found.user_id, self.server_name()) else {
            tracing::warn!(user_id = %found.user_id, "a provider vouched for a user of another server");
            return Ok(None);
        };
        let user = match self.store.users().get_user(&found.user_id).await? {
            Some(user) => user,
            None => {
                let Some(profile) = &found.create_with else {
                    tracing::warn!(user_id = %found.user_id, "a provider vouched for a user that does not exist");
                    return Ok(None);
                };
                let Some(user_id) = self.create_provider_user(localpart, profile).await? else {
                    return Ok(None);
                };
                match self.store.users().get_user(&user_id).await? {
                    Some(user) => user,
                    None => {
                        tracing::error!("a user just created is missing");
                        return Err(LoginError::Internal);
                    }
                }
            }
        };
        crate::auth::login::check_may_log_in(&user)?;
        Ok(Some(user.user_id))
    }

    /// Creates the user a provider vouched for, with the display name and
    /// 3PIDs of its directory. A localpart mxauth cannot take is a failed
    /// login (logged), not an error the client sees.
    async fn create_provider_user(
        &self,
        localpart: &str,
        profile: &NewUserProfile,
    ) -> Result<Option<String>, LoginError> {
        // A new account: auth blocking as for any registration.
        let email = profile
            .threepids
            .iter()
            .find(|(medium, _)| medium == "email")
            .map(|(m, a)| (m.as_str(), a.as_str()));
        self.check_registration_blocking(email, None).await?;
        let user_id = match self.create_local_user(Some(localpart), None).await {
            Ok(user_id) => user_id,
            // Created meanwhile by a login on another process.
            Err(RegisterError::UserInUse) => {
                return Ok(Some(crate::auth::identifiers::user_id(
                    &localpart.to_lowercase(),
                    self.server_name(),
                )))
            }
            Err(RegisterError::Internal) => return Err(LoginError::Internal),
            Err(e) => {
                tracing::warn!(localpart, "a provider's user cannot be created here: {e:?}");
                return Ok(None);
            }
        };
        if let Some(name) = &profile.display_name {
            self.store
                .users()
                .set_profile_fields(&user_id, None, Some(name))
                .await?;
        }
        let now = self.now();
        for (medium, address) in &profile.threepids {
            let address = if medium == MEDIUM_EMAIL {
                match canonicalise_email(address) {
                    Ok(a) => a,
                    Err(_) => {
                        tracing::warn!(user_id, "a provider gave an invalid email address");
                        continue;
                    }
                }
            } else {
                address.clone()
            };
            if self
                .store
                .threepids()
                .get_user_by_threepid(medium, &address)
                .await?
                .is_some()
            {
                tracing::warn!(
                    user_id,
                    medium,
                    "a provider's 3PID is bound to another user"
                );
                continue;
            }
            self.store
                .threepids()
                .add_user_threepid(&UserThreepid {
                    user_id: user_id.clone(),
                    medium: medium.clone(),
                    address,
                    validated_ts: now,
                    added_ts: now,
                })
                .await?;
        }
        self.provision_new_user(&user_id, profile.display_name.as_deref())
            .await?;
        tracing::info!(
            user_id,
            "user created on its first login through a provider"
        );
        Ok(Some(user_id))
    }

    /// Tells the providers (`on_logged_out`) that these devices' sessions
    /// of `user_id` ended; `access_token` when the request that ended
    /// them presented it.
    pub(crate) async fn providers_logged_out(
        &self,
        user_id: &str,
        device_ids: &[String],
        access_token: Option<&str>,
    ) {
        if self.providers.is_empty() || device_ids.is_empty() {
            return;
        }
        let devices: Vec<Option<&str>> = device_ids.iter().map(|d| Some(d.as_str())).collect();
        self.providers
            .on_logged_out(user_id, &devices, access_token)
            .await;
    }

    /// The same for a token that had no device.
    pub(crate) async fn providers_logged_out_deviceless(&self, user_id: &str, token: &str) {
        if !self.providers.is_empty() {
            self.providers
                .on_logged_out(user_id, &[None], Some(token))
                .await;
        }
    }
}
