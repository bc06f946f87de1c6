//! HTTP: routes, extractors and the Matrix wire format. Knows nothing of
//! SQL; every decision is asked of [`crate::auth`].

pub mod error;
pub mod extract;
pub mod html;
pub mod observe;
pub mod routes;

use crate::auth::Auth;
use crate::error::{ErrCode, Error};
use crate::templates::Templates;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use routes::{
    account, admin, consent, devices, fallback, login, logout, oauth, refresh, register,
    registration_tokens, versions,
};
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{Any, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    /// Behind one `Arc`: the state is cloned for every extractor and
    /// middleware of every request, and `Auth` is some twenty `Arc`s.
    pub auth: Arc<Auth>,
    /// Trust `X-Forwarded-For` (the listener's `x_forwarded`).
    pub x_forwarded: bool,
    /// The HTML pages (built in, or the admin's `custom_template_directory`).
    pub templates: Arc<Templates>,
}

/// `POST /_matrix/client/v1/refresh`: matrix-js-sdk falls back to it when
/// the v3 path is unrecognized (Synapse serves r0, v3 and unstable).
fn v1_refresh(state: &AppState) -> Router<AppState> {
    match state.auth.legacy_refresh_enabled() {
        true => Router::new().route("/_matrix/client/v1/refresh", post(refresh::refresh)),
        false => Router::new(),
    }
}

/// Where the metrics are served: `GET /_synapse/metrics` (Synapse's path).
pub const METRICS_PATH: &str = "/_synapse/metrics";

/// A `type: metrics` listener's router: the metrics at [`METRICS_PATH`]
/// and `/metrics`, and nothing else (404 for every other path).
pub fn metrics_router(state: AppState) -> Router {
    let auth = state.auth.clone();
    Router::new()
        .route(METRICS_PATH, get(routes::operations::metrics))
        .route("/metrics", get(routes::operations::metrics))
        .fallback(|| async { Error::unrecognized(404, "Unrecognized request") })
        .method_not_allowed_fallback(|| async {
            Error::new(405, ErrCode::Unrecognized, "Unrecognized request")
        })
        .layer(axum::middleware::from_fn_with_state(auth, observe::observe))
        .with_state(state)
}

