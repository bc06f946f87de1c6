//! Registration (`POST /register`) through UIA, and `/register/available`.

use super::guests::hide_guest_token;
use super::identifiers::{check_new_localpart, user_id, DeviceId};
use super::login::APP_SERVICE_LOGIN_TYPE;
use super::policy::check_new_password;
use super::ratelimit::{address_key, Limiter};
use super::threepids::MEDIUM_EMAIL;
use super::uia::{
    Flows, UiaRequest, DUMMY, RECAPTCHA, REGISTRATION_TOKEN, REGISTRATION_TOKEN_KEY, TERMS,
};
use super::{Auth, Session};
use crate::error::{ErrCode, Error, Result};
use crate::store::NewUser;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The server-dict key of the device a registration logged in on.
const REGISTERED_DEVICE_KEY: &str = "registered_device";

/// The registration fields, read from the session's body.
#[derive(Debug, Default, Deserialize)]
pub struct RegisterParams {
    pub username: Option<String>,
    pub password: Option<String>,
    /// Parsed by [`parse_params`] with the rule every path shares.
    #[serde(skip)]
    pub device_id: Option<DeviceId>,
    pub initial_device_display_name: Option<String>,
    #[serde(default)]
    pub inhibit_login: bool,
    #[serde(default)]
    pub refresh_token: bool,
}

pub struct RegisterRequest<'a> {
    pub guest: bool,
    pub method: &'a str,
    pub uri: &'a str,
    /// The body without `auth`.
    pub body: &'a Map<String, Value>,
    pub auth: Option<&'a Map<String, Value>>,
    /// The request's access token, if any (application services register
    /// their users with their `as_token`).
    pub access_token: Option<&'a str>,
    /// The client's address: for `rc_registration`, and an `as_token` is
    /// honoured only from its service's `ip_range_whitelist`.
    pub client_ip: Option<&'a str>,
}

#[derive(Debug)]
pub enum Registered {
    LoggedIn(Session),
    /// `inhibit_login`: the account exists, no device or token was made.
    NoLogin {
        user_id: String,
    },
}

impl Auth {
    /// The registration flows, from the config as Synapse computes them:
    /// the base flow, with reCAPTCHA and then a registration token put in
    /// front when required.
    pub(crate) fn registration_flows(&self) -> Flows {
        let mut flows = Flows::single(&[DUMMY]);
        if let Some(consent) = self
            .config
            .user_consent
            .as_ref()
            .filter(|c| c.require_at_registration)
        {
            for f in &mut flows.flows {
                f.insert(0, TERMS.to_owned());
            }
            let base = self.config.public_baseurl.as_deref().unwrap_or("/");
            flows.params.insert(
                TERMS.to_owned(),
                json!({ "policies": { "privacy_policy": {
                    "version": consent.version,
                    "en": {
                        "name": consent.policy_name,
                        "url": format!("{base}_matrix/consent?v={}", consent.version),
                    },
                }}}),
            );
        }
        if let Some(captcha) = &self.config.recaptcha {
            for f in &mut flows.flows {
                f.insert(0, RECAPTCHA.to_owned());
            }
            flows.params.insert(
                RECAPTCHA.to_owned(),
                json!({ "public_key": captcha.public_key }),
            );
        }
        if self.config.registration_requires_token {
            for f in &mut flows.flows {
                f.insert(0, REGISTRATION_TOKEN.to_owned());
            }
        }
        flows
    }

