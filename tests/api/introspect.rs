//! The homeserver seam seen from mxauth's side: token introspection,
//! discovery, and a login while the homeserver is unreachable. (The real
//! Synapse behind real nginx is in tests/e2e.)

use crate::both;
use crate::support::{Backend, TestServer, SERVER_NAME};
use mxauth::config::{MatrixConfig, Secret};
use reqwest::StatusCode;
use serde_json::{json, Value};

const SECRET: &str = "the secret shared with synapse";

/// A homeserver section pointing at a port where nothing listens.
fn matrix(c: &mut mxauth::config::Config) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    c.public_baseurl = Some("https://auth.test.example/".into());
    c.matrix = Some(MatrixConfig {
        kind: "synapse".into(),
        homeserver: SERVER_NAME.into(),
        endpoint: format!("http://127.0.0.1:{port}/"),
        secret: Secret::new(SECRET),
        account_management_uri: None,
    });
}

async fn introspect(s: &TestServer, secret: &str, token: &str) -> (StatusCode, Value) {
    let res = s
        .raw()
        .post(format!("{}/oauth2/introspect", s.base))
        .bearer_auth(secret)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}&token_type_hint=access_token"))
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

both!(
    introspection_answers_for_tokens,
    a_guest_token_introspects_with_the_guest_scope_only,
    login_fails_cleanly_when_the_homeserver_is_away
);

