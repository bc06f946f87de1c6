//! The one decision about where a browser may be sent after SSO.
//!
//! A client names its `redirectUrl`; the browser goes straight back to it
//! (with the login token) only when it is under one of the admin's
//! `sso.client_whitelist` prefixes (or mxauth's own login fallback). Any
//! other http(s) URL gets a confirmation page that names its host; anything
//! else is refused. Nothing here is a string prefix test on the raw URL:
//! both sides are parsed, and scheme, host, port and path segments compared.

use url::Url;

/// What may be done with a client's redirect URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectTarget {
    /// Under an allow-listed prefix: redirect straight back.
    Trusted(Url),
    /// A well-formed http(s) URL elsewhere: only through a confirmation
    /// page that names `host`.
    Untrusted { url: Url, host: String },
    /// Not an absolute http(s) URL one can safely link to.
    Invalid,
}

/// Classifies `target` against the allow-listed URL prefixes.
pub fn classify_redirect(target: &str, allowed_prefixes: &[String]) -> RedirectTarget {
    let Some(url) = parse_absolute_http(target) else {
        return RedirectTarget::Invalid;
    };
    let Some(host) = url.host_str().map(str::to_owned) else {
        return RedirectTarget::Invalid;
    };
    let trusted = allowed_prefixes
        .iter()
        .filter_map(|p| parse_absolute_http(p))
        .any(|prefix| is_under(&url, &prefix));
    if trusted {
        RedirectTarget::Trusted(url)
    } else {
        RedirectTarget::Untrusted { url, host }
    }
}

/// Parses `text` as an absolute `http://` or `https://` URL with a host and
/// no user info. Refuses what browsers and parsers read differently:
/// backslashes, control characters and whitespace anywhere, and anything
/// that does not literally start with the scheme and `//`.
fn parse_absolute_http(text: &str) -> Option<Url> {
    if text
        .chars()
        .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    {
        return None;
    }
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return None;
    }
    let url = Url::parse(text).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    match url.host_str() {
        Some(h) if !h.is_empty() => Some(url),
        _ => None,
    }
}

/// Whether `url` is at or below `prefix`: same scheme, host and port, and
/// a path that continues the prefix's path at a segment boundary.
fn is_under(url: &Url, prefix: &Url) -> bool {
    if url.scheme() != prefix.scheme()
        || url.host() != prefix.host()
        || url.port_or_known_default() != prefix.port_or_known_default()
    {
        return false;
    }
    let (path, base) = (url.path(), prefix.path());
    if base.ends_with('/') {
        return path.starts_with(base);
    }
    path == base || path.strip_prefix(base).is_some_and(|r| r.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec![
            "https://allowed.example/".to_owned(),
            "https://app.example/client".to_owned(),
            "http://127.0.0.1:8080/".to_owned(),
        ]
    }

    fn trusted(target: &str) -> bool {
        matches!(
            classify_redirect(target, &allowed()),
            RedirectTarget::Trusted(_)
        )
    }

    fn host_if_untrusted(target: &str) -> Option<String> {
        match classify_redirect(target, &allowed()) {
            RedirectTarget::Untrusted { host, .. } => Some(host),
            _ => None,
        }
    }

    fn invalid(target: &str) -> bool {
        classify_redirect(target, &allowed()) == RedirectTarget::Invalid
    }

    #[test]
    fn allow_listed_urls_go_straight_back() {
        assert!(trusted("https://allowed.example/"));
        assert!(trusted("https://allowed.example/#/login?x=1"));
        assert!(trusted("https://ALLOWED.example/path"));
        assert!(trusted("HTTPS://allowed.example/path"));
        assert!(trusted("https://allowed.example:443/path"));
        assert!(trusted("https://app.example/client"));
        assert!(trusted("https://app.example/client/"));
        assert!(trusted("https://app.example/client?q=1"));
        assert!(trusted("http://127.0.0.1:8080/cb"));
    }

    #[test]
    fn scheme_relative_and_backslash_tricks_are_refused() {
        assert!(invalid("//evil.example"));
        assert!(invalid("//evil.example/https://allowed.example/"));
        assert!(invalid("/\\evil.example"));
        assert!(invalid("\\\\evil.example"));
        assert!(invalid("https:\\\\evil.example"));
        assert!(invalid("https://allowed.example\\@evil.example/"));
        assert!(invalid("/relative/path"));
        assert!(invalid(""));
        assert!(invalid("https:evil.example"));
        assert!(invalid("https:/evil.example"));
    }

    #[test]
    fn other_schemes_are_refused() {
        assert!(invalid("javascript:alert(1)"));
        assert!(invalid("JavaScript:alert(1)"));
        assert!(invalid("java\tscript:alert(1)"));
        assert!(invalid(" javascript:alert(1)"));
        assert!(invalid("data:text/html,<script>alert(1)</script>"));
        assert!(invalid("ftp://allowed.example/"));
        assert!(invalid("element://vector/webapp/"));
    }

    #[test]
    fn look_alike_hosts_need_confirmation() {
        assert_eq!(
            host_if_untrusted("https://allowed.example.evil.example/"),
            Some("allowed.example.evil.example".into())
        );
        assert_eq!(
            host_if_untrusted("https://evil.example/allowed.example/"),
            Some("evil.example".into())
        );
        assert_eq!(
            host_if_untrusted("https://app.example/client-evil"),
            Some("app.example".into())
        );
        assert_eq!(
            host_if_untrusted("https://app.example/clientx/y"),
            Some("app.example".into())
        );
        assert_eq!(
            host_if_untrusted("http://allowed.example/"),
            Some("allowed.example".into())
        );
        assert_eq!(
            host_if_untrusted("https://allowed.example:8443/"),
            Some("allowed.example".into())
        );
    }

    #[test]
    fn user_info_is_refused() {
        assert!(invalid("https://user@evil.example/"));
        assert!(invalid("https://allowed.example@evil.example/"));
        assert!(invalid("https://allowed.example:pw@evil.example/"));
        assert!(invalid("https://allowed.example%2F@evil.example/"));
        assert!(invalid(
            "https://allowed.example%40evil.example@evil.example/"
        ));
    }

    #[test]
    fn percent_encoded_and_mixed_case_tricks() {
        // An encoded dot in the host decodes to another host.
        assert_eq!(
            host_if_untrusted("https://evil%2Eexample/"),
            Some("evil.example".into())
        );
        assert_eq!(
            host_if_untrusted("https://allowed.example%2Eevil.example/"),
            Some("allowed.example.evil.example".into())
        );
        // An encoded slash is not a path separator for the prefix match.
        assert_eq!(
            host_if_untrusted("https://app.example/client%2F..%2Fother"),
            Some("app.example".into())
        );
        assert!(!trusted("https://app.example/client%2Fx"));
        assert!(trusted("https://AlLoWeD.ExAmPlE/x"));
        assert!(trusted("hTTpS://allowed.example/x"));
        // Dot segments are resolved before the comparison.
        assert!(!trusted("https://app.example/client/../admin"));
        assert!(!trusted("https://app.example/client/%2e%2e/admin"));
    }

    #[test]
    fn untrusted_urls_keep_their_host_for_the_page() {
        match classify_redirect("https://Other.Example:8443/p?q=1", &allowed()) {
            RedirectTarget::Untrusted { url, host } => {
                assert_eq!(host, "other.example");
                assert_eq!(url.as_str(), "https://other.example:8443/p?q=1");
            }
            other => panic!("expected Untrusted, got {other:?}"),
        }
    }
}
