//! Third-party identifiers (email; phone numbers only as bound by the
//! admin API or imported from Synapse, as mxauth sends no text messages):
//! validating an address by mail (`requestToken`, then the link in the
//! mail), the UIA stage `m.login.email.identity`, the addresses bound to
//! accounts (`/account/3pid*`), password reset by email, and the lookup
//! that lets a user log in with their address or phone number
//! (`msisdn.rs` makes an `m.id.phone` number the msisdn Synapse stores).
//!
//! Validation sessions live in the database, so the link may be followed
//! on any process. The token in the link is stored only as its SHA-256.
//! A validated session is used by one operation only (the UIA session of
//! a stage, a 3PID add or a password reset spends it) and only within
//! `validation_token_lifetime` of its validation.
//! There is no identity server: nothing is ever bound or unbound at one.

mod bound;
mod error;
pub mod msisdn;

pub use error::{ThreepidError, Unusable};

use super::mail::Mail;
use super::uia::dummy::DUMMY;
use super::uia::email_identity::EMAIL_IDENTITY;
use super::uia::Flows;
use super::Auth;
use crate::clock::random_string;
use crate::store::ThreepidSession;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const MEDIUM_EMAIL: &str = "email";
/// Where the link in a validation mail points, under `public_baseurl`.
pub const SUBMIT_TOKEN_PATH: &str = "_synapse/client/email/submit_token";

/// How long a validated session may be used without `email:` configured
/// (it cannot be made then; the default of `validation_token_lifetime`).
const DEFAULT_VALIDATED_LIFETIME_MS: u64 = 60 * 60 * 1000;

/// Synapse's limit on an email address.
const MAX_EMAIL_LEN: usize = 500;
const MAX_CLIENT_SECRET_LEN: usize = 255;

/// What the address is validated for: decides the checks and the mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// `/register/email/requestToken`: the address must be free.
    Registration,
    /// `/account/password/email/requestToken`: the address must be bound.
    PasswordReset,
    /// `/account/3pid/email/requestToken`: the address must be free.
    AddThreepid,
}

/// Synapse's `canonicalise_email`, and its checks: one `@`, both sides
/// non-empty, no spaces or brackets; lower-cased.
pub fn canonicalise_email(address: &str) -> Result<String, ThreepidError> {
    let address = address.trim();
    let (local, domain) = address.split_once('@').ok_or(ThreepidError::InvalidEmail)?;
    if local.is_empty()
        || domain.is_empty()
        || domain.contains('@')
        || address.len() > MAX_EMAIL_LEN
        || address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c))
    {
        return Err(ThreepidError::InvalidEmail);
    }
    Ok(format!(
        "{}@{}",
        local.to_lowercase(),
        domain.to_lowercase()
    ))
}

/// The spec's `client_secret`: `[0-9a-zA-Z.=_-]+`, at most 255 characters.
fn check_client_secret(secret: &str) -> Result<(), ThreepidError> {
    let ok = !secret.is_empty()
        && secret.len() <= MAX_CLIENT_SECRET_LEN
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".=_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ThreepidError::InvalidClientSecret)
    }
}

fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn str_field<'a>(
    body: &'a Map<String, Value>,
    key: &'static str,
) -> Result<Option<&'a str>, ThreepidError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ThreepidError::WrongType {
            field: key,
            expected: "a string",
        }),
    }
}

fn required<'a>(body: &'a Map<String, Value>, key: &'static str) -> Result<&'a str, ThreepidError> {
    str_field(body, key)?.ok_or(ThreepidError::MissingParam(key))
}

/// A parsed `requestToken` body.
struct TokenRequest {
    client_secret: String,
    email: String,
    send_attempt: i64,
    next_link: Option<String>,
}

