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

use super::identifiers::parse_identifier;
use super::{Auth, Requester};
use crate::clock::random_string;
use crate::error::{ErrCode, Error, Result};
use crate::store::UiaSession;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub const DUMMY: &str = "m.login.dummy";
pub const PASSWORD: &str = "m.login.password";

const SECRET_PREFIX: &str = "secret:";

/// The flows an operation offers and their `params`.
#[derive(Debug, Clone, Default)]
pub struct Flows {
    pub flows: Vec<Vec<String>>,
    pub params: Map<String, Value>,
}

impl Flows {
    pub fn single(stages: &[&str]) -> Self {
        Flows {
            flows: vec![stages.iter().map(|s| s.to_string()).collect()],
            params: Map::new(),
        }
    }

    fn offers(&self, stage: &str) -> bool {
        self.flows.iter().any(|f| f.iter().any(|s| s == stage))
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
}

/// A request protected by re-authentication: where it was sent and its body.
pub struct Reauth<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub body: &'a Map<String, Value>,
    pub auth: Option<&'a Map<String, Value>>,
    pub requester: &'a Requester,
}

impl Auth {
    /// The flows offered to a user proving it is them.
    pub(crate) async fn reauth_flows(&self, user_id: &str) -> Result<Flows> {
        let has_password = self
            .store
            .get_user(user_id)
            .await?
            .is_some_and(|u| u.password_hash.is_some());
        if self.password_reauth_enabled() && has_password {
            return Ok(Flows::single(&[PASSWORD]));
        }
        Err(Error::forbidden(
            "This account has no way to re-authenticate (no password set)",
        ))
    }

    /// Runs re-authentication for `req`: the operation may go ahead when
    /// this returns (and does nothing new if `previous_result` is set).
    pub(crate) async fn reauthenticate(
        &self,
        req: &Reauth<'_>,
        secret_fields: &[&str],
    ) -> Result<UiaPassed> {
        let flows = self.reauth_flows(&req.requester.user_id).await?;
        self.check_uia(
            UiaRequest {
                method: req.method,
                uri: req.uri,
                body: req.body,
                auth: req.auth,
                requester: Some(req.requester),
                secret_fields,
            },
            &flows,
        )
        .await
    }
}

enum StageError {
    /// The stage failed: answer 401 with the challenge and this error.
    Failed(ErrCode, String),
    /// The request is wrong beyond the stage: answer with this error.
    Fatal(Error),
}

impl From<Error> for StageError {
    fn from(e: Error) -> Self {
        StageError::Fatal(e)
    }
}

