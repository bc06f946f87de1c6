//! The store's client IPs and monthly-active users, on both backends.

use crate::both;
use crate::store::{token, user as new_user};
use crate::support::{fresh_database, Backend};
use mxauth::store::{connect, ClientIpSeen, DeviceSeen, MauCount, NewUser};

both!(
    client_ips_upsert_list_and_prune,
    a_refused_client_ip_row_costs_only_itself,
    migration_0010_keeps_the_latest_row_per_address,
    monthly_active_users_count_and_reap,
    the_mau_reaper_keeps_exactly_the_newest,
    the_flush_writes_every_row_of_a_multi_chunk_batch,
    a_usage_batch_does_not_deadlock_with_a_logout
);

fn seen(user: &str, token_id: i64, ip: &str, ua: &str, ts: i64) -> ClientIpSeen {
    ClientIpSeen {
        user_id: user.into(),
        token_id,
        ip: ip.into(),
        user_agent: ua.into(),
        device_id: Some("DEV".into()),
        last_seen_ts: ts,
    }
}

async fn client_ips_upsert_list_and_prune(b: Backend) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.unwrap();
    store
        .usage()
        .record_client_ips(&[
            seen("@a:x", 1, "10.0.0.1", "UA", 100),
            seen("@a:x", 1, "10.0.0.1", "Other UA", 110),
            seen("@a:x", 2, "10.0.0.2", "UA", 120),
            seen("@b:x", 3, "10.0.0.3", "UA", 130),
        ])
        .await
        .unwrap();
    // A later sighting wins; an earlier one (a slow process's batch) does not.
    store
        .usage()
        .record_client_ips(&[seen("@a:x", 1, "10.0.0.1", "UA", 200)])
        .await
        .unwrap();
    store
        .usage()
        .record_client_ips(&[seen("@a:x", 2, "10.0.0.2", "UA", 50)])
        .await
        .unwrap();
    // One row per (user, token, address): the latest agent with it.
    let a = store.usage().list_client_ips("@a:x").await.unwrap();
    assert_eq!(
        a.iter()
            .map(|r| (
                r.token_id,
                r.ip.as_str(),
                r.user_agent.as_str(),
                r.last_seen_ts
            ))
            .collect::<Vec<_>>(),
        vec![(1, "10.0.0.1", "UA", 200), (2, "10.0.0.2", "UA", 120),]
    );
    assert_eq!(a[0].device_id.as_deref(), Some("DEV"));

    // Pruning: at most `limit` a statement, oldest first.
    let last_seen_ts =
        |rows: Vec<ClientIpSeen>| rows.iter().map(|r| r.last_seen_ts).collect::<Vec<_>>();
    assert_eq!(store.usage().prune_client_ips(125, 1).await.unwrap(), 1);
    assert_eq!(store.usage().prune_client_ips(125, 1).await.unwrap(), 0);
    assert_eq!(
        last_seen_ts(store.usage().list_client_ips("@a:x").await.unwrap()),
        vec![200]
    );
    assert_eq!(
        store.usage().list_client_ips("@b:x").await.unwrap().len(),
        1
    );
    assert_eq!(store.usage().prune_client_ips(1000, 10).await.unwrap(), 2);
}

async fn a_refused_client_ip_row_costs_only_itself(b: Backend) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.unwrap();
    // PostgreSQL refuses a NUL in text; the rows around it are still written.
    store
        .usage()
        .record_client_ips(&[
            seen("@a:x", 1, "10.0.0.1", "UA", 100),
            seen("@b:x", 2, "10.0.0.2", "bad\0agent", 100),
            seen("@c:x", 3, "10.0.0.3", "UA", 100),
        ])
        .await
        .unwrap();
    for user in ["@a:x", "@c:x"] {
        assert_eq!(
            store.usage().list_client_ips(user).await.unwrap().len(),
            1,
            "{user}"
        );
    }
}