fn parse_token_request(body: &Map<String, Value>) -> Result<TokenRequest, ThreepidError> {
    let client_secret = required(body, "client_secret")?.to_owned();
    check_client_secret(&client_secret)?;
    let email = canonicalise_email(required(body, "email")?)?;
    let send_attempt = match body.get("send_attempt") {
        Some(Value::Number(n)) => n.as_i64().ok_or(ThreepidError::BadSendAttempt)?,
        None | Some(Value::Null) => return Err(ThreepidError::MissingParam("send_attempt")),
        Some(_) => {
            return Err(ThreepidError::WrongType {
                field: "send_attempt",
                expected: "an integer",
            })
        }
    };
    let next_link = str_field(body, "next_link")?.map(str::to_owned);
    if let Some(link) = &next_link {
        let ok = url::Url::parse(link)
            .map(|u| u.scheme() == "http" || u.scheme() == "https")
            .unwrap_or(false);
        if !ok {
            return Err(ThreepidError::NextLinkNotHttp);
        }
    }
    // `id_server` and `id_access_token` are accepted and ignored: the mail
    // is sent by mxauth itself.
    Ok(TokenRequest {
        client_secret,
        email,
        send_attempt,
        next_link,
    })
}

/// The outcome of following a validation link.
#[derive(Debug)]
pub struct Validated {
    /// The client's `next_link`, when it may be redirected to (its host is
    /// `public_baseurl`'s or listed in `next_link_domain_whitelist`).
    pub redirect: Option<String>,
    /// The client's `next_link` when it may not: shown as text only.
    pub next_link_text: Option<String>,
}

impl Auth {
    fn email_enabled(&self) -> Result<&crate::config::EmailConfig, ThreepidError> {
        self.config
            .email
            .as_ref()
            .ok_or(ThreepidError::EmailNotConfigured)
    }

    /// Whether `next_link_domain_whitelist` lists the host of `link`
    /// (`false` without a list).
    fn next_link_host_whitelisted(&self, link: &str) -> bool {
        let Some(allowed) = &self.config.threepids.next_link_domain_whitelist else {
            return false;
        };
        url::Url::parse(link)
            .ok()
            .and_then(|u| u.host_str().map(str::to_lowercase))
            .is_some_and(|host| allowed.contains(&host))
    }

    /// `public_baseurl`, or `https://<server_name>/` as Synapse defaults it.
    fn public_base(&self) -> String {
        self.config
            .public_baseurl
            .clone()
            .unwrap_or_else(|| format!("https://{}/", self.config.server_name))
    }

    /// Synapse's `check_3pid_allowed`: every address unless
    /// `allowed_local_3pids` lists patterns.
    pub fn threepid_allowed(&self, medium: &str, address: &str) -> bool {
        match &self.config.threepids.allowed_local_3pids {
            None => true,
            Some(allowed) => allowed
                .iter()
                .any(|a| a.medium == medium && a.pattern.is_match(address)),
        }
    }

    fn check_3pid_changes(&self) -> Result<(), ThreepidError> {
        if self.config.threepids.enable_3pid_changes {
            Ok(())
        } else {
            Err(ThreepidError::ChangesDisabled)
        }
    }

    /// The registration flows with email, as Synapse computes them: when
    /// `email:` is configured, each flow's `m.login.dummy` is replaced by
    /// `m.login.email.identity` (`registrations_require_3pid: [email]`) or
    /// the email flow is offered next to it. Stages put in front (captcha,
    /// terms, token) stay in front.
    pub(crate) fn with_email_flows(&self, flows: Flows) -> Flows {
        if self.config.email.is_none() {
            return flows;
        }
        let required = self
            .config
            .threepids
            .registrations_require_3pid
            .iter()
            .any(|m| m == MEDIUM_EMAIL);
        let mut out = Vec::new();
        for flow in flows.flows {
            let with_email: Vec<String> = flow
                .iter()
                .map(|s| {
                    if s == DUMMY {
                        EMAIL_IDENTITY.to_owned()
                    } else {
                        s.clone()
                    }
                })
                .collect();
            if with_email == flow {
                out.push(flow);
                continue;
            }
            if !required {
                out.push(flow);
            }
            out.push(with_email);
        }
        Flows { flows: out }
    }

