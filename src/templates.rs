//! The HTML pages, as templates (minijinja, the Jinja2 dialect Synapse's
//! templates are written in). The defaults are the files of `templates/`,
//! built in; `templates.custom_template_directory` (Synapse's key) names a
//! folder whose files replace them by file name, as in Synapse: a page
//! that extends `_base.html` gets the admin's `_base.html` if there is one.
//!
//! Values are HTML-escaped by the engine (auto-escape for `.html`), with
//! the five characters mxauth has always escaped (`& < > " '`). Every page
//! is rendered once at load with sample values ([`PAGES`]), so a broken
//! override stops the server at start, naming its file, instead of
//! failing a request later. Turning a rendered page into an HTTP answer
//! (status, headers) is `http::html`'s job.

use minijinja::{context, AutoEscape, Environment, Output, State, Value};
use std::path::{Path, PathBuf};

/// The built-in templates, by file name.
const DEFAULTS: &[(&str, &str)] = &[
    ("_base.html", include_str!("../templates/_base.html")),
    ("style.css", include_str!("../templates/style.css")),
    (
        "_fallback.html",
        include_str!("../templates/_fallback.html"),
    ),
    (
        "recaptcha.html",
        include_str!("../templates/recaptcha.html"),
    ),
    ("terms.html", include_str!("../templates/terms.html")),
    (
        "registration_token.html",
        include_str!("../templates/registration_token.html"),
    ),
    ("password.html", include_str!("../templates/password.html")),
    ("dummy.html", include_str!("../templates/dummy.html")),
    (
        "auth_success.html",
        include_str!("../templates/auth_success.html"),
    ),
    (
        "sso_auth_confirm.html",
        include_str!("../templates/sso_auth_confirm.html"),
    ),
    (
        "sso_auth_success.html",
        include_str!("../templates/sso_auth_success.html"),
    ),
    (
        "sso_login_idp_picker.html",
        include_str!("../templates/sso_login_idp_picker.html"),
    ),
    (
        "sso_redirect_confirm.html",
        include_str!("../templates/sso_redirect_confirm.html"),
    ),
    (
        "sso_error.html",
        include_str!("../templates/sso_error.html"),
    ),
    (
        "oauth_login.html",
        include_str!("../templates/oauth_login.html"),
    ),
    (
        "oauth_register.html",
        include_str!("../templates/oauth_register.html"),
    ),
    (
        "oauth_consent.html",
        include_str!("../templates/oauth_consent.html"),
    ),
    (
        "oauth_error.html",
        include_str!("../templates/oauth_error.html"),
    ),
    (
        "oauth_link.html",
        include_str!("../templates/oauth_link.html"),
    ),
    (
        "oauth_device_done.html",
        include_str!("../templates/oauth_device_done.html"),
    ),
    (
        "account_index.html",
        include_str!("../templates/account_index.html"),
    ),
    (
        "account_profile.html",
        include_str!("../templates/account_profile.html"),
    ),
    (
        "account_password.html",
        include_str!("../templates/account_password.html"),
    ),
    (
        "account_sessions.html",
        include_str!("../templates/account_sessions.html"),
    ),
    (
        "account_session.html",
        include_str!("../templates/account_session.html"),
    ),
    (
        "account_deactivate.html",
        include_str!("../templates/account_deactivate.html"),
    ),
    (
        "account_cross_signing.html",
        include_str!("../templates/account_cross_signing.html"),
    ),
    (
        "account_message.html",
        include_str!("../templates/account_message.html"),
    ),
    (
        "sso_account_deactivated.html",
        include_str!("../templates/sso_account_deactivated.html"),
    ),
    (
        "sso_auth_account_details.html",
        include_str!("../templates/sso_auth_account_details.html"),
    ),
    (
        "email_validation_success.html",
        include_str!("../templates/email_validation_success.html"),
    ),
    (
        "email_validation_failure.html",
        include_str!("../templates/email_validation_failure.html"),
    ),
];

