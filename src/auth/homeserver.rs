//! Keeping the homeserver in step: when Synapse delegates its auth to
//! mxauth (`matrix:` in the config), Synapse must know every user and
//! device before a token for it is used. Calls to its `/_synapse/mas` API
//! go through a queue in the database, in order per user, retried with
//! backoff, so a restart or an outage loses nothing. A new session waits
//! (a few seconds at most) until its user and device exist there; other
//! changes are sent at once and left to the queue if the homeserver is away.

use super::identifiers::local_localpart;
use super::session::SessionError;
use super::Auth;
use crate::store::{HomeserverJob, StoreResult};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

/// How long a new session waits for the homeserver to know its device.
pub const PROVISION_DEADLINE_MS: i64 = 5_000;
/// How long other changes wait before being left to the queue.
const BEST_EFFORT_DEADLINE_MS: i64 = 2_000;
/// How long a claimed job is reserved for the process that claimed it.
const LEASE_MS: i64 = 30_000;
const MAX_BACKOFF_MS: i64 = 300_000;

/// What went wrong with a call.
#[derive(Debug)]
pub enum CallError {
    /// Worth trying again later (unreachable, 5xx, timeout).
    Retry(String),
    /// Will never succeed (the homeserver refused the request as such).
    Permanent(String),
}

/// What became of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    /// Refused for good: dropped from the queue.
    Dropped,
    /// Failed for now: back in the queue, later.
    Retrying,
}

/// The homeserver's provisioning API. `adapters/synapse.rs` speaks it over HTTP.
#[async_trait]
pub trait HomeserverApi: Send + Sync + 'static {
    /// Makes the call `kind` (`provision_user`, `upsert_device`, ...) with this body.
    async fn call(&self, kind: &str, payload: &Value) -> Result<(), CallError>;
}

