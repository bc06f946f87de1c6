//! Request authentication's cache: an access token's hash → its owner (the
//! token row joined with its user's flags, as [`TokenOwner`] is read), so
//! that a request whose token was seen lately needs no database round
//! trip.
//!
//! Correctness is the database's, within a bound:
//! - Every change that could make an entry wrong (a token deleted or
//!   changed; a user deactivated, locked, made admin, no longer a guest)
//!   is written by triggers and delivered by the store's change feed
//!   ([`crate::store::changes`]) from every process: PostgreSQL's
//!   NOTIFY at once, SQLite's table within 25 ms.
//! - The process that made a change forgets it before its response is
//!   sent: the HTTP layer [`TokenCache::sync`]s after every request that
//!   may write.
//! - Until the feed follows (at start, after a lost connection, after a
//!   failed poll), nothing is read from the cache and nothing put in it.
//! - An entry read from the database is put in only if no change that
//!   could concern it arrived meanwhile (generations, below), so a change
//!   racing a lookup cannot leave a stale entry.
//! - Expiry (`valid_until_ts`) is checked on every use, as before; entries
//!   also live at most [`TIME_TO_LIVE`].
//!
//! Unknown tokens are never cached: a client sending random tokens fills
//! nothing (and a token that fails its checksum is refused before any
//! lookup). The cache is bounded by weight (an estimate of each entry's
//! bytes), `mxauth.token_cache_size`.

use crate::metrics::Metrics;
use crate::store::changes::{ChangeFeed, ChangeSink};
use crate::store::TokenOwner;
use prometheus::{IntCounter, IntGauge};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The longest an entry lives, whatever the feed says.
pub const TIME_TO_LIVE: Duration = Duration::from_secs(600);
/// Token changes bump one of these generations (by the hash's first byte).
const STRIPES: usize = 64;

type Key = [u8; 32];

/// See the module documentation.
pub struct TokenCache {
    entries: Option<moka::sync::Cache<Key, Arc<TokenOwner>>>,
    /// Whether the change feed follows every change.
    trusted: AtomicBool,
    stripes: [AtomicU64; STRIPES],
    /// Bumped by every change of a user and every loss of the feed.
    everything: AtomicU64,
    feed: OnceLock<Arc<dyn ChangeFeed>>,
    counters: CacheCounters,
}

/// The cache's metrics (`mxauth_token_cache_*`), counted as it works.
#[derive(Clone)]
pub struct CacheCounters {
    pub hits: IntCounter,
    pub misses: IntCounter,
    pub invalidations: IntCounter,
    /// 1 while trusted.
    pub trusted: IntGauge,
}

impl CacheCounters {
    /// The server's.
    pub fn of(metrics: &Metrics) -> Self {
        CacheCounters {
            hits: metrics.token_cache_hits.clone(),
            misses: metrics.token_cache_misses.clone(),
            invalidations: metrics.token_cache_invalidations.clone(),
            trusted: metrics.token_cache_trusted.clone(),
        }
    }

    /// Counters of nobody's registry.
    pub fn detached() -> Self {
        let counter = |name: &str| IntCounter::new(name, name).expect("a valid name");
        CacheCounters {
            hits: counter("hits"),
            misses: counter("misses"),
            invalidations: counter("invalidations"),
            trusted: IntGauge::new("trusted", "trusted").expect("a valid name"),
        }
    }
}

/// A miss: what the cache was when the lookup began, for [`TokenCache::insert`].
#[derive(Debug)]
pub struct Ticket {
    key: Option<Key>,
    stripe: u64,
    everything: u64,
}

