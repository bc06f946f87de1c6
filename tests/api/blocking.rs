//! Auth blocking: `hs_disabled` refuses logins and registrations with
//! M_RESOURCE_LIMIT_EXCEEDED; support users, the server-notices user and
//! application services are exempt; admin-API registration is not blocked.

use crate::both;
use crate::support::{assert_error, Backend, TestServer, SERVER_NAME};
use reqwest::StatusCode;
use serde_json::json;

both!(hs_disabled_blocks_logins_and_registrations);

async fn hs_disabled_blocks_logins_and_registrations(b: Backend) {
    let open = TestServer::builder(b).start().await;
    open.register("normal", "normal-pw").await;
    open.register("notices", "notices-pw").await;
    open.register_admin("root").await;
    let store = mxauth::store::connect(&open.db.config.url(), 2)
        .await
        .unwrap();
    store
        .users()
        .create_user(&mxauth::store::NewUser {
            user_id: format!("@helpdesk:{SERVER_NAME}"),
            password_hash: store
                .users()
                .get_user(&format!("@normal:{SERVER_NAME}"))
                .await
                .unwrap()
                .unwrap()
                .password_hash,
            user_type: Some("support".into()),
            ..Default::default()
        })
        .await
        .unwrap();

    let s = TestServer::builder(open.db.clone())
        .config(|c| {
            c.hs_disabled = true;
            c.hs_disabled_message = "Down for maintenance".into();
            c.admin_contact = Some("mailto:admin@test.example".into());
            c.server_notices_localpart = Some("notices".into());
            c.allow_guest_access = true;
        })
        .start()
        .await;
    let login =
        |user: &str, pw: &str| json!({"type": "m.login.password", "user": user, "password": pw});
    let refused = s
        .post(
            "/_matrix/client/v3/login",
            None,
            login("normal", "normal-pw"),
        )
        .await;
    assert_error(&refused, 403, "M_RESOURCE_LIMIT_EXCEEDED");
    assert_eq!(refused.1["limit_type"], "hs_disabled");
    assert_eq!(refused.1["admin_contact"], "mailto:admin@test.example");
    assert_eq!(refused.1["error"], "Down for maintenance");
    // A wrong password is still just a wrong password.
    assert_error(
        &s.post("/_matrix/client/v3/login", None, login("normal", "nope"))
            .await,
        403,
        "M_FORBIDDEN",
    );
    // Exempt: the server-notices user and support users.
    for (user, pw) in [("notices", "notices-pw"), ("helpdesk", "normal-pw")] {
        let (status, r) = s
            .post("/_matrix/client/v3/login", None, login(user, pw))
            .await;
        assert_eq!(status, StatusCode::OK, "{user}: {r}");
    }
    // Registration is blocked; the admin API's is not.
    let reg = s
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "late", "password": "pw"}),
        )
        .await;
    assert_error(&reg, 403, "M_RESOURCE_LIMIT_EXCEEDED");
    let guest = s
        .post("/_matrix/client/v3/register?kind=guest", None, json!({}))
        .await;
    assert_error(&guest, 403, "M_RESOURCE_LIMIT_EXCEEDED");
    s.register_admin("root2").await;
}
