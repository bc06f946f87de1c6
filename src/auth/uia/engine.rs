//! User-Interactive Auth: one engine for every protected endpoint.
//!
//! A session lives in the database (never in one process), so its requests
//! may reach different processes. It is bound to what started it: the
//! method and URI, the user (for re-authentication), and the body. Later
//! requests may omit the body or add keys, but a key already sent keeps its
//! value; otherwise 403 and nothing is done. Secret fields (passwords) are
//! never stored as sent: the first one seen is kept as an argon2id hash,
//! later ones must verify against it. Once the operation has been carried
//! out the session is spent and replaying it returns what was recorded.
//!
//! The engine names no stage: it asks the registry (`Auth::uia_stages`)
//! for the stage of a `type`, its `params` and what it holds.

use super::{StageError, StageResult, UiaChallenge, UiaError};
use crate::auth::identifiers::stored_user_id;
use crate::auth::{Auth, Requester};
use crate::clock::random_string;
use crate::error::{ErrCode, Error};
use crate::store::{ResultOnce, StoreResult, UiaSession};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The most a session without a user (registration) keeps of what the
/// client sent: its URI and its body as JSON (secrets taken out), in bytes.
/// Beyond it the request is refused with 413 `M_TOO_LARGE`, before anything
/// is stored or hashed. A registration body is a few hundred bytes.
pub const MAX_ANONYMOUS_SESSION_BYTES: usize = 4096;

const SECRET_PREFIX: &str = "secret:";

type Result<T> = std::result::Result<T, UiaError>;

/// The flows an operation offers: each a list of stage types, in order.
/// The challenge's `params` come from the stages (`Stage::params`).
#[derive(Debug, Clone, Default)]
pub struct Flows {
    pub flows: Vec<Vec<String>>,
}

impl Flows {
    pub fn single(stages: &[&str]) -> Self {
        Flows {
            flows: vec![stages.iter().map(|s| s.to_string()).collect()],
        }
    }

    fn offers(&self, stage: &str) -> bool {
        self.flows.iter().any(|f| f.iter().any(|s| s == stage))
    }

    /// Whether `stage` may be done now: it is the next stage of a flow
    /// whose earlier stages are all completed (the spec: in order).
    fn may_do_next(&self, stage: &str, completed: &[String]) -> bool {
        self.flows
            .iter()
            .any(|f| match f.iter().position(|s| s == stage) {
                Some(i) => f[..i].iter().all(|s| completed.iter().any(|c| c == s)),
                None => false,
            })
    }

    fn satisfied_by(&self, completed: &[String]) -> bool {
        self.flows
            .iter()
            .any(|f| f.iter().all(|s| completed.iter().any(|c| c == s)))
    }
}

/// One request of an operation protected by UIA.
pub struct UiaRequest<'a> {
    pub method: &'a str,
    /// Path and query of the request.
    pub uri: &'a str,
    /// The request body with `auth` taken out.
    pub body: &'a Map<String, Value>,
    /// The `auth` dict; `None` when absent or `null`.
    pub auth: Option<&'a Map<String, Value>>,
    /// The authenticated user, for re-authentication.
    pub requester: Option<&'a Requester>,
    /// Keys of `body` holding secrets (passwords).
    pub secret_fields: &'a [&'a str],
}

/// A session whose flows are complete.
#[derive(Debug)]
pub struct UiaPassed {
    pub session_id: String,
    /// The session's body: the first request's, plus keys added later.
    /// Secret fields are not in it: see `secret_hashes`.
    pub params: Map<String, Value>,
    /// argon2id hashes of the secret fields sent during the session.
    pub secret_hashes: HashMap<String, String>,
    /// Set when the operation was already carried out (a replay): what it recorded.
    pub previous_result: Option<Value>,
    /// What the stages recorded for the session (e.g. a reserved registration token).
    pub server_data: Map<String, Value>,
}

