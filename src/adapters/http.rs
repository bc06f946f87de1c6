//! Building HTTP clients: the one place that does. `clippy.toml` forbids
//! `reqwest::Client::new`, `Client::builder` and `ClientBuilder::new`
//! everywhere else, so every outbound HTTP connection of mxauth (the
//! adapters, the REST provider's backend, the CLI) gets its client here.
//!
//! TLS is rustls with the web PKI roots (the only TLS backend compiled in:
//! reqwest's `rustls-tls` feature), certificates are always verified, and
//! redirects are not followed unless the caller says so.

use std::time::Duration;

/// How one outbound HTTP client behaves. Nothing set: no timeouts, no
/// user agent, redirects not followed.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ClientOptions {
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    user_agent: Option<&'static str>,
    follow_redirects: bool,
}

impl ClientOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// The whole request, from connecting to the end of the body.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sends `User-Agent: mxauth/<version>`.
    pub fn mxauth_user_agent(mut self) -> Self {
        self.user_agent = Some(concat!("mxauth/", env!("CARGO_PKG_VERSION")));
        self
    }

    /// Follows redirects (reqwest's default policy: at most 10). Only for
    /// a server the user of the CLI names; the server itself never follows
    /// one.
    pub fn follow_redirects(mut self) -> Self {
        self.follow_redirects = true;
        self
    }

    /// The client.
    // The one function allowed to build a reqwest client (clippy.toml's
    // disallowed-methods name the constructors).
    #[allow(clippy::disallowed_methods)]
    pub fn build(self) -> reqwest::Result<reqwest::Client> {
        let redirects = if self.follow_redirects {
            reqwest::redirect::Policy::default()
        } else {
            reqwest::redirect::Policy::none()
        };
        let mut builder = reqwest::Client::builder().redirect(redirects);
        if let Some(t) = self.timeout {
            builder = builder.timeout(t);
        }
        if let Some(t) = self.connect_timeout {
            builder = builder.connect_timeout(t);
        }
        if let Some(agent) = self.user_agent {
            builder = builder.user_agent(agent);
        }
        builder.build()
    }
}
