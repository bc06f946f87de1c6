//! What requests leave behind, kept in memory and written in batches so
//! that request authentication does no database write: tokens' last use,
//! devices' last sighting, and client IPs (one row per user, token,
//! address and user agent, written at most once per key per flush).
//! It also remembers, per user, when this process last refreshed the
//! monthly-active-users table, so that happens at most hourly.

use crate::store::{ClientIpSeen, DeviceSeen, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// How often a user's monthly-active entry is refreshed (Synapse's
/// `LAST_SEEN_GRANULARITY` for it).
pub(crate) const MAU_REFRESH_MS: i64 = 60 * 60 * 1000;

#[derive(Clone)]
pub struct UsageRecorder {
    store: Arc<dyn Store>,
    pending: Arc<Mutex<Pending>>,
}

/// (user, token id, address, user agent).
type IpKey = (String, i64, String, String);

#[derive(Default)]
struct Pending {
    tokens: HashMap<i64, i64>,
    devices: HashMap<(String, String), (i64, Option<String>)>,
    ips: HashMap<IpKey, (i64, Option<String>)>,
    /// The client IPs a flush is writing: still shown by whois meanwhile.
    ips_in_flight: HashMap<IpKey, (i64, Option<String>)>,
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
    pub ts: i64,
}

impl UsageRecorder {
    pub fn new(store: Arc<dyn Store>) -> Self {
        UsageRecorder {
            store,
            pending: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        match self.pending.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The token was used at `ts`.
    pub fn record_token_use(&self, token_id: i64, ts: i64) {
        self.lock().tokens.insert(token_id, ts);
    }

    /// A request was seen: its device's last sighting and, with an
    /// address, its client-IP row.
    pub fn record_sighting(&self, s: Sighting<'_>) {
        let mut p = self.lock();
        if let Some(device_id) = s.device_id {
            p.devices.insert(
                (s.user_id.to_owned(), device_id.to_owned()),
                (s.ts, s.ip.map(str::to_owned)),
            );
        }
        if let Some(ip) = s.ip {
            let key = (
                s.user_id.to_owned(),
                s.token_id,
                ip.to_owned(),
                s.user_agent.unwrap_or_default().to_owned(),
            );
            p.ips.insert(key, (s.ts, s.device_id.map(str::to_owned)));
        }
    }

    /// Whether the user's monthly-active entry is due for a refresh by
    /// this process; if so, it is marked refreshed now.
    pub fn mau_refresh_due(&self, user_id: &str, now: i64) -> bool {
        let mut p = self.lock();
        match p.mau_refreshed.get(user_id) {
            Some(&at) if now - at < MAU_REFRESH_MS => false,
            _ => {
                p.mau_refreshed.insert(user_id.to_owned(), now);
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
            .filter(|((u, ..), _)| u == user_id)
            .map(|((u, token_id, ip, ua), (ts, device_id))| ClientIpSeen {
                user_id: u.clone(),
                token_id: *token_id,
                ip: ip.clone(),
                user_agent: ua.clone(),
                device_id: device_id.clone(),
                last_seen: *ts,
            })
            .collect()
    }

    /// Writes what has accumulated. Called on a timer and at shutdown.
    pub async fn flush(&self) {
        let (tokens, devices, ips) = {
            let mut p = self.lock();
            let newest = p
                .tokens
                .values()
                .chain(p.ips.values().map(|v| &v.0))
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
            if let Err(e) = self.store.record_tokens_last_used(&used).await {
                tracing::warn!("could not record token use: {e}");
            }
        }
        if !devices.is_empty() {
            let seen: Vec<DeviceSeen> = devices
                .into_iter()
                .map(|((user_id, device_id), (ts, ip))| DeviceSeen {
                    user_id,
                    device_id,
                    ts,
                    ip,
                })
                .collect();
            if let Err(e) = self.store.record_device_last_seen(&seen).await {
                tracing::warn!("could not record device use: {e}");
            }
        }
        if !ips.is_empty() {
            let seen: Vec<ClientIpSeen> = ips
                .into_iter()
                .map(
                    |((user_id, token_id, ip, user_agent), (ts, device_id))| ClientIpSeen {
                        user_id,
                        token_id,
                        ip,
                        user_agent,
                        device_id,
                        last_seen: ts,
                    },
                )
                .collect();
            if let Err(e) = self.store.record_client_ips(&seen).await {
                tracing::warn!("could not record client IPs: {e}");
            }
            self.lock().ips_in_flight.clear();
        }
    }
}
