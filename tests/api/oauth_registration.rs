//! OAuth 2.0 dynamic client registration (`POST /oauth2/registration`,
//! RFC 7591 with the Matrix spec's rules), the clients' lookup and
//! authentication, and the pruning of clients that never got a session.

use crate::both;
use crate::support::{mock_clock, Backend, TestServer};
use base64::Engine;
use mxauth::auth::oauth::{ClientAuthError, ClientCredentials};
use mxauth::config::{
    ApplicationType, ClientAuthMethod, Config, OAuthConfig, RateLimit, Secret, StaticClient,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

both!(
    each_refusal_has_its_error,
    native_loopback_client,
    native_private_use_scheme_client,
    localized_values_kept_and_unknown_types_ignored,
    identical_public_registrations_share_a_client,
    confidential_client_gets_a_secret_and_authenticates,
    static_clients_from_the_config,
    registration_is_rate_limited_and_its_body_capped,
    unused_clients_are_pruned,
    registration_is_off_without_oauth,
);

pub const BASE: &str = "https://auth.test.example/";

pub fn oauth_on(c: &mut Config) {
    c.public_baseurl = Some(BASE.into());
    c.oauth = Some(OAuthConfig::new(BASE));
}

async fn server(b: Backend) -> TestServer {
    TestServer::builder(b).config(oauth_on).start().await
}

/// A valid web client's metadata, to change one field of.
fn web() -> Value {
    json!({
        "client_name": "My App",
        "client_uri": "https://example.com/",
        "redirect_uris": ["https://app.example.com/callback"],
        "token_endpoint_auth_method": "none",
        "response_types": ["code"],
        "grant_types": ["authorization_code", "refresh_token"],
        "application_type": "web",
    })
}

fn native(redirect: &str) -> Value {
    let mut m = web();
    m["application_type"] = json!("native");
    m["redirect_uris"] = json!([redirect]);
    m
}

fn with(mut m: Value, key: &str, value: Value) -> Value {
    m[key] = value;
    m
}

async fn register_raw(
    s: &TestServer,
    body: String,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let res = s
        .raw()
        .post(format!("{}/oauth2/registration", s.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    (status, res.json().await.unwrap_or(Value::Null), headers)
}

async fn register(s: &TestServer, m: &Value) -> (StatusCode, Value) {
    let (status, body, _) = register_raw(s, m.to_string()).await;
    (status, body)
}

async fn each_refusal_has_its_error(b: Backend) {
    let s = server(b).await;
    let many_uris: Vec<String> = (0..11)
        .map(|i| format!("https://example.com/cb{i}"))
        .collect();
    let mut many_localized = web();
    for i in 0..21 {
        many_localized[format!("client_name#l{i}")] = json!("x");
    }
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "http client_uri",
            with(web(), "client_uri", json!("http://example.com/")).to_string(),
            "invalid_client_metadata",
        ),
        (
            "no client_uri",
            with(web(), "client_uri", Value::Null).to_string(),
            "invalid_client_metadata",
        ),
        (
            "client_uri with user info",
            with(web(), "client_uri", json!("https://u:p@example.com/")).to_string(),
            "invalid_client_metadata",
        ),
        (
            "logo_uri on another host",
            with(web(), "logo_uri", json!("https://evil.example/logo.png")).to_string(),
            "invalid_client_metadata",
        ),
        (
            "logo_uri on a look-alike host",
            with(web(), "logo_uri", json!("https://notexample.com/logo.png")).to_string(),
            "invalid_client_metadata",
        ),
        (
            "tos_uri over http",
            with(web(), "tos_uri", json!("http://example.com/tos")).to_string(),
            "invalid_client_metadata",
        ),
        (
            "policy_uri on another host",
            with(web(), "policy_uri", json!("https://evil.example/p")).to_string(),
            "invalid_client_metadata",
        ),
        (
            "localized tos_uri on another host",
            with(web(), "tos_uri#fr", json!("https://evil.example/fr")).to_string(),
            "invalid_client_metadata",
        ),
        (
            "localized value with an empty tag",
            with(web(), "client_name#", json!("x")).to_string(),
            "invalid_client_metadata",
        ),
        (
            "too many localized values",
            many_localized.to_string(),
            "invalid_client_metadata",
        ),
        (
            "web redirect on another host",
            with(web(), "redirect_uris", json!(["https://evil.example/cb"])).to_string(),
            "invalid_redirect_uri",
        ),
        (
            "web redirect over http",
            with(web(), "redirect_uris", json!(["http://example.com/cb"])).to_string(),
            "invalid_redirect_uri",
        ),
        (
            "web redirect on loopback",
            with(web(), "redirect_uris", json!(["http://localhost/cb"])).to_string(),
            "invalid_redirect_uri",
        ),
        (
            "native scheme not the reverse-DNS",
            native("org.evil.app:/cb").to_string(),
            "invalid_redirect_uri",
        ),
        (
            "native scheme without a dot",
            native("example:/callback").to_string(),
            "invalid_redirect_uri",
        ),
        (
            "native scheme with an authority",
            native("com.example.app://callback").to_string(),
            "invalid_redirect_uri",
        ),
        (
            "native loopback with a port",
            native("http://localhost:1234/callback").to_string(),
            "invalid_redirect_uri",
        ),
        (
            "native loopback with the default port",
            native("http://127.0.0.1:80/callback").to_string(),
            "invalid_redirect_uri",
        ),
        (
            "native https on localhost",
            native("https://localhost/callback").to_string(),
            "invalid_redirect_uri",
        ),
        (
            "native http not on loopback",
            native("http://example.com/callback").to_string(),
            "invalid_redirect_uri",
        ),
        (
            "redirect with a fragment",
            with(web(), "redirect_uris", json!(["https://example.com/cb#x"])).to_string(),
            "invalid_redirect_uri",
        ),
        (
            "redirect with user info",
            with(
                web(),
                "redirect_uris",
                json!(["https://u:p@example.com/cb"]),
            )
            .to_string(),
            "invalid_redirect_uri",
        ),
        (
            "redirect not a URI",
            with(web(), "redirect_uris", json!(["/relative"])).to_string(),
            "invalid_redirect_uri",
        ),
        (
            "no redirect_uris",
            with(web(), "redirect_uris", Value::Null).to_string(),
            "invalid_redirect_uri",
        ),
        (
            "too many redirect_uris",
            with(web(), "redirect_uris", json!(many_uris)).to_string(),
            "invalid_redirect_uri",
        ),
        (
            "unknown auth method",
            with(
                web(),
                "token_endpoint_auth_method",
                json!("private_key_jwt"),
            )
            .to_string(),
            "invalid_client_metadata",
        ),
        (
            "unknown application_type",
            with(web(), "application_type", json!("desktop")).to_string(),
            "invalid_client_metadata",
        ),
        (
            "client_name not a string",
            with(web(), "client_name", json!(7)).to_string(),
            "invalid_client_metadata",
        ),
        (
            "client_name too long",
            with(web(), "client_name", json!("x".repeat(2049))).to_string(),
            "invalid_client_metadata",
        ),
        (
            "redirect_uris not a list",
            with(web(), "redirect_uris", json!("https://example.com/cb")).to_string(),
            "invalid_client_metadata",
        ),
        (
            "code grant without the code response type",
            with(web(), "response_types", json!(["token"])).to_string(),
            "invalid_client_metadata",
        ),
        (
            "bad JSON",
            "{\"client_uri\": ".to_owned(),
            "invalid_client_metadata",
        ),
        ("a JSON array", "[]".to_owned(), "invalid_client_metadata"),
    ];
    for (name, body, error) in cases {
        let (status, answer, headers) = register_raw(&s, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {answer}");
        assert_eq!(answer["error"], error, "{name}: {answer}");
        assert!(answer["error_description"].is_string(), "{name}: {answer}");
        assert_eq!(headers["cache-control"], "no-store", "{name}");
    }
    // The web client they were all made from registers.
    let (status, answer) = register(&s, &web()).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

async fn native_loopback_client(b: Backend) {
    let s = server(b).await;
    let (status, c) = register(&s, &native("http://127.0.0.1/callback")).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let id = c["client_id"].as_str().unwrap();
    assert!(
        c["client_id_issued_at"].as_i64().unwrap() > 1_600_000_000,
        "{c}"
    );
    assert_eq!(c["application_type"], "native");
    assert_eq!(c["token_endpoint_auth_method"], "none");
    assert_eq!(c["redirect_uris"], json!(["http://127.0.0.1/callback"]));
    assert!(c.get("client_secret").is_none(), "{c}");
    let client = s.auth.oauth_client(id).await.unwrap().expect("stored");
    assert_eq!(client.application_type, ApplicationType::Native);
    assert!(client.redirect_uri_allowed("http://127.0.0.1:51234/callback"));
    assert!(client.redirect_uri_allowed("http://127.0.0.1/callback"));
    assert!(!client.redirect_uri_allowed("http://127.0.0.1:51234/other"));
    for uri in ["http://localhost/cb", "http://[::1]/cb"] {
        let (status, c) = register(&s, &native(uri)).await;
        assert_eq!(status, StatusCode::CREATED, "{uri}: {c}");
    }
    // A public client authenticates with its id alone.
    let creds = ClientCredentials::from_request(None, Some(id.to_owned()), None).unwrap();
    assert_eq!(
        s.auth
            .authenticate_oauth_client(creds)
            .await
            .unwrap()
            .client_id,
        id
    );
    assert!(s.auth.oauth_client("nobody").await.unwrap().is_none());
}

async fn native_private_use_scheme_client(b: Backend) {
    let s = server(b).await;
    for uri in [
        "com.example.app:/callback",
        "com.example:/",
        "com.example:callback",
        "https://app.example.com/claimed",
    ] {
        let (status, c) = register(&s, &native(uri)).await;
        assert_eq!(status, StatusCode::CREATED, "{uri}: {c}");
        let client = s
            .auth
            .oauth_client(c["client_id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(client.redirect_uri_allowed(uri), "{uri}");
    }
}

async fn localized_values_kept_and_unknown_types_ignored(b: Backend) {
    let s = server(b).await;
    let mut m = web();
    m["client_name#fr"] = json!("Mon application");
    m["tos_uri"] = json!("https://example.com/tos.html");
    m["tos_uri#fr"] = json!("https://www.example.com/fr/tos.html");
    m["logo_uri"] = json!("https://cdn.example.com/logo.png");
    m["policy_uri"] = json!("https://example.com/policy.html");
    m["grant_types"] = json!([
        "authorization_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "refresh_token",
        "client_credentials"
    ]);
    m["response_types"] = json!(["code", "code id_token"]);
    m["software_statement"] = json!("ignored");
    let (status, c) = register(&s, &m).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["client_name#fr"], "Mon application");
    assert_eq!(c["tos_uri#fr"], "https://www.example.com/fr/tos.html");
    assert_eq!(c["logo_uri"], "https://cdn.example.com/logo.png");
    assert_eq!(
        c["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(c["response_types"], json!(["code"]));
    assert!(c.get("software_statement").is_none());
    let client = s
        .auth
        .oauth_client(c["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.localized["client_name#fr"], "Mon application");
    assert_eq!(
        client.grant_types,
        vec!["authorization_code", "refresh_token"]
    );
    assert_eq!(client.client_name.as_deref(), Some("My App"));
    assert_eq!(
        client.policy_uri.as_deref(),
        Some("https://example.com/policy.html")
    );
}

async fn identical_public_registrations_share_a_client(b: Backend) {
    let s = server(b).await;
    let (_, first) = register(&s, &native("http://127.0.0.1/cb")).await;
    let (status, again) = register(&s, &native("http://127.0.0.1/cb")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["client_id"], first["client_id"]);
    assert_eq!(again["client_id_issued_at"], first["client_id_issued_at"]);
    let (_, other) = register(&s, &native("http://127.0.0.1/other")).await;
    assert_ne!(other["client_id"], first["client_id"]);
    // Confidential clients each get their own secret, so their own client.
    let secret = with(
        web(),
        "token_endpoint_auth_method",
        json!("client_secret_post"),
    );
    let (_, one) = register(&s, &secret).await;
    let (_, two) = register(&s, &secret).await;
    assert_ne!(one["client_id"], two["client_id"]);
}

fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

async fn confidential_client_gets_a_secret_and_authenticates(b: Backend) {
    let s = server(b).await;
    // RFC 7591's default method is client_secret_basic.
    let (status, c) = register(&s, &with(web(), "token_endpoint_auth_method", Value::Null)).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(c["client_secret_expires_at"], 0);
    let id = c["client_id"].as_str().unwrap().to_owned();
    let secret = c["client_secret"].as_str().unwrap().to_owned();
    let auth = |header: Option<String>, form_id: Option<&str>, form_secret: Option<&str>| {
        let creds = ClientCredentials::from_request(
            header.as_deref(),
            form_id.map(str::to_owned),
            form_secret.map(str::to_owned),
        )
        .unwrap();
        let auth = s.auth.clone();
        async move {
            auth.authenticate_oauth_client(creds)
                .await
                .map(|c| c.client_id)
        }
    };
    assert_eq!(
        auth(Some(basic(&id, &secret)), None, None).await,
        Ok(id.clone())
    );
    assert_eq!(
        auth(Some(basic(&id, "wrong")), None, None).await,
        Err(ClientAuthError::BadSecret)
    );
    assert_eq!(
        auth(None, Some(&id), Some(&secret)).await,
        Err(ClientAuthError::WrongMethod),
        "registered for Basic, presented in the form"
    );
    assert_eq!(
        auth(None, Some(&id), None).await,
        Err(ClientAuthError::WrongMethod)
    );
    assert_eq!(
        auth(Some(basic("nobody", &secret)), None, None).await,
        Err(ClientAuthError::UnknownClient)
    );
    // client_secret_post.
    let (_, c) = register(
        &s,
        &with(
            web(),
            "token_endpoint_auth_method",
            json!("client_secret_post"),
        ),
    )
    .await;
    let id = c["client_id"].as_str().unwrap();
    let secret = c["client_secret"].as_str().unwrap();
    assert_eq!(auth(None, Some(id), Some(secret)).await, Ok(id.to_owned()));
    assert_eq!(
        auth(Some(basic(id, secret)), None, None).await,
        Err(ClientAuthError::WrongMethod)
    );
}

async fn static_clients_from_the_config(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            oauth_on(c);
            let oauth = c.oauth.as_mut().unwrap();
            oauth.clients = vec![
                StaticClient {
                    client_id: "element-web".into(),
                    client_secret: Some(Secret::new("s3cret")),
                    redirect_uris: vec!["https://app.example.org/".into()],
                    client_name: Some("Element".into()),
                    auth_method: ClientAuthMethod::ClientSecretBasic,
                    application_type: ApplicationType::Web,
                },
                StaticClient {
                    client_id: "cli".into(),
                    client_secret: None,
                    redirect_uris: vec!["http://localhost/cb".into()],
                    client_name: None,
                    auth_method: ClientAuthMethod::None,
                    application_type: ApplicationType::Native,
                },
            ];
        })
        .start()
        .await;
    let web = s.auth.oauth_client("element-web").await.unwrap().unwrap();
    assert_eq!(web.client_name.as_deref(), Some("Element"));
    assert!(web.redirect_uri_allowed("https://app.example.org/"));
    assert!(!web.redirect_uri_allowed("https://app.example.org/x"));
    let creds = ClientCredentials::from_request(Some(&basic("element-web", "s3cret")), None, None);
    assert!(s
        .auth
        .authenticate_oauth_client(creds.unwrap())
        .await
        .is_ok());
    let creds = ClientCredentials::from_request(Some(&basic("element-web", "s3creT")), None, None);
    assert_eq!(
        s.auth
            .authenticate_oauth_client(creds.unwrap())
            .await
            .unwrap_err(),
        ClientAuthError::BadSecret
    );
    let cli = s.auth.oauth_client("cli").await.unwrap().unwrap();
    assert!(cli.redirect_uri_allowed("http://localhost:8080/cb"));
    // Touching a static client writes nothing and fails nothing.
    s.auth.touch_oauth_client("cli").await.unwrap();
}

async fn registration_is_rate_limited_and_its_body_capped(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            oauth_on(c);
            c.rate_limits.oauth_client_registration = RateLimit::new(0.001, 2.0);
        })
        .start()
        .await;
    let big = with(web(), "client_name", json!("x".repeat(20 * 1024))).to_string();
    let (status, _, _) = register_raw(&s, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    for _ in 0..2 {
        let (status, c) = register(&s, &web()).await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
    }
    let (status, answer, headers) = register_raw(&s, web().to_string()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert!(headers.contains_key("retry-after"));
}

async fn unused_clients_are_pruned(b: Backend) {
    let clock = mock_clock();
    let s = TestServer::builder(b)
        .config(oauth_on)
        .clock(clock.clone())
        .start()
        .await;
    let (_, used) = register(&s, &native("http://127.0.0.1/used")).await;
    let (_, unused) = register(&s, &native("http://127.0.0.1/unused")).await;
    let used = used["client_id"].as_str().unwrap();
    let unused = unused["client_id"].as_str().unwrap();
    s.auth.touch_oauth_client(used).await.unwrap();
    assert_eq!(s.auth.prune_oauth_clients().await.unwrap(), 0);
    clock.advance_ms(23 * 3_600_000);
    // Registered again: the day starts over.
    let (_, again) = register(&s, &native("http://127.0.0.1/unused")).await;
    assert_eq!(again["client_id"], unused);
    clock.advance_ms(2 * 3_600_000);
    assert_eq!(s.auth.prune_oauth_clients().await.unwrap(), 0);
    clock.advance_ms(23 * 3_600_000);
    assert_eq!(s.auth.prune_oauth_clients().await.unwrap(), 1);
    assert!(s.auth.oauth_client(unused).await.unwrap().is_none());
    assert!(s.auth.oauth_client(used).await.unwrap().is_some());
}

async fn registration_is_off_without_oauth(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| c.public_baseurl = Some(BASE.into()))
        .start()
        .await;
    let (status, answer) = register(&s, &web()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let s = TestServer::builder(s.db.clone())
        .config(|c| {
            oauth_on(c);
            c.oauth.as_mut().unwrap().dynamic_registration = false;
        })
        .start()
        .await;
    let (status, _) = register(&s, &web()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, meta) = s.get("/_matrix/client/v1/auth_metadata", None).await;
    assert!(meta.get("registration_endpoint").is_none(), "{meta}");
}
