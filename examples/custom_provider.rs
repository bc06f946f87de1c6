//! A Rust program that runs mxauth with an auth provider of its own: the
//! example module of Synapse's password auth provider docs, in Rust. It
//! adds the login type `com.example.login.token` (a request carries the
//! field `my_field`) and also checks `m.login.password`, for the users of
//! its own little table. Users it accepts are created on their first login.
//!
//!     cargo run --example custom_provider -- homeserver.yaml
//!
//! Without an argument it serves `localhost` on 127.0.0.1:8008 with SQLite
//! under ./data. Then:
//!
//!     curl -XPOST localhost:8008/_matrix/client/v3/login \
//!       -d '{"type":"com.example.login.token","user":"bob","my_field":"building"}'
//!
//! The test suite compiles this file and runs `build_server` (tests/api/example.rs).

use mxauth::auth::providers::{
    AuthChecker, AuthProvider, Authenticated, NewUserProfile, ProviderResult,
};
use mxauth::clock::{OsRandom, SystemClock};
use mxauth::config::Config;
use mxauth::server::Server;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub const MY_LOGIN_TYPE: &str = "com.example.login.token";

/// Checks two login types against a table of (user, secret).
pub struct MyAuthProvider {
    server_name: String,
    /// Keyed by localpart or by full user ID, as the Python example.
    credentials: HashMap<String, String>,
}

impl MyAuthProvider {
    pub fn new(server_name: &str) -> Self {
        let credentials = HashMap::from([
            ("bob".to_owned(), "building".to_owned()),
            (format!("@scoop:{server_name}"), "digging".to_owned()),
        ]);
        MyAuthProvider {
            server_name: server_name.to_owned(),
            credentials,
        }
    }

    /// `@user:server` for a bare localpart.
    fn qualified(&self, user: &str) -> String {
        if user.starts_with('@') {
            user.to_owned()
        } else {
            format!("@{}:{}", user.to_lowercase(), self.server_name)
        }
    }
}

#[async_trait::async_trait]
impl AuthProvider for MyAuthProvider {
    fn name(&self) -> &str {
        "my_auth_provider"
    }

    fn auth_checkers(&self) -> Vec<AuthChecker> {
        vec![
            AuthChecker::new(MY_LOGIN_TYPE, &["my_field"]),
            AuthChecker::new("m.login.password", &["password"]),
        ]
    }

    async fn check_auth(
        &self,
        user: &str,
        login_type: &str,
        login_dict: &Map<String, Value>,
    ) -> ProviderResult<Option<Authenticated>> {
        let field = if login_type == MY_LOGIN_TYPE {
            "my_field"
        } else {
            "password"
        };
        let (Some(expected), Some(given)) = (
            self.credentials.get(user),
            login_dict.get(field).and_then(Value::as_str),
        ) else {
            return Ok(None);
        };
        if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Ok(None);
        }
        Ok(Some(Authenticated::create_if_missing(
            self.qualified(user),
            NewUserProfile::default(),
        )))
    }
}

/// mxauth with this provider (after those of the config's `modules:`).
pub async fn build_server(config: Config) -> anyhow::Result<Server> {
    let provider = Arc::new(MyAuthProvider::new(config.server_name.as_str()));
    Server::build_with_providers(
        config,
        Arc::new(SystemClock),
        Arc::new(OsRandom),
        vec![provider],
    )
    .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match std::env::args().nth(1) {
        Some(path) => Config::load(std::path::Path::new(&path))?.config,
        None => Config::default(),
    };
    let server = build_server(config).await?;
    for addr in server.local_addrs() {
        println!("listening on http://{addr}");
    }
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