    #[tracing::instrument(skip_all)]
    pub async fn register(&self, req: RegisterRequest<'_>) -> Result<Registered> {
        // Application services are neither refused nor counted.
        if req.body.get("type").and_then(Value::as_str) == Some(APP_SERVICE_LOGIN_TYPE)
            && !req.guest
        {
            return self
                .register_app_service_user(
                    req.access_token,
                    req.client_ip,
                    &parse_params(req.body)?,
                )
                .await;
        }
        // Every call (both UIA steps) is checked; a registration is counted.
        let address = address_key(req.client_ip);
        self.ratelimit_check(Limiter::Registration, address).await?;
        // A call without a session starts one (a row kept for
        // `uia_session_lifetime`): how many an address may start is bounded.
        let starts_session = req.auth.and_then(|a| a.get("session")).is_none();
        if !req.guest && starts_session {
            self.ratelimit(Limiter::RegistrationSession, address)
                .await?;
        }
        if req.guest {
            let session = self.register_guest(req.body).await?;
            self.ratelimit_record(Limiter::Registration, address)
                .await?;
            return Ok(Registered::LoggedIn(session));
        }
        if !self.config.enable_registration {
            return Err(Error::forbidden("Registration has been disabled"));
        }
        self.check_hs_disabled()?;
        let fields = parse_params(req.body)?;
        // A session that already registered someone is a replay: the
        // username it used is taken by then, by itself.
        let replay = match req
            .auth
            .and_then(|a| a.get("session"))
            .and_then(Value::as_str)
        {
            Some(sid) => self
                .store
                .get_uia_session(sid)
                .await?
                .is_some_and(|s| s.result.is_some()),
            None => false,
        };
        if !replay {
            if let Some(name) = &fields.username {
                let localpart = name.to_lowercase();
                if !self.check_guest_upgrade(&localpart, req.body).await? {
                    self.check_username_available(&localpart).await?;
                }
            }
        }
        if let Some(password) = &fields.password {
            check_new_password(&self.config.password_config.policy, password)?;
        }

        let body = hide_guest_token(req.body);
        let passed = self
            .check_uia(
                UiaRequest {
                    method: req.method,
                    uri: req.uri,
                    body: &body,
                    auth: req.auth,
                    requester: None,
                    secret_fields: &["password"],
                },
                &self.with_email_flows(self.registration_flows()),
            )
            .await?;
        let params = parse_params(&passed.params)?;

        let mut device_id = params.device_id;
        let registered_user = match &passed.previous_result {
            Some(previous) => {
                let user_id = previous_user(previous)?;
                if let Some(device) = self.check_registration_replay(&user_id, &passed).await? {
                    device_id = Some(super::identifiers::DeviceId::parse(device)?);
                }
                user_id
            }
            None => {
                let email = self.check_registration_email(&passed.session_id).await?;
                let threepid = email.as_deref().map(|a| (MEDIUM_EMAIL, a));
                self.check_registration_blocking(threepid, None).await?;
                let password_hash = passed
                    .secret_hashes
                    .get("password")
                    .cloned()
                    .ok_or_else(|| Error::missing_param("Missing params: password"))?;
                let chosen = self.registration_choices(&passed).await?;
                let username = chosen.username.as_deref().or(params.username.as_deref());
                let upgraded = self
                    .upgrade_guest_from_params(&passed.params, username, &password_hash)
                    .await?;
                let user_id = match upgraded {
                    Some(guest) => guest,
                    None => {
                        self.create_local_user(username, Some(password_hash))
                            .await?
                    }
                };
                // A reserved address has room from the start (Synapse does
                // the same, before the address is even bound).
                if threepid.is_some_and(|(m, a)| self.config.usage.is_reserved_threepid(m, a)) {
                    self.store
                        .upsert_monthly_active_user(&user_id, self.now())
                        .await?;
                }
                self.apply_registration_choices(&user_id, &chosen).await?;
                if let Some(token) = passed
                    .server_data
                    .get(REGISTRATION_TOKEN_KEY)
                    .and_then(Value::as_str)
                {
                    self.store.settle_registration_token(token, true).await?;
                }
                if let Some(consent) = self
                    .config
                    .user_consent
                    .as_ref()
                    .filter(|c| c.require_at_registration)
                {
                    self.store
                        .set_consent_version(&user_id, &consent.version)
                        .await?;
                }
                match self
                    .finish_uia(&passed.session_id, &json!({ "user_id": user_id }))
                    .await?
                {
                    None => {
                        self.bind_registration_email(&passed.session_id, &user_id)
                            .await?;
                        self.ratelimit_record(Limiter::Registration, address)
                            .await?;
                        user_id
                    }
                    // A concurrent request of the same session won: use its user.
                    Some(previous) => previous_user(&previous)?,
                }
            }
        };

        if params.inhibit_login {
            return Ok(Registered::NoLogin {
                user_id: registered_user,
            });
        }
        let session = self
            .start_session(
                &registered_user,
                device_id,
                params.initial_device_display_name.as_deref(),
            )
            .await?;
        if passed.previous_result.is_none() {
            self.store
                .set_uia_server_value(
                    &passed.session_id,
                    REGISTERED_DEVICE_KEY,
                    &json!(session.device_id),
                )
                .await?;
        }
        Ok(Registered::LoggedIn(session))
    }

    /// A replay of a spent registration session (the client may have lost
    /// the answer) logs in again on the device the registration made, and
    /// only while nothing has ended that login: refused (403) once the
    /// account is deactivated, its password changed, or that device logged
    /// out. Returns the device to log in on, if one was recorded.
    async fn check_registration_replay(
        &self,
        user_id: &str,
        passed: &super::uia::UiaPassed,
    ) -> Result<Option<String>> {
        let spent = || Error::forbidden("This registration session has already been used");
        let user = self.store.get_user(user_id).await?.ok_or_else(spent)?;
        if user.deactivated || user.password_hash.as_ref() != passed.secret_hashes.get("password") {
            return Err(spent());
        }
        match passed
            .server_data
            .get(REGISTERED_DEVICE_KEY)
            .and_then(Value::as_str)
        {
            Some(device) => match self.store.get_device(user_id, device).await? {
                Some(_) => Ok(Some(device.to_owned())),
                None => Err(spent()),
            },
            None => Ok(None),
        }
    }

