//! Single sign-on through upstream OpenID Connect providers.
//!
//! The flow: `start_sso` records a login in progress (state, nonce, PKCE
//! verifier, where the client wants to go back, a hash of a browser cookie)
//! in the database and sends the browser to the provider; `finish_sso`
//! takes that record back (once), exchanges the code, checks the id_token
//! or asks userinfo, enforces `attribute_requirements`, resolves the
//! external identity to a local user (the order is Sourcegraph's
//! GetAndSaveUser: existing link, then an existing user where allowed,
//! then a new user, then the link), and issues a login token. Any process
//! can finish a flow any other process started.

mod error;
pub mod login_token;
pub mod mapping;
pub mod oidc;
pub mod redirect;
mod uia;
pub mod upstream;
pub use error::SsoError;
pub use uia::operation_description;
pub mod username_picker;

use super::Auth;
use crate::auth::writes::{self, CreatedWithLink};
use crate::clock::random_string;
use crate::config::oidc::OidcProviderConfig;
use crate::store::{NewUser, SsoSession, UserThreepid};
use redirect::{classify_redirect, RedirectTarget};
use serde_json::{Map, Value};

pub const LOGIN_TYPE_SSO: &str = "m.login.sso";
/// The path of the callback under `public_baseurl`: Synapse's, so a client
/// registered at the provider for Synapse works unchanged.
pub const CALLBACK_PATH: &str = "_synapse/client/oidc/callback";
/// The cookie that binds a login in progress to the browser that started it.
pub const BINDING_COOKIE: &str = "mxauth_sso_session";
/// How long a login may stay at the provider (Synapse: one hour).
const SSO_SESSION_LIFETIME_MS: i64 = 60 * 60 * 1000;
/// How many numbered localparts are tried before giving up.
const MAX_LOCALPART_ATTEMPTS: u32 = 100;

/// Who an external identity is here.
enum Resolved {
    User(String),
    /// A new user, who chooses their username first.
    PickUsername(PendingUser),
}

/// What a new user chooses their username with.
pub(crate) struct PendingUser {
    pub idp_id: String,
    pub subject: String,
    pub suggested_localpart: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
}

/// Where `start_sso` sends the browser, and the cookie it must set.
/// (No `Debug`: the cookie is a secret.)
pub struct SsoStart {
    pub location: String,
    pub binding_cookie: String,
}

/// The provider's answer on the callback. (No `Debug`: the code is a secret.)
#[derive(Default)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    /// RFC 9207: the issuer the answer comes from, when the provider says.
    pub iss: Option<String>,
}

/// How a finished flow continues. (No `Debug`: it carries a login token
/// or a cookie.)
pub enum SsoFinish {
    /// A login: send the browser back to `redirect` (already carrying
    /// `loginToken`) if trusted, else through a confirmation page.
    Login {
        user_id: String,
        redirect: RedirectTarget,
    },
    /// A UIA `m.login.sso` stage was completed for this session.
    UiaStageDone { session_id: String },
    /// A new user chooses their username: send the browser to the picker
    /// with this cookie.
    PickUsername { username_cookie: String },
    /// A login from the OAuth 2.0 login page: log the browser in at
    /// mxauth's pages as `user_id` and continue grant `grant_id` (if it is
    /// still this browser's).
    OAuthGrant { user_id: String, grant_id: String },
}

impl Auth {
    /// The configured providers, in config order.
    pub fn sso_providers(&self) -> &[OidcProviderConfig] {
        &self.config.oidc_providers
    }

    pub fn sso_provider(&self, idp_id: &str) -> Option<&OidcProviderConfig> {
        self.sso_providers().iter().find(|p| p.idp_id == idp_id)
    }

    pub fn oidc_callback_url(&self) -> Option<String> {
        self.config
            .public_baseurl
            .as_ref()
            .map(|b| format!("{b}{CALLBACK_PATH}"))
    }

    /// Decides what may be done with a client's `redirectUrl`: the allowed
    /// prefixes are `sso.client_whitelist` and mxauth's own login fallback.
    pub fn classify_sso_redirect(&self, url: &str) -> RedirectTarget {
        let mut allowed = self.config.sso.client_whitelist.clone();
        if let Some(base) = &self.config.public_baseurl {
            allowed.push(format!("{base}_matrix/static/client/login/"));
        }
        classify_redirect(url, &allowed)
    }

