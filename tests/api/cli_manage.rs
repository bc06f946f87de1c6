//! `mxauth manage ...`: what an admin does to accounts from a shell, on
//! the configured database, each command with its answer and its refusal
//! of a user that does not exist.

use crate::cli::{config_file, BIN};
use crate::support::{assert_error, Backend, TestServer, SERVER_NAME};
use std::io::Write;
use std::process::{Command, Stdio};

crate::both!(
    set_password_ends_sessions_unless_kept,
    kill_sessions_ends_every_session,
    admins_are_promoted_demoted_and_listed,
    registration_tokens_are_issued,
    access_tokens_are_issued_for_bots_and_admins_only_when_said,
    users_are_locked_unlocked_and_deactivated,
    a_delegating_homeserver_hears_of_locks_and_reactivations,
);

/// Runs `mxauth manage <args>` with `stdin`: (success, stdout, stderr).
pub(crate) fn manage(
    config: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .arg("manage")
        .arg(args[0])
        .arg("-c")
        .arg(config)
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The refusal of a user that does not exist, for `args` (the user last).
fn refuses_a_stranger(config: &std::path::Path, args: &[&str]) {
    let (ok, _, err) = manage(config, args, "a-password-1\n");
    assert!(!ok, "{args:?}");
    assert!(err.contains("there is no user @nobody:"), "{args:?}: {err}");
}

async fn whoami_status(s: &TestServer, token: &str) -> u16 {
    s.get("/_matrix/client/v3/account/whoami", Some(token))
        .await
        .0
        .as_u16()
}

async fn set_password_ends_sessions_unless_kept(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &s);
    let (_, token, _) = s.register("ann", "ann-old-pw").await;

    // From standard input; the sessions end.
    let (ok, out, err) = manage(&config, &["set-password", "ann"], "ann-new-pw-1\n");
    assert!(ok, "{err}");
    assert!(out.contains(&format!("@ann:{SERVER_NAME}")), "{out}");
    assert_eq!(whoami_status(&s, &token).await, 401);
    assert_eq!(s.try_login("ann", "ann-old-pw").await.0, 403);
    let (token, _) = s.login("ann", "ann-new-pw-1").await;

    // With --password and --keep-sessions, by full user ID.
    let (ok, _, err) = manage(
        &config,
        &[
            "set-password",
            &format!("@ann:{SERVER_NAME}"),
            "--password",
            "ann-newer-pw-2",
            "--keep-sessions",
        ],
        "",
    );
    assert!(ok, "{err}");
    assert_eq!(whoami_status(&s, &token).await, 200, "kept");
    s.login("ann", "ann-newer-pw-2").await;

    // Under a policy, a weak password is refused unless --ignore-policy.
    let mut yaml = std::fs::read_to_string(&config).unwrap();
    yaml.push_str("password_config: {policy: {enabled: true, minimum_length: 20}}\n");
    let strict = dir.path().join("strict.yaml");
    std::fs::write(&strict, yaml).unwrap();
    let (ok, _, err) = manage(&strict, &["set-password", "ann"], "short-pw-3\n");
    assert!(!ok, "refused by the policy");
    assert!(err.to_lowercase().contains("password"), "{err}");
    s.login("ann", "ann-newer-pw-2").await;
    let (ok, _, err) = manage(
        &strict,
        &["set-password", "ann", "--ignore-policy", "--keep-sessions"],
        "short-pw-3\n",
    );
    assert!(ok, "{err}");
    s.login("ann", "short-pw-3").await;

    // Empty passwords, strangers and another server's users are refused.
    let (ok, _, err) = manage(&config, &["set-password", "ann"], "\n");
    assert!(!ok && err.contains("empty"), "{err}");
    refuses_a_stranger(&config, &["set-password", "nobody"]);
    let (ok, _, err) = manage(
        &config,
        &["set-password", "@ann:elsewhere.example"],
        "a-password-1\n",
    );
    assert!(!ok && err.contains("there is no user"), "{err}");
}

async fn kill_sessions_ends_every_session(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &s);
    let (_, first, _) = s.register("ben", "ben-pw").await;
    let (second, _) = s.login("ben", "ben-pw").await;
    let (_, other, _) = s.register("cat", "cat-pw").await;
    let (ok, out, err) = manage(&config, &["kill-sessions", "ben"], "");
    assert!(ok, "{err}");
    assert!(out.contains("Ended 2 session(s)"), "{out}");
    for token in [&first, &second] {
        assert_error(
            &s.get("/_matrix/client/v3/account/whoami", Some(token))
                .await,
            401,
            "M_UNKNOWN_TOKEN",
        );
    }
    assert_eq!(whoami_status(&s, &other).await, 200, "another user's stays");
    let (_, devices) = s
        .get(
            "/_matrix/client/v3/devices",
            Some(&s.login("ben", "ben-pw").await.0),
        )
        .await;
    assert_eq!(devices["devices"].as_array().unwrap().len(), 1);
    refuses_a_stranger(&config, &["kill-sessions", "nobody"]);
}

