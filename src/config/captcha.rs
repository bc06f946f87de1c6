//! reCAPTCHA for registration (`m.login.recaptcha`):
//! `enable_registration_captcha` with `recaptcha_public_key` and
//! `recaptcha_private_key` (each inline or as `_path`) and
//! `recaptcha_siteverify_api`.

use super::secret::SecretKey;
use super::yaml::{as_string, KResult, KeyError, Map};
use super::Secret;

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &[
    "enable_registration_captcha",
    "recaptcha_public_key",
    "recaptcha_public_key_path",
    "recaptcha_private_key",
    "recaptcha_private_key_path",
    "recaptcha_siteverify_api",
];

/// reCAPTCHA for registration (`m.login.recaptcha`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecaptchaConfig {
    /// `recaptcha_public_key` (or `_path`): the site key clients show.
    pub public_key: String,
    /// `recaptcha_private_key` (or `_path`): the secret sent to siteverify.
    pub private_key: Secret,
    /// `recaptcha_siteverify_api`, default Google's.
    pub siteverify_api: String,
}

/// Google's siteverify endpoint, Synapse's default.
pub(super) const DEFAULT_SITEVERIFY: &str = "https://www.recaptcha.net/recaptcha/api/siteverify";

/// `None` unless `enable_registration_captcha: true` (the other keys are
/// not read then, as in Synapse).
pub(super) fn parse(top: &Map<'_>) -> KResult<Option<RecaptchaConfig>> {
    if !top.bool_or("enable_registration_captcha", false)? {
        return Ok(None);
    }
    let need = |key: &str| -> KResult<Secret> {
        SecretKey::new(key)
            .read(top)?
            .map(|found| found.value)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                KeyError::new(
                    top.path_of(key),
                    "missing: required with `enable_registration_captcha: true`",
                )
            })
    };
    let public_key = need("recaptcha_public_key")?.expose().to_owned();
    let private_key = need("recaptcha_private_key")?;
    let siteverify_api = match top.get("recaptcha_siteverify_api") {
        Some(l) => {
            let url = as_string(l.node())?;
            let parsed = url::Url::parse(&url)
                .map_err(|e| KeyError::new(&l.path, format!("`{url}` is not a valid URL: {e}")))?;
            if parsed.scheme() != "http" && parsed.scheme() != "https" {
                return Err(KeyError::new(&l.path, "must be an http:// or https:// URL"));
            }
            url
        }
        None => DEFAULT_SITEVERIFY.to_owned(),
    };
    Ok(Some(RecaptchaConfig {
        public_key,
        private_key,
        siteverify_api,
    }))
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    const ON: &str = "server_name: example.org\nenable_registration_captcha: true\n";

    #[test]
    fn keys_inline_or_in_files() {
        let c = config(&format!(
            "{ON}recaptcha_public_key: site\nrecaptcha_private_key: sekrit\n"
        ));
        let r = c.recaptcha.expect("enabled");
        assert_eq!(r.public_key, "site");
        assert_eq!(r.private_key.expose(), "sekrit");
        assert_eq!(r.siteverify_api, super::DEFAULT_SITEVERIFY);

        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("public");
        let private = dir.path().join("private");
        std::fs::write(&public, "site-from-file\n").unwrap();
        std::fs::write(&private, "secret-from-file\n").unwrap();
        let c = config(&format!(
            "{ON}recaptcha_public_key_path: '{}'\nrecaptcha_private_key_path: '{}'\n\
             recaptcha_siteverify_api: 'http://localhost:9999/siteverify'\n",
            public.display(),
            private.display()
        ));
        let r = c.recaptcha.expect("enabled");
        assert_eq!(r.public_key, "site-from-file");
        assert_eq!(r.private_key.expose(), "secret-from-file");
        assert_eq!(r.siteverify_api, "http://localhost:9999/siteverify");
    }

    #[test]
    fn off_unless_enabled() {
        let c = config("server_name: example.org\nrecaptcha_public_key: site\n");
        assert_eq!(c.recaptcha, None);
        let c = config(
            "server_name: example.org\nenable_registration_captcha: false\n\
             recaptcha_private_key_path: /nonexistent\n",
        );
        assert_eq!(c.recaptcha, None);
    }

    #[test]
    fn errors_name_their_key() {
        for (body, want) in [
            ("recaptcha_private_key: s\n", "recaptcha_public_key"),
            (
                "recaptcha_public_key: ''\nrecaptcha_private_key: s\n",
                "recaptcha_public_key",
            ),
            ("recaptcha_public_key: p\n", "recaptcha_private_key"),
            (
                "recaptcha_public_key: p\nrecaptcha_private_key: s\n\
                 recaptcha_private_key_path: /x\n",
                "recaptcha_private_key_path",
            ),
            (
                "recaptcha_public_key_path: /nonexistent/mxauth/key\nrecaptcha_private_key: s\n",
                "recaptcha_public_key_path",
            ),
            (
                "recaptcha_public_key: p\nrecaptcha_private_key: s\n\
                 recaptcha_siteverify_api: 'ftp://x/'\n",
                "recaptcha_siteverify_api",
            ),
        ] {
            let (path, shown) = parse_error(&format!("{ON}{body}"));
            assert_eq!(path, want, "{body}: {shown}");
        }
    }
}
