//! `mxauth import-synapse`: moves a Synapse's accounts, passwords, devices,
//! logged-in sessions, 3PIDs, SSO links, registration tokens and usage onto
//! mxauth's database. The checks before anything is read, the batches, the
//! progress and the summary are here; what a row becomes is
//! `auth/import_synapse.rs`.

use crate::auth::import_synapse::{
    self, kind, local_query, plan_puppet_tokens, plan_registration_tokens, plan_users,
    summary_lines, ImportContext, Report,
};
use crate::clock::Timestamp;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, SynapseSourceConfig};
use crate::store::synapse_source::{SynapseSource, SUPPORTED_SCHEMA};
use crate::store::{ImportWrite, LocalQuery};
use anyhow::{bail, Context};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

/// How the command was asked to run.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Read and plan everything, write nothing.
    pub dry_run: bool,
    /// A first pass while Synapse still serves logins (run again after the
    /// switch).
    pub while_synapse_runs: bool,
    /// The admin says Synapse is stopped: do not look.
    pub synapse_stopped: bool,
    /// Users per batch (one transaction each).
    pub batch_size: i64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dry_run: false,
            while_synapse_runs: false,
            synapse_stopped: false,
            batch_size: 500,
        }
    }
}

/// Runs the import; prints progress to standard error and returns the
/// report (the caller prints the summary).
pub async fn import_synapse(
    config: Config,
    synapse_config: &Path,
    options: &ImportOptions,
) -> anyhow::Result<Report> {
    let synapse = SynapseSourceConfig::load(synapse_config)?;
    if synapse.server_name != config.server_name.as_str() {
        bail!(
            "the server names differ: Synapse's config says `{}`, mxauth's `{}`. A user ID \
             names its server, so accounts can only move to a server of the same name",
            synapse.server_name,
            config.server_name
        );
    }
    if synapse.pepper != config.password_config.pepper {
        bail!(
            "password_config.pepper differs between Synapse's config and mxauth's: Synapse's \
             password hashes verify only with Synapse's pepper; give mxauth the same one"
        );
    }
    let source = SynapseSource::connect(&synapse.database.url())
        .await
        .context("cannot open Synapse's database (read-only)")?;
    match source.schema_version().await? {
        None => bail!("Synapse's database has no schema_version table: is it a Synapse database?"),
        Some(v) if !SUPPORTED_SCHEMA.contains(&v) => bail!(
            "Synapse's database is at schema version {v}; this mxauth reads versions {} to {} \
             (Synapse 1.163 is at {}). {}",
            SUPPORTED_SCHEMA.start(),
            SUPPORTED_SCHEMA.end(),
            SUPPORTED_SCHEMA.end(),
            if v < *SUPPORTED_SCHEMA.start() {
                "Upgrade Synapse first."
            } else {
                "A newer mxauth may know it."
            }
        ),
        Some(_) => {}
    }
    if !options.synapse_stopped {
        check_not_serving(&synapse, &source, options.while_synapse_runs).await?;
    }

    let mut report = Report::default();
    if synapse.macaroon_secret_key != config.macaroon_secret_key {
        report_problem(
            &mut report,
            match synapse.macaroon_secret_key {
                Some(_) => "macaroon_secret_key differs from Synapse's (or its fallback, registration_shared_secret): the guest tokens Synapse minted will not work at mxauth; give mxauth Synapse's",
                None => "Synapse's config has no macaroon_secret_key (nor registration_shared_secret): Synapse derived one from its signing key, so the guest tokens it minted will not work at mxauth",
            },
        );
    }

    let store = crate::store::connect(&config.database.url(), 2).await?;
    let clock = SystemClock;
    let ctx = ImportContext {
        server_name: config.server_name.to_string(),
        now: clock.now_ms(),
        access_token_lifetime_ms: config
            .sessions
            .refreshable_access_token_lifetime_ms
            .map(|ms| ms as i64),
        refresh_token_lifetime_ms: config
            .sessions
            .refresh_token_lifetime_ms
            .map(|ms| ms as i64),
        known_auth_providers: config
            .oidc_providers
            .iter()
            .map(|p| p.idp_id.clone())
            .collect(),
        known_appservices: config.app_services.iter().map(|a| a.id.clone()).collect(),
    };
    let ips_since = config
        .usage
        .user_ips_max_age_ms
        .map_or(0, |age| ctx.now - age as i64);

    let total = source.count_users().await?;
    let mut progress = Progress::new(total as u64, options.dry_run);
    let mut would_exist: Vec<String> = Vec::new();
    let mut after = String::new();
    loop {
        let users = source.users_after(&after, options.batch_size).await?;
        let Some(last) = users.last() else { break };
        after = last.name.clone();
        let names: Vec<String> = users.iter().map(|u| u.name.clone()).collect();
        let rows = source.rows_of(&names, ips_since).await?;
        let mut tx = store.begin().await?;
        let imported = tx.synapse_import().imported_rows(&names).await?;
        let mut local = tx
            .synapse_import()
            .local_rows(&local_query(&users, &rows, &imported))
            .await?;
        local.imported = imported;
        let plan = plan_users(&ctx, &users, &rows, &local);
        if options.dry_run {
            would_exist.extend(plan.writes.iter().filter_map(|w| match w {
                ImportWrite::InsertUser(u) => Some(u.user_id.clone()),
                _ => None,
            }));
        } else {
            tx.synapse_import().apply(&plan.writes).await?;
            tx.commit().await?;
        }
        report.absorb(plan.report);
        progress.advance(users.len() as u64);
    }
    progress.finish();

    // Registration tokens, then the puppet tokens (once every user is in).
    let theirs = source.registration_tokens().await?;
    let mut tx = store.begin().await?;
    let (ours, imported) = tx.synapse_import().local_registration_tokens().await?;
    let plan = plan_registration_tokens(&theirs, &ours, &imported);
    apply(&mut tx, &plan.writes, options.dry_run).await?;
    tx.commit().await?;
    report.absorb(plan.report);

    let puppets = source.puppet_tokens().await?;
    let mut tx = store.begin().await?;
    let imported = tx
        .synapse_import()
        .imported_of_kind(kind::PUPPET_TOKEN)
        .await?;
    let mut users: Vec<String> = puppets
        .iter()
        .flat_map(|t| {
            [
                t.user_id.clone(),
                t.puppets_user_id.clone().unwrap_or_default(),
            ]
        })
        .collect();
    users.sort();
    users.dedup();
    let mut local = tx
        .synapse_import()
        .local_rows(&LocalQuery {
            users: users.clone(),
            token_hashes: puppets
                .iter()
                .map(|t| crate::auth::tokens::hash_token(&t.token))
                .chain(imported.iter().filter_map(|r| {
                    let v: serde_json::Value = serde_json::from_str(&r.imported).ok()?;
                    hex::decode(v.get("hash")?.as_str()?).ok()
                }))
                .collect(),
            ..LocalQuery::default()
        })
        .await?;
    if options.dry_run {
        for name in users.iter().filter(|u| would_exist.contains(u)) {
            local.users.push(crate::store::User {
                user_id: name.clone(),
                ..placeholder_user()
            });
        }
    }
    let plan = plan_puppet_tokens(&ctx, &puppets, &local, &imported);
    apply(&mut tx, &plan.writes, options.dry_run).await?;
    tx.commit().await?;
    report.absorb(plan.report);

    source.close().await;
    Ok(report)
}

