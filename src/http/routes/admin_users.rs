//! Synapse's user admin API: `GET|PUT /_synapse/admin/v2/users/{user_id}`,
//! the v2 and v3 user lists, `suspend`, `deactivate`, `reset_password` and
//! `users/{user_id}/admin`, with Synapse's paths, shapes and errors. Each
//! handler asks, in Synapse's order: is the requester an admin, is the
//! path's user ID well formed and local, is the body well formed; then
//! `auth::admin_users` decides. Where Synapse answers a wrong type with a
//! 500 or takes it for something else, the answer here is a 400 and
//! nothing changes (ARCHITECTURE.md lists each difference).

use crate::auth::admin::{require_admin, USER_TYPES};
use crate::auth::admin_users::{AdminUserView, UserChanges, MAX_EXTERNAL_IDS, MAX_THREEPIDS};
use crate::auth::identifiers::{is_local, parse_user_id, OwnedUserId};
use crate::error::{ErrCode, Error, Result};
use crate::http::extract::{form_urlencoded_pairs, Authed, JsonObject, RequiredJsonObject};
use crate::http::routes::threepid::threepid_json;
use crate::http::AppState;
use crate::store::{UserCursor, UserListQuery, UserListRow, UserOrder};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

/// Synapse's limits on what an admin sets.
const MAX_DISPLAYNAME_LEN: usize = 256;
const MAX_AVATAR_URL_LEN: usize = 1000;
const MAX_PASSWORD_LEN: usize = 512;
/// The most users on one page (Synapse has no limit; a bigger `limit` gets
/// this many and a `next_token`).
pub const MAX_PAGE: i64 = 1000;

/// These endpoints, under `/_synapse/admin`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/users", get(list_users_v2))
        .route("/v3/users", get(list_users_v3))
        .route("/v2/users/{user_id}", get(get_user).put(put_user))
        .route("/v1/suspend/{user_id}", put(suspend))
        .route("/v1/deactivate/{user_id}", post(deactivate))
        .route("/v1/reset_password/{user_id}", post(reset_password))
        .route("/v1/users/{user_id}/admin", get(get_admin).put(put_admin))
}

fn unknown(message: &str) -> Error {
    Error::new(400, ErrCode::Unknown, message)
}

/// The path's user ID: well formed (else 400 `M_INVALID_PARAM`, as
/// Synapse's `UserID.from_string`) and of this server (else 400
/// `M_UNKNOWN` with `remote`).
fn local_user_id(state: &AppState, raw: &str, remote: &str) -> Result<OwnedUserId> {
    let user_id = parse_user_id(raw)
        .ok_or_else(|| Error::invalid_param("Expected UserID of the form '@localname:domain'"))?;
    if !is_local(&user_id, state.auth.server_name()) {
        return Err(unknown(remote));
    }
    Ok(user_id)
}

/// Synapse's `GET /_synapse/admin/v2/users/{user_id}` body.
fn user_json(view: &AdminUserView) -> Value {
    let u = &view.user;
    let threepids: Vec<Value> = view.threepids.iter().map(threepid_json).collect();
    let external_ids: Vec<Value> = view
        .external_ids
        .iter()
        .map(|(p, id)| json!({ "auth_provider": p, "external_id": id }))
        .collect();
    json!({
        "name": u.user_id,
        "admin": u.admin,
        "deactivated": u.deactivated,
        "locked": u.locked,
        "shadow_banned": false,
        // Seconds here, milliseconds in the list: as Synapse.
        "creation_ts": u.created_ts / 1000,
        "appservice_id": u.appservice_id,
        "consent_server_notice_sent": null,
        "consent_version": u.consent_version,
        "consent_ts": null,
        "user_type": u.user_type,
        "is_guest": u.is_guest,
        "suspended": u.suspended,
        "displayname": u.displayname,
        "avatar_url": u.avatar_url,
        "threepids": threepids,
        "external_ids": external_ids,
        "erased": u.erased,
        "last_seen_ts": view.last_seen_ts,
    })
}

/// `GET /_synapse/admin/v2/users/{user_id}`.
pub async fn get_user(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(raw): Path<String>,
) -> Result<Json<Value>> {
    require_admin(&requester)?;
    let user_id = local_user_id(&state, &raw, "Can only look up local users")?;
    let view = state.auth.admin_user_view(&user_id).await?;
    Ok(Json(user_json(&view)))
}

