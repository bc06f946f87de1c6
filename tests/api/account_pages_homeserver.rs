//! The account pages with a homeserver (`matrix:`), which this test plays:
//! the display name goes to its `set_displayname` / `unset_displayname`,
//! the cross-signing reset to its `allow_cross_signing_reset`; without a
//! homeserver the reset is not offered. The metadata's actions follow.

use crate::account_pages::{csrf_of, log_in_at, post_op, profile_body, PASSWORD};
use crate::both;
use crate::oauth_support::*;
use crate::sso::Browser;
use crate::support::{Backend, TestServerBuilder, SERVER_NAME};
use axum::routing::post;
use mxauth::config::{MatrixConfig, Secret};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

both!(
    the_display_name_is_set_here_and_at_the_homeserver,
    cross_signing_reset_is_allowed_at_the_homeserver,
    without_a_homeserver_there_is_no_cross_signing_reset,
);

/// A homeserver for the tests: answers every `/_synapse/mas/*` call with
/// 200 and notes it (kind, body).
pub(crate) type Calls = Arc<Mutex<Vec<(String, Value)>>>;

pub(crate) async fn fake_synapse() -> (String, Calls) {
    let calls: Calls = Arc::default();
    let record = calls.clone();
    let app = axum::Router::new().route(
        "/_synapse/mas/{kind}",
        post(
            move |axum::extract::Path(kind): axum::extract::Path<String>,
                  axum::Json(body): axum::Json<Value>| {
                let record = record.clone();
                async move {
                    record.lock().unwrap().push((kind, body));
                    axum::Json(json!({}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/"), calls)
}

pub(crate) fn with_homeserver(
    builder: TestServerBuilder<'_>,
    endpoint: String,
) -> TestServerBuilder<'_> {
    builder.config(move |c| {
        c.matrix = Some(MatrixConfig {
            kind: "synapse".into(),
            homeserver: SERVER_NAME.into(),
            endpoint,
            secret: Secret::new("a secret shared with the homeserver"),
            account_management_uri: None,
        });
    })
}

pub(crate) fn calls_of(calls: &Calls, kind: &str) -> Vec<Value> {
    calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, v)| v.clone())
        .collect()
}

async fn the_display_name_is_set_here_and_at_the_homeserver(b: Backend) {
    let (endpoint, calls) = fake_synapse().await;
    let s = with_homeserver(oauth_builder(b), endpoint).start().await;
    s.register("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let profile = log_in_at(
        &s,
        &mut browser,
        "/account/?action=org.matrix.profile",
        "alice",
        PASSWORD,
    )
    .await;
    let csrf = csrf_of(&profile.body);
    let saved = post_op(
        &s,
        &mut browser,
        &csrf,
        "displayname",
        &[("displayname", "Alice <Liddell>")],
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(
        saved.body.contains("value=\"Alice &lt;Liddell&gt;\""),
        "{}",
        saved.body
    );
    assert_eq!(
        calls_of(&calls, "set_displayname"),
        [json!({"localpart": "alice", "displayname": "Alice <Liddell>"})]
    );
    let too_long = "x".repeat(257);
    let refused = post_op(
        &s,
        &mut browser,
        &csrf,
        "displayname",
        &[("displayname", &too_long)],
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let cleared = post_op(
        &s,
        &mut browser,
        &csrf,
        "displayname",
        &[("displayname", " ")],
    )
    .await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert!(cleared.body.contains("name=\"displayname\" value=\"\""));
    assert_eq!(
        calls_of(&calls, "unset_displayname"),
        [json!({"localpart": "alice"})]
    );
}

async fn cross_signing_reset_is_allowed_at_the_homeserver(b: Backend) {
    let (endpoint, calls) = fake_synapse().await;
    let s = with_homeserver(oauth_builder(b), endpoint).start().await;
    let (_, meta) = s.get("/_matrix/client/v1/auth_metadata", None).await;
    let actions = meta["account_management_actions_supported"]
        .as_array()
        .unwrap();
    assert!(
        actions.contains(&json!("org.matrix.cross_signing_reset")),
        "{meta}"
    );
    assert_eq!(meta["account_management_uri"], format!("{ISSUER}account/"));
    s.register("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let page = log_in_at(
        &s,
        &mut browser,
        "/account/?action=org.matrix.cross_signing_reset",
        "alice",
        PASSWORD,
    )
    .await;
    assert!(
        page.body.contains("id=\"cross-signing-form\""),
        "{}",
        page.body
    );
    // The page alone allows nothing.
    assert!(calls_of(&calls, "allow_cross_signing_reset").is_empty());
    let csrf = csrf_of(&page.body);
    let refused = post_op(&s, &mut browser, "bad", "cross_signing_reset", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(calls_of(&calls, "allow_cross_signing_reset").is_empty());
    let allowed = post_op(&s, &mut browser, &csrf, "cross_signing_reset", &[]).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    assert_eq!(
        calls_of(&calls, "allow_cross_signing_reset"),
        [json!({"localpart": "alice"})]
    );
}

async fn without_a_homeserver_there_is_no_cross_signing_reset(b: Backend) {
    let s = oauth_server(b).await;
    let (_, meta) = s.get("/_matrix/client/v1/auth_metadata", None).await;
    let actions = meta["account_management_actions_supported"]
        .as_array()
        .unwrap();
    assert!(
        !actions.contains(&json!("org.matrix.cross_signing_reset")),
        "{meta}"
    );
    assert!(
        actions.contains(&json!("org.matrix.devices_list")),
        "{meta}"
    );
    s.register("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let page = log_in_at(
        &s,
        &mut browser,
        "/account/?action=org.matrix.cross_signing_reset",
        "alice",
        PASSWORD,
    )
    .await;
    // The overview, without the action.
    assert!(page.body.contains("id=\"links\""), "{}", page.body);
    assert!(!page.body.contains("cross-signing"), "{}", page.body);
    let csrf = csrf_of(&profile_body(&s, &mut browser).await);
    let refused = post_op(&s, &mut browser, &csrf, "cross_signing_reset", &[]).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
}
