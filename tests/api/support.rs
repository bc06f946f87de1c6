//! The harness: the real server on a random port, with a fresh database,
//! on SQLite or PostgreSQL; and a small client.
// Not every test module uses every helper.
#![allow(dead_code)]

use mxauth::auth::providers::AuthProvider;
use mxauth::clock::{Clock, OsRandom, SystemClock};
use mxauth::config::{Config, DatabaseConfig, Listener, Secret};
use mxauth::server::Server;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an `async fn(Backend)` test once per backend: `both!(name);` makes
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    )*};
}

pub const SERVER_NAME: &str = "test.example";
pub const SHARED_SECRET: &str = "this is the shared secret";

/// The config every test server starts from.
pub fn base_config() -> Config {
    let mut c = Config {
        server_name: SERVER_NAME.try_into().expect("a valid server name"),
        listeners: vec![Listener {
            port: 0,
            bind_addresses: vec!["127.0.0.1".into()],
            kind: "http".into(),
            tls: false,
            x_forwarded: false,
            resources: vec![],
        }],
        enable_registration: true,
        enable_registration_without_verification: true,
        registration_shared_secret: Some(Secret::new(SHARED_SECRET)),
        ..Config::default()
    };
    c.mxauth.token_last_used_flush_ms = 200;
    // Tests about limits set their own (tests/api/ratelimit.rs).
    c.rate_limits = mxauth::config::RateLimitConfig::unlimited();
    c
}

/// The wall clock, in milliseconds since the epoch: for values handed to a
/// server on the real clock (a JWT's `exp`, a row's timestamp), and where
/// a [`mock_clock`] starts. Tests wait for time on a `MockClock` instead.
#[allow(clippy::disallowed_methods)] // the tests' one reading of the wall clock
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// Real monotonic time, for where real time is what a test is about: a
/// timeout, how long something took, a deadline for a helper program to
/// come up.
#[allow(clippy::disallowed_methods)] // the tests' one monotonic clock
pub fn real_now() -> std::time::Instant {
    std::time::Instant::now()
}

/// An HTTP client for the test's own requests.
pub fn http_client() -> reqwest::Client {
    http_client_builder().build().expect("an HTTP client")
}

/// The tests' one place for HTTP clients (clippy.toml keeps the server's
/// in its adapters).
#[allow(clippy::disallowed_methods)]
pub fn http_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
}

/// A clock the test moves (`advance_ms`), starting at the wall clock's
/// now; give it to the server with [`TestServerBuilder::clock`].
pub fn mock_clock() -> Arc<mxauth::clock::MockClock> {
    Arc::new(mxauth::clock::MockClock::new(wall_clock_ms()))
}

/// A fresh database of the backend: a temp SQLite file, or a new
/// PostgreSQL database on the server `MXAUTH_TEST_POSTGRES_URL` names
/// (scripts/test.sh starts one and sets it).
pub struct FreshDatabase {
    pub config: DatabaseConfig,
    _dir: Option<tempfile::TempDir>,
}

pub async fn fresh_database(backend: Backend) -> FreshDatabase {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            FreshDatabase {
                config: DatabaseConfig::Sqlite {
                    path: dir.path().join("mxauth.db"),
                },
                _dir: Some(dir),
            }
        }
        Backend::Postgres => {
            let admin_url = std::env::var("MXAUTH_TEST_POSTGRES_URL").expect(
                "MXAUTH_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, \
                 which starts PostgreSQL",
            );
            let url = reqwest::Url::parse(&admin_url).expect("MXAUTH_TEST_POSTGRES_URL is a URL");
            let name = format!("mxauth_test_{}", uuid_like());
            let pool = sqlx::PgPool::connect(&admin_url)
                .await
                .expect("connect to PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .expect("create database");
            pool.close().await;
            FreshDatabase {
                config: DatabaseConfig::Postgres {
                    user: Some(url.username().to_owned()).filter(|u| !u.is_empty()),
                    password: url.password().map(Secret::new),
                    database: name,
                    host: url.host_str().unwrap_or("127.0.0.1").to_owned(),
                    port: url.port().unwrap_or(5432),
                    cp_min: None,
                    cp_max: Some(5),
                },
                _dir: None,
            }
        }
    }
}