/// A list of objects each holding string fields `a` and `b`, as pairs
/// (`null`: not given).
fn string_pairs(
    body: &Map<String, Value>,
    key: &str,
    (a, b): (&str, &str),
    max: usize,
) -> Result<Option<Vec<(String, String)>>> {
    let items = match body.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Error::bad_json(format!("'{key}' must be a list"))),
    };
    if items.len() > max {
        return Err(Error::invalid_param(format!(
            "'{key}' may hold at most {max} entries"
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(item) = item else {
            return Err(Error::bad_json(format!(
                "'{key}' must be a list of objects"
            )));
        };
        let missing: Vec<String> = [a, b]
            .iter()
            .filter(|k| !item.contains_key(**k))
            .map(|k| format!("'{k}'"))
            .collect();
        if !missing.is_empty() {
            return Err(Error::missing_param(format!(
                "Missing params: [{}]",
                missing.join(", ")
            )));
        }
        match (&item[a], &item[b]) {
            (Value::String(x), Value::String(y)) => out.push((x.clone(), y.clone())),
            _ => {
                return Err(Error::bad_json(format!(
                    "'{a}' and '{b}' in '{key}' must be strings"
                )))
            }
        }
    }
    Ok(Some(out))
}

/// A boolean field Synapse checks with `isinstance(x, bool)` (`null` too is
/// refused); `default` when absent.
fn strict_bool(body: &Map<String, Value>, key: &str, default: bool) -> Result<bool> {
    match body.get(key) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(unknown(&format!(
            "'{key}' parameter is not of type boolean"
        ))),
    }
}

/// A profile field: a string (trimmed; empty means none) up to `max`
/// characters; `None` when absent.
fn profile_field(
    body: &Map<String, Value>,
    key: &str,
    max: usize,
    too_long: &str,
) -> Result<Option<Option<String>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.chars().count() > max {
                return Err(unknown(too_long));
            }
            Ok(Some((!s.is_empty()).then(|| s.to_owned())))
        }
        Some(_) => Err(Error::invalid_param(format!("'{key}' must be a string"))),
    }
}

/// The body of `PUT /_synapse/admin/v2/users/{user_id}`, checked in
/// Synapse's order.
fn user_changes(body: &Map<String, Value>) -> Result<UserChanges> {
    let threepids = string_pairs(body, "threepids", ("medium", "address"), MAX_THREEPIDS)?;
    let external_ids = string_pairs(
        body,
        "external_ids",
        ("auth_provider", "external_id"),
        MAX_EXTERNAL_IDS,
    )?;
    let user_type = match body.get("user_type") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(t)) if USER_TYPES.contains(&t.as_str()) => Some(Some(t.clone())),
        Some(_) => return Err(unknown("Invalid user type")),
    };
    let admin = match body.get("admin") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(Error::bad_json("Param 'admin' must be a boolean, if given")),
    };
    let password = match body.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.chars().count() <= MAX_PASSWORD_LEN && !p.contains('\0') => {
            Some(Zeroizing::new(p.clone()))
        }
        Some(_) => return Err(unknown("Invalid password")),
    };
    let logout_devices = strict_bool(body, "logout_devices", true)?;
    let deactivated = strict_bool(body, "deactivated", false)?;
    let locked = strict_bool(body, "locked", false)?;
    if deactivated && locked {
        return Err(unknown("An user can't be deactivated and locked"));
    }
    let displayname = profile_field(
        body,
        "displayname",
        MAX_DISPLAYNAME_LEN,
        "Displayname is too long (max 256)",
    )?;
    let avatar_url = profile_field(
        body,
        "avatar_url",
        MAX_AVATAR_URL_LEN,
        "Avatar URL is too long (max 1000)",
    )?;
    Ok(UserChanges {
        password,
        logout_devices,
        displayname,
        avatar_url,
        admin,
        deactivated: body.contains_key("deactivated").then_some(deactivated),
        locked: body.contains_key("locked").then_some(locked),
        user_type,
        threepids,
        external_ids,
    })
}

/// `PUT /_synapse/admin/v2/users/{user_id}`: 201 and the new user, or 200
/// and the changed one.
pub async fn put_user(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(raw): Path<String>,
    body: std::result::Result<RequiredJsonObject, Error>,
) -> Result<(StatusCode, Json<Value>)> {
    require_admin(&requester)?;
    // Synapse parses only `@localpart:server` here and refuses what is no
    // valid name later, as a new user's name.
    let Some((_, server)) = raw.strip_prefix('@').and_then(|r| r.split_once(':')) else {
        return Err(Error::invalid_param(
            "Expected UserID of the form '@localname:domain'",
        ));
    };
    let body = body?;
    if server != state.auth.server_name() {
        return Err(unknown("This endpoint can only be used with local users"));
    }
    let changes = user_changes(&body.0)?;
    let user_id = parse_user_id(&raw).ok_or_else(|| {
        Error::new(
            400,
            ErrCode::InvalidUsername,
            "User ID can only contain characters a-z, 0-9, or '=_-./+'",
        )
    })?;
    let (created, view) = state
        .auth
        .admin_put_user(&requester, &user_id, changes)
        .await?;
    let status = if created {
        // A user an admin made is a registration (`admin`); a refused
        // PUT may have been a change, so only creations are counted.
        let made: Result<()> = Ok(());
        super::register::count_registration(&state, "admin", &made);
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(user_json(&view))))
}

