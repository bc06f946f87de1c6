//! The writes of the import repository: new rows of the kinds
//! [`same_insert`] groups in multi-row `INSERT`s, a run of one kind at a
//! time (`insert_many!`), every other [`ImportWrite`] a statement of its
//! own (`apply_one!`). Macros, expanded in the parent's `impl` for each
//! backend.

use super::ImportWrite;

/// Whether `b` can go in one multi-row INSERT with `a` (the row kinds of
/// [`insert_many`], an access token only without a refresh token).
pub(super) fn same_insert(a: &ImportWrite, b: &ImportWrite) -> bool {
    use ImportWrite::*;
    matches!(
        (a, b),
        (InsertUser(_), InsertUser(_))
            | (InsertDevice(_), InsertDevice(_))
            | (InsertThreepid(_), InsertThreepid(_))
            | (Record(_), Record(_))
            | (
                InsertAccessToken {
                    refresh_hash: None,
                    ..
                },
                InsertAccessToken {
                    refresh_hash: None,
                    ..
                },
            )
    )
}

/// One multi-row INSERT for a run of writes that [`same_insert`] groups.
macro_rules! insert_many {
    ($db:ty, $conn:expr, $run:expr) => {{
        let run: &[ImportWrite] = $run;
        let mut q: QueryBuilder<'_, $db> = match &run[0] {
            ImportWrite::InsertUser(_) => QueryBuilder::new(
                "INSERT INTO users (name, password_hash, admin, user_type, is_guest, \
                 deactivated, locked, displayname, appservice_id, consent_version, \
                 credentials_version, suspended, erased, avatar_url, created_ts) ",
            ),
            ImportWrite::InsertDevice(_) => QueryBuilder::new(
                "INSERT INTO devices (user_id, device_id, display_name, last_seen_ts, \
                 last_seen_ip, last_seen_user_agent) ",
            ),
            ImportWrite::InsertThreepid(_) => QueryBuilder::new(
                "INSERT INTO user_threepids (user_id, medium, address, validated_ts, added_ts) ",
            ),
            ImportWrite::InsertAccessToken { .. } => QueryBuilder::new(
                "INSERT INTO access_tokens (token_hash, user_id, device_id, puppet_owner, \
                 created_ts, valid_until_ts, first_used_ts) ",
            ),
            _ => QueryBuilder::new(
                "INSERT INTO synapse_import_rows (user_id, kind, row_key, imported) ",
            ),
        };
        q.push_values(run, |mut row, write| match write {
            ImportWrite::InsertUser(u) => {
                row.push_bind(&u.user_id)
                    .push_bind(&u.password_hash)
                    .push_bind(u.admin)
                    .push_bind(&u.user_type)
                    .push_bind(u.is_guest)
                    .push_bind(u.deactivated)
                    .push_bind(u.locked)
                    .push_bind(&u.displayname)
                    .push_bind(&u.appservice_id)
                    .push_bind(&u.consent_version)
                    .push_bind(u.credentials_version)
                    .push_bind(u.suspended)
                    .push_bind(u.erased)
                    .push_bind(&u.avatar_url)
                    .push_bind(u.created_ts);
            }
            ImportWrite::InsertDevice(d) => {
                row.push_bind(&d.user_id)
                    .push_bind(&d.device_id)
                    .push_bind(&d.display_name)
                    .push_bind(d.last_seen_ts)
                    .push_bind(&d.last_seen_ip)
                    .push_bind(&d.last_seen_user_agent);
            }
            ImportWrite::InsertThreepid(t) => {
                row.push_bind(&t.user_id)
                    .push_bind(&t.medium)
                    .push_bind(&t.address)
                    .push_bind(t.validated_ts)
                    .push_bind(t.added_ts);
            }
            ImportWrite::InsertAccessToken {
                token_hash,
                user_id,
                device_id,
                puppet_owner,
                created_ts,
                valid_until_ts,
                first_used_ts,
                ..
            } => {
                row.push_bind(token_hash)
                    .push_bind(user_id)
                    .push_bind(device_id)
                    .push_bind(puppet_owner)
                    .push_bind(created_ts)
                    .push_bind(valid_until_ts)
                    .push_bind(first_used_ts);
            }
            ImportWrite::Record(r) => {
                row.push_bind(&r.user_id)
                    .push_bind(&r.kind)
                    .push_bind(&r.row_key)
                    .push_bind(&r.imported);
            }
            // `same_insert` groups nothing else.
            _ => {}
        });
        if matches!(run[0], ImportWrite::Record(_)) {
            q.push(
                " ON CONFLICT (user_id, kind, row_key) DO UPDATE SET imported = excluded.imported",
            );
        }
        q.build().execute(&mut *$conn).await?;
    }};
}

