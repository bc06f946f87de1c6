//! What the command-line tools do, kept out of main so tests can call it.

pub mod import_synapse;

use crate::auth::admin::registration_mac;
use crate::auth::user_admin::UserAdminError;
use crate::auth::Auth;
use crate::clock::{OsRandom, SystemClock};
use crate::config::Config;
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::sync::Arc;

/// The rules on the configured database, with the adapters a server would
/// have (so a delegating homeserver hears of what a command changes: its
/// calls are queued, and made at once if it answers).
async fn auth_on_database(config: Config) -> anyhow::Result<Auth> {
    let store = crate::store::connect(&config.database.url(), 2).await?;
    crate::server::with_adapters(Auth::new(
        Arc::new(config),
        store,
        Arc::new(SystemClock),
        Arc::new(OsRandom),
    ))
}

/// Registers a user through a running server's shared-secret admin API,
/// as Synapse's `register_new_matrix_user` does. Returns the user ID.
pub async fn register_over_http(
    base_url: &str,
    shared_secret: &str,
    user: &str,
    password: &str,
    admin: bool,
    user_type: Option<String>,
) -> anyhow::Result<String> {
    let url = format!(
        "{}/_synapse/admin/v1/register",
        base_url.trim_end_matches('/')
    );
    let client = crate::adapters::http::ClientOptions::new()
        .follow_redirects()
        .build()?;
    let nonce: Value = client
        .get(&url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let nonce = nonce["nonce"].as_str().context("no nonce in the answer")?;
    let mac = registration_mac(
        shared_secret,
        nonce,
        user,
        password,
        admin,
        user_type.as_deref(),
    );
    let res = client
        .post(&url)
        .json(&json!({
            "nonce": nonce, "username": user, "password": password,
            "admin": admin, "user_type": user_type, "mac": mac,
        }))
        .send()
        .await?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "the server refused: {status} {}",
            body["error"].as_str().unwrap_or("")
        );
    }
    body["user_id"]
        .as_str()
        .map(str::to_owned)
        .context("no user_id in the answer")
}

/// Creates a user straight in the configured database.
pub async fn register_in_database(
    config: Config,
    user: &str,
    password: &str,
    admin: bool,
    user_type: Option<String>,
) -> anyhow::Result<String> {
    crate::auth::admin::check_user_type(user_type.as_deref())
        .map_err(|_| anyhow::anyhow!("unknown user type (known: bot, support)"))?;
    let auth = auth_on_database(config).await?;
    let hash = auth
        .hash_password(password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Said as the admin API would say it.
    auth.create_user_by_admin(user, Some(hash), admin, user_type, None)
        .await
        .map_err(|e| anyhow::anyhow!("{}", crate::error::Error::from(e)))
}

/// Retires the current id_token signing key and makes a new one current,
/// in the configured database; gives the new key's `kid`. Running servers
/// sign with it from their next id_token.
pub async fn rotate_signing_key(config: Config) -> anyhow::Result<String> {
    anyhow::ensure!(
        config.oauth.is_some(),
        "the OAuth 2.0 API is off (mxauth.oauth, public_baseurl): there is no signing key"
    );
    let auth = auth_on_database(config).await?;
    auth.rotate_signing_key()
        .await
        .map_err(|_| anyhow::anyhow!("could not rotate the signing key (see the log)"))
}

/// The admin's answer for a refused change.
fn refused(e: UserAdminError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// `manage set-password`: the user's ID.
pub async fn set_password(
    config: Config,
    user: &str,
    password: &str,
    ignore_policy: bool,
    keep_sessions: bool,
) -> anyhow::Result<String> {
    let auth = auth_on_database(config).await?;
    let found = auth
        .admin_set_password(user, password, ignore_policy, !keep_sessions)
        .await
        .map_err(refused)?;
    Ok(found.user_id)
}

/// `manage kill-sessions`: the user's ID and how many devices went.
pub async fn kill_sessions(config: Config, user: &str) -> anyhow::Result<(String, usize)> {
    let auth = auth_on_database(config).await?;
    let (found, n) = auth.admin_end_sessions(user).await.map_err(refused)?;
    Ok((found.user_id, n))
}

/// `manage promote-admin` / `demote-admin`: the user's ID.
pub async fn set_admin(config: Config, user: &str, admin: bool) -> anyhow::Result<String> {
    let auth = auth_on_database(config).await?;
    let found = auth.admin_set_admin(user, admin).await.map_err(refused)?;
    Ok(found.user_id)
}

/// `manage list-admins`.
pub async fn list_admins(config: Config) -> anyhow::Result<Vec<String>> {
    let auth = auth_on_database(config).await?;
    Ok(auth.list_admins().await?)
}

/// `manage issue-registration-token`: the token.
pub async fn issue_registration_token(
    config: Config,
    token: Option<String>,
    uses_allowed: Option<u64>,
    expires_in: Option<&str>,
) -> anyhow::Result<String> {
    let expires_in_ms = expires_in
        .map(|d| {
            crate::config::parse_duration_ms(d)
                .and_then(|ms| i64::try_from(ms).ok())
                .filter(|ms| *ms > 0)
                .ok_or_else(|| anyhow::anyhow!("--expires-in: a duration such as 30m, 48h or 7d"))
        })
        .transpose()?;
    let auth = auth_on_database(config).await?;
    let mut body = serde_json::Map::new();
    if let Some(t) = token {
        body.insert("token".into(), json!(t));
    }
    if let Some(n) = uses_allowed {
        body.insert("uses_allowed".into(), json!(n));
    }
    if let Some(ms) = expires_in_ms {
        body.insert("expiry_time".into(), json!(auth.now().saturating_add(ms)));
    }
    let created = auth
        .create_registration_token_for_admin(&body)
        .await
        .map_err(|e| anyhow::anyhow!("{}", crate::error::Error::from(e)))?;
    Ok(created.token)
}

/// `manage issue-access-token`: (user ID, device ID, access token).
pub async fn issue_access_token(
    config: Config,
    user: &str,
    device_id: Option<String>,
    allow_admin: bool,
) -> anyhow::Result<(String, String, String)> {
    let device = device_id
        .map(crate::auth::identifiers::DeviceId::parse)
        .transpose()
        .map_err(|_| anyhow::anyhow!("the device ID must be 1 to 255 printable characters"))?;
    let auth = auth_on_database(config).await?;
    let (found, session) = auth
        .admin_issue_session(user, device, allow_admin)
        .await
        .map_err(refused)?;
    Ok((
        found.user_id,
        session.device_id.clone(),
        session.access_token.expose().to_owned(),
    ))
}

/// `manage lock-user` / `unlock-user`: the user's ID.
pub async fn set_locked(config: Config, user: &str, locked: bool) -> anyhow::Result<String> {
    let auth = auth_on_database(config).await?;
    let found = auth.admin_set_locked(user, locked).await.map_err(refused)?;
    Ok(found.user_id)
}

/// `manage deactivate-user`: the user's ID.
pub async fn deactivate_user(config: Config, user: &str, erase: bool) -> anyhow::Result<String> {
    let auth = auth_on_database(config).await?;
    let found = auth.admin_deactivate(user, erase).await.map_err(refused)?;
    Ok(found.user_id)
}

/// `manage reactivate-user`: the user's ID.
pub async fn reactivate_user(config: Config, user: &str) -> anyhow::Result<String> {
    let auth = auth_on_database(config).await?;
    let found = auth.admin_reactivate(user).await.map_err(refused)?;
    Ok(found.user_id)
}
