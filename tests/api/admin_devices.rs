//! Synapse's device admin API: `/_synapse/admin/v2/users/{user_id}/devices`
//! (list, create), `.../devices/{device_id}` (read, rename, delete) and
//! `.../delete_devices`. Who may ask, about whom, each parameter, the inputs
//! on which Synapse goes wrong (refused here, with nothing changed), and
//! what a deletion ends: the device's tokens, at the homeserver too, and
//! the providers told.

use crate::account_pages_homeserver::{calls_of, fake_synapse, with_homeserver};
use crate::both;
use crate::support::{assert_error, Backend, TestServer, SERVER_NAME};
use mxauth::auth::providers::{AuthProvider, ProviderResult};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

both!(
    only_admins_may_ask,
    remote_malformed_and_unknown_users_are_refused,
    devices_are_listed_and_read,
    an_admin_creates_a_device,
    an_admin_renames_a_device,
    an_admin_deletes_a_device_and_its_tokens,
    delete_devices_takes_a_list_of_strings_only,
    the_homeserver_hears_of_every_change,
    providers_hear_of_deleted_devices,
);

const WHOAMI: &str = "/_matrix/client/v3/account/whoami";
const PASSWORD: &str = "alice-pw";

fn devices_path(user: &str) -> String {
    format!("/_synapse/admin/v2/users/{user}/devices")
}

fn device_path(user: &str, device: &str) -> String {
    format!("/_synapse/admin/v2/users/{user}/devices/{device}")
}

fn delete_devices_path(user: &str) -> String {
    format!("/_synapse/admin/v2/users/{user}/delete_devices")
}

/// A request with a body that is sent as it is (not JSON, maybe).
async fn raw(
    s: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut req = s
        .raw()
        .request(method, format!("{}{}", s.base, path))
        .body(body.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Every device endpoint about `user`: method, path and a valid body.
fn endpoints(user: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, devices_path(user), None),
        (
            Method::POST,
            devices_path(user),
            Some(json!({"device_id": "NEW"})),
        ),
        (Method::GET, device_path(user, "DEV"), None),
        (
            Method::PUT,
            device_path(user, "DEV"),
            Some(json!({"display_name": "x"})),
        ),
        (Method::DELETE, device_path(user, "DEV"), None),
        (
            Method::POST,
            delete_devices_path(user),
            Some(json!({"devices": ["DEV"]})),
        ),
    ]
}