/// A request's path and query with every `access_token` parameter taken
/// out (the other parameters are kept as sent, in order): what a UIA
/// session stores and compares.
pub(crate) fn uri_without_access_token(uri: &str) -> String {
    let Some((path, query)) = uri.split_once('?') else {
        return uri.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            let decoded = url::form_urlencoded::parse(key.as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default();
            !pair.is_empty() && decoded != "access_token"
        })
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

impl Auth {
    /// Runs one request through UIA: returns when a flow is complete,
    /// otherwise the 401 challenge (or another error) to answer with.
    #[tracing::instrument(skip_all, fields(uri = tracing::field::Empty))]
    pub async fn check_uia(&self, req: UiaRequest<'_>, flows: &Flows) -> Result<UiaPassed> {
        // The session is bound to the URI without its access token: the
        // token is never stored (nor logged), and a later request of the
        // session still matches whichever way it sends its token.
        let uri = uri_without_access_token(req.uri);
        tracing::Span::current().record("uri", uri.as_str());
        let req = UiaRequest { uri: &uri, ..req };
        let session_id = match req.auth.and_then(|a| a.get("session")) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(UiaError::NotAString("'auth.session'".into())),
        };
        let session = match session_id {
            Some(id) => self.resume_session(&id, &req).await?,
            None => self.new_session(&req).await?,
        };
        let secret_hashes = secret_hashes(&session.server_dict);

        if session.result.is_some() {
            return Ok(UiaPassed {
                session_id: session.session_id,
                params: session.client_dict,
                secret_hashes,
                previous_result: session.result,
                server_data: session.server_dict,
            });
        }
        let mut completed: Vec<String> = self
            .store
            .uia()
            .get_uia_completed_stages(&session.session_id)
            .await?
            .into_iter()
            .map(|(stage, _)| stage)
            .collect();
        let mut failure = None;
        let mut stage_done = false;
        if let Some(auth) = req.auth {
            match auth.get("type") {
                None | Some(Value::Null) => {}
                Some(Value::String(stage)) => {
                    if !flows.offers(stage) {
                        return Err(UiaError::StageNotOffered(stage.clone()));
                    }
                    let outcome = if flows.may_do_next(stage, &completed) {
                        self.check_stage(stage, auth, &session).await
                    } else {
                        Err(StageError::Failed(
                            ErrCode::Forbidden,
                            format!("Complete the stages before '{stage}' first"),
                        ))
                    };
                    match outcome {
                        Ok(result) => {
                            self.store
                                .uia()
                                .mark_uia_stage_completed(&session.session_id, stage, &result)
                                .await?;
                            if !completed.contains(stage) {
                                completed.push(stage.clone());
                            }
                            stage_done = true;
                        }
                        Err(StageError::Failed(code, message)) => failure = Some((code, message)),
                        Err(StageError::Fatal(e)) => return Err(UiaError::stage(e)),
                    }
                }
                Some(_) => return Err(UiaError::NotAString("'auth.type'".into())),
            }
        }

        if failure.is_none() && flows.satisfied_by(&completed) {
            // A stage done just now may have added to the server dict.
            let server_data = if stage_done {
                match self
                    .store
                    .uia()
                    .get_uia_session(&session.session_id)
                    .await?
                {
                    Some(s) => s.server_dict,
                    None => session.server_dict,
                }
            } else {
                session.server_dict
            };
            return Ok(UiaPassed {
                session_id: session.session_id,
                params: session.client_dict,
                secret_hashes,
                previous_result: None,
                server_data,
            });
        }
        Err(UiaError::Challenge(Box::new(UiaChallenge {
            session: session.session_id,
            flows: flows.flows.clone(),
            params: self.uia_stages.params(self, flows),
            completed: req.auth.is_some().then_some(completed),
            failure,
        })))
    }

    /// Records what the session's operation did. Returns the result an
    /// earlier request recorded, if one beat this one to it.
    pub async fn finish_uia(&self, session_id: &str, result: &Value) -> Result<Option<Value>> {
        if session_id.is_empty() {
            // UIA was skipped (ui_auth.session_timeout): no session to spend.
            return Ok(None);
        }
        match self
            .store
            .uia()
            .set_uia_result_once(session_id, result)
            .await?
        {
            ResultOnce::Already(previous) => Ok(Some(previous)),
            ResultOnce::Recorded | ResultOnce::NoSession => Ok(None),
        }
    }

    /// The flows a stored session offers: re-authentication for a session
    /// bound to a user, registration otherwise.
    async fn flows_of(&self, session: &UiaSession) -> Result<Flows> {
        match &session.user_id {
            // Bound to the requester's ID, parsed when it was authenticated.
            Some(user) => match stored_user_id(user) {
                Some(user) => self.reauth_flows(&user).await,
                None => Err(UiaError::internal("a UIA session is bound to no user ID")),
            },
            None => Ok(self.registration_flows()),
        }
    }

    /// For a fallback page: the live session `session_id` and its flows.
    /// Unknown or expired → 400.
    pub async fn fallback_session(&self, session_id: &str) -> Result<(UiaSession, Flows)> {
        let session = self.live_session(session_id).await?;
        let flows = self.flows_of(&session).await?;
        Ok((session, flows))
    }

    /// A stage done on its fallback page: checked as if the client had
    /// sent `auth`, in order, and recorded in the session. `Ok(None)` when
    /// it is completed; `Ok(Some(message))` when the stage failed.
    pub async fn complete_stage_via_fallback(
        &self,
        session_id: &str,
        stage: &str,
        auth: &Map<String, Value>,
    ) -> Result<Option<String>> {
        let (session, flows) = self.fallback_session(session_id).await?;
        if !flows.offers(stage) {
            return Err(UiaError::StageNotInSession(stage.to_owned()));
        }
        let done: Vec<String> = self
            .store
            .uia()
            .get_uia_completed_stages(session_id)
            .await?
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        if !flows.may_do_next(stage, &done) {
            return Ok(Some(format!("Complete the stages before '{stage}' first")));
        }
        match self.check_stage(stage, auth, &session).await {
            Ok(result) => {
                self.store
                    .uia()
                    .mark_uia_stage_completed(session_id, stage, &result)
                    .await?;
                Ok(None)
            }
            Err(StageError::Failed(_, message)) => Ok(Some(message)),
            Err(StageError::Fatal(Error::Matrix { message, .. })) => Ok(Some(message)),
            Err(StageError::Fatal(e)) => Err(UiaError::stage(e)),
        }
    }

    /// Deletes expired sessions; a registration token an unfinished
    /// session held is given back. Returns how many went.
    pub async fn sweep_uia_sessions(&self) -> StoreResult<u64> {
        let before = self.now() - self.config.mxauth.uia_session_lifetime_ms as i64;
        let mut swept = 0;
        loop {
            let expired = self
                .store
                .uia()
                .list_uia_sessions_before(before, 500)
                .await?;
            if expired.is_empty() {
                return Ok(swept);
            }
            for session in expired {
                self.drop_session(&session).await?;
                swept += 1;
            }
        }
    }

    /// Deletes a session; if this call deleted it and its operation never
    /// ran, a registration token it held is given back.
    async fn drop_session(&self, session: &UiaSession) -> StoreResult<()> {
        // The store gives the use back only if the session still had no
        // result when deleted, in the same transaction.
        match self.uia_stages.held_token_key() {
            Some(key) => {
                self.store
                    .uia()
                    .delete_uia_session_releasing(&session.session_id, key)
                    .await?
            }
            None => {
                self.store
                    .uia()
                    .delete_uia_session(&session.session_id)
                    .await?
            }
        };
        Ok(())
    }

    async fn new_session(&self, req: &UiaRequest<'_>) -> Result<UiaSession> {
        let (client_dict, secrets) = split_secrets(req.body, req.secret_fields)?;
        check_stored_size(req, &client_dict)?;
        let mut server_dict = Map::new();
        for (field, value) in secrets {
            let hash = self.hash_password(&value).await?;
            server_dict.insert(format!("{SECRET_PREFIX}{field}"), json!(hash));
        }
        let session = UiaSession {
            session_id: random_string(self.rng.as_ref(), 24),
            created_ts: self.now(),
            uri: req.uri.to_owned(),
            method: req.method.to_owned(),
            user_id: req.requester.map(|r| r.user_id.to_string()),
            client_dict,
            server_dict,
            result: None,
        };
        self.store.uia().create_uia_session(&session).await?;
        Ok(session)
    }

    /// The session `id` while it lives; an expired one is dropped.
    async fn live_session(&self, id: &str) -> Result<UiaSession> {
        let session = self
            .store
            .uia()
            .get_uia_session(id)
            .await?
            .ok_or(UiaError::UnknownSession)?;
        let lifetime = self.config.mxauth.uia_session_lifetime_ms as i64;
        if session.created_ts.saturating_add(lifetime) <= self.now() {
            self.drop_session(&session).await?;
            return Err(UiaError::UnknownSession);
        }
        Ok(session)
    }

    async fn resume_session(&self, id: &str, req: &UiaRequest<'_>) -> Result<UiaSession> {
        let mut session = self.live_session(id).await?;
        if session.method != req.method || session.uri != req.uri {
            return Err(UiaError::OperationChanged);
        }
        if session.user_id.as_deref() != req.requester.map(|r| r.user_id.as_str()) {
            return Err(UiaError::AnotherUser);
        }
        let (body, secrets) = split_secrets(req.body, req.secret_fields)?;
        let mut added = false;
        for (key, value) in body {
            match session.client_dict.get(&key) {
                Some(old) if *old == value => {}
                Some(_) => return Err(UiaError::OperationChanged),
                None => {
                    session.client_dict.insert(key, value);
                    added = true;
                }
            }
        }
        if added {
            check_stored_size(req, &session.client_dict)?;
        }
        for (field, value) in secrets {
            let key = format!("{SECRET_PREFIX}{field}");
            match session.server_dict.get(&key).and_then(Value::as_str) {
                Some(hash) => {
                    let same = self.hasher.verify(&value, Some(hash)).await?;
                    if same == crate::auth::password::Verified::No {
                        return Err(UiaError::OperationChanged);
                    }
                }
                None => {
                    let hash = self.hash_password(&value).await?;
                    self.store
                        .uia()
                        .set_uia_server_value(id, &key, &json!(hash))
                        .await?;
                    session.server_dict.insert(key, json!(hash));
                }
            }
        }
        if added {
            self.store
                .uia()
                .update_uia_client_dict(id, &session.client_dict)
                .await?;
        }
        Ok(session)
    }

    /// Checks `auth` with the stage of type `stage` (a flow offers it).
    async fn check_stage(
        &self,
        stage: &str,
        auth: &Map<String, Value>,
        session: &UiaSession,
    ) -> StageResult {
        match self.uia_stages.get(stage) {
            Some(checker) => checker.check(self, auth, session).await,
            None => Err(StageError::Fatal(Error::unrecognized(
                400,
                format!("Unrecognised auth stage type '{stage}'"),
            ))),
        }
    }
}

