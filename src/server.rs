//! Putting it together: open the store, build the rules engine, bind the
//! listeners, run the background jobs, serve until told to stop.

use crate::adapters;
use crate::auth::providers::rest::RestBackend;
use crate::auth::providers::{AuthProvider, Providers};
use crate::auth::Auth;
use crate::clock::{Clock, OsRandom, Random, SystemClock};
use crate::config::{Config, RestProviderConfig};
use crate::http::{metrics_router, router, AppState};
use crate::templates::Templates;
use anyhow::Context;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A built server: listeners bound, not yet serving.
pub struct Server {
    auth: Auth,
    listeners: Vec<(TcpListener, Role)>,
    templates: Arc<Templates>,
}

/// What a bound listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The client and admin APIs; `metrics`: also `/_synapse/metrics`.
    Http { x_forwarded: bool, metrics: bool },
    /// Only the metrics (`type: metrics`).
    Metrics,
}

/// Binds the `http` listeners with the `client` resource, and, with
/// `enable_metrics`, the `metrics` listeners; as Synapse, a metrics
/// listener or resource without `enable_metrics` is not served (a warning
/// says so).
async fn bind_listeners(config: &Config) -> anyhow::Result<Vec<(TcpListener, Role)>> {
    let mut listeners = Vec::new();
    for l in &config.listeners {
        let role = match l.kind.as_str() {
            "metrics" if config.enable_metrics => Role::Metrics,
            "metrics" => {
                tracing::warn!(
                    port = l.port,
                    "metrics listener configured, but enable_metrics is not true: not opened"
                );
                continue;
            }
            // mxauth serves Synapse's `client` resource (the Client-Server
            // and admin APIs); a listener for other resources only is not ours.
            _ if !l.resources.is_empty() && !l.serves("client") => {
                tracing::info!(
                    port = l.port,
                    "skipping a listener without the `client` resource"
                );
                continue;
            }
            _ => {
                if l.serves("metrics") && !config.enable_metrics {
                    tracing::warn!(
                        port = l.port,
                        "the `metrics` resource is listed, but enable_metrics is not true: \
                         no metrics served"
                    );
                }
                Role::Http {
                    x_forwarded: l.x_forwarded,
                    metrics: config.enable_metrics && l.serves("metrics"),
                }
            }
        };
        for addr in &l.bind_addresses {
            let ip: IpAddr = addr
                .parse()
                .with_context(|| format!("bad bind address {addr}"))?;
            let listener = TcpListener::bind(SocketAddr::new(ip, l.port))
                .await
                .with_context(|| format!("binding {addr}:{}", l.port))?;
            listeners.push((listener, role));
        }
    }
    anyhow::ensure!(
        listeners
            .iter()
            .any(|(_, role)| matches!(role, Role::Http { .. })),
        "no http listener with the `client` resource is configured"
    );
    Ok(listeners)
}

