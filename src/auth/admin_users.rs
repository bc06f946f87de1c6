//! Synapse's user admin API, the rules behind it: read a user, create or
//! change one in one go (`PUT /_synapse/admin/v2/users/{user_id}`), list
//! users a page at a time, suspend, deactivate, reset a password, make an
//! admin. The HTTP layer (`http/routes/admin_users.rs`) checks the shapes;
//! everything here is checked before anything is written, so a refused
//! change changes nothing (Synapse's writes are a step at a time and stop
//! half-way). A delegating homeserver hears of each change through the
//! queue of homeserver calls.

use super::identifiers::{local_localpart, UserId};
use super::password::Password;
use super::threepids::canonicalise_email;
use super::user_admin::UserAdminError;
use super::{Auth, Requester};
use crate::config::PasswordEnabled;
use crate::store::{NewUser, User, UserListPage, UserListQuery, UserThreepid};
use serde_json::{json, Value};

type Result<T> = std::result::Result<T, UserAdminError>;

/// A user as `GET /_synapse/admin/v2/users/{user_id}` shows it.
#[derive(Debug, Clone)]
pub struct AdminUserView {
    pub user: User,
    pub threepids: Vec<UserThreepid>,
    pub external_ids: Vec<(String, String)>,
    pub last_seen_ts: Option<i64>,
}

/// What a `PUT /_synapse/admin/v2/users/{user_id}` asks (`None`: leave
/// it; `Some(None)`: remove it).
#[derive(Default)]
pub struct UserChanges {
    pub password: Option<Password>,
    /// With a new password: end every session (but the admin's own, when
    /// the admin changes their own password).
    pub logout_devices: bool,
    pub displayname: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub admin: Option<bool>,
    pub deactivated: Option<bool>,
    pub locked: Option<bool>,
    pub user_type: Option<Option<String>>,
    /// The whole set of (medium, address), replacing the user's.
    pub threepids: Option<Vec<(String, String)>>,
    /// The whole set of (auth_provider, external_id), replacing the user's.
    pub external_ids: Option<Vec<(String, String)>>,
}

/// The user admin API's most of anything in one request (Synapse has no
/// limits: these bound what one request can make mxauth store).
pub const MAX_THREEPIDS: usize = 100;
pub const MAX_EXTERNAL_IDS: usize = 100;

impl Auth {
    /// A local user by full ID, or `NoSuchUser`.
    pub async fn admin_local_user(&self, user_id: &UserId) -> Result<User> {
        self.store
            .users()
            .get_user(user_id.as_str())
            .await?
            .ok_or_else(|| UserAdminError::NoSuchUser(user_id.to_string()))
    }

    /// `GET /_synapse/admin/v2/users/{user_id}`.
    pub async fn admin_user_view(&self, user_id: &UserId) -> Result<AdminUserView> {
        let user = self.admin_local_user(user_id).await?;
        self.view_of(user).await
    }

    async fn view_of(&self, user: User) -> Result<AdminUserView> {
        let threepids = self
            .store
            .threepids()
            .list_user_threepids(&user.user_id)
            .await?;
        let external_ids = self.store.sso().list_external_ids(&user.user_id).await?;
        let last_seen_ts = self.store.users().last_seen_ts(&user.user_id).await?;
        Ok(AdminUserView {
            user,
            threepids,
            external_ids,
            last_seen_ts,
        })
    }

