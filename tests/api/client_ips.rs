//! Client IPs and last seen: what requests leave behind, whois, pruning,
//! and that tracking costs a handful of writes, not one per request.

use crate::both;
use crate::support::{assert_error, db_exec, db_i64, Backend, TestServer, SERVER_NAME};
use reqwest::StatusCode;
use serde_json::{json, Value};

both!(
    whois_lists_sessions_by_device_and_token,
    whois_is_for_admins_and_oneself,
    old_client_ips_are_pruned,
    a_thousand_requests_cost_a_handful_of_writes,
);

const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

fn connections(session: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = session["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(c["last_seen"].as_i64().unwrap() > 0, "{c}");
            (
                c["ip"].as_str().unwrap().to_owned(),
                c["user_agent"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn whois_lists_sessions_by_device_and_token(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("admin").await;
    let (alice, phone, phone_device) = s.register("alice", "a password").await;
    let (laptop, laptop_device) = s.login("alice", "a password").await;
    s.get_as(WHOAMI, &phone, "Phone/1").await;
    s.get_as(WHOAMI, &phone, "Phone/2").await;
    s.get_as(WHOAMI, &laptop, "Laptop/1").await;

    for path in [
        format!("/_synapse/admin/v1/whois/{alice}"),
        format!("/_matrix/client/v3/admin/whois/{alice}"),
        format!("/_matrix/client/r0/admin/whois/{alice}"),
    ] {
        let (status, w) = s.get(&path, Some(&admin)).await;
        assert_eq!(status, StatusCode::OK, "{w}");
        assert_eq!(w["user_id"], alice);
        let devices = w["devices"].as_object().unwrap();
        assert_eq!(devices.len(), 2, "{w}");
        let phone_sessions = devices[&phone_device]["sessions"].as_array().unwrap();
        assert_eq!(phone_sessions.len(), 1, "{w}");
        // One connection per address (as Synapse), with the latest agent.
        assert_eq!(
            connections(&phone_sessions[0]),
            vec![("127.0.0.1".to_owned(), "Phone/2".to_owned())]
        );
        let laptop_sessions = devices[&laptop_device]["sessions"].as_array().unwrap();
        assert_eq!(
            connections(&laptop_sessions[0]),
            vec![("127.0.0.1".to_owned(), "Laptop/1".to_owned())]
        );
    }

    // The devices' last sighting is written too (by the next flush).
    let sighted = format!(
        "SELECT COUNT(*) FROM devices WHERE user_id = '{alice}' AND last_seen_ip IS NOT NULL"
    );
    assert_eq!(crate::support::db_wait_for(&s.db, &sighted, 2).await, 2);
    let (_, devices) = s.get("/_matrix/client/v3/devices", Some(&laptop)).await;
    for d in devices["devices"].as_array().unwrap() {
        assert_eq!(d["last_seen_ip"], "127.0.0.1", "{d}");
        assert!(d["last_seen_ts"].as_i64().unwrap() > 0, "{d}");
    }
    // And the rows outlive a flush, as stored rows.
    assert_eq!(
        db_i64(
            &s.db,
            &format!("SELECT COUNT(*) FROM user_ips WHERE user_id = '{alice}'")
        )
        .await,
        2
    );
}

async fn whois_is_for_admins_and_oneself(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("admin").await;
    let (alice, alice_token, _) = s.register("alice", "a password").await;
    let (bob, _, _) = s.register("bob", "a password").await;
    // Oneself: yes (this very request is already in the answer).
    let (status, w) = s
        .get(
            &format!("/_synapse/admin/v1/whois/{alice}"),
            Some(&alice_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(w["user_id"], alice);
    // Somebody else: only for admins.
    assert_error(
        &s.get(
            &format!("/_synapse/admin/v1/whois/{bob}"),
            Some(&alice_token),
        )
        .await,
        403,
        "M_FORBIDDEN",
    );
    let (status, w) = s
        .get(&format!("/_synapse/admin/v1/whois/{bob}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(w["devices"], json!({}), "bob made no request");
    // Only local users.
    let remote = "@carol:elsewhere.example";
    let got = s
        .get(&format!("/_synapse/admin/v1/whois/{remote}"), Some(&admin))
        .await;
    assert_error(&got, 400, "M_UNKNOWN");
    assert_error(
        &s.get(&format!("/_synapse/admin/v1/whois/{alice}"), None)
            .await,
        401,
        "M_MISSING_TOKEN",
    );
}

async fn old_client_ips_are_pruned(b: Backend) {
    let clock = crate::support::mock_clock();
    let s = TestServer::builder(b)
        .clock(clock.clone())
        .config(|c| c.usage.user_ips_max_age_ms = Some(1000))
        .start()
        .await;
    let admin = s.register_admin("admin").await;
    let (alice, token, _) = s.register("alice", "a password").await;
    s.get_as(WHOAMI, &token, "Old/1").await;
    let whois = format!("/_synapse/admin/v1/whois/{alice}");
    let (_, w) = s.get(&whois, Some(&admin)).await;
    assert_eq!(w["devices"].as_object().unwrap().len(), 1, "{w}");
    let db = s.db.clone();
    s.stop().await;
    clock.advance_ms(1200);

    // Pruning runs at start, then every minute.
    let s = TestServer::builder(db.clone())
        .clock(clock.clone())
        .config(|c| c.usage.user_ips_max_age_ms = Some(1000))
        .start()
        .await;
    let count = format!("SELECT COUNT(*) FROM user_ips WHERE user_id = '{alice}'");
    assert_eq!(crate::support::db_wait_for(&db, &count, 0).await, 0);
    let (_, w) = s.get(&whois, Some(&admin)).await;
    assert_eq!(w["devices"], json!({}), "{w}");

    // With `user_ips_max_age: null` nothing is pruned.
    s.get_as(WHOAMI, &token, "Kept/1").await;
    s.stop().await;
    clock.advance_ms(1200);
    let s = TestServer::builder(db.clone())
        .clock(clock.clone())
        .config(|c| c.usage.user_ips_max_age_ms = None)
        .start()
        .await;
    // The pruning the server runs at start, run by hand to know it is
    // done: it prunes nothing.
    s.auth.prune_client_ips().await.unwrap();
    assert_eq!(db_i64(&db, &count).await, 1);
    s.stop().await;
}

/// Triggers that log every write to the tables request tracking touches.
fn write_log_sql(b: Backend) -> String {
    let tables = [
        ("user_ips", "INSERT OR UPDATE"),
        ("devices", "UPDATE"),
        ("access_tokens", "UPDATE"),
        ("monthly_active_users", "INSERT OR UPDATE"),
    ];
    let mut sql = "CREATE TABLE write_log (tbl TEXT NOT NULL);\n".to_owned();
    match b {
        Backend::Sqlite => {
            for (t, events) in tables {
                for event in events.split(" OR ") {
                    sql.push_str(&format!(
                        "CREATE TRIGGER log_{t}_{event} AFTER {event} ON {t} \
                         BEGIN INSERT INTO write_log VALUES ('{t}'); END;\n"
                    ));
                }
            }
        }
        Backend::Postgres => {
            sql.push_str(
                "CREATE FUNCTION log_write() RETURNS trigger AS $$ BEGIN \
                 INSERT INTO write_log VALUES (TG_TABLE_NAME); RETURN NULL; END $$ \
                 LANGUAGE plpgsql;\n",
            );
            for (t, events) in tables {
                sql.push_str(&format!(
                    "CREATE TRIGGER log_{t} AFTER {events} ON {t} \
                     FOR EACH ROW EXECUTE FUNCTION log_write();\n"
                ));
            }
        }
    }
    sql
}

async fn a_thousand_requests_cost_a_handful_of_writes(b: Backend) {
    let configure = |c: &mut mxauth::config::Config| {
        c.mxauth.token_last_used_flush_ms = 5000;
        c.usage.mau_stats_only = true;
    };
    let s = TestServer::builder(b).config(configure).start().await;
    let (alice, token, _) = s.register("alice", "a password").await;
    db_exec(&s.db, &write_log_sql(b)).await;
    let client = s.raw().clone();
    let url = format!("{}{WHOAMI}", s.base);
    for _ in 0..1000 {
        let res = client
            .get(&url)
            .bearer_auth(&token)
            .header("user-agent", "Busy/1.0")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let db = s.db.clone();
    s.stop().await; // flushes what is pending

    let writes = |t: &str| {
        let db = db.clone();
        let sql = format!("SELECT COUNT(*) FROM write_log WHERE tbl = '{t}'");
        async move { db_i64(&db, &sql).await }
    };
    let ips = writes("user_ips").await;
    let devices = writes("devices").await;
    let tokens = writes("access_tokens").await;
    let mau = writes("monthly_active_users").await;
    eprintln!("1000 requests: user_ips {ips}, devices {devices}, tokens {tokens}, mau {mau}");
    // Each table: written, but at most once per flush (5 s each).
    for (table, n) in [
        ("user_ips", ips),
        ("devices", devices),
        ("access_tokens", tokens),
    ] {
        assert!((1..=3).contains(&n), "{table}: {n} writes");
    }
    assert_eq!(mau, 1, "one monthly-active entry");
    assert_eq!(
        db_i64(
            &db,
            &format!(
                "SELECT COUNT(*) FROM user_ips WHERE user_id = '{alice}' AND user_agent = 'Busy/1.0'"
            )
        )
        .await,
        1
    );
    assert!(alice.ends_with(SERVER_NAME));
}

both!(forwarded_addresses_only_behind_a_trusted_proxy);

async fn forwarded_addresses_only_behind_a_trusted_proxy(b: Backend) {
    use mxauth::config::{AppServiceConfig, Namespace, Secret};
    let bridge = AppServiceConfig {
        id: "bridge".into(),
        url: None,
        as_token: Secret::new("bridge token"),
        hs_token: Secret::new("hs token"),
        sender_localpart: "bridgebot".into(),
        users: vec![Namespace {
            regex: "@bridge_.*".into(),
            exclusive: true,
        }],
        rate_limited: false,
        ip_range_whitelist: vec!["192.0.2.0/24".parse().unwrap()],
    };
    let forwarded = |s: &TestServer, token: &str, xff: Option<&str>| {
        let mut req = s
            .raw()
            .get(format!("{}{WHOAMI}", s.base))
            .bearer_auth(token);
        if let Some(xff) = xff {
            req = req.header("x-forwarded-for", xff);
        }
        async move { req.send().await.unwrap().status() }
    };

    // Behind a trusted proxy (`x_forwarded: true`): the first address of
    // X-Forwarded-For is the client's, for allow-lists and client IPs.
    let s = TestServer::builder(b)
        .config(|c| {
            c.listeners[0].x_forwarded = true;
            c.app_services = vec![bridge.clone()];
        })
        .start()
        .await;
    let admin = s.register_admin("admin").await;
    let (alice, token, _) = s.register("alice", "a password").await;
    assert_eq!(
        forwarded(&s, "bridge token", Some("192.0.2.7, 10.0.0.1")).await,
        StatusCode::OK
    );
    assert_eq!(
        forwarded(&s, "bridge token", Some("198.51.100.1")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        forwarded(&s, "bridge token", None).await,
        StatusCode::UNAUTHORIZED
    );
    // Not an address: the peer's is used.
    assert_eq!(
        forwarded(&s, &token, Some("<script>")).await,
        StatusCode::OK
    );
    assert_eq!(
        forwarded(&s, &token, Some("2001:db8::5")).await,
        StatusCode::OK
    );
    let (_, w) = s
        .get(&format!("/_synapse/admin/v1/whois/{alice}"), Some(&admin))
        .await;
    let mut ips: Vec<String> = w["devices"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|d| d["sessions"][0]["connections"].as_array().unwrap().clone())
        .map(|c| c["ip"].as_str().unwrap().to_owned())
        .collect();
    ips.sort();
    assert_eq!(ips, vec!["127.0.0.1", "2001:db8::5"]);

    // Without it, the header is ignored.
    let s = TestServer::builder(b)
        .config(|c| c.app_services = vec![bridge])
        .start()
        .await;
    assert_eq!(
        forwarded(&s, "bridge token", Some("192.0.2.7")).await,
        StatusCode::UNAUTHORIZED
    );
}
