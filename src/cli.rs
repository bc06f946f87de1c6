//! What the command-line tools do, kept out of main so tests can call it.

use crate::auth::admin::registration_mac;
use crate::auth::Auth;
use crate::clock::{OsRandom, SystemClock};
use crate::config::Config;
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::sync::Arc;

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
    let store = crate::store::connect(&config.database.url(), 2).await?;
    let auth = Auth::new(
        Arc::new(config),
        store,
        Arc::new(SystemClock),
        Arc::new(OsRandom),
    );
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
    let store = crate::store::connect(&config.database.url(), 2).await?;
    let auth = Auth::new(
        Arc::new(config),
        store,
        Arc::new(SystemClock),
        Arc::new(OsRandom),
    );
    auth.rotate_signing_key()
        .await
        .map_err(|_| anyhow::anyhow!("could not rotate the signing key (see the log)"))
}
