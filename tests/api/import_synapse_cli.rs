//! `mxauth import-synapse`'s refusals, before anything is written (the
//! import itself runs against a real Synapse in `tests/e2e`).

use crate::cli::BIN;
use std::path::Path;
use std::process::Command;

/// A SQLite database at `path` that looks like Synapse's at `version`
/// (`None`: no `schema_version` table, not Synapse's).
async fn synapse_database(path: &Path, version: Option<i64>) {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE users (name TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    if let Some(version) = version {
        sqlx::query(
            "CREATE TABLE schema_version (lock CHAR(1) NOT NULL DEFAULT 'X' UNIQUE, \
             version INTEGER NOT NULL, upgraded BOOL NOT NULL)",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO schema_version (version, upgraded) VALUES ($1, TRUE)")
            .bind(version)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

/// Runs the import of `synapse_yaml` into a fresh mxauth database;
/// answers its stderr and whether mxauth's database was created.
fn import(dir: &Path, mxauth_yaml: &str, synapse_yaml: &str) -> (bool, String, bool) {
    let mxauth_db = dir.join("mxauth.db");
    let mxauth = dir.join("mxauth.yaml");
    std::fs::write(
        &mxauth,
        format!(
            "{mxauth_yaml}database: {{name: sqlite3, args: {{database: {}}}}}\n",
            mxauth_db.display()
        ),
    )
    .unwrap();
    let synapse = dir.join("homeserver.yaml");
    std::fs::write(&synapse, synapse_yaml).unwrap();
    let out = Command::new(BIN)
        .args(["import-synapse", "--synapse-stopped", "--config"])
        .arg(&mxauth)
        .arg("--synapse-config")
        .arg(&synapse)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        mxauth_db.exists(),
    )
}

fn synapse_yaml(db: &Path, extra: &str) -> String {
    format!(
        "server_name: example.org\ndatabase: {{name: sqlite3, args: {{database: {}}}}}\n{extra}",
        db.display()
    )
}

#[tokio::test]
async fn refuses_a_schema_it_does_not_know_and_writes_nothing() {
    for (version, says) in [(60, "Upgrade Synapse first"), (250, "newer mxauth")] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("homeserver.db");
        synapse_database(&db, Some(version)).await;
        let (ok, stderr, written) = import(
            dir.path(),
            "server_name: example.org\n",
            &synapse_yaml(&db, ""),
        );
        assert!(!ok, "{stderr}");
        assert!(
            stderr.contains(&format!("schema version {version}")),
            "{stderr}"
        );
        assert!(stderr.contains(says), "{stderr}");
        assert!(!written, "mxauth's database was created");
    }
}

#[tokio::test]
async fn refuses_a_database_that_is_not_synapses() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("homeserver.db");
    synapse_database(&db, None).await;
    let (ok, stderr, written) = import(
        dir.path(),
        "server_name: example.org\n",
        &synapse_yaml(&db, ""),
    );
    assert!(!ok);
    assert!(stderr.contains("no schema_version"), "{stderr}");
    assert!(!written);
}

#[tokio::test]
async fn refuses_another_pepper_or_server_name_without_showing_the_pepper() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("homeserver.db");
    synapse_database(&db, Some(94)).await;
    let synapse = synapse_yaml(&db, "password_config: {pepper: 'synapse-pepper'}\n");
    let (ok, stderr, written) = import(
        dir.path(),
        "server_name: example.org\npassword_config: {pepper: 'other-pepper'}\n",
        &synapse,
    );
    assert!(!ok);
    assert!(stderr.contains("pepper differs"), "{stderr}");
    assert!(
        !stderr.contains("synapse-pepper") && !stderr.contains("other-pepper"),
        "{stderr}"
    );
    assert!(!written);

    let (ok, stderr, written) = import(dir.path(), "server_name: example.com\n", &synapse);
    assert!(!ok);
    assert!(stderr.contains("server names differ"), "{stderr}");
    assert!(!written);
}

#[tokio::test]
async fn a_missing_synapse_database_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nowhere.db");
    let (ok, stderr, written) = import(
        dir.path(),
        "server_name: example.org\n",
        &synapse_yaml(&db, ""),
    );
    assert!(!ok);
    assert!(
        stderr.contains("cannot open Synapse's database"),
        "{stderr}"
    );
    assert!(!db.exists(), "the import created Synapse's database");
    assert!(!written);
}
