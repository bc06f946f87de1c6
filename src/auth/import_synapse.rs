//! The rules of `mxauth import-synapse`: what a Synapse row becomes at
//! mxauth, and, on a later run, what changes. Pure functions from rows
//! read on both sides to the writes to make ([`ImportWrite`]) and what to
//! report; reading and writing are the store's (`store/synapse_source.rs`,
//! `store/synapse_import.rs`), running it the CLI's.
//!
//! Every imported row is recorded as it was at Synapse
//! (`synapse_import_rows`). A later run compares three versions of each
//! row — as recorded (the base), at Synapse now, at mxauth now — and:
//! - a row new at Synapse is created (unless mxauth has one of that key it
//!   did not import: then it is left alone and reported);
//! - a field changed at Synapse is changed at mxauth only where mxauth
//!   still holds the recorded value, so a change made at mxauth (a new
//!   password, a renamed device) is never undone; a password counts as
//!   unchanged at mxauth while its `credentials_version` is the one the
//!   import wrote (a rehash to argon2id on login is no change);
//! - a row deleted at mxauth (a logout, a removed email) is not brought back;
//! - a row gone from Synapse (a logout there) goes from mxauth too.
//!
//! Synapse's units: `users.creation_ts` is in seconds, every other time in
//! milliseconds. Tokens are stored as their SHA-256 only.

use super::macaroon::looks_like_macaroon;
use super::tokens::{hash_token, is_well_formed, is_well_formed_refresh};
use crate::clock::Timestamp;
use crate::store::synapse_source::{
    SynapseAccessToken, SynapseRegistrationToken, SynapseUser, SynapseUserRows,
};
use crate::store::{
    ImportDevice, ImportExternalId, ImportRatelimitOverride, ImportWrite, ImportedRow, LocalQuery,
    LocalRows, RegistrationToken, User, UserThreepid,
};
use ruma_common::UserId;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

mod links;
mod sessions;

pub use links::plan_registration_tokens;
use links::{plan_external_ids, plan_ratelimit_overrides, plan_threepids};
pub use sessions::plan_puppet_tokens;
use sessions::{devices_after, plan_access_tokens, plan_devices, plan_refresh_tokens};

/// The kinds of rows, as recorded and as reported.
pub mod kind {
    pub const USER: &str = "user";
    pub const DEVICE: &str = "device";
    pub const ACCESS_TOKEN: &str = "access_token";
    /// An admin's token acting as another user (imported after every user).
    pub const PUPPET_TOKEN: &str = "puppet_token";
    pub const REFRESH_TOKEN: &str = "refresh_token";
    pub const THREEPID: &str = "threepid";
    pub const EXTERNAL_ID: &str = "external_id";
    pub const RATELIMIT_OVERRIDE: &str = "ratelimit_override";
    pub const REGISTRATION_TOKEN: &str = "registration_token";
}

/// What the rules need to know of mxauth and of the run.
#[derive(Debug, Clone)]
pub struct ImportContext {
    pub server_name: String,
    pub now: Timestamp,
    /// mxauth's `refreshable_access_token_lifetime` and
    /// `refresh_token_lifetime`, given to imported refresh tokens (Synapse
    /// reads them from its config at each refresh too).
    pub access_token_lifetime_ms: Option<i64>,
    pub refresh_token_lifetime_ms: Option<i64>,
    /// The `idp_id`s of mxauth's `oidc_providers` (`oidc-<id>`).
    pub known_auth_providers: HashSet<String>,
    /// The ids of mxauth's application services.
    pub known_appservices: HashSet<String>,
}

/// How many rows of one kind went which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub new: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// Gone from Synapse since the last run: deleted at mxauth too.
    pub deleted: u64,
    /// Not imported (see the problems), or deleted at mxauth and left so.
    pub skipped: u64,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub tallies: BTreeMap<&'static str, Tally>,
    /// Each problem once, with how many rows it concerns and up to
    /// [`EXAMPLES`] examples.
    pub problems: BTreeMap<String, (u64, Vec<String>)>,
    /// Registration-token uses pending at Synapse (UIA sessions in flight
    /// there), given back.
    pub pending_uses_given_back: i64,
    pub monthly_active_users: u64,
    pub client_ips: u64,
}

/// How many examples a problem lists.
pub const EXAMPLES: usize = 5;