/// The user's device IDs as the admin API lists them, sorted here (the
/// databases' collations may differ).
async fn device_ids(s: &TestServer, admin: &str, user: &str) -> Vec<String> {
    let (status, body) = s.get(&devices_path(user), Some(admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let devices = body["devices"].as_array().unwrap();
    assert_eq!(body["total"], devices.len(), "{body}");
    let mut ids: Vec<String> = devices
        .iter()
        .map(|d| d["device_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn only_admins_may_ask(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (alice, token, device) = s.register("alice", PASSWORD).await;
    s.register_admin("root").await;
    for user in [alice.as_str(), "nobody", "@bob:elsewhere.example"] {
        for (method, path, body) in endpoints(user) {
            let got = s.request(method.clone(), &path, None, body.as_ref()).await;
            assert_error(&got, 401, "M_MISSING_TOKEN");
            let got = s
                .request(method.clone(), &path, Some(&token), body.as_ref())
                .await;
            assert_error(&got, 403, "M_FORBIDDEN");
            assert_eq!(got.1["error"], "You are not a server admin", "{path}");
            // The body is read after: a bad one changes nothing.
            if body.is_some() {
                let got = raw(&s, method, &path, Some(&token), "{not json").await;
                assert_error(&got, 403, "M_FORBIDDEN");
            }
        }
    }
    // Alice's own device is still there, and her token works.
    let (status, _) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .get(
            &format!("/_matrix/client/v3/devices/{device}"),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn remote_malformed_and_unknown_users_are_refused(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    let remote = "@bob:elsewhere.example";
    let malformed = [
        "nobody".to_owned(),
        format!("@a%20b:{SERVER_NAME}"),
        "@nobody".to_owned(),
    ];
    for user in std::iter::once(remote.to_owned()).chain(malformed) {
        for (method, path, body) in endpoints(&user) {
            let creating = method == Method::POST && path.ends_with("/devices");
            let got = s
                .request(method.clone(), &path, Some(&admin), body.as_ref())
                .await;
            if user != remote {
                // What is no user ID at all: Synapse's `UserID.from_string`.
                assert_error(&got, 400, "M_INVALID_PARAM");
                continue;
            }
            assert_error(&got, 400, "M_UNKNOWN");
            let want = match creating {
                true => "Can only create devices for local users",
                false => "Can only lookup local users",
            };
            assert_eq!(got.1["error"], want, "{method} {path}");
        }
    }
    // A local user who does not exist (upper case: an ID all the same).
    for user in [
        format!("@nobody:{SERVER_NAME}"),
        format!("@Nobody:{SERVER_NAME}"),
    ] {
        for (method, path, body) in endpoints(&user) {
            let got = s
                .request(method.clone(), &path, Some(&admin), body.as_ref())
                .await;
            assert_error(&got, 404, "M_NOT_FOUND");
            assert_eq!(got.1["error"], "Unknown user", "{method} {path}");
            if body.is_some() {
                let got = raw(&s, method, &path, Some(&admin), "{not json").await;
                assert_error(&got, 404, "M_NOT_FOUND");
            }
        }
    }
}

async fn devices_are_listed_and_read(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    let (alice, _, first) = s.register("alice", PASSWORD).await;
    let (token, second) = s.login("alice", PASSWORD).await;
    let mut want = vec![first.clone(), second.clone()];
    want.sort();
    assert_eq!(device_ids(&s, &admin, &alice).await, want);

    // Never seen: every key there, `null`.
    let (status, d) = s.get(&device_path(&alice, &first), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(
        d,
        json!({
            "user_id": alice,
            "device_id": first,
            "display_name": null,
            "last_seen_ip": null,
            "last_seen_user_agent": null,
            "last_seen_ts": null,
        })
    );

    // Seen: address, time and user agent (flushed every 200 ms in tests).
    let (status, _) = s.get_as(WHOAMI, &token, "TestAgent/1.0").await;
    assert_eq!(status, StatusCode::OK);
    let deadline = crate::support::real_now() + Duration::from_secs(5);
    let seen = loop {
        let (_, d) = s.get(&device_path(&alice, &second), Some(&admin)).await;
        if d["last_seen_user_agent"].is_string() && d["last_seen_ts"].is_i64() {
            break d;
        }
        assert!(crate::support::real_now() < deadline, "never seen: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(seen["last_seen_ip"], "127.0.0.1", "{seen}");
    assert_eq!(seen["last_seen_user_agent"], "TestAgent/1.0", "{seen}");
    let now = crate::support::wall_clock_ms();
    let ts = seen["last_seen_ts"].as_i64().unwrap();
    assert!((now - 60_000..=now + 1_000).contains(&ts), "{seen}");
    // The list shows each device as the read does.
    let (_, list) = s.get(&devices_path(&alice), Some(&admin)).await;
    assert_eq!(list["total"], 2, "{list}");
    let listed = list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == second.as_str())
        .unwrap();
    assert_eq!(listed, &seen);

    // Unknown devices, and another user's.
    let got = s.get(&device_path(&alice, "NOSUCH"), Some(&admin)).await;
    assert_error(&got, 404, "M_NOT_FOUND");
    assert_eq!(got.1["error"], "Not found");
    let root = format!("@root:{SERVER_NAME}");
    let got = s.get(&device_path(&root, &first), Some(&admin)).await;
    assert_error(&got, 404, "M_NOT_FOUND");
}

async fn an_admin_creates_a_device(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    let (alice, token, first) = s.register("alice", PASSWORD).await;
    let create = |body: Value| {
        let (s, admin, alice) = (&s, &admin, &alice);
        async move { s.post(&devices_path(alice), Some(admin), body).await }
    };

    let (status, body) = create(json!({"device_id": "NEWDEV", "other": 1})).await;
    assert_eq!((status, body), (StatusCode::CREATED, json!({})));
    let mut want = vec![first.clone(), "NEWDEV".to_owned()];
    want.sort();
    assert_eq!(device_ids(&s, &admin, &alice).await, want);
    let (_, d) = s.get(&device_path(&alice, "NEWDEV"), Some(&admin)).await;
    assert_eq!(d["display_name"], Value::Null, "{d}");
    // The user sees it too.
    let (status, own) = s
        .get("/_matrix/client/v3/devices/NEWDEV", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{own}");

    // Again: 201, and the device is left as it is.
    let (status, _) = s
        .request(
            Method::PUT,
            &device_path(&alice, "NEWDEV"),
            Some(&admin),
            Some(&json!({"display_name": "Kept"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = create(json!({"device_id": "NEWDEV"})).await;
    assert_eq!((status, body), (StatusCode::CREATED, json!({})));
    let (_, d) = s.get(&device_path(&alice, "NEWDEV"), Some(&admin)).await;
    assert_eq!(d["display_name"], "Kept", "{d}");

    // A device ID with a slash is reached percent-encoded.
    let (status, _) = create(json!({"device_id": "a/b"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, d) = s.get(&device_path(&alice, "a%2Fb"), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["device_id"], "a/b");

    // The longest device ID, and one too long.
    let longest = "é".repeat(512);
    let (status, _) = create(json!({ "device_id": longest })).await;
    assert_eq!(status, StatusCode::CREATED);
    let got = create(json!({ "device_id": "x".repeat(513) })).await;
    assert_error(&got, 400, "M_INVALID_PARAM");

    // Synapse's answers to a missing or wrong device_id.
    for missing in [
        json!({}),
        json!({"device_id": null}),
        json!({"device_id": ""}),
        json!({"device_id": 0}),
        json!({"device_id": false}),
        json!({"device_id": []}),
    ] {
        let got = create(missing.clone()).await;
        assert_error(&got, 400, "M_UNKNOWN");
        assert_eq!(got.1["error"], "Missing device_id", "{missing}");
    }
    for wrong in [
        json!({"device_id": 5}),
        json!({"device_id": true}),
        json!({"device_id": ["X"]}),
    ] {
        let got = create(wrong.clone()).await;
        assert_error(&got, 400, "M_UNKNOWN");
        assert_eq!(got.1["error"], "device_id must be a string", "{wrong}");
    }
    let path = devices_path(&alice);
    assert_error(
        &raw(&s, Method::POST, &path, Some(&admin), "{not json").await,
        400,
        "M_NOT_JSON",
    );
    assert_error(
        &raw(&s, Method::POST, &path, Some(&admin), "[\"X\"]").await,
        400,
        "M_BAD_JSON",
    );
    // Nothing more was made.
    assert_eq!(device_ids(&s, &admin, &alice).await.len(), 4);
}

async fn an_admin_renames_a_device(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    let (alice, token, device) = s.register("alice", PASSWORD).await;
    let path = device_path(&alice, &device);
    let put = |body: Option<Value>| {
        let (s, admin, path) = (&s, &admin, &path);
        async move {
            s.request(Method::PUT, path, Some(admin), body.as_ref())
                .await
        }
    };
    let name = || async {
        let (_, d) = s.get(&path, Some(&admin)).await;
        d["display_name"].clone()
    };

    let (status, body) = put(Some(json!({"display_name": "Phone"}))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    assert_eq!(name().await, "Phone");
    // The user sees the new name.
    let (_, own) = s
        .get(
            &format!("/_matrix/client/v3/devices/{device}"),
            Some(&token),
        )
        .await;
    assert_eq!(own["display_name"], "Phone");

    // 100 characters (not bytes) are fine, 101 are too many.
    let hundred = "é".repeat(100);
    let (status, _) = put(Some(json!({ "display_name": hundred }))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(name().await, hundred.as_str());
    let got = put(Some(json!({ "display_name": "x".repeat(101) }))).await;
    assert_error(&got, 400, "M_TOO_LARGE");
    assert_eq!(got.1["error"], "Device display name is too long (max 100)");
    assert_eq!(name().await, hundred.as_str());

    // A display name that is no string (Synapse: 500) changes nothing.
    for wrong in [json!(5), json!(["x"]), json!({"a": 1}), json!(true)] {
        let got = put(Some(json!({ "display_name": wrong }))).await;
        assert_error(&got, 400, "M_BAD_JSON");
        assert_eq!(name().await, hundred.as_str(), "{wrong}");
    }
    // No display name (or null, or no body): nothing changes.
    for nothing in [
        Some(json!({})),
        Some(json!({"display_name": null})),
        Some(json!({"other": "x"})),
        None,
    ] {
        let (status, body) = put(nothing).await;
        assert_eq!((status, body), (StatusCode::OK, json!({})));
        assert_eq!(name().await, hundred.as_str());
    }
    // An empty name is a name.
    let (status, _) = put(Some(json!({"display_name": ""}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(name().await, "");

    // An unknown device, with or without a name.
    let unknown = device_path(&alice, "NOSUCH");
    for body in [json!({"display_name": "x"}), json!({})] {
        let got = s
            .request(Method::PUT, &unknown, Some(&admin), Some(&body))
            .await;
        assert_error(&got, 404, "M_NOT_FOUND");
    }
    assert_error(
        &raw(&s, Method::PUT, &path, Some(&admin), "{not json").await,
        400,
        "M_NOT_JSON",
    );
    assert_eq!(device_ids(&s, &admin, &alice).await, [device]);
}

async fn an_admin_deletes_a_device_and_its_tokens(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    let (alice, kept_token, kept) = s.register("alice", PASSWORD).await;
    // A refreshable session: its refresh token goes too.
    let (status, login) = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
                   "password": PASSWORD, "refresh_token": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let token = login["access_token"].as_str().unwrap();
    let device = login["device_id"].as_str().unwrap();
    let refresh = login["refresh_token"].as_str().expect("a refresh token");

    let (status, body) = s
        .request(
            Method::DELETE,
            &device_path(&alice, device),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    assert_error(&s.get(WHOAMI, Some(token)).await, 401, "M_UNKNOWN_TOKEN");
    let refreshed = s
        .post(
            "/_matrix/client/v3/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    assert_error(&refreshed, 401, "M_UNKNOWN_TOKEN");
    assert_eq!(device_ids(&s, &admin, &alice).await, [kept.as_str()]);
    let (status, _) = s.get(WHOAMI, Some(&kept_token)).await;
    assert_eq!(status, StatusCode::OK);

    // Gone already, or never there: 200 all the same (as Synapse).
    for id in [device, "NOSUCH"] {
        let (status, body) = s
            .request(Method::DELETE, &device_path(&alice, id), Some(&admin), None)
            .await;
        assert_eq!((status, body), (StatusCode::OK, json!({})));
    }
    // The last one: the user has none.
    let (status, _) = s
        .request(
            Method::DELETE,
            &device_path(&alice, &kept),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &s.get(WHOAMI, Some(&kept_token)).await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    let (_, list) = s.get(&devices_path(&alice), Some(&admin)).await;
    assert_eq!(list, json!({"devices": [], "total": 0}));
}

async fn delete_devices_takes_a_list_of_strings_only(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    let (alice, token, own) = s.register("alice", PASSWORD).await;
    for id in ["A", "B", "C"] {
        let (status, _) = s
            .post(
                &devices_path(&alice),
                Some(&admin),
                json!({ "device_id": id }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut all = vec!["A".to_owned(), "B".into(), "C".into(), own.clone()];
    all.sort();
    assert_eq!(device_ids(&s, &admin, &alice).await, all);
    let path = delete_devices_path(&alice);

    // Synapse deletes A, B and C for "ABC", a dict's keys, and 500s on the
    // rest: each is refused here, and nothing goes.
    for wrong in [
        json!({"devices": "ABC"}),
        json!({"devices": {"A": 1, "B": 2}}),
        json!({"devices": null}),
        json!({"devices": 5}),
        json!({"devices": ["A", 5]}),
        json!({"devices": ["A", null]}),
        json!({"devices": [["A"]]}),
    ] {
        let got = s.post(&path, Some(&admin), wrong.clone()).await;
        assert_error(&got, 400, "M_BAD_JSON");
        assert_eq!(device_ids(&s, &admin, &alice).await, all, "{wrong}");
    }
    let got = s.post(&path, Some(&admin), json!({})).await;
    assert_error(&got, 400, "M_MISSING_PARAM");
    assert_eq!(got.1["error"], "Missing params: ['devices']");
    // An empty body is no JSON (Synapse's answer).
    assert_error(
        &raw(&s, Method::POST, &path, Some(&admin), "").await,
        400,
        "M_NOT_JSON",
    );
    assert_error(
        &raw(&s, Method::POST, &path, Some(&admin), "{not json").await,
        400,
        "M_NOT_JSON",
    );
    // At most 1000 IDs at once.
    let many: Vec<String> = std::iter::once("A".to_owned())
        .chain((0..1000).map(|n| format!("D{n}")))
        .collect();
    let got = s
        .post(&path, Some(&admin), json!({ "devices": many }))
        .await;
    assert_error(&got, 400, "M_INVALID_PARAM");
    assert_eq!(device_ids(&s, &admin, &alice).await, all);
    let (status, _) = s
        .post(&path, Some(&admin), json!({ "devices": &many[1..] }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(device_ids(&s, &admin, &alice).await, all);

    // A list: the devices named go, unknown IDs are ignored.
    let (status, body) = s
        .post(
            &path,
            Some(&admin),
            json!({"devices": ["A", "C", own, "NOSUCH"]}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    assert_eq!(device_ids(&s, &admin, &alice).await, ["B"]);
    assert_error(&s.get(WHOAMI, Some(&token)).await, 401, "M_UNKNOWN_TOKEN");
    // An empty list deletes nothing.
    let (status, _) = s.post(&path, Some(&admin), json!({"devices": []})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(device_ids(&s, &admin, &alice).await, ["B"]);
}

async fn the_homeserver_hears_of_every_change(b: Backend) {
    let (endpoint, calls) = fake_synapse().await;
    let s = with_homeserver(
        TestServer::builder(b)
            .config(|c| c.public_baseurl = Some("https://auth.test.example/".into())),
        endpoint,
    )
    .start()
    .await;
    let admin = s.register_admin("root").await;
    let (alice, token, own) = s.register("alice", PASSWORD).await;
    let about = |kind: &str, device: &str| -> Vec<Value> {
        calls_of(&calls, kind)
            .into_iter()
            .filter(|c| c["device_id"] == device)
            .collect()
    };

    // Created: upserted, once.
    for _ in 0..2 {
        let (status, _) = s
            .post(
                &devices_path(&alice),
                Some(&admin),
                json!({"device_id": "NEWDEV"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    assert_eq!(
        about("upsert_device", "NEWDEV"),
        [json!({"localpart": "alice", "device_id": "NEWDEV"})]
    );
    // Renamed.
    let (status, _) = s
        .request(
            Method::PUT,
            &device_path(&alice, "NEWDEV"),
            Some(&admin),
            Some(&json!({"display_name": "Bot"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        about("update_device_display_name", "NEWDEV"),
        [json!({"localpart": "alice", "device_id": "NEWDEV", "display_name": "Bot"})]
    );
    // A refused rename tells it nothing.
    let (status, _) = s
        .request(
            Method::PUT,
            &device_path(&alice, "NEWDEV"),
            Some(&admin),
            Some(&json!({"display_name": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(about("update_device_display_name", "NEWDEV").len(), 1);
    // Deleted, one by one and several at once; unknown IDs are not sent.
    let (status, _) = s
        .request(
            Method::DELETE,
            &device_path(&alice, "NEWDEV"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        about("delete_device", "NEWDEV"),
        [json!({"localpart": "alice", "device_id": "NEWDEV"})]
    );
    let (status, _) = s
        .post(
            &delete_devices_path(&alice),
            Some(&admin),
            json!({"devices": [own, "NOSUCH"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        about("delete_device", &own),
        [json!({"localpart": "alice", "device_id": own})]
    );
    assert!(about("delete_device", "NOSUCH").is_empty());
    assert_error(&s.get(WHOAMI, Some(&token)).await, 401, "M_UNKNOWN_TOKEN");
    // A refused list tells it nothing.
    let before = calls_of(&calls, "delete_device").len();
    let (status, _) = s
        .post(
            &delete_devices_path(&alice),
            Some(&admin),
            json!({"devices": "ABC"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(calls_of(&calls, "delete_device").len(), before);
}

/// A provider that notes `on_logged_out` (user, device, token).
struct LogoutLog(Arc<Mutex<Vec<String>>>);

#[async_trait::async_trait]
impl AuthProvider for LogoutLog {
    fn name(&self) -> &str {
        "logout-log"
    }

    async fn on_logged_out(
        &self,
        user_id: &str,
        device_id: Option<&str>,
        access_token: Option<&str>,
    ) -> ProviderResult<()> {
        self.0.lock().unwrap().push(format!(
            "{user_id}:{}:{}",
            device_id.unwrap_or("-"),
            access_token.unwrap_or("-")
        ));
        Ok(())
    }
}

async fn providers_hear_of_deleted_devices(b: Backend) {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = TestServer::builder(b)
        .providers(vec![Arc::new(LogoutLog(log.clone()))])
        .start()
        .await;
    let admin = s.register_admin("root").await;
    let (alice, _, first) = s.register("alice", PASSWORD).await;
    let (_, second) = s.login("alice", PASSWORD).await;
    let (_, third) = s.login("alice", PASSWORD).await;
    let taken = || std::mem::take(&mut *log.lock().unwrap());
    taken();

    s.request(
        Method::DELETE,
        &device_path(&alice, &first),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(taken(), [format!("{alice}:{first}:-")]);
    s.post(
        &delete_devices_path(&alice),
        Some(&admin),
        json!({"devices": [second, third, "NOSUCH"]}),
    )
    .await;
    let mut got = taken();
    got.sort();
    let mut want = vec![format!("{alice}:{second}:-"), format!("{alice}:{third}:-")];
    want.sort();
    assert_eq!(got, want);
    // Nothing deleted, nothing said.
    s.request(
        Method::DELETE,
        &device_path(&alice, "NOSUCH"),
        Some(&admin),
        None,
    )
    .await;
    assert!(taken().is_empty());
}
