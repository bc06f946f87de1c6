//! Readiness (`GET /health`: the database answers) and liveness
//! (`GET /health/live`: the process answers), with a database that
//! really stops answering.

use crate::both;
use crate::support::{Backend, TestServer};
use mxauth::config::DatabaseConfig;

both!(health_follows_the_database);

async fn get(s: &TestServer, path: &str) -> (u16, String) {
    let res = s
        .raw()
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .expect("request sent");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body read"))
}

async fn health_follows_the_database(b: Backend) {
    let s = TestServer::builder(b).start().await;
    assert_eq!(get(&s, "/health").await, (200, "OK".to_owned()));
    assert_eq!(get(&s, "/health/live").await, (200, "OK".to_owned()));

    let restore = break_database(&s.db.config).await;
    let (status, body) = get(&s, "/health").await;
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("a Matrix error");
    assert_eq!(body["errcode"], "M_UNKNOWN");
    assert_eq!(body["error"], "The database is unavailable");
    // Liveness does not touch the database.
    assert_eq!(get(&s, "/health/live").await, (200, "OK".to_owned()));

    if let Some(restore) = restore {
        restore.await;
        assert_eq!(get(&s, "/health").await, (200, "OK".to_owned()));
    }
}

/// Makes the server's database stop answering. PostgreSQL: its
/// connections are ended and the database renamed (the returned future
/// renames it back, so the pool reconnects and the test's clean-up finds
/// it). SQLite: the file, its WAL and WAL index are overwritten in place
/// with bytes that are no database (nothing to restore).
async fn break_database(
    config: &DatabaseConfig,
) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>> {
    match config {
        DatabaseConfig::Sqlite { path } => {
            // In place (same inodes): the pool's open connections, and
            // their mapped WAL index, read the garbage.
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                if let Ok(meta) = std::fs::metadata(&file) {
                    std::fs::write(&file, vec![0x5a; meta.len().max(4096) as usize])
                        .expect("overwrite");
                }
            }
            None
        }
        DatabaseConfig::Postgres { database, .. } => {
            let admin_url = std::env::var("MXAUTH_TEST_POSTGRES_URL").expect("the test server");
            let admin = sqlx::PgPool::connect(&admin_url).await.expect("connect");
            let moved = format!("{database}_away");
            sqlx::query(&format!(
                "ALTER DATABASE {database} ALLOW_CONNECTIONS false"
            ))
            .execute(&admin)
            .await
            .expect("refuse connections");
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(database)
            .execute(&admin)
            .await
            .expect("end connections");
            sqlx::query(&format!("ALTER DATABASE {database} RENAME TO {moved}"))
                .execute(&admin)
                .await
                .expect("rename");
            let database = database.clone();
            Some(Box::pin(async move {
                for statement in [
                    format!("ALTER DATABASE {moved} RENAME TO {database}"),
                    format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"),
                ] {
                    sqlx::query(&statement)
                        .execute(&admin)
                        .await
                        .expect("restore");
                }
                admin.close().await;
            }))
        }
    }
}