    /// `PUT /_synapse/admin/v2/users/{user_id}`: creates the user (`true`)
    /// or changes it (`false`), and shows it as it is now. `requester` is
    /// the admin asking.
    pub async fn admin_put_user(
        &self,
        requester: &Requester,
        user_id: &UserId,
        changes: UserChanges,
    ) -> Result<(bool, AdminUserView)> {
        let existing = self.store.users().get_user(user_id.as_str()).await?;
        let localpart = local_localpart(user_id.as_str(), self.server_name())
            .ok_or_else(|| UserAdminError::NoSuchUser(user_id.to_string()))?
            .to_owned();
        if existing.is_none() {
            // Synapse's rules for a new name (no lower-casing: `@Bob` is
            // refused as Synapse refuses it).
            self.check_username_available(&localpart)
                .await
                .map_err(UserAdminError::Register)?;
        }
        if let Some(user) = &existing {
            if requester.user_id == user_id && user.admin && changes.admin == Some(false) {
                return Err(UserAdminError::DemoteSelf);
            }
            if changes.password.is_some() && !self.may_set_passwords() {
                return Err(UserAdminError::PasswordChangeDisabled);
            }
        }
        let threepids = match &changes.threepids {
            Some(list) => Some(canonical_threepids(list)?),
            None => None,
        };
        let hash = match &changes.password {
            Some(p) => Some(self.hash_password(p).await.map_err(UserAdminError::Hash)?),
            None => None,
        };
        let now = self.now();
        let created = existing.is_none();
        let was_deactivated = existing.as_ref().is_some_and(|u| u.deactivated);
        let reactivate = was_deactivated && changes.deactivated == Some(false);
        let deactivate = !was_deactivated && changes.deactivated == Some(true);
        let old_threepids = match &existing {
            Some(u) => {
                self.store
                    .threepids()
                    .list_user_threepids(&u.user_id)
                    .await?
            }
            None => Vec::new(),
        };

        let mut tx = self.store.begin().await?;
        match &existing {
            None => {
                let displayname = match &changes.displayname {
                    Some(Some(name)) => Some(name.clone()),
                    // As Synapse: a new user is named after its localpart.
                    _ => Some(localpart.clone()),
                };
                let new = NewUser {
                    user_id: user_id.to_string(),
                    password_hash: hash.clone(),
                    admin: changes.admin.unwrap_or(false),
                    user_type: changes.user_type.clone().flatten(),
                    created_ts: now,
                    displayname,
                    ..NewUser::default()
                };
                if !tx.users().create_user(&new).await? {
                    return Err(UserAdminError::Register(
                        super::register::RegisterError::UserInUse,
                    ));
                }
            }
            Some(user) => {
                tx.users().lock_credentials(&user.user_id).await?;
                if let Some(name) = &changes.displayname {
                    tx.users()
                        .set_displayname(&user.user_id, name.as_deref())
                        .await?;
                }
                if let Some(admin) = changes.admin {
                    tx.users().set_admin(&user.user_id, admin).await?;
                }
                if let Some(user_type) = &changes.user_type {
                    tx.users()
                        .set_user_type(&user.user_id, user_type.as_deref())
                        .await?;
                }
                if reactivate {
                    // As `mxauth manage reactivate-user`: back without the
                    // password it had (a new one may come below).
                    tx.users().set_reactivated(&user.user_id).await?;
                }
            }
        }
        let uid = user_id.as_str();
        if let Some(avatar) = &changes.avatar_url {
            tx.users().set_avatar_url(uid, avatar.as_deref()).await?;
        }
        if let Some(locked) = changes.locked {
            tx.users().set_locked(uid, locked).await?;
        }
        if let Some(new) = &threepids {
            for old in &old_threepids {
                if !new.contains(&(old.medium.clone(), old.address.clone())) {
                    tx.threepids()
                        .delete_user_threepid(uid, &old.medium, &old.address)
                        .await?;
                }
            }
            for (medium, address) in new {
                if old_threepids
                    .iter()
                    .any(|o| &o.medium == medium && &o.address == address)
                {
                    continue;
                }
                let added = tx
                    .threepids()
                    .add_user_threepid(&UserThreepid {
                        user_id: uid.to_owned(),
                        medium: medium.clone(),
                        address: address.clone(),
                        validated_ts: now,
                        added_ts: now,
                    })
                    .await?;
                if !added {
                    // Bound to another account: refused, as the client
                    // API's `/3pid/add` refuses it (Synapse's admin API
                    // moves it over silently).
                    return Err(UserAdminError::ThreepidInUse);
                }
            }
        }
        if let Some(ids) = &changes.external_ids {
            tx.sso().delete_user_external_ids(uid).await?;
            for (provider, external_id) in ids {
                if !tx
                    .sso()
                    .insert_external_id(provider, external_id, uid, now)
                    .await?
                {
                    let owner = tx
                        .sso()
                        .get_user_by_external_id(provider, external_id)
                        .await?;
                    if owner.as_deref() != Some(uid) {
                        return Err(UserAdminError::ExternalIdInUse);
                    }
                }
            }
        }
        tx.commit().await?;
        // The admin sees the user in the list's totals at once.
        self.user_counts.forget();

        // The rest ends sessions and tells others: after the checks above.
        if let (Some(hash), false) = (&hash, created) {
            let (keep_device, keep_token) = own_session(requester, user_id);
            self.set_new_password(uid, hash, changes.logout_devices, keep_device, keep_token)
                .await?;
        }
        // The provision first: it creates a new user at the homeserver,
        // whose `delete_user` would otherwise find no one there (a 404,
        // taken as done) and leave it active. Synapse's own order too:
        // the profile, then (de)activation.
        self.provision_changes(uid, created, &changes, threepids.as_deref())
            .await?;
        if deactivate {
            self.deactivate_everywhere(uid, false).await?;
        }
        if reactivate {
            self.reactivate_on_homeserver(uid).await?;
        }
        if created {
            tracing::info!(admin = %requester.user_id, user_id = uid, "user created by an admin");
        } else {
            tracing::info!(admin = %requester.user_id, user_id = uid, "user changed by an admin");
        }
        let user = self.admin_local_user(user_id).await?;
        Ok((created, self.view_of(user).await?))
    }