async fn admins_are_promoted_demoted_and_listed(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &s);
    let (_, token, _) = s.register("dan", "dan-pw").await;
    s.register("eve", "eve-pw").await;
    let path = format!("/_synapse/admin/v1/users/@dan:{SERVER_NAME}/admin");
    assert_eq!(s.get(&path, Some(&token)).await.0, 403, "not an admin yet");
    let (ok, out, err) = manage(&config, &["promote-admin", "dan"], "");
    assert!(ok && out.contains("is a server admin"), "{err}");
    s.sync_changes().await;
    let (status, body) = s.get(&path, Some(&token)).await;
    assert_eq!((status.as_u16(), body["admin"].clone()), (200, true.into()));
    manage(&config, &["promote-admin", "eve"], "");
    let (ok, out, _) = manage(&config, &["list-admins"], "");
    assert!(ok);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![format!("@dan:{SERVER_NAME}"), format!("@eve:{SERVER_NAME}")]
    );
    let (ok, _, err) = manage(&config, &["demote-admin", "eve"], "");
    assert!(ok, "{err}");
    let (_, out, _) = manage(&config, &["list-admins"], "");
    assert_eq!(out.trim(), format!("@dan:{SERVER_NAME}"));
    refuses_a_stranger(&config, &["promote-admin", "nobody"]);
    refuses_a_stranger(&config, &["demote-admin", "nobody"]);
}

async fn registration_tokens_are_issued(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.registration_requires_token = true)
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &s);
    let (ok, out, err) = manage(
        &config,
        &[
            "issue-registration-token",
            "--token",
            "invite-1",
            "--uses-allowed",
            "1",
            "--expires-in",
            "7d",
        ],
        "",
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "invite-1");
    // Its limits as given: one use, seven days.
    let admin = s.register_admin("root").await;
    let (status, stored) = s
        .get(
            "/_synapse/admin/v1/registration_tokens/invite-1",
            Some(&admin),
        )
        .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["uses_allowed"], 1);
    let week_ms = 7 * 24 * 3600 * 1000;
    let expiry = stored["expiry_time"].as_i64().expect("an expiry");
    let from_now = expiry - crate::support::wall_clock_ms();
    assert!(
        (week_ms - 120_000..=week_ms).contains(&from_now),
        "{from_now}"
    );
    let (status, body) = s
        .get(
            "/_matrix/client/v1/register/m.login.registration_token/validity?token=invite-1",
            None,
        )
        .await;
    assert_eq!((status.as_u16(), body["valid"].clone()), (200, true.into()));
    // A generated one: 16 characters.
    let (ok, out, _) = manage(&config, &["issue-registration-token"], "");
    assert!(ok);
    assert_eq!(out.trim().len(), 16, "{out}");
    // Refusals: a taken token, a bad duration.
    let (ok, _, err) = manage(
        &config,
        &["issue-registration-token", "--token", "invite-1"],
        "",
    );
    assert!(!ok && err.contains("invite-1"), "{err}");
    let (ok, _, err) = manage(
        &config,
        &["issue-registration-token", "--expires-in", "soon"],
        "",
    );
    assert!(!ok && err.contains("--expires-in"), "{err}");
}

async fn access_tokens_are_issued_for_bots_and_admins_only_when_said(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &s);
    s.register("bot", "bot-pw").await;
    let (ok, out, err) = manage(
        &config,
        &["issue-access-token", "bot", "--device-id", "BOTDEVICE"],
        "",
    );
    assert!(ok, "{err}");
    assert!(err.contains("BOTDEVICE"), "{err}");
    let (status, me) = s
        .get("/_matrix/client/v3/account/whoami", Some(out.trim()))
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user_id"], format!("@bot:{SERVER_NAME}"));
    assert_eq!(me["device_id"], "BOTDEVICE");

    // An admin's token only with --allow-admin.
    manage(&config, &["promote-admin", "bot"], "");
    let (ok, _, err) = manage(&config, &["issue-access-token", "bot"], "");
    assert!(!ok && err.contains("--allow-admin"), "{err}");
    let (ok, out, err) = manage(&config, &["issue-access-token", "bot", "--allow-admin"], "");
    assert!(ok, "{err}");
    assert_eq!(whoami_status(&s, out.trim()).await, 200);
    // None for a locked account: every request would refuse it.
    manage(&config, &["lock-user", "bot"], "");
    let (ok, _, err) = manage(&config, &["issue-access-token", "bot", "--allow-admin"], "");
    assert!(!ok && err.contains("locked"), "{err}");
    refuses_a_stranger(&config, &["issue-access-token", "nobody"]);
}

