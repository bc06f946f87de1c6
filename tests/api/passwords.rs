//! Password hashes: argon2id for new ones; a Synapse bcrypt+pepper hash
//! (as imported from a Synapse database) verifies and is upgraded to
//! argon2id by the next good login.

use crate::both;
use crate::support::{Backend, TestServer, SERVER_NAME};
use mxauth::config::Secret;
use serde_json::json;

both!(bcrypt_hash_with_pepper_logs_in_and_is_upgraded);

async fn bcrypt_hash_with_pepper_logs_in_and_is_upgraded(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.password_config.pepper = Secret::new("p3pp3r"))
        .start()
        .await;
    let (user_id, _, _) = s.register("imported", "original-pw").await;
    let store = mxauth::store::connect(&s.db.config.url(), 2).await.unwrap();
    let stored = store
        .users()
        .get_user(&user_id)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");

    // What Synapse stores: bcrypt(password + pepper), here with its $2b$ prefix.
    let bcrypt_hash = bcrypt::hash("synapse-pwp3pp3r", 4).unwrap();
    store
        .users()
        .set_password_hash(&user_id, Some(&bcrypt_hash))
        .await
        .unwrap();

    let wrong = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "user": "imported", "password": "original-pw"}),
        )
        .await;
    assert_eq!(wrong.0, 403, "{}", wrong.1);
    assert_eq!(
        store
            .users()
            .get_user(&user_id)
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some(bcrypt_hash.as_str()),
        "a failed login leaves the hash alone"
    );

    s.login(&format!("@imported:{SERVER_NAME}"), "synapse-pw")
        .await;
    let upgraded = store
        .users()
        .get_user(&user_id)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
    // And the upgraded hash still takes the same password.
    s.login("imported", "synapse-pw").await;
}
