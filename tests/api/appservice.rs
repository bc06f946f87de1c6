//! Application services: as_token requests, masquerading (user and
//! device), IP allow-lists, m.login.application_service registration and
//! login, and exclusive namespaces.

use crate::both;
use crate::support::{assert_error, db_i64, Backend, TestServer, SERVER_NAME};
use mxauth::config::AppServiceConfig;
use reqwest::StatusCode;
use serde_json::json;

const AS_TOKEN: &str = "the bridge's as_token";

fn bridge(whitelist: &[&str]) -> AppServiceConfig {
    crate::support::bridge_service(AS_TOKEN, whitelist)
}

async fn whoami(s: &TestServer, query: &str) -> (StatusCode, serde_json::Value) {
    s.get(
        &format!("/_matrix/client/v3/account/whoami{query}"),
        Some(AS_TOKEN),
    )
    .await
}

both!(
    app_service_registration_login_and_masquerading,
    app_service_ip_allow_list,
    app_service_login_and_registration_honour_the_ip_allow_list,
    app_service_sender_logs_in_with_a_device_of_its_own
);

async fn app_service_registration_login_and_masquerading(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.app_services = vec![bridge(&[])])
        .start()
        .await;
    let register = |name: &str| json!({"type": "m.login.application_service", "username": name});

    // The sender, by default.
    let (status, me) = whoami(&s, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user_id"], format!("@bridgebot:{SERVER_NAME}"));

    // Registration inside the namespace, without UIA.
    let (status, r) = s
        .post(
            "/_matrix/client/v3/register",
            Some(AS_TOKEN),
            register("bridge_alice"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let alice = format!("@bridge_alice:{SERVER_NAME}");
    assert_eq!(r["user_id"], alice);
    let device = r["device_id"].as_str().unwrap().to_owned();
    assert_error(
        &s.post(
            "/_matrix/client/v3/register",
            Some(AS_TOKEN),
            register("outsider"),
        )
        .await,
        400,
        "M_EXCLUSIVE",
    );
    assert_error(
        &s.post("/_matrix/client/v3/register", None, register("bridge_bob"))
            .await,
        401,
        "M_MISSING_TOKEN",
    );
    assert_error(
        &s.post(
            "/_matrix/client/v3/register",
            Some(AS_TOKEN),
            register("bridge_alice"),
        )
        .await,
        400,
        "M_USER_IN_USE",
    );
    // Everyone else is kept out of the exclusive namespace.
    assert_error(
        &s.post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "bridge_eve", "password": "pw"}),
        )
        .await,
        400,
        "M_EXCLUSIVE",
    );
    assert_error(
        &s.get(
            "/_matrix/client/v3/register/available?username=bridge_eve",
            None,
        )
        .await,
        400,
        "M_EXCLUSIVE",
    );

    // Masquerading as a registered user of the namespace, and as its device.
    let (status, me) = whoami(&s, &format!("?user_id={alice}")).await;
    assert_eq!(
        (status, me["user_id"].clone()),
        (StatusCode::OK, json!(alice))
    );
    let (status, me) = whoami(&s, &format!("?user_id={alice}&device_id={device}")).await;
    assert_eq!(
        (status, me["device_id"].clone()),
        (StatusCode::OK, json!(device))
    );
    let (status, me) = whoami(
        &s,
        &format!("?user_id={alice}&org.matrix.msc3202.device_id={device}"),
    )
    .await;
    assert_eq!(
        (status, me["device_id"].clone()),
        (StatusCode::OK, json!(device))
    );
    assert_error(
        &whoami(&s, &format!("?user_id={alice}&device_id=NOPE")).await,
        400,
        "M_UNKNOWN_DEVICE",
    );
    // Not outside the namespace, not an unregistered user.
    let (outsider, _, _) = s.register("plainuser", "plain-pw").await;
    assert_error(
        &whoami(&s, &format!("?user_id={outsider}")).await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(
        &whoami(&s, &format!("?user_id=@bridge_ghost:{SERVER_NAME}")).await,
        403,
        "M_FORBIDDEN",
    );
    // A user's own token cannot masquerade: the parameter is ignored.
    let (plain_token, _) = s.login("plainuser", "plain-pw").await;
    let (_, me) = s
        .get(
            &format!("/_matrix/client/v3/account/whoami?user_id={alice}"),
            Some(&plain_token),
        )
        .await;
    assert_eq!(me["user_id"], outsider);

    // m.login.application_service.
    let (_, flows) = s.get("/_matrix/client/v3/login", None).await;
    assert!(flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["type"] == "m.login.application_service"));
    let login = |user: &str| json!({"type": "m.login.application_service", "identifier": {"type": "m.id.user", "user": user}});
    let (status, r) = s
        .post(
            "/_matrix/client/v3/login",
            Some(AS_TOKEN),
            login("bridge_alice"),
        )
        .await;
    assert_eq!(
        (status, r["user_id"].clone()),
        (StatusCode::OK, json!(alice)),
        "{r}"
    );
    assert_error(
        &s.post(
            "/_matrix/client/v3/login",
            Some(AS_TOKEN),
            login("plainuser"),
        )
        .await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(
        &s.post("/_matrix/client/v3/login", None, login("bridge_alice"))
            .await,
        401,
        "M_MISSING_TOKEN",
    );
    assert_error(
        &s.post(
            "/_matrix/client/v3/login",
            Some(&plain_token),
            login("bridge_alice"),
        )
        .await,
        401,
        "M_UNKNOWN_TOKEN",
    );
}