    /// `POST .../email/requestToken`: sends a validation mail (unless this
    /// `send_attempt` was seen already) and returns the session ID.
    #[tracing::instrument(skip_all, fields(purpose = ?purpose))]
    pub async fn request_email_token(
        &self,
        purpose: TokenPurpose,
        body: &Map<String, Value>,
    ) -> Result<String, ThreepidError> {
        let email_config = self.email_enabled()?;
        match purpose {
            TokenPurpose::Registration if !self.config.enable_registration => {
                return Err(ThreepidError::RegistrationDisabled)
            }
            TokenPurpose::AddThreepid => self.check_3pid_changes()?,
            _ => {}
        }
        let req = parse_token_request(body)?;
        if let Some(link) = &req.next_link {
            // Synapse's `assert_valid_next_link`.
            if self.config.threepids.next_link_domain_whitelist.is_some()
                && !self.next_link_host_whitelisted(link)
            {
                return Err(ThreepidError::NextLinkNotWhitelisted);
            }
        }
        let by_providers = matches!(purpose, TokenPurpose::PasswordReset)
            || self
                .providers
                .is_3pid_allowed(
                    MEDIUM_EMAIL,
                    &req.email,
                    matches!(purpose, TokenPurpose::Registration),
                )
                .await;
        if !by_providers || !self.threepid_allowed(MEDIUM_EMAIL, &req.email) {
            return Err(ThreepidError::Denied);
        }
        let owner = self
            .store
            .threepids()
            .get_user_by_threepid(MEDIUM_EMAIL, &req.email)
            .await?;
        let refused = match (purpose, owner) {
            (TokenPurpose::PasswordReset, None) => Some(ThreepidError::NotFound),
            (TokenPurpose::Registration | TokenPurpose::AddThreepid, Some(_)) => {
                Some(ThreepidError::InUse)
            }
            _ => None,
        };
        if let Some(error) = refused {
            if self.config.threepids.request_token_inhibit_3pid_errors {
                // A session ID that leads nowhere, and no mail.
                return Ok(random_string(self.rng.as_ref(), 16));
            }
            return Err(error);
        }

        let now = self.now();
        let existing = self
            .store
            .threepids()
            .find_threepid_session(MEDIUM_EMAIL, &req.email, &req.client_secret)
            .await?
            .filter(|s| s.validated_ts.is_none());
        if let Some(s) = &existing {
            if req.send_attempt <= s.last_send_attempt {
                return Ok(s.session_id.clone());
            }
        }
        let token = random_string(self.rng.as_ref(), 32);
        let expires = now.saturating_add(email_config.validation_token_lifetime_ms as i64);
        let session_id = match existing {
            Some(s) => {
                self.store
                    .threepids()
                    .update_threepid_session_token(
                        &s.session_id,
                        req.send_attempt,
                        &hash_token(&token),
                        expires,
                        req.next_link.as_deref(),
                    )
                    .await?;
                s.session_id
            }
            None => {
                let session = ThreepidSession {
                    session_id: random_string(self.rng.as_ref(), 24),
                    medium: MEDIUM_EMAIL.to_owned(),
                    address: req.email.clone(),
                    client_secret: req.client_secret.clone(),
                    last_send_attempt: req.send_attempt,
                    validated_ts: None,
                    token_hash: hash_token(&token),
                    token_expires_ts: expires,
                    next_link: req.next_link.clone(),
                    created_ts: now,
                };
                self.store
                    .threepids()
                    .create_threepid_session(&session)
                    .await?;
                session.session_id
            }
        };
        let link = format!(
            "{}{SUBMIT_TOKEN_PATH}?token={}&client_secret={}&sid={}",
            self.public_base(),
            encode(&token),
            encode(&req.client_secret),
            encode(&session_id),
        );
        let (subject, body) = mail_text(purpose, self.config.server_name.as_str(), &link);
        let mail = Mail {
            to: req.email.clone(),
            subject,
            body,
        };
        let mailer = self.mailer.as_ref().ok_or_else(|| {
            ThreepidError::internal("could not send a validation mail: email without a mailer")
        })?;
        mailer.send(&mail).await.map_err(|why| {
            ThreepidError::internal(format!("could not send a validation mail: {why}"))
        })?;
        tracing::info!("validation mail sent");
        Ok(session_id)
    }

