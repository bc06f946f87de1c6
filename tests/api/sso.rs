//! Single sign-on against a real OpenID Connect provider: `oidc-provider`
//! on Node (tests/oidc/server.js, installed by scripts/test.sh), started
//! per test on a free loopback port. A scripted browser (reqwest with a
//! cookie jar) goes through mxauth's redirect, the provider's login form,
//! and mxauth's callback; one test does the same in real Chromium.

use crate::both;
use crate::process_group::ProcessGroup;
use crate::support::{assert_error, fresh_database, Backend, FreshDatabase, TestServer};
use mxauth::auth::writes;
use mxauth::config::{Config, OidcProviderConfig};
use mxauth::store::{connect, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::BufRead;
use std::sync::Arc;

/// The client mxauth's users log in to; on `sso.client_whitelist`.
pub const CLIENT_URL: &str = "http://client.example/app/";

/// A running oidc-provider (stopped when dropped, also when its start
/// fails half-way).
pub struct OidcProvider {
    pub issuer: String,
    _group: ProcessGroup,
}

impl OidcProvider {
    pub fn start() -> OidcProvider {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "oidc-provider is not installed in {}: run scripts/test.sh (it runs `npm ci` there)",
            dir.display()
        );
        let mut group = ProcessGroup::spawn(
            std::process::Command::new("node")
                .arg("server.js")
                .current_dir(&dir)
                .stdout(std::process::Stdio::piped())
                .stderr(if std::env::var_os("MXAUTH_TEST_OIDC_LOG").is_some() {
                    std::process::Stdio::inherit()
                } else {
                    std::process::Stdio::null()
                }),
        )
        .expect("node starts (scripts/test.sh installs Node)");
        let stdout = group.child_mut().stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the provider says where it listens");
        let issuer = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected first line from the provider: {line:?}"))
            .to_owned();
        OidcProvider {
            issuer,
            _group: group,
        }
    }

    /// A provider block for mxauth's config, with `extra` YAML lines.
    pub fn config(&self, extra: &str) -> OidcProviderConfig {
        let yaml = format!(
            "server_name: test.example\npublic_baseurl: http://127.0.0.1:1/\n\
             oidc_providers:\n  - idp_id: test\n    idp_name: Test IdP\n    issuer: {}\n    \
             client_id: mxauth\n    client_secret: mxauth-secret\n    skip_verification: true\n    \
             scopes: [openid, profile, email, groups]\n    \
             user_mapping_provider:\n      config:\n        \
             localpart_template: \"{{{{ user.preferred_username }}}}\"\n        \
             display_name_template: \"{{{{ user.name }}}}\"\n        \
             email_template: \"{{{{ user.email }}}}\"\n{extra}",
            self.issuer
        );
        let loaded = Config::from_yaml_str(&yaml, std::path::Path::new("test.yaml"))
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        loaded.config.oidc_providers[0].clone()
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The config of an mxauth with these providers on `port`.
pub fn sso_config(c: &mut Config, port: u16, providers: Vec<OidcProviderConfig>) {
    c.listeners[0].port = port;
    c.public_baseurl = Some(format!("http://127.0.0.1:{port}/"));
    c.oidc_providers = providers;
    c.sso.client_whitelist = vec![CLIENT_URL.to_owned()];
}

/// An mxauth on a database with one provider configured by `extra`.
async fn start(db: Arc<FreshDatabase>, provider: &OidcProvider, extra: &str) -> TestServer {
    let p = provider.config(extra);
    let port = free_port();
    TestServer::builder(db)
        .config(move |c| sso_config(c, port, vec![p]))
        .start()
        .await
}

/// A scripted browser: follows nothing by itself, keeps cookies by name
/// (every server here is on 127.0.0.1, and cookies ignore ports).
pub struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

/// Where a walk through the flow ended.
#[derive(Debug)]
pub struct Landing {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: crate::support::http_client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Landing {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let res = req
            .header("cookie", cookie.join("; "))
            .send()
            .await
            .expect("request sent");
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let first = v.split(';').next().unwrap();
            let (name, value) = first.split_once('=').unwrap();
            let expired = v.to_ascii_lowercase().contains("max-age=0")
                || v.to_ascii_lowercase().contains("expires=thu, 01 jan 1970");
            if expired || value.is_empty() {
                self.cookies.remove(name.trim());
            } else {
                self.cookies.insert(name.trim().into(), value.into());
            }
        }
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        Landing {
            status,
            location,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, url: &str) -> Landing {
        let req = self.http.get(url);
        self.send(req).await
    }

    pub async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Landing {
        let req = self.http.post(url).form(form);
        self.send(req).await
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.contains_key(name)
    }

    /// Starts at mxauth and logs in at the provider as `login`; stops at
    /// the provider's redirect to mxauth's callback and returns its URL.
    pub async fn walk_to_callback(
        &mut self,
        mxauth: &str,
        login: &str,
        redirect_url: &str,
    ) -> String {
        let start = format!(
            "{mxauth}/_matrix/client/v3/login/sso/redirect?redirectUrl={}",
            urlencode(redirect_url)
        );
        self.walk_from(&start, login).await
    }

    /// From `start` (an mxauth URL that redirects to the provider) to the
    /// callback URL, logging in at the provider as `login`.
    pub async fn walk_from(&mut self, start: &str, login: &str) -> String {
        let mut landing = self.get(start).await;
        assert_eq!(landing.status, StatusCode::FOUND, "{}", landing.body);
        let mut url = landing.location.clone().unwrap();
        for _ in 0..10 {
            if url.contains("/_synapse/client/oidc/callback") {
                return url;
            }
            landing = self.get(&url).await;
            if landing.status.is_redirection() {
                url = absolute(&url, landing.location.as_deref().unwrap());
                continue;
            }
            // The provider's login form.
            assert_eq!(landing.status, StatusCode::OK, "{url}: {}", landing.body);
            let action = between(&landing.body, "action=\"", "\"")
                .unwrap_or_else(|| panic!("no form at {url}: {}", landing.body));
            let action = absolute(&url, &action);
            // The login form, or (for a new grant) the consent form.
            let prompt = between(&landing.body, "name=\"prompt\" value=\"", "\"")
                .unwrap_or_else(|| "login".into());
            let req = self.http.post(&action).form(&[
                ("prompt", prompt.as_str()),
                ("login", login),
                ("password", "any password"),
            ]);
            landing = self.send(req).await;
            assert!(landing.status.is_redirection(), "{}", landing.body);
            url = absolute(&action, landing.location.as_deref().unwrap());
        }
        panic!("never reached the callback; last at {url}");
    }

    /// The whole flow: returns where mxauth's callback sent the browser.
    pub async fn sso(&mut self, mxauth: &str, login: &str, redirect_url: &str) -> Landing {
        let callback = self.walk_to_callback(mxauth, login, redirect_url).await;
        self.get(&callback).await
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn absolute(base: &str, href: &str) -> String {
    url::Url::parse(base)
        .unwrap()
        .join(href)
        .unwrap()
        .to_string()
}

pub fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(text[from..to].replace("&amp;", "&"))
}

/// The `loginToken` of a redirect back to the client.
pub fn login_token_of(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "loginToken")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no loginToken in {location}"))
}

async fn token_login(s: &TestServer, token: &str) -> (StatusCode, Value) {
    s.post(
        "/_matrix/client/v3/login",
        None,
        json!({"type": "m.login.token", "token": token}),
    )
    .await
}

async fn store_of(s: &TestServer) -> Arc<dyn Store> {
    connect(&s.db.config.url(), 2).await.unwrap()
}

both!(
    first_login_creates_and_links_then_reuses_the_link,
    clashing_localparts_get_a_numbered_suffix,
    allow_existing_users_links_the_existing_account,
    existing_account_is_not_taken_over_without_allow_existing_users,
    attribute_requirements_refuse_the_login,
    registration_disabled_for_the_provider,
    login_token_is_single_use,
    untrusted_redirect_gets_a_confirmation_page,
    state_is_single_use_and_bound_to_the_browser,
    deactivated_user_gets_a_403_page,
    display_name_is_not_overwritten_later,
    email_match_links_only_verified_addresses,
    provider_names_that_only_look_like_admin_never_log_in_as_admin,
    an_email_not_marked_verified_is_not_trusted,
);

async fn first_login_creates_and_links_then_reuses_the_link(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(Arc::new(fresh_database(b).await), &idp, "").await;

    let (status, flows) = s.get("/_matrix/client/v3/login", None).await;
    assert_eq!(status, StatusCode::OK);
    let flows = flows["flows"].as_array().unwrap().clone();
    let sso = flows.iter().find(|f| f["type"] == "m.login.sso").unwrap();
    assert_eq!(
        sso["identity_providers"],
        json!([{"id": "oidc-test", "name": "Test IdP"}])
    );
    assert!(flows.iter().any(|f| f["type"] == "m.login.token"));

    let mut browser = Browser::new();
    let landing = browser.sso(&s.base, "alice", CLIENT_URL).await;
    assert_eq!(landing.status, StatusCode::FOUND, "{}", landing.body);
    let location = landing.location.unwrap();
    assert!(location.starts_with(CLIENT_URL), "{location}");
    assert!(!browser.has_cookie("mxauth_sso_session"), "cookie cleared");
    let (status, res) = token_login(&s, &login_token_of(&location)).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], "@alice:test.example");
    let (_, who) = s
        .get(
            "/_matrix/client/v3/account/whoami",
            res["access_token"].as_str(),
        )
        .await;
    assert_eq!(who["user_id"], "@alice:test.example");

    let store = store_of(&s).await;
    let user = store
        .users()
        .get_user("@alice:test.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.displayname.as_deref(), Some("Alice Liddell"));
    assert_eq!(user.password_hash, None);
    assert_eq!(
        store
            .sso()
            .list_external_ids("@alice:test.example")
            .await
            .unwrap(),
        vec![("oidc-test".to_owned(), "sub-alice".to_owned())]
    );
    let emails = store
        .threepids()
        .list_user_threepids("@alice:test.example")
        .await
        .unwrap();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].address, "alice@wonderland.test");

    // Again, in a new browser: the link is reused, no second user.
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    let (status, res) = token_login(&s, &login_token_of(&landing.location.unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], "@alice:test.example");
    assert!(store
        .users()
        .get_user("@alice1:test.example")
        .await
        .unwrap()
        .is_none());
}

