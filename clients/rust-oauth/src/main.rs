//! mxauth's OAuth 2.0 API driven by matrix-rust-sdk, as Element X logs in:
//! `Client::oauth()` fetches the server metadata, registers a public native
//! client, builds the authorization URL; a scripted browser (`browser.rs`)
//! walks mxauth's login and consent pages to the redirect back to the
//! client; `finish_login` exchanges the code; then whoami, a forced refresh,
//! whoami with the new token, logout (revocation), and the old tokens must
//! be dead. Every step is printed; the first failure exits non-zero with
//! what went wrong.
//!
//! Environment:
//!   MXAUTH_URL              mxauth's public_baseurl (the issuer expected)
//!   MXAUTH_HOMESERVER_URL   the homeserver the client is built against
//!                           (default MXAUTH_URL: mxauth serves the
//!                           Client-Server API itself)
//!   MXAUTH_SERVER_NAME      the user's server name (default localhost)
//!   MXAUTH_OAUTH_USER, MXAUTH_OAUTH_PASSWORD   an existing user
//!   MXAUTH_OAUTH_REDIRECT   `loopback` (default: http://127.0.0.1/
//!                           registered, http://127.0.0.1:<port>/ used) or
//!                           `private-use` (org.example.rust-oauth:/callback)

mod browser;

use std::process::ExitCode;

use anyhow::{Context, Result, bail, ensure};
use matrix_sdk::{
    Client,
    authentication::oauth::{
        OAuthError,
        error::OAuthTokenRevocationError,
        registration::{ApplicationType, ClientMetadata, Localized, OAuthGrantType},
    },
    ruma::{DeviceId, OwnedDeviceId, serde::Raw},
};
use serde_json::Value;
use url::Url;

use crate::browser::{Browser, excerpt, http_client_builder};

/// The `matrix-sdk` pinned in Cargo.toml, for the closing line.
const MATRIX_SDK_VERSION: &str = "0.18.0";

/// The client's home page: https, as the spec requires of `client_uri`. A
/// private-use redirect scheme is the reverse of its host.
const CLIENT_URI: &str = "https://rust-oauth.example.org/";
const PRIVATE_USE_REDIRECT: &str = "org.example.rust-oauth:/callback";

struct Settings {
    issuer: Url,
    homeserver: Url,
    server_name: String,
    username: String,
    password: String,
    redirect: RedirectKind,
}

#[derive(Clone, Copy, Debug)]
enum RedirectKind {
    Loopback,
    PrivateUse,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => {
            println!("rust-oauth: PASSED (matrix-sdk {MATRIX_SDK_VERSION})");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("rust-oauth: FAILED: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set (clients/run.sh sets it)"))
}

fn settings() -> Result<Settings> {
    let issuer = Url::parse(&env("MXAUTH_URL")?).context("MXAUTH_URL")?;
    let homeserver = match std::env::var("MXAUTH_HOMESERVER_URL") {
        Ok(url) => Url::parse(&url).context("MXAUTH_HOMESERVER_URL")?,
        Err(_) => issuer.clone(),
    };
    let redirect = match std::env::var("MXAUTH_OAUTH_REDIRECT").as_deref() {
        Err(_) | Ok("loopback") => RedirectKind::Loopback,
        Ok("private-use") => RedirectKind::PrivateUse,
        Ok(other) => bail!("MXAUTH_OAUTH_REDIRECT={other:?}: loopback or private-use"),
    };
    Ok(Settings {
        issuer,
        homeserver,
        server_name: std::env::var("MXAUTH_SERVER_NAME").unwrap_or_else(|_| "localhost".into()),
        username: env("MXAUTH_OAUTH_USER")?,
        password: env("MXAUTH_OAUTH_PASSWORD")?,
        redirect,
    })
}

fn step(text: &str) {
    println!("rust-oauth: {text}");
}