/// Every page mxauth renders, with sample values of every variable it is
/// given (the first comment of each default template lists them). Each is
/// rendered at load; a new page is added here and in [`DEFAULTS`].
pub const PAGES: &[(&str, SampleContext)] = &[
    ("recaptcha.html", || {
        fallback_sample(context! { sitekey => "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI" })
    }),
    ("terms.html", || {
        fallback_sample(context! {
            policy_name => "Privacy Policy",
            terms_url => "https://matrix.example.org/_matrix/consent?v=1.0",
        })
    }),
    ("registration_token.html", || fallback_sample(context! {})),
    ("password.html", || {
        fallback_sample(context! {
            description => "remove a device from your account",
            user_id => "@alice:example.org",
        })
    }),
    ("dummy.html", || fallback_sample(context! {})),
    ("auth_success.html", || context! {}),
    ("sso_auth_confirm.html", || {
        fallback_sample(context! {
            description => "deactivate your account",
            user_id => "@alice:example.org",
            providers => vec![context! {
                idp_id => "oidc-example",
                idp_name => "Example",
                href => "/_matrix/client/v3/auth/m.login.sso/fallback/web?session=s&idp_id=oidc-example",
            }],
        })
    }),
    ("sso_auth_success.html", || context! {}),
    ("sso_login_idp_picker.html", || {
        context! {
            redirect_url => "https://app.example.org/",
            providers => vec![context! {
                idp_id => "oidc-example",
                idp_name => "Example",
                idp_icon => "mxc://example.org/icon",
                idp_brand => "example",
                href => "/_matrix/client/v3/login/sso/redirect/oidc-example?redirectUrl=x",
            }],
        }
    }),
    ("sso_redirect_confirm.html", || {
        context! {
            display_url => "app.example.org",
            redirect_url => "https://app.example.org/?loginToken=syl_x",
        }
    }),
    ("sso_error.html", sso_error_sample),
    ("oauth_login.html", || {
        context! {
            action => "/oauth2/login",
            flow_name => "grant",
            flow_value => "01GRANT",
            grant => "01GRANT",
            flow_name => "grant",
            flow_value => "01GRANT",
            csrf_token => "csrf",
            client_name => "Element",
            username => "alice",
            error => "Invalid username or password",
            email_login => true,
            register_url => "/oauth2/register?grant=01GRANT",
            providers => vec![context! { url => "/oauth2/upstream/oidc-x?grant=01GRANT", name => "X", idp_id => "oidc-x" }],
        }
    }),
    ("oauth_register.html", || {
        context! {
            action => "/oauth2/register",
            flow_name => "grant",
            flow_value => "01GRANT",
            grant => "01GRANT",
            flow_name => "grant",
            flow_value => "01GRANT",
            csrf_token => "csrf",
            client_name => "Element",
            username => "alice",
            error => "User ID already taken.",
            login_url => "/oauth2/login?grant=01GRANT",
            registration_token => true,
            terms_name => "Terms of Service",
            terms_url => "https://example.org/_matrix/consent?v=1.0",
            sitekey => "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI",
            closed => false,
            needs_client => false,
            email => "optional",
            pending => context! {
                email => "alice@example.org",
                session => "uia-session",
                sid => "sid",
                client_secret => "secret",
            },
        }
    }),
    ("oauth_consent.html", || {
        context! {
            action => "/oauth2/consent",
            flow_name => "grant",
            flow_value => "01GRANT",
            grant => "01GRANT",
            csrf_token => "csrf",
            user_id => "@alice:example.org",
            client_name => "Element",
            client_uri => "https://element.example.org",
            tos_uri => "https://element.example.org/tos",
            policy_uri => "https://element.example.org/privacy",
            redirect_host => "element.example.org",
            scopes => vec![context! { scope => "urn:matrix:client:api:*", description => "Act as you" }],
            logout_url => "/oauth2/logout?grant=01GRANT",
        }
    }),
    ("oauth_error.html", || {
        context! { error => "invalid_request", error_description => "Unknown client" }
    }),
    ("oauth_link.html", || {
        context! {
            action => "/link",
            csrf_token => "csrf",
            code => "BCDF-GHJK",
            error => "This code is unknown or expired",
        }
    }),
    ("oauth_device_done.html", || {
        context! { approved => true, client_name => "Element X" }
    }),
    ("account_index.html", || {
        context! {
            user_id => "@alice:example.org",
            displayname => "Alice",
            links => vec![context! { url => "/account/?action=org.matrix.profile", label => "Profile", id => "profile" }],
        }
    }),
    ("account_profile.html", || {
        context! {
            action => "/account/",
            csrf_token => "csrf",
            home_url => "/account/",
            user_id => "@alice:example.org",
            displayname => "Alice",
            emails => vec!["alice@example.org"],
            email_changes => true,
            pending => context! { email => "new@example.org", sid => "sid", client_secret => "secret" },
            notice => "Saved",
            error => "This address is taken",
            sign_in_again_url => "/oauth2/logout?account=%2Faccount%2F&csrf_token=csrf",
            recent_minutes => 5,
        }
    }),
    ("account_password.html", || {
        context! {
            action => "/account/",
            csrf_token => "csrf",
            home_url => "/account/",
            user_id => "@alice:example.org",
            error => "Invalid password",
        }
    }),
    ("account_sessions.html", || {
        context! {
            home_url => "/account/",
            sessions => vec![session_sample()],
        }
    }),
    ("account_session.html", || {
        context! {
            action => "/account/",
            csrf_token => "csrf",
            home_url => "/account/",
            list_url => "/account/?action=org.matrix.devices_list",
            confirm => true,
            session => session_sample(),
        }
    }),
    ("account_deactivate.html", || {
        context! {
            action => "/account/",
            csrf_token => "csrf",
            home_url => "/account/",
            user_id => "@alice:example.org",
            error => "Invalid password",
            sign_in_again_url => "/oauth2/logout?account=%2Faccount%2F&csrf_token=csrf",
            recent_minutes => 5,
        }
    }),
    ("account_cross_signing.html", || {
        context! {
            action => "/account/",
            csrf_token => "csrf",
            home_url => "/account/",
            error => "The homeserver did not answer",
        }
    }),
    ("account_message.html", || {
        context! { title => "Session ended", message => "The session was signed out.", home_url => "/account/" }
    }),
    ("sso_account_deactivated.html", sso_error_sample),
    ("sso_auth_account_details.html", || {
        context! {
            username => "alice",
            display_name => "Alice",
            email => "alice@example.org",
            error => "This username is taken",
        }
    }),
    ("email_validation_success.html", || {
        context! { next_link => "https://app.example.org/next" }
    }),
    ("email_validation_failure.html", || {
        context! { failure_reason => "This link has expired" }
    }),
];