/// Refuses to keep more than [`MAX_ANONYMOUS_SESSION_BYTES`] for a
/// session anyone may start.
fn check_stored_size(req: &UiaRequest<'_>, client_dict: &Map<String, Value>) -> Result<()> {
    if req.requester.is_some() {
        return Ok(());
    }
    let body = serde_json::to_vec(client_dict)
        .map_err(UiaError::internal)?
        .len();
    if req.uri.len() + body > MAX_ANONYMOUS_SESSION_BYTES {
        return Err(UiaError::TooLarge);
    }
    Ok(())
}

/// A secret field's name and value.
type SecretField = (String, zeroize::Zeroizing<String>);

/// Splits the secret fields off a body. A secret must be a string.
fn split_secrets(
    body: &Map<String, Value>,
    secret_fields: &[&str],
) -> Result<(Map<String, Value>, Vec<SecretField>)> {
    let mut plain = Map::new();
    let mut secrets = Vec::new();
    for (key, value) in body {
        if secret_fields.contains(&key.as_str()) {
            match value {
                Value::String(s) => secrets.push((key.clone(), zeroize::Zeroizing::new(s.clone()))),
                Value::Null => {}
                _ => return Err(UiaError::NotAString(format!("'{key}'"))),
            }
        } else {
            plain.insert(key.clone(), value.clone());
        }
    }
    Ok((plain, secrets))
}

fn secret_hashes(server_dict: &Map<String, Value>) -> HashMap<String, String> {
    server_dict
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix(SECRET_PREFIX)?.to_owned(),
                v.as_str()?.to_owned(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::uri_without_access_token as strip;

    #[test]
    fn access_tokens_are_taken_out_of_the_uri() {
        assert_eq!(strip("/a/b"), "/a/b");
        assert_eq!(strip("/a?access_token=syt_x"), "/a");
        assert_eq!(strip("/a?access%5Ftoken=syt_x"), "/a");
        assert_eq!(
            strip("/a?kind=user&access_token=x&access_token=y&b=%20"),
            "/a?kind=user&b=%20"
        );
        assert_eq!(strip("/a?&access_token&x=1"), "/a?x=1");
        assert_eq!(strip("/a?access_tokens=1"), "/a?access_tokens=1");
    }
}