    /// Starts a login at `idp_id` for a client that wants to go back to
    /// `client_redirect_url` (or, with `ui_auth_session_id`, a UIA stage).
    pub async fn start_sso(
        &self,
        idp_id: &str,
        client_redirect_url: &str,
        ui_auth_session_id: Option<String>,
    ) -> Result<SsoStart, SsoError> {
        if ui_auth_session_id.is_none()
            && self.classify_sso_redirect(client_redirect_url) == RedirectTarget::Invalid
        {
            return Err(SsoError::InvalidRedirectUrl);
        }
        self.begin_sso(idp_id, client_redirect_url, ui_auth_session_id, None)
            .await
    }

    /// Starts a login at `idp_id` from the OAuth 2.0 login page: once the
    /// user is resolved, the browser is logged in at mxauth's pages and
    /// continues what `grant_id` names (which the caller has checked is
    /// this browser's): an OAuth grant, a device grant or the account
    /// pages (`http::routes::oauth_browser::Flow::sso_ref`).
    pub async fn start_sso_for_grant(
        &self,
        idp_id: &str,
        grant_id: &str,
    ) -> Result<SsoStart, SsoError> {
        self.begin_sso(idp_id, "", None, Some(grant_id.to_owned()))
            .await
    }

    #[tracing::instrument(skip_all, fields(idp_id))]
    async fn begin_sso(
        &self,
        idp_id: &str,
        client_redirect_url: &str,
        ui_auth_session_id: Option<String>,
        oauth_grant_id: Option<String>,
    ) -> Result<SsoStart, SsoError> {
        let provider = self.sso_provider(idp_id).ok_or(SsoError::UnknownProvider)?;
        let callback = self
            .oidc_callback_url()
            .ok_or_else(|| SsoError::internal("oidc_providers without public_baseurl"))?;
        let upstream = self.upstream_oidc()?;
        let meta = oidc::metadata(upstream, provider)
            .await
            .map_err(provider_error)?;
        let rng = self.rng.as_ref();
        let state = random_string(rng, 32);
        let nonce = random_string(rng, 32);
        let verifier = oidc::uses_pkce(provider, &meta).then(|| random_string(rng, 64));
        let binding = random_string(rng, 32);
        let location = oidc::authorization_url(
            provider,
            &meta,
            &callback,
            &state,
            &nonce,
            verifier.as_deref(),
        )
        .map_err(provider_error)?;
        let now = self.now();
        self.store
            .sso()
            .create_sso_session(&SsoSession {
                state,
                idp_id: provider.idp_id.clone(),
                nonce,
                code_verifier: verifier,
                client_redirect_url: client_redirect_url.to_owned(),
                browser_binding_hash: super::tokens::hash_token(&binding),
                ui_auth_session_id,
                oauth_grant_id,
                created_ts: now,
                expires_ts: now + SSO_SESSION_LIFETIME_MS,
            })
            .await?;
        Ok(SsoStart {
            location,
            binding_cookie: binding,
        })
    }

