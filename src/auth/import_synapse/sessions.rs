//! The import's rules for sessions: devices, refresh tokens, access
//! tokens and puppet tokens (see the parent module for the merge).

use super::*;

pub(super) fn device_fields(d: &ImportDevice) -> Value {
    json!({ "display_name": d.display_name })
}

/// The devices of these users mxauth will hold after the batch: (user, device).
pub(super) fn devices_after(b: &Batch<'_>) -> HashSet<(String, String)> {
    let mut live: HashSet<(String, String)> = b
        .local
        .devices
        .iter()
        .map(|d| (d.user_id.clone(), d.device_id.clone()))
        .collect();
    for d in &b.rows.devices {
        let key = (d.user_id.clone(), d.device_id.clone());
        if b.present.contains(d.user_id.as_str())
            && !b
                .records
                .contains_key(&(d.user_id.as_str(), kind::DEVICE, d.device_id.as_str()))
        {
            live.insert(key);
        }
    }
    // Those gone from Synapse go.
    let at_synapse: HashSet<(&str, &str)> = b
        .rows
        .devices
        .iter()
        .map(|d| (d.user_id.as_str(), d.device_id.as_str()))
        .collect();
    live.retain(|(u, d)| {
        !b.records
            .contains_key(&(u.as_str(), kind::DEVICE, d.as_str()))
            || at_synapse.contains(&(u.as_str(), d.as_str()))
    });
    live
}

pub(super) fn plan_devices(b: &Batch<'_>, out: &mut Phased, report: &mut Report) {
    let ours: HashMap<(&str, &str), &ImportDevice> = b
        .local
        .devices
        .iter()
        .map(|d| ((d.user_id.as_str(), d.device_id.as_str()), d))
        .collect();
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    for s in &b.rows.devices {
        if !b.present.contains(s.user_id.as_str()) {
            continue;
        }
        seen.insert((&s.user_id, s.device_id.clone()));
        let theirs = ImportDevice {
            user_id: s.user_id.clone(),
            device_id: s.device_id.clone(),
            display_name: s.display_name.clone(),
            last_seen_ts: s.last_seen,
            last_seen_ip: s.ip.clone(),
            last_seen_user_agent: s.user_agent.clone(),
        };
        let fields = device_fields(&theirs);
        let base = b
            .records
            .get(&(s.user_id.as_str(), kind::DEVICE, s.device_id.as_str()));
        match (base, ours.get(&(s.user_id.as_str(), s.device_id.as_str()))) {
            (None, None) => {
                out.devices.push(ImportWrite::InsertDevice(theirs));
                report.tally(kind::DEVICE).new += 1;
            }
            (None, Some(_)) => report.tally(kind::DEVICE).unchanged += 1,
            (Some(_), None) => report.tally(kind::DEVICE).skipped += 1,
            (Some(base), Some(o)) => {
                let mut mine = device_fields(o);
                let mut updated = (*o).clone();
                let mut changed = merge_fields(base, &fields, &mut mine, &[]);
                if changed {
                    updated.display_name = mine["display_name"].as_str().map(str::to_owned);
                }
                if theirs.last_seen_ts > o.last_seen_ts {
                    updated.last_seen_ts = theirs.last_seen_ts;
                    updated.last_seen_ip = theirs.last_seen_ip.clone();
                    updated.last_seen_user_agent = theirs.last_seen_user_agent.clone();
                    changed = true;
                }
                if changed {
                    out.devices.push(ImportWrite::UpdateDevice(updated));
                    report.tally(kind::DEVICE).changed += 1;
                } else {
                    report.tally(kind::DEVICE).unchanged += 1;
                }
                if fields == *base {
                    continue;
                }
            }
        }
        out.record(&s.user_id, kind::DEVICE, &s.device_id, &fields);
    }
    // Recorded devices gone from Synapse (logged out there).
    for r in b.gone(kind::DEVICE, &seen) {
        if ours.contains_key(&(r.user_id.as_str(), r.row_key.as_str())) {
            out.delete.push(ImportWrite::DeleteDevice {
                user_id: r.user_id.clone(),
                device_id: r.row_key.clone(),
            });
            report.tally(kind::DEVICE).deleted += 1;
        }
        out.forget(&r.user_id, kind::DEVICE, &r.row_key);
    }
}

