//! `GET|POST /auth/{type}/fallback/web?session=`: HTML pages that let a
//! user complete a UIA stage the client cannot show itself. Once the stage
//! is done the page calls `window.onAuthDone()` if defined, and posts
//! "authDone" to `window.opener`, as the spec says. The stage is checked
//! by the same engine as the API, so the flow can go on on any process.

use crate::auth::sso::LOGIN_TYPE_SSO as SSO;
use crate::auth::uia::{
    password::PASSWORD, recaptcha::RECAPTCHA, registration_token::REGISTRATION_TOKEN, terms::TERMS,
};
use crate::error::{Error, Result};
use crate::http::extract::form_urlencoded_pairs;
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub(crate) fn page(title: &str, body: &str, extra_head: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title>{extra_head}\
         <style>body{{font-family:sans-serif;max-width:30em;margin:3em auto;padding:0 1em}}\
         .error{{color:#b00}}</style></head><body>{body}</body></html>",
        escape(title)
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// Which stages have a fallback page: the registry says
/// (`Stage::fallback_page`).
fn check_type(state: &AppState, kind: &str) -> Result<()> {
    if state.auth.uia_stages.fallback_page(kind).is_some() {
        Ok(())
    } else {
        Err(Error::unrecognized(
            404,
            "No fallback page for this auth type",
        ))
    }
}

fn query(uri: &axum::http::Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| form_urlencoded_pairs(q).collect())
        .unwrap_or_default()
}

/// The form for `kind`, with an error line when a try failed.
async fn form(
    state: &AppState,
    kind: &str,
    session_id: &str,
    error: Option<&str>,
) -> Result<Response> {
    let (session, _) = state.auth.fallback_session(session_id).await?;
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let hidden = format!(
        "<input type=\"hidden\" name=\"session\" value=\"{}\">",
        escape(session_id)
    );
    let config = &state.auth.config;
    let (title, fields, head) = match kind {
        RECAPTCHA => {
            let key = config.recaptcha.as_ref().map(|r| r.public_key.as_str()).unwrap_or("");
            (
                "Are you a robot?",
                format!(
                    "<p>Please confirm that you are not a robot.</p>\
                     <div class=\"g-recaptcha\" data-sitekey=\"{}\"></div>\
                     <noscript><p>This page needs JavaScript for the captcha.</p></noscript>",
                    escape(key)
                ),
                "<script src=\"https://www.recaptcha.net/recaptcha/api.js\" async defer></script>".to_owned(),
            )
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
            (
                "Terms and conditions",
                format!(
                    "<p>Please read and accept the <a href=\"{}\" target=\"_blank\" rel=\"noopener\">{}</a>.</p>\
                     <label><input type=\"checkbox\" name=\"accept\" value=\"yes\" id=\"accept\" required> \
                     I have read and agree to the {}</label>",
                    escape(&url),
                    escape(&name),
                    escape(&name)
                ),
                String::new(),
            )
        }
        REGISTRATION_TOKEN => (
            "Registration token",
            "<label for=\"token\">Registration token</label> \
             <input type=\"text\" name=\"token\" id=\"token\" required autocomplete=\"off\">"
                .to_owned(),
            String::new(),
        ),
        PASSWORD => (
            "Confirm your identity",
            format!(
                "<p id=\"operation\">A client is trying to <strong>{}</strong>.</p>\
                 <p>Enter the password of <strong>{}</strong> to confirm.</p>\
                 <label for=\"password\">Password</label> \
                 <input type=\"password\" name=\"password\" id=\"password\" required autocomplete=\"current-password\">",
                escape(&crate::auth::sso::operation_description(&session.method, &session.uri)),
                escape(session.user_id.as_deref().unwrap_or(""))
            ),
            String::new(),
        ),
        _ => (
            "Continue",
            "<p>Press the button to continue.</p>".to_owned(),
            String::new(),
        ),
    };
    Ok(page(
        title,
        &format!(
            "<h1>{}</h1>{error}<form method=\"post\">{hidden}{fields}\
             <p><input type=\"submit\" id=\"submit\" value=\"Continue\"></p></form>",
            escape(title)
        ),
        &head,
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
        return super::sso::uia_fallback(&state, &uri, session, q.get("idp_id")).await;
    }
    form(&state, &kind, session, None).await
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
        Some(failure) => form(&state, &kind, &session_id, Some(&failure)).await,
        None => Ok(page(
            "Done",
            "<h1>Thank you</h1><p>You may now close this window and return to the application.</p>\
             <script>\
             if (window.onAuthDone) { window.onAuthDone(); }\
             else if (window.opener && window.opener.postMessage) { window.opener.postMessage(\"authDone\", \"*\"); }\
             </script>",
            "",
        )),
    }
}
