//! Synapse's user admin API served by mxauth: a user read, created and
//! changed in one request (and nothing changed when the request is
//! refused), the user lists' filters and keyset paging, suspension,
//! deactivation, password resets and the admin flag, and what a delegating
//! homeserver is told. (`admin_parity.rs` compares each answer with what
//! Synapse 1.163.2 gives.)

use crate::account_pages_homeserver::{calls_of, fake_synapse, with_homeserver};
use crate::both;
use crate::support::{assert_error, mock_clock, Backend, TestServer, SERVER_NAME};
use mxauth::auth::user_counts::UserCounts;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

both!(
    a_user_is_created_read_and_changed,
    a_refused_change_changes_nothing,
    the_lists_filter_and_order,
    paging_sees_every_user_once_under_concurrent_inserts,
    the_total_is_kept_a_few_seconds,
    suspension_deactivation_and_reactivation,
    password_resets_end_the_other_sessions,
    the_admin_flag,
    only_admins_and_well_formed_requests,
    a_delegating_homeserver_hears_of_each_change,
    a_user_created_deactivated_is_made_at_the_homeserver_before_its_deactivation,
);

fn uid(localpart: &str) -> String {
    format!("@{localpart}:{SERVER_NAME}")
}

fn user_path(localpart: &str) -> String {
    format!("/_synapse/admin/v2/users/{}", uid(localpart))
}

/// A fresh server and the token of its admin `@root`.
async fn with_admin(b: Backend) -> (TestServer, String) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    (s, admin)
}

async fn put(s: &TestServer, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    s.request(Method::PUT, path, Some(token), Some(&body)).await
}

async fn login_by_email(s: &TestServer, address: &str, password: &str) -> StatusCode {
    let body = json!({"type": "m.login.password",
        "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": address},
        "password": password});
    s.post("/_matrix/client/v3/login", None, body).await.0
}

async fn whoami(s: &TestServer, token: &str) -> (StatusCode, Value) {
    s.get("/_matrix/client/v3/account/whoami", Some(token))
        .await
}