/// Plans refresh tokens; answers the hashes mxauth will hold after the batch.
pub(super) fn plan_refresh_tokens(
    b: &Batch<'_>,
    live_devices: &HashSet<(String, String)>,
    out: &mut Phased,
    report: &mut Report,
) -> HashSet<Vec<u8>> {
    let ours: HashMap<&[u8], &crate::store::ImportRefreshToken> = b
        .local
        .refresh_tokens
        .iter()
        .map(|t| (t.token_hash.as_slice(), t))
        .collect();
    let hash_of_id: HashMap<i64, String> = b
        .rows
        .refresh_tokens
        .iter()
        .map(|t| (t.id, hash_hex(&t.token)))
        .collect();
    let mut live: HashSet<Vec<u8>> = b
        .local
        .refresh_tokens
        .iter()
        .map(|t| t.token_hash.clone())
        .collect();
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    for s in &b.rows.refresh_tokens {
        if !b.present.contains(s.user_id.as_str()) {
            continue;
        }
        let key = s.id.to_string();
        seen.insert((&s.user_id, key.clone()));
        if !is_well_formed_refresh(&s.token) {
            report.tally(kind::REFRESH_TOKEN).skipped += 1;
            report.problem(
                "refresh tokens of a shape mxauth does not accept: not imported",
                &s.user_id,
            );
            continue;
        }
        let hash = hash_token(&s.token);
        let next = s.next_token_id.and_then(|id| hash_of_id.get(&id).cloned());
        let fields = json!({
            "hash": hex::encode(&hash),
            "device_id": s.device_id,
            "next": next,
        });
        let base = b
            .records
            .get(&(s.user_id.as_str(), kind::REFRESH_TOKEN, key.as_str()));
        match (base, ours.get(hash.as_slice())) {
            (None, None) => {
                if !live_devices.contains(&(s.user_id.clone(), s.device_id.clone())) {
                    report.tally(kind::REFRESH_TOKEN).skipped += 1;
                    continue;
                }
                out.refresh.push(ImportWrite::InsertRefreshToken {
                    token_hash: hash.clone(),
                    user_id: s.user_id.clone(),
                    device_id: s.device_id.clone(),
                    created_ts: b.ctx.now,
                    expires_ts: s.expiry_ts,
                    session_until_ts: s.ultimate_session_expiry_ts,
                    access_token_lifetime_ms: b.ctx.access_token_lifetime_ms,
                    refresh_token_lifetime_ms: b.ctx.refresh_token_lifetime_ms,
                });
                if next.is_some() {
                    out.links.push(ImportWrite::LinkRefreshToken {
                        token_hash: hash.clone(),
                        next_hash: next.as_deref().map(unhex),
                    });
                }
                live.insert(hash);
                report.tally(kind::REFRESH_TOKEN).new += 1;
            }
            (None, Some(_)) => report.tally(kind::REFRESH_TOKEN).unchanged += 1,
            (Some(_), None) => {
                report.tally(kind::REFRESH_TOKEN).skipped += 1;
            }
            (Some(base), Some(o)) => {
                let base_next = base.get("next").and_then(Value::as_str);
                let ours_next = o.next_hash.as_ref().map(hex::encode);
                if next.as_deref() != base_next && ours_next.as_deref() == base_next {
                    out.links.push(ImportWrite::LinkRefreshToken {
                        token_hash: hash.clone(),
                        next_hash: next.as_deref().map(unhex),
                    });
                    report.tally(kind::REFRESH_TOKEN).changed += 1;
                } else {
                    report.tally(kind::REFRESH_TOKEN).unchanged += 1;
                }
                if fields == *base {
                    continue;
                }
            }
        }
        out.record(&s.user_id, kind::REFRESH_TOKEN, &key, &fields);
    }
    for r in b.gone(kind::REFRESH_TOKEN, &seen) {
        let hash = b.recorded_hash(r);
        if ours.contains_key(hash.as_slice()) {
            out.delete.push(ImportWrite::DeleteRefreshToken {
                token_hash: hash.clone(),
            });
            report.tally(kind::REFRESH_TOKEN).deleted += 1;
        }
        live.remove(&hash);
        out.forget(&r.user_id, kind::REFRESH_TOKEN, &r.row_key);
    }
    live
}

