//! The import's rules on rows made here: what a first run writes, and what
//! a re-run does with changes on either side.

use super::*;
use crate::store::synapse_source::{SynapseDevice, SynapseRefreshToken, SynapseThreepid};

const NOW: Timestamp = 1_700_000_000_000;
/// A token of Synapse's shape (`syt_`, base64 localpart, CRC) for `bob`.
fn token(n: u32) -> String {
    crate::auth::tokens::generate(
        crate::auth::tokens::ACCESS_TOKEN_PREFIX,
        "bob",
        &crate::clock::SeededRandom::new(n as u64),
    )
    .expose()
    .to_owned()
}

fn ctx() -> ImportContext {
    ImportContext {
        server_name: "example.org".into(),
        now: NOW,
        access_token_lifetime_ms: Some(300_000),
        refresh_token_lifetime_ms: None,
        known_auth_providers: HashSet::new(),
        known_appservices: HashSet::new(),
    }
}

fn bob() -> SynapseUser {
    SynapseUser {
        name: "@bob:example.org".into(),
        password_hash: Some(
            "$2b$12$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012".into(),
        ),
        creation_ts: Some(1_600_000_000),
        displayname: Some("Bob".into()),
        ..SynapseUser::default()
    }
}

fn device(id: &str, name: &str) -> SynapseDevice {
    SynapseDevice {
        user_id: "@bob:example.org".into(),
        device_id: id.into(),
        display_name: Some(name.into()),
        last_seen: Some(NOW - 10),
        ip: Some("10.0.0.1".into()),
        user_agent: Some("Element".into()),
    }
}

fn access(id: i64, token: &str, device: &str) -> SynapseAccessToken {
    SynapseAccessToken {
        id,
        user_id: "@bob:example.org".into(),
        device_id: Some(device.into()),
        token: token.into(),
        valid_until_ms: None,
        puppets_user_id: None,
        refresh_token_id: None,
        used: 0,
    }
}

/// mxauth's side as a list of rows, changed by a plan's writes as the
/// store would change it (for the writes these tests make).
fn apply(local: &mut LocalRows, writes: &[ImportWrite]) {
    for w in writes {
        match w {
            ImportWrite::InsertUser(u) => local.users.push(u.clone()),
            ImportWrite::UpdateUser(u) => {
                *local
                    .users
                    .iter_mut()
                    .find(|o| o.user_id == u.user_id)
                    .unwrap() = u.clone()
            }
            ImportWrite::InsertDevice(d) => local.devices.push(d.clone()),
            ImportWrite::UpdateDevice(d) => {
                *local
                    .devices
                    .iter_mut()
                    .find(|o| o.device_id == d.device_id)
                    .unwrap() = d.clone()
            }
            ImportWrite::DeleteDevice { device_id, .. } => {
                local.devices.retain(|d| &d.device_id != device_id)
            }
            ImportWrite::InsertAccessToken {
                token_hash,
                user_id,
                first_used_ts,
                ..
            } => local.access_tokens.push(crate::store::ImportAccessToken {
                token_hash: token_hash.clone(),
                user_id: user_id.clone(),
                first_used_ts: *first_used_ts,
            }),
            ImportWrite::DeleteAccessToken { token_hash } => {
                local.access_tokens.retain(|t| &t.token_hash != token_hash)
            }
            ImportWrite::InsertRefreshToken {
                token_hash,
                user_id,
                ..
            } => local.refresh_tokens.push(crate::store::ImportRefreshToken {
                token_hash: token_hash.clone(),
                user_id: user_id.clone(),
                next_hash: None,
            }),
            ImportWrite::LinkRefreshToken {
                token_hash,
                next_hash,
            } => {
                local
                    .refresh_tokens
                    .iter_mut()
                    .find(|t| &t.token_hash == token_hash)
                    .unwrap()
                    .next_hash = next_hash.clone()
            }
            ImportWrite::InsertThreepid(t) => local.threepids.push(t.clone()),
            ImportWrite::Record(r) => {
                local.imported.retain(|o| {
                    (&o.user_id, &o.kind, &o.row_key) != (&r.user_id, &r.kind, &r.row_key)
                });
                local.imported.push(r.clone());
            }
            ImportWrite::Forget {
                user_id,
                kind,
                row_key,
            } => local
                .imported
                .retain(|o| (&o.user_id, &o.kind, &o.row_key) != (user_id, kind, row_key)),
            ImportWrite::MonthlyActive { .. } | ImportWrite::ClientIp { .. } => {}
            other => panic!("not modelled here: {other:?}"),
        }
    }
}

/// Plans a run over `local` and applies it there.
fn run(local: &mut LocalRows, users: &[SynapseUser], synapse: &SynapseUserRows) -> Plan {
    let plan = plan_users(&ctx(), users, synapse, local);
    apply(local, &plan.writes);
    plan
}

fn rows(devices: Vec<SynapseDevice>, tokens: Vec<SynapseAccessToken>) -> SynapseUserRows {
    SynapseUserRows {
        devices,
        access_tokens: tokens,
        ..SynapseUserRows::default()
    }
}