async fn clashing_localparts_get_a_numbered_suffix(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(Arc::new(fresh_database(b).await), &idp, "").await;
    s.register("bob", "bob-password-1").await;

    // Two provider accounts whose preferred_username is `bob`.
    for (login, expected) in [
        ("bob~1", "@bob1:test.example"),
        ("bob~2", "@bob2:test.example"),
    ] {
        let landing = Browser::new().sso(&s.base, login, CLIENT_URL).await;
        let location = landing
            .location
            .unwrap_or_else(|| panic!("{}: {}", landing.status, landing.body));
        let (status, res) = token_login(&s, &login_token_of(&location)).await;
        assert_eq!(status, StatusCode::OK, "{res}");
        assert_eq!(res["user_id"], expected);
    }
    // The local bob is untouched and not linked.
    let store = store_of(&s).await;
    assert!(store
        .sso()
        .list_external_ids("@bob:test.example")
        .await
        .unwrap()
        .is_empty());
    s.login("bob", "bob-password-1").await;

    // A name that needs mapping, escaped as Synapse's
    // map_username_to_mxid_localpart does: "José María!".
    let landing = Browser::new().sso(&s.base, "jose", CLIENT_URL).await;
    let (_, res) = token_login(&s, &login_token_of(&landing.location.unwrap())).await;
    assert_eq!(res["user_id"], "@jos=c3=a9=20mar=c3=ada=21:test.example");
}

