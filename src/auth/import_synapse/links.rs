//! The import's rules for what links a user to others and to the
//! outside: 3PIDs, external IDs, rate-limit overrides, and the
//! registration tokens (see the parent module for the merge).

use super::*;

pub(super) fn plan_threepids(b: &Batch<'_>, out: &mut Phased, report: &mut Report) {
    let ours: HashMap<(&str, &str), &UserThreepid> = b
        .local
        .threepids
        .iter()
        .map(|t| ((t.medium.as_str(), t.address.as_str()), t))
        .collect();
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    for s in &b.rows.threepids {
        if !b.present.contains(s.user_id.as_str()) {
            continue;
        }
        let key = key2(&s.medium, &s.address);
        seen.insert((&s.user_id, key.clone()));
        let fields = json!({ "validated_at": s.validated_at, "added_at": s.added_at });
        let base = b
            .records
            .get(&(s.user_id.as_str(), kind::THREEPID, key.as_str()));
        match (base, ours.get(&(s.medium.as_str(), s.address.as_str()))) {
            (None, None) => {
                out.rest.push(ImportWrite::InsertThreepid(UserThreepid {
                    user_id: s.user_id.clone(),
                    medium: s.medium.clone(),
                    address: s.address.clone(),
                    validated_ts: s.validated_at,
                    added_ts: s.added_at,
                }));
                report.tally(kind::THREEPID).new += 1;
            }
            (_, Some(o)) if o.user_id != s.user_id => {
                report.tally(kind::THREEPID).skipped += 1;
                report.problem(
                    "3PIDs bound to another user at mxauth: left with that user",
                    format!("{} {} ({})", s.medium, s.address, s.user_id),
                );
                continue;
            }
            (None, Some(_)) => report.tally(kind::THREEPID).unchanged += 1,
            (Some(_), None) => report.tally(kind::THREEPID).skipped += 1,
            (Some(base), Some(_)) => {
                report.tally(kind::THREEPID).unchanged += 1;
                if fields == *base {
                    continue;
                }
            }
        }
        out.record(&s.user_id, kind::THREEPID, &key, &fields);
    }
    for r in b.gone(kind::THREEPID, &seen) {
        if let Some((medium, address)) = split_key2(&r.row_key) {
            if ours
                .get(&(medium.as_str(), address.as_str()))
                .is_some_and(|o| o.user_id == r.user_id)
            {
                out.delete.push(ImportWrite::DeleteThreepid {
                    user_id: r.user_id.clone(),
                    medium,
                    address,
                });
                report.tally(kind::THREEPID).deleted += 1;
            }
        }
        out.forget(&r.user_id, kind::THREEPID, &r.row_key);
    }
}

