//! What requests leave behind, kept in memory and written in batches so
//! that request authentication does no database write: tokens' last use,
//! devices' last sighting, and client IPs (one row per user, token and
//! address, as Synapse keys them, with the latest user agent cut to
//! [`MAX_USER_AGENT_CHARS`]; written at most once per key per flush).
//! It also remembers, per user, when this process last refreshed the
//! monthly-active-users table, so that happens at most hourly.

use super::mau_count::MauCountCache;
use crate::clock::Timestamp;
use crate::store::{ClientIpSeen, DeviceSeen, Store};
use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};

/// How often a user's monthly-active entry is refreshed (Synapse's
/// `LAST_SEEN_GRANULARITY` for it).
pub(crate) const MAU_REFRESH_MS: i64 = 60 * 60 * 1000;

/// The longest user agent kept for a client-IP row, in characters.
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// `agent` cut to [`MAX_USER_AGENT_CHARS`] characters (on a character boundary).
fn truncate_agent(agent: &str) -> &str {
    if agent.len() <= MAX_USER_AGENT_CHARS {
        return agent;
    }
    match agent.char_indices().nth(MAX_USER_AGENT_CHARS) {
        Some((end, _)) => &agent[..end],
        None => agent,
    }
}

#[derive(Clone)]
pub struct UsageRecorder {
    store: Arc<dyn Store>,
    pending: Arc<Mutex<Pending>>,
    /// The monthly-active count, remembered for a while.
    pub(crate) mau_count: Arc<MauCountCache>,
}

/// The batches are keyed by a hash of their key fields (with this
/// process's random keys), so that a client seen again, the common case
/// on the hot path, updates its entry without allocating.
#[derive(Default)]
struct Pending {
    keys: RandomState,
    tokens: HashMap<i64, i64>,
    /// By hash of (user, device).
    devices: HashMap<u64, DeviceSeen>,
    /// By hash of (user, token id, address).
    ips: HashMap<u64, ClientIpSeen>,
    /// The client IPs a flush is writing: still shown by whois meanwhile.
    ips_in_flight: HashMap<u64, ClientIpSeen>,
    /// When this process last refreshed each user's monthly-active entry.
    /// Not a batch: survives flushes, trimmed of stale entries by them.
    mau_refreshed: HashMap<String, i64>,
}

/// One authenticated request, as client-IP tracking sees it.
#[derive(Debug, Clone, Copy)]
pub struct Sighting<'a> {
    pub user_id: &'a str,
    pub token_id: i64,
    pub device_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub seen_ts: Timestamp,
}