/// Makes the sample variables of a page.
pub type SampleContext = fn() -> Value;

/// A session as the account pages show it.
fn session_sample() -> Value {
    context! {
        device_id => "ABCDEFGHIJ",
        display_name => "Phone",
        client_name => "Element",
        client_uri => "https://element.example.org/",
        created => "2026-01-02 03:04 UTC",
        last_seen => "2026-01-03 03:04 UTC",
        last_seen_ip => "192.0.2.1",
        user_agent => "Element/1.0",
        url => "/account/?action=org.matrix.device_view&device_id=ABCDEFGHIJ",
    }
}

/// The variables of every UIA fallback page, with a stage's own.
fn fallback_sample(stage: Value) -> Value {
    context! {
        session => "sample-session",
        myurl => "/_matrix/client/v3/auth/m.login.dummy/fallback/web",
        error => "A sample error",
        ..stage
    }
}

fn sso_error_sample() -> Value {
    context! { error => "M_FORBIDDEN", error_description => "A sample error" }
}

/// A template that failed to load or render; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

/// The HTML pages: built once at start, shared by every request.
pub struct Templates {
    env: Environment<'static>,
    custom_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("custom_dir", &self.custom_dir)
            .finish_non_exhaustive()
    }
}

impl Templates {
    /// The built-in templates, each replaced by the file of the same name
    /// in `custom_dir` if there is one; every page of [`PAGES`] rendered
    /// once. Files of `custom_dir` that no page uses are not read (a
    /// Synapse custom folder also holds mail templates).
    pub fn load(custom_dir: Option<&Path>) -> Result<Templates, TemplateError> {
        if let Some(dir) = custom_dir {
            if !dir.is_dir() {
                return Err(TemplateError(format!(
                    "the template directory `{}` does not exist",
                    dir.display()
                )));
            }
        }
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") || name.ends_with(".htm") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(escape_formatter);
        let dir = custom_dir.map(Path::to_owned);
        env.set_loader(move |name| load_source(dir.as_deref(), name));
        let templates = Templates {
            env,
            custom_dir: custom_dir.map(Path::to_owned),
        };
        for (name, sample) in PAGES {
            templates.render(name, sample())?;
        }
        Ok(templates)
    }