async fn run() -> Result<()> {
    let s = settings()?;
    let user_id = format!("@{}:{}", s.username, s.server_name);
    step(&format!(
        "homeserver {}, issuer {}, user {user_id}, {:?} redirect",
        s.homeserver, s.issuer, s.redirect
    ));

    let client = Client::builder()
        .homeserver_url(s.homeserver.as_str())
        .build()
        .await
        .context("Client::builder().homeserver_url().build()")?;
    let oauth = client.oauth();

    step("server metadata (GET auth_metadata)");
    let metadata = oauth.server_metadata().await.context(
        "oauth.server_metadata(): GET /_matrix/client/v1/auth_metadata \
         (or the unstable org.matrix.msc2965 path, as /versions says)",
    )?;
    println!(
        "  issuer {}\n  authorization_endpoint {}\n  token_endpoint {}\n  \
         registration_endpoint {:?}\n  revocation_endpoint {}",
        metadata.issuer,
        metadata.authorization_endpoint,
        metadata.token_endpoint,
        metadata.registration_endpoint.as_ref().map(Url::as_str),
        metadata.revocation_endpoint
    );
    ensure!(
        metadata.issuer == s.issuer,
        "the issuer is {}, not public_baseurl {}",
        metadata.issuer,
        s.issuer
    );

    // The redirect URI registered, and the one the login uses (loopback:
    // registered without a port, any port accepted at authorization, RFC 8252).
    // The port is held so that nothing else can take it while we log in.
    let _loopback_listener;
    let (registered, redirect_uri) = match s.redirect {
        RedirectKind::Loopback => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").context("a loopback port")?;
            let port = listener.local_addr()?.port();
            _loopback_listener = listener;
            (
                Url::parse("http://127.0.0.1/")?,
                Url::parse(&format!("http://127.0.0.1:{port}/"))?,
            )
        }
        RedirectKind::PrivateUse => {
            let uri = Url::parse(PRIVATE_USE_REDIRECT)?;
            (uri.clone(), uri)
        }
    };

    step(&format!(
        "register a native public client (redirect_uris [{registered}])"
    ));
    let mut client_metadata = ClientMetadata::new(
        ApplicationType::Native,
        vec![OAuthGrantType::AuthorizationCode {
            redirect_uris: vec![registered],
        }],
        Localized::new(Url::parse(CLIENT_URI)?, None),
    );
    client_metadata.client_name = Some(Localized::new("mxauth rust-oauth test".to_owned(), None));
    let client_metadata = Raw::new(&client_metadata).context("serializing the client metadata")?;
    println!("  metadata {}", client_metadata.json().get());
    let registration = oauth
        .register_client(&client_metadata)
        .await
        .context("oauth.register_client()")?;
    println!("  client_id {}", registration.client_id.as_str());

    let device_id: OwnedDeviceId = DeviceId::new();
    step(&format!(
        "authorization URL (oauth.login(...).build()), device {device_id}"
    ));
    let authorization = oauth
        .login(redirect_uri.clone(), Some(device_id.clone()), None, None)
        .build()
        .await
        .context("oauth.login().build()")?;
    println!("  {}", authorization.url);

    step("the browser walks the pages");
    let callback = Browser::new(&s.username, &s.password)?
        .walk_to_redirect(&authorization.url, &redirect_uri)
        .await?;
    println!("  back at the client: {callback}");
    let query: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    if let Some((_, error)) = query.iter().find(|(k, _)| k == "error") {
        bail!("the server sent the browser back with error={error}: {callback}");
    }
    ensure!(
        query
            .iter()
            .any(|(k, v)| k == "state" && v == authorization.state.secret()),
        "the redirect does not echo state {}: {callback}",
        authorization.state.secret()
    );

    step("finish_login (code exchanged at the token endpoint, then whoami)");
    oauth
        .finish_login(callback.into())
        .await
        .context("oauth.finish_login()")?;
    let tokens = client
        .session_tokens()
        .context("no session tokens after finish_login")?;
    let first_access = tokens.access_token.clone();
    let Some(first_refresh) = tokens.refresh_token.clone() else {
        bail!("the token response had no refresh_token");
    };

    step("whoami");
    let me = client.whoami().await.context("client.whoami()")?;
    ensure!(
        me.user_id.as_str() == user_id,
        "whoami says {}, not {user_id}",
        me.user_id
    );
    ensure!(
        me.device_id.as_deref() == Some(&*device_id),
        "whoami says device {:?}, not {device_id} (the device scope)",
        me.device_id
    );
    println!("  {} on {device_id}", me.user_id);

    step("refresh (oauth.refresh_access_token())");
    oauth
        .refresh_access_token()
        .await
        .context("oauth.refresh_access_token()")?;
    let tokens = client
        .session_tokens()
        .context("no session tokens after the refresh")?;
    ensure!(
        tokens.access_token != first_access,
        "the refresh returned the same access token"
    );
    ensure!(
        tokens.refresh_token.as_deref() != Some(first_refresh.as_str()),
        "the refresh token was not rotated"
    );
    let second_access = tokens.access_token.clone();

    step("whoami with the new access token");
    let me = client
        .whoami()
        .await
        .context("client.whoami() after the refresh")?;
    ensure!(
        me.user_id.as_str() == user_id,
        "whoami says {}, not {user_id}",
        me.user_id
    );
    ensure!(
        me.device_id.as_deref() == Some(&*device_id),
        "whoami device {:?}",
        me.device_id
    );
    let raw = RawHttp::new()?;
    raw.whoami_ok(&s.homeserver, &second_access, &user_id)
        .await?;

    step("logout (oauth.logout(): the access token revoked)");
    let client_id = oauth
        .client_id()
        .context("no client_id")?
        .as_str()
        .to_owned();
    match oauth.logout().await {
        Ok(()) => {}
        // matrix-sdk hands the revocation to the oauth2 crate, which refuses
        // a revocation endpoint that is not https (RFC 7009 says TLS), and
        // the test server is plain http on the loopback: the request the SDK
        // would have sent, by hand, to the same endpoint.
        Err(OAuthError::Logout(OAuthTokenRevocationError::Url(refusal)))
            if metadata.revocation_endpoint.scheme() == "http" =>
        {
            println!(
                "  matrix-sdk refused the http revocation endpoint ({refusal}); sending its \
                 request by hand: token=<access token>&token_type_hint=access_token&client_id"
            );
            raw.revoke(&metadata.revocation_endpoint, &client_id, &second_access)
                .await?;
        }
        Err(error) => return Err(error).context("oauth.logout()"),
    }

    step("the revoked access token gets 401 M_UNKNOWN_TOKEN");
    raw.whoami_unknown_token(&s.homeserver, &second_access)
        .await?;
    step("the first access token too");
    raw.whoami_unknown_token(&s.homeserver, &first_access)
        .await?;
    step("the session's refresh token is dead too (invalid_grant)");
    let refresh = client.session_tokens().and_then(|t| t.refresh_token);
    let refresh = refresh.context("the client forgot its refresh token")?;
    raw.refresh_refused(&metadata.token_endpoint, &client_id, &refresh)
        .await?;
    Ok(())
}

