//! What the cores can hash: password verifications per second through
//! mxauth's own hasher (argon2id with the server's parameters, on its pool
//! of `password_hashing_concurrency` threads), kept busy for the given
//! time. The benchmark's ceiling for logins (bench/run.sh).
//!
//! ```sh
//! cargo run --release --example hash_rate -- [SECONDS] [CONCURRENCY]
//! ```
//! Prints `<verifications per second>`; CONCURRENCY defaults to the
//! number of CPUs, as the server's.

use mxauth::auth::password::PasswordHasher;
use mxauth::config::Secret;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let hasher = PasswordHasher::new(concurrency, Secret::default());
    let stored = hasher
        .hash("bench-Password-1", [7; 16])
        .await
        .expect("a hash");
    // Twice as many callers as threads, so the pool never waits for work.
    #[allow(clippy::disallowed_methods)] // a benchmark measures wall time
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let mut callers = Vec::new();
    for _ in 0..concurrency * 2 {
        let hasher = hasher.clone();
        let stored = stored.clone();
        callers.push(tokio::spawn(async move {
            let mut done = 0u64;
            #[allow(clippy::disallowed_methods)]
            while Instant::now() < until {
                if hasher
                    .verify("bench-Password-1", Some(&stored))
                    .await
                    .is_ok()
                {
                    done += 1;
                }
            }
            done
        }));
    }
    let mut total = 0;
    for c in callers {
        total += c.await.expect("a caller");
    }
    #[allow(clippy::disallowed_methods)]
    let elapsed = start.elapsed().as_secs_f64();
    println!("{:.1}", total as f64 / elapsed);
}
