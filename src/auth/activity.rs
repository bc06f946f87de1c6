//! Client IPs and monthly active users: what an authenticated request
//! records (in batches, see `usage.rs`), `whois`, and the background
//! upkeep (pruning old client IPs, reaping the monthly-active table,
//! keeping the users of reserved addresses in it).
//!
//! As in Synapse, a request is recorded for the entity that authenticated
//! it: the admin behind a puppet token (and, with `track_puppeted_user_ips`,
//! the puppeted user as well); an application service's requests only with
//! `track_appservice_user_ips`. Each recorded user becomes monthly-active
//! (when `limit_usage_by_mau` or `mau_stats_only`), refreshed at most hourly.

use super::admin::{AdminError, NotAdmin};
use super::identifiers::{is_local, UserId};
use super::requester::Requester;
use super::usage::{Sighting, MAU_REFRESH_MS};
use super::Auth;
use crate::clock::Timestamp;
use crate::store::{ClientIpSeen, StoreResult};
use std::collections::BTreeMap;

/// Monthly-active entries older than this are reaped.
const MAU_MAX_AGE_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// Client-IP rows deleted per statement while pruning.
const PRUNE_BATCH: i64 = 5000;

/// Where a request came from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Connection<'a> {
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl Auth {
    /// Records an authenticated request (no database write here).
    pub(crate) fn track_request(&self, requester: &Requester, conn: Connection<'_>) {
        let usage = &self.config.usage;
        if requester.app_service_id.is_some() && !usage.track_appservice_user_ips {
            return;
        }
        let entity = requester
            .puppet_owner
            .as_ref()
            .unwrap_or(&requester.user_id)
            .as_str();
        let mut seen = Sighting {
            user_id: entity,
            token_id: requester.token_id,
            device_id: requester.device_id.as_deref(),
            ip: conn.ip,
            user_agent: conn.user_agent,
            seen_ts: self.now(),
        };
        self.record(seen);
        if entity != requester.user_id.as_str() && usage.track_puppeted_user_ips {
            seen.user_id = requester.user_id.as_str();
            self.record(seen);
        }
    }

    fn record(&self, seen: Sighting<'_>) {
        if self
            .usage
            .record_sighting(seen, self.config.usage.counts_mau())
        {
            let auth = self.clone();
            let user_id = seen.user_id.to_owned();
            tokio::spawn(async move {
                if let Err(e) = auth.populate_monthly_active(&user_id).await {
                    tracing::warn!("could not record a monthly-active user: {e:?}");
                }
            });
        }
    }

    /// Synapse's `populate_monthly_active_users`: the user counts as
    /// active now, unless a guest, a support user or still in a trial; a
    /// user not yet counted is added only while there is room.
    pub(crate) async fn populate_monthly_active(&self, user_id: &str) -> StoreResult<()> {
        let usage = &self.config.usage;
        let Some(user) = self.store.users().get_user(user_id).await? else {
            return Ok(());
        };
        if user.is_guest
            || user.user_type.as_deref() == Some("support")
            || self.is_trial_user(&user)
        {
            return Ok(());
        }
        let now = self.now();
        let mut limit_checked = false;
        match self.store.usage().mau_last_seen(user_id).await? {
            None => {
                if usage.limit_usage_by_mau {
                    limit_checked = true;
                    let active = self.monthly_active_users().await?;
                    if u64::try_from(active).unwrap_or(0) >= usage.max_mau_value {
                        return Ok(());
                    }
                }
            }
            Some(at) if now - at < MAU_REFRESH_MS => return Ok(()),
            Some(_) => {}
        }
        self.store
            .usage()
            .upsert_monthly_active_user(user_id, now)
            .await?;
        if limit_checked {
            self.usage.mau_count.counted_new();
        }
        Ok(())
    }

    /// `GET /_synapse/admin/v1/whois/{userId}` and the client API's
    /// `/admin/whois/{userId}`: the user's sessions, by device then token,
    /// with every address and user agent seen. For admins, or the user.
    pub async fn whois(
        &self,
        requester: &Requester,
        user_id: &UserId,
    ) -> Result<Whois, AdminError> {
        may_whois(requester, user_id.as_str())?;
        if !is_local(user_id, self.server_name()) {
            return Err(AdminError::WhoisOfRemoteUser);
        }
        let user_id = user_id.as_str();
        let mut rows = self.store.usage().list_client_ips(user_id).await?;
        // This process's sightings not yet written win over stored ones.
        for p in self.usage.pending_ips(user_id) {
            rows.retain(|r| (r.token_id, &r.ip) != (p.token_id, &p.ip));
            rows.push(p);
        }
        Ok(Whois {
            user_id: user_id.to_owned(),
            devices: group_sessions(rows),
        })
    }

    /// How many users count against `max_mau_value`: the users of
    /// application services do not (as in Synapse). Remembered for a
    /// while when there is room (see `mau_count.rs`).
    pub(crate) async fn monthly_active_users(&self) -> StoreResult<i64> {
        let max = i64::try_from(self.config.usage.max_mau_value).unwrap_or(i64::MAX);
        let now = self.now();
        if let Some(other) = self.usage.mau_count.get(now, max) {
            return Ok(other);
        }
        let other = self.store.usage().count_monthly_active_users().await?.other;
        self.usage.mau_count.set(now, other);
        Ok(other)
    }

    /// Deletes client IPs older than `user_ips_max_age`.
    pub async fn prune_client_ips(&self) -> StoreResult<()> {
        let Some(max_age) = self.config.usage.user_ips_max_age_ms else {
            return Ok(());
        };
        let before = self.now() - i64::try_from(max_age).unwrap_or(i64::MAX / 2);
        while self
            .store
            .usage()
            .prune_client_ips(before, PRUNE_BATCH)
            .await?
            // Ties at the batch's last time are all deleted: more than a batch.
            >= PRUNE_BATCH as u64
        {}
        Ok(())
    }

    /// Users of `mau_limit_reserved_threepids` that exist, at most
    /// `max_mau_value` of them (Synapse's `get_registered_reserved_users`).
    async fn reserved_users(&self) -> StoreResult<Vec<String>> {
        let usage = &self.config.usage;
        let mut users = Vec::new();
        let max = usize::try_from(usage.max_mau_value).unwrap_or(usize::MAX);
        for (medium, address) in usage.reserved_threepids().take(max) {
            if let Some(u) = self
                .store
                .threepids()
                .get_user_by_threepid(medium, &address)
                .await?
            {
                users.push(u);
            }
        }
        Ok(users)
    }

    /// At start: the users of reserved addresses count as active (so they
    /// always have room), support users excepted.
    pub async fn initialise_reserved_users(&self) -> StoreResult<()> {
        if !self.config.usage.counts_mau() {
            return Ok(());
        }
        let now = self.now();
        for user_id in self.reserved_users().await? {
            let support = self
                .store
                .users()
                .get_user(&user_id)
                .await?
                .is_some_and(|u| u.user_type.as_deref() == Some("support"));
            if !support {
                self.store
                    .usage()
                    .upsert_monthly_active_user(&user_id, now)
                    .await?;
            }
        }
        Ok(())
    }

    /// Forgets users not seen for 30 days and, under `limit_usage_by_mau`,
    /// all but the `max_mau_value` most recent; reserved users are kept.
    pub async fn reap_monthly_active_users(&self) -> StoreResult<()> {
        let usage = &self.config.usage;
        if !usage.counts_mau() {
            return Ok(());
        }
        let keep = self.reserved_users().await?;
        let max = usage
            .limit_usage_by_mau
            .then(|| i64::try_from(usage.max_mau_value).unwrap_or(i64::MAX));
        self.store
            .usage()
            .reap_monthly_active_users(self.now() - MAU_MAX_AGE_MS, &keep, max)
            .await?;
        self.usage.mau_count.forget();
        Ok(())
    }
}