    /// Creates a user with this localpart (lower-cased and checked), or a
    /// generated numeric one. Returns the user ID.
    pub(crate) async fn create_local_user(
        &self,
        localpart: Option<&str>,
        password_hash: Option<String>,
    ) -> Result<String> {
        let mut new = NewUser {
            password_hash,
            creation_ts: self.now(),
            ..NewUser::default()
        };
        if let Some(localpart) = localpart {
            let localpart = localpart.to_lowercase();
            check_new_localpart(&localpart, self.server_name())?;
            new.user_id = user_id(&localpart, self.server_name());
            if !self.store.create_user(&new).await? {
                return Err(user_in_use());
            }
            return Ok(new.user_id);
        }
        for _ in 0..20 {
            // A ten-digit number, as Synapse generates them.
            let mut bytes = [0u8; 8];
            self.rng.fill(&mut bytes);
            let n = 1_000_000_000 + u64::from_le_bytes(bytes) % 9_000_000_000;
            new.user_id = user_id(&n.to_string(), self.server_name());
            if self.store.create_user(&new).await? {
                return Ok(new.user_id);
            }
        }
        Err(Error::internal("could not generate a free user ID"))
    }

    /// Registration by an application service (`type:
    /// m.login.application_service` with its `as_token`): no UIA; the user
    /// must be in its namespace and in no other service's exclusive one.
    async fn register_app_service_user(
        &self,
        token: Option<&str>,
        ip: Option<&str>,
        fields: &RegisterParams,
    ) -> Result<Registered> {
        let service = self.require_app_service(token, ip)?;
        let localpart = fields
            .username
            .as_deref()
            .ok_or_else(|| Error::missing_param("Missing param: username"))?
            .to_lowercase();
        // Bridges' users often start with `_`: only the characters are checked.
        if localpart.is_empty()
            || !localpart
                .bytes()
                .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'=' | b'_' | b'-' | b'.' | b'/' | b'+'))
        {
            return Err(Error::new(
                400,
                ErrCode::InvalidUsername,
                "User ID can only contain characters a-z, 0-9, or '=_-./+'",
            ));
        }
        let uid = user_id(&localpart, self.server_name());
        let service_id = service.config.id.clone();
        if !service.is_interested_in_user(&uid, self.server_name())
            || self.exclusively_claimed(&uid, Some(&service_id))
        {
            return Err(Error::new(
                400,
                ErrCode::Exclusive,
                "Invalid user localpart for this application service.",
            ));
        }
        // Its users are exempt from auth blocking unless their requests
        // are tracked (`track_appservice_user_ips`).
        if self.config.usage.track_appservice_user_ips {
            self.check_registration_blocking(None, None).await?;
        }
        let created = self
            .store
            .create_user(&NewUser {
                user_id: uid.clone(),
                creation_ts: self.now(),
                appservice_id: Some(service_id),
                ..NewUser::default()
            })
            .await?;
        if !created {
            return Err(user_in_use());
        }
        if fields.inhibit_login {
            return Ok(Registered::NoLogin { user_id: uid });
        }
        let session = self
            .start_session(
                &uid,
                fields.device_id.clone(),
                fields.initial_device_display_name.as_deref(),
            )
            .await?;
        Ok(Registered::LoggedIn(session))
    }

    /// `GET /register/available`.
    pub async fn check_username_available(&self, localpart: &str) -> Result<()> {
        check_new_localpart(localpart, self.server_name())?;
        let id = user_id(localpart, self.server_name());
        if self.exclusively_claimed(&id, None) {
            return Err(Error::new(
                400,
                ErrCode::Exclusive,
                "This user ID is reserved by an application service.",
            ));
        }
        if !self.store.get_users_case_insensitive(&id).await?.is_empty() {
            return Err(user_in_use());
        }
        Ok(())
    }
}

fn user_in_use() -> Error {
    Error::new(400, ErrCode::UserInUse, "User ID already taken.")
}

/// The registration fields, checked before anything is spent (no hash, no
/// user, no UIA session for a bad `device_id` or display name).
fn parse_params(body: &Map<String, Value>) -> Result<RegisterParams> {
    let mut params = RegisterParams::deserialize(Value::Object(body.clone()))
        .map_err(|e| Error::bad_json(e.to_string()))?;
    params.device_id = DeviceId::from_field(body)?;
    if let Some(name) = &params.initial_device_display_name {
        super::check_device_display_name(name)?;
    }
    Ok(params)
}

fn previous_user(result: &Value) -> Result<String> {
    result
        .get("user_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::internal("a spent registration session has no user_id"))
}