impl Server {
    /// Opens the database (applying migrations) and binds every listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Arc::new(SystemClock), Arc::new(OsRandom)).await
    }

    pub async fn build_with(
        config: Config,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
    ) -> anyhow::Result<Self> {
        Self::build_with_providers(config, clock, rng, Vec::new()).await
    }

    /// As [`Server::build_with`], with auth providers of the program's own,
    /// asked after those of `modules:`, in the order given.
    pub async fn build_with_providers(
        config: Config,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
        providers: Vec<Arc<dyn AuthProvider>>,
    ) -> anyhow::Result<Self> {
        let providers = Providers::from_config(&config, providers, &rest_backend)
            .map_err(anyhow::Error::msg)?;
        let templates = Arc::new(Templates::load(
            config.templates.custom_template_directory.as_deref(),
        )?);
        if let Some(consent) = &config.user_consent {
            crate::http::routes::consent::check_policy(&templates, consent)
                .map_err(anyhow::Error::msg)?;
        }
        let max_connections = match &config.database {
            crate::config::DatabaseConfig::Postgres { cp_max, .. } => cp_max.unwrap_or(10),
            crate::config::DatabaseConfig::Sqlite { .. } => 8,
        };
        let store = crate::store::connect(&config.database.url(), max_connections)
            .await
            .context("opening the database")?;
        tracing::info!(backend = store.backend(), "database ready");

        let listeners = bind_listeners(&config).await?;
        let auth = Auth::new(Arc::new(config), store, clock, rng).with_providers(providers);
        let auth = with_adapters(auth)?;
        if auth.oauth().is_some() {
            // Every process signs id_tokens with the key in the database:
            // the first to start makes it.
            auth.ensure_signing_key()
                .await
                .map_err(|_| anyhow::anyhow!("could not make the id_token signing key"))?;
        }
        Ok(Server {
            auth,
            listeners,
            templates,
        })
    }

    /// Where the server serves the client API, in the config's order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs_of(|role| matches!(role, Role::Http { .. }))
    }

    /// Where the server serves only the metrics (`type: metrics`
    /// listeners, with `enable_metrics`).
    pub fn metrics_addrs(&self) -> Vec<SocketAddr> {
        self.addrs_of(|role| role == Role::Metrics)
    }

    fn addrs_of(&self, pick: impl Fn(Role) -> bool) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter(|(_, role)| pick(*role))
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Serves until `shutdown` resolves, then flushes what is pending.
    ///
    /// Connections are served by hyper directly: a connection must send
    /// each request head within `mxauth.header_read_timeout`; at most
    /// `mxauth.max_connections` are open at once over all listeners (more
    /// wait in the listen backlog); once told to stop, open connections get
    /// `mxauth.shutdown_timeout` to finish their requests and are then
    /// dropped. The final flush runs after that in every case.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let changes = follow_token_changes(&self.auth);
        let jobs = tokio::spawn(background_jobs(self.auth.clone(), stop_rx.clone()));
        let limits = ConnectionLimits::from_config(&self.auth.config.mxauth);
        let mut servers = Vec::new();
        for (listener, role) in self.listeners {
            let shared = Arc::new(self.auth.clone());
            let state = |x_forwarded| AppState {
                auth: shared.clone(),
                x_forwarded,
                templates: self.templates.clone(),
            };
            let app = match role {
                Role::Http {
                    x_forwarded,
                    metrics,
                } => router(state(x_forwarded), metrics),
                Role::Metrics => metrics_router(state(false)),
            };
            servers.push(tokio::spawn(serve_listener(
                listener,
                app,
                limits.clone(),
                stop_rx.clone(),
            )));
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        for s in servers {
            s.await?;
        }
        let _ = jobs.await;
        if let Some(task) = changes {
            task.abort();
        }
        self.auth.usage.flush().await;
        Ok(())
    }
}

/// Starts the feed of token changes from every process on the database
/// (`store::changes`), which the token cache trusts once it follows.
fn follow_token_changes(auth: &Auth) -> Option<tokio::task::JoinHandle<()>> {
    if !auth.token_cache.enabled() {
        return None;
    }
    let feed = auth.store.change_feed(auth.token_cache.clone());
    auth.token_cache.attach(feed.clone());
    Some(tokio::spawn(async move { feed.follow().await }))
}

/// Gives the rules the outbound adapters (`crate::adapters`) the config
/// asks for: Synapse's `/_synapse/mas` API (`matrix:`), siteverify
/// (`recaptcha`), SMTP (`email:`) and the upstream OpenID Connect
/// providers (`oidc_providers`). The REST providers' backends are made
/// with the providers ([`rest_backend`]).
pub(crate) fn with_adapters(mut auth: Auth) -> anyhow::Result<Auth> {
    let config = auth.config.clone();
    if let Some(m) = &config.matrix {
        auth = auth.with_homeserver(Arc::new(adapters::synapse::SynapseClient::new(m)?));
    }
    if let Some(r) = &config.recaptcha {
        auth = auth.with_captcha(Arc::new(adapters::recaptcha::Recaptcha::new(r)?));
    }
    if let Some(e) = &config.email {
        auth = auth.with_mailer(Arc::new(adapters::smtp::Smtp::new(e)));
    }
    if !config.oidc_providers.is_empty() {
        auth = auth.with_upstream_oidc(Arc::new(adapters::oidc::OidcClient::new()?));
    }
    Ok(auth)
}

