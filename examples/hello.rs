//! A bare axum hello-world: the ceiling the benchmark (bench/run.sh)
//! compares mxauth against. Same axum, same tokio runtime flavour, no
//! middleware, no database.
//!
//!     cargo run --release --example hello -- 18080
//!
//! The port comes from the first argument, else $PORT, else 8080; it
//! always listens on 127.0.0.1.

use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PORT").ok())
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let app = Router::new().route("/", get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("hello listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