impl UsageRecorder {
    pub fn new(store: Arc<dyn Store>) -> Self {
        UsageRecorder {
            store,
            pending: Arc::default(),
            mau_count: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        match self.pending.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The token was used at `ts`.
    pub fn record_token_use(&self, token_id: i64, ts: Timestamp) {
        self.lock().tokens.insert(token_id, ts);
    }

    /// A request was seen: its device's last sighting and, with an
    /// address, its client-IP row. With `counts_mau`, also says whether the
    /// user's monthly-active entry is due for a refresh by this process
    /// (and marks it refreshed now): one lock for all of it.
    pub fn record_sighting(&self, s: Sighting<'_>, counts_mau: bool) -> bool {
        let mut guard = self.lock();
        let p = &mut *guard;
        if let Some(device_id) = s.device_id {
            let key = p.keys.hash_one((s.user_id, device_id));
            match p.devices.entry(key) {
                Entry::Occupied(mut e)
                    if e.get().user_id == s.user_id && e.get().device_id == device_id =>
                {
                    let d = e.get_mut();
                    d.last_seen_ts = s.seen_ts;
                    if d.ip.as_deref() != s.ip {
                        d.ip = s.ip.map(str::to_owned);
                    }
                }
                // New, or (astronomically rarely) another key's hash: replaced.
                e => {
                    let seen = DeviceSeen {
                        user_id: s.user_id.to_owned(),
                        device_id: device_id.to_owned(),
                        last_seen_ts: s.seen_ts,
                        ip: s.ip.map(str::to_owned),
                    };
                    match e {
                        Entry::Occupied(mut e) => *e.get_mut() = seen,
                        Entry::Vacant(e) => {
                            e.insert(seen);
                        }
                    }
                }
            }
        }
        if let Some(ip) = s.ip {
            let user_agent = truncate_agent(s.user_agent.unwrap_or_default());
            let key = p.keys.hash_one((s.user_id, s.token_id, ip));
            match p.ips.entry(key) {
                Entry::Occupied(mut e)
                    if e.get().user_id == s.user_id
                        && e.get().token_id == s.token_id
                        && e.get().ip == ip =>
                {
                    let row = e.get_mut();
                    row.last_seen_ts = s.seen_ts;
                    if row.user_agent != user_agent {
                        user_agent.clone_into(&mut row.user_agent);
                    }
                    if row.device_id.as_deref() != s.device_id {
                        row.device_id = s.device_id.map(str::to_owned);
                    }
                }
                e => {
                    let row = ClientIpSeen {
                        user_id: s.user_id.to_owned(),
                        token_id: s.token_id,
                        ip: ip.to_owned(),
                        user_agent: user_agent.to_owned(),
                        device_id: s.device_id.map(str::to_owned),
                        last_seen_ts: s.seen_ts,
                    };
                    match e {
                        Entry::Occupied(mut e) => *e.get_mut() = row,
                        Entry::Vacant(e) => {
                            e.insert(row);
                        }
                    }
                }
            }
        }
        if !counts_mau {
            return false;
        }
        match p.mau_refreshed.get_mut(s.user_id) {
            Some(at) if s.seen_ts - *at < MAU_REFRESH_MS => false,
            Some(at) => {
                *at = s.seen_ts;
                true
            }
            None => {
                p.mau_refreshed.insert(s.user_id.to_owned(), s.seen_ts);
                true
            }
        }
    }

    /// This process's sightings of `user_id` not yet written.
    pub fn pending_ips(&self, user_id: &str) -> Vec<ClientIpSeen> {
        let p = self.lock();
        p.ips_in_flight
            .iter()
            .filter(|(key, _)| !p.ips.contains_key(*key))
            .chain(p.ips.iter())
            .map(|(_, row)| row)
            .filter(|row| row.user_id == user_id)
            .cloned()
            .collect()
    }

    /// Writes what has accumulated. Called on a timer and at shutdown.
    pub async fn flush(&self) {
        let (tokens, devices, ips) = {
            let mut p = self.lock();
            let newest = p
                .tokens
                .values()
                .chain(p.ips.values().map(|row| &row.last_seen_ts))
                .max()
                .copied();
            if let Some(now) = newest {
                p.mau_refreshed.retain(|_, at| now - *at < MAU_REFRESH_MS);
            }
            p.ips_in_flight = p.ips.clone();
            (
                std::mem::take(&mut p.tokens),
                std::mem::take(&mut p.devices),
                std::mem::take(&mut p.ips),
            )
        };
        if !tokens.is_empty() {
            let used: Vec<(i64, i64)> = tokens.into_iter().collect();
            if let Err(e) = self.store.usage().record_tokens_last_used(&used).await {
                tracing::warn!("could not record token use: {e}");
            }
        }
        if !devices.is_empty() {
            let seen: Vec<DeviceSeen> = devices.into_values().collect();
            if let Err(e) = self.store.usage().record_device_last_seen(&seen).await {
                tracing::warn!("could not record device use: {e}");
            }
        }
        if !ips.is_empty() {
            let seen: Vec<ClientIpSeen> = ips.into_values().collect();
            if let Err(e) = self.store.usage().record_client_ips(&seen).await {
                tracing::warn!("could not record client IPs: {e}");
            }
            self.lock().ips_in_flight.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen<'a>(ua: &'a str, ip: &'a str, ts: Timestamp) -> Sighting<'a> {
        Sighting {
            user_id: "@a:x",
            token_id: 7,
            device_id: Some("DEV"),
            ip: Some(ip),
            user_agent: Some(ua),
            seen_ts: ts,
        }
    }

    #[tokio::test]
    async fn one_entry_per_key_updated_in_place() {
        let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
        let usage = UsageRecorder::new(store);
        assert!(usage.record_sighting(seen("UA", "10.0.0.1", 1), true));
        assert!(!usage.record_sighting(seen("UA", "10.0.0.1", 2), true));
        assert!(!usage.record_sighting(seen("Other", "10.0.0.1", 3), false));
        assert!(!usage.record_sighting(seen("UA", "10.0.0.2", 4), true));
        // An hour later the monthly-active entry is due again.
        assert!(usage.record_sighting(seen("UA", "10.0.0.2", 1 + MAU_REFRESH_MS), true));
        let mut rows: Vec<(String, String, i64)> = usage
            .pending_ips("@a:x")
            .into_iter()
            .map(|r| (r.ip, r.user_agent, r.last_seen_ts))
            .collect();
        rows.sort();
        // One row per address, with the latest agent.
        assert_eq!(
            rows,
            vec![
                ("10.0.0.1".into(), "Other".into(), 3),
                ("10.0.0.2".into(), "UA".into(), 1 + MAU_REFRESH_MS),
            ]
        );
        assert!(usage.pending_ips("@b:x").is_empty());
        {
            let p = usage.lock();
            assert_eq!(p.devices.len(), 1, "one device");
            let d = p.devices.values().next().unwrap();
            assert_eq!(
                (d.last_seen_ts, d.ip.as_deref()),
                (1 + MAU_REFRESH_MS, Some("10.0.0.2"))
            );
        }
    }

    #[tokio::test]
    async fn long_user_agents_are_cut_on_a_character_boundary() {
        let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
        let usage = UsageRecorder::new(store);
        // 'é' is two bytes: a byte cut at 512 would split one.
        let long = format!("x{}", "\u{e9}".repeat(2000));
        usage.record_sighting(seen(&long, "10.0.0.1", 1), false);
        let rows = usage.pending_ips("@a:x");
        assert_eq!(rows[0].user_agent.chars().count(), MAX_USER_AGENT_CHARS);
        assert!(long.starts_with(&rows[0].user_agent));
        assert_eq!(truncate_agent("short"), "short");
    }
}
