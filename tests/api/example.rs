//! `examples/custom_provider.rs`, compiled into the tests: the program's
//! own `build_server` mounts mxauth with its provider, and its login type
//! works end to end.

#[path = "../../examples/custom_provider.rs"]
#[allow(dead_code)]
mod custom_provider;

use crate::both;
use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

both!(custom_provider_example);

async fn custom_provider_example(backend: Backend) {
    let server = TestServer::builder(backend)
        .start_built_by(custom_provider::build_server)
        .await;

    let (_, flows) = server.get("/_matrix/client/v3/login", None).await;
    assert_eq!(
        flows["flows"],
        json!([{"type": "m.login.password"}, {"type": custom_provider::MY_LOGIN_TYPE}])
    );
    let login = |body| server.post("/_matrix/client/v3/login", None, body);
    let my_type = custom_provider::MY_LOGIN_TYPE;
    let (status, res) =
        login(json!({"type": my_type, "user": "bob", "my_field": "building"})).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], format!("@bob:{SERVER_NAME}"));
    let (status, me) = server
        .get(
            "/_matrix/client/v3/account/whoami",
            res["access_token"].as_str(),
        )
        .await;
    assert_eq!(
        (status, me["user_id"].clone()),
        (StatusCode::OK, res["user_id"].clone())
    );

    let got = login(json!({"type": my_type, "user": "bob", "my_field": "digging"})).await;
    assert_error(&got, 403, "M_FORBIDDEN");
    let got = login(json!({"type": my_type, "user": "bob"})).await;
    assert_error(&got, 400, "M_MISSING_PARAM");
    // Its m.login.password checker, keyed by full user ID.
    let scoop = format!("@scoop:{SERVER_NAME}");
    let (status, res) =
        login(json!({"type": "m.login.password", "user": scoop, "password": "digging"})).await;
    assert_eq!(
        (status, res["user_id"].clone()),
        (StatusCode::OK, json!(scoop))
    );
    let got =
        login(json!({"type": "m.login.password", "user": "bob", "password": "digging"})).await;
    assert_error(&got, 403, "M_FORBIDDEN");
    server.stop().await;
}
