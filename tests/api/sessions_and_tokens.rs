//! Tokens and sessions: no raw access token reaches the database (a UIA
//! session's URI), `session_lifetime` and `nonrefreshable_access_token_lifetime`
//! bound a login, and every path that takes a `device_id` checks it alike.

use crate::both;
use crate::support::{assert_error, db_i64, Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

both!(uia_session_stores_no_access_token,);

async fn uia_session_stores_no_access_token(b: Backend) {
    let s = TestServer::start(b).await;
    let (user, token, _) = s.register("alice", "alice-pw").await;
    let (_, device) = s.login("alice", "alice-pw").await;
    // The first request sends its token in the query, as old clients do.
    let url = format!(
        "{}/_matrix/client/v3/devices/{device}?access_token={token}",
        s.base
    );
    let res = s.raw().delete(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge: Value = res.json().await.unwrap();
    let session = challenge["session"].as_str().expect("a UIA session").to_owned();
    let stored = format!(
        "SELECT COUNT(*) FROM uia_sessions WHERE uri LIKE '%access_token%' OR uri LIKE '%{token}%'"
    );
    assert_eq!(db_i64(&s.db, &stored).await, 0, "a raw token was stored");
    assert_eq!(
        db_i64(
            &s.db,
            "SELECT COUNT(*) FROM uia_sessions WHERE uri LIKE '%/devices/%'"
        )
        .await,
        1
    );

    // The session goes on with the token in the header: same operation.
    let body = json!({"auth": TestServer::password_auth(&json!(session), &user, "alice-pw")});
    let res = s
        .raw()
        .delete(format!("{}/_matrix/client/v3/devices/{device}", s.base))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    let gone = s
        .get(&format!("/_matrix/client/v3/devices/{device}"), Some(&token))
        .await;
    assert_error(&gone, 404, "M_NOT_FOUND");
}
