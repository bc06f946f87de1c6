//! This process's memory of the monthly-active count, so that a login or
//! registration of a user not yet counted does not count a million rows
//! each time (~120 ms on PostgreSQL at a million entries).
//!
//! Several processes share one database, and each admits users on what it
//! remembers; so a remembered count is trusted only when it says there is
//! room by more than a margin ([`margin`]: 1% of `max_mau_value`, at least
//! one), for at most [`TTL_MS`], and with this process's own new entries
//! added as it writes them ([`MauCountCache::counted_new`]). Near the limit
//! every check reads the database afresh (as it did before the cache), and
//! an answer of "full" is never reused, so room made by the reaper or an
//! admin shows at once. What the cache can let through beyond the limit is
//! what the other processes admit within [`TTL_MS`] beyond the margin: a
//! deployment would have to add 1% of its limit in new monthly-active
//! users within that time. Synapse too admits on a cached count (its cache
//! dropped on each write, and on its workers after replication lag).

use crate::clock::Timestamp;
use std::sync::Mutex;

/// How long a count read from the database is reused.
pub(crate) const TTL_MS: i64 = 10_000;

/// How far below `max` a remembered count must be to be trusted.
fn margin(max: i64) -> i64 {
    (max / 100).max(1)
}

#[derive(Default)]
pub(crate) struct MauCountCache {
    counted: Mutex<Option<Counted>>,
}

#[derive(Clone, Copy)]
struct Counted {
    /// When it was read from the database.
    at: Timestamp,
    /// The users counting against the limit then, plus those this process
    /// has added since.
    other: i64,
}

impl MauCountCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Counted>> {
        match self.counted.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The count to admit on at `now` under a limit of `max`, if the one
    /// remembered may be trusted.
    pub(crate) fn get(&self, now: Timestamp, max: i64) -> Option<i64> {
        let c = (*self.lock())?;
        let fresh = (0..TTL_MS).contains(&(now - c.at));
        (fresh && c.other < max.saturating_sub(margin(max))).then_some(c.other)
    }

    /// The count just read from the database.
    pub(crate) fn set(&self, now: Timestamp, other: i64) {
        *self.lock() = Some(Counted { at: now, other });
    }

    /// This process added a monthly-active entry that counts.
    pub(crate) fn counted_new(&self) {
        if let Some(c) = self.lock().as_mut() {
            c.other += 1;
        }
    }

    /// The reaper ran: read afresh next time.
    pub(crate) fn forget(&self) {
        *self.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_only_with_room_and_while_fresh() {
        let cache = MauCountCache::default();
        assert_eq!(cache.get(0, 1000), None, "nothing read yet");
        cache.set(100, 500);
        assert_eq!(cache.get(100 + TTL_MS - 1, 1000), Some(500));
        assert_eq!(cache.get(100 + TTL_MS, 1000), None, "stale");
        assert_eq!(cache.get(99, 1000), None, "the clock went back");
        // This process's own entries count at once.
        cache.counted_new();
        assert_eq!(cache.get(100, 1000), Some(501));
        // Within the margin (1%) of the limit: read afresh.
        cache.set(100, 989);
        assert_eq!(cache.get(100, 1000), Some(989));
        cache.counted_new();
        assert_eq!(cache.get(100, 1000), None);
        // A limit of one: never trusted; nor after the reaper ran.
        cache.set(100, 0);
        assert_eq!(cache.get(100, 1), None);
        assert_eq!(cache.get(100, 3), Some(0));
        cache.forget();
        assert_eq!(cache.get(100, 3), None);
    }
}
