//! A scripted browser: a cookie jar, redirects followed by hand, and on each
//! HTML page the first `<form method="post">` submitted with its hidden
//! inputs and the user's `username` / `password` filled in. It reads no
//! wording of the pages, only their forms (the contract of mxauth's pages:
//! every form is `<form method="post" action="...">` with hidden inputs, the
//! login form has `username` and `password`, the consent page's first form
//! approves).

use anyhow::{Context, Result, anyhow, bail};
use reqwest::{Method, StatusCode, header};
use scraper::{ElementRef, Html, Selector};
use url::Url;

/// Pages and redirects walked before giving up (a loop between pages).
const MAX_STEPS: usize = 20;

pub struct Browser {
    http: reqwest::Client,
    username: String,
    password: String,
}

/// The first POST form of a page, ready to submit.
#[derive(Debug, PartialEq)]
pub struct Form {
    pub action: Url,
    pub fields: Vec<(String, String)>,
    /// It has a `password` input: a login page.
    pub asks_password: bool,
}

/// The one place this binary builds its own HTTP clients (mxauth's
/// clippy.toml, which applies here too, wants one place): redirects not
/// followed, a timeout so that a silent server fails the run.
#[allow(clippy::disallowed_methods)]
pub fn http_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
}

impl Browser {
    pub fn new(username: &str, password: &str) -> Result<Self> {
        let http = http_client_builder()
            .cookie_store(true)
            .user_agent("mxauth-rust-oauth-client (scripted browser)")
            .build()
            .context("building the browser's HTTP client")?;
        Ok(Self {
            http,
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }

    /// Opens `start` and walks redirects and forms until a redirect goes to
    /// `redirect_uri` (same scheme, host, port and path); returns that
    /// redirect's full target, which is not followed.
    pub async fn walk_to_redirect(&self, start: &Url, redirect_uri: &Url) -> Result<Url> {
        let mut method = Method::GET;
        let mut url = start.clone();
        let mut body: Option<Vec<(String, String)>> = None;
        let mut logins_posted = 0;
        for _ in 0..MAX_STEPS {
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(fields) = &body {
                request = request.form(fields);
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("{method} {url}"))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .ok_or_else(|| anyhow!("{method} {url}: {status} without a Location"))?
                    .to_str()
                    .with_context(|| format!("{method} {url}: Location is not text"))?;
                let target = url
                    .join(location)
                    .with_context(|| format!("{method} {url}: bad Location {location:?}"))?;
                println!("  browser: {method} {url} -> {status}, Location {target}");
                if same_endpoint(&target, redirect_uri) {
                    return Ok(target);
                }
                // A browser turns every redirect but 307/308 into a GET.
                if status != StatusCode::TEMPORARY_REDIRECT
                    && status != StatusCode::PERMANENT_REDIRECT
                {
                    method = Method::GET;
                    body = None;
                }
                url = target;
                continue;
            }
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let text = response
                .text()
                .await
                .with_context(|| format!("{method} {url}: body"))?;
            if !status.is_success() {
                bail!(
                    "{method} {url}: {status} ({content_type}): {}",
                    excerpt(&text)
                );
            }
            if !content_type.starts_with("text/html") {
                bail!(
                    "{method} {url}: {status} with {content_type:?}, not an HTML page: {}",
                    excerpt(&text)
                );
            }
            let form = first_post_form(&text, &url)?.ok_or_else(|| {
                anyhow!(
                    "{method} {url}: a page with no <form method=\"post\">: {}",
                    excerpt(&text)
                )
            })?;
            if form.asks_password {
                logins_posted += 1;
                if logins_posted > 1 {
                    bail!(
                        "{method} {url}: the login form came back after the password was posted \
                         (wrong credentials, or a lost browser session?): {}",
                        excerpt(&text)
                    );
                }
            }
            let fields = self.fill(form.fields);
            let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
            println!(
                "  browser: {method} {url} -> {status} page; posting its first form to {} with {names:?}",
                form.action
            );
            method = Method::POST;
            url = form.action;
            body = Some(fields);
        }
        bail!("no redirect to {redirect_uri} after {MAX_STEPS} pages and redirects")
    }

    fn fill(&self, fields: Vec<(String, String)>) -> Vec<(String, String)> {
        fields
            .into_iter()
            .map(|(name, value)| match name.as_str() {
                "username" => (name, self.username.clone()),
                "password" => (name, self.password.clone()),
                _ => (name, value),
            })
            .collect()
    }
}

/// Same scheme, host, port and path: where the authorization server sends the
/// browser back to the client, whatever the query or fragment.
fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

/// The first `<form method="post">` of `html` (served at `page`): its action
/// resolved against the page (none or empty = the page itself), and the
/// fields a browser would send when its first submit button is pressed:
/// every named `input` (hidden ones as they are; checkboxes and radios only
/// when checked; buttons only the first submit), `textarea`s, and `select`s
/// (their selected or else first option).
pub fn first_post_form(html: &str, page: &Url) -> Result<Option<Form>> {
    let doc = Html::parse_document(html);
    let forms = selector("form");
    let Some(form) = doc.select(&forms).find(|f| {
        f.value()
            .attr("method")
            .is_some_and(|m| m.eq_ignore_ascii_case("post"))
    }) else {
        return Ok(None);
    };
    let action = match form.value().attr("action").map(str::trim) {
        None | Some("") => page.clone(),
        Some(a) => page
            .join(a)
            .with_context(|| format!("form action {a:?} on {page}"))?,
    };
    let mut fields = Vec::new();
    let mut asks_password = false;
    let mut submitted = false;
    let controls = selector("input, button, textarea, select");
    for control in form.select(&controls) {
        let el = control.value();
        if el.attr("disabled").is_some() {
            continue;
        }
        // The first submit button is the one pressed, named or not.
        let kind = el.attr("type").map(str::to_ascii_lowercase);
        let is_submit = match el.name() {
            "input" => matches!(kind.as_deref(), Some("submit" | "image")),
            "button" => matches!(kind.as_deref(), None | Some("submit")),
            _ => false,
        };
        if is_submit {
            if submitted {
                continue;
            }
            submitted = true;
        }
        let Some(name) = el.attr("name").filter(|n| !n.is_empty()) else {
            continue;
        };
        let value = el.attr("value").unwrap_or("").to_owned();
        match el.name() {
            "input" => match kind.as_deref().unwrap_or("text") {
                "checkbox" | "radio" => {
                    if el.attr("checked").is_some() {
                        let value = el.attr("value").unwrap_or("on").to_owned();
                        fields.push((name.to_owned(), value));
                    }
                }
                "submit" | "image" => fields.push((name.to_owned(), value)),
                "button" | "reset" | "file" => {}
                _ => {
                    if kind.as_deref() == Some("password") || name == "password" {
                        asks_password = true;
                    }
                    fields.push((name.to_owned(), value));
                }
            },
            "button" if is_submit => fields.push((name.to_owned(), value)),
            "textarea" => fields.push((name.to_owned(), text_of(control))),
            "select" => {
                let options: Vec<ElementRef> = control.select(&selector("option")).collect();
                let chosen = options
                    .iter()
                    .find(|o| o.value().attr("selected").is_some())
                    .or(options.first());
                if let Some(option) = chosen {
                    let value = option
                        .value()
                        .attr("value")
                        .map(str::to_owned)
                        .unwrap_or_else(|| text_of(*option));
                    fields.push((name.to_owned(), value));
                }
            }
            _ => {}
        }
    }
    Ok(Some(Form {
        action,
        fields,
        asks_password,
    }))
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("a valid CSS selector")
}

fn text_of(el: ElementRef) -> String {
    el.text().collect()
}

/// The start of a body, on one line, for an error message.
pub fn excerpt(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 400 {
        format!("{}...", flat.chars().take(400).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("http://127.0.0.1:8008/login?next=abc").unwrap()
    }

    #[test]
    fn takes_the_first_post_form_with_its_hidden_inputs() {
        let html = r#"<!doctype html><html><body>
            <form method="get" action="/search"><input name="q"></form>
            <form method="POST" action="/login/submit">
              <input type="hidden" name="csrf_token" value="tok">
              <label>User <input name="username" autocomplete="username"></label>
              <input type="password" name="password">
              <input type="checkbox" name="remember">
              <input type="checkbox" name="keep" value="yes" checked>
              <button type="submit" name="action" value="login">Sign in</button>
              <button type="submit" name="action" value="other">Other</button>
            </form>
            <form method="post" action="/decline"><input type="hidden" name="x" value="y"></form>
        </body></html>"#;
        let form = first_post_form(html, &page()).unwrap().unwrap();
        assert_eq!(form.action.as_str(), "http://127.0.0.1:8008/login/submit");
        assert!(form.asks_password);
        let fields: Vec<(&str, &str)> = form
            .fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("csrf_token", "tok"),
                ("username", ""),
                ("password", ""),
                ("keep", "yes"),
                ("action", "login")
            ]
        );
    }