async fn app_service_ip_allow_list(b: Backend) {
    let refused = TestServer::builder(b)
        .config(|c| c.app_services = vec![bridge(&["10.0.0.0/8"])])
        .start()
        .await;
    let got = whoami(&refused, "").await;
    assert_error(&got, 401, "M_UNKNOWN_TOKEN");
    let allowed = TestServer::builder(b)
        .config(|c| c.app_services = vec![bridge(&["127.0.0.0/8", "::1/128"])])
        .start()
        .await;
    let (status, _) = whoami(&allowed, "").await;
    assert_eq!(status, StatusCode::OK);
}

fn as_login(user: &str) -> serde_json::Value {
    json!({"type": "m.login.application_service", "identifier": {"type": "m.id.user", "user": user}})
}

/// The allow-list holds for every use of the as_token: logging in and
/// registering its users from elsewhere is refused like any request, and
/// a client's own X-Forwarded-For (no `x_forwarded` here) changes nothing.
async fn app_service_login_and_registration_honour_the_ip_allow_list(b: Backend) {
    let allowed = TestServer::builder(b)
        .config(|c| c.app_services = vec![bridge(&["127.0.0.0/8", "::1/128"])])
        .start()
        .await;
    let register = |name: &str| json!({"type": "m.login.application_service", "username": name});
    let (status, r) = allowed
        .post(
            "/_matrix/client/v3/register",
            Some(AS_TOKEN),
            register("bridge_alice"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let (status, r) = allowed
        .post(
            "/_matrix/client/v3/login",
            Some(AS_TOKEN),
            as_login("bridge_alice"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");

    // The same database, the service now allowed only from 10.0.0.0/8.
    let refused = TestServer::builder(allowed.db.clone())
        .config(|c| c.app_services = vec![bridge(&["10.0.0.0/8"])])
        .start()
        .await;
    assert_error(
        &refused
            .post(
                "/_matrix/client/v3/login",
                Some(AS_TOKEN),
                as_login("bridge_alice"),
            )
            .await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    assert_error(
        &refused
            .post(
                "/_matrix/client/v3/register",
                Some(AS_TOKEN),
                register("bridge_bob"),
            )
            .await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    for (path, body) in [
        ("/_matrix/client/v3/login", as_login("bridge_alice")),
        ("/_matrix/client/v3/register", register("bridge_bob")),
    ] {
        let res = refused
            .raw()
            .post(format!("{}{path}", refused.base))
            .bearer_auth(AS_TOKEN)
            .header("x-forwarded-for", "10.1.2.3")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let bob = format!("@bridge_bob:{SERVER_NAME}");
    assert_eq!(
        db_i64(
            &refused.db,
            &format!("SELECT COUNT(*) FROM users WHERE name = '{bob}'")
        )
        .await,
        0
    );
}

/// A bridge logs in as its own sender (`sender_localpart`) to get a device
/// for encryption, as on Synapse; the sender's account is made, owned by
/// the service, at its first login.
async fn app_service_sender_logs_in_with_a_device_of_its_own(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.app_services = vec![bridge(&[])])
        .start()
        .await;
    let sender = format!("@bridgebot:{SERVER_NAME}");
    let mut body = as_login("bridgebot");
    body["device_id"] = json!("BRIDGEDEVICE");
    let (status, r) = s
        .post("/_matrix/client/v3/login", Some(AS_TOKEN), body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["user_id"], sender);
    assert_eq!(r["device_id"], "BRIDGEDEVICE");
    let token = r["access_token"].as_str().unwrap().to_owned();
    let (status, me) = s
        .get("/_matrix/client/v3/account/whoami", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        (me["user_id"].clone(), me["device_id"].clone()),
        (json!(sender), json!("BRIDGEDEVICE"))
    );
    // The as_token may now act as the sender on that device.
    let (status, me) = whoami(&s, "?device_id=BRIDGEDEVICE").await;
    assert_eq!(
        (status, me["device_id"].clone()),
        (StatusCode::OK, json!("BRIDGEDEVICE")),
        "{me}"
    );
    assert_eq!(
        db_i64(
            &s.db,
            &format!(
                "SELECT COUNT(*) FROM users WHERE name = '{sender}' AND appservice_id = 'bridge'"
            )
        )
        .await,
        1
    );
    // Again, fully qualified: the same account, a second device.
    let (status, again) = s
        .post(
            "/_matrix/client/v3/login",
            Some(AS_TOKEN),
            as_login(&sender),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["user_id"], sender);
    assert_ne!(again["device_id"], "BRIDGEDEVICE");
}