    /// Deletes the email validation sessions nothing can use any more:
    /// unvalidated ones whose link expired, and validated ones older than
    /// a UIA session may live (the longest a validated session can still be
    /// used). Returns how many went.
    pub async fn sweep_threepid_sessions(&self) -> Result<u64, ThreepidError> {
        let now = self.now();
        let validated_before = now - self.config.mxauth.uia_session_lifetime_ms as i64;
        Ok(self
            .store
            .threepids()
            .sweep_threepid_sessions(now, validated_before)
            .await?)
    }

    /// The link in a validation mail: marks the session validated. The
    /// token is checked every time, also once the session is validated: a
    /// forged link never reads as a success. Only the latest mail's link
    /// works (a resend replaces the token), until
    /// `validation_token_lifetime` after it was sent.
    #[tracing::instrument(skip_all)]
    pub async fn submit_email_token(
        &self,
        session_id: &str,
        client_secret: &str,
        token: &str,
    ) -> Result<Validated, ThreepidError> {
        let session = self
            .store
            .threepids()
            .get_threepid_session(session_id)
            .await?
            .ok_or(ThreepidError::UnknownSession)?;
        if !bool::from(
            session
                .client_secret
                .as_bytes()
                .ct_eq(client_secret.as_bytes()),
        ) {
            return Err(ThreepidError::UnknownSession);
        }
        let token_ok = bool::from(session.token_hash.ct_eq(&hash_token(token)));
        let expired = session.token_expires_ts <= self.now();
        if !token_ok || (session.validated_ts.is_none() && expired) {
            return Err(ThreepidError::BadToken);
        }
        if session.validated_ts.is_none() {
            self.store
                .threepids()
                .set_threepid_session_validated(session_id, self.now())
                .await?;
        }
        let base_host = url::Url::parse(&self.public_base())
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        let trusted = |link: &str| {
            let same_host = url::Url::parse(link)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .is_some_and(|h| Some(h) == base_host);
            same_host || self.next_link_host_whitelisted(link)
        };
        Ok(match session.next_link {
            Some(link) if trusted(&link) => Validated {
                redirect: Some(link),
                next_link_text: None,
            },
            other => Validated {
                redirect: None,
                next_link_text: other,
            },
        })
    }

    /// `m.login.email.identity`: `threepid_creds` of a validated session,
    /// which the UIA session `uia_session` spends. `Ok(Err(why))` is a
    /// failed stage; the result names the address.
    pub(crate) async fn check_email_identity_stage(
        &self,
        auth: &Map<String, Value>,
        uia_session: &str,
    ) -> Result<Result<Value, Unusable>, ThreepidError> {
        let creds = match auth
            .get("threepid_creds")
            .or_else(|| auth.get("threepidCreds"))
        {
            Some(Value::Object(c)) => c,
            None | Some(Value::Null) => return Err(ThreepidError::MissingParam("threepid_creds")),
            Some(_) => {
                return Err(ThreepidError::WrongType {
                    field: "threepid_creds",
                    expected: "an object",
                })
            }
        };
        let sid = required(creds, "sid")?;
        let client_secret = required(creds, "client_secret")?;
        let session = match self
            .use_validated_session(sid, client_secret, uia_session)
            .await?
        {
            Ok(session) if session.medium == MEDIUM_EMAIL => session,
            Ok(_) => return Ok(Err(Unusable::NoSession)),
            Err(why) => return Ok(Err(why)),
        };
        Ok(Ok(json!({
            "medium": session.medium,
            "address": session.address,
            "validated_at": session.validated_ts,
        })))
    }

    /// How long a validated session may be used after its validation:
    /// `email.validation_token_lifetime` (default 1h), the link's own
    /// lifetime. Synapse never expires a validated session.
    fn validated_session_lifetime_ms(&self) -> i64 {
        let ms = self
            .config
            .email
            .as_ref()
            .map_or(DEFAULT_VALIDATED_LIFETIME_MS, |e| {
                e.validation_token_lifetime_ms
            });
        i64::try_from(ms).unwrap_or(i64::MAX)
    }