    #[test]
    fn an_empty_action_posts_to_the_page_and_a_relative_one_resolves() {
        let html =
            r#"<form method="post"><input type="hidden" name="csrf_token" value="a"></form>"#;
        let form = first_post_form(html, &page()).unwrap().unwrap();
        assert_eq!(form.action, page());
        assert!(!form.asks_password);
        let html = r#"<form method="post" action="consent?id=1"><input type=hidden name=csrf_token value=b><input type=submit value=Allow></form>"#;
        let form = first_post_form(html, &page()).unwrap().unwrap();
        assert_eq!(form.action.as_str(), "http://127.0.0.1:8008/consent?id=1");
        assert_eq!(form.fields, [("csrf_token".to_owned(), "b".to_owned())]);
    }

    #[test]
    fn the_first_submit_button_is_pressed_even_without_a_name() {
        let html = r#"<form method="post"><button>Allow</button><button name="action" value="deny">Deny</button></form>"#;
        let form = first_post_form(html, &page()).unwrap().unwrap();
        assert_eq!(form.fields, []);
    }

    #[test]
    fn no_post_form_is_none() {
        let html = r#"<p>Nothing</p><form action="/x"><input name="a"></form>"#;
        assert_eq!(first_post_form(html, &page()).unwrap(), None);
    }

    #[test]
    fn the_redirect_uri_matches_on_scheme_host_port_and_path() {
        let r = Url::parse("http://127.0.0.1:4567/").unwrap();
        assert!(same_endpoint(
            &Url::parse("http://127.0.0.1:4567/?code=a&state=b").unwrap(),
            &r
        ));
        assert!(!same_endpoint(
            &Url::parse("http://127.0.0.1:4568/?code=a").unwrap(),
            &r
        ));
        let p = Url::parse("org.example.rust-oauth:/callback").unwrap();
        assert!(same_endpoint(
            &Url::parse("org.example.rust-oauth:/callback?code=a").unwrap(),
            &p
        ));
        assert!(!same_endpoint(
            &Url::parse("org.example.other:/callback?code=a").unwrap(),
            &p
        ));
    }
}