/// A database at migration 0009 with rows of the old shape (one per user
/// agent), then migrated: one row per address, the latest, agent cut.
async fn migration_0010_keeps_the_latest_row_per_address(b: Backend) {
    let db = fresh_database(b).await;
    let dir = match b {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let all = sqlx::migrate::Migrator::new(std::path::Path::new(dir))
        .await
        .unwrap();
    let mut before = sqlx::migrate::Migrator::new(std::path::Path::new(dir))
        .await
        .unwrap();
    before.migrations = all
        .migrations
        .iter()
        .filter(|m| m.version < 10)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let url = db.config.url();
    match b {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            before.run(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            before.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
    let long = "y".repeat(600);
    crate::support::db_exec(
        &db,
        &format!(
            "INSERT INTO user_ips (user_id, token_id, ip, user_agent, device_id, last_seen) VALUES \
             ('@a:x', 1, '10.0.0.1', 'Old', 'D', 100), \
             ('@a:x', 1, '10.0.0.1', 'New', 'D', 200), \
             ('@a:x', 1, '10.0.0.2', '{long}', 'D', 150), \
             ('@b:x', 2, '10.0.0.1', 'B', NULL, 50)"
        ),
    )
    .await;
    let store = connect(&url, 2).await.unwrap();
    let a = store.usage().list_client_ips("@a:x").await.unwrap();
    assert_eq!(
        a.iter()
            .map(|r| (r.ip.as_str(), r.user_agent.as_str(), r.last_seen_ts))
            .collect::<Vec<_>>(),
        vec![("10.0.0.1", "New", 200), ("10.0.0.2", &long[..512], 150)]
    );
    assert_eq!(
        store.usage().list_client_ips("@b:x").await.unwrap().len(),
        1
    );
}

async fn monthly_active_users_count_and_reap(b: Backend) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.unwrap();
    for (id, appservice) in [("@a:x", None), ("@b:x", None), ("@bot:x", Some("bridge"))] {
        store
            .users()
            .create_user(&NewUser {
                user_id: id.into(),
                created_ts: 1,
                appservice_id: appservice.map(str::to_owned),
                ..NewUser::default()
            })
            .await
            .unwrap();
    }
    assert_eq!(
        store.usage().count_monthly_active_users().await.unwrap(),
        MauCount {
            app_service: 0,
            other: 0
        }
    );
    assert_eq!(store.usage().mau_last_seen("@a:x").await.unwrap(), None);
    store
        .usage()
        .upsert_monthly_active_user("@a:x", 100)
        .await
        .unwrap();
    store
        .usage()
        .upsert_monthly_active_user("@a:x", 90)
        .await
        .unwrap();
    assert_eq!(
        store.usage().mau_last_seen("@a:x").await.unwrap(),
        Some(100)
    );
    store
        .usage()
        .upsert_monthly_active_user("@b:x", 200)
        .await
        .unwrap();
    store
        .usage()
        .upsert_monthly_active_user("@bot:x", 300)
        .await
        .unwrap();
    // Not a user row at all (yet): counted, as Synapse does.
    store
        .usage()
        .upsert_monthly_active_user("@c:x", 400)
        .await
        .unwrap();
    // The service's user is counted apart.
    assert_eq!(
        store.usage().count_monthly_active_users().await.unwrap(),
        MauCount {
            app_service: 1,
            other: 3
        }
    );

    // Stale entries go, but not the kept (reserved) ones.
    store
        .usage()
        .reap_monthly_active_users(250, &["@a:x".to_owned()], None)
        .await
        .unwrap();
    assert_eq!(
        store.usage().mau_last_seen("@a:x").await.unwrap(),
        Some(100)
    );
    assert_eq!(store.usage().mau_last_seen("@b:x").await.unwrap(), None);
    assert_eq!(
        store.usage().mau_last_seen("@bot:x").await.unwrap(),
        Some(300)
    );

    // With a maximum: the kept ones, then the most recent others.
    store
        .usage()
        .upsert_monthly_active_user("@b:x", 350)
        .await
        .unwrap();
    store
        .usage()
        .reap_monthly_active_users(0, &["@a:x".to_owned()], Some(2))
        .await
        .unwrap();
    assert_eq!(
        store.usage().mau_last_seen("@a:x").await.unwrap(),
        Some(100)
    );
    assert_eq!(
        store.usage().mau_last_seen("@c:x").await.unwrap(),
        Some(400)
    );
    assert_eq!(store.usage().mau_last_seen("@b:x").await.unwrap(), None);
    assert_eq!(store.usage().mau_last_seen("@bot:x").await.unwrap(), None);
    // Nothing kept, no maximum.
    store
        .usage()
        .reap_monthly_active_users(1000, &[], None)
        .await
        .unwrap();
    assert_eq!(
        store.usage().count_monthly_active_users().await.unwrap(),
        MauCount {
            app_service: 0,
            other: 0
        }
    );
}

/// At its limit the reaper keeps exactly the `max - kept` newest of the
/// others, a tie on `last_seen_ts` at the cut broken by user ID (the
/// greater stays), and the kept (reserved) users however old.
async fn the_mau_reaper_keeps_exactly_the_newest(b: Backend) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.unwrap();
    // @u00 .. @u29, two by two at the same time: @u00 and @u01 at 1000,
    // @u02 and @u03 at 1001, ...; and a reserved user, the oldest.
    let ids: Vec<String> = (0..30).map(|i| format!("@u{i:02}:x")).collect();
    for (i, id) in ids.iter().enumerate() {
        let ts = 1000 + i64::try_from(i / 2).unwrap();
        store
            .usage()
            .upsert_monthly_active_user(id, ts)
            .await
            .unwrap();
    }
    store
        .usage()
        .upsert_monthly_active_user("@boss:x", 1)
        .await
        .unwrap();
    let keep = ["@boss:x".to_owned()];
    let remaining = || async {
        let mut left = Vec::new();
        for id in ids.iter().map(String::as_str).chain(["@boss:x"]) {
            if store.usage().mau_last_seen(id).await.unwrap().is_some() {
                left.push(id.to_owned());
            }
        }
        left
    };
    let everyone: Vec<String> = ids.iter().cloned().chain(["@boss:x".into()]).collect();
    // At or under the maximum, nobody goes.
    for max in [40, 31] {
        store
            .usage()
            .reap_monthly_active_users(0, &keep, Some(max))
            .await
            .unwrap();
        assert_eq!(remaining().await, everyone, "max {max}");
    }
    // Room for 19 others: @u11 .. @u29; @u10 ties with @u11 and goes.
    store
        .usage()
        .reap_monthly_active_users(0, &keep, Some(20))
        .await
        .unwrap();
    let newest: Vec<String> = ids[11..]
        .iter()
        .cloned()
        .chain(["@boss:x".into()])
        .collect();
    assert_eq!(remaining().await, newest);
    // The same again: nothing more goes.
    store
        .usage()
        .reap_monthly_active_users(0, &keep, Some(20))
        .await
        .unwrap();
    assert_eq!(remaining().await, newest);
    // No room for others: the kept alone stay.
    store
        .usage()
        .reap_monthly_active_users(0, &keep, Some(1))
        .await
        .unwrap();
    assert_eq!(remaining().await, vec!["@boss:x".to_owned()]);
}

/// The flush writes its rows some hundreds a statement: a batch of three
/// statements' worth (the last of one row), every row with its own value.
async fn the_flush_writes_every_row_of_a_multi_chunk_batch(b: Backend) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.unwrap();
    let user = "@dave:x";
    store.users().create_user(&new_user(user)).await.unwrap();
    let n = 1001;
    let mut used = Vec::new();
    let mut devices = Vec::new();
    let mut ips = Vec::new();
    let mut tx = store.begin().await.unwrap();
    for i in 0..n {
        let device = format!("D{i}");
        tx.devices()
            .ensure_device(user, &device, None, None)
            .await
            .unwrap();
        let new = token(device.as_bytes(), user, Some(&device));
        let id = tx.access_tokens().create_access_token(&new).await.unwrap();
        used.push((id, id * 2));
        devices.push(DeviceSeen {
            user_id: user.into(),
            device_id: device,
            last_seen_ts: i,
            ip: (i % 2 == 0).then(|| format!("10.0.{}.{}", i / 256, i % 256)),
        });
        ips.push(seen(user, id, "10.9.9.9", "UA", id + 100));
    }
    tx.commit().await.unwrap();
    store.usage().record_tokens_last_used(&used).await.unwrap();
    store
        .usage()
        .record_device_last_seen(&devices)
        .await
        .unwrap();
    store.usage().record_client_ips(&ips).await.unwrap();
    let count = |sql: &'static str| crate::support::db_i64(&db, sql);
    assert_eq!(
        count("SELECT COUNT(*) FROM access_tokens WHERE last_used_ts = id * 2").await,
        n
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM devices WHERE device_id = 'D' || last_seen_ts").await,
        n
    );
    // An address only where one was seen; none is left as it was.
    assert_eq!(
        count("SELECT COUNT(*) FROM devices WHERE last_seen_ip IS NOT NULL").await,
        (n + 1) / 2
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM user_ips WHERE last_seen_ts = token_id + 100").await,
        n
    );
}