async fn allow_existing_users_links_the_existing_account(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(
        Arc::new(fresh_database(b).await),
        &idp,
        "    allow_existing_users: true\n",
    )
    .await;
    // `Alice` maps to alice: the existing @alice.
    s.register("alice", "alice-password-1").await;
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    let (status, res) = token_login(&s, &login_token_of(&landing.location.unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], "@alice:test.example");
    let store = store_of(&s).await;
    assert_eq!(
        store
            .sso()
            .list_external_ids("@alice:test.example")
            .await
            .unwrap(),
        vec![("oidc-test".to_owned(), "sub-alice".to_owned())]
    );
    // The password still works; the account was linked, not replaced.
    s.login("alice", "alice-password-1").await;
}

async fn existing_account_is_not_taken_over_without_allow_existing_users(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(Arc::new(fresh_database(b).await), &idp, "").await;
    s.register("alice", "alice-password-1").await;
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    let (_, res) = token_login(&s, &login_token_of(&landing.location.unwrap())).await;
    assert_eq!(res["user_id"], "@alice1:test.example");
    let store = store_of(&s).await;
    assert!(store
        .sso()
        .list_external_ids("@alice:test.example")
        .await
        .unwrap()
        .is_empty());
}

async fn attribute_requirements_refuse_the_login(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(
        Arc::new(fresh_database(b).await),
        &idp,
        "    attribute_requirements:\n      - attribute: groups\n        value: staff\n",
    )
    .await;
    let landing = Browser::new().sso(&s.base, "mallory", CLIENT_URL).await;
    assert_eq!(landing.status, StatusCode::FORBIDDEN, "{}", landing.body);
    assert!(landing.body.contains("not allowed"), "{}", landing.body);
    assert!(landing.location.is_none());
    let store = store_of(&s).await;
    assert!(store
        .users()
        .get_user("@mallory:test.example")
        .await
        .unwrap()
        .is_none());
    // Alice is staff.
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    assert_eq!(landing.status, StatusCode::FOUND, "{}", landing.body);
}

async fn registration_disabled_for_the_provider(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(
        Arc::new(fresh_database(b).await),
        &idp,
        "    enable_registration: false\n",
    )
    .await;
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    assert_eq!(landing.status, StatusCode::FORBIDDEN, "{}", landing.body);
    let store = store_of(&s).await;
    assert!(store
        .users()
        .get_user("@alice:test.example")
        .await
        .unwrap()
        .is_none());
}

async fn login_token_is_single_use(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(Arc::new(fresh_database(b).await), &idp, "").await;
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    let token = login_token_of(&landing.location.unwrap());
    let (status, _) = token_login(&s, &token).await;
    assert_eq!(status, StatusCode::OK);
    let again = token_login(&s, &token).await;
    assert_error(&again, 403, "M_FORBIDDEN");
    let forged = token_login(&s, "syl_notatoken").await;
    assert_error(&forged, 403, "M_FORBIDDEN");
    assert_eq!(again.1, forged.1, "used and unknown tokens look the same");
    let missing = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.token"}),
        )
        .await;
    assert_error(&missing, 400, "M_MISSING_PARAM");
}