/// A whois answer: the user's sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whois {
    pub user_id: String,
    /// Device ID (`""` for tokens without one) → sessions (one per token,
    /// in token order) → connections (newest first).
    pub devices: BTreeMap<String, Vec<Vec<SeenFrom>>>,
}

/// One address a session was seen from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenFrom {
    pub ip: String,
    pub last_seen_ts: Timestamp,
    pub user_agent: String,
}

fn group_sessions(rows: Vec<ClientIpSeen>) -> BTreeMap<String, Vec<Vec<SeenFrom>>> {
    let mut devices: BTreeMap<String, BTreeMap<i64, Vec<SeenFrom>>> = BTreeMap::new();
    for r in rows {
        devices
            .entry(r.device_id.unwrap_or_default())
            .or_default()
            .entry(r.token_id)
            .or_default()
            .push(SeenFrom {
                ip: r.ip,
                last_seen_ts: r.last_seen_ts,
                user_agent: r.user_agent,
            });
    }
    devices
        .into_iter()
        .map(|(device, sessions)| {
            let sessions = sessions
                .into_values()
                .map(|mut connections| {
                    connections.sort_by_key(|c| std::cmp::Reverse(c.last_seen_ts));
                    connections
                })
                .collect();
            (device, sessions)
        })
        .collect()
}

/// Who may ask `whois` of `user_id` (as given in the path, parsed or
/// not): an admin, or the user. Checked before the ID is parsed, so that
/// a non-admin learns nothing of other IDs, well-formed or not.
pub fn may_whois(requester: &Requester, user_id: &str) -> Result<(), NotAdmin> {
    if requester.user_id != user_id && !requester.admin {
        return Err(NotAdmin);
    }
    Ok(())
}