/// An access token's record.
pub(super) fn access_fields(t: &SynapseAccessToken, refresh_hash: Option<&str>) -> Value {
    json!({
        "hash": hash_hex(&t.token),
        "device_id": t.device_id,
        "valid_until_ms": t.valid_until_ms,
        "used": t.used != 0,
        "refresh": refresh_hash,
    })
}

/// Plans the access tokens that are not puppet tokens; answers the hashes
/// mxauth will hold after the batch.
pub(super) fn plan_access_tokens(
    b: &Batch<'_>,
    live_devices: &HashSet<(String, String)>,
    refresh_live: &HashSet<Vec<u8>>,
    out: &mut Phased,
    report: &mut Report,
) -> HashSet<Vec<u8>> {
    let ours: HashMap<&[u8], &crate::store::ImportAccessToken> = b
        .local
        .access_tokens
        .iter()
        .map(|t| (t.token_hash.as_slice(), t))
        .collect();
    let refresh_hash_of_id: HashMap<i64, Vec<u8>> = b
        .rows
        .refresh_tokens
        .iter()
        .map(|t| (t.id, hash_token(&t.token)))
        .collect();
    let mut live: HashSet<Vec<u8>> = b
        .local
        .access_tokens
        .iter()
        .map(|t| t.token_hash.clone())
        .collect();
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    for s in b
        .rows
        .access_tokens
        .iter()
        .filter(|t| t.puppets_user_id.is_none())
    {
        if !b.present.contains(s.user_id.as_str()) {
            continue;
        }
        let key = s.id.to_string();
        seen.insert((&s.user_id, key.clone()));
        if !access_token_shape_known(&s.token) {
            report.tally(kind::ACCESS_TOKEN).skipped += 1;
            report.problem(
                "access tokens of a shape mxauth does not accept: not imported",
                &s.user_id,
            );
            continue;
        }
        let hash = hash_token(&s.token);
        let refresh_hash = s
            .refresh_token_id
            .and_then(|id| refresh_hash_of_id.get(&id).cloned())
            .filter(|h| refresh_live.contains(h));
        let fields = access_fields(s, refresh_hash.as_ref().map(hex::encode).as_deref());
        let base = b
            .records
            .get(&(s.user_id.as_str(), kind::ACCESS_TOKEN, key.as_str()));
        let first_used = (s.used != 0).then_some(b.ctx.now);
        match (base, ours.get(hash.as_slice())) {
            (None, None) => {
                let device_live = s
                    .device_id
                    .as_ref()
                    .is_none_or(|d| live_devices.contains(&(s.user_id.clone(), d.clone())));
                if !device_live {
                    report.tally(kind::ACCESS_TOKEN).skipped += 1;
                    continue;
                }
                out.access.push(ImportWrite::InsertAccessToken {
                    token_hash: hash.clone(),
                    user_id: s.user_id.clone(),
                    device_id: s.device_id.clone(),
                    puppet_owner: None,
                    created_ts: b.ctx.now,
                    valid_until_ts: s.valid_until_ms,
                    refresh_hash,
                    first_used_ts: first_used,
                });
                live.insert(hash);
                report.tally(kind::ACCESS_TOKEN).new += 1;
            }
            (None, Some(_)) => report.tally(kind::ACCESS_TOKEN).unchanged += 1,
            (Some(_), None) => report.tally(kind::ACCESS_TOKEN).skipped += 1,
            (Some(base), Some(o)) => {
                if s.used != 0 && o.first_used_ts.is_none() {
                    out.rest.push(ImportWrite::AccessTokenUsed {
                        token_hash: hash.clone(),
                        ts: b.ctx.now,
                    });
                    report.tally(kind::ACCESS_TOKEN).changed += 1;
                } else {
                    report.tally(kind::ACCESS_TOKEN).unchanged += 1;
                }
                if fields == *base {
                    continue;
                }
            }
        }
        out.record(&s.user_id, kind::ACCESS_TOKEN, &key, &fields);
    }
    for r in b.gone(kind::ACCESS_TOKEN, &seen) {
        let hash = b.recorded_hash(r);
        if ours.contains_key(hash.as_slice()) {
            out.delete.push(ImportWrite::DeleteAccessToken {
                token_hash: hash.clone(),
            });
            report.tally(kind::ACCESS_TOKEN).deleted += 1;
        }
        live.remove(&hash);
        out.forget(&r.user_id, kind::ACCESS_TOKEN, &r.row_key);
    }
    live
}