/// A PostgreSQL database is dropped with its test (`WITH (FORCE)` ends the
/// connections of a server still stopping): some 300 of them would
/// otherwise fill a small CI disk. It runs on a thread of its own, as
/// `drop` can be called inside the test's runtime, which may not block on
/// itself.
impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let DatabaseConfig::Postgres { database, .. } = &self.config else {
            return;
        };
        let Ok(admin_url) = std::env::var("MXAUTH_TEST_POSTGRES_URL") else {
            return;
        };
        let statement = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let pool = sqlx::PgPool::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                let result = sqlx::query(&statement).execute(&pool).await;
                pool.close().await;
                result.map(|_| ()).map_err(|e| e.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("dropping the test database {database}: {e}"),
            Err(_) => eprintln!("dropping the test database {database}: the thread panicked"),
        }
    }
}

fn uuid_like() -> String {
    mxauth::clock::random_from(&OsRandom, 16, b"abcdefghijklmnopqrstuvwxyz")
}

/// A running mxauth.
pub struct TestServer {
    pub base: String,
    pub addr: SocketAddr,
    pub addrs: Vec<SocketAddr>,
    /// The `type: metrics` listeners' addresses (with `enable_metrics`).
    pub metrics_addrs: Vec<SocketAddr>,
    pub db: Arc<FreshDatabase>,
    /// The server's rules engine (shared with the running server): for
    /// tests that look at counters or run a background job by hand.
    pub auth: mxauth::auth::Auth,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Where a test server's database comes from: a fresh one of a backend
/// (`Backend`), or one the test already has (`Arc<FreshDatabase>`: a
/// second process on the same database, or data set up beforehand).
pub enum Db {
    Fresh(Backend),
    Existing(Arc<FreshDatabase>),
}

impl From<Backend> for Db {
    fn from(b: Backend) -> Self {
        Db::Fresh(b)
    }
}

impl From<Arc<FreshDatabase>> for Db {
    fn from(db: Arc<FreshDatabase>) -> Self {
        Db::Existing(db)
    }
}

/// A change to the config of one test server.
type Tweak<'a> = Box<dyn FnOnce(&mut Config) + 'a>;

/// How a test asks for a server: the one way to start one.
///
/// ```ignore
/// TestServer::builder(backend)        // or an Arc<FreshDatabase>
///     .config(|c| c.enable_registration = false)
///     .providers(vec![..])            // auth providers of the test's own
///     .clock(clock.clone())           // a MockClock the test advances
///     .start()
///     .await
/// ```
pub struct TestServerBuilder<'a> {
    db: Db,
    tweaks: Vec<Tweak<'a>>,
    providers: Vec<Arc<dyn AuthProvider>>,
    clock: Arc<dyn Clock>,
}