async fn introspection_answers_for_tokens(b: Backend) {
    // Users and tokens made while no homeserver is configured...
    let plain = TestServer::builder(b).start().await;
    let (user_id, token, device) = plain.register("alice", "alice-pw").await;
    let (_, admin_token, admin_device) = {
        let s = &plain;
        let (_, n) = s.get("/_synapse/admin/v1/register", None).await;
        let nonce = n["nonce"].as_str().unwrap().to_owned();
        let mac = mxauth::auth::admin::registration_mac(
            crate::support::SHARED_SECRET,
            &nonce,
            "boss",
            "boss-pw",
            true,
            None,
        );
        let (status, r) = s
            .post("/_synapse/admin/v1/register", None, json!({"nonce": nonce, "username": "boss", "password": "boss-pw", "admin": true, "mac": mac}))
            .await;
        assert_eq!(status, 200, "{r}");
        (
            r["user_id"].clone(),
            r["access_token"].as_str().unwrap().to_owned(),
            r["device_id"].as_str().unwrap().to_owned(),
        )
    };
    let store = mxauth::store::connect(&plain.db.config.url(), 2)
        .await
        .unwrap();
    let new_token = || {
        mxauth::auth::tokens::generate("syt_", "alice", &mxauth::clock::OsRandom)
            .expose()
            .to_owned()
    };
    let (expired, puppet) = (new_token(), new_token());
    for (t, owner, until) in [
        (&expired, None, Some(1)),
        (&puppet, Some(format!("@boss:{SERVER_NAME}")), None),
    ] {
        store
            .access_tokens()
            .create_access_token(&mxauth::store::NewAccessToken {
                token_hash: mxauth::auth::tokens::hash_token(t),
                user_id: user_id.clone(),
                device_id: Some(device.clone()),
                puppet_owner: owner,
                created_ts: 0,
                valid_until_ts: until,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    // ...answered by a server that a homeserver delegates to.
    let s = TestServer::builder(plain.db.clone())
        .config(matrix)
        .start()
        .await;

    let wrong = introspect(&s, "not the secret", &token).await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED, "{}", wrong.1);
    assert_eq!(wrong.1["error"], "invalid_client");

    let (status, live) = introspect(&s, SECRET, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(live["active"], true);
    assert_eq!(live["username"], "alice");
    assert_eq!(live["device_id"], device.as_str());
    let scope: Vec<&str> = live["scope"].as_str().unwrap().split(' ').collect();
    assert!(scope.contains(&"urn:matrix:client:api:*"), "{live}");
    assert!(
        scope.contains(&"urn:matrix:org.matrix.msc2967.client:api:*"),
        "{live}"
    );
    assert!(
        scope.contains(&format!("urn:matrix:client:device:{device}").as_str()),
        "{live}"
    );
    assert!(!scope.contains(&"urn:synapse:admin:*"), "{live}");
    assert!(live.get("expires_in").is_none(), "{live}");

    let (_, admin) = introspect(&s, SECRET, &admin_token).await;
    assert_eq!(admin["username"], "boss");
    assert_eq!(admin["device_id"], admin_device.as_str());
    assert!(
        admin["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|x| x == "urn:synapse:admin:*"),
        "{admin}"
    );

    // A puppet token acts as the puppeted user.
    let (_, p) = introspect(&s, SECRET, &puppet).await;
    assert_eq!(
        (p["active"].clone(), p["username"].clone()),
        (json!(true), json!("alice")),
        "{p}"
    );

    let unknown = new_token();
    for dead in [expired.as_str(), unknown.as_str(), "garbage", ""] {
        let (status, body) = introspect(&s, SECRET, dead).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"active": false})),
            "{dead}"
        );
    }
    // Revoked: after logout.
    plain
        .post("/_matrix/client/v3/logout", Some(&token), json!({}))
        .await;
    s.sync_changes().await;
    assert_eq!(
        introspect(&s, SECRET, &token).await.1,
        json!({"active": false})
    );

    // Discovery, for Synapse's auth_metadata.
    let (status, meta) = s.get("/.well-known/openid-configuration", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(meta["issuer"], "https://auth.test.example/");
    assert_eq!(
        meta["account_management_uri"],
        "https://auth.test.example/account/"
    );
    // Without a homeserver configured there is nothing to introspect for.
    let (status, _) = introspect(&plain, SECRET, "x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Synapse decides guest-ness from the scope alone (a guest scope and no
/// `api:*` scope), so a guest's token must never carry `api:*`.
async fn a_guest_token_introspects_with_the_guest_scope_only(b: Backend) {
    let plain = TestServer::builder(b)
        .config(|c| c.allow_guest_access = true)
        .start()
        .await;
    let (status, guest) = plain
        .post("/_matrix/client/v3/register?kind=guest", None, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{guest}");
    let guest_token = guest["access_token"].as_str().unwrap().to_owned();
    let (_, user_token, _) = plain.register("alice", "alice-pw").await;
    let s = TestServer::builder(plain.db.clone())
        .config(|c| {
            matrix(c);
            c.allow_guest_access = true;
        })
        .start()
        .await;

    let (status, g) = introspect(&s, SECRET, &guest_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(g["active"], true, "{g}");
    assert_eq!(g["sub"], guest["user_id"], "{g}");
    let scope: Vec<&str> = g["scope"].as_str().unwrap().split(' ').collect();
    assert!(
        scope.contains(&"urn:matrix:org.matrix.msc2967.client:api:guest"),
        "{g}"
    );
    assert!(
        !scope.iter().any(|x| x.ends_with(":api:*")),
        "a guest must not get the user scope: {g}"
    );
    assert!(
        scope.contains(&"urn:matrix:org.matrix.msc2967.client:device:guest_device"),
        "{g}"
    );

    let (_, u) = introspect(&s, SECRET, &user_token).await;
    let scope: Vec<&str> = u["scope"].as_str().unwrap().split(' ').collect();
    assert!(scope.contains(&"urn:matrix:client:api:*"), "{u}");
    assert!(!scope.iter().any(|x| x.ends_with(":api:guest")), "{u}");
}

async fn login_fails_cleanly_when_the_homeserver_is_away(b: Backend) {
    let plain = TestServer::builder(b).start().await;
    plain.register("bob", "bob-pw").await;
    let s = TestServer::builder(plain.db.clone())
        .config(matrix)
        .start()
        .await;
    let started = crate::support::real_now();
    let (status, body) = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "user": "bob", "password": "bob-pw"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errcode"], "M_UNKNOWN");
    assert!(body.get("access_token").is_none());
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    // The calls stay queued for when the homeserver is back.
    let store = mxauth::store::connect(&s.db.config.url(), 2).await.unwrap();
    let job = store
        .jobs()
        .claim_homeserver_job(i64::MAX / 2, 1, None)
        .await
        .unwrap()
        .expect("a provisioning call is queued");
    assert_eq!(job.kind, "provision_user");
    assert_eq!(job.payload["localpart"], "bob");
}