impl Auth {
    fn localpart_of<'a>(&self, user_id: &'a str) -> &'a str {
        local_localpart(user_id, self.server_name()).unwrap_or(user_id)
    }

    /// Before a token is handed out: the user and the device exist on the
    /// homeserver, or the session fails (the calls stay queued).
    pub(crate) async fn provision_session(
        &self,
        user_id: &str,
        device_id: &str,
        display_name: Option<&str>,
    ) -> Result<(), SessionError> {
        if self.homeserver.is_none() {
            return Ok(());
        }
        let localpart = self.localpart_of(user_id);
        let mut upsert = json!({ "localpart": localpart, "device_id": device_id });
        if let Some(name) = display_name {
            upsert["display_name"] = json!(name);
        }
        let jobs = [
            ("provision_user", json!({ "localpart": localpart })),
            ("upsert_device", upsert),
        ];
        if self
            .send_to_homeserver(user_id, &jobs, PROVISION_DEADLINE_MS)
            .await?
        {
            Ok(())
        } else {
            Err(SessionError::HomeserverUnreachable)
        }
    }

    /// A user created with a display name: the homeserver gets it once.
    pub(crate) async fn provision_new_user(
        &self,
        user_id: &str,
        displayname: Option<&str>,
    ) -> StoreResult<()> {
        if self.homeserver.is_none() {
            return Ok(());
        }
        let mut body = json!({ "localpart": self.localpart_of(user_id) });
        if let Some(name) = displayname {
            body["set_displayname"] = json!(name);
        }
        self.send_to_homeserver(
            user_id,
            &[("provision_user", body)],
            BEST_EFFORT_DEADLINE_MS,
        )
        .await?;
        Ok(())
    }

    /// Devices deleted here go on the homeserver too (which kills their
    /// tokens there at once, whatever it has cached).
    pub(crate) async fn forget_devices_on_homeserver(
        &self,
        user_id: &str,
        device_ids: &[String],
    ) -> StoreResult<()> {
        if self.homeserver.is_none() || device_ids.is_empty() {
            return Ok(());
        }
        let localpart = self.localpart_of(user_id);
        let jobs: Vec<(&str, Value)> = device_ids
            .iter()
            .map(|d| {
                (
                    "delete_device",
                    json!({ "localpart": localpart, "device_id": d }),
                )
            })
            .collect();
        self.send_to_homeserver(user_id, &jobs, BEST_EFFORT_DEADLINE_MS)
            .await?;
        Ok(())
    }

    /// One call `kind` about `user_id` (its `localpart` added to
    /// `fields`), sent at once and left to the queue if the homeserver is
    /// away; nothing without a homeserver.
    async fn tell_homeserver(
        &self,
        user_id: &str,
        kind: &'static str,
        mut fields: Value,
    ) -> StoreResult<()> {
        if self.homeserver.is_none() {
            return Ok(());
        }
        fields["localpart"] = json!(self.localpart_of(user_id));
        self.send_to_homeserver(user_id, &[(kind, fields)], BEST_EFFORT_DEADLINE_MS)
            .await?;
        Ok(())
    }

    pub(crate) async fn rename_device_on_homeserver(
        &self,
        user_id: &str,
        device_id: &str,
        display_name: Option<&str>,
    ) -> StoreResult<()> {
        let fields = json!({ "device_id": device_id, "display_name": display_name.unwrap_or("") });
        self.tell_homeserver(user_id, "update_device_display_name", fields)
            .await
    }

    /// The user's display name, changed here: the homeserver's profile
    /// follows (`set_displayname`, or `unset_displayname` for none).
    pub(crate) async fn set_displayname_on_homeserver(
        &self,
        user_id: &str,
        displayname: Option<&str>,
    ) -> StoreResult<()> {
        match displayname {
            Some(name) => {
                let fields = json!({ "displayname": name });
                self.tell_homeserver(user_id, "set_displayname", fields)
                    .await
            }
            None => {
                self.tell_homeserver(user_id, "unset_displayname", json!({}))
                    .await
            }
        }
    }

    /// The user approved replacing their cross-signing keys: the
    /// homeserver lets the next upload through without its own
    /// User-Interactive Auth (for a while). `true` once it has taken the
    /// call; `false` if it has not yet (the call stays queued), or when no
    /// homeserver is configured.
    pub(crate) async fn allow_cross_signing_reset_on_homeserver(
        &self,
        user_id: &str,
    ) -> StoreResult<bool> {
        if self.homeserver.is_none() {
            return Ok(false);
        }
        let body = json!({ "localpart": self.localpart_of(user_id) });
        self.send_to_homeserver(
            user_id,
            &[("allow_cross_signing_reset", body)],
            PROVISION_DEADLINE_MS,
        )
        .await
    }

    pub(crate) async fn deactivate_on_homeserver(
        &self,
        user_id: &str,
        erase: bool,
    ) -> StoreResult<()> {
        self.tell_homeserver(user_id, "delete_user", json!({ "erase": erase }))
            .await
    }

    /// A user locked or unlocked here: Synapse's `provision_user` takes
    /// `locked` (its own answer to the user's requests, and so MAS does).
    pub(crate) async fn lock_on_homeserver(&self, user_id: &str, locked: bool) -> StoreResult<()> {
        self.tell_homeserver(user_id, "provision_user", json!({ "locked": locked }))
            .await
    }

    /// An admin's change to a user (`fields` of Synapse's
    /// `provision_user`: display name, avatar, emails, lock).
    pub(crate) async fn provision_user_on_homeserver(
        &self,
        user_id: &str,
        fields: Value,
    ) -> StoreResult<()> {
        self.tell_homeserver(user_id, "provision_user", fields)
            .await
    }

    /// A deactivated user made active again here: `reactivate_user`.
    pub(crate) async fn reactivate_on_homeserver(&self, user_id: &str) -> StoreResult<()> {
        self.tell_homeserver(user_id, "reactivate_user", json!({}))
            .await
    }

    /// Reconciles every user's device list with the homeserver (at start
    /// and on a schedule): queues `provision_user` + `sync_devices` per user,
    /// except for users whose last reconciliation is still waiting (later
    /// changes have jobs of their own, queued after it). Returns how many
    /// users were queued.
    pub async fn queue_device_sync(&self) -> StoreResult<usize> {
        if self.homeserver.is_none() {
            return Ok(0);
        }
        let users = self.store.jobs().all_user_devices().await?;
        let mut queued = 0;
        for (user_id, devices) in &users {
            let localpart = self.localpart_of(user_id);
            let jobs = [
                ("provision_user", json!({ "localpart": localpart })),
                (
                    "sync_devices",
                    json!({ "localpart": localpart, "devices": devices }),
                ),
            ];
            if self
                .store
                .jobs()
                .enqueue_device_sync(user_id, &jobs, self.now())
                .await?
            {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Queues `jobs` for `user_id` and works the user's queue until they are
    /// done or `deadline_ms` has passed. `true` when all of them went through.
    async fn send_to_homeserver(
        &self,
        user_id: &str,
        jobs: &[(&str, Value)],
        deadline_ms: i64,
    ) -> StoreResult<bool> {
        let ids = self
            .store
            .jobs()
            .enqueue_homeserver_jobs(user_id, jobs, self.now())
            .await?;
        let until = self.now() + deadline_ms;
        let mut refused = false;
        loop {
            match self.run_one_homeserver_job(Some(user_id)).await? {
                Some((id, Outcome::Dropped)) if ids.contains(&id) => refused = true,
                Some((_, Outcome::Retrying)) | None => {}
                Some(_) => continue,
            }
            if self.store.jobs().count_homeserver_jobs(&ids).await? == 0 {
                return Ok(!refused);
            }
            if self.now() >= until {
                tracing::warn!(
                    user_id,
                    "the homeserver has not taken the changes yet; they stay queued"
                );
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Works due jobs of every user (the background worker); returns how many ran.
    pub async fn run_homeserver_jobs(&self, max: usize) -> StoreResult<usize> {
        let mut ran = 0;
        while ran < max {
            if self.run_one_homeserver_job(None).await?.is_none() {
                break;
            }
            ran += 1;
        }
        Ok(ran)
    }

    /// Claims and makes one call; `None` when nothing was due.
    async fn run_one_homeserver_job(
        &self,
        user_id: Option<&str>,
    ) -> StoreResult<Option<(i64, Outcome)>> {
        let Some(api) = &self.homeserver else {
            return Ok(None);
        };
        let Some(job) = self
            .store
            .jobs()
            .claim_homeserver_job(self.now(), LEASE_MS, user_id)
            .await?
        else {
            return Ok(None);
        };
        let HomeserverJob {
            id,
            kind,
            payload,
            attempts,
            ..
        } = &job;
        match api.call(kind, payload).await {
            Ok(()) => {
                self.store.jobs().complete_homeserver_job(*id).await?;
                Ok(Some((*id, Outcome::Done)))
            }
            Err(CallError::Permanent(why)) => {
                tracing::error!(kind, user_id = %job.user_id, "the homeserver refused a call, dropped: {why}");
                self.metrics.count_homeserver_failure("dropped");
                self.store.jobs().complete_homeserver_job(*id).await?;
                Ok(Some((*id, Outcome::Dropped)))
            }
            Err(CallError::Retry(why)) => {
                let backoff = (1_000i64 << (*attempts).clamp(0, 20)).min(MAX_BACKOFF_MS);
                self.metrics.count_homeserver_failure("retry");
                tracing::warn!(
                    kind,
                    attempts,
                    "a call to the homeserver failed, will retry: {why}"
                );
                self.store
                    .jobs()
                    .fail_homeserver_job(*id, self.now() + backoff, &why)
                    .await?;
                Ok(Some((*id, Outcome::Retrying)))
            }
        }
    }
}

/// A homeserver for tests: notes every call and answers each with what
/// `answer` says for its kind (`Ok` unless told otherwise).
#[cfg(test)]
pub struct RecordingHomeserver {
    pub answer: fn(&str) -> Result<(), CallError>,
    pub(crate) calls: std::sync::Mutex<Vec<(String, Value)>>,
}

#[cfg(test)]
impl Default for RecordingHomeserver {
    fn default() -> Self {
        RecordingHomeserver {
            answer: |_| Ok(()),
            calls: Default::default(),
        }
    }
}

#[cfg(test)]
impl RecordingHomeserver {
    /// The calls so far, oldest first: (kind, payload).
    pub fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().expect("not poisoned").clone()
    }
}

#[cfg(test)]
#[async_trait]
impl HomeserverApi for RecordingHomeserver {
    async fn call(&self, kind: &str, payload: &Value) -> Result<(), CallError> {
        self.calls
            .lock()
            .expect("not poisoned")
            .push((kind.to_owned(), payload.clone()));
        (self.answer)(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support;
    use crate::config::Config;
    use std::sync::Arc;

    fn config() -> Config {
        Config {
            server_name: "example.org".try_into().expect("a server name"),
            ..Config::default()
        }
    }

    #[tokio::test]
    async fn a_new_session_makes_its_user_and_device_on_the_homeserver_in_order() {
        let homeserver = Arc::new(RecordingHomeserver::default());
        let auth = test_support::auth(config())
            .await
            .with_homeserver(homeserver.clone());
        auth.provision_session("@alice:example.org", "DEVICE", Some("Phone"))
            .await
            .expect("provisioned");
        assert_eq!(
            homeserver.calls(),
            [
                ("provision_user".to_owned(), json!({ "localpart": "alice" })),
                (
                    "upsert_device".to_owned(),
                    json!({ "localpart": "alice", "device_id": "DEVICE", "display_name": "Phone" })
                ),
            ]
        );
        // Nothing is left in the queue for the worker.
        assert_eq!(auth.run_homeserver_jobs(10).await.expect("the queue"), 0);
    }

    #[tokio::test]
    async fn a_session_the_homeserver_refuses_is_a_503_and_the_refusal_is_dropped() {
        let homeserver = Arc::new(RecordingHomeserver {
            answer: |kind| match kind {
                "upsert_device" => Err(CallError::Permanent("400 bad device".into())),
                _ => Ok(()),
            },
            ..RecordingHomeserver::default()
        });
        let auth = test_support::auth(config())
            .await
            .with_homeserver(homeserver.clone());
        let got = auth.provision_session("@bob:example.org", "D2", None).await;
        assert!(
            matches!(got, Err(SessionError::HomeserverUnreachable)),
            "{got:?}"
        );
        assert_eq!(homeserver.calls().len(), 2);
        assert_eq!(auth.run_homeserver_jobs(10).await.expect("the queue"), 0);
        assert_eq!(homeserver.calls().len(), 2, "a refused call is not retried");
    }
}
