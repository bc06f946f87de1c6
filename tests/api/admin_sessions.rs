//! mxauth's session admin API: `GET /_mxauth/admin/v1/users/{user_id}/sessions`
//! (legacy logins and OAuth 2.0 sessions, one per device, and the puppet
//! tokens), `DELETE .../sessions/{session_id}` (as deleting the device) and
//! `DELETE .../puppet_tokens/{token_id}`; and the store methods behind the
//! puppet tokens, on both backends.

use crate::account_pages_homeserver::{calls_of, fake_synapse, with_homeserver};
use crate::both;
use crate::oauth_support::{log_in, oauth_builder, token_request, whoami, APP, DEVICE};
use crate::support::{assert_error, fresh_database, Backend, TestServer, SERVER_NAME};
use mxauth::store::{connect, NewAccessToken, NewUser};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

both!(
    only_admins_may_ask_about_local_users,
    sessions_are_listed_with_their_kind_and_client,
    ending_a_session_ends_its_tokens_here_and_at_the_homeserver,
    puppet_tokens_are_listed_and_ended,
    store_lists_and_deletes_tokens_without_a_device,
);

const PASSWORD: &str = "alice-pw";
const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

fn sessions_path(user: &str) -> String {
    format!("/_mxauth/admin/v1/users/{user}/sessions")
}

fn session_path(user: &str, session: &str) -> String {
    format!("/_mxauth/admin/v1/users/{user}/sessions/{session}")
}

fn puppet_path(user: &str, token_id: &str) -> String {
    format!("/_mxauth/admin/v1/users/{user}/puppet_tokens/{token_id}")
}

