//! What the account pages read and write in the store, on both backends:
//! a user's devices as sessions (creation time, OAuth client, latest user
//! agent) and the display name.

use crate::both;
use crate::support::{fresh_database, Backend, FreshDatabase};
use mxauth::store::{
    connect, ClientIpSeen, DeviceSeen, NewAccessToken, NewRefreshToken, NewUser, Store,
};
use std::sync::Arc;

both!(
    devices_are_listed_as_sessions,
    display_names_are_set_and_cleared
);

const NOW: i64 = 1_700_000_000_000;
const USER: &str = "@a:x";

async fn open(b: Backend) -> (Arc<dyn Store>, FreshDatabase) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.expect("store connects");
    for user in [USER, "@b:x"] {
        store
            .users()
            .create_user(&NewUser {
                user_id: user.into(),
                created_ts: NOW,
                ..NewUser::default()
            })
            .await
            .unwrap();
    }
    (store, db)
}

fn access(n: u8, device: &str, client: Option<&str>, created_ts: i64) -> NewAccessToken {
    NewAccessToken {
        token_hash: vec![n; 32],
        user_id: USER.into(),
        device_id: Some(device.into()),
        created_ts,
        oauth_client_id: client.map(str::to_owned),
        ..NewAccessToken::default()
    }
}

async fn devices_are_listed_as_sessions(b: Backend) {
    let (s, _db) = open(b).await;
    // A legacy login, made with its time.
    s.devices()
        .ensure_device(USER, "LEGACY", Some("Phone"), Some(NOW))
        .await
        .unwrap();
    s.access_tokens()
        .create_access_token(&access(1, "LEGACY", None, NOW))
        .await
        .unwrap();
    // An OAuth session whose access token has gone: its refresh token
    // names the client.
    s.devices()
        .ensure_device(USER, "OAUTH", None, Some(NOW + 1))
        .await
        .unwrap();
    let (_, oauth_access) = s
        .refresh_tokens()
        .create_refresh_token(
            &NewRefreshToken {
                token_hash: vec![2; 32],
                user_id: USER.into(),
                device_id: "OAUTH".into(),
                oauth_client_id: Some("client-1".into()),
                created_ts: NOW + 1,
                ..NewRefreshToken::default()
            },
            &access(3, "OAUTH", Some("client-1"), NOW + 1),
        )
        .await
        .unwrap();
    s.access_tokens()
        .delete_access_token(oauth_access)
        .await
        .unwrap();
    // A device made before its creation was noted: its oldest token's time.
    s.devices()
        .ensure_device(USER, "OLD", None, None)
        .await
        .unwrap();
    s.access_tokens()
        .create_access_token(&access(4, "OLD", None, NOW - 50))
        .await
        .unwrap();
    s.access_tokens()
        .create_access_token(&access(5, "OLD", None, NOW - 10))
        .await
        .unwrap();
    // Another user's device is not listed.
    s.devices()
        .ensure_device("@b:x", "BDEV", None, None)
        .await
        .unwrap();
    // Sightings: the device's last address and the latest user agent.
    s.usage()
        .record_device_last_seen(&[DeviceSeen {
            user_id: USER.into(),
            device_id: "LEGACY".into(),
            last_seen_ts: NOW + 100,
            ip: Some("192.0.2.7".into()),
        }])
        .await
        .unwrap();
    let seen = |agent: &str, ts: i64, ip: &str| ClientIpSeen {
        user_id: USER.into(),
        token_id: 1,
        ip: ip.into(),
        user_agent: agent.into(),
        device_id: Some("LEGACY".into()),
        last_seen_ts: ts,
    };
    s.usage()
        .record_client_ips(&[
            seen("Old/1.0", NOW + 50, "192.0.2.6"),
            seen("New/2.0", NOW + 100, "192.0.2.7"),
        ])
        .await
        .unwrap();

    let all = s.devices().list_device_sessions(USER, None).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|d| d.device_id.as_str()).collect();
    assert_eq!(ids, ["LEGACY", "OAUTH", "OLD"]);
    let legacy = &all[0];
    assert_eq!(legacy.display_name.as_deref(), Some("Phone"));
    assert_eq!(legacy.created_ts, Some(NOW));
    assert_eq!(legacy.oauth_client_id, None);
    assert_eq!(legacy.last_seen_ts, Some(NOW + 100));
    assert_eq!(legacy.last_seen_ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(legacy.last_user_agent.as_deref(), Some("New/2.0"));
    let oauth = &all[1];
    assert_eq!(oauth.oauth_client_id.as_deref(), Some("client-1"));
    assert_eq!(oauth.created_ts, Some(NOW + 1));
    assert_eq!(oauth.last_user_agent, None);
    assert_eq!(all[2].created_ts, Some(NOW - 50));

    let one = s
        .devices()
        .list_device_sessions(USER, Some("OAUTH"))
        .await
        .unwrap();
    assert_eq!(one, std::slice::from_ref(oauth));
    let foreign = s
        .devices()
        .list_device_sessions(USER, Some("BDEV"))
        .await
        .unwrap();
    assert!(foreign.is_empty());
}

async fn display_names_are_set_and_cleared(b: Backend) {
    let (s, _db) = open(b).await;
    assert!(s
        .users()
        .set_displayname(USER, Some("Alice"))
        .await
        .unwrap());
    let name = |s: Arc<dyn Store>| async move {
        s.users().get_user(USER).await.unwrap().unwrap().displayname
    };
    assert_eq!(name(s.clone()).await.as_deref(), Some("Alice"));
    assert!(s.users().set_displayname(USER, None).await.unwrap());
    assert_eq!(name(s.clone()).await, None);
    assert!(!s
        .users()
        .set_displayname("@nobody:x", Some("Ghost"))
        .await
        .unwrap());
}
