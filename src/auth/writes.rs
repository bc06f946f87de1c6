//! The writes of several rows that must happen together, each in one
//! transaction of the store: a registration, an account made through SSO
//! with its link, a deactivation, a password change with its logout, and
//! a session's access token. The rules of what goes together are here;
//! the store only runs the statements.
//!
//! They take the store rather than [`super::Auth`] so the store tests can
//! drive them on both backends.

use crate::clock::Timestamp;
use crate::store::{
    NewAccessToken, NewRefreshToken, NewUser, RefreshToken, ResultOnce, Store, StoreResult,
    Transaction, UserThreepid,
};
use serde_json::Value;

/// A registration, written by [`complete_registration`] in one
/// transaction: all of it or nothing.
#[derive(Debug, Clone, Default)]
pub struct NewRegistration {
    /// The user to create; with `upgrade_guest`, the guest that becomes a
    /// normal user with `user.password_hash` (its access tokens go) and,
    /// if given, `user.displayname`.
    pub user: NewUser,
    pub upgrade_guest: bool,
    pub consent_version: Option<String>,
    /// A validated 3PID to bind; the registration fails if it is bound.
    pub threepid: Option<UserThreepid>,
    /// Counted as monthly-active at this time (a reserved address).
    pub monthly_active_ts: Option<Timestamp>,
    /// A registration token whose pending use becomes completed.
    pub registration_token: Option<String>,
    /// The UIA session that authorised the registration and the result to
    /// record in it: the registration happens only if it has none yet.
    pub uia_session: Option<(String, Value)>,
    /// The first device: its ID and display name.
    pub device: Option<(String, Option<String>)>,
    /// An access token for that device, and the refresh token issued with
    /// it if the client asked for one.
    pub access_token: Option<NewAccessToken>,
    pub refresh_token: Option<NewRefreshToken>,
}

/// What [`complete_registration`] did. Anything but `Done` wrote nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistrationOutcome {
    Done,
    UserTaken,
    /// `upgrade_guest` named a user that is not (or no longer) a guest.
    NotAGuest,
    ThreepidTaken,
    /// The UIA session already has a result (given), or is gone (`None`).
    SessionSpent(Option<Value>),
}

/// Writes a whole registration in one transaction (see [`NewRegistration`]).
#[tracing::instrument(skip_all, fields(user_id = %reg.user.user_id))]
pub async fn complete_registration(
    store: &dyn Store,
    reg: &NewRegistration,
) -> StoreResult<RegistrationOutcome> {
    let mut tx = store.begin().await?;
    // The session first: its row stays locked (PostgreSQL) until the end,
    // so a concurrent request of the same session waits here and then
    // finds the result. Returning early drops `tx`: nothing is written.
    if let Some((session_id, result)) = &reg.uia_session {
        match tx.uia().set_uia_result_once(session_id, result).await? {
            ResultOnce::Recorded => {}
            ResultOnce::Already(previous) => {
                return Ok(RegistrationOutcome::SessionSpent(Some(previous)))
            }
            ResultOnce::NoSession => return Ok(RegistrationOutcome::SessionSpent(None)),
        }
    }
    let user = &reg.user;
    if reg.upgrade_guest {
        let upgraded = tx
            .users()
            .upgrade_guest(
                &user.user_id,
                user.password_hash.as_deref(),
                user.displayname.as_deref(),
            )
            .await?;
        if !upgraded {
            return Ok(RegistrationOutcome::NotAGuest);
        }
        tx.access_tokens()
            .delete_user_access_tokens(&user.user_id, None)
            .await?;
    } else if !tx.users().create_user(user).await? {
        return Ok(RegistrationOutcome::UserTaken);
    }
    if let Some(version) = &reg.consent_version {
        tx.users()
            .set_consent_version(&user.user_id, version)
            .await?;
    }
    if let Some(t) = &reg.threepid {
        if !tx.threepids().add_user_threepid(t).await? {
            return Ok(RegistrationOutcome::ThreepidTaken);
        }
    }
    if let Some(ts) = reg.monthly_active_ts {
        tx.usage()
            .upsert_monthly_active_user(&user.user_id, ts)
            .await?;
    }
    if let Some(token) = &reg.registration_token {
        tx.registration()
            .complete_registration_token_use(token)
            .await?;
    }
    if let Some((device_id, display_name)) = &reg.device {
        tx.devices()
            .ensure_device(
                &user.user_id,
                device_id,
                display_name.as_deref(),
                Some(user.created_ts),
            )
            .await?;
    }
    if let Some(t) = &reg.access_token {
        insert_session_tokens(&mut *tx, t, reg.refresh_token.as_ref()).await?;
    }
    tx.commit().await?;
    Ok(RegistrationOutcome::Done)
}

