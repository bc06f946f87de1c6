//! Registration (`POST /register`) through UIA, and `/register/available`.

use super::guests::hide_guest_token;
use super::identifiers::{
    check_new_localpart, has_allowed_characters, user_id, DeviceId, UsernameError,
};
use super::login::APP_SERVICE_LOGIN_TYPE;
use super::policy::check_new_password;
use super::ratelimit::{address_key, Limiter};
pub use super::register_error::RegisterError;
use super::session::{SessionOptions, SessionTokens};
use super::threepids::MEDIUM_EMAIL;
use super::uia::dummy::DUMMY;
use super::uia::recaptcha::RECAPTCHA;
use super::uia::registration_token::{REGISTRATION_TOKEN, REGISTRATION_TOKEN_KEY};
use super::uia::terms::TERMS;
use super::uia::{Flows, UiaRequest};
use super::writes::{self, NewRegistration, RegistrationOutcome};
use super::{check_device_display_name, Auth, Session};
use crate::store::{NewUser, UserThreepid};
use serde::Deserialize;
use serde_json::{json, Map, Value};

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

type Result<T> = std::result::Result<T, RegisterError>;

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
    /// the base flow, with the terms, reCAPTCHA and then a registration
    /// token put in front when required. Their `params` come from the
    /// stages (`uia/terms.rs`, `uia/recaptcha.rs`).
    pub(crate) fn registration_flows(&self) -> Flows {
        let mut flows = Flows::single(&[DUMMY]);
        if self
            .config
            .user_consent
            .as_ref()
            .is_some_and(|c| c.require_at_registration)
        {
            for f in &mut flows.flows {
                f.insert(0, TERMS.to_owned());
            }
        }
        if self.config.recaptcha.is_some() {
            for f in &mut flows.flows {
                f.insert(0, RECAPTCHA.to_owned());
            }
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
        self.ratelimit_peek(Limiter::Registration, address)
            .await??;
        // A call without a session starts one (a row kept for
        // `uia_session_lifetime`): how many an address may start is bounded.
        let starts_session = req.auth.and_then(|a| a.get("session")).is_none();
        if !req.guest && starts_session {
            self.ratelimit(Limiter::RegistrationSession, address)
                .await??;
        }
        if req.guest {
            let session = self.register_guest(req.body).await?;
            self.ratelimit_record(Limiter::Registration, address)
                .await?;
            return Ok(Registered::LoggedIn(session));
        }
        if !self.config.enable_registration {
            return Err(RegisterError::Disabled);
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
                .uia()
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
        let options = self.legacy_session_options(params.refresh_token);

        let mut device_id = params.device_id.clone();
        let registered_user = match &passed.previous_result {
            Some(previous) => {
                let user_id = previous_user(previous)?;
                if let Some(device) = self
                    .check_registration_replay(&user_id, previous, &passed)
                    .await?
                {
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
                    .ok_or(RegisterError::MissingParam("Missing params: password"))?;
                let chosen = self.registration_choices(&passed).await?;
                let username = chosen.username.as_deref().or(params.username.as_deref());
                let guest = self.guest_to_upgrade(&passed.params, username).await?;
                if let Some(guest) = &guest {
                    // An existing user gets a token: blocked as a login is.
                    if !params.inhibit_login {
                        self.check_auth_blocking(Some(guest)).await?;
                    }
                }
                let reg = NewRegistration {
                    user: NewUser {
                        password_hash: Some(password_hash),
                        created_ts: self.now(),
                        displayname: chosen.display_name.clone(),
                        ..NewUser::default()
                    },
                    upgrade_guest: guest.is_some(),
                    consent_version: self
                        .config
                        .user_consent
                        .as_ref()
                        .filter(|c| c.require_at_registration)
                        .map(|c| c.version.clone()),
                    // A reserved address has room from the start (Synapse
                    // does the same).
                    monthly_active_ts: threepid
                        .is_some_and(|(m, a)| self.config.usage.is_reserved_threepid(m, a))
                        .then(|| self.now()),
                    registration_token: passed
                        .server_data
                        .get(REGISTRATION_TOKEN_KEY)
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    ..NewRegistration::default()
                };
                // Refused before anything is written.
                let device = self.registration_device(&params)?;
                match self
                    .write_registration(
                        reg,
                        guest,
                        username,
                        email,
                        (&passed.session_id, &options),
                        device,
                    )
                    .await?
                {
                    Written::New {
                        user_id,
                        device,
                        token,
                    } => {
                        self.ratelimit_record(Limiter::Registration, address)
                            .await?;
                        if let Some(name) = &chosen.display_name {
                            self.provision_new_user(&user_id, Some(name)).await?;
                        }
                        if let Some((device_id, display_name)) = device {
                            let session = self
                                .session_for_new_device(
                                    user_id,
                                    device_id,
                                    display_name,
                                    token.map(|t| *t),
                                    &options,
                                )
                                .await?;
                            return Ok(Registered::LoggedIn(session));
                        }
                        user_id
                    }
                    // A concurrent request of the same session won: use its user.
                    Written::Previous(user_id) => user_id,
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
                &options,
            )
            .await?;
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
        previous: &Value,
        passed: &super::uia::UiaPassed,
    ) -> Result<Option<String>> {
        let user = self
            .store
            .users()
            .get_user(user_id)
            .await?
            .ok_or(RegisterError::SessionSpent)?;
        if user.deactivated || user.password_hash.as_ref() != passed.secret_hashes.get("password") {
            return Err(RegisterError::SessionSpent);
        }
        match previous.get("device_id").and_then(Value::as_str) {
            Some(device) => match self.store.devices().get_device(user_id, device).await? {
                Some(_) => Ok(Some(device.to_owned())),
                None => Err(RegisterError::SessionSpent),
            },
            None => Ok(None),
        }
    }

    /// Writes the account, its first device and (without a homeserver to
    /// tell first) its token in one transaction. A generated user ID that
    /// is taken is generated again.
    async fn write_registration(
        &self,
        mut reg: NewRegistration,
        guest: Option<String>,
        username: Option<&str>,
        email: Option<String>,
        (uia_session, options): (&str, &SessionOptions),
        device: Option<(String, Option<String>)>,
    ) -> Result<Written> {
        let generated = guest.is_none() && username.is_none();
        if let Some(localpart) = username.filter(|_| guest.is_none()) {
            check_new_localpart(&localpart.to_lowercase(), self.server_name())?;
        }
        for _ in 0..20 {
            let user_id = match (&guest, username) {
                (Some(guest), _) => guest.clone(),
                (None, Some(localpart)) => user_id(&localpart.to_lowercase(), self.server_name()),
                (None, None) => self.generated_user_id(),
            };
            reg.user.user_id = user_id.clone();
            // The result names the device too: a replay may log in again
            // only there, while it exists (`check_registration_replay`).
            let result = match &device {
                Some((device_id, _)) => json!({ "user_id": user_id, "device_id": device_id }),
                None => json!({ "user_id": user_id }),
            };
            reg.uia_session = (!uia_session.is_empty()).then(|| (uia_session.to_owned(), result));
            reg.threepid = email.as_ref().map(|address| UserThreepid {
                user_id: user_id.clone(),
                medium: MEDIUM_EMAIL.to_owned(),
                address: address.clone(),
                validated_ts: reg.user.created_ts,
                added_ts: reg.user.created_ts,
            });
            reg.device = device.clone();
            let token = self.first_device(&user_id, device.as_ref(), options);
            reg.access_token = token.as_ref().map(|t| t.access_row.clone());
            reg.refresh_token = token.as_ref().and_then(|t| t.refresh_row().cloned());
            match writes::complete_registration(&*self.store, &reg).await? {
                RegistrationOutcome::Done => {}
                RegistrationOutcome::UserTaken if generated => continue,
                RegistrationOutcome::UserTaken => return Err(RegisterError::UserInUse),
                RegistrationOutcome::NotAGuest => return Err(RegisterError::NotThisGuest),
                RegistrationOutcome::ThreepidTaken => return Err(RegisterError::ThreepidInUse),
                RegistrationOutcome::SessionSpent(Some(previous)) => {
                    return Ok(Written::Previous(previous_user(&previous)?))
                }
                RegistrationOutcome::SessionSpent(None) => {
                    return Err(RegisterError::UnknownSession)
                }
            }
            return Ok(Written::New {
                user_id,
                device,
                token: token.map(Box::new),
            });
        }
        Err(RegisterError::internal("could not generate a free user ID"))
    }

    /// The session of a device a registration's transaction wrote: with
    /// its token from that transaction, or (with a homeserver) one issued
    /// once the homeserver knows the device.
    async fn session_for_new_device(
        &self,
        user_id: String,
        device_id: String,
        display_name: Option<String>,
        token: Option<SessionTokens>,
        options: &SessionOptions,
    ) -> Result<Session> {
        let tokens = match token {
            Some(token) => token,
            None => {
                self.provision_session(&user_id, &device_id, display_name.as_deref())
                    .await?;
                self.issue_session_tokens(&user_id, &device_id, None, options)
                    .await?
            }
        };
        Ok(tokens.into_session(user_id, device_id))
    }

    /// The first device of a registration (none with `inhibit_login`), and
    /// its token's row when no homeserver must know the device first.
    fn first_device(
        &self,
        user_id: &str,
        device: Option<&(String, Option<String>)>,
        options: &SessionOptions,
    ) -> Option<SessionTokens> {
        match device {
            Some((device_id, _)) if self.homeserver.is_none() => {
                Some(self.new_session_tokens(user_id, device_id, options))
            }
            _ => None,
        }
    }

    /// The first device a registration makes (none with `inhibit_login`):
    /// its ID (the client's or a new one) and display name, checked.
    fn registration_device(
        &self,
        params: &RegisterParams,
    ) -> Result<Option<(String, Option<String>)>> {
        if params.inhibit_login {
            return Ok(None);
        }
        if let Some(name) = &params.initial_device_display_name {
            check_device_display_name(name)?;
        }
        let id = params
            .device_id
            .clone()
            .map(DeviceId::into_string)
            .unwrap_or_else(|| self.new_device_id());
        Ok(Some((id, params.initial_device_display_name.clone())))
    }

    /// A ten-digit user ID, as Synapse generates them.
    fn generated_user_id(&self) -> String {
        let mut bytes = [0u8; 8];
        self.rng.fill(&mut bytes);
        let n = 1_000_000_000 + u64::from_le_bytes(bytes) % 9_000_000_000;
        user_id(&n.to_string(), self.server_name())
    }

    /// Creates a user with this localpart (lower-cased and checked), or a
    /// generated numeric one. Returns the user ID.
    pub(crate) async fn create_local_user(
        &self,
        localpart: Option<&str>,
        password_hash: Option<String>,
    ) -> Result<String> {
        let new = NewUser {
            password_hash,
            ..NewUser::default()
        };
        self.create_local_user_as(localpart, new).await
    }

    /// [`Auth::create_local_user`] with the other fields of `new` (admin,
    /// type, display name) written in the same statement.
    pub(crate) async fn create_local_user_as(
        &self,
        localpart: Option<&str>,
        mut new: NewUser,
    ) -> Result<String> {
        new.created_ts = self.now();
        if let Some(localpart) = localpart {
            let localpart = localpart.to_lowercase();
            check_new_localpart(&localpart, self.server_name())?;
            new.user_id = user_id(&localpart, self.server_name());
            if !self.store.users().create_user(&new).await? {
                return Err(RegisterError::UserInUse);
            }
            return Ok(new.user_id);
        }
        for _ in 0..20 {
            new.user_id = self.generated_user_id();
            if self.store.users().create_user(&new).await? {
                return Ok(new.user_id);
            }
        }
        Err(RegisterError::internal("could not generate a free user ID"))
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
            .ok_or(RegisterError::MissingParam("Missing param: username"))?
            .to_lowercase();
        // Bridges' users often start with `_`: only the characters are checked.
        if localpart.is_empty() || !has_allowed_characters(&localpart) {
            return Err(UsernameError::BadCharacter.into());
        }
        let uid = user_id(&localpart, self.server_name());
        let service_id = service.config.id.clone();
        if !service.is_interested_in_user(&uid, self.server_name())
            || self.exclusively_claimed(&uid, Some(&service_id))
        {
            return Err(RegisterError::NotInNamespace);
        }
        // Its users are exempt from auth blocking unless their requests
        // are tracked (`track_appservice_user_ips`).
        if self.config.usage.track_appservice_user_ips {
            self.check_registration_blocking(None, None).await?;
        }
        // The user, its device and (without a homeserver) its token in one
        // transaction.
        let device = self.registration_device(fields)?;
        let options = self.legacy_session_options(fields.refresh_token);
        let token = self.first_device(&uid, device.as_ref(), &options);
        let reg = NewRegistration {
            user: NewUser {
                user_id: uid.clone(),
                created_ts: self.now(),
                appservice_id: Some(service_id),
                ..NewUser::default()
            },
            device: device.clone(),
            access_token: token.as_ref().map(|t| t.access_row.clone()),
            refresh_token: token.as_ref().and_then(|t| t.refresh_row().cloned()),
            ..NewRegistration::default()
        };
        match writes::complete_registration(&*self.store, &reg).await? {
            RegistrationOutcome::Done => {}
            RegistrationOutcome::UserTaken => return Err(RegisterError::UserInUse),
            other => {
                return Err(RegisterError::internal(format!(
                    "an application service's registration came back {other:?}"
                )))
            }
        }
        let Some((device_id, display_name)) = device else {
            return Ok(Registered::NoLogin { user_id: uid });
        };
        let session = self
            .session_for_new_device(uid, device_id, display_name, token, &options)
            .await?;
        Ok(Registered::LoggedIn(session))
    }

    /// `GET /register/available`.
    pub async fn check_username_available(&self, localpart: &str) -> Result<()> {
        check_new_localpart(localpart, self.server_name())?;
        let id = user_id(localpart, self.server_name());
        if self.exclusively_claimed(&id, None) {
            return Err(RegisterError::Reserved);
        }
        if !self
            .store
            .users()
            .get_users_case_insensitive(&id)
            .await?
            .is_empty()
        {
            return Err(RegisterError::UserInUse);
        }
        Ok(())
    }
}

/// What [`Auth::write_registration`] did.
enum Written {
    /// The account was made, with its first device (unless
    /// `inhibit_login`) and that device's token if no homeserver must
    /// know the device first.
    New {
        user_id: String,
        device: Option<(String, Option<String>)>,
        /// Its tokens.
        token: Option<Box<SessionTokens>>,
    },
    /// A concurrent request of the same UIA session made it: its user.
    Previous(String),
}

/// The registration fields, checked before anything is spent (no hash, no
/// user, no UIA session for a bad `device_id` or display name).
fn parse_params(body: &Map<String, Value>) -> Result<RegisterParams> {
    let mut params = RegisterParams::deserialize(Value::Object(body.clone()))
        .map_err(|e| RegisterError::BadJson(e.to_string()))?;
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
        .ok_or_else(|| RegisterError::internal("a spent registration session has no user_id"))
}
