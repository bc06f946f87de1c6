//! The `mxauth` command: `serve`, `config check`, `register-user`,
//! `manage ...` (accounts, from a shell), `import-synapse`, `rotate-signing-key`.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use mxauth::config::{Config, Loaded};
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "mxauth",
    version,
    about = "The authentication server of a Matrix homeserver"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. Without --config: 127.0.0.1:8008, server_name
    /// `localhost`, SQLite under ./data/.
    Serve {
        /// A YAML file with Synapse's key names (a whole homeserver.yaml works).
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
    },
    /// Work with config files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Create a user (the first admin, say), through the running server's
    /// shared-secret admin API with --url, else straight in the database.
    RegisterUser {
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// Localpart of the new user.
        #[arg(long, short = 'u')]
        user: String,
        /// The password; read from the first line of standard input if absent.
        #[arg(long, short = 'p')]
        password: Option<String>,
        /// Make the user a server admin.
        #[arg(long, short = 'a')]
        admin: bool,
        /// `bot` or `support`.
        #[arg(long, short = 't')]
        user_type: Option<String>,
        /// Base URL of a running mxauth, e.g. http://localhost:8008: use
        /// the shared-secret registration API (needs registration_shared_secret).
        #[arg(long)]
        url: Option<String>,
        /// The shared secret, instead of the config's registration_shared_secret.
        #[arg(
            long,
            env = "MXAUTH_REGISTRATION_SHARED_SECRET",
            hide_env_values = true
        )]
        shared_secret: Option<String>,
    },
    /// Manage accounts on the configured database, without a token: what an
    /// admin does from a shell.
    Manage {
        #[command(subcommand)]
        command: ManageCommand,
    },
    /// Move a Synapse's accounts onto mxauth: users and passwords, devices
    /// and logged-in sessions (access and refresh tokens), 3PIDs, SSO links,
    /// registration tokens, rate-limit overrides, monthly active users and
    /// recent client IPs. Reads Synapse's database (read-only) from its
    /// config; safe to run again (new and changed rows only; a change made
    /// at mxauth is never undone).
    ImportSynapse {
        /// mxauth's config (the database written, the server name, the pepper).
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// Synapse's homeserver.yaml (its `database:` is read).
        #[arg(long)]
        synapse_config: PathBuf,
        /// Read and check everything, report what would be imported, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// A first pass while Synapse still serves logins: run the import
        /// again once Synapse delegates auth to mxauth.
        #[arg(long)]
        while_synapse_runs: bool,
        /// Synapse is stopped: skip the check that it is not serving logins.
        #[arg(long)]
        synapse_stopped: bool,
        /// Users per batch (each batch is one transaction).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        batch_size: i64,
    },
    /// Make a new id_token signing key current (OAuth 2.0 API); the old one
    /// stays published in the JWKS for a day, then is deleted.
    RotateSigningKey {
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
    },
}