async fn untrusted_redirect_gets_a_confirmation_page(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(Arc::new(fresh_database(b).await), &idp, "").await;
    let target = "https://allowed.example.evil.example/cb?x=<b>";
    let landing = Browser::new().sso(&s.base, "alice", target).await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    assert!(landing.location.is_none());
    assert!(
        landing
            .body
            .contains("<strong id=\"host\">allowed.example.evil.example</strong>"),
        "{}",
        landing.body
    );
    assert!(!landing.body.contains("<b>"), "escaped: {}", landing.body);
    let href = between(&landing.body, "id=\"continue\" href=\"", "\"").unwrap();
    assert!(
        href.starts_with("https://allowed.example.evil.example/cb?x="),
        "{href}"
    );
    let (status, _) = token_login(&s, &login_token_of(&href)).await;
    assert_eq!(status, StatusCode::OK);

    // Not a URL one can link to: refused before going to the provider.
    for bad in ["javascript:alert(1)", "//evil.example/", "/\\evil.example"] {
        let url = format!(
            "{}/_matrix/client/v3/login/sso/redirect?redirectUrl={}",
            s.base,
            urlencode(bad)
        );
        let res = s.raw().get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

async fn state_is_single_use_and_bound_to_the_browser(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(Arc::new(fresh_database(b).await), &idp, "").await;
    // An attacker's callback URL, opened in the victim's browser (which
    // never started this flow): refused, nothing issued.
    let mut attacker = Browser::new();
    let callback = attacker
        .walk_to_callback(&s.base, "mallory", CLIENT_URL)
        .await;
    let victim = Browser::new().get(&callback).await;
    assert_eq!(victim.status, StatusCode::BAD_REQUEST, "{}", victim.body);
    assert!(victim.location.is_none());
    // The state was used up by that try.
    let replay = attacker.get(&callback).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.body);

    // A normal flow, then its callback replayed: refused.
    let mut browser = Browser::new();
    let callback = browser.walk_to_callback(&s.base, "alice", CLIENT_URL).await;
    let cookie = browser.cookies.clone();
    assert_eq!(browser.get(&callback).await.status, StatusCode::FOUND);
    browser.cookies = cookie;
    assert_eq!(browser.get(&callback).await.status, StatusCode::BAD_REQUEST);

    // RFC 9207: the provider names itself in `iss`; another issuer is a
    // mix-up and is refused.
    let mut browser = Browser::new();
    let callback = browser.walk_to_callback(&s.base, "alice", CLIENT_URL).await;
    let mut url = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert!(
        pairs.iter().any(|(k, v)| k == "iss" && *v == idp.issuer),
        "{callback}"
    );
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs.iter().map(|(k, v)| {
            (
                k.as_str(),
                if k == "iss" {
                    "https://evil.example"
                } else {
                    v
                },
            )
        }));
    let mixed_up = browser.get(url.as_str()).await;
    assert_eq!(mixed_up.status, StatusCode::FORBIDDEN, "{}", mixed_up.body);

    // Unknown provider and missing redirectUrl.
    let res = s
        .raw()
        .get(format!(
            "{}/_matrix/client/v3/login/sso/redirect/oidc-nope?redirectUrl=x",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = s
        .get("/_matrix/client/v3/login/sso/redirect/oidc-test", None)
        .await;
    assert_error(&res, 400, "M_MISSING_PARAM");
}

async fn deactivated_user_gets_a_403_page(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(Arc::new(fresh_database(b).await), &idp, "").await;
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    let token = login_token_of(&landing.location.unwrap());
    let store = store_of(&s).await;
    writes::deactivate_user(&*store, "@alice:test.example")
        .await
        .unwrap();
    // A token issued before the deactivation is no use.
    let res = token_login(&s, &token).await;
    assert_error(&res, 403, "M_USER_DEACTIVATED");
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    assert_eq!(landing.status, StatusCode::FORBIDDEN, "{}", landing.body);
    assert!(landing.body.contains("deactivated"), "{}", landing.body);
}

async fn display_name_is_not_overwritten_later(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(Arc::new(fresh_database(b).await), &idp, "").await;
    Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    let store = store_of(&s).await;
    store
        .users()
        .set_profile_fields("@alice:test.example", None, Some("Chosen Name"))
        .await
        .unwrap();
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    assert_eq!(landing.status, StatusCode::FOUND);
    let user = store
        .users()
        .get_user("@alice:test.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.displayname.as_deref(), Some("Chosen Name"));
}

async fn email_match_links_only_verified_addresses(b: Backend) {
    let idp = OidcProvider::start();
    // No localpart match (the template yields nothing), only the email.
    let p = idp.config("    allow_existing_users: true\n    match_existing_users_by_email: true\n");
    let mut p = p;
    p.mapping.localpart_template =
        Some(mxauth::config::oidc::Template::parse("{{ user.preferred_username }}-sso").unwrap());
    let port = free_port();
    let s = TestServer::builder(b)
        .config(move |c| sso_config(c, port, vec![p]))
        .start()
        .await;
    let store = store_of(&s).await;
    for (user, address) in [
        ("carol", "alice@wonderland.test"),
        ("dave", "jose@example.test"),
    ] {
        s.register(user, "password-123").await;
        store
            .threepids()
            .add_user_threepid(&mxauth::store::UserThreepid {
                user_id: format!("@{user}:test.example"),
                medium: "email".into(),
                address: address.into(),
                validated_ts: 1,
                added_ts: 1,
            })
            .await
            .unwrap();
    }
    // alice's email is verified at the provider: linked to carol.
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    let (_, res) = token_login(&s, &login_token_of(&landing.location.unwrap())).await;
    assert_eq!(res["user_id"], "@carol:test.example");
    // jose's is not verified: a new account, dave is left alone.
    let landing = Browser::new().sso(&s.base, "jose", CLIENT_URL).await;
    let (_, res) = token_login(&s, &login_token_of(&landing.location.unwrap())).await;
    assert_eq!(
        res["user_id"],
        "@jos=c3=a9=20mar=c3=ada=21-sso:test.example"
    );
    assert!(store
        .sso()
        .list_external_ids("@dave:test.example")
        .await
        .unwrap()
        .is_empty());
}

/// With `allow_existing_users`, `ádmin` and `admin@evil.example` at the
/// provider are escaped as Synapse maps them, so they can never attach to
/// the existing `@admin` (folding accents or cutting at `@` would).
async fn provider_names_that_only_look_like_admin_never_log_in_as_admin(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(
        Arc::new(fresh_database(b).await),
        &idp,
        "    allow_existing_users: true\n",
    )
    .await;
    s.register("admin", "admin-password-1").await;
    for (login, expected) in [
        ("accented", "@=c3=a1dmin:test.example"),
        ("emailname", "@admin=40evil.example:test.example"),
    ] {
        let landing = Browser::new().sso(&s.base, login, CLIENT_URL).await;
        let location = landing
            .location
            .unwrap_or_else(|| panic!("{login}: {} {}", landing.status, landing.body));
        let (status, res) = token_login(&s, &login_token_of(&location)).await;
        assert_eq!(status, StatusCode::OK, "{res}");
        assert_eq!(res["user_id"], expected, "{login}");
        let (_, who) = s
            .get(
                "/_matrix/client/v3/account/whoami",
                res["access_token"].as_str(),
            )
            .await;
        assert_eq!(who["user_id"], expected, "{login}");
    }
    let store = store_of(&s).await;
    assert!(store
        .sso()
        .list_external_ids("@admin:test.example")
        .await
        .unwrap()
        .is_empty());
    s.login("admin", "admin-password-1").await;
}

/// An email is trusted only with `email_verified: true`: without the
/// claim it is neither kept as validated nor matched to an existing user.
async fn an_email_not_marked_verified_is_not_trusted(b: Backend) {
    let idp = OidcProvider::start();
    let mut p =
        idp.config("    allow_existing_users: true\n    match_existing_users_by_email: true\n");
    p.mapping.localpart_template =
        Some(mxauth::config::oidc::Template::parse("{{ user.preferred_username }}-sso").unwrap());
    let port = free_port();
    let s = TestServer::builder(b)
        .config(move |c| sso_config(c, port, vec![p]))
        .start()
        .await;
    let store = store_of(&s).await;
    // A new account: the email is not kept as validated.
    let landing = Browser::new().sso(&s.base, "unsure", CLIENT_URL).await;
    let (status, res) = token_login(&s, &login_token_of(&landing.location.unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], "@unsure-sso:test.example");
    assert!(
        store
            .threepids()
            .list_user_threepids("@unsure-sso:test.example")
            .await
            .unwrap()
            .is_empty(),
        "an email the provider did not verify is not kept as validated"
    );
    // An existing user with that address is not matched by it.
    s.register("erin", "password-123").await;
    store
        .threepids()
        .add_user_threepid(&mxauth::store::UserThreepid {
            user_id: "@erin:test.example".into(),
            medium: "email".into(),
            address: "doubtful@example.test".into(),
            validated_ts: 1,
            added_ts: 1,
        })
        .await
        .unwrap();
    let landing = Browser::new().sso(&s.base, "doubtful", CLIENT_URL).await;
    let (status, res) = token_login(&s, &login_token_of(&landing.location.unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], "@doubtful-sso:test.example");
    assert!(store
        .sso()
        .list_external_ids("@erin:test.example")
        .await
        .unwrap()
        .is_empty());
}

both!(
    login_token_expires_after_two_minutes,
    picker_page_lists_the_providers
);

async fn login_token_expires_after_two_minutes(b: Backend) {
    let idp = OidcProvider::start();
    let clock = crate::support::mock_clock();
    let p = idp.config("");
    let port = free_port();
    let s = TestServer::builder(b)
        .clock(clock.clone())
        .config(move |c| sso_config(c, port, vec![p]))
        .start()
        .await;
    let first = login_token_of(
        &Browser::new()
            .sso(&s.base, "alice", CLIENT_URL)
            .await
            .location
            .unwrap(),
    );
    let second = login_token_of(
        &Browser::new()
            .sso(&s.base, "alice", CLIENT_URL)
            .await
            .location
            .unwrap(),
    );
    // Just inside the two minutes: still good.
    clock.advance_ms(2 * 60 * 1000 - 1);
    let (status, res) = token_login(&s, &first).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    // At two minutes: expired.
    clock.advance_ms(1);
    let expired = token_login(&s, &second).await;
    assert_error(&expired, 403, "M_FORBIDDEN");
}

async fn picker_page_lists_the_providers(b: Backend) {
    let idp = OidcProvider::start();
    let one = idp.config("");
    let mut two = idp.config("");
    two.idp_id = "oidc-second".into();
    two.idp_name = "Second <IdP>".into();
    let port = free_port();
    let s = TestServer::builder(b)
        .config(move |c| sso_config(c, port, vec![one, two]))
        .start()
        .await;
    let (_, flows) = s.get("/_matrix/client/v3/login", None).await;
    let sso = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "m.login.sso")
        .unwrap()
        .clone();
    assert_eq!(
        sso["identity_providers"],
        json!([{"id": "oidc-test", "name": "Test IdP"}, {"id": "oidc-second", "name": "Second <IdP>"}])
    );
    let mut browser = Browser::new();
    let page = browser
        .get(&format!(
            "{}/_matrix/client/v3/login/sso/redirect?redirectUrl={}",
            s.base,
            urlencode(CLIENT_URL)
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Second &lt;IdP&gt;"), "{}", page.body);
    assert!(!page.body.contains("<IdP>"), "{}", page.body);
    let href = between(&page.body, "href=\"", "\"").unwrap();
    assert_eq!(
        href,
        format!(
            "/_matrix/client/v3/login/sso/redirect/oidc-test?redirectUrl={}",
            urlencode(CLIENT_URL)
        )
    );
    // Following the picker's link goes to the provider.
    let landing = browser.get(&format!("{}{href}", s.base)).await;
    assert_eq!(landing.status, StatusCode::FOUND);
    assert!(landing
        .location
        .unwrap()
        .starts_with(&format!("{}/auth?", idp.issuer)));
}

/// Two processes on one PostgreSQL (behind one public_baseurl): the
/// redirect is served by one and the callback by the other, and the login
/// token is redeemed at the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redirect_and_callback_on_different_processes() {
    let idp = OidcProvider::start();
    let db = Arc::new(fresh_database(Backend::Postgres).await);
    let p = idp.config("");
    let port_one = free_port();
    let p1 = p.clone();
    let one = TestServer::builder(db.clone())
        .config(move |c| sso_config(c, port_one, vec![p1]))
        .start()
        .await;
    let port_two = free_port();
    let two = TestServer::builder(db)
        .config(move |c| {
            sso_config(c, port_two, vec![p]);
            // The same deployment: one public address.
            c.public_baseurl = Some(format!("http://127.0.0.1:{port_one}/"));
        })
        .start()
        .await;
    assert_ne!(one.addr, two.addr);
    let mut browser = Browser::new();
    let callback = browser
        .walk_to_callback(&one.base, "alice", CLIENT_URL)
        .await;
    let on_two = callback.replace(&one.base, &two.base);
    assert_ne!(on_two, callback);
    let landing = browser.get(&on_two).await;
    assert_eq!(landing.status, StatusCode::FOUND, "{}", landing.body);
    let (status, res) = token_login(&one, &login_token_of(&landing.location.unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], "@alice:test.example");
}

/// The whole flow in real headless Chromium: mxauth's redirect, the
/// provider's login and consent forms, the callback, the confirmation page
/// for a client not on the allow-list, and the client's page with its
/// loginToken, which then logs in at `POST /login`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_logs_in_through_the_provider() {
    let idp = OidcProvider::start();
    let p = idp.config("");
    let port = free_port();
    let s = TestServer::builder(Backend::Sqlite)
        .config(move |c| {
            sso_config(c, port, vec![p]);
        })
        .start()
        .await;
    // The "client": a page mxauth itself serves (it is not on the
    // allow-list, so the confirmation page comes first).
    let client = format!("{}/_matrix/client/versions", s.base);
    let driver = crate::browser::Driver::start().await;
    let start = format!(
        "{}/_matrix/client/v3/login/sso/redirect/oidc-test?redirectUrl={}",
        s.base,
        urlencode(&client)
    );
    driver.call("/url", json!({"url": start})).await;
    // The provider's login form.
    wait_for(
        &driver,
        "document.querySelector('input[name=login]') !== null",
    )
    .await;
    driver
        .script("document.querySelector('input[name=login]').value = 'alice'; document.querySelector('input[name=password]').value = 'pw'; return true")
        .await;
    driver.click("button[type=submit]").await;
    // The provider's consent form, then mxauth's confirmation page.
    wait_for(
        &driver,
        "document.querySelector('#continue') !== null || (document.title === 'Authorize' || document.body.innerText.includes('Authorize'))",
    )
    .await;
    if driver
        .script("return document.querySelector('#continue') === null")
        .await
        == true
    {
        driver.click("button[type=submit]").await;
        wait_for(&driver, "document.querySelector('#continue') !== null").await;
    }
    let host = driver
        .script("return document.querySelector('#host').innerText")
        .await;
    assert_eq!(host, "127.0.0.1");
    driver.click("#continue").await;
    wait_for(&driver, "location.href.includes('loginToken=')").await;
    let href = driver.script("return location.href").await;
    let href = href.as_str().unwrap();
    assert!(href.starts_with(&client), "{href}");
    let (status, res) = token_login(&s, &login_token_of(href)).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], "@alice:test.example");
}

