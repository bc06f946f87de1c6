//! User-Interactive Auth: the engine (`engine.rs`).

mod engine;

pub use engine::*;