async fn sessions(s: &TestServer, admin: &str, user: &str) -> Value {
    let (status, body) = s.get(&sessions_path(user), Some(admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn session<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["session_id"] == id)
        .unwrap_or_else(|| panic!("no session {id} in {list}"))
}

async fn only_admins_may_ask_about_local_users(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    let (alice, token, device) = s.register("alice", PASSWORD).await;
    let paths = |user: &str| {
        [
            (Method::GET, sessions_path(user)),
            (Method::DELETE, session_path(user, &device)),
            (Method::DELETE, puppet_path(user, "1")),
        ]
    };
    for (method, path) in paths(&alice) {
        let got = s.request(method.clone(), &path, None, None).await;
        assert_error(&got, 401, "M_MISSING_TOKEN");
        let got = s.request(method, &path, Some(&token), None).await;
        assert_error(&got, 403, "M_FORBIDDEN");
        assert_eq!(got.1["error"], "You are not a server admin");
    }
    for user in ["@alice:elsewhere.example", "alice", "@a b:test.example"] {
        for (method, path) in paths(user) {
            let got = s.request(method.clone(), &path, Some(&token), None).await;
            assert_error(&got, 403, "M_FORBIDDEN");
            let got = s.request(method, &path, Some(&admin), None).await;
            if !user.starts_with("@alice:") {
                assert_error(&got, 400, "M_INVALID_PARAM");
                continue;
            }
            assert_error(&got, 400, "M_UNKNOWN");
            assert_eq!(got.1["error"], "Can only lookup local users", "{path}");
        }
    }
    for (method, path) in paths(&format!("@nobody:{SERVER_NAME}")) {
        let got = s.request(method, &path, Some(&admin), None).await;
        assert_error(&got, 404, "M_NOT_FOUND");
        assert_eq!(got.1["error"], "Unknown user", "{path}");
    }
    // Alice's session is untouched.
    let (status, _) = s.get(WHOAMI, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
}

async fn sessions_are_listed_with_their_kind_and_client(b: Backend) {
    let s = oauth_builder(b).start().await;
    let admin = s.register_admin("root").await;
    let (alice, legacy_token, legacy) = s.register("alice", PASSWORD).await;
    let before = crate::support::wall_clock_ms();
    log_in(&s, "alice", PASSWORD, DEVICE).await;
    let (status, _) = s.get_as(WHOAMI, &legacy_token, "Legacy/1.0").await;
    assert_eq!(status, StatusCode::OK);

    // Seen: flushed every 200 ms in tests.
    let deadline = crate::support::real_now() + Duration::from_secs(5);
    let list = loop {
        let list = sessions(&s, &admin, &alice).await;
        if session(&list, &legacy)["last_seen_user_agent"].is_string() {
            break list;
        }
        assert!(crate::support::real_now() < deadline, "never seen: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list["puppet_tokens"], json!([]), "{list}");

    let l = session(&list, &legacy);
    let created = l["created_ts"].as_i64().expect("created_ts");
    assert!(created <= crate::support::wall_clock_ms() && created > before - 60_000);
    assert_eq!(
        l,
        &json!({
            "session_id": legacy,
            "device_id": legacy,
            "display_name": null,
            "kind": "legacy",
            "client_id": null,
            "created_ts": created,
            "last_seen_ts": l["last_seen_ts"],
            "last_seen_ip": "127.0.0.1",
            "last_seen_user_agent": "Legacy/1.0",
        })
    );
    assert!(l["last_seen_ts"].is_i64(), "{l}");

    let o = session(&list, DEVICE);
    assert_eq!(o["device_id"], DEVICE);
    assert_eq!(o["kind"], "oauth", "{o}");
    assert_eq!(o["client_id"], APP, "{o}");
    assert!(o["created_ts"].as_i64().unwrap() >= before, "{o}");
}

async fn ending_a_session_ends_its_tokens_here_and_at_the_homeserver(b: Backend) {
    let (endpoint, calls) = fake_synapse().await;
    let s = with_homeserver(oauth_builder(b), endpoint).start().await;
    let admin = s.register_admin("root").await;
    let (alice, legacy_token, legacy) = s.register("alice", PASSWORD).await;
    let (client_id, tokens) = log_in(&s, "alice", PASSWORD, DEVICE).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    let (status, _) = whoami(&s, access).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = s
        .request(
            Method::DELETE,
            &session_path(&alice, DEVICE),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    assert_error(&whoami(&s, access).await, 401, "M_UNKNOWN_TOKEN");
    let (status, refused) = token_request(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", client_id.as_str()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"], "invalid_grant", "{refused}");
    let deleted: Vec<Value> = calls_of(&calls, "delete_device")
        .into_iter()
        .filter(|c| c["device_id"] == DEVICE)
        .collect();
    assert_eq!(
        deleted,
        [json!({"localpart": "alice", "device_id": DEVICE})]
    );

    // The legacy session is left alone; the ended one is no more.
    let (status, _) = s.get(WHOAMI, Some(&legacy_token)).await;
    assert_eq!(status, StatusCode::OK);
    let list = sessions(&s, &admin, &alice).await;
    let ids: Vec<&Value> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["session_id"])
        .collect();
    assert_eq!(ids, [&json!(legacy)]);
    for gone in [DEVICE, "NOSUCH"] {
        let got = s
            .request(
                Method::DELETE,
                &session_path(&alice, gone),
                Some(&admin),
                None,
            )
            .await;
        assert_error(&got, 404, "M_NOT_FOUND");
        assert_eq!(got.1["error"], "No such session");
    }
    assert_eq!(
        calls_of(&calls, "delete_device").len(),
        1,
        "nothing more was sent"
    );
}

async fn puppet_tokens_are_listed_and_ended(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    let root = format!("@root:{SERVER_NAME}");
    let (alice, alice_token, _) = s.register("alice", PASSWORD).await;
    let (bob, _, _) = s.register("bob", "bob-pw").await;
    let puppet = |user: &str, body: Value| {
        let (s, admin) = (&s, &admin);
        let path = format!("/_synapse/admin/v1/users/{user}/login");
        async move {
            let (status, r) = s.post(&path, Some(admin), body).await;
            assert_eq!(status, StatusCode::OK, "{r}");
            r["access_token"].as_str().unwrap().to_owned()
        }
    };
    let before = crate::support::wall_clock_ms();
    let alice_puppet = puppet(&alice, json!({})).await;
    let until = before + 3_600_000;
    let bounded = puppet(&alice, json!({ "valid_until_ms": until })).await;
    // Expired: no session any more, not listed.
    puppet(&alice, json!({"valid_until_ms": 1})).await;
    let bob_puppet = puppet(&bob, json!({})).await;

    let list = sessions(&s, &admin, &alice).await;
    let tokens = list["puppet_tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2, "{list}");
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1, "{list}");
    let (open, limited) = (&tokens[0], &tokens[1]);
    for t in tokens {
        assert_eq!(t["puppet_owner"], root.as_str(), "{t}");
        assert!(t["token_id"].is_i64(), "{t}");
        assert!(t["created_ts"].as_i64().unwrap() >= before - 1_000, "{t}");
    }
    assert_eq!(open["valid_until_ts"], Value::Null, "{open}");
    assert_eq!(limited["valid_until_ts"], until, "{limited}");
    let mut keys: Vec<&String> = open.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_ts",
            "last_used_ts",
            "puppet_owner",
            "token_id",
            "valid_until_ts"
        ]
    );
    let open_id = open["token_id"].as_i64().unwrap();
    let bob_list = sessions(&s, &admin, &bob).await;
    let bob_id = bob_list["puppet_tokens"][0]["token_id"].as_i64().unwrap();

    // Bob's token is not alice's to end, nor is a token with a device or
    // what is no token ID.
    for id in [bob_id.to_string(), "abc".into(), "-1".into(), "".into()] {
        let path = puppet_path(&alice, &id);
        let got = s.request(Method::DELETE, &path, Some(&admin), None).await;
        assert!(
            got.0 == StatusCode::NOT_FOUND,
            "{path}: {} {}",
            got.0,
            got.1
        );
    }
    // Every token made before alice's first puppet token has a device
    // (the admin's, alice's, bob's).
    for id in 1..open_id {
        let path = puppet_path(&alice, &id.to_string());
        let got = s.request(Method::DELETE, &path, Some(&admin), None).await;
        assert_error(&got, 404, "M_NOT_FOUND");
    }
    let (status, _) = s.get(WHOAMI, Some(&alice_token)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a device's token is no puppet token"
    );
    let (status, _) = s.get(WHOAMI, Some(&bob_puppet)).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = s
        .request(
            Method::DELETE,
            &puppet_path(&alice, &open_id.to_string()),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    assert_error(
        &s.get(WHOAMI, Some(&alice_puppet)).await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    let (status, _) = s.get(WHOAMI, Some(&bounded)).await;
    assert_eq!(status, StatusCode::OK);
    let got = s
        .request(
            Method::DELETE,
            &puppet_path(&alice, &open_id.to_string()),
            Some(&admin),
            None,
        )
        .await;
    assert_error(&got, 404, "M_NOT_FOUND");
    assert_eq!(got.1["error"], "No such token");
    let list = sessions(&s, &admin, &alice).await;
    assert_eq!(list["puppet_tokens"].as_array().unwrap().len(), 1, "{list}");
}

async fn store_lists_and_deletes_tokens_without_a_device(b: Backend) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.expect("store connects");
    for user in ["@a:x", "@b:x"] {
        store
            .users()
            .create_user(&NewUser {
                user_id: user.into(),
                created_ts: 1,
                ..NewUser::default()
            })
            .await
            .unwrap();
    }
    let token = |n: u8, user: &str, device: Option<&str>, owner: Option<&str>| NewAccessToken {
        token_hash: vec![n; 32],
        user_id: user.into(),
        device_id: device.map(str::to_owned),
        puppet_owner: owner.map(str::to_owned),
        created_ts: 100 + i64::from(n),
        valid_until_ts: (n == 2).then_some(5_000),
        ..NewAccessToken::default()
    };
    let mut ids = Vec::new();
    for t in [
        token(1, "@a:x", None, Some("@admin:x")),
        token(2, "@a:x", None, None),
        token(3, "@a:x", Some("DEV"), None),
        token(4, "@b:x", None, Some("@admin:x")),
    ] {
        ids.push(store.access_tokens().create_access_token(&t).await.unwrap());
    }
    let listed = store
        .devices()
        .list_deviceless_tokens("@a:x")
        .await
        .unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        (
            listed[0].id,
            listed[0].puppet_owner.as_deref(),
            listed[0].created_ts
        ),
        (ids[0], Some("@admin:x"), 101)
    );
    assert_eq!(
        (
            listed[1].id,
            listed[1].puppet_owner.as_deref(),
            listed[1].valid_until_ts
        ),
        (ids[1], None, Some(5_000))
    );
    assert_eq!(listed[1].last_used_ts, None);
    // Only the user's own, and only without a device.
    for (user, id) in [("@a:x", ids[2]), ("@a:x", ids[3]), ("@b:x", ids[0])] {
        assert!(!store
            .devices()
            .delete_deviceless_token(user, id)
            .await
            .unwrap());
    }
    assert!(store
        .devices()
        .delete_deviceless_token("@a:x", ids[0])
        .await
        .unwrap());
    assert!(!store
        .devices()
        .delete_deviceless_token("@a:x", ids[0])
        .await
        .unwrap());
    let left = store
        .devices()
        .list_deviceless_tokens("@a:x")
        .await
        .unwrap();
    assert_eq!(left.iter().map(|t| t.id).collect::<Vec<_>>(), [ids[1]]);
    assert_eq!(
        store
            .devices()
            .list_deviceless_tokens("@b:x")
            .await
            .unwrap()
            .len(),
        1
    );
}