impl<'a> TestServerBuilder<'a> {
    /// Changes the config (after `base_config()` and the database); may be
    /// called more than once, in order.
    pub fn config(mut self, tweak: impl FnOnce(&mut Config) + 'a) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    /// Auth providers of the test's own, asked before those of `modules:`.
    pub fn providers(mut self, providers: Vec<Arc<dyn AuthProvider>>) -> Self {
        self.providers = providers;
        self
    }

    /// The server's clock (the real one unless given): a `MockClock` lets
    /// the test move time instead of waiting for it.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The config the server would start with, and its database.
    async fn into_config(self) -> (Config, Arc<FreshDatabase>) {
        let db = match self.db {
            Db::Fresh(backend) => Arc::new(fresh_database(backend).await),
            Db::Existing(db) => db,
        };
        let mut config = base_config();
        config.database = db.config.clone();
        for tweak in self.tweaks {
            tweak(&mut config);
        }
        (config, db)
    }

    /// Builds the server without serving it (its `auth()` is there to call,
    /// or the error it refuses to start with); with its database, which
    /// must outlive it.
    pub async fn build(mut self) -> anyhow::Result<(Server, Arc<FreshDatabase>)> {
        let (clock, providers) = (self.clock.clone(), std::mem::take(&mut self.providers));
        let (config, db) = self.into_config().await;
        let server =
            Server::build_with_providers(config, clock, Arc::new(OsRandom), providers).await?;
        Ok((server, db))
    }

    /// Builds the server and serves it on a random port.
    pub async fn start(self) -> TestServer {
        let (server, db) = self.build().await.expect("server builds");
        TestServer::serve(server, db)
    }

    /// Serves a server that `build` makes from this builder's config (a
    /// program mounting mxauth its own way, as examples/custom_provider.rs
    /// does); the clock and the providers are then `build`'s business.
    pub async fn start_built_by<F, E>(self, build: impl FnOnce(Config) -> F) -> TestServer
    where
        F: std::future::Future<Output = Result<Server, E>>,
        E: std::fmt::Debug,
    {
        let (config, db) = self.into_config().await;
        let server = build(config).await.expect("the server builds");
        TestServer::serve(server, db)
    }
}

impl TestServer {
    /// A server on `db` (a `Backend` for a fresh database, or an
    /// `Arc<FreshDatabase>`), with the base config; see [`TestServerBuilder`].
    pub fn builder<'a>(db: impl Into<Db>) -> TestServerBuilder<'a> {
        TestServerBuilder {
            db: db.into(),
            tweaks: Vec::new(),
            providers: Vec::new(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Runs a built server on a random port until stopped or dropped.
    fn serve(server: Server, db: Arc<FreshDatabase>) -> Self {
        let addrs = server.local_addrs();
        let metrics_addrs = server.metrics_addrs();
        let addr = addrs[0];
        let auth = server.auth().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = rx.await;
                })
                .await
                .expect("server runs");
        });
        TestServer {
            base: format!("http://{addr}"),
            addr,
            addrs,
            metrics_addrs,
            db,
            auth,
            client: http_client(),
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Waits until this server's token cache has seen every change to
    /// tokens and users committed so far, by any process (what it does on
    /// its own within 100 ms): for a test that changed them elsewhere (SQL,
    /// the CLI, another server) and looks at once.
    pub async fn sync_changes(&self) {
        self.auth.token_cache.sync().await;
    }

    /// Stops the server and waits until it has flushed and exited.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }

    /// Any request; `body` `None` sends none. Returns status and JSON body
    /// (`Value::Null` when the body is not JSON).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.expect("body read");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub fn raw(&self) -> &reqwest::Client {
        &self.client
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, token, Some(&body)).await
    }

    /// Registers `localpart` with `password` through UIA (dummy stage);
    /// returns (user_id, access_token, device_id).
    pub async fn register(&self, localpart: &str, password: &str) -> (String, String, String) {
        let body = json!({"username": localpart, "password": password});
        let (status, challenge) = self
            .post("/_matrix/client/v3/register", None, body.clone())
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
        let mut body = body;
        body["auth"] = json!({"type": "m.login.dummy", "session": challenge["session"]});
        let (status, res) = self.post("/_matrix/client/v3/register", None, body).await;
        assert_eq!(status, StatusCode::OK, "{res}");
        (
            res["user_id"].as_str().unwrap().to_owned(),
            res["access_token"].as_str().unwrap().to_owned(),
            res["device_id"].as_str().unwrap().to_owned(),
        )
    }

    /// Logs in with a password; returns (access_token, device_id).
    pub async fn login(&self, user: &str, password: &str) -> (String, String) {
        let (status, res) = self.try_login(user, password).await;
        assert_eq!(status, StatusCode::OK, "{res}");
        (
            res["access_token"].as_str().unwrap().to_owned(),
            res["device_id"].as_str().unwrap().to_owned(),
        )
    }

    /// A password login (`m.id.user`), whatever it answers.
    pub async fn try_login(&self, user: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password}),
        )
        .await
    }

    /// A password stage for `user` within `session`.
    pub fn password_auth(session: &Value, user: &str, password: &str) -> Value {
        json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
            "session": session,
        })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts a Matrix error.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: u16, errcode: &str) {
    assert_eq!(got.0.as_u16(), status, "status of {}", got.1);
    assert_eq!(got.1["errcode"], errcode, "errcode of {}", got.1);
    assert!(got.1["error"].is_string(), "error message of {}", got.1);
}

impl TestServer {
    /// Registers an admin through the shared-secret admin API; returns its token.
    pub async fn register_admin(&self, localpart: &str) -> String {
        let res = self
            .shared_secret_register(localpart, "admin-password", true, None)
            .await;
        res["access_token"].as_str().unwrap().to_owned()
    }