/// The backend of a REST provider of `modules:`: over HTTP.
fn rest_backend(config: &RestProviderConfig) -> Result<Arc<dyn RestBackend>, String> {
    Ok(Arc::new(adapters::rest_backend::RestBackendClient::new(
        config,
    )?))
}

/// What bounds the connections of every listener of one server.
#[derive(Clone)]
struct ConnectionLimits {
    /// One permit per open connection.
    open: Arc<tokio::sync::Semaphore>,
    header_read_timeout: Duration,
    shutdown_timeout: Duration,
}

impl ConnectionLimits {
    fn from_config(c: &crate::config::MxauthConfig) -> Self {
        ConnectionLimits {
            open: Arc::new(tokio::sync::Semaphore::new(c.max_connections.max(1))),
            header_read_timeout: Duration::from_millis(c.header_read_timeout_ms.max(1)),
            shutdown_timeout: Duration::from_millis(c.shutdown_timeout_ms),
        }
    }
}

/// Accepts connections on `listener` while below the cap, until `stop`;
/// then lets them finish within the shutdown deadline and drops the rest.
async fn serve_listener(
    listener: TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = limits.open.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stopped(&mut stop) => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a little, not spin.
                    tracing::warn!("could not accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(serve_connection(
            stream,
            remote,
            app.clone(),
            limits.header_read_timeout,
            stop.clone(),
            permit,
        ));
    }
    drop(listener);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_timeout, drained)
        .await
        .is_err()
    {
        tracing::info!(
            count = connections.len(),
            "dropping connections still open at the shutdown deadline"
        );
        connections.shutdown().await;
    }
}

/// Resolves once the server is told to stop.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// One HTTP/1 connection: requests go to `app` with the peer's address as
/// `ConnectInfo`; told to stop, it finishes the request in flight and closes.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    app: axum::Router,
    header_read_timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    use tower::ServiceExt;
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(remote));
            app.clone().oneshot(req)
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!("connection closed: {e}");
            }
            return;
        }
        _ = stopped(&mut stop) => {}
    }
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        tracing::debug!("connection closed: {e}");
    }
}

/// Flushes last-used times and client IPs, sweeps expired UIA sessions,
/// SSO state, shared-secret nonces, email validation sessions,
/// rate-limit buckets, OAuth clients that never got a session, retired
/// signing keys, and OAuth 2.0 grants and browser sessions, prunes old
/// client IPs and reaps monthly-active users, on timers. The homeserver's queue runs in a task of its own, so a
/// homeserver that is slow or does not answer delays none of these.
async fn background_jobs(auth: Auth, mut stop: tokio::sync::watch::Receiver<bool>) {
    if let Err(e) = auth.initialise_reserved_users().await {
        tracing::warn!("could not count the reserved users as active: {e:?}");
    }
    let homeserver = auth
        .homeserver
        .is_some()
        .then(|| tokio::spawn(homeserver_jobs(auth.clone(), stop.clone())));
    let mut prune = tokio::time::interval(Duration::from_secs(60));
    let mut reap = tokio::time::interval(Duration::from_secs(3600));
    let flush_every = Duration::from_millis(auth.config.mxauth.token_last_used_flush_ms.max(100));
    let mut flush = tokio::time::interval(flush_every);
    let mut sweep = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            _ = flush.tick() => timed(&auth, "flush_usage", auth.usage.flush()).await,
            _ = prune.tick() => {
                if let Err(e) = timed(&auth, "prune_client_ips", auth.prune_client_ips()).await {
                    tracing::warn!("could not prune client IPs: {e:?}");
                }
            }
            _ = reap.tick() => {
                let reaped = timed(&auth, "reap_monthly_active_users", auth.reap_monthly_active_users());
                if let Err(e) = reaped.await {
                    tracing::warn!("could not reap monthly active users: {e:?}");
                }
            }
            _ = sweep.tick() => timed(&auth, "sweep", sweep_expired(&auth)).await,
            _ = stop.changed() => break,
        }
    }
    if let Some(task) = homeserver {
        let _ = task.await;
    }
}