async fn a_user_is_created_read_and_changed(b: Backend) {
    let (s, admin) = with_admin(b).await;
    let (status, created) = put(
        &s,
        &user_path("alice"),
        &admin,
        json!({
            "password": "alice-pw-1",
            "displayname": "  Alice  ",
            "threepids": [{"medium": "email", "address": "Alice@Example.ORG"}],
            "external_ids": [{"auth_provider": "oidc-github", "external_id": "1234"}],
            "user_type": "bot",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], uid("alice"));
    assert_eq!(created["displayname"], "Alice", "trimmed");
    assert_eq!(created["user_type"], "bot");
    assert_eq!(created["admin"], false);
    assert_eq!(created["deactivated"], false);
    assert_eq!(created["locked"], false);
    assert_eq!(created["suspended"], false);
    assert_eq!(created["erased"], false);
    assert_eq!(created["is_guest"], false);
    assert_eq!(created["threepids"][0]["address"], "alice@example.org");
    assert!(created["threepids"][0]["validated_at"].is_i64());
    assert_eq!(
        created["external_ids"],
        json!([{"auth_provider": "oidc-github", "external_id": "1234"}])
    );
    // Seconds, as Synapse's GET (the list says milliseconds).
    let now_s = crate::support::wall_clock_ms() / 1000;
    let creation = created["creation_ts"].as_i64().unwrap();
    assert!((now_s - creation).abs() < 60, "{creation} vs {now_s}");
    assert_eq!(created["last_seen_ts"], Value::Null);

    // The password works, and the login is seen.
    let (token, _) = s.login("alice", "alice-pw-1").await;
    assert_eq!(whoami(&s, &token).await.0, StatusCode::OK);
    let (status, got) = s.get(&user_path("alice"), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["displayname"], "Alice");
    // By email too.
    let status = login_by_email(&s, "alice@example.org", "alice-pw-1").await;
    assert_eq!(status, StatusCode::OK);

    // Changed: 200, each field replaced; the sets replaced whole.
    let (status, changed) = put(
        &s,
        &user_path("alice"),
        &admin,
        json!({
            "displayname": "",
            "avatar_url": "mxc://example.org/abc",
            "threepids": [{"medium": "email", "address": "new@example.org"},
                          {"medium": "msisdn", "address": "447700900000"}],
            "external_ids": [],
            "user_type": null,
            "admin": true,
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["displayname"], Value::Null, "empty removes it");
    assert_eq!(changed["avatar_url"], "mxc://example.org/abc");
    assert_eq!(changed["user_type"], Value::Null);
    assert_eq!(changed["admin"], true);
    assert_eq!(changed["external_ids"], json!([]));
    let mut addresses: Vec<&str> = changed["threepids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["address"].as_str().unwrap())
        .collect();
    addresses.sort();
    assert_eq!(addresses, ["447700900000", "new@example.org"]);
    // The old address no longer logs in; the sessions were not touched.
    let status = login_by_email(&s, "alice@example.org", "alice-pw-1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(whoami(&s, &token).await.0, StatusCode::OK);

    // A new password ends every session (logout_devices defaults to true).
    let (status, _) = put(
        &s,
        &user_path("alice"),
        &admin,
        json!({"password": "alice-pw-2"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(&whoami(&s, &token).await, 401, "M_UNKNOWN_TOKEN");
    assert_eq!(s.try_login("alice", "alice-pw-1").await.0, 403);
    // ... unless told not to.
    let (token, _) = s.login("alice", "alice-pw-2").await;
    put(
        &s,
        &user_path("alice"),
        &admin,
        json!({"password": "alice-pw-3", "logout_devices": false}),
    )
    .await;
    assert_eq!(whoami(&s, &token).await.0, StatusCode::OK);
    s.login("alice", "alice-pw-3").await;

    // Locked and unlocked: the token stays, refused while locked.
    put(&s, &user_path("alice"), &admin, json!({"locked": true})).await;
    let locked = whoami(&s, &token).await;
    assert_error(&locked, 401, "M_USER_LOCKED");
    assert_eq!(locked.1["soft_logout"], true);
    let (_, got) = s.get(&user_path("alice"), Some(&admin)).await;
    assert_eq!(got["locked"], true);
    put(&s, &user_path("alice"), &admin, json!({"locked": false})).await;
    assert_eq!(whoami(&s, &token).await.0, StatusCode::OK);

    // A create may lock at once (Synapse ignores `locked` on create).
    let (status, bob) = put(
        &s,
        &user_path("bob"),
        &admin,
        json!({"password": "bob-pw", "locked": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    assert_eq!(bob["locked"], true);
    assert_eq!(bob["displayname"], "bob", "named after the localpart");
    assert_error(&s.try_login("bob", "bob-pw").await, 401, "M_USER_LOCKED");
}

/// Every refusal comes before any write: the user is as it was (Synapse
/// writes a step at a time, and a late refusal leaves the first steps
/// done, or a created user behind).
async fn a_refused_change_changes_nothing(b: Backend) {
    let (s, admin) = with_admin(b).await;
    put(
        &s,
        &user_path("alice"),
        &admin,
        json!({"password": "alice-pw",
               "threepids": [{"medium": "email", "address": "alice@example.org"}],
               "external_ids": [{"auth_provider": "oidc-github", "external_id": "alice-sub"}]}),
    )
    .await;
    let (_, bob) = put(
        &s,
        &user_path("bob"),
        &admin,
        json!({"password": "bob-pw", "displayname": "Bob"}),
    )
    .await;

    // Alice's address for Bob: refused (Synapse moves it to Bob).
    let got = put(
        &s,
        &user_path("bob"),
        &admin,
        json!({"displayname": "Robert",
               "threepids": [{"medium": "email", "address": "ALICE@example.org"}]}),
    )
    .await;
    assert_error(&got, 400, "M_THREEPID_IN_USE");
    // Alice's external ID for Bob: 409.
    let got = put(
        &s,
        &user_path("bob"),
        &admin,
        json!({"displayname": "Robert",
               "external_ids": [{"auth_provider": "oidc-github", "external_id": "alice-sub"}]}),
    )
    .await;
    assert_error(&got, 409, "M_UNKNOWN");
    let (_, after) = s.get(&user_path("bob"), Some(&admin)).await;
    assert_eq!(after, bob, "Bob is unchanged");
    let (_, alice) = s.get(&user_path("alice"), Some(&admin)).await;
    assert_eq!(alice["threepids"][0]["address"], "alice@example.org");
    assert_eq!(alice["external_ids"][0]["external_id"], "alice-sub");

    // A create refused late leaves no user behind (Synapse's 409 does).
    let got = put(
        &s,
        &user_path("carol"),
        &admin,
        json!({"password": "carol-pw",
               "external_ids": [{"auth_provider": "oidc-github", "external_id": "alice-sub"}]}),
    )
    .await;
    assert_error(&got, 409, "M_UNKNOWN");
    assert_error(
        &s.get(&user_path("carol"), Some(&admin)).await,
        404,
        "M_NOT_FOUND",
    );
    assert_eq!(s.try_login("carol", "carol-pw").await.0, 403);

    // Wrong types: 400, nothing written.
    for (body, status, errcode) in [
        (json!({"admin": "false"}), 400, "M_BAD_JSON"),
        (json!({"admin": null}), 400, "M_BAD_JSON"),
        (json!({"threepids": 5}), 400, "M_BAD_JSON"),
        (json!({"threepids": [5]}), 400, "M_BAD_JSON"),
        (
            json!({"threepids": [{"medium": "email", "address": ["x"]}]}),
            400,
            "M_BAD_JSON",
        ),
        (
            json!({"threepids": [{"medium": "email"}]}),
            400,
            "M_MISSING_PARAM",
        ),
        (
            json!({"threepids": [{"medium": "fax", "address": "1"}]}),
            400,
            "M_INVALID_PARAM",
        ),
        (
            json!({"threepids": [{"medium": "email", "address": "no-at-sign"}]}),
            400,
            "M_UNKNOWN",
        ),
        (json!({"external_ids": [5]}), 400, "M_BAD_JSON"),
        (
            json!({"external_ids": [{"auth_provider": "x"}]}),
            400,
            "M_MISSING_PARAM",
        ),
        (json!({"user_type": "wizard"}), 400, "M_UNKNOWN"),
        (json!({"password": 5}), 400, "M_UNKNOWN"),
        (json!({"password": "x".repeat(513)}), 400, "M_UNKNOWN"),
        (json!({"logout_devices": "no"}), 400, "M_UNKNOWN"),
        (json!({"deactivated": 1}), 400, "M_UNKNOWN"),
        (json!({"locked": "true"}), 400, "M_UNKNOWN"),
        (
            json!({"locked": true, "deactivated": true}),
            400,
            "M_UNKNOWN",
        ),
        (json!({"displayname": 5}), 400, "M_INVALID_PARAM"),
        (json!({"displayname": "x".repeat(257)}), 400, "M_UNKNOWN"),
        (json!({"avatar_url": "x".repeat(1001)}), 400, "M_UNKNOWN"),
    ] {
        let mut with_name = body.clone();
        with_name["displayname"] = body.get("displayname").cloned().unwrap_or(json!("Renamed"));
        let got = put(&s, &user_path("bob"), &admin, with_name).await;
        assert_eq!(got.0.as_u16(), status, "{body}: {}", got.1);
        assert_eq!(got.1["errcode"], errcode, "{body}: {}", got.1);
    }
    let (_, after) = s.get(&user_path("bob"), Some(&admin)).await;
    assert_eq!(after, bob, "Bob is unchanged");
    s.login("bob", "bob-pw").await;

    // A name Synapse refuses for a new user.
    for (localpart, errcode) in [
        ("Upper", "M_INVALID_USERNAME"),
        ("_under", "M_INVALID_USERNAME"),
        ("12345", "M_INVALID_USERNAME"),
    ] {
        let got = put(&s, &user_path(localpart), &admin, json!({})).await;
        assert_error(&got, 400, errcode);
    }
    // The admin may not demote themselves.
    let got = put(&s, &user_path("root"), &admin, json!({"admin": false})).await;
    assert_error(&got, 400, "M_UNKNOWN");
    let (_, root) = s.get(&user_path("root"), Some(&admin)).await;
    assert_eq!(root["admin"], true);
}

async fn list(s: &TestServer, token: &str, query: &str) -> Value {
    let (status, body) = s
        .get(&format!("/_synapse/admin/v2/users?{query}"), Some(token))
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

fn names(page: &Value) -> Vec<String> {
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_lists_filter_and_order(b: Backend) {
    let (s, admin) = with_admin(b).await;
    // Capitalised names: the order of upper and lower case is the
    // database's collation (as in Synapse).
    put(
        &s,
        &user_path("root"),
        &admin,
        json!({"displayname": "Root"}),
    )
    .await;
    for (localpart, body) in [
        ("amy", json!({"displayname": "Zed Amy"})),
        ("ben", json!({"displayname": "Ben", "user_type": "bot"})),
        ("cat", json!({"displayname": "Cat", "locked": true})),
        (
            "dan",
            json!({"displayname": "Dan", "admin": true, "user_type": "support"}),
        ),
        ("eve", json!({"displayname": "50%_off"})),
    ] {
        let (status, res) = put(&s, &user_path(localpart), &admin, body).await;
        assert_eq!(status, StatusCode::CREATED, "{res}");
    }
    s.post(
        &format!("/_synapse/admin/v1/deactivate/{}", uid("eve")),
        Some(&admin),
        json!({}),
    )
    .await;

    // v2: neither locked nor deactivated users by default.
    let page = list(&s, &admin, "").await;
    assert_eq!(
        names(&page),
        [uid("amy"), uid("ben"), uid("dan"), uid("root")]
    );
    assert_eq!(page["total"], 4);
    assert!(page.get("next_token").is_none(), "{page}");
    let row = &page["users"][0];
    for key in [
        "name",
        "user_type",
        "is_guest",
        "admin",
        "deactivated",
        "shadow_banned",
        "displayname",
        "avatar_url",
        "creation_ts",
        "erased",
        "last_seen_ts",
        "locked",
    ] {
        assert!(row.get(key).is_some(), "{key} in {row}");
    }
    // Milliseconds in the list.
    let ms = row["creation_ts"].as_i64().unwrap();
    assert!((crate::support::wall_clock_ms() - ms).abs() < 60_000);

    assert_eq!(names(&list(&s, &admin, "locked=true").await).len(), 5);
    assert_eq!(names(&list(&s, &admin, "deactivated=true").await).len(), 5);
    // v3: `deactivated` filters both ways.
    let (_, v3) = s
        .get("/_synapse/admin/v3/users?deactivated=true", Some(&admin))
        .await;
    assert_eq!(names(&v3), [uid("eve")]);
    let (_, v3) = s.get("/_synapse/admin/v3/users", Some(&admin)).await;
    assert_eq!(
        v3["total"], 5,
        "v3 shows deactivated users by default: {v3}"
    );

    assert_eq!(
        names(&list(&s, &admin, "admins=true").await),
        [uid("dan"), uid("root")]
    );
    assert_eq!(
        names(&list(&s, &admin, "admins=false").await),
        [uid("amy"), uid("ben")]
    );
    // `name`: localpart or display name, any case; `%` and `_` literal.
    assert_eq!(names(&list(&s, &admin, "name=ZED").await), [uid("amy")]);
    assert_eq!(names(&list(&s, &admin, "name=am").await), [uid("amy")]);
    assert_eq!(
        names(&list(&s, &admin, "name=50%25_&deactivated=true").await),
        [uid("eve")]
    );
    assert!(names(&list(&s, &admin, "name=%25").await).is_empty());
    assert_eq!(names(&list(&s, &admin, "user_id=@da").await), [uid("dan")]);
    // Types left out; the empty type leaves out users without one.
    assert_eq!(
        names(&list(&s, &admin, "not_user_type=bot").await),
        [uid("amy"), uid("dan"), uid("root")]
    );
    assert_eq!(
        names(&list(&s, &admin, "not_user_type=bot&not_user_type=").await),
        [uid("dan")]
    );
    assert_eq!(
        names(&list(&s, &admin, "not_user_type=").await),
        [uid("ben"), uid("dan")]
    );
    // Orders; ties by name, ascending even backwards.
    assert_eq!(
        names(&list(&s, &admin, "order_by=displayname").await),
        [uid("ben"), uid("dan"), uid("root"), uid("amy")]
    );
    assert_eq!(
        names(&list(&s, &admin, "order_by=name&dir=b").await),
        [uid("root"), uid("dan"), uid("ben"), uid("amy")]
    );
    assert_eq!(
        names(&list(&s, &admin, "order_by=admin&dir=b").await),
        [uid("dan"), uid("root"), uid("amy"), uid("ben")]
    );
    // Numeric `from` is Synapse's offset.
    let page = list(&s, &admin, "from=1&limit=2").await;
    assert_eq!(names(&page), [uid("ben"), uid("dan")]);
    assert!(page["next_token"].is_string());
    assert_eq!(page["total"], 4);
    // Bad parameters.
    for query in [
        "limit=-1",
        "limit=abc",
        "from=-5",
        "from=not-a-token",
        "order_by=bogus",
        "dir=x",
        "deactivated=maybe",
        "guests=1",
    ] {
        let got = s
            .get(&format!("/_synapse/admin/v2/users?{query}"), Some(&admin))
            .await;
        assert_error(&got, 400, "M_INVALID_PARAM");
    }
    // A token of one order is refused with another.
    let page = list(&s, &admin, "limit=1&order_by=displayname").await;
    let token = page["next_token"].as_str().unwrap();
    let got = s
        .get(
            &format!("/_synapse/admin/v2/users?from={token}&order_by=name"),
            Some(&admin),
        )
        .await;
    assert_error(&got, 400, "M_INVALID_PARAM");
}

/// Walks the whole list with `next_token` while other users are being
/// created: every user there from the start is seen exactly once, in
/// order, whatever the sort.
async fn paging_sees_every_user_once_under_concurrent_inserts(b: Backend) {
    let s = std::sync::Arc::new(TestServer::builder(b).start().await);
    let admin = s.register_admin("root").await;
    let mut before = vec![uid("root")];
    for i in 0..60 {
        let localpart = format!("u{i:03}");
        let name = format!("Name {}", (i * 37) % 11);
        let (status, res) = put(
            &s,
            &user_path(&localpart),
            &admin,
            json!({"displayname": name}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{res}");
        before.push(uid(&localpart));
    }
    for (order, dir) in [
        ("name", "f"),
        ("name", "b"),
        ("displayname", "f"),
        ("creation_ts", "b"),
    ] {
        let writer = {
            let s = s.clone();
            let admin = admin.clone();
            let tag = format!("{order}{dir}");
            tokio::spawn(async move {
                for i in 0..30 {
                    let localpart = format!("new{tag}{i:02}");
                    put(
                        &s,
                        &user_path(&localpart),
                        &admin,
                        json!({"displayname": "Name 5"}),
                    )
                    .await;
                }
            })
        };
        let mut seen: Vec<Value> = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let mut query = format!("limit=7&order_by={order}&dir={dir}");
            if let Some(t) = &from {
                query.push_str(&format!("&from={t}"));
            }
            let page = list(&s, &admin, &query).await;
            seen.extend(page["users"].as_array().unwrap().iter().cloned());
            match page["next_token"].as_str() {
                Some(t) => from = Some(t.to_owned()),
                None => break,
            }
        }
        writer.await.unwrap();
        let seen_names: Vec<&str> = seen.iter().map(|u| u["name"].as_str().unwrap()).collect();
        for user in &before {
            let n = seen_names.iter().filter(|n| **n == user).count();
            assert_eq!(n, 1, "{user} seen {n} times ordering by {order} {dir}");
        }
        let mut unique = seen_names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen_names.len(), "no user twice");
        // In order: each row's key is not before the previous one's.
        let key = |u: &Value| -> (Value, String) {
            let k = match order {
                "name" => u["name"].clone(),
                "displayname" => json!(u["displayname"].as_str().unwrap_or("")),
                _ => u["creation_ts"].clone(),
            };
            (k, u["name"].as_str().unwrap().to_owned())
        };
        for pair in seen.windows(2) {
            let (a, b) = (key(&pair[0]), key(&pair[1]));
            let ordered = match (&a.0, &b.0, dir) {
                (Value::String(x), Value::String(y), "f") => x < y || (x == y && a.1 < b.1),
                (Value::String(x), Value::String(y), _) if order == "name" => x > y,
                (Value::String(x), Value::String(y), _) => x > y || (x == y && a.1 < b.1),
                (Value::Number(x), Value::Number(y), "b") => {
                    let (x, y) = (x.as_i64().unwrap(), y.as_i64().unwrap());
                    x > y || (x == y && a.1 < b.1)
                }
                _ => false,
            };
            assert!(ordered, "{a:?} then {b:?} ordering by {order} {dir}");
        }
    }
}

/// The total is counted once per filter set and a few seconds: a user
/// registered meanwhile shows in it once that lifetime is over; one an
/// admin creates (or deactivates) through the API shows at once.
async fn the_total_is_kept_a_few_seconds(b: Backend) {
    let clock = mock_clock();
    let s = TestServer::builder(b).clock(clock.clone()).start().await;
    let admin = s.register_admin("root").await;
    s.register("amy", "a-Password-1").await;
    let total = |page: Value| page["total"].as_i64().unwrap();
    assert_eq!(total(list(&s, &admin, "").await), 2);
    assert_eq!(total(list(&s, &admin, "name=amy").await), 1);

    s.register("ben", "a-Password-1").await;
    clock.advance_ms(UserCounts::TTL_MS - 1);
    let page = list(&s, &admin, "").await;
    assert_eq!(names(&page).len(), 3, "the rows are read every time");
    assert_eq!(total(page), 2, "the total counted a moment ago");
    clock.advance_ms(1);
    assert_eq!(total(list(&s, &admin, "").await), 3);
    assert_eq!(total(list(&s, &admin, "limit=1&from=2").await), 3);

    let (status, _) = put(&s, &user_path("cat"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(total(list(&s, &admin, "").await), 4);
    s.post(
        &format!("/_synapse/admin/v1/deactivate/{}", uid("amy")),
        Some(&admin),
        json!({}),
    )
    .await;
    assert_eq!(total(list(&s, &admin, "").await), 3);
    assert_eq!(total(list(&s, &admin, "name=amy").await), 0);
}

async fn suspension_deactivation_and_reactivation(b: Backend) {
    let (s, admin) = with_admin(b).await;
    put(
        &s,
        &user_path("alice"),
        &admin,
        json!({"password": "alice-pw", "displayname": "Alice", "avatar_url": "mxc://x/y",
               "threepids": [{"medium": "email", "address": "alice@example.org"}]}),
    )
    .await;
    let (token, _) = s.login("alice", "alice-pw").await;

    // Suspended: shown, nothing else changes (the homeserver enforces it).
    let path = format!("/_synapse/admin/v1/suspend/{}", uid("alice"));
    let (status, res) = put(&s, &path, &admin, json!({"suspend": true})).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(
        res,
        json!({ format!("user_{}_suspended", uid("alice")): true })
    );
    let (_, got) = s.get(&user_path("alice"), Some(&admin)).await;
    assert_eq!(got["suspended"], true);
    assert_eq!(whoami(&s, &token).await.0, StatusCode::OK);
    let (_, res) = put(&s, &path, &admin, json!({"suspend": false})).await;
    assert_eq!(res[format!("user_{}_suspended", uid("alice"))], false);
    assert_error(
        &put(&s, &path, &admin, json!({})).await,
        400,
        "M_MISSING_PARAM",
    );
    assert_error(
        &put(&s, &path, &admin, json!({"suspend": "true"})).await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &put(
            &s,
            &format!("/_synapse/admin/v1/suspend/{}", uid("nobody")),
            &admin,
            json!({"suspend": true}),
        )
        .await,
        404,
        "M_NOT_FOUND",
    );

    // Deactivated: sessions and addresses go, the name stays taken.
    let deactivate = format!("/_synapse/admin/v1/deactivate/{}", uid("alice"));
    assert_error(
        &s.post(&deactivate, Some(&admin), json!({"erase": "yes"}))
            .await,
        400,
        "M_BAD_JSON",
    );
    let (status, res) = s.post(&deactivate, Some(&admin), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res, json!({"id_server_unbind_result": "success"}));
    assert_error(&whoami(&s, &token).await, 401, "M_UNKNOWN_TOKEN");
    assert_error(
        &s.try_login("alice", "alice-pw").await,
        403,
        "M_USER_DEACTIVATED",
    );
    let (_, got) = s.get(&user_path("alice"), Some(&admin)).await;
    assert_eq!(got["deactivated"], true);
    assert_eq!(got["threepids"], json!([]));
    assert_eq!(got["erased"], false);
    assert_eq!(got["displayname"], "Alice");
    // Again with erase: the profile goes.
    let (status, _) = s
        .post(&deactivate, Some(&admin), json!({"erase": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, got) = s.get(&user_path("alice"), Some(&admin)).await;
    assert_eq!(got["erased"], true);
    assert_eq!(got["displayname"], Value::Null);
    assert_eq!(got["avatar_url"], Value::Null);

    // Reactivated through PUT, with a new password in the same request.
    let (status, got) = put(
        &s,
        &user_path("alice"),
        &admin,
        json!({"deactivated": false, "password": "alice-pw-2"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["deactivated"], false);
    assert_eq!(got["erased"], false);
    s.login("alice", "alice-pw-2").await;
    // Deactivated through PUT.
    let (_, got) = put(
        &s,
        &user_path("alice"),
        &admin,
        json!({"deactivated": true}),
    )
    .await;
    assert_eq!(got["deactivated"], true);
    assert_error(
        &s.try_login("alice", "alice-pw-2").await,
        403,
        "M_USER_DEACTIVATED",
    );
    // Reactivated without a password: none until one is set.
    put(
        &s,
        &user_path("alice"),
        &admin,
        json!({"deactivated": false}),
    )
    .await;
    assert_eq!(s.try_login("alice", "alice-pw-2").await.0, 403);
    assert_error(
        &s.post(
            &format!("/_synapse/admin/v1/deactivate/{}", uid("nobody")),
            Some(&admin),
            json!({}),
        )
        .await,
        404,
        "M_NOT_FOUND",
    );
}

async fn password_resets_end_the_other_sessions(b: Backend) {
    let (s, admin) = with_admin(b).await;
    put(
        &s,
        &user_path("alice"),
        &admin,
        json!({"password": "alice-pw"}),
    )
    .await;
    let (one, _) = s.login("alice", "alice-pw").await;
    let reset = format!("/_synapse/admin/v1/reset_password/{}", uid("alice"));
    // Synapse answers 500 to a non-string, and logs out on "false".
    for (body, errcode) in [
        (json!({}), "M_MISSING_PARAM"),
        (json!({"new_password": 5}), "M_BAD_JSON"),
        (json!({"new_password": null}), "M_BAD_JSON"),
        (json!({"new_password": {}}), "M_BAD_JSON"),
        (
            json!({"new_password": "pw-x", "logout_devices": "false"}),
            "M_BAD_JSON",
        ),
        (json!({"new_password": "x".repeat(513)}), "M_UNKNOWN"),
    ] {
        assert_error(&s.post(&reset, Some(&admin), body).await, 400, errcode);
    }
    assert_eq!(whoami(&s, &one).await.0, StatusCode::OK, "nothing changed");
    s.login("alice", "alice-pw").await;

    let (status, res) = s
        .post(
            &reset,
            Some(&admin),
            json!({"new_password": "alice-pw-2", "logout_devices": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res, json!({}));
    assert_eq!(whoami(&s, &one).await.0, StatusCode::OK);
    s.login("alice", "alice-pw-2").await;
    let (status, _) = s
        .post(&reset, Some(&admin), json!({"new_password": "alice-pw-3"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(&whoami(&s, &one).await, 401, "M_UNKNOWN_TOKEN");
    s.login("alice", "alice-pw-3").await;
    // The admin resetting their own password keeps their own session.
    let own = format!("/_synapse/admin/v1/reset_password/{}", uid("root"));
    let (status, _) = s
        .post(&own, Some(&admin), json!({"new_password": "root-pw-2"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(whoami(&s, &admin).await.0, StatusCode::OK);
    assert_error(
        &s.post(
            &format!("/_synapse/admin/v1/reset_password/{}", uid("nobody")),
            Some(&admin),
            json!({"new_password": "x"}),
        )
        .await,
        404,
        "M_NOT_FOUND",
    );
}

async fn the_admin_flag(b: Backend) {
    let (s, admin) = with_admin(b).await;
    let (alice, alice_token, _) = s.register("alice", "alice-pw").await;
    let path = format!("/_synapse/admin/v1/users/{alice}/admin");
    let (_, got) = s.get(&path, Some(&admin)).await;
    assert_eq!(got, json!({"admin": false}));
    // Synapse promotes on "false".
    for body in [
        json!({"admin": "false"}),
        json!({"admin": 0}),
        json!({"admin": null}),
    ] {
        assert_error(&put(&s, &path, &admin, body).await, 400, "M_BAD_JSON");
    }
    assert_error(
        &put(&s, &path, &admin, json!({})).await,
        400,
        "M_MISSING_PARAM",
    );
    let (_, got) = s.get(&path, Some(&admin)).await;
    assert_eq!(got, json!({"admin": false}));
    assert_error(
        &s.get(&user_path("alice"), Some(&alice_token)).await,
        403,
        "M_FORBIDDEN",
    );

    let (status, res) = put(&s, &path, &admin, json!({"admin": true})).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res, json!({}));
    // The flag takes effect on the next request.
    let (status, _) = s.get(&user_path("root"), Some(&alice_token)).await;
    assert_eq!(status, StatusCode::OK);
    let own = format!("/_synapse/admin/v1/users/{}/admin", uid("root"));
    assert_error(
        &put(&s, &own, &admin, json!({"admin": false})).await,
        400,
        "M_UNKNOWN",
    );
    put(&s, &path, &admin, json!({"admin": false})).await;
    assert_error(
        &s.get(&user_path("root"), Some(&alice_token)).await,
        403,
        "M_FORBIDDEN",
    );
    let unknown = format!("/_synapse/admin/v1/users/{}/admin", uid("nobody"));
    assert_error(&s.get(&unknown, Some(&admin)).await, 404, "M_NOT_FOUND");
    assert_error(
        &put(&s, &unknown, &admin, json!({"admin": true})).await,
        404,
        "M_NOT_FOUND",
    );
    let remote = "/_synapse/admin/v1/users/@bob:elsewhere.example/admin";
    assert_error(
        &put(&s, remote, &admin, json!({"admin": true})).await,
        400,
        "M_UNKNOWN",
    );
}

async fn only_admins_and_well_formed_requests(b: Backend) {
    let (s, admin) = with_admin(b).await;
    let (alice, token, _) = s.register("alice", "alice-pw").await;
    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::GET,
            format!("/_synapse/admin/v2/users/{alice}"),
            None,
        ),
        (
            Method::PUT,
            format!("/_synapse/admin/v2/users/{alice}"),
            Some(json!({})),
        ),
        (Method::GET, "/_synapse/admin/v2/users".into(), None),
        (Method::GET, "/_synapse/admin/v3/users".into(), None),
        (
            Method::PUT,
            format!("/_synapse/admin/v1/suspend/{alice}"),
            Some(json!({"suspend": true})),
        ),
        (
            Method::POST,
            format!("/_synapse/admin/v1/deactivate/{alice}"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/_synapse/admin/v1/reset_password/{alice}"),
            Some(json!({"new_password": "x"})),
        ),
        (
            Method::GET,
            format!("/_synapse/admin/v1/users/{alice}/admin"),
            None,
        ),
        (
            Method::PUT,
            format!("/_synapse/admin/v1/users/{alice}/admin"),
            Some(json!({"admin": true})),
        ),
    ];
    for (method, path, body) in &endpoints {
        let got = s.request(method.clone(), path, None, body.as_ref()).await;
        assert_error(&got, 401, "M_MISSING_TOKEN");
        let got = s
            .request(method.clone(), path, Some(&token), body.as_ref())
            .await;
        assert_error(&got, 403, "M_FORBIDDEN");
        assert_eq!(got.1["error"], "You are not a server admin");
    }
    // Nothing happened to alice.
    assert_eq!(whoami(&s, &token).await.0, StatusCode::OK);
    let (_, got) = s
        .get(&format!("/_synapse/admin/v2/users/{alice}"), Some(&admin))
        .await;
    assert_eq!(got["admin"], false);
    assert_eq!(got["suspended"], false);

    // Unknown, remote and malformed users.
    assert_error(
        &s.get(&user_path("nobody"), Some(&admin)).await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &s.get(
            "/_synapse/admin/v2/users/@bob:elsewhere.example",
            Some(&admin),
        )
        .await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &put(
            &s,
            "/_synapse/admin/v2/users/@bob:elsewhere.example",
            &admin,
            json!({}),
        )
        .await,
        400,
        "M_UNKNOWN",
    );
    for bad in ["nobody", "@nobody"] {
        assert_error(
            &s.get(&format!("/_synapse/admin/v2/users/{bad}"), Some(&admin))
                .await,
            400,
            "M_INVALID_PARAM",
        );
    }
    // Bodies that are no JSON object.
    for (raw, errcode) in [("not json", "M_NOT_JSON"), ("[1]", "M_BAD_JSON")] {
        let res = s
            .raw()
            .put(format!("{}{}", s.base, user_path("alice")))
            .bearer_auth(&admin)
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["errcode"], errcode, "{body}");
    }
}

async fn a_delegating_homeserver_hears_of_each_change(b: Backend) {
    let (endpoint, calls) = fake_synapse().await;
    let s = with_homeserver(TestServer::builder(b), endpoint)
        .start()
        .await;
    let admin = s.register_admin("root").await;
    put(
        &s,
        &user_path("alice"),
        &admin,
        json!({"password": "alice-pw", "displayname": "Alice",
               "threepids": [{"medium": "email", "address": "alice@example.org"}]}),
    )
    .await;
    let (token, device) = s.login("alice", "alice-pw").await;
    put(
        &s,
        &user_path("alice"),
        &admin,
        json!({"displayname": "", "avatar_url": "mxc://x/y", "locked": true,
               "threepids": [{"medium": "email", "address": "new@example.org"},
                             {"medium": "msisdn", "address": "447700900000"}]}),
    )
    .await;
    put(
        &s,
        &user_path("alice"),
        &admin,
        json!({"locked": false, "password": "alice-pw-2"}),
    )
    .await;
    assert_error(&whoami(&s, &token).await, 401, "M_UNKNOWN_TOKEN");
    s.post(
        &format!("/_synapse/admin/v1/deactivate/{}", uid("alice")),
        Some(&admin),
        json!({"erase": true}),
    )
    .await;
    put(
        &s,
        &user_path("alice"),
        &admin,
        json!({"deactivated": false}),
    )
    .await;

    let provisions: Vec<Value> = calls_of(&calls, "provision_user")
        .into_iter()
        .filter(|c| c.as_object().is_some_and(|o| o.len() > 1))
        .collect();
    assert!(
        provisions.contains(&json!({"localpart": "alice", "set_displayname": "Alice",
                                    "set_emails": ["alice@example.org"]})),
        "{provisions:?}"
    );
    assert!(
        provisions.contains(&json!({"localpart": "alice", "unset_displayname": true,
            "set_avatar_url": "mxc://x/y", "set_emails": ["new@example.org"], "locked": true})),
        "{provisions:?}"
    );
    assert!(
        provisions.contains(&json!({"localpart": "alice", "locked": false})),
        "{provisions:?}"
    );
    assert!(
        calls_of(&calls, "delete_device")
            .contains(&json!({"localpart": "alice", "device_id": device})),
        "the password reset's logout"
    );
    assert_eq!(
        calls_of(&calls, "delete_user"),
        [json!({"localpart": "alice", "erase": true})]
    );
    assert_eq!(
        calls_of(&calls, "reactivate_user"),
        [json!({"localpart": "alice"})]
    );
}

async fn a_user_created_deactivated_is_made_at_the_homeserver_before_its_deactivation(b: Backend) {
    let (endpoint, calls) = fake_synapse().await;
    let s = with_homeserver(TestServer::builder(b), endpoint)
        .start()
        .await;
    let admin = s.register_admin("root").await;
    let (status, got) = put(
        &s,
        &user_path("ghost"),
        &admin,
        json!({"password": "ghost-pw", "displayname": "Ghost", "deactivated": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    assert_eq!(got["deactivated"], true);
    // Synapse's delete_user answers 404 for a user it does not know (taken
    // as done): the user must exist there first, or it stays active there.
    let ghost: Vec<(String, Value)> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, body)| body["localpart"] == "ghost")
        .cloned()
        .collect();
    assert_eq!(
        ghost,
        [
            (
                "provision_user".to_owned(),
                json!({"localpart": "ghost", "set_displayname": "Ghost"})
            ),
            (
                "delete_user".to_owned(),
                json!({"localpart": "ghost", "erase": false})
            ),
        ]
    );
}