    /// Whether an admin may set a modified user's password: Synapse's
    /// `can_change_password` (passwords on, and checked here).
    fn may_set_passwords(&self) -> bool {
        let pc = &self.config.password_config;
        pc.enabled != PasswordEnabled::No && pc.localdb_enabled
    }

    /// A delegating homeserver's `provision_user` for what changed: the
    /// display name, the avatar, the email addresses (the whole set) and
    /// the lock.
    async fn provision_changes(
        &self,
        user_id: &str,
        created: bool,
        changes: &UserChanges,
        threepids: Option<&[(String, String)]>,
    ) -> crate::store::StoreResult<()> {
        let mut fields = serde_json::Map::new();
        match &changes.displayname {
            Some(Some(name)) => {
                fields.insert("set_displayname".into(), json!(name));
            }
            Some(None) => {
                fields.insert("unset_displayname".into(), json!(true));
            }
            None if created => {
                let localpart = local_localpart(user_id, self.server_name()).unwrap_or(user_id);
                fields.insert("set_displayname".into(), json!(localpart));
            }
            None => {}
        }
        match &changes.avatar_url {
            Some(Some(url)) => {
                fields.insert("set_avatar_url".into(), json!(url));
            }
            Some(None) => {
                fields.insert("unset_avatar_url".into(), json!(true));
            }
            None => {}
        }
        if let Some(list) = threepids {
            let emails: Vec<&str> = list
                .iter()
                .filter(|(m, _)| m == "email")
                .map(|(_, a)| a.as_str())
                .collect();
            fields.insert("set_emails".into(), json!(emails));
        }
        if let Some(locked) = changes.locked {
            fields.insert("locked".into(), json!(locked));
        }
        if fields.is_empty() {
            return Ok(());
        }
        self.provision_user_on_homeserver(user_id, Value::Object(fields))
            .await
    }

    /// `GET /_synapse/admin/v2/users` and `v3`: a page, and whether more
    /// rows follow it (one more row is read to know). The total is
    /// counted alongside the page, on another connection, unless one a
    /// few seconds old is kept (`user_counts.rs`).
    pub async fn admin_list_users(&self, query: &UserListQuery) -> Result<(UserListPage, bool)> {
        if !query.cursor_fits() {
            return Err(UserAdminError::BadListToken);
        }
        let mut one_more = query.clone();
        one_more.limit = query.limit.saturating_add(1);
        let (users, total) = tokio::join!(
            async { self.store.users().list_users(&one_more).await },
            self.count_users(query),
        );
        let mut users = users?;
        let more = users.len() as i64 > query.limit;
        users.truncate(query.limit.max(0) as usize);
        let last = users.last().map(|r| query.cursor_after(r));
        let total = total?;
        Ok((UserListPage { users, total, last }, more))
    }

