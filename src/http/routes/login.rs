//! `GET /login` (the flows) and `POST /login`.

use crate::auth::identifiers::{parse_identifier, DeviceId};
use crate::auth::login::{APP_SERVICE_LOGIN_TYPE, LOGIN_TYPE_PASSWORD};
use crate::auth::sso::login_token::LOGIN_TYPE_TOKEN;
use crate::auth::Session;
use crate::error::Result;
use crate::http::extract::access_token_from;
use crate::http::extract::{ClientIp, JsonObject};
use crate::http::AppState;
use axum::extract::OriginalUri;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

pub async fn get_flows(State(state): State<AppState>) -> Json<Value> {
    let flows: Vec<Value> = state
        .auth
        .login_flows()
        .into_iter()
        .map(|t| json!({ "type": t }))
        .chain(super::sso::login_flows(&state.auth))
        .collect();
    Json(json!({ "flows": flows }))
}

#[derive(Deserialize)]
struct LoginBody {
    #[serde(rename = "type")]
    kind: String,
    // Only checked to be a string here; validate_login reads it.
    #[serde(rename = "password")]
    _password: Option<String>,
    device_id: Option<String>,
    initial_device_display_name: Option<String>,
    /// Spec v1.3: the client can refresh (given only while refresh tokens
    /// are on, as in Synapse).
    refresh_token: Option<bool>,
}

/// `POST /login`, counted in `mxauth_logins_total` by type and outcome.
pub async fn login(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    body: JsonObject,
) -> Result<Json<Value>> {
    let login_type = body.0.get("type").and_then(Value::as_str).unwrap_or("");
    let label = login_type_label(&state.auth, login_type);
    let result = log_in(&state, &uri, &headers, ip, &body).await;
    state
        .auth
        .metrics
        .logins
        .with_label_values(&[label, crate::http::observe::outcome_label(&result)])
        .inc();
    result
}

/// A login type as a metrics label: one the server knows (built in or a
/// configured provider's), else `other`: a client's string never becomes
/// a label.
fn login_type_label<'a>(auth: &'a crate::auth::Auth, login_type: &str) -> &'a str {
    [
        LOGIN_TYPE_PASSWORD,
        LOGIN_TYPE_TOKEN,
        APP_SERVICE_LOGIN_TYPE,
        crate::auth::providers::jwt::LOGIN_TYPE_JWT,
    ]
    .into_iter()
    .chain(auth.login_flows())
    .find(|known| *known == login_type)
    .unwrap_or("other")
}

async fn log_in(
    state: &AppState,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    ip: Option<String>,
    body: &JsonObject,
) -> Result<Json<Value>> {
    let fields: LoginBody = body.parse()?;
    let options = state
        .auth
        .legacy_session_options(fields.refresh_token.unwrap_or(false));
    // Every login type checks its device the same way, before anything else.
    let device_id = fields.device_id.map(DeviceId::parse).transpose()?;
    if let Some(name) = &fields.initial_device_display_name {
        crate::auth::check_device_display_name(name)?;
    }
    let as_token = match fields.kind.as_str() {
        APP_SERVICE_LOGIN_TYPE => access_token_from(headers, uri).ok(),
        _ => None,
    };
    // Before any credential is looked at, every login type.
    state
        .auth
        .limit_login_address(ip.as_deref(), as_token.as_deref())
        .await?;
    match fields.kind.as_str() {
        APP_SERVICE_LOGIN_TYPE => {
            let token = as_token;
            let identifier = parse_identifier(&body.0)?;
            let session = state
                .auth
                .login_as_app_service(
                    token.as_deref(),
                    ip.as_deref(),
                    &identifier,
                    device_id,
                    fields.initial_device_display_name.as_deref(),
                    &options,
                )
                .await?;
            Ok(Json(session_json(state, &session)))
        }
        LOGIN_TYPE_TOKEN if state.auth.login_token_enabled() => {
            let session = super::sso::login_with_token(state, body, device_id, &options).await?;
            Ok(Json(session_json(state, &session)))
        }
        // m.login.password and the providers' types.
        other => {
            let session = state
                .auth
                .login(
                    other,
                    &body.0,
                    device_id,
                    fields.initial_device_display_name.as_deref(),
                    &options,
                )
                .await?;
            Ok(Json(session_json(state, &session)))
        }
    }
}

/// The body of a successful login or registration; `expires_in_ms` when
/// the token expires, and `refresh_token` when the session is refreshable,
/// as Synapse sends them.
pub fn session_json(state: &AppState, session: &Session) -> Value {
    let mut body = json!({
        "user_id": session.user_id,
        "access_token": session.access_token.expose(),
        "device_id": session.device_id,
        "home_server": state.auth.server_name(),
    });
    if let Some(until) = session.valid_until_ts {
        body["expires_in_ms"] = json!((until - state.auth.clock.now_ms()).max(0));
    }
    if let Some(refresh) = &session.refresh_token {
        body["refresh_token"] = json!(refresh.expose());
    }
    body
}