    /// The page `name` with the variables of `ctx`.
    pub fn render(&self, name: &str, ctx: Value) -> Result<String, TemplateError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| self.error(e))
    }

    /// A template that is not one of the pages (the admin's policy page
    /// for `user_consent`): `source`, read from `path`, rendered by the same
    /// engine, escaping included.
    pub fn render_source(
        &self,
        path: &Path,
        source: &str,
        ctx: Value,
    ) -> Result<String, TemplateError> {
        self.env
            .render_named_str(&path.to_string_lossy(), source, ctx)
            .map_err(|e| TemplateError(format!("`{}`: {e}", path.display())))
    }

    /// Where the failing template came from, then what failed.
    fn error(&self, e: minijinja::Error) -> TemplateError {
        let custom = e
            .name()
            .zip(self.custom_dir.as_deref())
            .and_then(|(name, dir)| {
                let path = dir.join(name);
                (is_plain_name(name) && path.is_file()).then_some(path)
            });
        match (custom, e.name()) {
            (Some(path), _) => TemplateError(format!("`{}`: {e}", path.display())),
            (None, Some(name)) => TemplateError(format!("built-in template `{name}`: {e}")),
            (None, None) => TemplateError(e.to_string()),
        }
    }
}

/// A template name that is a file name: no folders, nothing hidden.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\'])
}

/// The admin's file of that name, else the built-in one.
fn load_source(dir: Option<&Path>, name: &str) -> Result<Option<String>, minijinja::Error> {
    if !is_plain_name(name) {
        return Ok(None);
    }
    if let Some(dir) = dir {
        let path = dir.join(name);
        if path.is_file() {
            return std::fs::read_to_string(&path).map(Some).map_err(|e| {
                minijinja::Error::new(
                    minijinja::ErrorKind::TemplateNotFound,
                    format!("cannot read `{}`: {e}", path.display()),
                )
            });
        }
    }
    Ok(DEFAULTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, source)| (*source).to_owned()))
}

