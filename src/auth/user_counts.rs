//! The admin user list's `total`, kept a few seconds per set of filters.
//!
//! Counting the users a filter set matches reads every matching row (a
//! million users: ~100 ms on PostgreSQL, more on SQLite), and every page
//! of the list answers with it: synapse-admin shows it as the number of
//! pages, while walking them one request at a time. So a total is counted
//! once per [`UserCounts::TTL_MS`] and filter set, in this process:
//! exact when counted, at most that old when shown (as Synapse's own
//! cached counts). Paging never depends on it (`next_token` comes from
//! reading one row more than the page). Not PostgreSQL's estimate
//! (`pg_class.reltuples`): the field looks exact and is compared with
//! what a page shows. What an admin changes through this process's
//! user admin API ([`UserCounts::forget`]) shows at once; registrations
//! and other processes' writes within the lifetime.

use crate::clock::Timestamp;
use crate::store::UserListFilter;
use std::collections::HashMap;
use std::sync::Mutex;

/// Totals by filter set, with when each was counted.
#[derive(Default)]
pub struct UserCounts {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    totals: HashMap<UserListFilter, (i64, Timestamp)>,
    /// Bumped by [`UserCounts::forget`]: a count begun before it is not
    /// kept (it may have missed the change).
    generation: u64,
}

impl UserCounts {
    /// How long a total is shown after it was counted.
    pub const TTL_MS: i64 = 5_000;
    /// The most filter sets kept (searches make new ones at will).
    const MAX_ENTRIES: usize = 256;

    /// The total counted for `filter` less than [`Self::TTL_MS`] before
    /// `now`, if any.
    pub fn get(&self, filter: &UserListFilter, now: Timestamp) -> Option<i64> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .totals
            .get(filter)
            .filter(|(_, at)| fresh(*at, now))
            .map(|(total, _)| *total)
    }

    /// A mark to pass to [`Self::put`], taken before counting.
    pub fn generation(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .generation
    }

    /// Keeps `total`, counted at `now` and begun at `generation`, unless
    /// something was forgotten since.
    pub fn put(&self, filter: UserListFilter, total: i64, now: Timestamp, generation: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.generation != generation {
            return;
        }
        if inner.totals.len() >= Self::MAX_ENTRIES {
            inner.totals.retain(|_, (_, at)| fresh(*at, now));
            if inner.totals.len() >= Self::MAX_ENTRIES {
                inner.totals.clear();
            }
        }
        inner.totals.insert(filter, (total, now));
    }

    /// Forgets every total: a user was created, or changed in a way a
    /// filter sees.
    pub fn forget(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.totals.clear();
        inner.generation = inner.generation.wrapping_add(1);
    }
}

fn fresh(at: Timestamp, now: Timestamp) -> bool {
    // A clock set back counts as stale too.
    (0..UserCounts::TTL_MS).contains(&(now - at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(name: Option<&str>) -> UserListFilter {
        UserListFilter {
            name: name.map(str::to_owned),
            ..UserListFilter::default()
        }
    }

    #[test]
    fn a_total_lives_its_lifetime_per_filter_set() {
        let counts = UserCounts::default();
        let g = counts.generation();
        counts.put(filter(None), 7, 1_000, g);
        assert_eq!(counts.get(&filter(None), 1_000), Some(7));
        assert_eq!(
            counts.get(&filter(None), 1_000 + UserCounts::TTL_MS - 1),
            Some(7)
        );
        assert_eq!(counts.get(&filter(None), 1_000 + UserCounts::TTL_MS), None);
        assert_eq!(counts.get(&filter(None), 999), None, "clock set back");
        assert_eq!(counts.get(&filter(Some("a")), 1_000), None);
    }

    #[test]
    fn a_count_begun_before_a_forget_is_not_kept() {
        let counts = UserCounts::default();
        let g = counts.generation();
        counts.put(filter(None), 7, 1_000, g);
        counts.forget();
        assert_eq!(counts.get(&filter(None), 1_000), None);
        counts.put(filter(None), 7, 1_000, g);
        assert_eq!(counts.get(&filter(None), 1_000), None, "stale count kept");
        counts.put(filter(None), 8, 1_000, counts.generation());
        assert_eq!(counts.get(&filter(None), 1_000), Some(8));
    }

    #[test]
    fn searches_cannot_grow_it_without_bound() {
        let counts = UserCounts::default();
        for i in 0..(UserCounts::MAX_ENTRIES * 3) {
            counts.put(filter(Some(&i.to_string())), 1, 1_000, counts.generation());
        }
        let inner = counts.inner.lock().unwrap();
        assert!(inner.totals.len() <= UserCounts::MAX_ENTRIES);
        assert!(!inner.totals.is_empty());
    }
}
