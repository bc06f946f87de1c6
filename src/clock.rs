//! Time and randomness, passed in so that tests are deterministic.

use rand::{rngs::StdRng, RngCore, SeedableRng};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// THE timestamp type: milliseconds since the Unix epoch, what
/// [`Clock::now_ms`] (and so `Auth::now`) returns, what the store's rows and
/// the rules carry. Columns and fields holding one are named `<event>_ts`
/// (ARCHITECTURE.md, "Time and randomness"). Durations stay plain `i64`
/// milliseconds named `*_ms`.
pub type Timestamp = i64;

/// The time now.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Timestamp;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    // The one reading of the wall clock (clippy.toml bans it elsewhere).
    #[allow(clippy::disallowed_methods)]
    fn now_ms(&self) -> Timestamp {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to.
pub struct MockClock(AtomicI64);

impl MockClock {
    pub fn new(now_ms: Timestamp) -> Self {
        MockClock(AtomicI64::new(now_ms))
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for MockClock {
    fn now_ms(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}

/// How long some work took, on the monotonic clock: for metrics and the
/// request log only, never a time the rules decide by (those come from
/// [`Clock`], which a test moves by hand).
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    // The one reading of the monotonic clock outside tests (clippy.toml
    // bans it elsewhere): a measure of work, not a time of the rules.
    #[allow(clippy::disallowed_methods)]
    pub fn start() -> Self {
        Stopwatch(std::time::Instant::now())
    }

    pub fn elapsed(&self) -> std::time::Duration {
        self.0.elapsed()
    }

    /// Seconds, as Prometheus histograms take them.
    pub fn seconds(&self) -> f64 {
        self.elapsed().as_secs_f64()
    }
}

/// A source of secure random bytes.
pub trait Random: Send + Sync + 'static {
    fn fill(&self, dest: &mut [u8]);
}

/// The operating system's generator.
pub struct OsRandom;

impl Random for OsRandom {
    // The one use of the OS generator (clippy.toml bans it elsewhere).
    #[allow(clippy::disallowed_types)]
    fn fill(&self, dest: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(dest);
    }
}

/// A seeded generator, for tests.
pub struct SeededRandom(Mutex<StdRng>);

impl SeededRandom {
    pub fn new(seed: u64) -> Self {
        SeededRandom(Mutex::new(StdRng::seed_from_u64(seed)))
    }
}

impl Random for SeededRandom {
    fn fill(&self, dest: &mut [u8]) {
        match self.0.lock() {
            Ok(mut rng) => rng.fill_bytes(dest),
            Err(poisoned) => poisoned.into_inner().fill_bytes(dest),
        }
    }
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random string over `[A-Za-z0-9]`, without modulo bias.
pub fn random_string(rng: &dyn Random, len: usize) -> String {
    random_from(rng, len, ALPHANUMERIC)
}

/// A random string over `[A-Z]`: Synapse's alphabet for device IDs.
pub fn random_upper(rng: &dyn Random, len: usize) -> String {
    random_from(rng, len, &ALPHANUMERIC[..26])
}

/// A random string over `alphabet` (at most 256 letters), without modulo bias.
pub fn random_from(rng: &dyn Random, len: usize, alphabet: &[u8]) -> String {
    let n = alphabet.len() as u32;
    let limit = 256 - (256 % n);
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.fill(&mut buf);
        for &b in buf.iter() {
            if (b as u32) < limit && out.len() < len {
                out.push(alphabet[(b as u32 % n) as usize] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_random_is_repeatable_and_in_alphabet() {
        let a = random_string(&SeededRandom::new(7), 40);
        let b = random_string(&SeededRandom::new(7), 40);
        assert_eq!(a, b);
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_string(&SeededRandom::new(8), 40));
        assert!(random_upper(&OsRandom, 10)
            .bytes()
            .all(|c| c.is_ascii_uppercase()));
    }

    #[test]
    fn mock_clock_moves_only_when_told() {
        let c = MockClock::new(1000);
        assert_eq!(c.now_ms(), 1000);
        c.advance_ms(500);
        assert_eq!(c.now_ms(), 1500);
    }
}
