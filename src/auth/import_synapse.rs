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
/// creation time, set once).
fn user_fields(u: &User) -> Value {
    json!({
        "password_hash": u.password_hash,
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

fn set_user_fields(u: &mut User, f: &Value) {
    let s = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
    let b = |k: &str| f.get(k).and_then(Value::as_bool).unwrap_or(false);
    u.password_hash = s("password_hash");
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
        threepid_addresses: rows.threepids.iter().map(|t| t.address.clone()).collect(),
        external_ids: rows
            .external_ids
            .iter()
            .map(|e| e.external_id.clone())
            .collect(),
    }
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
                if theirs_fields["password_hash"] != *base_hash
                    && base_version == Some(ours.credentials_version)
                {
                    mine["password_hash"] = theirs_fields["password_hash"].clone();
                    mine["credentials_version"] = json!(ours.credentials_version + 1);
                    changed = true;
                }
                // The record: Synapse's values now, with the version mxauth
                // will hold for the password it had from Synapse.
                theirs_fields["credentials_version"] = mine["credentials_version"].clone();
                if changed {
                    let mut updated = (*ours).clone();
                    set_user_fields(&mut updated, &mine);
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

    plan_devices(ctx, rows, local, &records, &present, &mut out, &mut report);
    let live_devices = devices_after(rows, local, &records, &present);
    let refresh_live = plan_refresh_tokens(
        ctx,
        rows,
        local,
        &records,
        &present,
        &live_devices,
        &mut out,
        &mut report,
    );
    let access_live = plan_access_tokens(
        ctx,
        rows,
        local,
        &records,
        &present,
        &live_devices,
        &refresh_live,
        &mut out,
        &mut report,
    );
    plan_threepids(ctx, rows, local, &records, &present, &mut out, &mut report);
    plan_external_ids(ctx, rows, local, &records, &present, &mut out, &mut report);
    plan_ratelimit_overrides(rows, local, &records, &present, &mut out, &mut report);

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

fn device_fields(d: &ImportDevice) -> Value {
    json!({ "display_name": d.display_name })
}

/// The devices of these users mxauth will hold after the batch: (user, device).
fn devices_after(
    rows: &SynapseUserRows,
    local: &LocalRows,
    records: &HashMap<(&str, &str, &str), Value>,
    present: &HashSet<&str>,
) -> HashSet<(String, String)> {
    let mut live: HashSet<(String, String)> = local
        .devices
        .iter()
        .map(|d| (d.user_id.clone(), d.device_id.clone()))
        .collect();
    for d in &rows.devices {
        let key = (d.user_id.clone(), d.device_id.clone());
        if present.contains(d.user_id.as_str())
            && !records.contains_key(&(d.user_id.as_str(), kind::DEVICE, d.device_id.as_str()))
        {
            live.insert(key);
        }
    }
    // Those gone from Synapse go.
    let at_synapse: HashSet<(&str, &str)> = rows
        .devices
        .iter()
        .map(|d| (d.user_id.as_str(), d.device_id.as_str()))
        .collect();
    live.retain(|(u, d)| {
        !records.contains_key(&(u.as_str(), kind::DEVICE, d.as_str()))
            || at_synapse.contains(&(u.as_str(), d.as_str()))
    });
    live
}

fn plan_devices(
    _ctx: &ImportContext,
    rows: &SynapseUserRows,
    local: &LocalRows,
    records: &HashMap<(&str, &str, &str), Value>,
    present: &HashSet<&str>,
    out: &mut Phased,
    report: &mut Report,
) {
    let ours: HashMap<(&str, &str), &ImportDevice> = local
        .devices
        .iter()
        .map(|d| ((d.user_id.as_str(), d.device_id.as_str()), d))
        .collect();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for s in &rows.devices {
        if !present.contains(s.user_id.as_str()) {
            continue;
        }
        seen.insert((&s.user_id, &s.device_id));
        let theirs = ImportDevice {
            user_id: s.user_id.clone(),
            device_id: s.device_id.clone(),
            display_name: s.display_name.clone(),
            last_seen_ts: s.last_seen,
            last_seen_ip: s.ip.clone(),
            last_seen_user_agent: s.user_agent.clone(),
        };
        let fields = device_fields(&theirs);
        let base = records.get(&(s.user_id.as_str(), kind::DEVICE, s.device_id.as_str()));
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
    for r in local.imported.iter().filter(|r| r.kind == kind::DEVICE) {
        if !present.contains(r.user_id.as_str())
            || seen.contains(&(r.user_id.as_str(), r.row_key.as_str()))
        {
            continue;
        }
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
#[allow(clippy::too_many_arguments)]
fn plan_refresh_tokens(
    ctx: &ImportContext,
    rows: &SynapseUserRows,
    local: &LocalRows,
    records: &HashMap<(&str, &str, &str), Value>,
    present: &HashSet<&str>,
    live_devices: &HashSet<(String, String)>,
    out: &mut Phased,
    report: &mut Report,
) -> HashSet<Vec<u8>> {
    let ours: HashMap<&[u8], &crate::store::ImportRefreshToken> = local
        .refresh_tokens
        .iter()
        .map(|t| (t.token_hash.as_slice(), t))
        .collect();
    let hash_of_id: HashMap<i64, String> = rows
        .refresh_tokens
        .iter()
        .map(|t| (t.id, hash_hex(&t.token)))
        .collect();
    let mut live: HashSet<Vec<u8>> = local
        .refresh_tokens
        .iter()
        .map(|t| t.token_hash.clone())
        .collect();
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    for s in &rows.refresh_tokens {
        if !present.contains(s.user_id.as_str()) {
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
        let base = records.get(&(s.user_id.as_str(), kind::REFRESH_TOKEN, key.as_str()));
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
                    created_ts: ctx.now,
                    expires_ts: s.expiry_ts,
                    session_until_ts: s.ultimate_session_expiry_ts,
                    access_token_lifetime_ms: ctx.access_token_lifetime_ms,
                    refresh_token_lifetime_ms: ctx.refresh_token_lifetime_ms,
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
    for r in local
        .imported
        .iter()
        .filter(|r| r.kind == kind::REFRESH_TOKEN)
    {
        if !present.contains(r.user_id.as_str())
            || seen.contains(&(r.user_id.as_str(), r.row_key.clone()))
        {
            continue;
        }
        let hash = records
            .get(&(r.user_id.as_str(), kind::REFRESH_TOKEN, r.row_key.as_str()))
            .and_then(|v| v.get("hash").and_then(Value::as_str).map(unhex))
            .unwrap_or_default();
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
fn access_fields(t: &SynapseAccessToken, refresh_hash: Option<&str>) -> Value {
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
#[allow(clippy::too_many_arguments)]
fn plan_access_tokens(
    ctx: &ImportContext,
    rows: &SynapseUserRows,
    local: &LocalRows,
    records: &HashMap<(&str, &str, &str), Value>,
    present: &HashSet<&str>,
    live_devices: &HashSet<(String, String)>,
    refresh_live: &HashSet<Vec<u8>>,
    out: &mut Phased,
    report: &mut Report,
) -> HashSet<Vec<u8>> {
    let ours: HashMap<&[u8], &crate::store::ImportAccessToken> = local
        .access_tokens
        .iter()
        .map(|t| (t.token_hash.as_slice(), t))
        .collect();
    let refresh_hash_of_id: HashMap<i64, Vec<u8>> = rows
        .refresh_tokens
        .iter()
        .map(|t| (t.id, hash_token(&t.token)))
        .collect();
    let mut live: HashSet<Vec<u8>> = local
        .access_tokens
        .iter()
        .map(|t| t.token_hash.clone())
        .collect();
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    for s in rows
        .access_tokens
        .iter()
        .filter(|t| t.puppets_user_id.is_none())
    {
        if !present.contains(s.user_id.as_str()) {
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
        let base = records.get(&(s.user_id.as_str(), kind::ACCESS_TOKEN, key.as_str()));
        let first_used = (s.used != 0).then_some(ctx.now);
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
                    created_ts: ctx.now,
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
                        ts: ctx.now,
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
    for r in local
        .imported
        .iter()
        .filter(|r| r.kind == kind::ACCESS_TOKEN)
    {
        if !present.contains(r.user_id.as_str())
            || seen.contains(&(r.user_id.as_str(), r.row_key.clone()))
        {
            continue;
        }
        let hash = records
            .get(&(r.user_id.as_str(), kind::ACCESS_TOKEN, r.row_key.as_str()))
            .and_then(|v| v.get("hash").and_then(Value::as_str).map(unhex))
            .unwrap_or_default();
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

fn plan_threepids(
    _ctx: &ImportContext,
    rows: &SynapseUserRows,
    local: &LocalRows,
    records: &HashMap<(&str, &str, &str), Value>,
    present: &HashSet<&str>,
    out: &mut Phased,
    report: &mut Report,
) {
    let ours: HashMap<(&str, &str), &UserThreepid> = local
        .threepids
        .iter()
        .map(|t| ((t.medium.as_str(), t.address.as_str()), t))
        .collect();
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    for s in &rows.threepids {
        if !present.contains(s.user_id.as_str()) {
            continue;
        }
        let key = key2(&s.medium, &s.address);
        seen.insert((&s.user_id, key.clone()));
        let fields = json!({ "validated_at": s.validated_at, "added_at": s.added_at });
        let base = records.get(&(s.user_id.as_str(), kind::THREEPID, key.as_str()));
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
    for r in local.imported.iter().filter(|r| r.kind == kind::THREEPID) {
        if !present.contains(r.user_id.as_str())
            || seen.contains(&(r.user_id.as_str(), r.row_key.clone()))
        {
            continue;
        }
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

fn plan_external_ids(
    ctx: &ImportContext,
    rows: &SynapseUserRows,
    local: &LocalRows,
    records: &HashMap<(&str, &str, &str), Value>,
    present: &HashSet<&str>,
    out: &mut Phased,
    report: &mut Report,
) {
    let ours: HashMap<(&str, &str), &ImportExternalId> = local
        .external_ids
        .iter()
        .map(|e| ((e.auth_provider.as_str(), e.external_id.as_str()), e))
        .collect();
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    for s in &rows.external_ids {
        if !present.contains(s.user_id.as_str()) {
            continue;
        }
        if !ctx.known_auth_providers.contains(&s.auth_provider) {
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
        let base = records.get(&(s.user_id.as_str(), kind::EXTERNAL_ID, key.as_str()));
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
                    created_ts: ctx.now,
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
    for r in local
        .imported
        .iter()
        .filter(|r| r.kind == kind::EXTERNAL_ID)
    {
        if !present.contains(r.user_id.as_str())
            || seen.contains(&(r.user_id.as_str(), r.row_key.clone()))
        {
            continue;
        }
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

fn plan_ratelimit_overrides(
    rows: &SynapseUserRows,
    local: &LocalRows,
    records: &HashMap<(&str, &str, &str), Value>,
    present: &HashSet<&str>,
    out: &mut Phased,
    report: &mut Report,
) {
    let fields_of = |o: &ImportRatelimitOverride| json!({ "messages_per_second": o.messages_per_second, "burst_count": o.burst_count });
    let ours: HashMap<&str, &ImportRatelimitOverride> = local
        .ratelimit_overrides
        .iter()
        .map(|o| (o.user_id.as_str(), o))
        .collect();
    let mut seen: HashSet<&str> = HashSet::new();
    for s in &rows.ratelimit_overrides {
        if !present.contains(s.user_id.as_str()) {
            continue;
        }
        seen.insert(&s.user_id);
        let theirs = ImportRatelimitOverride {
            user_id: s.user_id.clone(),
            messages_per_second: s.messages_per_second,
            burst_count: s.burst_count,
        };
        let fields = fields_of(&theirs);
        let base = records.get(&(s.user_id.as_str(), kind::RATELIMIT_OVERRIDE, ""));
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
    for r in local
        .imported
        .iter()
        .filter(|r| r.kind == kind::RATELIMIT_OVERRIDE)
    {
        if !present.contains(r.user_id.as_str()) || seen.contains(r.user_id.as_str()) {
            continue;
        }
        if ours.contains_key(r.user_id.as_str()) {
            out.delete.push(ImportWrite::DeleteRatelimitOverride {
                user_id: r.user_id.clone(),
            });
            report.tally(kind::RATELIMIT_OVERRIDE).deleted += 1;
        }
        out.forget(&r.user_id, kind::RATELIMIT_OVERRIDE, "");
    }
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
        let hash = records
            .get(&(r.user_id.as_str(), kind::PUPPET_TOKEN, r.row_key.as_str()))
            .and_then(|v| v.get("hash").and_then(Value::as_str).map(unhex))
            .unwrap_or_default();
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
                    &s.token,
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
        if examples.is_empty() {
            lines.push(format!("problem: {what}"));
        } else {
            lines.push(format!(
                "problem: {what}: {n} (e.g. {})",
                examples.join(", ")
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests;
