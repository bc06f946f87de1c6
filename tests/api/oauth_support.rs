//! What the OAuth 2.0 tests share: a server with OAuth on, a client
//! registered as a real one would, PKCE, and a scripted browser that
//! walks the pages (login, consent) as a person would, taking the first
//! form of each page.

use crate::sso::Browser;
use crate::support::{Backend, Db, TestServer, TestServerBuilder};
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The `public_baseurl` of the OAuth tests (http: its cookies are not
/// `Secure`, so the scripted browser sends them to the test server).
pub const ISSUER: &str = "http://auth.test.example/";
pub const REDIRECT_URI: &str = "https://app.example.org/callback";
pub const DEVICE: &str = "OAUTHDEVICE1";

/// Public web clients of the config file (deployments pre-register
/// theirs); the tests of dynamic registration register their own.
pub const APP: &str = "test-app";
pub const OTHER_APP: &str = "other-app";

pub fn oauth_builder<'a>(db: impl Into<Db>) -> TestServerBuilder<'a> {
    TestServer::builder(db).config(|c| {
        c.public_baseurl = Some(ISSUER.into());
        oauth_with_test_clients(c, ISSUER);
    })
}

/// OAuth 2.0 on at `issuer` (the config's `public_baseurl`), with the
/// static clients [`APP`] and [`OTHER_APP`].
pub fn oauth_with_test_clients(c: &mut mxauth::config::Config, issuer: &str) {
    let mut oauth = mxauth::config::OAuthConfig::new(issuer);
    for (id, name) in [(APP, "Test App"), (OTHER_APP, "Other App")] {
        oauth.clients.push(mxauth::config::StaticClient {
            client_id: id.into(),
            client_secret: None,
            redirect_uris: vec![REDIRECT_URI.into()],
            client_name: Some(name.into()),
            auth_method: mxauth::config::ClientAuthMethod::None,
            application_type: mxauth::config::ApplicationType::Web,
        });
    }
    c.oauth = Some(oauth);
}

pub async fn oauth_server(b: Backend) -> TestServer {
    oauth_builder(b).start().await
}

/// Registers a public web client (dynamic registration); its client_id.
pub async fn register_client(s: &TestServer) -> String {
    register_client_with(s, json!({})).await
}

/// Registers a web client with `extra` metadata over the defaults.
pub async fn register_client_with(s: &TestServer, extra: Value) -> String {
    let mut body = json!({
        "client_name": "Test App",
        "client_uri": "https://app.example.org/",
        "redirect_uris": [REDIRECT_URI],
        "application_type": "web",
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let res = s
        .raw()
        .post(format!("{}/oauth2/registration", s.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let client: Value = res.json().await.unwrap();
    client["client_id"].as_str().unwrap().to_owned()
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce(seed: &str) -> (String, String) {
    let verifier = format!("{seed:-<43}").replace(' ', "-");
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn scope(device: &str) -> String {
    format!("urn:matrix:client:api:* urn:matrix:client:device:{device}")
}

/// The `/authorize` URL of a code + PKCE request.
pub fn authorize_url(s: &TestServer, client_id: &str, scope: &str, challenge: &str) -> String {
    format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state=st4te\
         &code_challenge={challenge}&code_challenge_method=S256",
        s.base,
        enc(client_id),
        enc(REDIRECT_URI),
        enc(scope)
    )
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A query (or fragment) parameter of a URL.
pub fn param(url: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(url).unwrap();
    let from_query = u
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    from_query.or_else(|| {
        url::form_urlencoded::parse(u.fragment().unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}

/// The first `<form>` of a page: its action and its inputs (name, value).
pub fn first_form(html: &str) -> (String, Vec<(String, String)>) {
    forms(html).into_iter().next().expect("a form on the page")
}

/// Every `<form>` of a page, in order.
pub fn forms(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    html.split("<form")
        .skip(1)
        .map(|f| {
            let f = f.split("</form>").next().unwrap();
            let action = attr(f, "action").unwrap_or_default();
            let inputs = f
                .split("<input")
                .skip(1)
                .filter_map(|i| {
                    let i = i.split('>').next().unwrap();
                    // An unchecked box is not sent, as a browser would not.
                    let checkbox = attr(i, "type").as_deref() == Some("checkbox");
                    if checkbox && !i.contains(" checked") {
                        return None;
                    }
                    Some((attr(i, "name")?, attr(i, "value").unwrap_or_default()))
                })
                .collect();
            (action, inputs)
        })
        .collect()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].replace("&amp;", "&").replace("&#x2f;", "/"))
}

/// Posts a page's form with `fill` overriding its inputs; the landing.
pub async fn submit(
    browser: &mut Browser,
    s: &TestServer,
    form: &(String, Vec<(String, String)>),
    fill: &[(&str, &str)],
) -> crate::sso::Landing {
    let mut fields: Vec<(String, String)> = form.1.clone();
    for (k, v) in fill {
        match fields.iter_mut().find(|(n, _)| n == k) {
            Some(f) => f.1 = (*v).to_owned(),
            None => fields.push(((*k).to_owned(), (*v).to_owned())),
        }
    }
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser
        .post_form(&format!("{}{}", s.base, form.0), &pairs)
        .await
}

/// From `/authorize` through login and consent to the redirect back to
/// the client: its URL.
pub async fn walk(
    browser: &mut Browser,
    s: &TestServer,
    url: &str,
    user: &str,
    password: &str,
) -> String {
    let mut landing = browser.get(url).await;
    for _ in 0..8 {
        assert!(
            landing.status.is_redirection() || landing.status == StatusCode::OK,
            "{:?}: {}",
            landing.status,
            landing.body
        );
        if landing.status.is_redirection() {
            let location = landing.location.clone().unwrap();
            if !location.starts_with('/') {
                return location;
            }
            landing = browser.get(&format!("{}{location}", s.base)).await;
            continue;
        }
        let form = first_form(&landing.body);
        landing = submit(
            browser,
            s,
            &form,
            &[("username", user), ("password", password)],
        )
        .await;
    }
    panic!("the walk did not end at the client: {}", landing.body);
}

/// `POST /oauth2/token` with a form; status and JSON.
pub async fn token_request(s: &TestServer, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let res = s
        .raw()
        .post(format!("{}/oauth2/token", s.base))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A code exchanged for tokens (asserting success).
pub async fn exchange(s: &TestServer, client_id: &str, code: &str, verifier: &str) -> Value {
    let (status, body) = token_request(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A whole login of `user` for [`APP`]: (client_id, token answer).
pub async fn log_in(s: &TestServer, user: &str, password: &str, device: &str) -> (String, Value) {
    let client_id = APP.to_owned();
    let (verifier, challenge) = pkce("verifier-of-a-whole-login");
    let mut browser = Browser::new();
    let back = walk(
        &mut browser,
        s,
        &authorize_url(s, &client_id, &scope(device), &challenge),
        user,
        password,
    )
    .await;
    let code = param(&back, "code").expect("a code");
    let tokens = exchange(s, &client_id, &code, &verifier).await;
    (client_id, tokens)
}

/// `GET /account/whoami` with a token: status and body.
pub async fn whoami(s: &TestServer, token: &str) -> (StatusCode, Value) {
    s.get("/_matrix/client/v3/account/whoami", Some(token))
        .await
}

/// `POST /oauth2/revoke`.
pub async fn revoke(s: &TestServer, client_id: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut form = vec![("client_id", client_id)];
    if let Some(t) = token {
        form.push(("token", t));
    }
    let res = s
        .raw()
        .post(format!("{}/oauth2/revoke", s.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}
