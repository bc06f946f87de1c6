//! Upstream OpenID Connect providers on the OAuth 2.0 login page: a button
//! per provider starts the existing SSO flow (a real `oidc-provider`),
//! whose callback logs the browser in at mxauth's pages and continues the
//! grant at consent, with SSO's account rules. The device grant's and
//! the account pages' login page offer the same buttons.

use crate::both;
use crate::oauth_support::*;
use crate::sso::{between, free_port, sso_config, Browser, Landing, OidcProvider, CLIENT_URL};
use crate::support::{fresh_database, Backend, TestServer};
use reqwest::StatusCode;
use std::sync::Arc;

both!(
    the_login_page_has_a_button_per_provider,
    an_existing_linked_user_continues_the_grant,
    a_new_user_continues_the_grant,
    the_username_picker_continues_the_grant,
    another_browser_cannot_continue_the_grant,
    a_deactivated_user_gets_no_consent,
    a_device_grant_and_the_account_pages_sign_in_upstream,
);

/// mxauth with OAuth 2.0 on and the test provider (`extra` YAML lines).
pub(crate) async fn server(b: Backend, idp: &OidcProvider, extra: &str) -> TestServer {
    let p = idp.config(extra);
    let port = free_port();
    TestServer::builder(Arc::new(fresh_database(b).await))
        .config(move |c| {
            sso_config(c, port, vec![p]);
            let base = c.public_baseurl.clone().unwrap();
            oauth_with_test_clients(c, &base);
        })
        .start()
        .await
}

/// `/authorize` for [`APP`] in `browser`: the login page (its body) and the
/// PKCE verifier.
pub(crate) async fn login_page(
    browser: &mut Browser,
    s: &TestServer,
    device: &str,
) -> (String, String) {
    let (verifier, challenge) = pkce(&format!("upstream-verifier-{device}"));
    let landing = browser
        .get(&authorize_url(s, APP, &scope(device), &challenge))
        .await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    let page = browser
        .get(&format!("{}{}", s.base, landing.location.unwrap()))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    (page.body, verifier)
}

/// The provider button's link on a login page.
fn provider_link(body: &str) -> String {
    between(body, "class=\"provider\" href=\"", "\"").expect("a provider button")
}

/// From the login page through the provider (as `login`) to mxauth's
/// callback: where the callback sends the browser.
pub(crate) async fn through_provider(
    browser: &mut Browser,
    s: &TestServer,
    body: &str,
    login: &str,
) -> Landing {
    let start = format!("{}{}", s.base, provider_link(body));
    let callback = browser.walk_from(&start, login).await;
    browser.get(&callback).await
}

/// From the callback's answer on: consent approved; the client's code.
async fn approve(browser: &mut Browser, s: &TestServer, landing: Landing, user: &str) -> String {
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    let location = landing.location.unwrap();
    assert!(location.starts_with("/oauth2/consent?grant="), "{location}");
    assert!(browser.has_cookie("mxauth_browser_session"));
    let consent = browser.get(&format!("{}{location}", s.base)).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(
        consent.body.contains(&format!("id=\"user\">{user}<")),
        "{}",
        consent.body
    );
    let back = submit(browser, s, &first_form(&consent.body), &[]).await;
    let location = back.location.expect("back to the client");
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    param(&location, "code").expect("a code")
}

/// The code exchanged; whoami with the access token.
async fn assert_token_is_for(s: &TestServer, code: &str, verifier: &str, user: &str, device: &str) {
    let tokens = exchange(s, APP, code, verifier).await;
    let (status, who) = whoami(s, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["user_id"], user);
    assert_eq!(who["device_id"], device);
}

async fn the_login_page_has_a_button_per_provider(b: Backend) {
    let idp = OidcProvider::start();
    let s = server(b, &idp, "").await;
    let mut browser = Browser::new();
    let (body, _) = login_page(&mut browser, &s, "UPDEV0").await;
    assert!(body.contains("Continue with Test IdP"), "{body}");
    let link = provider_link(&body);
    assert!(
        link.starts_with("/oauth2/upstream/oidc-test?grant="),
        "{link}"
    );
    // The password form is still the first form.
    assert!(first_form(&body)
        .1
        .iter()
        .any(|(name, _)| name == "password"));
    // An unknown provider: an error page, no redirect.
    let grant = link.split("grant=").nth(1).unwrap().to_owned();
    let unknown = browser
        .get(&format!("{}/oauth2/upstream/nope?grant={grant}", s.base))
        .await;
    assert!(unknown.status.is_client_error(), "{:?}", unknown.status);
    assert!(unknown.location.is_none());
}

