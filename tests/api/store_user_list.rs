//! The store's admin user list, on both backends: offset and cursor pages
//! in each order agree with the whole list sorted in Rust, each row with
//! its own `last_seen_ts` (computed for the page's rows only since the
//! page's names are selected first), and the count of a filter set.

use crate::both;
use crate::support::{fresh_database, Backend};
use mxauth::store::{connect, ClientIpSeen, NewUser, Store, UserListQuery, UserListRow, UserOrder};

both!(pages_agree_with_the_whole_list_and_see_their_own_last_seen);

const N: usize = 13;

fn query(order: UserOrder, backwards: bool) -> UserListQuery {
    UserListQuery {
        name: None,
        user_id: None,
        guests: None,
        deactivated: Some(false),
        admins: None,
        locked: None,
        not_user_types: Vec::new(),
        order,
        backwards,
        after: None,
        offset: 0,
        limit: 4,
    }
}

/// Thirteen users (the last deactivated): display names and creation
/// times in another order than the names, ties among both, and client
/// IPs on most (several rows each: the latest counts).
async fn fill(store: &dyn Store) -> Vec<(String, Option<String>, i64, i64)> {
    let mut expected = Vec::new();
    for i in 0..N {
        let user_id = format!("@u{i:02}:x");
        let displayname = (i % 4 != 0).then(|| format!("Name {}", (i * 5) % 7));
        let created_ts = 1_000 + ((i * 7) % 5) as i64;
        let user = NewUser {
            user_id: user_id.clone(),
            displayname: displayname.clone(),
            created_ts,
            ..NewUser::default()
        };
        assert!(store.users().create_user(&user).await.unwrap());
        let mut last_seen = 0;
        if i % 3 != 0 {
            let rows: Vec<ClientIpSeen> = (0..3)
                .map(|k| ClientIpSeen {
                    user_id: user_id.clone(),
                    token_id: (i * 10 + k) as i64,
                    ip: format!("10.0.0.{k}"),
                    user_agent: "UA".into(),
                    device_id: None,
                    last_seen_ts: 5_000 + ((i * 31 + k * 17) % 23) as i64,
                })
                .collect();
            last_seen = rows.iter().map(|r| r.last_seen_ts).max().unwrap();
            store.usage().record_client_ips(&rows).await.unwrap();
        }
        if i + 1 == N {
            store.users().set_deactivated(&user_id).await.unwrap();
        } else {
            expected.push((user_id, displayname, created_ts, last_seen));
        }
    }
    expected
}

fn names(rows: &[UserListRow]) -> Vec<String> {
    rows.iter().map(|r| r.user_id.clone()).collect()
}

async fn pages_agree_with_the_whole_list_and_see_their_own_last_seen(b: Backend) {
    let db = fresh_database(b).await;
    let store = connect(&db.config.url(), 4).await.unwrap();
    let users = fill(&*store).await;
    let listed = users.len() as i64;
    let all = query(UserOrder::Name, false);
    assert_eq!(store.users().count_users(&all).await.unwrap(), listed);
    let mut everyone = all.clone();
    everyone.deactivated = None;
    assert_eq!(
        store.users().count_users(&everyone).await.unwrap(),
        N as i64
    );

    for order in [
        UserOrder::Name,
        UserOrder::Displayname,
        UserOrder::CreationTs,
        UserOrder::LastSeenTs,
    ] {
        for backwards in [false, true] {
            // The whole list, sorted here: by the order's value, ties by
            // name ascending either way.
            let mut want = users.clone();
            want.sort_by(|a, b| {
                let by = match order {
                    UserOrder::Name => a.0.cmp(&b.0),
                    UserOrder::Displayname => {
                        a.1.clone()
                            .unwrap_or_default()
                            .cmp(&b.1.clone().unwrap_or_default())
                    }
                    UserOrder::CreationTs => a.2.cmp(&b.2),
                    _ => a.3.cmp(&b.3),
                };
                let by = if backwards { by.reverse() } else { by };
                by.then_with(|| match (order, backwards) {
                    (UserOrder::Name, true) => b.0.cmp(&a.0),
                    _ => a.0.cmp(&b.0),
                })
            });
            let want_names: Vec<String> = want.iter().map(|u| u.0.clone()).collect();
            let what = format!("{order:?} backwards={backwards}");

            // By offset, a page at a time.
            let mut q = query(order, backwards);
            let mut by_offset = Vec::new();
            while q.offset < listed + 4 {
                by_offset.extend(store.users().list_users(&q).await.unwrap());
                q.offset += q.limit;
            }
            assert_eq!(names(&by_offset), want_names, "{what} by offset");
            for row in &by_offset {
                let user = users.iter().find(|u| u.0 == row.user_id).unwrap();
                assert_eq!(row.last_seen_ts, user.3, "{what}: {}", row.user_id);
                assert_eq!(row.displayname, user.1, "{what}: {}", row.user_id);
                assert_eq!(row.created_ts, user.2, "{what}: {}", row.user_id);
            }

            // By cursor, and an offset after a cursor.
            let mut q = query(order, backwards);
            let mut by_cursor = Vec::new();
            loop {
                let page = store.users().list_users(&q).await.unwrap();
                let Some(last) = page.last() else { break };
                q.after = Some(q.cursor_after(last));
                by_cursor.extend(page);
            }
            assert_eq!(by_cursor, by_offset, "{what} by cursor");
            let mut q = query(order, backwards);
            q.after = Some(q.cursor_after(&by_offset[2]));
            q.offset = 3;
            let page = store.users().list_users(&q).await.unwrap();
            assert_eq!(names(&page), want_names[6..10], "{what} cursor and offset");
        }
    }
}
