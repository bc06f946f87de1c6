//! Password hashing. New hashes are argon2id; bcrypt hashes imported from
//! Synapse (checked with Synapse's pepper appended) verify too and are
//! re-hashed to argon2id after the next good login. Passwords are NFKC
//! normalised first, as Synapse does.
//!
//! Hashing is CPU-bound: it runs on `concurrency` dedicated threads, so a
//! login storm cannot starve the executor that serves token checks, and at
//! most that many hashes run at once. Dedicated threads also bound memory:
//! each argon2 hash takes 19 MiB, and the allocator keeps freed blocks per
//! thread, so hashing on ever-different blocking-pool threads grew the
//! process by tens of MiB per thread. An unknown user is verified against a dummy hash so
//! that it costs what a wrong password costs.
//!
//! The threads are behind a semaphore of `concurrency` permits with a
//! bounded queue: at most [`MAX_WAITING_HASHES`] requests wait for a
//! permit, and one more is refused at once with 429 `M_LIMIT_EXCEEDED`.
//! A request whose client has gone (its future dropped) leaves the queue,
//! and a hash whose requester is gone by the time a thread takes it is not
//! computed. Passwords longer than [`MAX_PASSWORD_LEN`] characters are
//! refused before any normalisation or hashing.

use super::ratelimit::LimitExceeded;
use crate::clock::Stopwatch;
use crate::config::Secret;
use crate::metrics::Metrics;
use argon2::password_hash::{Output, ParamsString, PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

pub use super::identifiers::MAX_PASSWORD_LEN;

/// How many requests may wait for a hashing thread beyond the
/// `password_hashing_concurrency` that are hashing; more are refused with 429.
pub const MAX_WAITING_HASHES: usize = 32;

/// A password as received: wiped from memory when dropped, never printed.
pub type Password = Zeroizing<String>;

/// Whether `password` is longer than [`MAX_PASSWORD_LEN`] characters
/// (Synapse's limit, in code points). Cheap: a long input is judged by its
/// byte length, no normalisation.
pub fn too_long(password: &str) -> bool {
    let n = password.len();
    if n <= MAX_PASSWORD_LEN {
        return false;
    }
    // A character is at most 4 bytes.
    n > 4 * MAX_PASSWORD_LEN || password.chars().count() > MAX_PASSWORD_LEN
}

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password (or no such user, or no password set).
    No,
    /// Right password; `rehash` when the stored hash should be replaced by
    /// a current argon2id hash.
    Yes { rehash: bool },
}

#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

/// A unit of hashing work for the pool.
type Work = Box<dyn FnOnce() + Send + 'static>;

struct Inner {
    /// Sends work to the hashing threads; they stop when it is dropped.
    work: crossbeam_channel::Sender<Work>,
    /// One permit per hashing thread: work is sent to the threads only
    /// with a permit, so nothing queues where it could not be dropped.
    permits: Arc<Semaphore>,
    concurrency: usize,
    /// Requests hashing or waiting for a permit.
    admitted: AtomicUsize,
    stats: Arc<Stats>,
    pepper: Secret,
    params: Params,
    dummy_hash: String,
    /// Where the queue's depth and waits are reported, once set.
    metrics: std::sync::OnceLock<Arc<Metrics>>,
}

#[derive(Default)]
struct Stats {
    /// Hashes computed (and verifications), since start.
    computed: AtomicU64,
    /// A moving average of how long one takes, in milliseconds.
    average_ms: AtomicU64,
}

/// A place in the hashing queue, given back when dropped.
/// Why the hasher gives no hash: the rules' answer, rendered by the HTTP
/// layer (`From<HashError> for Error`).
#[derive(Debug)]
pub enum HashError {
    /// Over the length limit: no such password may be set.
    TooLong,
    /// The hashing queue is full: come back later.
    Busy(LimitExceeded),
    /// Logged where it happened.
    Internal,
}

internal_error!(HashError);

impl std::fmt::Display for HashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HashError::TooLong => "Password too long",
            HashError::Busy(_) => "The password hashing queue is full",
            HashError::Internal => "Internal server error",
        })
    }
}

impl HashError {}

struct Admitted<'a>(&'a AtomicUsize);