/// What [`create_user_with_link`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreatedWithLink {
    Created,
    /// The user ID is taken; nothing was written.
    UserTaken,
    /// Someone linked this identity meanwhile (to this user); nothing was written.
    LinkTaken(String),
}

/// Creates the user, links the external identity to it and binds the
/// (verified) email unless someone has it, in one transaction.
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn create_user_with_link(
    store: &dyn Store,
    user: &NewUser,
    auth_provider: &str,
    external_id: &str,
    email: Option<&UserThreepid>,
) -> StoreResult<CreatedWithLink> {
    let mut tx = store.begin().await?;
    let linked = tx
        .sso()
        .get_user_by_external_id(auth_provider, external_id)
        .await?;
    if let Some(owner) = linked {
        return Ok(CreatedWithLink::LinkTaken(owner));
    }
    if !tx.users().create_user(user).await? {
        return Ok(CreatedWithLink::UserTaken);
    }
    let inserted = tx
        .sso()
        .insert_external_id(auth_provider, external_id, &user.user_id, user.created_ts)
        .await?;
    if !inserted {
        // Another process linked it between our read and write: roll back
        // the user and use theirs.
        drop(tx);
        let owner = store
            .sso()
            .get_user_by_external_id(auth_provider, external_id)
            .await?
            .unwrap_or_default();
        return Ok(CreatedWithLink::LinkTaken(owner));
    }
    if let Some(t) = email {
        // An address bound to someone else already stays theirs.
        tx.threepids().add_user_threepid(t).await?;
    }
    tx.commit().await?;
    Ok(CreatedWithLink::Created)
}

/// Marks the user deactivated (its password hash is kept, unusable, so
/// that only the right password learns the account is deactivated), and
/// deletes all its devices, access tokens, 3PIDs and browser sessions at
/// the OAuth 2.0 pages, in one transaction
/// (a login token still unused is refused at use: its user is
/// deactivated). Returns the deleted device IDs.
#[tracing::instrument(skip_all)]
pub async fn deactivate_user(store: &dyn Store, user_id: &str) -> StoreResult<Vec<String>> {
    let mut tx = store.begin().await?;
    tx.users().set_deactivated(user_id).await?;
    tx.access_tokens()
        .delete_user_access_tokens(user_id, None)
        .await?;
    tx.threepids().delete_user_threepids(user_id).await?;
    tx.oauth_grants()
        .delete_user_browser_sessions(user_id)
        .await?;
    let deleted = tx.devices().delete_user_devices(user_id, None).await?;
    tx.commit().await?;
    Ok(deleted)
}

/// Erases a deactivated user (Synapse's `erase`): the display name and
/// avatar go and the user is marked erased.
#[tracing::instrument(skip_all)]
pub async fn erase_user(store: &dyn Store, user_id: &str) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    tx.users().set_erased(user_id, true).await?;
    tx.users().set_displayname(user_id, None).await?;
    tx.users().set_avatar_url(user_id, None).await?;
    tx.commit().await
}

/// Sets a new password hash and bumps the credentials version; with
/// `logout_devices`, deletes every device but `keep_device`, every access
/// token but `keep_token`, every unused login token and every browser
/// session at the OAuth 2.0 pages, in the same
/// transaction. Returns the deleted device IDs.
#[tracing::instrument(skip_all)]
pub async fn change_password(
    store: &dyn Store,
    user_id: &str,
    hash: &str,
    logout_devices: bool,
    keep_device: Option<&str>,
    keep_token: Option<i64>,
) -> StoreResult<Vec<String>> {
    let mut tx = store.begin().await?;
    tx.users().set_password_hash(user_id, Some(hash)).await?;
    let mut deleted = Vec::new();
    if logout_devices {
        tx.access_tokens()
            .delete_user_access_tokens(user_id, keep_token)
            .await?;
        deleted = tx
            .devices()
            .delete_user_devices(user_id, keep_device)
            .await?;
        // A login token not traded yet would start a session the change
        // should have ended.
        tx.sso().delete_unused_login_tokens(user_id).await?;
        // So is a browser logged in at the OAuth 2.0 pages.
        tx.oauth_grants()
            .delete_user_browser_sessions(user_id)
            .await?;
    }
    tx.commit().await?;
    Ok(deleted)
}