/// Removes what has expired: UIA sessions, SSO state, rate-limit buckets,
/// registration nonces, email validation sessions, unused OAuth clients,
/// retired signing keys, OAuth 2.0 grants and device grants.
async fn sweep_expired(auth: &Auth) {
    match auth.sweep_uia_sessions().await {
        Ok(n) if n > 0 => tracing::info!(count = n, "expired UIA sessions removed"),
        Ok(_) => {}
        Err(e) => tracing::warn!("could not sweep UIA sessions: {e}"),
    }
    if let Err(e) = auth.sweep_sso().await {
        tracing::warn!("could not sweep SSO state: {e}");
    }
    if let Err(e) = auth.sweep_ratelimits().await {
        tracing::warn!("could not sweep rate-limit buckets: {e}");
    }
    if let Err(e) = auth.sweep_registration_nonces().await {
        tracing::warn!("could not sweep registration nonces: {e}");
    }
    if let Err(e) = auth.sweep_threepid_sessions().await {
        tracing::warn!("could not sweep email validation sessions: {e}");
    }
    match auth.prune_oauth_clients().await {
        Ok(n) if n > 0 => tracing::info!(count = n, "unused OAuth clients removed"),
        Ok(_) => {}
        Err(e) => tracing::warn!("could not prune unused OAuth clients: {e}"),
    }
    if auth.sweep_signing_keys().await.is_err() {
        tracing::warn!("could not sweep retired signing keys");
    }
    if let Err(e) = auth.sweep_oauth_grants().await {
        tracing::warn!("could not sweep OAuth 2.0 grants and browser sessions: {e}");
    }
    if let Err(e) = auth.sweep_device_grants().await {
        tracing::warn!("could not sweep OAuth 2.0 device grants: {e}");
    }
}

/// Runs a background job, its duration observed as `job`
/// (`mxauth_background_job_duration_seconds`).
async fn timed<T>(auth: &Auth, job: &'static str, work: impl std::future::Future<Output = T>) -> T {
    let since = crate::clock::Stopwatch::start();
    let out = work.await;
    auth.metrics.observe_job(job, since.seconds());
    out
}

/// The homeserver's queue and the device-list reconciliation. A call in
/// flight when the server stops is abandoned: its job stays queued (its
/// lease runs out) for the next process.
async fn homeserver_jobs(auth: Auth, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut run = tokio::time::interval(Duration::from_secs(1));
    // Reconcile every user's devices with the homeserver now and every 6 hours.
    let mut reconcile = tokio::time::interval(Duration::from_secs(6 * 3600));
    let work = async {
        loop {
            tokio::select! {
                _ = run.tick() => {
                    if let Err(e) = timed(&auth, "homeserver_queue", auth.run_homeserver_jobs(100)).await {
                        tracing::warn!("homeserver queue: {e}");
                    }
                }
                _ = reconcile.tick() => {
                    match timed(&auth, "queue_device_sync", auth.queue_device_sync()).await {
                        Ok(n) => tracing::info!(users = n, "device lists queued for the homeserver"),
                        Err(e) => tracing::warn!("could not queue the device sync: {e}"),
                    }
                }
            }
        }
    };
    tokio::select! {
        () = work => {}
        _ = stop.wait_for(|stop| *stop) => {}
    }
}