impl TokenCache {
    /// A cache of at most `max_bytes` (0: none at all). It trusts nothing
    /// until a feed is attached and has caught up.
    pub fn new(max_bytes: u64, counters: CacheCounters) -> Self {
        let entries = (max_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_: &Key, owner: &Arc<TokenOwner>| weight(owner))
                .time_to_live(TIME_TO_LIVE)
                .build()
        });
        TokenCache {
            entries,
            trusted: AtomicBool::new(false),
            stripes: std::array::from_fn(|_| AtomicU64::new(0)),
            everything: AtomicU64::new(0),
            feed: OnceLock::new(),
            counters,
        }
    }

    /// Whether there is a cache at all (`token_cache_size` not 0).
    pub fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// Whether entries are read and kept now.
    pub fn trusted(&self) -> bool {
        self.trusted.load(Ordering::SeqCst)
    }

    /// Its metrics.
    pub fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    /// Entries held now (an estimate while evictions are pending).
    pub fn entry_count(&self) -> u64 {
        self.entries.as_ref().map_or(0, |e| e.entry_count())
    }

    /// Gives the cache the feed it follows (once; later calls are ignored).
    pub fn attach(&self, feed: Arc<dyn ChangeFeed>) {
        let _ = self.feed.set(feed);
    }

    /// The owner of the token with this hash, if cached and trusted;
    /// otherwise the ticket to [`TokenCache::insert`] what the database says.
    pub fn get(&self, token_hash: &[u8]) -> Result<Arc<TokenOwner>, Ticket> {
        let key: Option<Key> = token_hash.try_into().ok();
        let ticket = Ticket {
            key,
            stripe: key.map_or(0, |k| self.stripe(&k).load(Ordering::SeqCst)),
            everything: self.everything.load(Ordering::SeqCst),
        };
        if let (Some(entries), Some(k), true) = (&self.entries, key, self.trusted()) {
            if let Some(owner) = entries.get(&k) {
                self.counters.hits.inc();
                return Ok(owner);
            }
        }
        self.counters.misses.inc();
        Err(ticket)
    }

    /// Keeps what the database said for the ticket's token, unless the
    /// cache is not trusted or a change that could concern it arrived
    /// since the ticket was taken.
    pub fn insert(&self, ticket: Ticket, owner: Arc<TokenOwner>) {
        let (Some(entries), Some(key)) = (&self.entries, ticket.key) else {
            return;
        };
        if !self.unchanged_since(&ticket, &key) {
            return;
        }
        entries.insert(key, owner);
        // A change that arrived between the check and the insert bumped a
        // generation before it invalidated: either it removed this entry
        // after it was put in, or it is seen here.
        if !self.unchanged_since(&ticket, &key) {
            entries.invalidate(&key);
        }
    }

    /// Forgets one token in this process (its row was just changed here;
    /// the feed tells the others).
    pub fn forget(&self, token_hash: &[u8]) {
        self.token_changed(token_hash);
    }

    /// Returns once every change committed before the call is forgotten.
    pub async fn sync(&self) {
        if let (Some(feed), true) = (self.feed.get(), self.enabled()) {
            feed.sync().await;
        }
    }

    fn unchanged_since(&self, ticket: &Ticket, key: &Key) -> bool {
        self.trusted()
            && self.everything.load(Ordering::SeqCst) == ticket.everything
            && self.stripe(key).load(Ordering::SeqCst) == ticket.stripe
    }

    fn stripe(&self, key: &Key) -> &AtomicU64 {
        &self.stripes[usize::from(key[0]) % STRIPES]
    }

    fn forget_everything(&self) {
        self.everything.fetch_add(1, Ordering::SeqCst);
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
        self.counters.invalidations.inc();
    }
}

impl ChangeSink for TokenCache {
    fn token_changed(&self, token_hash: &[u8]) {
        let Ok(key) = Key::try_from(token_hash) else {
            return;
        };
        self.stripe(&key).fetch_add(1, Ordering::SeqCst);
        if let Some(entries) = &self.entries {
            entries.invalidate(&key);
        }
        self.counters.invalidations.inc();
    }

    /// A user's flags are rarely changed (deactivation, lock, admin, guest
    /// upgrade): the whole cache is forgotten rather than indexed by user.
    fn user_changed(&self, _user_id: &str) {
        self.forget_everything();
    }

    fn lost(&self) {
        self.trusted.store(false, Ordering::SeqCst);
        self.counters.trusted.set(0);
        self.forget_everything();
    }

    fn caught_up(&self) {
        self.forget_everything();
        self.trusted.store(true, Ordering::SeqCst);
        self.counters.trusted.set(1);
    }
}