/// A session's token: created only if its user is not deactivated and,
/// with `credentials_version`, the user's version is still that one
/// (checked with the user's row locked until the token is written, so a
/// password change or deactivation is either before, and no token is
/// made, or after, and deletes it). With `refresh`, the refresh token
/// issued with it too. `None` when refused; the access token's id.
#[tracing::instrument(skip_all)]
pub async fn create_session_token(
    store: &dyn Store,
    token: &NewAccessToken,
    refresh: Option<&NewRefreshToken>,
    credentials_version: Option<i64>,
) -> StoreResult<Option<i64>> {
    let mut tx = store.begin().await?;
    let current = tx.users().lock_credentials(&token.user_id).await?;
    let allowed = match current {
        Some((deactivated, version)) => {
            !deactivated && credentials_version.is_none_or(|v| v == version)
        }
        None => false,
    };
    if !allowed {
        return Ok(None);
    }
    let id = insert_session_tokens(&mut *tx, token, refresh).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// What [`rotate_refresh_token`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The new tokens were written (the access token's id).
    Rotated(i64),
    /// Nothing was written.
    Refused(RefreshRefusal),
}

/// Why [`rotate_refresh_token`] (or its check) refused a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRefusal {
    /// It was replaced and its successor is in use: the session must end.
    Reused {
        user_id: String,
        device_id: String,
    },
    Expired,
    /// Another OAuth client's token (or an OAuth token at the legacy API).
    WrongClient,
    /// Its user is locked: the token is kept (it refreshes again once the
    /// user is unlocked), but no new tokens are made.
    Locked,
    /// Unknown, or its user deactivated.
    Unknown,
}

/// A refresh: with the user's row locked (so a deactivation or password
/// change is either before, and the token is gone, or after, and deletes
/// the new ones; a locked user's token is refused and kept) and the refresh token's row locked (so two refreshes of
/// one token happen one after the other: the second sees the first's
/// successor and replaces it, the chain never forks), `check` decides on
/// the stored token and, if it passes, gives the new tokens, which are
/// written and recorded as its successor, in one transaction.
#[tracing::instrument(skip_all)]
pub async fn rotate_refresh_token<F>(
    store: &dyn Store,
    token_hash: &[u8],
    check: F,
) -> StoreResult<Rotation>
where
    F: FnOnce(&RefreshToken) -> Result<(NewAccessToken, NewRefreshToken), RefreshRefusal> + Send,
{
    let Some(found) = store.refresh_tokens().get_refresh_token(token_hash).await? else {
        return Ok(Rotation::Refused(RefreshRefusal::Unknown));
    };
    let mut tx = store.begin().await?;
    match tx.users().lock_credentials(&found.user_id).await? {
        Some((false, _)) => {}
        _ => return Ok(Rotation::Refused(RefreshRefusal::Unknown)),
    }
    // Read under the row's lock: a lock is either before, and refuses, or
    // after, and the new tokens answer M_USER_LOCKED as the old ones do.
    if tx
        .users()
        .get_user(&found.user_id)
        .await?
        .is_some_and(|u| u.locked)
    {
        return Ok(Rotation::Refused(RefreshRefusal::Locked));
    }
    let Some(current) = tx.refresh_tokens().lock_refresh_token(token_hash).await? else {
        return Ok(Rotation::Refused(RefreshRefusal::Unknown));
    };
    let (access, refresh) = match check(&current) {
        Ok(new) => new,
        Err(refusal) => return Ok(Rotation::Refused(refusal)),
    };
    let (refresh_id, access_id) = tx
        .refresh_tokens()
        .create_refresh_token(&refresh, &access)
        .await?;
    tx.refresh_tokens()
        .rotate_refresh_token(current.id, refresh_id)
        .await?;
    tx.commit().await?;
    Ok(Rotation::Rotated(access_id))
}

/// A session's access token and, if any, the refresh token issued with it.
async fn insert_session_tokens(
    tx: &mut dyn Transaction,
    token: &NewAccessToken,
    refresh: Option<&NewRefreshToken>,
) -> StoreResult<i64> {
    Ok(match refresh {
        Some(r) => tx.refresh_tokens().create_refresh_token(r, token).await?.1,
        None => tx.access_tokens().create_access_token(token).await?,
    })
}