/// `--config`, for every `manage` command.
#[derive(clap::Args)]
struct ConfigArg {
    /// The YAML config whose database to change (default: the embedded
    /// one, SQLite under ./data/).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ManageCommand {
    /// Set a user's password (read from standard input without
    /// --password); every session of the user ends unless --keep-sessions.
    SetPassword {
        #[command(flatten)]
        config: ConfigArg,
        /// A localpart or a user ID of this server.
        user: String,
        #[arg(long, short = 'p')]
        password: Option<String>,
        /// Skip the password policy (password_config.policy).
        #[arg(long)]
        ignore_policy: bool,
        /// Leave the user's sessions alone.
        #[arg(long)]
        keep_sessions: bool,
    },
    /// Lock a user: its tokens answer M_USER_LOCKED and it cannot log in
    /// until unlocked; nothing is deleted.
    LockUser {
        #[command(flatten)]
        config: ConfigArg,
        user: String,
    },
    /// Unlock a locked user.
    UnlockUser {
        #[command(flatten)]
        config: ConfigArg,
        user: String,
    },
    /// Deactivate a user for good: sessions, tokens, addresses and the
    /// password go; the user ID stays taken.
    DeactivateUser {
        #[command(flatten)]
        config: ConfigArg,
        user: String,
        /// Ask a delegating homeserver to erase the user's data too.
        #[arg(long)]
        erase: bool,
    },
    /// Make a deactivated user active again, without a password or an
    /// address (set-password gives one).
    ReactivateUser {
        #[command(flatten)]
        config: ConfigArg,
        user: String,
    },
    /// End every session of a user (devices, access and refresh tokens).
    KillSessions {
        #[command(flatten)]
        config: ConfigArg,
        user: String,
    },
    /// Make a user a server admin.
    PromoteAdmin {
        #[command(flatten)]
        config: ConfigArg,
        user: String,
    },
    /// Make a user no longer a server admin.
    DemoteAdmin {
        #[command(flatten)]
        config: ConfigArg,
        user: String,
    },
    /// List the server admins, one user ID per line.
    ListAdmins {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Create a registration token (for registration_requires_token) and
    /// print it.
    IssueRegistrationToken {
        #[command(flatten)]
        config: ConfigArg,
        /// The token itself (default: 16 random characters).
        #[arg(long)]
        token: Option<String>,
        /// How many registrations it allows (default: any number).
        #[arg(long)]
        uses_allowed: Option<u64>,
        /// How long it is valid, e.g. 7d (default: no expiry).
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// Log a user in on a new (or the given) device and print the access
    /// token (a bot's, say), as a password login would make it.
    IssueAccessToken {
        #[command(flatten)]
        config: ConfigArg,
        user: String,
        #[arg(long)]
        device_id: Option<String>,
        /// Needed when the user is a server admin: the token can do anything.
        #[arg(long)]
        allow_admin: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a config file: exits non-zero with the key's path on an error.
    Check { file: PathBuf },
}

/// The config at `path` (the embedded one without), with logging started
/// in the format it asks for.
fn load(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        None => {
            let config = Config::default();
            mxauth::telemetry::init(config.mxauth.log_format);
            Ok(config)
        }
        Some(p) => {
            let Loaded {
                config,
                ignored_keys,
            } = Config::load(p)?;
            mxauth::telemetry::init(config.mxauth.log_format);
            if !ignored_keys.is_empty() {
                tracing::info!(
                    "ignoring Synapse settings that are not about auth: {}",
                    ignored_keys.join(", ")
                );
            }
            Ok(config)
        }
    }
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mxauth: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Logging starts once the config is loaded (`load`): its
    // `mxauth.log_format` says how lines are written.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { config } => serve(load(config.as_deref())?).await,
            Command::Config {
                command: ConfigCommand::Check { file },
            } => {
                mxauth::telemetry::init(mxauth::config::LogFormat::Text);
                let loaded = Config::load(&file)?;
                println!("{}: OK", file.display());
                if !loaded.ignored_keys.is_empty() {
                    println!("ignored (not about auth): {}", loaded.ignored_keys.join(", "));
                }
                Ok(())
            }
            Command::RegisterUser {
                config,
                user,
                password,
                admin,
                user_type,
                url,
                shared_secret,
            } => {
                let config = load(config.as_deref())?;
                let password = match password {
                    Some(p) => p,
                    None => first_line_of_stdin()?,
                };
                if password.is_empty() {
                    bail!("the password is empty");
                }
                let user_id = match url {
                    Some(url) => {
                        let secret = shared_secret
                            .or_else(|| {
                                config
                                    .registration_shared_secret
                                    .as_ref()
                                    .map(|s| s.expose().to_owned())
                            })
                            .context("--url needs a shared secret: registration_shared_secret in the config, or --shared-secret")?;
                        mxauth::cli::register_over_http(&url, &secret, &user, &password, admin, user_type).await?
                    }
                    None => mxauth::cli::register_in_database(config, &user, &password, admin, user_type).await?,
                };
                println!("Created {user_id}{}", if admin { " (admin)" } else { "" });
                Ok(())
            }
            Command::Manage { command } => manage(command).await,
            Command::ImportSynapse {
                config,
                synapse_config,
                dry_run,
                while_synapse_runs,
                synapse_stopped,
                batch_size,
            } => {
                let options = mxauth::cli::import_synapse::ImportOptions {
                    dry_run,
                    while_synapse_runs,
                    synapse_stopped,
                    batch_size,
                };
                let config = load(Some(&config))?;
                let report =
                    mxauth::cli::import_synapse::import_synapse(config, &synapse_config, &options).await?;
                for line in mxauth::cli::import_synapse::summary(&report, dry_run) {
                    println!("{line}");
                }
                Ok(())
            }
            Command::RotateSigningKey { config } => {
                let kid = mxauth::cli::rotate_signing_key(load(config.as_deref())?).await?;
                println!("The id_token signing key is now {kid}");
                Ok(())
            }
        }
    })
}