    /// Spends the validated session `sid` for the operation `used_by` (the
    /// UIA session of a stage, a 3PID add or a password reset): a session
    /// is used by one operation only, and only for a bounded time after it
    /// was validated. `Ok(Err(why))` when it cannot be used.
    async fn use_validated_session(
        &self,
        sid: &str,
        client_secret: &str,
        used_by: &str,
    ) -> Result<Result<ThreepidSession, Unusable>, ThreepidError> {
        let session = self
            .store
            .threepids()
            .get_threepid_session(sid)
            .await?
            .filter(|s| bool::from(s.client_secret.as_bytes().ct_eq(client_secret.as_bytes())));
        let Some((session, validated_ts)) = session.and_then(|s| s.validated_ts.map(|at| (s, at)))
        else {
            return Ok(Err(Unusable::NoSession));
        };
        let now = self.now();
        let validated_after = now.saturating_sub(self.validated_session_lifetime_ms());
        if validated_ts <= validated_after {
            return Ok(Err(Unusable::Expired));
        }
        if !self
            .store
            .threepids()
            .use_threepid_session(sid, used_by, validated_after, now)
            .await?
        {
            return Ok(Err(Unusable::Spent));
        }
        Ok(Ok(session))
    }

    /// The address a UIA session validated with `m.login.email.identity`.
    pub(crate) async fn uia_validated_email(
        &self,
        uia_session: &str,
    ) -> Result<Option<String>, ThreepidError> {
        Ok(self
            .store
            .uia()
            .get_uia_completed_stages(uia_session)
            .await?
            .into_iter()
            .find(|(stage, _)| stage == EMAIL_IDENTITY)
            .and_then(|(_, result)| result.get("address")?.as_str().map(str::to_owned)))
    }

    /// Before a registration creates its user: the address it validated
    /// must still be free.
    pub(crate) async fn check_registration_email(
        &self,
        uia_session: &str,
    ) -> Result<Option<String>, ThreepidError> {
        let address = self.uia_validated_email(uia_session).await?;
        if let Some(address) = &address {
            if self
                .store
                .threepids()
                .get_user_by_threepid(MEDIUM_EMAIL, address)
                .await?
                .is_some()
            {
                return Err(ThreepidError::InUse);
            }
        }
        Ok(address)
    }
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The subject and plain-text body of a validation mail (Synapse's words).
fn mail_text(purpose: TokenPurpose, server_name: &str, link: &str) -> (String, String) {
    let (subject, what) = match purpose {
        TokenPurpose::Registration => (
            format!("[{server_name}] Validate your email"),
            "You have asked us to register this email with a new Matrix account.",
        ),
        TokenPurpose::AddThreepid => (
            format!("[{server_name}] Validate your email"),
            "You have asked us to add this email to your Matrix account.",
        ),
        TokenPurpose::PasswordReset => (
            format!("[{server_name}] Password reset"),
            "A password reset request has been received for your Matrix account.",
        ),
    };
    let body = format!(
        "Hello there,\n\n{what} If this was you, please click the link below to confirm \
         your email address:\n\n{link}\n\nIf this was not you, you can safely disregard \
         this email.\n\nThank you.\n"
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_canonicalised_and_checked() {
        assert_eq!(
            canonicalise_email(" Bob@Example.ORG ").unwrap(),
            "bob@example.org"
        );
        for bad in [
            "",
            "bob",
            "@x.org",
            "bob@",
            "a@b@c",
            "a b@c.org",
            "<a@b.org>",
        ] {
            assert!(canonicalise_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_secrets_follow_the_spec() {
        assert!(check_client_secret("abc.DEF=_-123").is_ok());
        assert!(check_client_secret(&"a".repeat(255)).is_ok());
        for bad in ["", "a b", "a/b", "é", &"a".repeat(256)] {
            assert!(check_client_secret(bad).is_err(), "{bad}");
        }
    }
}