    /// How many users `query`'s filters match, kept a few seconds.
    async fn count_users(&self, query: &UserListQuery) -> Result<i64> {
        let filter = query.filter();
        if let Some(total) = self.user_counts.get(&filter, self.now()) {
            return Ok(total);
        }
        let generation = self.user_counts.generation();
        let total = self.store.users().count_users(query).await?;
        self.user_counts.put(filter, total, self.now(), generation);
        Ok(total)
    }

    /// `PUT /_synapse/admin/v1/suspend/{user_id}`. Suspension is the
    /// homeserver's to enforce (it refuses the user's writes); mxauth keeps
    /// it to show it.
    pub async fn admin_set_suspended(&self, user: &User, suspended: bool) -> Result<()> {
        self.store
            .users()
            .set_suspended(&user.user_id, suspended)
            .await?;
        tracing::info!(user_id = %user.user_id, suspended, "suspension set by an admin");
        Ok(())
    }

    /// `POST /_synapse/admin/v1/deactivate/{user_id}`: deactivates (again,
    /// to erase later, as Synapse allows).
    pub async fn admin_deactivate_user(&self, user_id: &UserId, erase: bool) -> Result<()> {
        let user = self.admin_local_user(user_id).await?;
        if user.deactivated {
            if erase && !user.erased {
                super::writes::erase_user(&*self.store, &user.user_id).await?;
                self.deactivate_on_homeserver(&user.user_id, true).await?;
            }
        } else {
            self.deactivate_everywhere(&user.user_id, erase).await?;
        }
        self.user_counts.forget();
        tracing::info!(%user_id, erase, "account deactivated by an admin");
        Ok(())
    }

    /// `POST /_synapse/admin/v1/reset_password/{user_id}` (no password
    /// policy, as Synapse: the admin chose it).
    pub async fn admin_reset_password(
        &self,
        requester: &Requester,
        user_id: &UserId,
        password: &str,
        logout_devices: bool,
    ) -> Result<()> {
        // Another server's user is no user here (Synapse: 404 too).
        let user = self.admin_local_user(user_id).await?;
        if !self.may_set_passwords() {
            return Err(UserAdminError::PasswordChangeDisabled);
        }
        let hash = self
            .hash_password(password)
            .await
            .map_err(UserAdminError::Hash)?;
        let (keep_device, keep_token) = own_session(requester, user_id);
        self.set_new_password(
            &user.user_id,
            &hash,
            logout_devices,
            keep_device,
            keep_token,
        )
        .await?;
        tracing::info!(%user_id, logout_devices, "password reset by an admin");
        Ok(())
    }

    /// `PUT /_synapse/admin/v1/users/{user_id}/admin`.
    pub async fn admin_put_admin(
        &self,
        requester: &UserId,
        user_id: &UserId,
        admin: bool,
    ) -> Result<()> {
        let user = self.admin_local_user(user_id).await?;
        if requester == user_id && user.admin && !admin {
            return Err(UserAdminError::DemoteSelf);
        }
        self.store.users().set_admin(&user.user_id, admin).await?;
        self.user_counts.forget();
        tracing::info!(%user_id, admin, "admin flag set by an admin");
        Ok(())
    }
}

/// The session an admin keeps when ending a user's sessions: their own,
/// when they are the user (Synapse keeps the admin's device ID on whatever
/// user it is, which ends nothing of the admin's and may spare one of the
/// user's).
fn own_session<'a>(requester: &'a Requester, user_id: &UserId) -> (Option<&'a str>, Option<i64>) {
    if requester.user_id == user_id {
        (requester.device_id.as_deref(), Some(requester.token_id))
    } else {
        (None, None)
    }
}

/// The (medium, address) pairs as stored: emails canonical, each once.
fn canonical_threepids(list: &[(String, String)]) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(list.len());
    for (medium, address) in list {
        let address = match medium.as_str() {
            "email" => canonicalise_email(address).map_err(|_| UserAdminError::InvalidEmail)?,
            "msisdn" => address.clone(),
            _ => return Err(UserAdminError::InvalidMedium(medium.clone())),
        };
        let pair = (medium.clone(), address);
        if !out.contains(&pair) {
            out.push(pair);
        }
    }
    Ok(out)
}