/// A boolean query parameter: only `true` and `false`, as Synapse.
fn query_bool(pairs: &[(String, String)], key: &str) -> Result<Option<bool>> {
    match pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
    {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(Error::invalid_param(format!(
            "Boolean query parameter '{key}' must be one of ['true', 'false']"
        ))),
    }
}

fn query_str<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A non-negative integer query parameter.
fn query_count(pairs: &[(String, String)], key: &str, default: i64) -> Result<i64> {
    match query_str(pairs, key) {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n),
            Ok(_) => Err(Error::invalid_param(format!(
                "Query parameter '{key}' must be a positive integer."
            ))),
            Err(_) => Err(Error::invalid_param(format!(
                "Query parameter '{key}' must be an integer."
            ))),
        },
    }
}

/// A page's `next_token`: the cursor after its last row, opaque (base64
/// of its JSON; never a number, so never taken for Synapse's offset).
fn encode_token(cursor: &UserCursor) -> String {
    let json = serde_json::to_vec(cursor).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_token(token: &str) -> Option<UserCursor> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn row_json(r: &UserListRow) -> Value {
    json!({
        "name": r.user_id,
        "user_type": r.user_type,
        "is_guest": r.is_guest,
        "admin": r.admin,
        "deactivated": r.deactivated,
        "shadow_banned": false,
        "displayname": r.displayname,
        "avatar_url": r.avatar_url,
        "creation_ts": r.created_ts,
        "erased": r.erased,
        "last_seen_ts": (r.last_seen_ts > 0).then_some(r.last_seen_ts),
        "locked": r.locked,
    })
}

const ORDERS: &str = "['name', 'displayname', 'is_guest', 'admin', 'deactivated', 'user_type', \
     'avatar_url', 'shadow_banned', 'creation_ts', 'last_seen_ts', 'locked']";

async fn list_users(state: AppState, query: Option<String>, v3: bool) -> Result<Json<Value>> {
    let pairs: Vec<(String, String)> =
        form_urlencoded_pairs(query.as_deref().unwrap_or("")).collect();
    let (offset, after) = match query_str(&pairs, "from") {
        None => (0, None),
        Some(v) if v.bytes().all(|c| c.is_ascii_digit() || c == b'-') => {
            (query_count(&pairs, "from", 0)?, None)
        }
        Some(v) => match decode_token(v) {
            Some(cursor) => (0, Some(cursor)),
            None => {
                return Err(Error::invalid_param(
                    "Query parameter 'from' must be an integer or a next_token.",
                ))
            }
        },
    };
    let limit = query_count(&pairs, "limit", 100)?.min(MAX_PAGE);
    let guests = query_bool(&pairs, "guests")?.unwrap_or(true);
    let deactivated = query_bool(&pairs, "deactivated")?;
    let deactivated = match v3 {
        true => deactivated,
        // v2: deactivated users only with `deactivated=true`.
        false => match deactivated {
            Some(true) => None,
            _ => Some(false),
        },
    };
    let admins = query_bool(&pairs, "admins")?;
    let locked = match query_bool(&pairs, "locked")? {
        Some(true) => None,
        _ => Some(false),
    };
    let order = match query_str(&pairs, "order_by") {
        None => UserOrder::Name,
        Some(v) => UserOrder::parse(v).ok_or_else(|| {
            Error::invalid_param(format!(
                "Query parameter \"order_by\" must be one of {ORDERS}"
            ))
        })?,
    };
    let backwards = match query_str(&pairs, "dir") {
        None | Some("f") => false,
        Some("b") => true,
        Some(_) => {
            return Err(Error::invalid_param(
                "Query parameter \"dir\" must be one of ['b', 'f']",
            ))
        }
    };
    let q = UserListQuery {
        name: query_str(&pairs, "name").map(str::to_owned),
        user_id: query_str(&pairs, "user_id").map(str::to_owned),
        guests: (!guests).then_some(false),
        deactivated,
        admins,
        locked,
        not_user_types: pairs
            .iter()
            .filter(|(k, _)| k == "not_user_type")
            .map(|(_, v)| v.clone())
            .collect(),
        order,
        backwards,
        after,
        offset,
        limit,
    };
    let (page, more) = state.auth.admin_list_users(&q).await?;
    let users: Vec<Value> = page.users.iter().map(row_json).collect();
    let mut answer = json!({ "users": users, "total": page.total });
    if let (true, Some(last)) = (more, &page.last) {
        answer["next_token"] = json!(encode_token(last));
    }
    Ok(Json(answer))
}

/// `GET /_synapse/admin/v2/users`.
pub async fn list_users_v2(
    State(state): State<AppState>,
    Authed(requester): Authed,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>> {
    require_admin(&requester)?;
    list_users(state, query, false).await
}

/// `GET /_synapse/admin/v3/users`: `deactivated` is a filter both ways.
pub async fn list_users_v3(
    State(state): State<AppState>,
    Authed(requester): Authed,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>> {
    require_admin(&requester)?;
    list_users(state, query, true).await
}

/// `PUT /_synapse/admin/v1/suspend/{user_id}`.
pub async fn suspend(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(raw): Path<String>,
    body: std::result::Result<RequiredJsonObject, Error>,
) -> Result<Json<Value>> {
    require_admin(&requester)?;
    let user_id = local_user_id(&state, &raw, "Can only suspend local users")?;
    let user = state.auth.admin_local_user(&user_id).await?;
    let body = body?;
    let suspend = match body.0.get("suspend") {
        None => return Err(Error::missing_param("Missing params: ['suspend']")),
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::bad_json("'suspend' must be a boolean")),
    };
    state.auth.admin_set_suspended(&user, suspend).await?;
    Ok(Json(
        json!({ format!("user_{user_id}_suspended"): suspend }),
    ))
}

/// `POST /_synapse/admin/v1/deactivate/{user_id}`.
pub async fn deactivate(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(raw): Path<String>,
    body: std::result::Result<JsonObject, Error>,
) -> Result<Json<Value>> {
    require_admin(&requester)?;
    let user_id = local_user_id(&state, &raw, "Can only deactivate local users")?;
    let body = body?;
    let erase = match body.0.get("erase") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::bad_json("Param 'erase' must be a boolean, if given")),
    };
    state.auth.admin_deactivate_user(&user_id, erase).await?;
    // mxauth binds no address at an identity server: every one of none
    // was unbound (Synapse says so too when nothing was bound).
    Ok(Json(json!({ "id_server_unbind_result": "success" })))
}

