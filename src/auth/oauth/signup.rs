//! Registration from the OAuth 2.0 pages (`prompt=create`): the same
//! operation as `POST /register`, under the same policy
//! (`enable_registration`, rate limits, username and password rules,
//! registration tokens, reCAPTCHA, the terms), driven through its
//! User-Interactive Auth flow on the server's side with what the page's
//! form collected, so there is one registration and one set of rules.
//! An email address to validate (`m.login.email.identity`) takes two
//! steps: the first post runs the stages before it and sends the mail
//! (`requestToken`'s rules and limits); the user follows the link, then
//! posts "continue", which completes the session.

use crate::auth::ratelimit::LimitExceeded;
use crate::auth::register::{RegisterError, RegisterRequest, Registered};
use crate::auth::threepids::{ThreepidError, TokenPurpose};
use crate::auth::uia::dummy::DUMMY;
use crate::auth::uia::email_identity::EMAIL_IDENTITY;
use crate::auth::uia::recaptcha::RECAPTCHA;
use crate::auth::uia::registration_token::REGISTRATION_TOKEN;
use crate::auth::uia::terms::TERMS;
use crate::auth::uia::UiaError;
use crate::auth::Auth;
use serde_json::{json, Map, Value};

/// The operation's URI in its UIA session (the page's own path).
pub const SIGNUP_URI: &str = "/oauth2/register";

/// What the registration form collected.
#[derive(Debug, Default, Clone)]
pub struct SignupForm {
    pub username: String,
    pub password: String,
    pub registration_token: Option<String>,
    pub accepted_terms: bool,
    pub recaptcha_response: Option<String>,
    /// An email address to validate (required or optional by the policy).
    pub email: Option<String>,
}

/// A registration waiting for its email address to be validated: what the
/// page keeps (in the browser that posted it) to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEmail {
    /// The registration's UIA session.
    pub session: String,
    /// The email validation session (`sid`) and its client secret.
    pub sid: String,
    pub client_secret: String,
    pub email: String,
}

/// Where a registration from the page stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignupOutcome {
    /// The account exists: its user ID.
    Registered(String),
    /// A mail was sent; the user follows its link, then continues.
    CheckEmail(PendingEmail),
}

/// What the registration page must ask for, from the registration flows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SignupPolicy {
    /// `enable_registration`.
    pub open: bool,
    pub registration_token: bool,
    /// The terms' name and URL, when they must be accepted.
    pub terms: Option<(String, String)>,
    /// reCAPTCHA's public key, when it is required.
    pub recaptcha_sitekey: Option<String>,
    /// An email address is asked for: `Some(true)` required, `Some(false)`
    /// optional.
    pub email: Option<bool>,
    /// Every flow needs a stage the page cannot complete: registration
    /// goes through a Matrix client.
    pub needs_client: bool,
}

/// Why the page's registration did not make an account.
#[derive(Debug)]
pub enum SignupError {
    /// The registration's own refusal (closed, user in use, weak
    /// password, limits, a stage's fatal error, ...).
    Register(RegisterError),
    TermsNotAccepted,
    /// A stage failed: its message (a wrong registration token, a failed
    /// captcha).
    StageFailed(String),
    /// No flow of the policy can be completed from this page.
    NoFlow,
    /// The validation mail could not be asked for (a bad or taken
    /// address, email off, ...).
    Email(ThreepidError),
    /// `rc_3pid_validation`.
    LimitExceeded(LimitExceeded),
    Internal,
}

internal_error!(SignupError, store);

wrap_error!(RegisterError => SignupError::Register, RegisterError::Internal);

wrap_error!(ThreepidError => SignupError::Email, ThreepidError::Internal);

wrap_error!(LimitExceeded => SignupError::LimitExceeded);

/// Stages the page completes.
fn page_can_do(stage: &str) -> bool {
    [DUMMY, TERMS, RECAPTCHA, REGISTRATION_TOKEN, EMAIL_IDENTITY].contains(&stage)
}

impl Auth {
    /// What the registration page asks for.
    pub fn signup_policy(&self) -> SignupPolicy {
        let flows = self.with_email_flows(self.registration_flows()).flows;
        let doable = flows.iter().find(|f| f.iter().all(|s| page_can_do(s)));
        let has = |stage: &str| doable.is_some_and(|f| f.iter().any(|s| s == stage));
        let base = self.config.public_baseurl.as_deref().unwrap_or("/");
        SignupPolicy {
            open: self.config.enable_registration,
            registration_token: has(REGISTRATION_TOKEN),
            terms: self
                .config
                .user_consent
                .as_ref()
                .filter(|_| has(TERMS))
                .map(|c| {
                    (
                        c.policy_name.clone(),
                        format!("{base}_matrix/consent?v={}", c.version),
                    )
                }),
            recaptcha_sitekey: self
                .config
                .recaptcha
                .as_ref()
                .filter(|_| has(RECAPTCHA))
                .map(|r| r.public_key.clone()),
            email: flows
                .iter()
                .any(|f| f.iter().any(|s| s == EMAIL_IDENTITY))
                .then(|| flows.iter().all(|f| f.iter().any(|s| s == EMAIL_IDENTITY))),
            needs_client: doable.is_none(),
        }
    }