async fn users_are_locked_unlocked_and_deactivated(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &s);
    let (_, token, _) = s.register("fay", "fay-pw").await;

    // Locked: the token answers M_USER_LOCKED (soft logout), no login.
    let (ok, out, err) = manage(&config, &["lock-user", "fay"], "");
    assert!(ok && out.contains("Locked"), "{err}");
    s.sync_changes().await;
    let answer = s
        .get("/_matrix/client/v3/account/whoami", Some(&token))
        .await;
    assert_error(&answer, 401, "M_USER_LOCKED");
    assert_eq!(answer.1["soft_logout"], true);
    let (status, body) = s.try_login("fay", "fay-pw").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errcode"], "M_USER_LOCKED");
    // Unlocked: the same token works again (nothing was deleted).
    let (ok, _, err) = manage(&config, &["unlock-user", "fay"], "");
    assert!(ok, "{err}");
    s.sync_changes().await;
    assert_eq!(whoami_status(&s, &token).await, 200);

    // Deactivated: the token is gone, the login refused, for good.
    let (ok, out, err) = manage(&config, &["deactivate-user", "fay"], "");
    assert!(ok && out.contains("Deactivated"), "{err}");
    s.sync_changes().await;
    assert_error(
        &s.get("/_matrix/client/v3/account/whoami", Some(&token))
            .await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    let (status, body) = s.try_login("fay", "fay-pw").await;
    assert_eq!(status, 403, "{body}");
    let (ok, _, err) = manage(&config, &["deactivate-user", "fay"], "");
    assert!(!ok && err.contains("deactivated"), "{err}");

    // Reactivated: no password yet (deactivation removed it), then one.
    let (ok, out, err) = manage(&config, &["reactivate-user", "fay"], "");
    assert!(ok && out.contains("Reactivated"), "{err}");
    assert_eq!(s.try_login("fay", "fay-pw").await.0, 403, "no password");
    let (ok, _, err) = manage(&config, &["set-password", "fay"], "fay-new-pw\n");
    assert!(ok, "{err}");
    s.login("fay", "fay-new-pw").await;
    let (ok, _, err) = manage(&config, &["reactivate-user", "fay"], "");
    assert!(!ok && err.contains("not deactivated"), "{err}");
    for command in [
        "lock-user",
        "unlock-user",
        "deactivate-user",
        "reactivate-user",
    ] {
        refuses_a_stranger(&config, &[command, "nobody"]);
    }
}

async fn a_delegating_homeserver_hears_of_locks_and_reactivations(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let dir = tempfile::tempdir().unwrap();
    let plain = config_file(dir.path(), &s);
    s.register("gus", "gus-pw").await;
    // The same database, delegated to a homeserver that is away: the calls
    // wait in the queue.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut yaml = std::fs::read_to_string(&plain).unwrap();
    yaml.push_str(&format!(
        "public_baseurl: https://auth.test.example/\nmatrix: {{kind: synapse, \
         endpoint: 'http://127.0.0.1:{port}/', secret: shared}}\n"
    ));
    let config = dir.path().join("delegating.yaml");
    std::fs::write(&config, yaml).unwrap();
    for args in [
        &["lock-user", "gus"][..],
        &["deactivate-user", "gus", "--erase"][..],
        &["reactivate-user", "gus"][..],
    ] {
        let (ok, _, err) = manage(&config, args, "");
        assert!(ok, "{args:?}: {err}");
    }
    let store = mxauth::store::connect(&s.db.config.url(), 2).await.unwrap();
    let mut calls = Vec::new();
    while let Some(job) = store
        .jobs()
        .claim_homeserver_job(i64::MAX / 2, 1, None)
        .await
        .unwrap()
    {
        calls.push((job.kind.clone(), job.payload.clone()));
        store.jobs().complete_homeserver_job(job.id).await.unwrap();
    }
    let find = |kind: &str| {
        calls
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("no {kind} call in {calls:?}"))
    };
    assert_eq!(
        find("provision_user"),
        serde_json::json!({"localpart": "gus", "locked": true})
    );
    assert_eq!(
        find("delete_user"),
        serde_json::json!({"localpart": "gus", "erase": true})
    );
    assert_eq!(
        find("reactivate_user"),
        serde_json::json!({"localpart": "gus"})
    );
}