/// `POST /_synapse/admin/v1/reset_password/{user_id}`.
pub async fn reset_password(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(raw): Path<String>,
    body: std::result::Result<RequiredJsonObject, Error>,
) -> Result<Json<Value>> {
    require_admin(&requester)?;
    let user_id = parse_user_id(&raw)
        .ok_or_else(|| Error::invalid_param("Expected UserID of the form '@localname:domain'"))?;
    let body = body?;
    let password = match body.0.get("new_password") {
        None => return Err(Error::missing_param("Missing params: ['new_password']")),
        Some(Value::String(p)) if p.chars().count() <= MAX_PASSWORD_LEN && !p.contains('\0') => {
            Zeroizing::new(p.clone())
        }
        Some(Value::String(_)) => return Err(unknown("Invalid password")),
        // Synapse answers 500 here.
        Some(_) => return Err(Error::bad_json("'new_password' must be a string")),
    };
    let logout_devices = match body.0.get("logout_devices") {
        None => true,
        Some(Value::Bool(b)) => *b,
        // Synapse takes any value for its truth ("false" logs out).
        Some(_) => return Err(Error::bad_json("'logout_devices' must be a boolean")),
    };
    state
        .auth
        .admin_reset_password(&requester, &user_id, &password, logout_devices)
        .await?;
    Ok(Json(json!({})))
}

/// `GET /_synapse/admin/v1/users/{user_id}/admin`.
pub async fn get_admin(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(raw): Path<String>,
) -> Result<Json<Value>> {
    require_admin(&requester)?;
    let user_id = local_user_id(
        &state,
        &raw,
        "Only local users can be admins of this homeserver",
    )?;
    let user = state.auth.admin_local_user(&user_id).await?;
    Ok(Json(json!({ "admin": user.admin })))
}

/// `PUT /_synapse/admin/v1/users/{user_id}/admin`.
pub async fn put_admin(
    State(state): State<AppState>,
    Authed(requester): Authed,
    Path(raw): Path<String>,
    body: std::result::Result<RequiredJsonObject, Error>,
) -> Result<Json<Value>> {
    require_admin(&requester)?;
    let user_id = parse_user_id(&raw)
        .ok_or_else(|| Error::invalid_param("Expected UserID of the form '@localname:domain'"))?;
    let body = body?;
    let admin = match body.0.get("admin") {
        None => return Err(Error::missing_param("Missing params: ['admin']")),
        Some(Value::Bool(b)) => *b,
        // Synapse takes any value for its truth: "false" promotes.
        Some(_) => return Err(Error::bad_json("'admin' must be a boolean")),
    };
    if !is_local(&user_id, state.auth.server_name()) {
        return Err(unknown("Only local users can be admins of this homeserver"));
    }
    state
        .auth
        .admin_put_admin(&requester.user_id, &user_id, admin)
        .await?;
    Ok(Json(json!({})))
}