/// The whole HTTP surface of an `http` listener; with `serve_metrics`
/// (the listener lists the `metrics` resource and `enable_metrics` is
/// true) also the metrics at [`METRICS_PATH`].
///
/// `GET /health` is readiness (200 `OK` while the database answers, else
/// 503), `GET /health/live` liveness (200 `OK`, touching nothing).
pub fn router(state: AppState, serve_metrics: bool) -> Router {
    let client = Router::new()
        .route("/login", get(login::get_flows).post(login::login))
        .route("/register", post(register::register))
        .route("/register/available", get(register::available))
        .route("/logout", post(logout::logout))
        .route("/logout/all", post(logout::logout_all))
        .route("/account/whoami", get(account::whoami))
        .route("/account/password", post(routes::threepid::password))
        .route("/account/deactivate", post(account::deactivate))
        .route("/capabilities", get(versions::capabilities))
        .route("/devices", get(devices::list))
        .route(
            "/devices/{device_id}",
            get(devices::get).put(devices::put).delete(devices::delete),
        )
        .route("/delete_devices", post(devices::delete_many))
        .route("/admin/whois/{user_id}", get(admin::whois))
        .route("/login/sso/redirect", get(routes::oauth_compat::redirect))
        .route(
            "/login/sso/redirect/{idp_id}",
            get(routes::sso::redirect_to),
        )
        .route(
            "/auth/{auth_type}/fallback/web",
            get(fallback::get).post(fallback::post),
        )
        .merge(routes::threepid::client_routes());

    let admin = Router::new()
        .route(
            "/v1/register",
            get(admin::register_nonce).post(admin::register),
        )
        .route("/v1/users/{user_id}/login", post(admin::login_as))
        .route(
            "/v1/users/{user_id}/override_ratelimit",
            get(admin::override_ratelimit)
                .post(admin::override_ratelimit)
                .delete(admin::override_ratelimit),
        )
        .route("/v1/whois/{user_id}", get(admin::whois))
        .route("/v1/registration_tokens", get(registration_tokens::list))
        .route(
            "/v1/registration_tokens/new",
            post(registration_tokens::create),
        )
        .route(
            "/v1/registration_tokens/{token}",
            get(registration_tokens::get)
                .put(registration_tokens::update)
                .delete(registration_tokens::delete),
        )
        .merge(routes::admin_users::routes());
    // As Synapse: served only while refresh tokens are on.
    let client = if state.auth.legacy_refresh_enabled() {
        client.route("/refresh", post(refresh::refresh))
    } else {
        client
    };

    let max_body = state.auth.config.mxauth.max_request_body_bytes;
    let operations = match serve_metrics {
        true => Router::new().route(METRICS_PATH, get(routes::operations::metrics)),
        false => Router::new(),
    };
    let auth = state.auth.clone();
    Router::new()
        .route("/_matrix/client/versions", get(versions::versions))
        .route("/health", get(routes::operations::ready))
        .route("/health/live", get(routes::operations::live))
        .route("/_matrix/consent", get(consent::page))
        .route(
            "/_matrix/client/v1/register/m.login.registration_token/validity",
            get(registration_tokens::validity),
        )
        .route(
            "/_matrix/client/v1/login/get_token",
            post(routes::sso::get_token),
        )
        .route(INTROSPECTION_PATH, post(oauth::introspect))
        .route("/authorize", get(routes::oauth_pages::authorize))
        .route(
            routes::oauth_pages::LOGIN_PATH,
            get(routes::oauth_pages::login_page).post(routes::oauth_pages::login_submit),
        )
        .route(
            routes::oauth_pages::CONSENT_PATH,
            get(routes::oauth_pages::consent_page).post(routes::oauth_pages::consent_submit),
        )
        .route(
            routes::oauth_pages::LOGOUT_PATH,
            get(routes::oauth_pages::logout),
        )
        .route(
            routes::oauth_browser::COMPAT_COMPLETE_PATH,
            get(routes::oauth_compat::complete),
        )
        .route(
            "/oauth2/upstream/{idp_id}",
            get(routes::oauth_pages::upstream),
        )
        .route(
            routes::oauth_pages::REGISTER_PATH,
            get(routes::oauth_pages::register_page).post(routes::oauth_pages::register_submit),
        )
        .route(
            routes::oauth_browser::ACCOUNT_PATH,
            get(routes::account_pages::show).post(routes::account_forms::submit),
        )
        .route("/account", get(routes::account_pages::without_slash))
        .route("/oauth2/token", post(routes::oauth_token::token))
        .route(
            routes::oauth_device::DEVICE_AUTHORIZATION_PATH,
            post(routes::oauth_device::device_authorization),
        )
        .route(
            routes::oauth_device::LINK_PATH,
            get(routes::oauth_device::link_page).post(routes::oauth_device::link_submit),
        )
        .route(
            routes::oauth_device::DEVICE_CONSENT_PATH,
            get(routes::oauth_device::consent_page).post(routes::oauth_device::consent_submit),
        )
        .route("/oauth2/revoke", post(routes::oauth_token::revoke))
        .route(
            "/oauth2/userinfo",
            get(routes::oauth_token::userinfo).post(routes::oauth_token::userinfo),
        )
        .route("/_synapse/client/oidc/callback", get(routes::sso::callback))
        .route(
            "/_synapse/client/pick_username/account_details",
            get(routes::sso::picker_form).post(routes::sso::picker_submit),
        )
        .route(
            "/_synapse/client/pick_username/check",
            get(routes::sso::picker_check),
        )
        .route(
            "/.well-known/openid-configuration",
            get(oauth::openid_configuration),
        )
        .merge(v1_refresh(&state))
        .route(
            "/_matrix/client/v1/auth_metadata",
            get(oauth::auth_metadata),
        )
        .route(
            "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata",
            get(oauth::auth_metadata),
        )
        .route("/oauth2/keys.json", get(oauth::jwks))
        .route(
            "/oauth2/registration",
            post(routes::oauth_registration::register).layer(DefaultBodyLimit::max(
                routes::oauth_registration::MAX_BODY_BYTES.min(max_body),
            )),
        )
        .nest("/_matrix/client/v3", client.clone())
        .nest("/_matrix/client/r0", client)
        .nest("/_synapse/admin", admin)
        .merge(routes::threepid::root_routes())
        .merge(routes::admin_devices::routes())
        .merge(routes::admin_lookups::routes())
        .merge(operations)
        .fallback(|| async { Error::unrecognized(404, "Unrecognized request") })
        .method_not_allowed_fallback(|| async {
            Error::new(405, ErrCode::Unrecognized, "Unrecognized request")
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forget_own_token_changes,
        ))
        .layer(axum::middleware::map_response(html_security_headers))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-store, must-revalidate"),
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                tracing::error!("a handler panicked");
                internal_error_response()
            },
        ))
        .layer(cors())
        // One log line and the metrics of each request (outermost: it
        // sees the status the client gets).
        .layer(axum::middleware::from_fn_with_state(auth, observe::observe))
        .with_state(state)
}

/// Where a delegating homeserver asks whose token it was sent.
const INTROSPECTION_PATH: &str = "/oauth2/introspect";

/// A request that may have written (any but GET, HEAD, OPTIONS) has its
/// changes to tokens and users forgotten by this process's token cache
/// before its response goes out: a client that logged out here finds its
/// token dead here at once (other processes, within the feed's delay).
async fn forget_own_token_changes(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // Introspection (a delegating homeserver's every request) is a POST
    // that only reads.
    let writes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) && request.uri().path() != INTROSPECTION_PATH;
    let response = next.run(request).await;
    if writes {
        state.auth.token_cache.sync().await;
    }
    response
}

/// What every HTML page may not be: framed by another site (clickjacking a
/// consent, a confirmation or a password form), or made to load plugins or
/// rebase its links. Set here, for every `text/html` response, so no page
/// can forget it (Synapse's `set_clickjacking_protection_headers`).
const HTML_CSP: &str = "frame-ancestors 'none'; object-src 'none'; base-uri 'none'";

async fn html_security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if is_html {
        let headers = response.headers_mut();
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(HTML_CSP),
        );
    }
    response
}

/// The CORS headers the spec asks for, on every response.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::HeaderName::from_static("x-requested-with"),
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
        ])
        .max_age(Duration::from_secs(86400))
}

/// For a 500 raised by a panic (which must not happen): the bare body.
pub fn internal_error_response() -> axum::response::Response {
    Error::Internal.into_response()
}
