//! `ui_auth.session_timeout`: after passing UIA, deleting devices with the
//! same token skips it for the timeout (as Synapse does); nothing else does.

use crate::both;
use crate::support::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

both!(device_deletion_skips_uia_within_the_timeout);

async fn device_deletion_skips_uia_within_the_timeout(b: Backend) {
    for timeout in [60_000u64, 0] {
        let s = TestServer::builder(b)
            .config(|c| c.ui_auth_session_timeout_ms = timeout)
            .start()
            .await;
        let (user_id, token, _) = s.register("tim", "tim-pw").await;
        let (_, second) = s.login("tim", "tim-pw").await;
        let (_, third) = s.login("tim", "tim-pw").await;

        let path = format!("/_matrix/client/v3/devices/{second}");
        let (status, c) = s
            .request(Method::DELETE, &path, Some(&token), Some(&json!({})))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let auth = TestServer::password_auth(&c["session"], &user_id, "tim-pw");
        let (status, _) = s
            .request(
                Method::DELETE,
                &path,
                Some(&token),
                Some(&json!({"auth": auth})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);

        let path = format!("/_matrix/client/v3/devices/{third}");
        let (status, body) = s
            .request(Method::DELETE, &path, Some(&token), Some(&json!({})))
            .await;
        if timeout > 0 {
            assert_eq!(status, StatusCode::OK, "skipped within the timeout: {body}");
            let (status, _) = s.get(&path, Some(&token)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "and the device is gone");
            // A password change is never skipped.
            let (status, _) = s
                .post(
                    "/_matrix/client/v3/account/password",
                    Some(&token),
                    json!({"new_password": "tim-pw-2"}),
                )
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        } else {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "no timeout, no skipping: {body}"
            );
        }
    }
}
