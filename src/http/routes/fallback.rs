//! `GET|POST /auth/{type}/fallback/web?session=`: HTML pages that let a
//! user complete a UIA stage the client cannot show itself. Once the stage
//! is done the page calls `window.onAuthDone()` if defined, and posts
//! "authDone" to `window.opener`, as the spec says. The stage is checked
//! by the same engine as the API, so the flow can go on on any process.
//! Each stage has a template of its own (`templates/<name>.html`, rendered
//! by [`render_fallback`]); a stage without one has no fallback page (404).

use crate::auth::sso::LOGIN_TYPE_SSO as SSO;
use crate::auth::uia::{
    password::PASSWORD, recaptcha::RECAPTCHA, registration_token::REGISTRATION_TOKEN, terms::TERMS,
};
use crate::error::{Error, Result};
use crate::http::extract::form_urlencoded_pairs;
use crate::http::html::{page, render_fallback};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The fallback page of each stage that has one: the registry says
/// (`Stage::fallback_page`), by template name (the files are in
/// `templates/`; an admin may override each by name).
fn check_type(state: &AppState, kind: &str) -> Result<&'static str> {
    state
        .auth
        .uia_stages
        .fallback_page(kind)
        .ok_or_else(|| Error::unrecognized(404, "No fallback page for this auth type"))
}

fn query(uri: &axum::http::Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| form_urlencoded_pairs(q).collect())
        .unwrap_or_default()
}

/// The page of `kind`, with an error line when a try failed.
async fn form(
    state: &AppState,
    uri: &axum::http::Uri,
    kind: &str,
    session_id: &str,
    error: Option<&str>,
) -> Result<Response> {
    let template = check_type(state, kind)?;
    if kind == SSO {
        return super::sso::uia_page(state, uri, session_id, error).await;
    }
    let (session, _) = state.auth.fallback_session(session_id).await?;
    let config = &state.auth.config;
    let stage = match kind {
        RECAPTCHA => {
            let key = config
                .recaptcha
                .as_ref()
                .map(|r| r.public_key.as_str())
                .unwrap_or("");
            context! { sitekey => key }
        }
        TERMS => {
            let (name, url) = match &config.user_consent {
                Some(c) => (
                    c.policy_name.clone(),
                    format!(
                        "{}_matrix/consent?v={}",
                        config.public_baseurl.as_deref().unwrap_or("/"),
                        c.version
                    ),
                ),
                None => ("Terms".to_owned(), String::new()),
            };
            context! { policy_name => name, terms_url => url }
        }
        PASSWORD => context! {
            description => crate::auth::sso::operation_description(&session.method, &session.uri),
            user_id => session.user_id.as_deref().unwrap_or(""),
        },
        _ => context! {},
    };
    Ok(render_fallback(
        &state.templates,
        template,
        uri.path(),
        session_id,
        error,
        stage,
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response> {
    check_type(&state, &kind)?;
    let q = query(&uri);
    let session = q
        .get("session")
        .ok_or_else(|| Error::missing_param("Missing param: session"))?;
    if kind == SSO {
        if let Some(idp) = q.get("idp_id") {
            return super::sso::start_uia(&state, session, idp).await;
        }
    }
    form(&state, &uri, &kind, session, None).await
}

pub async fn post(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Response> {
    check_type(&state, &kind)?;
    let mut fields: HashMap<String, String> = query(&uri);
    fields.extend(form_urlencoded_pairs(
        std::str::from_utf8(&body).unwrap_or(""),
    ));
    let session_id = fields
        .get("session")
        .cloned()
        .ok_or_else(|| Error::missing_param("Missing param: session"))?;
    let mut auth = Map::new();
    auth.insert("type".into(), json!(kind));
    match kind.as_str() {
        RECAPTCHA => {
            let response = fields
                .get("g-recaptcha-response")
                .cloned()
                .unwrap_or_default();
            auth.insert("response".into(), json!(response));
        }
        TERMS if fields.get("accept").map(String::as_str) != Some("yes") => {
            return form(
                &state,
                &uri,
                &kind,
                &session_id,
                Some("Please accept the terms to continue."),
            )
            .await;
        }
        REGISTRATION_TOKEN => {
            auth.insert(
                "token".into(),
                json!(fields.get("token").cloned().unwrap_or_default()),
            );
        }
        PASSWORD => {
            let (session, _) = state.auth.fallback_session(&session_id).await?;
            let user = session.user_id.unwrap_or_default();
            auth.insert(
                "identifier".into(),
                json!({"type": "m.id.user", "user": user}),
            );
            auth.insert(
                "password".into(),
                Value::String(fields.get("password").cloned().unwrap_or_default()),
            );
        }
        _ => {}
    }
    match state
        .auth
        .complete_stage_via_fallback(&session_id, &kind, &auth)
        .await?
    {
        Some(failure) => form(&state, &uri, &kind, &session_id, Some(&failure)).await,
        None => Ok(page(
            &state.templates,
            StatusCode::OK,
            "auth_success.html",
            context! {},
        )),
    }
}