async fn manage(command: ManageCommand) -> anyhow::Result<()> {
    use mxauth::cli;
    match command {
        ManageCommand::SetPassword {
            config,
            user,
            password,
            ignore_policy,
            keep_sessions,
        } => {
            let password = match password {
                Some(p) => p,
                None => first_line_of_stdin()?,
            };
            if password.is_empty() {
                bail!("the password is empty");
            }
            let config = load(config.config.as_deref())?;
            let user_id =
                cli::set_password(config, &user, &password, ignore_policy, keep_sessions).await?;
            let ended = if keep_sessions {
                ""
            } else {
                "; its sessions ended"
            };
            println!("Set the password of {user_id}{ended}");
        }
        ManageCommand::LockUser { config, user } => {
            let user_id = cli::set_locked(load(config.config.as_deref())?, &user, true).await?;
            println!("Locked {user_id}");
        }
        ManageCommand::UnlockUser { config, user } => {
            let user_id = cli::set_locked(load(config.config.as_deref())?, &user, false).await?;
            println!("Unlocked {user_id}");
        }
        ManageCommand::DeactivateUser {
            config,
            user,
            erase,
        } => {
            let user_id =
                cli::deactivate_user(load(config.config.as_deref())?, &user, erase).await?;
            println!("Deactivated {user_id}");
        }
        ManageCommand::ReactivateUser { config, user } => {
            let user_id = cli::reactivate_user(load(config.config.as_deref())?, &user).await?;
            println!("Reactivated {user_id} (it has no password: set one with set-password)");
        }
        ManageCommand::KillSessions { config, user } => {
            let (user_id, n) = cli::kill_sessions(load(config.config.as_deref())?, &user).await?;
            println!("Ended {n} session(s) of {user_id}");
        }
        ManageCommand::PromoteAdmin { config, user } => {
            let user_id = cli::set_admin(load(config.config.as_deref())?, &user, true).await?;
            println!("{user_id} is a server admin");
        }
        ManageCommand::DemoteAdmin { config, user } => {
            let user_id = cli::set_admin(load(config.config.as_deref())?, &user, false).await?;
            println!("{user_id} is no longer a server admin");
        }
        ManageCommand::ListAdmins { config } => {
            for user_id in cli::list_admins(load(config.config.as_deref())?).await? {
                println!("{user_id}");
            }
        }
        ManageCommand::IssueRegistrationToken {
            config,
            token,
            uses_allowed,
            expires_in,
        } => {
            let token = cli::issue_registration_token(
                load(config.config.as_deref())?,
                token,
                uses_allowed,
                expires_in.as_deref(),
            )
            .await?;
            println!("{token}");
        }
        ManageCommand::IssueAccessToken {
            config,
            user,
            device_id,
            allow_admin,
        } => {
            let (user_id, device, token) = cli::issue_access_token(
                load(config.config.as_deref())?,
                &user,
                device_id,
                allow_admin,
            )
            .await?;
            eprintln!("An access token of {user_id} on device {device}:");
            println!("{token}");
        }
    }
    Ok(())
}

fn first_line_of_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let server = mxauth::server::Server::build(config).await?;
    for addr in server.local_addrs() {
        println!("mxauth listening on http://{addr}");
        tracing::info!(%addr, "listening");
    }
    server
        .run(async {
            shutdown_signal().await;
            tracing::info!("shutting down");
        })
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