/// Binds a user's columns in the order of `apply_one`'s update (`$1` to
/// `$14`).
macro_rules! bind_user {
    ($query:expr, $u:expr) => {
        $query
            .bind(&$u.user_id)
            .bind(&$u.password_hash)
            .bind($u.admin)
            .bind(&$u.user_type)
            .bind($u.is_guest)
            .bind($u.deactivated)
            .bind($u.locked)
            .bind(&$u.displayname)
            .bind(&$u.appservice_id)
            .bind(&$u.consent_version)
            .bind($u.credentials_version)
            .bind($u.suspended)
            .bind($u.erased)
            .bind(&$u.avatar_url)
    };
}

/// One [`ImportWrite`] on `$conn`.
macro_rules! apply_one {
    ($db:ty, $conn:expr, $write:expr) => {
        match $write {
            ImportWrite::UpdateUser(u) => {
                // Every column the import sets but the creation time.
                bind_user!(
                    sqlx::query(
                        "UPDATE users SET password_hash = $2, admin = $3, user_type = $4, \
                         is_guest = $5, deactivated = $6, locked = $7, displayname = $8, \
                         appservice_id = $9, consent_version = $10, credentials_version = $11, \
                         suspended = $12, erased = $13, avatar_url = $14 WHERE name = $1",
                    ),
                    u
                )
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::UpdateDevice(d) => {
                sqlx::query(
                    "UPDATE devices SET display_name = $3, last_seen_ts = $4, \
                     last_seen_ip = $5, last_seen_user_agent = $6 \
                     WHERE user_id = $1 AND device_id = $2",
                )
                    .bind(&d.user_id)
                    .bind(&d.device_id)
                    .bind(&d.display_name)
                    .bind(d.last_seen_ts)
                    .bind(&d.last_seen_ip)
                    .bind(&d.last_seen_user_agent)
                    .execute(&mut *$conn)
                    .await?;
            }
            ImportWrite::DeleteDevice { user_id, device_id } => {
                for sql in [
                    "DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2",
                    "DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2",
                    "DELETE FROM devices WHERE user_id = $1 AND device_id = $2",
                ] {
                    sqlx::query(sql)
                        .bind(user_id)
                        .bind(device_id)
                        .execute(&mut *$conn)
                        .await?;
                }
            }
            ImportWrite::InsertRefreshToken {
                token_hash,
                user_id,
                device_id,
                created_ts,
                expires_ts,
                session_until_ts,
                access_token_lifetime_ms,
                refresh_token_lifetime_ms,
            } => {
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts, \
                     expires_ts, session_until_ts, access_token_lifetime_ms, \
                     refresh_token_lifetime_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(device_id)
                .bind(created_ts)
                .bind(expires_ts)
                .bind(session_until_ts)
                .bind(access_token_lifetime_ms)
                .bind(refresh_token_lifetime_ms)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::LinkRefreshToken {
                token_hash,
                next_hash,
            } => {
                sqlx::query(
                    "UPDATE refresh_tokens SET next_token_id = \
                     (SELECT n.id FROM refresh_tokens n WHERE n.token_hash = $2) \
                     WHERE token_hash = $1",
                )
                .bind(token_hash)
                .bind(next_hash)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::DeleteRefreshToken { token_hash } => {
                sqlx::query("DELETE FROM refresh_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *$conn)
                    .await?;
            }
            ImportWrite::InsertAccessToken {
                token_hash,
                user_id,
                device_id,
                puppet_owner,
                created_ts,
                valid_until_ts,
                refresh_hash,
                first_used_ts,
            } => {
                sqlx::query(
                    "INSERT INTO access_tokens (token_hash, user_id, device_id, puppet_owner, \
                     created_ts, valid_until_ts, refresh_token_id, first_used_ts) \
                     VALUES ($1, $2, $3, $4, $5, $6, \
                     (SELECT r.id FROM refresh_tokens r WHERE r.token_hash = $7), $8)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(device_id)
                .bind(puppet_owner)
                .bind(created_ts)
                .bind(valid_until_ts)
                .bind(refresh_hash)
                .bind(first_used_ts)
                .execute(&mut *$conn)
                .await?;
                // The refresh token names the latest access token issued with it.
                if refresh_hash.is_some() {
                sqlx::query(
                    "UPDATE refresh_tokens SET access_token_id = \
                     (SELECT a.id FROM access_tokens a WHERE a.token_hash = $1) \
                     WHERE token_hash = $2",
                )
                .bind(token_hash)
                .bind(refresh_hash)
                .execute(&mut *$conn)
                .await?;
                }
            }
            ImportWrite::AccessTokenUsed { token_hash, ts } => {
                sqlx::query(
                    "UPDATE access_tokens SET first_used_ts = $2 \
                     WHERE token_hash = $1 AND first_used_ts IS NULL",
                )
                .bind(token_hash)
                .bind(ts)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::DeleteAccessToken { token_hash } => {
                sqlx::query("DELETE FROM access_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *$conn)
                    .await?;
            }
            ImportWrite::DeleteThreepid {
                user_id,
                medium,
                address,
            } => {
                sqlx::query(
                    "DELETE FROM user_threepids WHERE user_id = $1 AND medium = $2 AND address = $3",
                )
                .bind(user_id)
                .bind(medium)
                .bind(address)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::InsertExternalId { link, created_ts } => {
                sqlx::query(
                    "INSERT INTO user_external_ids (auth_provider, external_id, user_id, created_ts) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&link.auth_provider)
                .bind(&link.external_id)
                .bind(&link.user_id)
                .bind(created_ts)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::DeleteExternalId {
                auth_provider,
                external_id,
            } => {
                sqlx::query(
                    "DELETE FROM user_external_ids WHERE auth_provider = $1 AND external_id = $2",
                )
                .bind(auth_provider)
                .bind(external_id)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::SetRatelimitOverride(o) => {
                sqlx::query(
                    "INSERT INTO ratelimit_overrides (user_id, messages_per_second, burst_count) \
                     VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE SET \
                     messages_per_second = excluded.messages_per_second, \
                     burst_count = excluded.burst_count",
                )
                .bind(&o.user_id)
                .bind(o.messages_per_second)
                .bind(o.burst_count)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::DeleteRatelimitOverride { user_id } => {
                sqlx::query("DELETE FROM ratelimit_overrides WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *$conn)
                    .await?;
            }
            ImportWrite::MonthlyActive { user_id, ts } => {
                sqlx::query(
                    "INSERT INTO monthly_active_users (user_id, last_seen_ts) VALUES ($1, $2) \
                     ON CONFLICT (user_id) DO UPDATE SET last_seen_ts = excluded.last_seen_ts \
                     WHERE monthly_active_users.last_seen_ts < excluded.last_seen_ts",
                )
                .bind(user_id)
                .bind(ts)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::ClientIp {
                user_id,
                token_hash,
                ip,
                user_agent,
                device_id,
                last_seen_ts,
            } => {
                sqlx::query(
                    "INSERT INTO user_ips (user_id, token_id, ip, user_agent, device_id, last_seen_ts) \
                     SELECT $1, a.id, $3, $4, $5, $6 FROM access_tokens a WHERE a.token_hash = $2 \
                     ON CONFLICT (user_id, token_id, ip) DO UPDATE SET \
                     user_agent = excluded.user_agent, device_id = excluded.device_id, \
                     last_seen_ts = excluded.last_seen_ts \
                     WHERE user_ips.last_seen_ts < excluded.last_seen_ts",
                )
                .bind(user_id)
                .bind(token_hash)
                .bind(ip)
                .bind(user_agent)
                .bind(device_id)
                .bind(last_seen_ts)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::SetRegistrationToken(t) => {
                sqlx::query(
                    "INSERT INTO registration_tokens (token, uses_allowed, pending, completed, expires_ts) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token) DO UPDATE SET \
                     uses_allowed = excluded.uses_allowed, completed = excluded.completed, \
                     expires_ts = excluded.expires_ts",
                )
                .bind(&t.token)
                .bind(t.uses_allowed)
                .bind(t.pending)
                .bind(t.completed)
                .bind(t.expires_ts)
                .execute(&mut *$conn)
                .await?;
            }
            ImportWrite::DeleteRegistrationToken { token } => {
                sqlx::query("DELETE FROM registration_tokens WHERE token = $1")
                    .bind(token)
                    .execute(&mut *$conn)
                    .await?;
            }
            // New rows of these kinds go through insert_many, one or many.
            ImportWrite::InsertUser(_)
            | ImportWrite::InsertDevice(_)
            | ImportWrite::InsertThreepid(_)
            | ImportWrite::Record(_) => {
                insert_many!($db, $conn, std::slice::from_ref($write));
            }
            ImportWrite::Forget {
                user_id,
                kind,
                row_key,
            } => {
                sqlx::query(
                    "DELETE FROM synapse_import_rows WHERE user_id = $1 AND kind = $2 AND row_key = $3",
                )
                .bind(user_id)
                .bind(kind)
                .bind(row_key)
                .execute(&mut *$conn)
                .await?;
            }
        }
    };
}