async fn an_existing_linked_user_continues_the_grant(b: Backend) {
    let idp = OidcProvider::start();
    let s = server(b, &idp, "").await;
    // alice signs in through SSO first (legacy), which links her account.
    let first = Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    assert_eq!(first.status, StatusCode::FOUND, "{}", first.body);

    let mut browser = Browser::new();
    let (body, verifier) = login_page(&mut browser, &s, "UPDEV1").await;
    let landing = through_provider(&mut browser, &s, &body, "alice").await;
    let code = approve(&mut browser, &s, landing, "@alice:test.example").await;
    assert_token_is_for(&s, &code, &verifier, "@alice:test.example", "UPDEV1").await;
    // The browser is logged in now: the next authorization goes straight
    // to consent.
    let (_, challenge) = pkce("upstream-verifier-again");
    let again = browser
        .get(&authorize_url(&s, APP, &scope("UPDEV2"), &challenge))
        .await;
    assert!(
        again
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/oauth2/consent")),
        "{again:?}"
    );
}

async fn a_new_user_continues_the_grant(b: Backend) {
    let idp = OidcProvider::start();
    let s = server(b, &idp, "").await;
    let mut browser = Browser::new();
    let (body, verifier) = login_page(&mut browser, &s, "UPDEV3").await;
    let landing = through_provider(&mut browser, &s, &body, "bob").await;
    let code = approve(&mut browser, &s, landing, "@bob:test.example").await;
    assert_token_is_for(&s, &code, &verifier, "@bob:test.example", "UPDEV3").await;
    // Created and linked as an SSO login creates: the next SSO login of
    // bob is the same account.
    let legacy = Browser::new().sso(&s.base, "bob", CLIENT_URL).await;
    let token = crate::sso::login_token_of(&legacy.location.unwrap());
    let (status, res) = s
        .post(
            "/_matrix/client/v3/login",
            None,
            serde_json::json!({"type": "m.login.token", "token": token}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], "@bob:test.example");
}

async fn the_username_picker_continues_the_grant(b: Backend) {
    let idp = OidcProvider::start();
    let s = server(b, &idp, "        confirm_localpart: true\n").await;
    let mut browser = Browser::new();
    let (body, verifier) = login_page(&mut browser, &s, "UPDEV4").await;
    let landing = through_provider(&mut browser, &s, &body, "carol").await;
    assert_eq!(landing.status, StatusCode::FOUND, "{}", landing.body);
    let picker = format!("{}{}", s.base, landing.location.unwrap());
    assert!(picker.ends_with("/_synapse/client/pick_username/account_details"));
    let done = browser
        .post_form(&picker, &[("username", "caroline")])
        .await;
    let code = approve(&mut browser, &s, done, "@caroline:test.example").await;
    assert_token_is_for(&s, &code, &verifier, "@caroline:test.example", "UPDEV4").await;
}

async fn another_browser_cannot_continue_the_grant(b: Backend) {
    let idp = OidcProvider::start();
    let s = server(b, &idp, "").await;
    let mut victim = Browser::new();
    let (body, _) = login_page(&mut victim, &s, "UPDEV5").await;
    // Someone else's browser cannot start the provider flow for this grant.
    let mut other = Browser::new();
    let stolen = other
        .get(&format!("{}{}", s.base, provider_link(&body)))
        .await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST, "{}", stolen.body);
    assert!(stolen.location.is_none());
    // Nor take the callback of the victim's flow.
    let start = format!("{}{}", s.base, provider_link(&body));
    let callback = victim.walk_from(&start, "alice").await;
    let taken = other.get(&callback).await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST, "{}", taken.body);
    assert!(!other.has_cookie("mxauth_browser_session"));
    // That state was used up; the victim starts over and goes on.
    let landing = through_provider(&mut victim, &s, &body, "alice").await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
}

