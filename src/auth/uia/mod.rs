//! User-Interactive Auth: one engine for every protected endpoint, and
//! the stages as plug-ins it asks.
//!
//! - `engine.rs`: sessions (in the database, bound to what started them),
//!   the order of stages, the 401 challenge, replays, fallback sessions,
//!   expiry. It names no stage: it asks [`Stages`].
//! - `reauth.rs`: re-authentication, whose flows are every stage that
//!   offers itself for the user ([`Stage::offered_for_reauth`]).
//! - one file per stage, each a [`Stage`]: `dummy.rs`, `terms.rs`,
//!   `recaptcha.rs`, `registration_token.rs`, `email_identity.rs`,
//!   `password.rs` (`m.login.password` and every provider's login type),
//!   `sso.rs`. A stage file adapts the `auth` dict to the check of its
//!   area (providers and rate limits, email validation sessions, SSO).
//! - `registry.rs`: the list of stages, built with [`Auth`]
//!   (`Auth::uia_stages`).
//!
//! An operation names the stages of its flows (`register.rs`,
//! `threepids.rs`); the engine checks them through the registry.

mod engine;
mod error;
mod reauth;
pub mod registry;

pub mod dummy;
pub mod email_identity;
pub mod password;
pub mod recaptcha;
pub mod registration_token;
pub mod sso;
pub mod terms;

#[cfg(test)]
mod tests;

pub use engine::*;
pub use error::{UiaChallenge, UiaError};
pub use reauth::Reauth;

use super::identifiers::UserId;
use super::Auth;
use crate::error::{ErrCode, Error};
use crate::store::UiaSession;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Why a stage was not completed.
#[derive(Debug)]
pub enum StageError {
    /// The stage failed: answer 401 with the challenge and this error.
    Failed(ErrCode, String),
    /// The request is wrong beyond the stage: answer with this error.
    Fatal(Error),
}

wrap_error!(Error => StageError::Fatal);

impl From<crate::store::StoreError> for StageError {
    #[track_caller]
    fn from(e: crate::store::StoreError) -> Self {
        StageError::Fatal(Error::internal(e))
    }
}

/// What a stage's check gives: what to record as the stage's result in
/// the session, or why not.
pub type StageResult = std::result::Result<Value, StageError>;

/// One type of UIA stage. Adding one: a file in this folder implementing
/// this trait, and a line in `registry.rs`.
#[async_trait::async_trait]
pub trait Stage: Send + Sync {
    /// Its `type`, as clients send it and flows list it.
    fn kind(&self) -> &str;

    /// Checks `dict` (the client's `auth` dict, of this type) for
    /// `session`. The engine calls it only when a flow of the operation
    /// offers the stage and the stages before it are completed; what it
    /// returns is recorded as the stage's result.
    async fn check(
        &self,
        auth: &Auth,
        dict: &Map<String, Value>,
        session: &UiaSession,
    ) -> StageResult;

    /// Its entry in the challenge's `params`, when a flow offers it.
    fn params(&self, _auth: &Auth) -> Option<Value> {
        None
    }

    /// The template of its fallback page (`/auth/{type}/fallback/web`), or
    /// `None` when it has none (the endpoint answers 404). No default: a
    /// new stage says which (a test holds every built-in stage to it).
    fn fallback_page(&self) -> Option<&'static str>;

    /// Whether re-authentication offers it to `user_id` (as a flow of its own).
    async fn offered_for_reauth(
        &self,
        _auth: &Auth,
        _user_id: &UserId,
    ) -> crate::store::StoreResult<bool> {
        Ok(false)
    }

    /// The key of the session's server dict under which this stage holds a
    /// registration-token use for the session: given back, in the same
    /// transaction, when the session is deleted before its operation ran.
    fn held_token_key(&self) -> Option<&'static str> {
        None
    }
}

/// The stages the engine knows, in order. A type is checked by the first
/// stage of that type (a provider's login type named like a built-in
/// stage is checked by the built-in one); re-authentication asks every
/// stage in order.
#[derive(Clone, Default)]
pub struct Stages(Vec<Arc<dyn Stage>>);

impl Stages {
    pub fn new(stages: Vec<Arc<dyn Stage>>) -> Self {
        Stages(stages)
    }

    /// The stage that checks `kind`, if any.
    pub fn get(&self, kind: &str) -> Option<&dyn Stage> {
        self.0.iter().find(|s| s.kind() == kind).map(|s| s.as_ref())
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Stage> {
        self.0.iter().map(|s| s.as_ref())
    }

    /// The template of `kind`'s fallback page, if it has one.
    pub fn fallback_page(&self, kind: &str) -> Option<&'static str> {
        self.get(kind)?.fallback_page()
    }

    /// The challenge's `params`: those of each stage the flows offer.
    pub(crate) fn params(&self, auth: &Auth, flows: &Flows) -> Map<String, Value> {
        let mut params = Map::new();
        for kind in flows.flows.iter().flatten() {
            if params.contains_key(kind) {
                continue;
            }
            if let Some(p) = self.get(kind).and_then(|s| s.params(auth)) {
                params.insert(kind.clone(), p);
            }
        }
        params
    }

    /// Where a stage holds a registration-token use ([`Stage::held_token_key`]).
    pub(crate) fn held_token_key(&self) -> Option<&'static str> {
        self.iter().find_map(|s| s.held_token_key())
    }
}