pub(super) fn plan_external_ids(b: &Batch<'_>, out: &mut Phased, report: &mut Report) {
    let ours: HashMap<(&str, &str), &ImportExternalId> = b
        .local
        .external_ids
        .iter()
        .map(|e| ((e.auth_provider.as_str(), e.external_id.as_str()), e))
        .collect();
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    for s in &b.rows.external_ids {
        if !b.present.contains(s.user_id.as_str()) {
            continue;
        }
        if !b.ctx.known_auth_providers.contains(&s.auth_provider) {
            report.problem(
                format!(
                    "external IDs of provider `{}`, which no `oidc_providers` entry of mxauth has as idp_id: imported, but nobody can log in with them",
                    s.auth_provider
                ),
                &s.user_id,
            );
        }
        let key = key2(&s.auth_provider, &s.external_id);
        seen.insert((&s.user_id, key.clone()));
        let fields = json!({});
        let base = b
            .records
            .get(&(s.user_id.as_str(), kind::EXTERNAL_ID, key.as_str()));
        match (
            base,
            ours.get(&(s.auth_provider.as_str(), s.external_id.as_str())),
        ) {
            (None, None) => {
                out.rest.push(ImportWrite::InsertExternalId {
                    link: ImportExternalId {
                        auth_provider: s.auth_provider.clone(),
                        external_id: s.external_id.clone(),
                        user_id: s.user_id.clone(),
                    },
                    created_ts: b.ctx.now,
                });
                report.tally(kind::EXTERNAL_ID).new += 1;
            }
            (_, Some(o)) if o.user_id != s.user_id => {
                report.tally(kind::EXTERNAL_ID).skipped += 1;
                report.problem(
                    "external IDs linked to another user at mxauth: left with that user",
                    format!("{} {} ({})", s.auth_provider, s.external_id, s.user_id),
                );
                continue;
            }
            (None, Some(_)) => report.tally(kind::EXTERNAL_ID).unchanged += 1,
            (Some(_), None) => report.tally(kind::EXTERNAL_ID).skipped += 1,
            (Some(_), Some(_)) => {
                report.tally(kind::EXTERNAL_ID).unchanged += 1;
                continue;
            }
        }
        out.record(&s.user_id, kind::EXTERNAL_ID, &key, &fields);
    }
    for r in b.gone(kind::EXTERNAL_ID, &seen) {
        if let Some((provider, external_id)) = split_key2(&r.row_key) {
            if ours
                .get(&(provider.as_str(), external_id.as_str()))
                .is_some_and(|o| o.user_id == r.user_id)
            {
                out.delete.push(ImportWrite::DeleteExternalId {
                    auth_provider: provider,
                    external_id,
                });
                report.tally(kind::EXTERNAL_ID).deleted += 1;
            }
        }
        out.forget(&r.user_id, kind::EXTERNAL_ID, &r.row_key);
    }
}

pub(super) fn plan_ratelimit_overrides(b: &Batch<'_>, out: &mut Phased, report: &mut Report) {
    let fields_of = |o: &ImportRatelimitOverride| json!({ "messages_per_second": o.messages_per_second, "burst_count": o.burst_count });
    let ours: HashMap<&str, &ImportRatelimitOverride> = b
        .local
        .ratelimit_overrides
        .iter()
        .map(|o| (o.user_id.as_str(), o))
        .collect();
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    for s in &b.rows.ratelimit_overrides {
        if !b.present.contains(s.user_id.as_str()) {
            continue;
        }
        seen.insert((&s.user_id, String::new()));
        let theirs = ImportRatelimitOverride {
            user_id: s.user_id.clone(),
            messages_per_second: s.messages_per_second,
            burst_count: s.burst_count,
        };
        let fields = fields_of(&theirs);
        let base = b
            .records
            .get(&(s.user_id.as_str(), kind::RATELIMIT_OVERRIDE, ""));
        match (base, ours.get(s.user_id.as_str())) {
            (None, None) => {
                out.rest.push(ImportWrite::SetRatelimitOverride(theirs));
                report.tally(kind::RATELIMIT_OVERRIDE).new += 1;
            }
            (None, Some(_)) => report.tally(kind::RATELIMIT_OVERRIDE).unchanged += 1,
            (Some(_), None) => report.tally(kind::RATELIMIT_OVERRIDE).skipped += 1,
            (Some(base), Some(o)) => {
                let mut mine = fields_of(o);
                if merge_fields(base, &fields, &mut mine, &[]) {
                    out.rest
                        .push(ImportWrite::SetRatelimitOverride(ImportRatelimitOverride {
                            user_id: s.user_id.clone(),
                            messages_per_second: mine["messages_per_second"].as_i64().unwrap_or(0),
                            burst_count: mine["burst_count"].as_i64().unwrap_or(0),
                        }));
                    report.tally(kind::RATELIMIT_OVERRIDE).changed += 1;
                } else {
                    report.tally(kind::RATELIMIT_OVERRIDE).unchanged += 1;
                }
                if fields == *base {
                    continue;
                }
            }
        }
        out.record(&s.user_id, kind::RATELIMIT_OVERRIDE, "", &fields);
    }
    for r in b.gone(kind::RATELIMIT_OVERRIDE, &seen) {
        if ours.contains_key(r.user_id.as_str()) {
            out.delete.push(ImportWrite::DeleteRatelimitOverride {
                user_id: r.user_id.clone(),
            });
            report.tally(kind::RATELIMIT_OVERRIDE).deleted += 1;
        }
        out.forget(&r.user_id, kind::RATELIMIT_OVERRIDE, "");
    }
}