    /// Registers the account the form describes (no device: the grant's
    /// session is made at the token endpoint), or sends the mail that
    /// validates its email address first.
    pub async fn browser_register(
        &self,
        form: &SignupForm,
        ip: Option<&str>,
    ) -> Result<SignupOutcome, SignupError> {
        let body = as_map(json!({
            "username": form.username,
            "password": form.password,
            "inhibit_login": true,
        }));
        let challenge = match self.register(request(&body, None, ip)).await {
            Ok(done) => return Ok(SignupOutcome::Registered(user_of(done))),
            Err(RegisterError::Uia(UiaError::Challenge(c))) => c,
            Err(e) => return Err(e.into()),
        };
        let email = form
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        // With an address, a flow that validates it; without, one that
        // does not need one.
        let flow = challenge
            .flows
            .iter()
            .filter(|f| f.iter().all(|s| page_can_do(s)))
            .find(|f| f.iter().any(|s| s == EMAIL_IDENTITY) == email.is_some())
            .ok_or(match email {
                None if self.signup_policy().email == Some(true) => {
                    SignupError::Email(ThreepidError::MissingParam("email"))
                }
                _ => SignupError::NoFlow,
            })?
            .clone();
        // What the form lacks is refused before any stage runs: a stage
        // passed (a registration token's use reserved) would be held by a
        // session the next try cannot continue.
        if flow.iter().any(|s| s == TERMS) && !form.accepted_terms {
            return Err(SignupError::TermsNotAccepted);
        }
        for stage in &flow {
            if stage == EMAIL_IDENTITY {
                let email = email.unwrap_or_default();
                return self
                    .send_signup_mail(&challenge.session, email, ip)
                    .await
                    .map(SignupOutcome::CheckEmail);
            }
            let mut auth = json!({ "type": stage, "session": challenge.session });
            match stage.as_str() {
                RECAPTCHA => {
                    auth["response"] = json!(form.recaptcha_response.clone().unwrap_or_default())
                }
                REGISTRATION_TOKEN => {
                    auth["token"] = json!(form.registration_token.clone().unwrap_or_default())
                }
                _ => {}
            }
            let auth = as_map(auth);
            match self.register(request(&body, Some(&auth), ip)).await {
                Ok(done) => return Ok(SignupOutcome::Registered(user_of(done))),
                Err(RegisterError::Uia(UiaError::Challenge(c))) => {
                    if let Some((_, message)) = c.failure {
                        return Err(SignupError::StageFailed(message));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(SignupError::NoFlow)
    }

    /// `requestToken` for the registration's address, under its limits.
    async fn send_signup_mail(
        &self,
        session: &str,
        email: &str,
        ip: Option<&str>,
    ) -> Result<PendingEmail, SignupError> {
        let (client_secret, sid) = self
            .request_email_token_for_page(TokenPurpose::Registration, email, ip)
            .await??;
        Ok(PendingEmail {
            session: session.to_owned(),
            sid,
            client_secret,
            email: email.to_owned(),
        })
    }

    /// "Continue" after the mail's link: the email stage with the
    /// validation session, then the account (a stage still failing, an
    /// address not validated yet, is [`SignupError::StageFailed`]).
    pub async fn continue_browser_register(
        &self,
        pending: &PendingEmail,
        ip: Option<&str>,
    ) -> Result<String, SignupError> {
        let body = Map::new();
        let auth = as_map(json!({
            "type": EMAIL_IDENTITY,
            "session": pending.session,
            "threepid_creds": { "sid": pending.sid, "client_secret": pending.client_secret },
        }));
        match self.register(request(&body, Some(&auth), ip)).await {
            Ok(done) => Ok(user_of(done)),
            Err(RegisterError::Uia(UiaError::Challenge(c))) => Err(SignupError::StageFailed(
                c.failure
                    .map(|(_, m)| m)
                    .unwrap_or_else(|| "The registration needs another step".to_owned()),
            )),
            Err(e) => Err(e.into()),
        }
    }
}

/// The registration call, as `POST /register` with this body and `auth`.
fn request<'a>(
    body: &'a Map<String, Value>,
    auth: Option<&'a Map<String, Value>>,
    ip: Option<&'a str>,
) -> RegisterRequest<'a> {
    RegisterRequest {
        guest: false,
        method: "POST",
        uri: SIGNUP_URI,
        body,
        auth,
        access_token: None,
        client_ip: ip,
    }
}

fn user_of(done: Registered) -> String {
    match done {
        Registered::NoLogin { user_id } => user_id,
        Registered::LoggedIn(session) => session.user_id,
    }
}

fn as_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::page_can_do;

    #[test]
    fn the_page_completes_the_stages_it_has_fields_for() {
        for s in [
            "m.login.dummy",
            "m.login.terms",
            "m.login.recaptcha",
            "m.login.registration_token",
        ] {
            assert!(page_can_do(s), "{s}");
        }
        assert!(page_can_do("m.login.email.identity"));
        assert!(!page_can_do("m.login.password"));
        assert!(!page_can_do("m.login.sso"));
    }
}