/// Plain requests that check what the SDK does not show.
struct RawHttp(reqwest::Client);

impl RawHttp {
    fn new() -> Result<Self> {
        let http = http_client_builder()
            .build()
            .context("building an HTTP client")?;
        Ok(Self(http))
    }

    async fn whoami(&self, homeserver: &Url, token: &str) -> Result<(u16, Value)> {
        let url = homeserver.join("_matrix/client/v3/account/whoami")?;
        let response = self
            .0
            .get(url.clone())
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let body = serde_json::from_str(&text)
            .with_context(|| format!("GET {url}: {status}, not JSON: {}", excerpt(&text)))?;
        Ok((status, body))
    }

    async fn whoami_ok(&self, homeserver: &Url, token: &str, user_id: &str) -> Result<()> {
        let (status, body) = self.whoami(homeserver, token).await?;
        ensure!(
            status == 200 && body["user_id"] == user_id,
            "whoami with the new access token: {status} {body}"
        );
        Ok(())
    }

    async fn whoami_unknown_token(&self, homeserver: &Url, token: &str) -> Result<()> {
        let (status, body) = self.whoami(homeserver, token).await?;
        ensure!(
            status == 401 && body["errcode"] == "M_UNKNOWN_TOKEN",
            "whoami with a revoked token: {status} {body}, expected 401 M_UNKNOWN_TOKEN"
        );
        Ok(())
    }

    /// RFC 7009 revocation as oauth2's `revoke_token` sends it for a
    /// public client.
    async fn revoke(&self, endpoint: &Url, client_id: &str, token: &str) -> Result<()> {
        let form = [
            ("token", token),
            ("token_type_hint", "access_token"),
            ("client_id", client_id),
        ];
        let response = self
            .0
            .post(endpoint.clone())
            .form(&form)
            .send()
            .await
            .with_context(|| format!("POST {endpoint}"))?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        ensure!(
            status == 200,
            "revocation at {endpoint}: {status} {}, expected 200",
            excerpt(&text)
        );
        Ok(())
    }

    async fn refresh_refused(
        &self,
        token_endpoint: &Url,
        client_id: &str,
        refresh: &str,
    ) -> Result<()> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", client_id),
        ];
        let response = self
            .0
            .post(token_endpoint.clone())
            .form(&form)
            .send()
            .await
            .with_context(|| format!("POST {token_endpoint}"))?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        ensure!(
            status == 400 && body["error"] == "invalid_grant",
            "refreshing after logout: {status} {}, expected 400 invalid_grant",
            excerpt(&text)
        );
        Ok(())
    }
}
