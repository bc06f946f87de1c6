//! Migrations run on existing databases, on both backends: a database
//! stopped at an older migration, filled with rows of the old shape, then
//! opened by the store, which applies the rest.

use crate::both;
use crate::support::{db_exec, db_i64, fresh_database, Backend, FreshDatabase};
use mxauth::store::connect;

both!(migration_0013_renames_the_timestamp_columns_keeping_their_values);

/// A fresh database with the migrations before `version` applied.
async fn database_before(b: Backend, version: i64) -> FreshDatabase {
    let db = fresh_database(b).await;
    let dir = match b {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let mut before = sqlx::migrate::Migrator::new(std::path::Path::new(dir))
        .await
        .unwrap();
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < version)
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
    db
}

/// Every column 0013 renames, filled under its old name, read under its
/// new one after the store has migrated the database.
async fn migration_0013_renames_the_timestamp_columns_keeping_their_values(b: Backend) {
    let db = database_before(b, 13).await;
    for sql in [
        "INSERT INTO users (name, creation_ts) VALUES ('@a:x', 1)",
        "INSERT INTO uia_sessions (session_id, creation_ts, uri, method, client_dict) \
         VALUES ('S', 2, '/r', 'POST', '{}')",
        "INSERT INTO access_tokens (token_hash, user_id, created_ts, valid_until_ms, last_validated) \
         VALUES ('\\x01', '@a:x', 0, 3, 4)",
        "INSERT INTO homeserver_jobs (user_id, kind, payload, created_ts, next_attempt_ts, claimed_until) \
         VALUES ('@a:x', 'k', '{}', 0, 0, 5)",
        "INSERT INTO registration_tokens (token, expiry_time) VALUES ('t', 6)",
        "INSERT INTO user_threepids (user_id, medium, address, validated_at, added_at) \
         VALUES ('@a:x', 'email', 'a@x', 7, 8)",
        "INSERT INTO threepid_validation_sessions (session_id, medium, address, client_secret, \
         last_send_attempt, validated_at, token_hash, token_expires_at, created_at, spent_at) \
         VALUES ('V', 'email', 'a@x', 's', 9, 10, '\\x02', 11, 12, 13)",
        "INSERT INTO user_ips (user_id, token_id, ip, user_agent, last_seen) \
         VALUES ('@a:x', 1, '10.0.0.1', 'UA', 14)",
        "INSERT INTO monthly_active_users (user_id, last_seen) VALUES ('@a:x', 15)",
    ] {
        db_exec(&db, sql).await;
    }
    connect(&db.config.url(), 2).await.unwrap();
    for (sql, want) in [
        ("SELECT created_ts FROM users", 1),
        ("SELECT created_ts FROM uia_sessions", 2),
        ("SELECT valid_until_ts FROM access_tokens", 3),
        ("SELECT last_validated_ts FROM access_tokens", 4),
        ("SELECT claimed_until_ts FROM homeserver_jobs", 5),
        ("SELECT expires_ts FROM registration_tokens", 6),
        ("SELECT validated_ts FROM user_threepids", 7),
        ("SELECT added_ts FROM user_threepids", 8),
        (
            "SELECT last_send_attempt FROM threepid_validation_sessions",
            9,
        ),
        ("SELECT validated_ts FROM threepid_validation_sessions", 10),
        (
            "SELECT token_expires_ts FROM threepid_validation_sessions",
            11,
        ),
        ("SELECT created_ts FROM threepid_validation_sessions", 12),
        ("SELECT spent_ts FROM threepid_validation_sessions", 13),
        ("SELECT last_seen_ts FROM user_ips", 14),
        ("SELECT last_seen_ts FROM monthly_active_users", 15),
    ] {
        assert_eq!(db_i64(&db, sql).await, want, "{sql}");
    }
}