/// About what an entry holds, in bytes: the key, the owner and its strings.
fn weight(owner: &TokenOwner) -> u32 {
    let strings = owner.user_id.len()
        + owner.device_id.as_ref().map_or(0, String::len)
        + owner.puppet_owner.as_ref().map_or(0, String::len)
        + owner.oauth_client_id.as_ref().map_or(0, String::len)
        + owner.scope.as_ref().map_or(0, String::len);
    // Key, Arc header, moka's own bookkeeping (roughly).
    let fixed = std::mem::size_of::<Key>() + std::mem::size_of::<TokenOwner>() + 16 + 64;
    u32::try_from(fixed + strings).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(user: &str) -> Arc<TokenOwner> {
        Arc::new(TokenOwner {
            token_id: 1,
            user_id: user.to_owned(),
            device_id: Some("DEV".to_owned()),
            puppet_owner: None,
            valid_until_ts: None,
            refresh_token_id: None,
            first_used_ts: None,
            oauth_client_id: None,
            scope: None,
            user_deactivated: false,
            user_locked: false,
            user_is_guest: false,
            user_admin: false,
        })
    }

    fn trusted_cache() -> TokenCache {
        let cache = TokenCache::new(1 << 20, CacheCounters::detached());
        cache.caught_up();
        cache
    }

    #[test]
    fn untrusted_cache_neither_answers_nor_keeps() {
        let cache = TokenCache::new(1 << 20, CacheCounters::detached());
        let hash = [7u8; 32];
        let ticket = cache.get(&hash).unwrap_err();
        cache.insert(ticket, owner("@a:x"));
        assert_eq!(cache.entry_count(), 0);
        cache.caught_up();
        assert!(
            cache.get(&hash).is_err(),
            "nothing was kept while untrusted"
        );
        let ticket = cache.get(&hash).unwrap_err();
        cache.insert(ticket, owner("@a:x"));
        assert_eq!(cache.get(&hash).unwrap().user_id, "@a:x");
        cache.lost();
        assert!(cache.get(&hash).is_err(), "a lost feed forgets everything");
    }

    #[test]
    fn a_change_during_the_lookup_keeps_the_answer_out() {
        let cache = trusted_cache();
        let hash = [9u8; 32];
        let ticket = cache.get(&hash).unwrap_err();
        // The token is deleted while its row is being read.
        cache.token_changed(&hash);
        cache.insert(ticket, owner("@a:x"));
        assert!(cache.get(&hash).is_err());
        // A user's change too (any user: the whole cache).
        let ticket = cache.get(&hash).unwrap_err();
        cache.user_changed("@b:x");
        cache.insert(ticket, owner("@a:x"));
        assert!(cache.get(&hash).is_err());
        // A change of another stripe's token does not.
        let ticket = cache.get(&hash).unwrap_err();
        cache.token_changed(&[10u8; 32]);
        cache.insert(ticket, owner("@a:x"));
        assert!(cache.get(&hash).is_ok());
    }

    #[test]
    fn changes_forget_entries() {
        let cache = trusted_cache();
        for i in 0..3u8 {
            let ticket = cache.get(&[i; 32]).unwrap_err();
            cache.insert(ticket, owner("@a:x"));
        }
        cache.token_changed(&[1u8; 32]);
        assert!(cache.get(&[0u8; 32]).is_ok());
        assert!(cache.get(&[1u8; 32]).is_err());
        cache.user_changed("@a:x");
        assert!(cache.get(&[0u8; 32]).is_err());
        assert!(cache.get(&[2u8; 32]).is_err());
        let counters = cache.counters();
        assert_eq!(counters.hits.get(), 1);
        assert!(counters.invalidations.get() >= 3);
    }

    #[test]
    fn bounded_by_weight_and_off_at_zero() {
        let cache = TokenCache::new(64 * 1024, CacheCounters::detached());
        cache.caught_up();
        for i in 0..5000u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_be_bytes());
            let ticket = cache.get(&key).unwrap_err();
            cache.insert(ticket, owner("@someone:example.org"));
        }
        cache.entries.as_ref().unwrap().run_pending_tasks();
        let per_entry = u64::from(weight(&owner("@someone:example.org")));
        assert!(
            cache.entry_count() <= 64 * 1024 / per_entry + 1,
            "{} entries of {per_entry} bytes",
            cache.entry_count()
        );
        let off = TokenCache::new(0, CacheCounters::detached());
        off.caught_up();
        let ticket = off.get(&[1u8; 32]).unwrap_err();
        off.insert(ticket, owner("@a:x"));
        assert!(off.get(&[1u8; 32]).is_err());
        assert!(!off.enabled());
    }
}