async fn a_deactivated_user_gets_no_consent(b: Backend) {
    let idp = OidcProvider::start();
    let s = server(b, &idp, "").await;
    Browser::new().sso(&s.base, "alice", CLIENT_URL).await;
    let store = mxauth::store::connect(&s.db.config.url(), 2).await.unwrap();
    mxauth::auth::writes::deactivate_user(&*store, "@alice:test.example")
        .await
        .unwrap();
    let mut browser = Browser::new();
    let (body, _) = login_page(&mut browser, &s, "UPDEV6").await;
    let landing = through_provider(&mut browser, &s, &body, "alice").await;
    assert_eq!(landing.status, StatusCode::FORBIDDEN, "{}", landing.body);
    assert!(landing.body.contains("deactivated"), "{}", landing.body);
    assert!(landing.location.is_none());
}

async fn a_device_grant_and_the_account_pages_sign_in_upstream(b: Backend) {
    let idp = OidcProvider::start();
    let s = server(b, &idp, "").await;

    // A device's codes; the user code typed at /link; the login page
    // offers the provider for this device grant.
    let (status, codes) = {
        let res = s
            .raw()
            .post(format!("{}/oauth2/device", s.base))
            .form(&[("client_id", APP), ("scope", &scope("UPTV1"))])
            .send()
            .await
            .unwrap();
        (res.status(), res.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK, "{codes}");
    let mut browser = Browser::new();
    let link = browser
        .get(&format!(
            "{}/link?code={}",
            s.base,
            codes["user_code"].as_str().unwrap()
        ))
        .await;
    let login = submit(&mut browser, &s, &first_form(&link.body), &[]).await;
    let page = browser
        .get(&format!("{}{}", s.base, login.location.unwrap()))
        .await;
    let button = provider_link(&page.body);
    assert!(
        button.starts_with("/oauth2/upstream/oidc-test?device="),
        "{button}"
    );
    // Through the provider (a new user), back to the device's consent.
    let landing = through_provider(&mut browser, &s, &page.body, "carol").await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    let consent = landing.location.unwrap();
    assert!(
        consent.starts_with("/oauth2/device/consent?device="),
        "{consent}"
    );
    let page = browser.get(&format!("{}{consent}", s.base)).await;
    assert!(page.body.contains("@carol:test.example"), "{}", page.body);
    let done = submit(&mut browser, &s, &first_form(&page.body), &[]).await;
    assert!(
        done.body.contains("data-outcome=\"approved\""),
        "{}",
        done.body
    );
    let (status, tokens) = token_request(
        &s,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", codes["device_code"].as_str().unwrap()),
            ("client_id", APP),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (_, who) = whoami(&s, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(who["user_id"], "@carol:test.example");
    assert_eq!(who["device_id"], "UPTV1");

    // The account pages, in a fresh browser: the provider's button, then
    // back to the page asked for.
    let mut other = Browser::new();
    let asked = "/account/?action=org.matrix.devices_list";
    let to_login = other.get(&format!("{}{asked}", s.base)).await;
    assert_eq!(to_login.status, StatusCode::SEE_OTHER, "{}", to_login.body);
    let page = other
        .get(&format!("{}{}", s.base, to_login.location.unwrap()))
        .await;
    let button = provider_link(&page.body);
    assert!(
        button.starts_with("/oauth2/upstream/oidc-test?account="),
        "{button}"
    );
    let landing = through_provider(&mut other, &s, &page.body, "carol").await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    assert_eq!(landing.location.as_deref(), Some(asked));
    let list = other.get(&format!("{}{asked}", s.base)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("UPTV1"), "{}", list.body);
    // carol has no password: her sign-in a moment ago confirms instead.
    let page = other
        .get(&format!(
            "{}/account/?action=org.matrix.account_deactivate",
            s.base
        ))
        .await;
    let form = forms(&page.body)
        .into_iter()
        .find(|f| f.1.iter().any(|(k, v)| k == "op" && v == "deactivate"))
        .expect("the deactivation form");
    let done = submit(&mut other, &s, &form, &[("password", "")]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let (status, _) = whoami(&s, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the device's session ended"
    );
}