#[test]
fn a_first_run_creates_the_user_with_its_sessions_and_stores_no_raw_token() {
    let t = token(1);
    let plan = plan_users(
        &ctx(),
        &[bob()],
        &rows(vec![device("PHONE", "Phone")], vec![access(7, &t, "PHONE")]),
        &LocalRows::default(),
    );
    let user = plan
        .writes
        .iter()
        .find_map(|w| match w {
            ImportWrite::InsertUser(u) => Some(u),
            _ => None,
        })
        .expect("the user is created");
    // Seconds at Synapse, milliseconds at mxauth.
    assert_eq!(user.created_ts, 1_600_000_000_000);
    assert_eq!(user.displayname.as_deref(), Some("Bob"));
    assert!(plan.writes.iter().any(|w| matches!(w,
        ImportWrite::InsertAccessToken { token_hash, device_id: Some(d), .. }
            if *token_hash == hash_token(&t) && d == "PHONE")));
    assert!(
        !format!("{:?}", plan.writes).contains(&t),
        "a raw token in the writes"
    );
    assert_eq!(plan.report.tallies[kind::USER].new, 1);
    assert_eq!(plan.report.tallies[kind::DEVICE].new, 1);
    assert_eq!(plan.report.tallies[kind::ACCESS_TOKEN].new, 1);
}

#[test]
fn a_second_run_over_the_same_rows_changes_nothing() {
    let t = token(1);
    let synapse = rows(vec![device("PHONE", "Phone")], vec![access(7, &t, "PHONE")]);
    let mut local = LocalRows::default();
    run(&mut local, &[bob()], &synapse);
    let again = plan_users(&ctx(), &[bob()], &synapse, &local);
    assert!(
        again.writes.iter().all(|w| matches!(
            w,
            ImportWrite::MonthlyActive { .. } | ImportWrite::ClientIp { .. }
        )),
        "{:?}",
        again.writes
    );
    assert!(!again.report.changes_anything());
    assert_eq!(again.report.tallies[kind::USER].unchanged, 1);
}

#[test]
fn a_password_changed_at_synapse_is_taken_unless_mxauth_changed_it_since() {
    let mut local = LocalRows::default();
    run(&mut local, &[bob()], &SynapseUserRows::default());
    // A rehash to argon2id at mxauth is no change of password.
    local.users[0].password_hash = Some("$argon2id$v=19$rehashed".into());
    let mut changed = bob();
    changed.password_hash = Some("$2b$12$new-hash-at-synapse".into());
    let plan = plan_users(
        &ctx(),
        &[changed.clone()],
        &SynapseUserRows::default(),
        &local,
    );
    apply(&mut local, &plan.writes);
    assert_eq!(
        local.users[0].password_hash.as_deref(),
        Some("$2b$12$new-hash-at-synapse")
    );
    assert_eq!(local.users[0].credentials_version, 1);

    // Now the user changes it at mxauth; then Synapse's changes again.
    local.users[0].password_hash = Some("$argon2id$set-at-mxauth".into());
    local.users[0].credentials_version = 2;
    changed.password_hash = Some("$2b$12$third-hash-at-synapse".into());
    changed.displayname = Some("Robert".into());
    let plan = plan_users(&ctx(), &[changed], &SynapseUserRows::default(), &local);
    apply(&mut local, &plan.writes);
    assert_eq!(
        local.users[0].password_hash.as_deref(),
        Some("$argon2id$set-at-mxauth")
    );
    // Other fields still follow Synapse.
    assert_eq!(local.users[0].displayname.as_deref(), Some("Robert"));
}

#[test]
fn a_device_renamed_at_mxauth_keeps_its_name_and_one_renamed_at_synapse_follows() {
    let synapse = rows(vec![device("A", "Phone"), device("B", "Laptop")], vec![]);
    let mut local = LocalRows::default();
    run(&mut local, &[bob()], &synapse);
    local
        .devices
        .iter_mut()
        .find(|d| d.device_id == "A")
        .unwrap()
        .display_name = Some("Mine".into());
    let renamed = rows(
        vec![device("A", "Phone 2"), device("B", "Laptop 2")],
        vec![],
    );
    run(&mut local, &[bob()], &renamed);
    let name = |id: &str| {
        local
            .devices
            .iter()
            .find(|d| d.device_id == id)
            .unwrap()
            .display_name
            .clone()
    };
    assert_eq!(name("A").as_deref(), Some("Mine"));
    assert_eq!(name("B").as_deref(), Some("Laptop 2"));
}