/// Plans the registration tokens. Uses pending at Synapse (registrations in
/// flight there) are given back; uses completed at Synapse since the last
/// run are added to those completed at mxauth since.
pub fn plan_registration_tokens(
    theirs: &[SynapseRegistrationToken],
    ours: &[RegistrationToken],
    imported: &[ImportedRow],
) -> Plan {
    let mut report = Report::default();
    let mut out = Phased::default();
    let records = records_of(imported);
    let ours: HashMap<&str, &RegistrationToken> =
        ours.iter().map(|t| (t.token.as_str(), t)).collect();
    let fields_of = |uses_allowed: Option<i64>, completed: i64, expires: Option<i64>| json!({ "uses_allowed": uses_allowed, "completed": completed, "expiry_time": expires });
    let mut seen: HashSet<&str> = HashSet::new();
    for s in theirs {
        seen.insert(&s.token);
        report.pending_uses_given_back += s.pending;
        let fields = fields_of(s.uses_allowed, s.completed, s.expiry_time);
        let base = records.get(&("", kind::REGISTRATION_TOKEN, s.token.as_str()));
        match (base, ours.get(s.token.as_str())) {
            (None, None) => {
                out.rest
                    .push(ImportWrite::SetRegistrationToken(RegistrationToken {
                        token: s.token.clone(),
                        uses_allowed: s.uses_allowed,
                        pending: 0,
                        completed: s.completed,
                        expires_ts: s.expiry_time,
                    }));
                report.tally(kind::REGISTRATION_TOKEN).new += 1;
            }
            (None, Some(_)) => {
                report.tally(kind::REGISTRATION_TOKEN).skipped += 1;
                report.problem(
                    "registration tokens that exist at mxauth already and were not imported: left alone",
                    // Not the token: it is a secret.
                    "",
                );
                continue;
            }
            (Some(_), None) => {
                report.tally(kind::REGISTRATION_TOKEN).skipped += 1;
            }
            (Some(base), Some(o)) => {
                let mut mine = fields_of(o.uses_allowed, o.completed, o.expires_ts);
                let mut changed = merge_fields(base, &fields, &mut mine, &["completed"]);
                let base_completed = base.get("completed").and_then(Value::as_i64).unwrap_or(0);
                let mut completed = o.completed;
                if s.completed > base_completed {
                    completed += s.completed - base_completed;
                    changed = true;
                }
                if changed {
                    out.rest
                        .push(ImportWrite::SetRegistrationToken(RegistrationToken {
                            token: s.token.clone(),
                            uses_allowed: mine["uses_allowed"].as_i64(),
                            pending: o.pending,
                            completed,
                            expires_ts: mine["expiry_time"].as_i64(),
                        }));
                    report.tally(kind::REGISTRATION_TOKEN).changed += 1;
                } else {
                    report.tally(kind::REGISTRATION_TOKEN).unchanged += 1;
                }
                if fields == *base {
                    continue;
                }
            }
        }
        out.record("", kind::REGISTRATION_TOKEN, &s.token, &fields);
    }
    for r in imported
        .iter()
        .filter(|r| r.kind == kind::REGISTRATION_TOKEN)
    {
        if seen.contains(r.row_key.as_str()) {
            continue;
        }
        if ours.contains_key(r.row_key.as_str()) {
            out.delete.push(ImportWrite::DeleteRegistrationToken {
                token: r.row_key.clone(),
            });
            report.tally(kind::REGISTRATION_TOKEN).deleted += 1;
        }
        out.forget("", kind::REGISTRATION_TOKEN, &r.row_key);
    }
    Plan {
        writes: out.into_writes(),
        report,
    }
}