/// HTML escaping as mxauth has always done it (`& < > " '`; minijinja's
/// own escaper also turns `/` into `&#x2f;`, which changes every URL).
fn escape_formatter(
    out: &mut Output,
    state: &mut State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(s) if *state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            out.write_str(&escape_html(s))?;
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// `& < > " '` as entities: safe in text and in quoted attributes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Templates {
        Templates::load(None).expect("the built-in templates load")
    }

    #[test]
    fn every_page_renders_with_its_variables() {
        let mut t = defaults();
        // Strict: a variable a page uses that its sample lacks is an error.
        t.env
            .set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, sample) in PAGES {
            let html = t.render(name, sample()).unwrap();
            assert!(html.starts_with("<!doctype html>"), "{name}: {html}");
            assert!(html.contains("<style>body{"), "{name}: the base layout");
        }
    }

    #[test]
    fn every_default_template_is_used() {
        let used: Vec<&str> = PAGES.iter().map(|(n, _)| *n).collect();
        for (name, _) in DEFAULTS {
            assert!(
                used.contains(name) || ["_base.html", "_fallback.html", "style.css"].contains(name),
                "{name} is built in but no page renders it"
            );
        }
        for name in used {
            assert!(
                DEFAULTS.iter().any(|(n, _)| *n == name),
                "{name} has no built-in template"
            );
        }
    }

    #[test]
    fn pages_show_their_variables() {
        let t = defaults();
        let html = t
            .render(
                "password.html",
                context! { session => "s1", description => "change your password", user_id => "@bob:x" },
            )
            .unwrap();
        assert!(
            html.contains("<title>Confirm your identity</title>"),
            "{html}"
        );
        assert!(html.contains("name=\"session\" value=\"s1\""), "{html}");
        assert!(
            html.contains("A client is trying to <strong>change your password</strong>."),
            "{html}"
        );
        assert!(!html.contains("class=\"error\""), "no error line: {html}");
        let html = t
            .render(
                "dummy.html",
                context! { session => "s1", error => "Not yet" },
            )
            .unwrap();
        assert!(
            html.contains("<p class=\"error\" role=\"alert\">Not yet</p>"),
            "{html}"
        );
    }

    #[test]
    fn values_are_escaped_as_before() {
        let t = defaults();
        let html = t
            .render(
                "sso_redirect_confirm.html",
                context! {
                    display_url => "<b>evil</b>",
                    redirect_url => "https://app.example/cb?a=1&b='\"",
                },
            )
            .unwrap();
        assert!(
            html.contains("<strong id=\"host\">&lt;b&gt;evil&lt;/b&gt;</strong>"),
            "{html}"
        );
        assert!(
            html.contains("href=\"https://app.example/cb?a=1&amp;b=&#39;&quot;\""),
            "{html}"
        );
        assert_eq!(
            escape_html("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
    }

    #[test]
    fn a_custom_directory_replaces_pages_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("dummy.html"),
            "{% extends \"_base.html\" %}{% block body %}<p id=\"mine\">{{ error }}</p>{% endblock %}",
        )
        .unwrap();
        std::fs::write(dir.path().join("style.css"), "body{color:green}").unwrap();
        // A file no page uses is not read, even if it would not parse.
        std::fs::write(dir.path().join("notif_mail.html"), "{% if %}").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let html = t
            .render("dummy.html", context! { session => "s", error => "<x>" })
            .unwrap();
        assert!(html.contains("<p id=\"mine\">&lt;x&gt;</p>"), "{html}");
        assert!(html.contains("<style>body{color:green}</style>"), "{html}");
        // The other pages are the built-in ones, on the admin's style.
        let html = t.render("auth_success.html", context! {}).unwrap();
        assert!(
            html.contains("window.onAuthDone()") && html.contains("color:green"),
            "{html}"
        );
    }

    #[test]
    fn a_broken_custom_template_fails_the_load_naming_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("terms.html"), "<p>{% if %}</p>").unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err().to_string();
        let file = dir.path().join("terms.html").display().to_string();
        assert!(err.contains(&file) && err.contains("syntax error"), "{err}");

        // An error found only when rendering: a layout that is not there.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sso_error.html"),
            "{% extends \"missing.html\" %}",
        )
        .unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(
            err.contains("sso_error.html") && err.contains("missing.html"),
            "{err}"
        );

        // A broken layout names the layout's file.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("_base.html"), "{{ }}").unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(
            err.contains(&dir.path().join("_base.html").display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_missing_directory_fails_the_load() {
        let err = Templates::load(Some(Path::new("/nonexistent/mxauth-templates")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/mxauth-templates"), "{err}");
    }

    #[test]
    fn templates_cannot_reach_outside_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        std::fs::write(dir.path().join("secret.html"), "SECRET").unwrap();
        std::fs::write(
            inner.join("dummy.html"),
            "{% include \"../secret.html\" ignore missing %}ok",
        )
        .unwrap();
        let t = Templates::load(Some(&inner)).unwrap();
        let html = t.render("dummy.html", context! {}).unwrap();
        assert_eq!(html, "ok");
        assert!(load_source(Some(&inner), "/etc/passwd").unwrap().is_none());
    }
}
