//! An [`Auth`] for unit tests of the rules: a fresh in-memory SQLite
//! store, a clock that moves only when told, seeded randomness, and no
//! outbound adapter unless the test gives a double (`with_mailer`,
//! `with_homeserver`, `with_captcha`, `with_upstream_oidc`).

use super::Auth;
use crate::clock::{MockClock, SeededRandom};
use crate::config::Config;
use std::sync::Arc;

/// When the test clock stands (2023-11-14T22:13:20Z).
pub const NOW_MS: i64 = 1_700_000_000_000;

pub async fn auth(config: Config) -> Auth {
    let store = crate::store::connect("sqlite::memory:", 1)
        .await
        .expect("in-memory SQLite");
    Auth::new(
        Arc::new(config),
        store,
        Arc::new(MockClock::new(NOW_MS)),
        Arc::new(SeededRandom::new(7)),
    )
}