impl Auth {
    /// Runs one request through UIA: returns when a flow is complete,
    /// otherwise the 401 challenge (or another error) to answer with.
    #[tracing::instrument(skip_all, fields(uri = req.uri))]
    pub async fn check_uia(&self, req: UiaRequest<'_>, flows: &Flows) -> Result<UiaPassed> {
        let session_id = match req.auth.and_then(|a| a.get("session")) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Error::bad_json("'auth.session' must be a string")),
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
            });
        }

        let mut failure = None;
        if let Some(auth) = req.auth {
            match auth.get("type") {
                None | Some(Value::Null) => {}
                Some(Value::String(stage)) => {
                    if !flows.offers(stage) {
                        return Err(Error::unrecognized(
                            400,
                            format!("Unrecognised or unavailable auth stage type '{stage}'"),
                        ));
                    }
                    match self.check_stage(stage, auth, &session).await {
                        Ok(result) => {
                            self.store
                                .mark_uia_stage_completed(&session.session_id, stage, &result)
                                .await?;
                        }
                        Err(StageError::Failed(code, message)) => failure = Some((code, message)),
                        Err(StageError::Fatal(e)) => return Err(e),
                    }
                }
                Some(_) => return Err(Error::bad_json("'auth.type' must be a string")),
            }
        }

        let completed: Vec<String> = self
            .store
            .get_uia_completed_stages(&session.session_id)
            .await?
            .into_iter()
            .map(|(stage, _)| stage)
            .collect();
        if failure.is_none() && flows.satisfied_by(&completed) {
            return Ok(UiaPassed {
                session_id: session.session_id,
                params: session.client_dict,
                secret_hashes,
                previous_result: None,
            });
        }
        let mut body = Map::new();
        body.insert("session".into(), json!(session.session_id));
        body.insert(
            "flows".into(),
            Value::Array(flows.flows.iter().map(|f| json!({ "stages": f })).collect()),
        );
        body.insert("params".into(), Value::Object(flows.params.clone()));
        if req.auth.is_some() {
            body.insert("completed".into(), json!(completed));
        }
        if let Some((code, message)) = failure {
            body.insert("errcode".into(), json!(code.as_str()));
            body.insert("error".into(), json!(message));
        }
        Err(Error::AuthRequired(Box::new(body)))
    }

    /// Records what the session's operation did. Returns the result an
    /// earlier request recorded, if one beat this one to it.
    pub async fn finish_uia(&self, session_id: &str, result: &Value) -> Result<Option<Value>> {
        Ok(self.store.set_uia_result_once(session_id, result).await?)
    }

    async fn new_session(&self, req: &UiaRequest<'_>) -> Result<UiaSession> {
        let (client_dict, secrets) = split_secrets(req.body, req.secret_fields)?;
        let mut server_dict = Map::new();
        for (field, value) in secrets {
            let hash = self.hash_password(&value).await?;
            server_dict.insert(format!("{SECRET_PREFIX}{field}"), json!(hash));
        }
        let session = UiaSession {
            session_id: random_string(self.rng.as_ref(), 24),
            creation_ts: self.now(),
            uri: req.uri.to_owned(),
            method: req.method.to_owned(),
            user_id: req.requester.map(|r| r.user_id.clone()),
            client_dict,
            server_dict,
            result: None,
        };
        self.store.create_uia_session(&session).await?;
        Ok(session)
    }

    async fn resume_session(&self, id: &str, req: &UiaRequest<'_>) -> Result<UiaSession> {
        let unknown = || Error::new(400, ErrCode::Unknown, "Unknown session ID");
        let mut session = self.store.get_uia_session(id).await?.ok_or_else(unknown)?;
        let lifetime = self.config.mxauth.uia_session_lifetime_ms as i64;
        if session.creation_ts.saturating_add(lifetime) <= self.now() {
            self.store.delete_uia_session(id).await?;
            return Err(unknown());
        }
        let changed = || {
            Error::forbidden(
                "Requested operation has changed during the UI authentication session.",
            )
        };
        if session.method != req.method || session.uri != req.uri {
            return Err(changed());
        }
        if session.user_id.as_deref() != req.requester.map(|r| r.user_id.as_str()) {
            return Err(Error::forbidden(
                "This authentication session belongs to another user.",
            ));
        }
        let (body, secrets) = split_secrets(req.body, req.secret_fields)?;
        let mut added = false;
        for (key, value) in body {
            match session.client_dict.get(&key) {
                Some(old) if *old == value => {}
                Some(_) => return Err(changed()),
                None => {
                    session.client_dict.insert(key, value);
                    added = true;
                }
            }
        }
        for (field, value) in secrets {
            let key = format!("{SECRET_PREFIX}{field}");
            match session.server_dict.get(&key).and_then(Value::as_str) {
                Some(hash) => {
                    let same = self.hasher.verify(&value, Some(hash)).await?;
                    if same == super::password::Verified::No {
                        return Err(changed());
                    }
                }
                None => {
                    let hash = self.hash_password(&value).await?;
                    self.store
                        .set_uia_server_value(id, &key, &json!(hash))
                        .await?;
                    session.server_dict.insert(key, json!(hash));
                }
            }
        }
        if added {
            self.store
                .update_uia_client_dict(id, &session.client_dict)
                .await?;
        }
        Ok(session)
    }

    async fn check_stage(
        &self,
        stage: &str,
        auth: &Map<String, Value>,
        session: &UiaSession,
    ) -> std::result::Result<Value, StageError> {
        match stage {
            super::threepids::EMAIL_IDENTITY => self
                .check_email_identity_stage(auth)
                .await?
                .map_err(|(code, message)| StageError::Failed(code, message)),
            DUMMY => Ok(json!(true)),
            PASSWORD => {
                let identifier = parse_identifier(auth)?;
                let password = match auth.get("password") {
                    Some(Value::String(p)) => zeroize::Zeroizing::new(p.clone()),
                    None | Some(Value::Null) => {
                        return Err(Error::missing_param("Missing param: password").into())
                    }
                    Some(_) => return Err(Error::bad_json("'password' must be a string").into()),
                };
                let Some(user) = self.check_password(&identifier, &password).await? else {
                    return Err(StageError::Failed(
                        ErrCode::Forbidden,
                        "Invalid username or password".into(),
                    ));
                };
                if session.user_id.as_deref() != Some(user.as_str()) {
                    return Err(Error::forbidden("Invalid auth: wrong user").into());
                }
                Ok(json!(user))
            }
            other => Err(Error::unrecognized(
                400,
                format!("Unrecognised auth stage type '{other}'"),
            )
            .into()),
        }
    }
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
                _ => return Err(Error::bad_json(format!("'{key}' must be a string"))),
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