impl Report {
    fn tally(&mut self, kind: &'static str) -> &mut Tally {
        self.tallies.entry(kind).or_default()
    }

    fn problem(&mut self, what: impl Into<String>, example: impl Into<String>) {
        let entry = self.problems.entry(what.into()).or_default();
        entry.0 += 1;
        if entry.1.len() < EXAMPLES {
            entry.1.push(example.into());
        }
    }

    /// Adds another batch's report.
    pub fn absorb(&mut self, other: Report) {
        for (kind, t) in other.tallies {
            let mine = self.tally(kind);
            mine.new += t.new;
            mine.changed += t.changed;
            mine.unchanged += t.unchanged;
            mine.deleted += t.deleted;
            mine.skipped += t.skipped;
        }
        for (what, (n, examples)) in other.problems {
            let entry = self.problems.entry(what).or_default();
            entry.0 += n;
            for e in examples {
                if entry.1.len() < EXAMPLES {
                    entry.1.push(e);
                }
            }
        }
        self.pending_uses_given_back += other.pending_uses_given_back;
        self.monthly_active_users += other.monthly_active_users;
        self.client_ips += other.client_ips;
    }

    /// Whether the run changed (or would change) anything.
    pub fn changes_anything(&self) -> bool {
        self.tallies
            .values()
            .any(|t| t.new + t.changed + t.deleted > 0)
    }
}

/// The writes of a batch, in the order they must run, and its report.
#[derive(Debug, Default)]
pub struct Plan {
    pub writes: Vec<ImportWrite>,
    pub report: Report,
}

/// A write phase: deletions first (a 3PID may move between users of one
/// batch), then rows in dependency order, then links and records.
#[derive(Default)]
struct Phased {
    delete: Vec<ImportWrite>,
    users: Vec<ImportWrite>,
    devices: Vec<ImportWrite>,
    refresh: Vec<ImportWrite>,
    access: Vec<ImportWrite>,
    rest: Vec<ImportWrite>,
    links: Vec<ImportWrite>,
    records: Vec<ImportWrite>,
}