async fn wait_for(driver: &crate::browser::Driver, condition: &str) {
    let js = format!("return !!({condition})");
    for _ in 0..100 {
        if driver.script(&js).await == true {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let text = driver
        .script("return location.href + '\\n' + document.body.innerText")
        .await;
    panic!("timed out waiting for {condition}; page: {text}");
}

both!(
    uia_sso_stage_completes_at_the_provider,
    uia_sso_page_names_the_operation_being_approved,
    uia_sso_stage_fails_for_another_identity,
    get_token_behind_uia,
);

/// An SSO user (alice, no password) and her access token and device.
async fn sso_user(s: &TestServer) -> (String, String) {
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    let (status, res) = token_login(s, &login_token_of(&landing.location.unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    (
        res["access_token"].as_str().unwrap().to_owned(),
        res["device_id"].as_str().unwrap().to_owned(),
    )
}

async fn uia_sso_stage_completes_at_the_provider(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(Arc::new(fresh_database(b).await), &idp, "").await;
    let (token, device) = sso_user(&s).await;
    let (_, other_device) = sso_user(&s).await;
    let path = format!("/_matrix/client/v3/devices/{other_device}");
    let (status, challenge) = s
        .request(
            reqwest::Method::DELETE,
            &path,
            Some(&token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    assert_eq!(challenge["flows"], json!([{"stages": ["m.login.sso"]}]));
    let session = challenge["session"].as_str().unwrap().to_owned();

    // Posting the stage before the fallback page: refused.
    let (status, early) = s
        .request(
            reqwest::Method::DELETE,
            &path,
            Some(&token),
            Some(&json!({"auth": {"type": "m.login.sso", "session": session}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(early["errcode"], "M_FORBIDDEN");

    // The fallback page links to the provider alice is linked to.
    let mut browser = Browser::new();
    let fallback = format!(
        "{}/_matrix/client/v3/auth/m.login.sso/fallback/web?session={session}",
        s.base
    );
    let page = browser.get(&fallback).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Continue with Test IdP"),
        "{}",
        page.body
    );
    let href = between(&page.body, "class=\"idp\" href=\"", "\"").unwrap();
    let callback = browser
        .walk_from(&format!("{}{href}", s.base), "alice")
        .await;
    let done = browser.get(&callback).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("authDone"), "{}", done.body);

    let (status, res) = s
        .request(
            reqwest::Method::DELETE,
            &path,
            Some(&token),
            Some(&json!({"auth": {"session": session}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (_, devices) = s.get("/_matrix/client/v3/devices", Some(&token)).await;
    let ids: Vec<&str> = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![device.as_str()]);
}

/// The re-authentication page says what the user approves, from the UIA
/// session's method and URI (Synapse's `sso_auth_confirm.html`).
async fn uia_sso_page_names_the_operation_being_approved(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(Arc::new(fresh_database(b).await), &idp, "").await;
    let (token, _) = sso_user(&s).await;
    let (_, other_device) = sso_user(&s).await;
    let cases = [
        (
            reqwest::Method::DELETE,
            format!("/_matrix/client/v3/devices/{other_device}"),
            json!({}),
            "remove a device from your account",
        ),
        (
            reqwest::Method::POST,
            "/_matrix/client/v3/delete_devices".to_owned(),
            json!({"devices": [other_device]}),
            "remove devices from your account",
        ),
        (
            reqwest::Method::POST,
            "/_matrix/client/v3/account/password".to_owned(),
            json!({"new_password": "a new password 123"}),
            "change your password",
        ),
        (
            reqwest::Method::POST,
            "/_matrix/client/v3/account/deactivate".to_owned(),
            json!({}),
            "deactivate your account",
        ),
    ];
    for (method, path, body, expected) in cases {
        let (status, challenge) = s
            .request(method.clone(), &path, Some(&token), Some(&body))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {challenge}");
        let session = challenge["session"].as_str().unwrap();
        let page = Browser::new()
            .get(&format!(
                "{}/_matrix/client/v3/auth/m.login.sso/fallback/web?session={session}",
                s.base
            ))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(
            page.body.contains(&format!(
                "A client is trying to <strong>{expected}</strong>"
            )),
            "{method} {path}: {}",
            page.body
        );
    }
}

async fn uia_sso_stage_fails_for_another_identity(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(Arc::new(fresh_database(b).await), &idp, "").await;
    let (token, _) = sso_user(&s).await;
    // Mallory has an account of her own.
    Browser::new().sso(&s.base, "mallory", CLIENT_URL).await;
    let (status, challenge) = s
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let session = challenge["session"].as_str().unwrap().to_owned();
    // At the provider, someone signs in as mallory, not alice.
    let mut browser = Browser::new();
    let start = format!(
        "{}/_matrix/client/v3/auth/m.login.sso/fallback/web?session={session}&idp_id=oidc-test",
        s.base
    );
    let callback = browser.walk_from(&start, "mallory").await;
    let refused = browser.get(&callback).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("does not belong"), "{}", refused.body);
    // The stage is not done; alice is not deactivated.
    let (status, _) = s
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&token),
            json!({"auth": {"session": session}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s
        .get("/_matrix/client/v3/account/whoami", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    // An unknown provider on the fallback page: 404.
    let res = s
        .raw()
        .get(format!(
            "{}/_matrix/client/v3/auth/m.login.sso/fallback/web?session={session}&idp_id=oidc-nope",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

async fn get_token_behind_uia(b: Backend) {
    const GET_TOKEN: &str = "/_matrix/client/v1/login/get_token";
    // Off by default: the endpoint does not exist.
    let off = TestServer::builder(b).start().await;
    let (_, token, _) = off.register("erin", "erin-password-1").await;
    let res = off.post(GET_TOKEN, Some(&token), json!({})).await;
    assert_error(&res, 404, "M_UNRECOGNIZED");
    off.stop().await;

    let s = TestServer::builder(b)
        .config(|c| {
            c.login_via_existing_session.enabled = true;
        })
        .start()
        .await;
    let (_, flows) = s.get("/_matrix/client/v3/login", None).await;
    assert!(
        flows["flows"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "m.login.token", "get_login_token": true})),
        "{flows}"
    );
    let (user_id, token, device) = s.register("erin", "erin-password-1").await;
    let res = s.post(GET_TOKEN, None, json!({})).await;
    assert_error(&res, 401, "M_MISSING_TOKEN");
    let (status, challenge) = s.post(GET_TOKEN, Some(&token), json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge["flows"],
        json!([{"stages": ["m.login.password"]}])
    );
    let auth = TestServer::password_auth(&challenge["session"], &user_id, "erin-password-1");
    let (status, res) = s
        .post(GET_TOKEN, Some(&token), json!({ "auth": auth }))
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["expires_in_ms"], 300_000);
    let login_token = res["login_token"].as_str().unwrap().to_owned();
    // The same UIA session cannot mint a second token.
    let (status, _) = s
        .post(GET_TOKEN, Some(&token), json!({ "auth": auth }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, res) = token_login(&s, &login_token).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], user_id);
    assert_ne!(res["device_id"], device);
    let again = token_login(&s, &login_token).await;
    assert_error(&again, 403, "M_FORBIDDEN");
}

both!(
    username_picker_with_confirm_localpart,
    username_check_needs_the_pickers_cookie
);

/// The availability check answers only the browser in the middle of a
/// sign-up (the picker's cookie), so it is no oracle for anyone else:
/// without the cookie, or with a forged one, taken and free names get the
/// same 400.
async fn username_check_needs_the_pickers_cookie(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(
        Arc::new(fresh_database(b).await),
        &idp,
        "        confirm_localpart: true\n",
    )
    .await;
    s.register("alice", "alice-password-1").await;
    let check = |name: &str| format!("/_synapse/client/pick_username/check?username={name}");
    for name in ["alice", "alicia"] {
        let res = s.get(&check(name), None).await;
        assert_error(&res, 400, "M_UNKNOWN");
        let forged = s
            .raw()
            .get(format!("{}{}", s.base, check(name)))
            .header("cookie", "mxauth_sso_username=abc.def")
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    }
    // The browser that is choosing gets its answer.
    let mut browser = Browser::new();
    let landing = browser.sso(&s.base, "alice", CLIENT_URL).await;
    assert_eq!(landing.status, StatusCode::FOUND, "{}", landing.body);
    assert_eq!(
        ask_available(&s, &mut browser, "alice").await,
        (StatusCode::OK, json!({"available": false}))
    );
}

/// The picker's availability check, asked by `browser` (with its cookies).
async fn ask_available(s: &TestServer, browser: &mut Browser, name: &str) -> (StatusCode, Value) {
    let landing = browser
        .get(&format!(
            "{}/_synapse/client/pick_username/check?username={name}",
            s.base
        ))
        .await;
    let body = serde_json::from_str(&landing.body).unwrap_or(Value::Null);
    (landing.status, body)
}

async fn username_picker_with_confirm_localpart(b: Backend) {
    let idp = OidcProvider::start();
    let s = start(
        Arc::new(fresh_database(b).await),
        &idp,
        "        confirm_localpart: true\n",
    )
    .await;
    s.register("alice", "alice-password-1").await;
    let mut browser = Browser::new();
    let landing = browser.sso(&s.base, "alice", CLIENT_URL).await;
    assert_eq!(landing.status, StatusCode::FOUND, "{}", landing.body);
    let picker = format!("{}{}", s.base, landing.location.unwrap());
    assert_eq!(
        picker,
        format!("{}/_synapse/client/pick_username/account_details", s.base)
    );
    let form = browser.get(&picker).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form.body.contains("value=\"alice\""), "{}", form.body);
    assert!(form.body.contains("Alice Liddell"), "{}", form.body);
    assert!(form.body.contains("alice@wonderland.test"), "{}", form.body);

    // The availability check, with the picker's cookie.
    assert_eq!(
        ask_available(&s, &mut browser, "alice").await,
        (StatusCode::OK, json!({"available": false}))
    );
    assert_eq!(
        ask_available(&s, &mut browser, "alicia").await,
        (StatusCode::OK, json!({"available": true}))
    );
    let bad = ask_available(&s, &mut browser, "Bad%20Name!").await;
    assert_error(&bad, 400, "M_INVALID_USERNAME");

    // Another browser has no business with this sign-up.
    let stranger = Browser::new().get(&picker).await;
    assert_eq!(stranger.status, StatusCode::BAD_REQUEST);

    // Taken: the form again, with the reason.
    let taken = browser.post_form(&picker, &[("username", "alice")]).await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST, "{}", taken.body);
    assert!(taken.body.contains("taken"), "{}", taken.body);
    // Refused by the localpart rules: the form again too, with their reason
    // and what was typed.
    let invalid = browser.post_form(&picker, &[("username", "_alice")]).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST, "{}", invalid.body);
    assert!(invalid.body.contains("<form"), "{}", invalid.body);
    assert!(
        invalid.body.contains("User ID may not begin with _"),
        "{}",
        invalid.body
    );
    assert!(
        invalid.body.contains("value=\"_alice\""),
        "{}",
        invalid.body
    );
    // Chosen: display name ticked, email not.
    let done = browser
        .post_form(
            &picker,
            &[("username", "Alicia"), ("use_display_name", "true")],
        )
        .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let (status, res) = token_login(&s, &login_token_of(&done.location.unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], "@alicia:test.example");
    let store = store_of(&s).await;
    let user = store
        .users()
        .get_user("@alicia:test.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.displayname.as_deref(), Some("Alice Liddell"));
    assert!(store
        .threepids()
        .list_user_threepids("@alicia:test.example")
        .await
        .unwrap()
        .is_empty());
    // The sign-up is over; the next login goes straight through the link.
    let again = browser.post_form(&picker, &[("username", "alicia2")]).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(!again.body.contains("<form"), "{}", again.body);
    assert!(
        again
            .body
            .contains("This sign-up has expired or was finished"),
        "{}",
        again.body
    );
    let landing = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    let (_, res) = token_login(&s, &login_token_of(&landing.location.unwrap())).await;
    assert_eq!(res["user_id"], "@alicia:test.example");
}