/// The summary to print at the end.
pub fn summary(report: &Report, dry_run: bool) -> Vec<String> {
    summary_lines(report, dry_run)
}

async fn apply(
    tx: &mut Box<dyn crate::store::Transaction>,
    writes: &[ImportWrite],
    dry_run: bool,
) -> anyhow::Result<()> {
    if !dry_run {
        tx.synapse_import().apply(writes).await?;
    }
    Ok(())
}

fn report_problem(report: &mut Report, what: &str) {
    report.problems.insert(what.to_owned(), (1, Vec::new()));
}

fn placeholder_user() -> crate::store::User {
    import_synapse::user_from_synapse(&Default::default())
}

/// Refuses to go on while Synapse serves logins itself, unless told this
/// is a first pass. How it tells: Synapse's config does not delegate auth,
/// and its client listener answers `GET /_matrix/client/v3/login` (a
/// delegating Synapse does not serve it); on PostgreSQL, other sessions on
/// its database also mean it is running.
async fn check_not_serving(
    synapse: &SynapseSourceConfig,
    source: &SynapseSource,
    while_synapse_runs: bool,
) -> anyhow::Result<()> {
    if synapse.delegates_auth {
        return Ok(());
    }
    let mut evidence = Vec::new();
    let client = crate::adapters::http::ClientOptions::new()
        .timeout(Duration::from_secs(3))
        .build()?;
    for base in &synapse.client_urls {
        let url = format!("{base}/_matrix/client/v3/login");
        if let Ok(response) = client.get(&url).send().await {
            if response.status().is_success() {
                evidence.push(format!("its client listener answers logins at {url}"));
            }
        }
    }
    if let Some(n) = source.other_sessions().await? {
        if n > 0 {
            evidence.push(format!(
                "{n} other session(s) are connected to its PostgreSQL database"
            ));
        }
    }
    if evidence.is_empty() || while_synapse_runs {
        return Ok(());
    }
    bail!(
        "Synapse seems to be running and to serve logins itself ({}), and its config does not \
         delegate auth (matrix_authentication_service). Whatever happens there after this import \
         would be missing at mxauth. Either pass --while-synapse-runs for a first pass (then run \
         the import again once Synapse delegates to mxauth), or, if Synapse is stopped and \
         this is wrong, pass --synapse-stopped",
        evidence.join("; ")
    )
}

/// Progress on standard error: a bar with counts and rate on a terminal,
/// a line every few seconds otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    done: u64,
    clock: SystemClock,
    started_ms: Timestamp,
    last_line_ms: Timestamp,
}

impl Progress {
    fn new(total: u64, dry_run: bool) -> Progress {
        let verb = if dry_run {
            "reading (dry run)"
        } else {
            "importing"
        };
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} users, {per_sec}, {eta} left",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(verb);
            bar
        });
        if bar.is_none() {
            eprintln!("{verb} {total} users");
        }
        Progress {
            bar,
            total,
            done: 0,
            clock: SystemClock,
            started_ms: SystemClock.now_ms(),
            last_line_ms: SystemClock.now_ms(),
        }
    }

    fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed_s().max(0.001)
    }

    fn elapsed_s(&self) -> f64 {
        (self.clock.now_ms() - self.started_ms) as f64 / 1000.0
    }

    fn advance(&mut self, n: u64) {
        self.done += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None if self.clock.now_ms() - self.last_line_ms >= 5000 => {
                self.last_line_ms = self.clock.now_ms();
                eprintln!(
                    "{}/{} users, {:.0} users/s",
                    self.done,
                    self.total,
                    self.rate()
                );
            }
            None => {}
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
        eprintln!(
            "{} users in {:.1} s ({:.0} users/s)",
            self.done,
            self.elapsed_s(),
            self.rate()
        );
    }
}