impl Phased {
    fn into_writes(self) -> Vec<ImportWrite> {
        [
            self.delete,
            self.users,
            self.devices,
            self.refresh,
            self.access,
            self.rest,
            self.links,
            self.records,
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn record(&mut self, user_id: &str, kind: &str, row_key: &str, imported: &Value) {
        self.records.push(ImportWrite::Record(ImportedRow {
            user_id: user_id.to_owned(),
            kind: kind.to_owned(),
            row_key: row_key.to_owned(),
            imported: imported.to_string(),
        }));
    }

    fn forget(&mut self, user_id: &str, kind: &str, row_key: &str) {
        self.records.push(ImportWrite::Forget {
            user_id: user_id.to_owned(),
            kind: kind.to_owned(),
            row_key: row_key.to_owned(),
        });
    }
}

/// The hash of a token, as hex (how records name tokens).
fn hash_hex(token: &str) -> String {
    hex::encode(hash_token(token))
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap_or_default()
}

/// Whether mxauth's request auth will look a token of this shape up
/// (Synapse's `syt_` tokens, and the macaroons of Synapse before 1.34).
pub fn access_token_shape_known(token: &str) -> bool {
    is_well_formed(token) || looks_like_macaroon(token)
}

/// The key of a row keyed by two columns: a JSON array of both (text
/// that any column value fits in, on both backends).
fn key2(a: &str, b: &str) -> String {
    json!([a, b]).to_string()
}

/// The columns of a [`key2`] key.
fn split_key2(key: &str) -> Option<(String, String)> {
    serde_json::from_str::<(String, String)>(key).ok()
}

/// The three-way merge of one row's fields: a field changed at Synapse
/// (`theirs` differs from `base`) is taken where mxauth (`ours`) still
/// holds `base`'s value. Answers whether `ours` changed.
fn merge_fields(base: &Value, theirs: &Value, ours: &mut Value, skip: &[&str]) -> bool {
    let (Some(base), Some(theirs), Some(ours)) =
        (base.as_object(), theirs.as_object(), ours.as_object_mut())
    else {
        return false;
    };
    let mut changed = false;
    for (key, value) in theirs {
        if skip.contains(&key.as_str()) {
            continue;
        }
        let before = base.get(key).unwrap_or(&Value::Null);
        if value != before && ours.get(key).unwrap_or(&Value::Null) == before {
            ours.insert(key.clone(), value.clone());
            changed = true;
        }
    }
    changed
}

/// What the import records and merges of a user (not the name, nor the
/// creation time, set once). The password hash only as its SHA-256: a
/// record must not keep a copy of a hash the user may since have replaced.
fn user_fields(u: &User) -> Value {
    json!({
        "password_hash": u.password_hash.as_deref().map(hash_hex),
        "credentials_version": u.credentials_version,
        "admin": u.admin,
        "user_type": u.user_type,
        "is_guest": u.is_guest,
        "deactivated": u.deactivated,
        "locked": u.locked,
        "suspended": u.suspended,
        "erased": u.erased,
        "appservice_id": u.appservice_id,
        "consent_version": u.consent_version,
        "displayname": u.displayname,
        "avatar_url": u.avatar_url,
    })
}

/// Sets the fields of [`user_fields`] but the password hash.
fn set_user_fields(u: &mut User, f: &Value) {
    let s = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
    let b = |k: &str| f.get(k).and_then(Value::as_bool).unwrap_or(false);
    u.credentials_version = f
        .get("credentials_version")
        .and_then(Value::as_i64)
        .unwrap_or(u.credentials_version);
    u.admin = b("admin");
    u.user_type = s("user_type");
    u.is_guest = b("is_guest");
    u.deactivated = b("deactivated");
    u.locked = b("locked");
    u.suspended = b("suspended");
    u.erased = b("erased");
    u.appservice_id = s("appservice_id");
    u.consent_version = s("consent_version");
    u.displayname = s("displayname");
    u.avatar_url = s("avatar_url");
}

/// A Synapse user as an mxauth user (credentials version 0).
pub fn user_from_synapse(s: &SynapseUser) -> User {
    User {
        user_id: s.name.clone(),
        password_hash: s.password_hash.clone().filter(|h| !h.is_empty()),
        admin: s.admin != 0,
        user_type: s.user_type.clone(),
        is_guest: s.is_guest != 0,
        deactivated: s.deactivated != 0,
        locked: s.locked != 0,
        // Seconds at Synapse.
        created_ts: s.creation_ts.unwrap_or(0).saturating_mul(1000),
        displayname: s.displayname.clone(),
        appservice_id: s.appservice_id.clone(),
        consent_version: s.consent_version.clone(),
        credentials_version: 0,
        suspended: s.suspended != 0,
        erased: s.erased != 0,
        avatar_url: s.avatar_url.clone(),
    }
}

/// Whether mxauth can verify a stored password hash (bcrypt, as Synapse
/// writes them).
fn hash_verifiable(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// Why a Synapse user cannot be imported, if it cannot.
pub fn unimportable_user(name: &str, server_name: &str) -> Option<&'static str> {
    match UserId::parse(name) {
        Err(_) => Some("not a valid Matrix user ID"),
        Ok(id) if id.server_name().as_str() != server_name => Some("of another server"),
        Ok(_) => None,
    }
}

/// What a batch must read at mxauth: the users, every token hash Synapse
/// names or the records do, and the 3PIDs and external IDs Synapse names.
pub fn local_query(
    users: &[SynapseUser],
    rows: &SynapseUserRows,
    imported: &[ImportedRow],
) -> LocalQuery {
    let mut token_hashes: Vec<Vec<u8>> = rows
        .access_tokens
        .iter()
        .map(|t| hash_token(&t.token))
        .chain(rows.refresh_tokens.iter().map(|t| hash_token(&t.token)))
        .collect();
    token_hashes.extend(imported.iter().filter_map(|r| {
        let value: Value = serde_json::from_str(&r.imported).ok()?;
        value.get("hash").and_then(Value::as_str).map(unhex)
    }));
    LocalQuery {
        users: users.iter().map(|u| u.name.clone()).collect(),
        token_hashes,
        threepids: rows
            .threepids
            .iter()
            .map(|t| (t.medium.clone(), t.address.clone()))
            .collect(),
        external_ids: rows
            .external_ids
            .iter()
            .map(|e| (e.auth_provider.clone(), e.external_id.clone()))
            .collect(),
    }
}

/// What every part of a batch's plan reads: the run, the rows at
/// Synapse, the rows at mxauth, the records of the last import by (user,
/// kind, key), and the users the batch imports into (new or recorded).
pub(super) struct Batch<'a> {
    pub(super) ctx: &'a ImportContext,
    pub(super) rows: &'a SynapseUserRows,
    pub(super) local: &'a LocalRows,
    pub(super) records: HashMap<(&'a str, &'a str, &'a str), Value>,
    pub(super) present: HashSet<&'a str>,
}

impl<'a> Batch<'a> {
    /// The records of `kind` of this batch's users whose row is no longer
    /// at Synapse (`seen`: the (user, key)s that are).
    pub(super) fn gone(&self, kind: &str, seen: &HashSet<(&str, String)>) -> Vec<&'a ImportedRow> {
        self.local
            .imported
            .iter()
            .filter(|r| {
                r.kind == kind
                    && self.present.contains(r.user_id.as_str())
                    && !seen.contains(&(r.user_id.as_str(), r.row_key.clone()))
            })
            .collect()
    }

    /// The token hash a record names (empty if none).
    pub(super) fn recorded_hash(&self, r: &ImportedRow) -> Vec<u8> {
        recorded_hash(&self.records, r)
    }
}

/// The token hash a record names (empty if none).
pub(super) fn recorded_hash(
    records: &HashMap<(&str, &str, &str), Value>,
    r: &ImportedRow,
) -> Vec<u8> {
    records
        .get(&(r.user_id.as_str(), r.kind.as_str(), r.row_key.as_str()))
        .and_then(|v| v.get("hash").and_then(Value::as_str).map(unhex))
        .unwrap_or_default()
}

/// The records of a batch: by (user, kind, key).
fn records_of(imported: &[ImportedRow]) -> HashMap<(&str, &str, &str), Value> {
    imported
        .iter()
        .filter_map(|r| {
            let value = serde_json::from_str(&r.imported).ok()?;
            Some((
                (r.user_id.as_str(), r.kind.as_str(), r.row_key.as_str()),
                value,
            ))
        })
        .collect()
}

/// Plans one batch of users (the records of `local` are those of these
/// users only).
pub fn plan_users(
    ctx: &ImportContext,
    users: &[SynapseUser],
    rows: &SynapseUserRows,
    local: &LocalRows,
) -> Plan {
    let mut report = Report::default();
    let mut out = Phased::default();
    let records = records_of(&local.imported);
    let local_users: HashMap<&str, &User> = local
        .users
        .iter()
        .map(|u| (u.user_id.as_str(), u))
        .collect();

    // Users first: which ones this run imports into (new or recorded).
    let mut present: HashSet<&str> = HashSet::new();
    for s in users {
        if let Some(why) = unimportable_user(&s.name, &ctx.server_name) {
            report.tally(kind::USER).skipped += 1;
            report.problem(format!("users not imported: {why}"), &s.name);
            continue;
        }
        if let Some(hash) = s.password_hash.as_deref().filter(|h| !h.is_empty()) {
            if !hash_verifiable(hash) {
                report.problem(
                    "password hashes mxauth cannot verify (not bcrypt): these users must reset their password",
                    &s.name,
                );
            }
        }
        if s.shadow_banned != 0 {
            report.problem(
                "shadow-banned users: the ban is the homeserver's (Synapse keeps it), not imported",
                &s.name,
            );
        }
        if let Some(id) = &s.appservice_id {
            if !ctx.known_appservices.contains(id) {
                report.problem(
                    format!(
                        "users of application service `{id}`, which mxauth's config does not list"
                    ),
                    &s.name,
                );
            }
        }
        let theirs = user_from_synapse(s);
        let base = records.get(&(s.name.as_str(), kind::USER, ""));
        match (base, local_users.get(s.name.as_str())) {
            (None, None) => {
                out.users.push(ImportWrite::InsertUser(theirs.clone()));
                out.record(&s.name, kind::USER, "", &user_fields(&theirs));
                report.tally(kind::USER).new += 1;
                present.insert(&s.name);
            }
            (None, Some(_)) => {
                report.tally(kind::USER).skipped += 1;
                report.problem(
                    "users that exist at mxauth already and were not imported: left alone, with their Synapse rows",
                    &s.name,
                );
            }
            (Some(base), None) => {
                // Never deleted by mxauth; only if someone removed the row.
                report.tally(kind::USER).skipped += 1;
                report.problem(
                    "imported users since deleted at mxauth: not brought back",
                    &s.name,
                );
                let _ = base;
            }
            (Some(base), Some(ours)) => {
                present.insert(&s.name);
                let mut mine = user_fields(ours);
                let mut theirs_fields = user_fields(&theirs);
                let mut changed = merge_fields(
                    base,
                    &theirs_fields,
                    &mut mine,
                    &["password_hash", "credentials_version"],
                );
                let base_hash = base.get("password_hash").unwrap_or(&Value::Null);
                let base_version = base.get("credentials_version").and_then(Value::as_i64);
                let new_password = theirs_fields["password_hash"] != *base_hash
                    && base_version == Some(ours.credentials_version);
                if new_password {
                    mine["credentials_version"] = json!(ours.credentials_version + 1);
                    changed = true;
                }
                // The record: Synapse's values now, with the version mxauth
                // will hold for the password it had from Synapse.
                theirs_fields["credentials_version"] = mine["credentials_version"].clone();
                if changed {
                    let mut updated = (*ours).clone();
                    set_user_fields(&mut updated, &mine);
                    if new_password {
                        updated.password_hash = theirs.password_hash.clone();
                    }
                    out.users.push(ImportWrite::UpdateUser(updated));
                    report.tally(kind::USER).changed += 1;
                } else {
                    report.tally(kind::USER).unchanged += 1;
                }
                if theirs_fields != *base {
                    out.record(&s.name, kind::USER, "", &theirs_fields);
                }
            }
        }
    }

    let b = Batch {
        ctx,
        rows,
        local,
        records,
        present,
    };
    plan_devices(&b, &mut out, &mut report);
    let live_devices = devices_after(&b);
    let refresh_live = plan_refresh_tokens(&b, &live_devices, &mut out, &mut report);
    let access_live = plan_access_tokens(&b, &live_devices, &refresh_live, &mut out, &mut report);
    plan_threepids(&b, &mut out, &mut report);
    plan_external_ids(&b, &mut out, &mut report);
    plan_ratelimit_overrides(&b, &mut out, &mut report);
    let present = b.present;

    for m in &rows.monthly_active {
        if present.contains(m.user_id.as_str()) {
            out.rest.push(ImportWrite::MonthlyActive {
                user_id: m.user_id.clone(),
                ts: m.timestamp,
            });
            report.monthly_active_users += 1;
        }
    }
    for ip in &rows.user_ips {
        let hash = hash_token(&ip.access_token);
        if present.contains(ip.user_id.as_str()) && access_live.contains(&hash) {
            out.rest.push(ImportWrite::ClientIp {
                user_id: ip.user_id.clone(),
                token_hash: hash,
                ip: ip.ip.clone(),
                user_agent: ip.user_agent.clone(),
                device_id: ip.device_id.clone(),
                last_seen_ts: ip.last_seen,
            });
            report.client_ips += 1;
        }
    }
    Plan {
        writes: out.into_writes(),
        report,
    }
}

/// The report as the summary prints it.
pub fn summary_lines(report: &Report, dry_run: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let verb = if dry_run { "would be " } else { "" };
    for (kind, t) in &report.tallies {
        lines.push(format!(
            "{kind}s: {} new, {} changed, {} unchanged, {} deleted, {} skipped{}",
            t.new,
            t.changed,
            t.unchanged,
            t.deleted,
            t.skipped,
            if dry_run {
                " (dry run: nothing written)"
            } else {
                ""
            },
        ));
    }
    lines.push(format!(
        "monthly active users {verb}carried over: {}; client IP sightings: {}",
        report.monthly_active_users, report.client_ips
    ));
    if report.pending_uses_given_back > 0 {
        lines.push(format!(
            "registration tokens: {} use(s) pending at Synapse (registrations in flight there) {verb}given back",
            report.pending_uses_given_back
        ));
    }
    for (what, (n, examples)) in &report.problems {
        let examples: Vec<&str> = examples
            .iter()
            .map(String::as_str)
            .filter(|e| !e.is_empty())
            .collect();
        lines.push(match (*n, examples.is_empty()) {
            (1, true) => format!("problem: {what}"),
            (n, true) => format!("problem: {what}: {n}"),
            (n, false) => format!("problem: {what}: {n} (e.g. {})", examples.join(", ")),
        });
    }
    lines
}

#[cfg(test)]
mod tests;
