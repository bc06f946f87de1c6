//! Why a request does not pass User-Interactive Auth (yet): the engine's
//! domain error. The HTTP layer renders it (`http/error/uia.rs`): the
//! challenge as the spec's 401 body, the rest as Matrix errors.

use crate::auth::password::HashError;
use crate::error::{ErrCode, Error};
use serde_json::{Map, Value};

/// The 401 challenge: more stages to go, or the last one failed.
#[derive(Debug)]
pub struct UiaChallenge {
    pub session: String,
    /// Each flow's stage types, in order.
    pub flows: Vec<Vec<String>>,
    /// The stages' `params` (their wire form: the spec defines them).
    pub params: Map<String, Value>,
    /// The stages done, when the request tried one (`auth` was sent).
    pub completed: Option<Vec<String>>,
    /// Why the stage just tried failed.
    pub failure: Option<(ErrCode, String)>,
}

#[derive(Debug)]
pub enum UiaError {
    /// Not done yet: answer with the challenge.
    Challenge(Box<UiaChallenge>),
    /// A field that must be a string is not (`'auth.session'`, a secret
    /// field of the body): its quoted name.
    NotAString(String),
    /// `auth.type` names a stage no flow of the operation offers.
    StageNotOffered(String),
    /// A fallback page for a stage the session's flows do not offer.
    StageNotInSession(String),
    /// No live session of this ID (never made, expired, swept).
    UnknownSession,
    /// The session was started for another method, URI or body.
    OperationChanged,
    /// The session was started by another user.
    AnotherUser,
    /// What an anonymous session would keep is over
    /// [`super::MAX_ANONYMOUS_SESSION_BYTES`].
    TooLarge,
    /// Re-authentication, but no stage offers itself for the user.
    NoWayToReauthenticate,
    /// A secret field could not be hashed (queue full, say).
    Hash(HashError),
    /// A stage's own refusal beyond failing (a plug-in's error).
    Stage(Box<Error>),
    /// Logged where it happened.
    Internal,
}

internal_error!(UiaError, store);

impl UiaError {
    /// A stage's (or another area's) `Error`, keeping a 500 a 500.
    pub(crate) fn stage(e: Error) -> Self {
        match e {
            Error::Internal => UiaError::Internal,
            e => UiaError::Stage(Box::new(e)),
        }
    }
}

wrap_error!(HashError => UiaError::Hash, HashError::Internal);