    /// `POST /_synapse/admin/v1/register` with a fresh nonce and the MAC;
    /// asserts success and returns the answer.
    pub async fn shared_secret_register(
        &self,
        localpart: &str,
        password: &str,
        admin: bool,
        user_type: Option<&str>,
    ) -> Value {
        let (_, n) = self.get("/_synapse/admin/v1/register", None).await;
        let nonce = n["nonce"].as_str().expect("nonce").to_owned();
        let mac = mxauth::auth::admin::registration_mac(
            SHARED_SECRET,
            &nonce,
            localpart,
            password,
            admin,
            user_type,
        );
        let mut body = json!({"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac});
        if let Some(t) = user_type {
            body["user_type"] = json!(t);
        }
        let (status, res) = self.post("/_synapse/admin/v1/register", None, body).await;
        assert_eq!(status, StatusCode::OK, "{res}");
        res
    }
}

/// Runs SQL (one or more statements) straight on a test database: to look
/// at what mxauth wrote, or to set up what an import or an operator would.
pub async fn db_exec(db: &FreshDatabase, sql: &str) {
    let url = db.config.url();
    match db.config {
        DatabaseConfig::Sqlite { .. } => {
            let pool = sqlx::SqlitePool::connect(&url).await.expect("open SQLite");
            sqlx::raw_sql(sql).execute(&pool).await.expect(sql);
            pool.close().await;
        }
        DatabaseConfig::Postgres { .. } => {
            let pool = sqlx::PgPool::connect(&url).await.expect("connect");
            sqlx::raw_sql(sql).execute(&pool).await.expect(sql);
            pool.close().await;
        }
    }
}

/// The first column of the first row of `sql`, an integer.
pub async fn db_i64(db: &FreshDatabase, sql: &str) -> i64 {
    let url = db.config.url();
    match db.config {
        DatabaseConfig::Sqlite { .. } => {
            let pool = sqlx::SqlitePool::connect(&url).await.expect("open SQLite");
            let n = sqlx::query_scalar(sql).fetch_one(&pool).await.expect(sql);
            pool.close().await;
            n
        }
        DatabaseConfig::Postgres { .. } => {
            let pool = sqlx::PgPool::connect(&url).await.expect("connect");
            let n = sqlx::query_scalar(sql).fetch_one(&pool).await.expect(sql);
            pool.close().await;
            n
        }
    }
}

/// Waits (up to 10 s) until `sql` counts `want`; returns the last count.
/// For what a background task writes on its own schedule (the flush of
/// last-used times, the jobs a server runs at start); a test that needs
/// time to pass moves a `mock_clock` instead.
pub async fn db_wait_for(db: &FreshDatabase, sql: &str, want: i64) -> i64 {
    let mut n = db_i64(db, sql).await;
    for _ in 0..100 {
        if n == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        n = db_i64(db, sql).await;
    }
    n
}

impl TestServer {
    /// Creates a user through the shared-secret admin API (never blocked),
    /// with a user type (`bot`, `support`) if given; returns its user ID.
    pub async fn register_typed(
        &self,
        localpart: &str,
        password: &str,
        user_type: Option<&str>,
    ) -> String {
        let res = self
            .shared_secret_register(localpart, password, false, user_type)
            .await;
        res["user_id"].as_str().unwrap().to_owned()
    }

    /// A GET with a user agent.
    pub async fn get_as(&self, path: &str, token: &str, user_agent: &str) -> (StatusCode, Value) {
        let res = self
            .client
            .get(format!("{}{}", self.base, path))
            .bearer_auth(token)
            .header("user-agent", user_agent)
            .send()
            .await
            .expect("request sent");
        let status = res.status();
        let text = res.text().await.expect("body read");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// An application service `bridge` with `as_token`, sender `bridgebot` and
/// the exclusive user namespace `@bridge_.*`, from `whitelist` (CIDR
/// ranges; empty: any address); `rate_limited: false`.
pub fn bridge_service(as_token: &str, whitelist: &[&str]) -> mxauth::config::AppServiceConfig {
    mxauth::config::AppServiceConfig {
        id: "bridge".into(),
        url: None,
        as_token: Secret::new(as_token),
        hs_token: Secret::new("hs token"),
        sender_localpart: "bridgebot".into(),
        users: vec![mxauth::config::Namespace {
            regex: format!("@bridge_.*:{}", SERVER_NAME.replace('.', "\\.")),
            exclusive: true,
        }],
        rate_limited: false,
        ip_range_whitelist: whitelist.iter().map(|n| n.parse().unwrap()).collect(),
    }
}
