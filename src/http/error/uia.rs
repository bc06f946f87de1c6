//! User-Interactive Auth's refusals ([`UiaError`]) as Matrix errors, and
//! its challenge as the spec's 401 body: `session`, `flows` (each
//! `{stages}`), `params`, `completed` when the request tried a stage, and
//! `errcode`/`error` when that stage failed.

use crate::auth::uia::{UiaChallenge, UiaError, MAX_ANONYMOUS_SESSION_BYTES};
use crate::error::{ErrCode, Error};
use serde_json::{json, Map, Value};

impl From<UiaError> for Error {
    fn from(e: UiaError) -> Self {
        match e {
            UiaError::Challenge(c) => Error::AuthRequired(Box::new(challenge_body(*c))),
            UiaError::NotAString(field) => Error::bad_json(format!("{field} must be a string")),
            UiaError::StageNotOffered(stage) => Error::unrecognized(
                400,
                format!("Unrecognised or unavailable auth stage type '{stage}'"),
            ),
            UiaError::StageNotInSession(stage) => {
                Error::unrecognized(400, format!("This session does not offer '{stage}'"))
            }
            UiaError::UnknownSession => Error::new(400, ErrCode::Unknown, "Unknown session ID"),
            UiaError::OperationChanged => Error::forbidden(
                "Requested operation has changed during the UI authentication session.",
            ),
            UiaError::AnotherUser => {
                Error::forbidden("This authentication session belongs to another user.")
            }
            UiaError::TooLarge => Error::new(
                413,
                ErrCode::TooLarge,
                format!(
                    "The request is too large to start a session with \
                     (at most {MAX_ANONYMOUS_SESSION_BYTES} bytes)"
                ),
            ),
            UiaError::NoWayToReauthenticate => {
                Error::forbidden("This account has no way to re-authenticate (no password set)")
            }
            UiaError::Hash(e) => e.into(),
            UiaError::Stage(e) => *e,
            UiaError::Internal => Error::Internal,
        }
    }
}

fn challenge_body(c: UiaChallenge) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("session".into(), json!(c.session));
    body.insert(
        "flows".into(),
        Value::Array(c.flows.iter().map(|f| json!({ "stages": f })).collect()),
    );
    body.insert("params".into(), Value::Object(c.params));
    if let Some(completed) = c.completed {
        body.insert("completed".into(), json!(completed));
    }
    if let Some((code, message)) = c.failure {
        body.insert("errcode".into(), json!(code.as_str()));
        body.insert("error".into(), json!(message));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::password::HashError;
    use crate::http::error::tests::rendered;

    #[test]
    fn the_challenge_is_the_spec_401_body() {
        let challenge = |completed, failure| {
            let e = UiaError::Challenge(Box::new(UiaChallenge {
                session: "sess".into(),
                flows: vec![vec!["m.login.dummy".into()], vec!["m.login.terms".into()]],
                params: Map::from_iter([("m.login.terms".to_owned(), json!({"policies": {}}))]),
                completed,
                failure,
            }));
            match Error::from(e) {
                Error::AuthRequired(body) => Value::Object(*body),
                other => panic!("not a challenge: {other:?}"),
            }
        };
        assert_eq!(
            challenge(None, None),
            json!({
                "session": "sess",
                "flows": [{"stages": ["m.login.dummy"]}, {"stages": ["m.login.terms"]}],
                "params": {"m.login.terms": {"policies": {}}},
            })
        );
        let failed = challenge(
            Some(vec!["m.login.terms".into()]),
            Some((ErrCode::Forbidden, "Invalid password".into())),
        );
        assert_eq!(failed["completed"], json!(["m.login.terms"]));
        assert_eq!(failed["errcode"], "M_FORBIDDEN");
        assert_eq!(failed["error"], "Invalid password");
    }

    #[test]
    fn uia_refusals_are_the_spec_errors() {
        let cases: Vec<(UiaError, u16, ErrCode)> = vec![
            (
                UiaError::NotAString("'auth.type'".into()),
                400,
                ErrCode::BadJson,
            ),
            (
                UiaError::StageNotOffered("x".into()),
                400,
                ErrCode::Unrecognized,
            ),
            (
                UiaError::StageNotInSession("x".into()),
                400,
                ErrCode::Unrecognized,
            ),
            (UiaError::UnknownSession, 400, ErrCode::Unknown),
            (UiaError::OperationChanged, 403, ErrCode::Forbidden),
            (UiaError::AnotherUser, 403, ErrCode::Forbidden),
            (UiaError::TooLarge, 413, ErrCode::TooLarge),
            (UiaError::NoWayToReauthenticate, 403, ErrCode::Forbidden),
            (
                UiaError::Hash(HashError::TooLong),
                400,
                ErrCode::InvalidParam,
            ),
            (
                UiaError::stage(Error::forbidden("a stage's own refusal")),
                403,
                ErrCode::Forbidden,
            ),
        ];
        for (e, status, errcode) in cases {
            let label = format!("{e:?}");
            let got = rendered(e);
            assert_eq!((got.0, got.1), (status, errcode), "{label}");
        }
        assert_eq!(
            rendered(UiaError::NotAString("'auth.session'".into())).2,
            "'auth.session' must be a string"
        );
        assert!(matches!(
            Error::from(UiaError::stage(Error::Internal)),
            Error::Internal
        ));
    }
}