#[test]
fn a_logout_at_synapse_is_carried_over_and_one_at_mxauth_is_not_undone() {
    let (t1, t2) = (token(1), token(2));
    let synapse = rows(
        vec![device("A", "Phone"), device("B", "Laptop")],
        vec![access(1, &t1, "A"), access(2, &t2, "B")],
    );
    let mut local = LocalRows::default();
    run(&mut local, &[bob()], &synapse);
    // Logged out at mxauth: device B and its token go.
    local.devices.retain(|d| d.device_id != "B");
    local
        .access_tokens
        .retain(|t| t.token_hash != hash_token(&t2));
    // Logged out at Synapse: device A and its token go there.
    let after = rows(vec![device("B", "Laptop")], vec![access(2, &t2, "B")]);
    let plan = plan_users(&ctx(), &[bob()], &after, &local);
    apply(&mut local, &plan.writes);
    assert!(local.devices.is_empty(), "{:?}", local.devices);
    assert!(local.access_tokens.is_empty(), "{:?}", local.access_tokens);
    assert_eq!(plan.report.tallies[kind::ACCESS_TOKEN].deleted, 1);
    assert_eq!(plan.report.tallies[kind::ACCESS_TOKEN].skipped, 1);
}

#[test]
fn a_refresh_at_synapse_links_the_chain() {
    let refresh = |id: i64, n: u32, next: Option<i64>| SynapseRefreshToken {
        id,
        user_id: "@bob:example.org".into(),
        device_id: "A".into(),
        token: crate::auth::tokens::generate(
            crate::auth::tokens::REFRESH_TOKEN_PREFIX,
            "bob",
            &crate::clock::SeededRandom::new(n as u64),
        )
        .expose()
        .to_owned(),
        next_token_id: next,
        expiry_ts: None,
        ultimate_session_expiry_ts: None,
    };
    let mut synapse = rows(vec![device("A", "Phone")], vec![]);
    synapse.refresh_tokens = vec![refresh(1, 1, None)];
    let mut local = LocalRows::default();
    run(&mut local, &[bob()], &synapse);
    synapse.refresh_tokens = vec![refresh(1, 1, Some(2)), refresh(2, 2, None)];
    run(&mut local, &[bob()], &synapse);
    let first = &local.refresh_tokens[0];
    assert_eq!(
        first.next_hash.as_deref(),
        Some(local.refresh_tokens[1].token_hash.as_slice())
    );
}

#[test]
fn users_of_another_server_and_unverifiable_hashes_are_reported() {
    let mut other = bob();
    other.name = "@bob:elsewhere.org".into();
    let mut md5 = bob();
    md5.name = "@old:example.org".into();
    md5.password_hash = Some("5f4dcc3b5aa765d61d8327deb882cf99".into());
    let plan = plan_users(
        &ctx(),
        &[other, md5],
        &SynapseUserRows::default(),
        &LocalRows::default(),
    );
    assert_eq!(plan.report.tallies[kind::USER].skipped, 1);
    assert_eq!(plan.report.tallies[kind::USER].new, 1);
    let problems: Vec<&String> = plan.report.problems.keys().collect();
    assert!(
        problems.iter().any(|p| p.contains("another server")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("cannot verify")),
        "{problems:?}"
    );
}

#[test]
fn a_3pid_bound_to_another_user_at_mxauth_is_left_with_them() {
    let synapse = SynapseUserRows {
        threepids: vec![SynapseThreepid {
            user_id: "@bob:example.org".into(),
            medium: "email".into(),
            address: "bob@example.org".into(),
            validated_at: 1,
            added_at: 1,
        }],
        ..SynapseUserRows::default()
    };
    let local = LocalRows {
        threepids: vec![crate::store::UserThreepid {
            user_id: "@carol:example.org".into(),
            medium: "email".into(),
            address: "bob@example.org".into(),
            validated_ts: 5,
            added_ts: 5,
        }],
        ..LocalRows::default()
    };
    let plan = plan_users(&ctx(), &[bob()], &synapse, &local);
    assert!(!plan
        .writes
        .iter()
        .any(|w| matches!(w, ImportWrite::InsertThreepid(_))));
    assert_eq!(plan.report.tallies[kind::THREEPID].skipped, 1);
}

#[test]
fn registration_tokens_keep_their_uses_and_give_pending_ones_back() {
    let synapse = |completed: i64, pending: i64| {
        vec![SynapseRegistrationToken {
            token: "abc".into(),
            uses_allowed: Some(5),
            pending,
            completed,
            expiry_time: None,
        }]
    };
    let plan = plan_registration_tokens(&synapse(1, 2), &[], &[]);
    assert_eq!(plan.report.pending_uses_given_back, 2);
    let created = plan
        .writes
        .iter()
        .find_map(|w| match w {
            ImportWrite::SetRegistrationToken(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((created.completed, created.pending), (1, 0));
    let records: Vec<ImportedRow> = plan
        .writes
        .iter()
        .filter_map(|w| match w {
            ImportWrite::Record(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    // One more use at mxauth, two more at Synapse: three more in all.
    let ours = RegistrationToken {
        completed: 2,
        ..created
    };
    let plan = plan_registration_tokens(&synapse(3, 0), &[ours], &records);
    assert!(
        plan.writes.iter().any(|w| matches!(w,
        ImportWrite::SetRegistrationToken(t) if t.completed == 4)),
        "{:?}",
        plan.writes
    );
}
