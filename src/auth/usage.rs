//! Last-used times of tokens and devices, kept in memory and written in
//! batches, so that request authentication does no database write.

use crate::store::{DeviceSeen, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct UsageRecorder {
    store: Arc<dyn Store>,
    pending: Arc<Mutex<Pending>>,
}

#[derive(Default)]
struct Pending {
    tokens: HashMap<i64, i64>,
    devices: HashMap<(String, String), (i64, Option<String>)>,
}

impl UsageRecorder {
    pub fn new(store: Arc<dyn Store>) -> Self {
        UsageRecorder {
            store,
            pending: Arc::default(),
        }
    }

    pub fn record(
        &self,
        token_id: i64,
        user_id: &str,
        device_id: Option<&str>,
        ts: i64,
        ip: Option<&str>,
    ) {
        let mut p = match self.pending.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        p.tokens.insert(token_id, ts);
        if let Some(device_id) = device_id {
            p.devices.insert(
                (user_id.to_owned(), device_id.to_owned()),
                (ts, ip.map(str::to_owned)),
            );
        }
    }

    /// Writes what has accumulated. Called on a timer and at shutdown.
    pub async fn flush(&self) {
        let taken = {
            let mut p = match self.pending.lock() {
                Ok(p) => p,
                Err(poisoned) => poisoned.into_inner(),
            };
            std::mem::take(&mut *p)
        };
        if !taken.tokens.is_empty() {
            let used: Vec<(i64, i64)> = taken.tokens.into_iter().collect();
            if let Err(e) = self.store.record_tokens_last_used(&used).await {
                tracing::warn!("could not record token use: {e}");
            }
        }
        if !taken.devices.is_empty() {
            let seen: Vec<DeviceSeen> = taken
                .devices
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
    }
}