/// A hash waiting for a thread, in the queue's metrics: counted in the
/// depth until it gets one (or its requester goes), its wait observed.
struct Waiting<'a> {
    metrics: Option<&'a Metrics>,
    since: Stopwatch,
}

impl<'a> Waiting<'a> {
    fn new(metrics: Option<&'a Arc<Metrics>>) -> Self {
        let metrics = metrics.map(|m| &**m);
        if let Some(m) = metrics {
            m.password_hashing_queue_depth.inc();
        }
        Waiting {
            metrics,
            since: Stopwatch::start(),
        }
    }

    /// A thread is free: the wait is over.
    fn done(self) {
        if let Some(m) = self.metrics {
            m.password_hashing_wait.observe(self.since.seconds());
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(m) = self.metrics {
            m.password_hashing_queue_depth.dec();
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHasher {
    /// `concurrency`: how many hashes may run at once.
    pub fn new(concurrency: usize, pepper: Secret) -> Self {
        Self::with_params(concurrency, pepper, Params::default())
    }

    pub fn with_params(concurrency: usize, pepper: Secret, params: Params) -> Self {
        let salt = SaltString::from_b64("ZHVtbXlzYWx0ZHVtbXlzYWx0").unwrap_or_else(|_| {
            SaltString::encode_b64(b"dummysaltdummysalt").expect("static salt")
        });
        let dummy_hash = argon2(&params)
            .hash_password(b"not a password anyone has", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default();
        let concurrency = concurrency.max(1);
        PasswordHasher {
            inner: Arc::new(Inner {
                work: spawn_pool(concurrency),
                permits: Arc::new(Semaphore::new(concurrency)),
                concurrency,
                admitted: AtomicUsize::new(0),
                stats: Arc::new(Stats {
                    computed: AtomicU64::new(0),
                    average_ms: AtomicU64::new(100),
                }),
                pepper,
                params,
                dummy_hash,
                metrics: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Reports the queue's depth and waits to `metrics` (the first given
    /// is kept: one hasher serves one server).
    pub fn report_to(&self, metrics: Arc<Metrics>) {
        let _ = self.inner.metrics.set(metrics);
    }

    /// How many hashes and verifications have been computed since start
    /// (work dropped because its requester had gone is not counted).
    pub fn hashes_computed(&self) -> u64 {
        self.inner.stats.computed.load(Ordering::Acquire)
    }

    /// A new argon2id hash of `password`. A password over the length limit
    /// is refused (callers check the policy first).
    pub async fn hash(&self, password: &str, salt_bytes: [u8; 16]) -> Result<String, HashError> {
        if too_long(password) {
            return Err(HashError::TooLong);
        }
        let password = Zeroizing::new(password.to_owned());
        let params = self.inner.params.clone();
        self.run(move || hash_phc(normalise(&password).as_bytes(), &salt_bytes, &params))
            .await
    }

    /// Checks `password` against `stored` (argon2id or bcrypt); `None`
    /// (unknown user, no password) costs the same and answers `No`. A
    /// password over the length limit answers `No` at once: no password
    /// that long can have been set.
    pub async fn verify(
        &self,
        password: &str,
        stored: Option<&str>,
    ) -> Result<Verified, HashError> {
        if too_long(password) {
            return Ok(Verified::No);
        }
        let password = Zeroizing::new(password.to_owned());
        let (stored, real) = match stored {
            Some(h) => (h.to_owned(), true),
            None => (self.inner.dummy_hash.clone(), false),
        };
        let pepper = Zeroizing::new(self.inner.pepper.expose().to_owned());
        let params = self.inner.params.clone();
        let ok = self
            .run(move || Ok(check(&normalise(&password), &stored, &pepper, &params)))
            .await?;
        Ok(match ok {
            Some(rehash) if real => Verified::Yes { rehash },
            _ => Verified::No,
        })
    }

    /// A place in the queue, or [`HashError::Busy`] when it is full.
    fn admit(&self) -> Result<Admitted<'_>, HashError> {
        let inner = &*self.inner;
        let limit = inner.concurrency + MAX_WAITING_HASHES;
        let before = inner.admitted.fetch_add(1, Ordering::AcqRel);
        let place = Admitted(&inner.admitted);
        if before >= limit {
            // Roughly when the queue will have moved on.
            let rounds = (limit / inner.concurrency) as u64;
            let average = inner.stats.average_ms.load(Ordering::Relaxed).max(1);
            return Err(HashError::Busy(LimitExceeded {
                retry_after_ms: (average * rounds).clamp(100, 10_000),
            }));
        }
        Ok(place)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let _place = self.admit()?;
        let waiting = Waiting::new(self.inner.metrics.get());
        // Dropped while waiting here (the client went away): nothing queued.
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::internal("the hashing semaphore is closed"))?;
        waiting.done();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let stats = self.inner.stats.clone();
        let job: Work = Box::new(move || {
            if tx.is_closed() {
                // Whoever asked is gone: the work is dropped.
                drop(permit);
                return;
            }
            // How long the work takes, for the queue's Retry-After: a
            // duration of CPU work, not a time the rules decide by.
            #[allow(clippy::disallowed_methods)]
            let started = Instant::now();
            let out = work();
            let took = started.elapsed().as_millis().min(u128::from(u32::MAX)) as u64;
            let average = stats.average_ms.load(Ordering::Relaxed);
            stats
                .average_ms
                .store((average * 7 + took) / 8, Ordering::Relaxed);
            stats.computed.fetch_add(1, Ordering::AcqRel);
            drop(permit);
            let _ = tx.send(out);
        });
        self.inner
            .work
            .send(job)
            .map_err(|_| HashError::internal("the hashing threads are gone"))?;
        rx.await
            .map_err(|_| HashError::internal("a hashing thread dropped its work"))?
    }
}

/// How long a hashing thread keeps its argon2 memory without work: an
/// idle server gives the 19 MiB a thread back.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(5);

/// `n` threads taking hashing work from one queue, for the life of the
/// hasher. A panic in one job is caught so the thread keeps serving; a
/// thread idle for [`IDLE_RELEASE`] frees its argon2 memory.
fn spawn_pool(n: usize) -> crossbeam_channel::Sender<Work> {
    let (tx, rx) = crossbeam_channel::unbounded::<Work>();
    for i in 0..n {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("mxauth-hash-{i}"))
            .spawn(move || {
                lower_priority();
                loop {
                    match rx.recv_timeout(IDLE_RELEASE) {
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => release_blocks(),
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("could not start a hashing thread: {e}");
        }
    }
    tx
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

thread_local! {
    /// argon2's working memory (19 MiB with the default parameters), kept
    /// by each hashing thread and reused, instead of allocated per hash.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Reserved (not touched) with the blocks: more than glibc's largest mmap
/// threshold (32 MiB), so the buffer is always a mapping of its own, given
/// back to the system when freed (a smaller one would come from a malloc
/// arena, which keeps it).
const BLOCKS_RESERVED_BYTES: usize = 33 << 20;

fn with_blocks<T>(count: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if blocks.len() < count {
            let reserve = count.max(BLOCKS_RESERVED_BYTES / std::mem::size_of::<Block>());
            let len = blocks.len();
            blocks.reserve_exact(reserve - len);
            blocks.resize(count, Block::default());
        }
        f(&mut blocks[..count])
    })
}

/// Makes this (hashing) thread yield to the others: the batch policy and
/// nice 10, so a request thread that wakes runs before a hash goes on, and
/// a login storm costs token checks little latency; hashes still get every
/// cycle the requests leave. Lowering a priority needs no privilege; if the
/// system refuses anyway, the thread runs as it was.
fn lower_priority() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
    };
    // 21 of [0, 99] is nice 10 for the normal policies.
    let Ok(value) = ThreadPriorityValue::try_from(21u8) else {
        return;
    };
    let set = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Crossplatform(value),
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
    );
    if let Err(e) = set {
        tracing::debug!("could not lower a hashing thread's priority: {e:?}");
    }
}

/// Frees this thread's argon2 memory (it is made again at the next hash).
fn release_blocks() {
    BLOCKS.with(|blocks| *blocks.borrow_mut() = Vec::new());
}

/// An argon2id hash in PHC string form, computed in the thread's reused memory.
fn hash_phc(password: &[u8], salt: &[u8], params: &Params) -> Result<String, HashError> {
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_blocks(params.block_count(), |blocks| {
        argon2(params).hash_password_into_with_memory(password, salt, &mut out, blocks)
    })
    .map_err(HashError::internal)?;
    let salt = SaltString::encode_b64(salt).map_err(HashError::internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(HashError::internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(HashError::internal)?),
    };
    Ok(phc.to_string())
}

/// Checks a password against a parsed argon2 PHC hash, in the thread's
/// reused memory; constant-time comparison of the outputs.
fn verify_phc(password: &[u8], parsed: &PasswordHash<'_>) -> Option<()> {
    let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::V0x13,
    };
    let expected = parsed.hash?;
    let stored = Params::try_from(parsed).ok()?;
    let params = Params::new(
        stored.m_cost(),
        stored.t_cost(),
        stored.p_cost(),
        Some(expected.len()),
    )
    .ok()?;
    let mut salt_buf = [0u8; 64];
    let salt = parsed.salt?.decode_b64(&mut salt_buf).ok()?;
    let mut out = vec![0u8; expected.len()];
    with_blocks(params.block_count(), |blocks| {
        Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(password, salt, &mut out, blocks)
    })
    .ok()?;
    bool::from(out.ct_eq(expected.as_bytes())).then_some(())
}

fn normalise(password: &str) -> Password {
    Zeroizing::new(password.nfkc().collect())
}

/// `Some(rehash)` when the password matches.
fn check(password: &str, stored: &str, pepper: &str, params: &Params) -> Option<bool> {
    if stored.starts_with("$2") {
        // Synapse: bcrypt.checkpw(password + pepper, hash)
        let peppered = Zeroizing::new(format!("{password}{pepper}"));
        return match bcrypt::verify(peppered.as_bytes(), stored) {
            Ok(true) => Some(true),
            _ => None,
        };
    }
    let parsed = PasswordHash::new(stored).ok()?;
    verify_phc(password.as_bytes(), &parsed)?;
    let current = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() == params.m_cost()
                && p.t_cost() == params.t_cost()
                && p.p_cost() == params.p_cost()
        });
    Some(!current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(pepper: &str) -> PasswordHasher {
        PasswordHasher::new(2, Secret::new(pepper))
    }

    #[tokio::test]
    async fn argon2id_roundtrip() {
        let h = hasher("");
        let stored = h.hash("correct horse", [7; 16]).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert_eq!(
            h.verify("correct horse", Some(&stored)).await.unwrap(),
            Verified::Yes { rehash: false }
        );
        assert_eq!(
            h.verify("wrong", Some(&stored)).await.unwrap(),
            Verified::No
        );
    }

    /// The hashing threads run under the batch policy at nice 10, as the
    /// kernel reports them (`/proc/self/task/*/stat`: nice is field 19,
    /// the policy field 41, SCHED_BATCH = 3).
    #[tokio::test]
    async fn hashing_threads_yield_to_the_others() {
        let h = PasswordHasher::new(2, Secret::new(""));
        h.hash("anything", [1; 16]).await.unwrap();
        let mut seen = 0;
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let dir = task.unwrap().path();
            let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if !name.starts_with("mxauth-hash-") {
                continue;
            }
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
            // After the `(comm)` field, the fields are space-separated.
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            let fields: Vec<&str> = after.split(' ').collect();
            // `after` starts at field 3.
            assert_eq!(fields[19 - 3], "10", "nice of {name}: {stat}");
            assert_eq!(fields[41 - 3], "3", "policy of {name}: {stat}");
            seen += 1;
        }
        assert!(seen >= 2, "no hashing thread found");
    }

    #[tokio::test]
    async fn synapse_bcrypt_with_pepper_verifies_and_asks_for_rehash() {
        // What Synapse stores: bcrypt(NFKC(password) + pepper).
        let stored = bcrypt::hash("hunter2pepper!", 4).unwrap();
        let h = hasher("pepper!");
        assert_eq!(
            h.verify("hunter2", Some(&stored)).await.unwrap(),
            Verified::Yes { rehash: true }
        );
        assert_eq!(
            h.verify("hunter3", Some(&stored)).await.unwrap(),
            Verified::No
        );
        // Without the pepper it must not verify.
        assert_eq!(
            hasher("").verify("hunter2", Some(&stored)).await.unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn passwords_are_nfkc_normalised() {
        let h = hasher("");
        // U+FB01 (the "fi" ligature) normalises to "fi" under NFKC.
        let stored = h.hash("\u{FB01}sh", [1; 16]).await.unwrap();
        assert!(matches!(
            h.verify("fish", Some(&stored)).await.unwrap(),
            Verified::Yes { .. }
        ));
    }

    #[tokio::test]
    async fn unknown_user_and_garbage_hashes_answer_no() {
        let h = hasher("");
        assert_eq!(h.verify("anything", None).await.unwrap(), Verified::No);
        assert_eq!(
            h.verify("not a password anyone has", None).await.unwrap(),
            Verified::No
        );
        assert_eq!(h.verify("x", Some("garbage")).await.unwrap(), Verified::No);
        assert_eq!(
            h.verify("x", Some("$2b$nonsense")).await.unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn phc_strings_interoperate_with_the_reference_implementation() {
        use argon2::password_hash::PasswordVerifier;
        let h = hasher("");
        let ours = h.hash("interop", [9; 16]).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2(&Params::default())
            .verify_password(b"interop", &parsed)
            .is_ok());
        let salt = SaltString::encode_b64(&[5; 16]).unwrap();
        let theirs = Argon2::default()
            .hash_password(b"interop", &salt)
            .unwrap()
            .to_string();
        assert_eq!(
            h.verify("interop", Some(&theirs)).await.unwrap(),
            Verified::Yes { rehash: false }
        );
        assert_eq!(
            h.verify("other", Some(&theirs)).await.unwrap(),
            Verified::No
        );
        // argon2i and argon2d hashes (other tools) verify too, and get upgraded.
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"interop", &salt)
            .unwrap()
            .to_string();
        assert_eq!(
            h.verify("interop", Some(&argon2i)).await.unwrap(),
            Verified::Yes { rehash: true }
        );
    }

    #[tokio::test]
    async fn overlong_passwords_are_refused_without_hashing() {
        let h = hasher("");
        let long = "x".repeat(MAX_PASSWORD_LEN + 1);
        let stored = h.hash("pw", [3; 16]).await.unwrap();
        let before = h.hashes_computed();
        assert_eq!(h.verify(&long, Some(&stored)).await.unwrap(), Verified::No);
        assert!(h.hash(&long, [3; 16]).await.is_err());
        assert_eq!(h.hashes_computed(), before);
        // The limit is in characters, as Synapse's: 512 four-byte characters pass.
        assert!(!too_long(&"\u{1F600}".repeat(MAX_PASSWORD_LEN)));
        assert!(too_long(&"\u{1F600}".repeat(MAX_PASSWORD_LEN + 1)));
        assert!(too_long(&"\u{e9}".repeat(MAX_PASSWORD_LEN + 1)));
    }

    #[tokio::test]
    async fn a_full_queue_answers_429_with_retry_after() {
        let h = PasswordHasher::new(1, Secret::new(""));
        // Hold the only permit: everything else waits.
        let held = h.inner.permits.clone().acquire_owned().await.unwrap();
        let mut waiting = Vec::new();
        for _ in 0..(1 + MAX_WAITING_HASHES) {
            let h = h.clone();
            waiting.push(tokio::spawn(async move { h.verify("pw", None).await }));
        }
        while h.inner.admitted.load(Ordering::Acquire) < 1 + MAX_WAITING_HASHES {
            tokio::task::yield_now().await;
        }
        let refused = h.verify("pw", None).await.unwrap_err();
        assert!(
            matches!(refused, HashError::Busy(wait) if (100..=10_000).contains(&wait.retry_after_ms)),
            "{refused:?}"
        );
        // Those that went away leave the queue and are never computed.
        for w in &waiting {
            w.abort();
        }
        for w in waiting {
            let _ = w.await;
        }
        assert_eq!(h.inner.admitted.load(Ordering::Acquire), 0);
        drop(held);
        assert_eq!(h.verify("pw", None).await.unwrap(), Verified::No);
        assert_eq!(h.hashes_computed(), 1);
    }

    #[tokio::test]
    async fn outdated_argon2_params_ask_for_rehash() {
        let weak = Params::new(8 * 1024, 1, 1, None).unwrap();
        let old = PasswordHasher::with_params(1, Secret::new(""), weak);
        let stored = old.hash("pw", [3; 16]).await.unwrap();
        assert_eq!(
            hasher("").verify("pw", Some(&stored)).await.unwrap(),
            Verified::Yes { rehash: true }
        );
    }
}