/// A usage batch stamps two tokens while a logout deletes the same two
/// in the other order. Were the batch one transaction on PostgreSQL, it
/// would hold the first token while waiting for the second, which the
/// logout holds while waiting for the first: a deadlock, and one side
/// fails (a 500 for the logout). Each stamp commits on its own there, so
/// both finish.
async fn a_usage_batch_does_not_deadlock_with_a_logout(b: Backend) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.unwrap();
    let user = "@carol:x";
    store.users().create_user(&new_user(user)).await.unwrap();
    let mut ids = Vec::new();
    for device in ["DEVA", "DEVB"] {
        store
            .devices()
            .ensure_device(user, device, None, None)
            .await
            .unwrap();
        let new = token(device.as_bytes(), user, Some(device));
        ids.push(
            store
                .access_tokens()
                .create_access_token(&new)
                .await
                .unwrap(),
        );
    }
    // The logout takes the second token first...
    let mut tx = store.begin().await.unwrap();
    tx.devices()
        .delete_device_tokens(user, "DEVB")
        .await
        .unwrap();
    // ... while the batch stamps the first, then waits for the second.
    let batch = {
        let store = store.clone();
        let used = vec![(ids[0], 500), (ids[1], 500)];
        tokio::spawn(async move { store.usage().record_tokens_last_used(&used).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The logout then takes the first: it must not wait on the batch.
    let deleted = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tx.devices().delete_device_tokens(user, "DEVA"),
    )
    .await
    .expect("the logout waited on the usage batch")
    .unwrap();
    assert_eq!(deleted, 1);
    tx.commit().await.unwrap();
    batch.await.unwrap().expect("the usage batch failed");
    let left = store
        .devices()
        .list_device_sessions(user, None)
        .await
        .unwrap();
    assert_eq!(left.len(), 2, "the devices stay, their tokens went");
}