    /// Finishes a login on the provider's callback. `binding_cookie` is the
    /// value of [`BINDING_COOKIE`] the browser sent.
    #[tracing::instrument(skip_all)]
    pub async fn finish_sso(
        &self,
        params: &CallbackParams,
        binding_cookie: Option<&str>,
    ) -> Result<SsoFinish, SsoError> {
        let state = params.state.as_deref().ok_or(SsoError::MissingState)?;
        let session = self
            .store
            .sso()
            .take_sso_session(state, self.now())
            .await?
            .ok_or(SsoError::LoginExpired)?;
        let bound = binding_cookie.is_some_and(|c| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                super::tokens::hash_token(c).as_slice(),
                session.browser_binding_hash.as_slice(),
            ))
        });
        if !bound {
            return Err(SsoError::OtherBrowser);
        }
        if let Some(e) = &params.error {
            tracing::info!(error = %e, "the identity provider refused the login");
            return Err(SsoError::ProviderRefused);
        }
        let code = params.code.as_deref().ok_or(SsoError::MissingCode)?;
        let provider = self
            .sso_provider(&session.idp_id)
            .ok_or(SsoError::UnknownProvider)?;
        // RFC 9207: an answer naming another issuer is a mix-up attack.
        if params
            .iss
            .as_ref()
            .is_some_and(|iss| *iss != provider.issuer)
        {
            tracing::warn!(idp_id = %provider.idp_id, "callback from another issuer");
            return Err(SsoError::IssuerMismatch);
        }
        let claims = self.claims_from_provider(provider, &session, code).await?;
        if !mapping::meets_requirements(&claims, &provider.attribute_requirements) {
            tracing::info!(idp_id = %provider.idp_id, "attribute requirements not met");
            return Err(SsoError::RequirementsNotMet);
        }
        let subject = mapping::render(&provider.mapping.subject_template, &claims);
        if subject.is_empty() {
            tracing::warn!(idp_id = %provider.idp_id, "the subject claim is empty");
            return Err(SsoError::NoSubject);
        }
        if let Some(uia_session) = session.ui_auth_session_id {
            self.complete_sso_uia_stage(&uia_session, &provider.idp_id, &subject)
                .await?;
            return Ok(SsoFinish::UiaStageDone {
                session_id: uia_session,
            });
        }
        let user_id = match self
            .resolve_external_user(provider, &subject, &claims)
            .await?
        {
            Resolved::User(user_id) => user_id,
            Resolved::PickUsername(pending) => {
                return self
                    .start_username_pick(
                        pending,
                        &session.client_redirect_url,
                        session.oauth_grant_id,
                    )
                    .await
            }
        };
        self.sso_login_finish(
            &user_id,
            &provider.idp_id,
            &session.client_redirect_url,
            session.oauth_grant_id,
        )
        .await
    }

    /// How a login of `user_id` resolved at `idp_id` ends: the OAuth 2.0
    /// grant it continues, or a login token for the client's redirect URL.
    pub(crate) async fn sso_login_finish(
        &self,
        user_id: &str,
        idp_id: &str,
        client_redirect_url: &str,
        oauth_grant_id: Option<String>,
    ) -> Result<SsoFinish, SsoError> {
        match oauth_grant_id {
            Some(grant_id) => {
                let user = self
                    .store
                    .users()
                    .get_user(user_id)
                    .await?
                    .ok_or_else(|| SsoError::internal("a linked user does not exist"))?;
                crate::auth::login::check_may_log_in(&user)?;
                Ok(SsoFinish::OAuthGrant {
                    user_id: user_id.to_owned(),
                    grant_id,
                })
            }
            None => {
                self.sso_login_redirect(user_id, Some(idp_id), client_redirect_url)
                    .await
            }
        }
    }

    /// A login token for `user_id` (who logged in at `idp_id`, or at
    /// mxauth's own pages) and where the browser takes it.
    pub(crate) async fn sso_login_redirect(
        &self,
        user_id: &str,
        idp_id: Option<&str>,
        client_redirect_url: &str,
    ) -> Result<SsoFinish, SsoError> {
        let user = self
            .store
            .users()
            .get_user(user_id)
            .await?
            .ok_or_else(|| SsoError::internal("a linked user does not exist"))?;
        // No login token for a user who could not use it.
        crate::auth::login::check_may_log_in(&user)?;
        let token = self.create_login_token(user_id, idp_id).await?;
        let redirect = match self.classify_sso_redirect(client_redirect_url) {
            RedirectTarget::Trusted(mut url) => {
                url.query_pairs_mut()
                    .append_pair("loginToken", token.expose());
                RedirectTarget::Trusted(url)
            }
            RedirectTarget::Untrusted { mut url, host } => {
                url.query_pairs_mut()
                    .append_pair("loginToken", token.expose());
                RedirectTarget::Untrusted { url, host }
            }
            RedirectTarget::Invalid => RedirectTarget::Invalid,
        };
        Ok(SsoFinish::Login {
            user_id: user_id.to_owned(),
            redirect,
        })
    }

    /// The claims of the user: the id_token's (checked), or userinfo's.
    async fn claims_from_provider(
        &self,
        provider: &OidcProviderConfig,
        session: &SsoSession,
        code: &str,
    ) -> Result<Map<String, Value>, SsoError> {
        let callback = self
            .oidc_callback_url()
            .ok_or_else(|| SsoError::internal("oidc_providers without public_baseurl"))?;
        let upstream = self.upstream_oidc()?;
        let meta = oidc::metadata(upstream, provider)
            .await
            .map_err(provider_error)?;
        let token = oidc::exchange_code(
            upstream,
            provider,
            &meta,
            code,
            &callback,
            session.code_verifier.as_deref(),
        )
        .await
        .map_err(provider_error)?;
        let now_s = self.now() / 1000;
        let id_claims = match &token.id_token {
            Some(id_token) => Some(
                oidc::verify_id_token(upstream, provider, &meta, id_token, &session.nonce, now_s)
                    .await
                    .map_err(provider_error)?,
            ),
            None => None,
        };
        if oidc::uses_userinfo(provider) {
            let access = token
                .access_token
                .as_deref()
                .ok_or_else(|| provider_error(oidc::ProviderError("no access_token".into())))?;
            let info = oidc::fetch_userinfo(upstream, &meta, access)
                .await
                .map_err(provider_error)?;
            // OIDC Core 5.3.2: userinfo's sub must be the id_token's.
            if let Some(id) = &id_claims {
                if id.get("sub") != info.get("sub") {
                    return Err(provider_error(oidc::ProviderError(
                        "userinfo sub differs from the id_token's".into(),
                    )));
                }
            }
            return Ok(info);
        }
        id_claims.ok_or_else(|| {
            provider_error(oidc::ProviderError(
                "no id_token although the openid scope was asked for".into(),
            ))
        })
    }

    /// The local user of an external identity, in this order: an existing
    /// link; with `allow_existing_users`, the user of the mapped localpart
    /// (and, with `match_existing_users_by_email`, of the verified email);
    /// a new user when the provider allows registration. Profile fields
    /// are set only when the user is created or first linked.
    async fn resolve_external_user(
        &self,
        provider: &OidcProviderConfig,
        subject: &str,
        claims: &Map<String, Value>,
    ) -> Result<Resolved, SsoError> {
        let idp = &provider.idp_id;
        if let Some(user_id) = self
            .store
            .sso()
            .get_user_by_external_id(idp, subject)
            .await?
        {
            return Ok(Resolved::User(user_id));
        }
        let max_len = self.max_localpart_len();
        let localpart = provider
            .mapping
            .localpart_template
            .as_ref()
            .map(|t| mapping::render(t, claims))
            .and_then(|raw| mapping::map_username_to_localpart(&raw, max_len));
        let display_name = provider
            .mapping
            .display_name_template
            .as_ref()
            .map(|t| mapping::render(t, claims))
            .filter(|d| !d.is_empty());
        // An email is trusted (kept as validated, matched against existing
        // users) only when the provider says it is verified: an absent
        // `email_verified` is not a yes.
        let email_verified = claims.get("email_verified") == Some(&Value::Bool(true));
        let email = provider
            .mapping
            .email_template
            .as_ref()
            .map(|t| mapping::render(t, claims).to_lowercase())
            .filter(|e| e.contains('@') && email_verified);

        if provider.allow_existing_users {
            if let Some(user_id) = self
                .existing_user_for(provider, localpart.as_deref(), email.as_deref())
                .await?
            {
                let owner = self
                    .store
                    .sso()
                    .link_external_id(idp, subject, &user_id, self.now())
                    .await?;
                if owner == user_id {
                    let user = self.store.users().get_user(&user_id).await?;
                    if user.is_some_and(|u| u.displayname.is_none()) && display_name.is_some() {
                        self.store
                            .users()
                            .set_profile_fields(&user_id, None, display_name.as_deref())
                            .await?;
                    }
                    tracing::info!(%user_id, idp_id = %idp, "linked an existing user");
                }
                return Ok(Resolved::User(owner));
            }
        }
        if !provider.enable_registration {
            return Err(SsoError::RegistrationDisabled);
        }
        // A new account: auth blocking as for any registration.
        self.check_registration_blocking(email.as_deref().map(|a| ("email", a)), None)
            .await?;
        let base = match localpart {
            Some(base) if !provider.mapping.confirm_localpart => base,
            // The user chooses (Synapse's username picker).
            suggestion => {
                return Ok(Resolved::PickUsername(PendingUser {
                    idp_id: idp.clone(),
                    subject: subject.to_owned(),
                    suggested_localpart: suggestion,
                    display_name,
                    email,
                }))
            }
        };
        for failures in 0..MAX_LOCALPART_ATTEMPTS {
            let candidate = mapping::candidate(&base, failures, max_len);
            let user_id = format!("@{candidate}:{}", self.server_name());
            // A name reserved elsewhere (application services) is skipped.
            if self.exclusively_claimed(&user_id, None) {
                continue;
            }
            let outcome = self
                .create_sso_user(
                    &user_id,
                    idp,
                    subject,
                    display_name.as_deref(),
                    email.as_deref(),
                )
                .await?;
            match outcome {
                CreatedWithLink::Created => return Ok(Resolved::User(user_id)),
                CreatedWithLink::LinkTaken(owner) => return Ok(Resolved::User(owner)),
                CreatedWithLink::UserTaken => continue,
            }
        }
        Err(SsoError::NoFreeUsername)
    }

    /// Creates `user_id` linked to (`idp`, `subject`) in one transaction,
    /// with the display name and the (verified) email of first occurrence;
    /// a created user is then provisioned like any new account.
    pub(super) async fn create_sso_user(
        &self,
        user_id: &str,
        idp: &str,
        subject: &str,
        display_name: Option<&str>,
        email: Option<&str>,
    ) -> Result<CreatedWithLink, SsoError> {
        let now = self.now();
        let threepid = email.map(|address| UserThreepid {
            user_id: user_id.to_owned(),
            medium: "email".into(),
            address: address.to_owned(),
            validated_ts: now,
            added_ts: now,
        });
        let outcome = writes::create_user_with_link(
            &*self.store,
            &NewUser {
                user_id: user_id.to_owned(),
                created_ts: now,
                displayname: display_name.map(str::to_owned),
                ..NewUser::default()
            },
            idp,
            subject,
            threepid.as_ref(),
        )
        .await?;
        if let CreatedWithLink::Created = outcome {
            tracing::info!(%user_id, idp_id = %idp, "registered a user through SSO");
            self.provision_new_user(user_id, display_name).await?;
        }
        Ok(outcome)
    }

    async fn existing_user_for(
        &self,
        provider: &OidcProviderConfig,
        localpart: Option<&str>,
        verified_email: Option<&str>,
    ) -> Result<Option<String>, SsoError> {
        if let Some(lp) = localpart {
            let user_id = format!("@{lp}:{}", self.server_name());
            let mut users = self
                .store
                .users()
                .get_users_case_insensitive(&user_id)
                .await?;
            if let Some(i) = users.iter().position(|u| u.user_id == user_id) {
                return Ok(Some(users.swap_remove(i).user_id));
            }
            match users.len() {
                0 => {}
                1 => return Ok(users.pop().map(|u| u.user_id)),
                _ => return Err(SsoError::AmbiguousUser),
            }
        }
        if provider.match_existing_users_by_email {
            if let Some(address) = verified_email {
                return Ok(self
                    .store
                    .threepids()
                    .get_user_by_threepid("email", address)
                    .await?);
            }
        }
        Ok(None)
    }

    /// What makes the HTTP calls to the providers.
    fn upstream_oidc(&self) -> Result<&dyn upstream::UpstreamOidc, SsoError> {
        self.upstream_oidc.as_deref().ok_or_else(|| {
            provider_error(oidc::ProviderError(
                "oidc_providers without an upstream client".into(),
            ))
        })
    }

    /// The longest localpart that keeps `@localpart:server` within 255.
    fn max_localpart_len(&self) -> usize {
        255usize
            .saturating_sub(2 + self.server_name().len())
            .min(200)
    }
}

/// Logs what went wrong with the provider; the client learns only that it did.
fn provider_error(e: oidc::ProviderError) -> SsoError {
    tracing::warn!(error = %e, "OpenID Connect provider");
    SsoError::ProviderUnavailable
}