/// Plans the puppet tokens (an admin's token acting as another user), once
/// every user is in: `users` are the local users among owners and targets.
pub fn plan_puppet_tokens(
    ctx: &ImportContext,
    tokens: &[SynapseAccessToken],
    local: &LocalRows,
    imported: &[ImportedRow],
) -> Plan {
    let mut report = Report::default();
    let mut out = Phased::default();
    let records = records_of(imported);
    let users: HashSet<&str> = local.users.iter().map(|u| u.user_id.as_str()).collect();
    let ours: HashSet<&[u8]> = local
        .access_tokens
        .iter()
        .map(|t| t.token_hash.as_slice())
        .collect();
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    for s in tokens {
        let Some(target) = s.puppets_user_id.as_deref() else {
            continue;
        };
        let key = s.id.to_string();
        seen.insert((&s.user_id, key.clone()));
        if !users.contains(target)
            || !users.contains(s.user_id.as_str())
            || !access_token_shape_known(&s.token)
        {
            report.tally(kind::PUPPET_TOKEN).skipped += 1;
            continue;
        }
        let hash = hash_token(&s.token);
        let fields = access_fields(s, None);
        let base = records.get(&(s.user_id.as_str(), kind::PUPPET_TOKEN, key.as_str()));
        match (base, ours.contains(hash.as_slice())) {
            (None, false) => {
                out.access.push(ImportWrite::InsertAccessToken {
                    token_hash: hash,
                    user_id: target.to_owned(),
                    device_id: s.device_id.clone(),
                    puppet_owner: Some(s.user_id.clone()),
                    created_ts: ctx.now,
                    valid_until_ts: s.valid_until_ms,
                    refresh_hash: None,
                    first_used_ts: None,
                });
                report.tally(kind::PUPPET_TOKEN).new += 1;
            }
            (None, true) => report.tally(kind::PUPPET_TOKEN).unchanged += 1,
            (Some(_), false) => {
                report.tally(kind::PUPPET_TOKEN).skipped += 1;
                continue;
            }
            (Some(_), true) => {
                report.tally(kind::PUPPET_TOKEN).unchanged += 1;
                continue;
            }
        }
        out.record(&s.user_id, kind::PUPPET_TOKEN, &key, &fields);
    }
    for r in imported.iter().filter(|r| r.kind == kind::PUPPET_TOKEN) {
        if seen.contains(&(r.user_id.as_str(), r.row_key.clone())) {
            continue;
        }
        let hash = recorded_hash(&records, r);
        if ours.contains(hash.as_slice()) {
            out.delete
                .push(ImportWrite::DeleteAccessToken { token_hash: hash });
            report.tally(kind::PUPPET_TOKEN).deleted += 1;
        }
        out.forget(&r.user_id, kind::PUPPET_TOKEN, &r.row_key);
    }
    Plan {
        writes: out.into_writes(),
        report,
    }
}
