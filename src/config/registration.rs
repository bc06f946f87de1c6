//! Registration's keys: `registration_shared_secret` (or `_path`),
//! reCAPTCHA (`enable_registration_captcha`, `recaptcha_*`) and
//! `user_consent`.

use super::*;

/// Synapse's `user_consent` block, the parts about auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentConfig {
    /// `version`: the policy's current version.
    pub version: String,
    /// `template_dir`: holds `<lang>/<version>.html`.
    pub template_dir: std::path::PathBuf,
    /// `require_at_registration`: registration has an `m.login.terms` stage.
    pub require_at_registration: bool,
    /// `policy_name`, default "Privacy Policy".
    pub policy_name: String,
}

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

// ----- registration shared secret -----

pub(super) fn parse_shared_secret(top: &Map<'_>) -> KResult<Option<Secret>> {
    let inline = top.secret("registration_shared_secret")?;
    let path = top.string("registration_shared_secret_path")?;
    match (inline, path) {
        (Some(_), Some(_)) => Err(KeyError::new(
            top.path_of("registration_shared_secret_path"),
            "You have configured both `registration_shared_secret` and \
             `registration_shared_secret_path`. These are mutually incompatible.",
        )),
        // An empty secret disables shared-secret registration, as in Synapse.
        (Some(secret), None) => Ok(Some(secret).filter(|s| !s.is_empty()).map(Secret::new)),
        (None, Some(file)) => {
            let key = top.path_of("registration_shared_secret_path");
            let text = std::fs::read_to_string(&file)
                .map_err(|e| KeyError::new(&key, format!("cannot read `{file}`: {e}")))?;
            let text = Zeroizing::new(text);
            let secret = text.trim();
            if secret.is_empty() {
                return Err(KeyError::new(&key, format!("the file `{file}` is empty")));
            }
            Ok(Some(Secret::new(secret)))
        }
        (None, None) => Ok(None),
    }
}

/// Google's siteverify endpoint, Synapse's default.
pub(super) const DEFAULT_SITEVERIFY: &str = "https://www.recaptcha.net/recaptcha/api/siteverify";

pub(super) fn parse_recaptcha(top: &Map<'_>) -> KResult<Option<RecaptchaConfig>> {
    if !top.bool_or("enable_registration_captcha", false)? {
        return Ok(None);
    }
    let need = |key: &str| -> KResult<String> {
        inline_or_file(top, key)?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                KeyError::new(
                    key,
                    "missing: required with `enable_registration_captcha: true`",
                )
            })
    };
    let public_key = need("recaptcha_public_key")?;
    let private_key = Secret::new(need("recaptcha_private_key")?);
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

pub(super) const CONSENT_KEYS: &[&str] = &[
    "version",
    "template_dir",
    "require_at_registration",
    "policy_name",
];
/// Synapse's consent keys about server notices and event blocking, which
/// are not mxauth's: accepted and ignored.
pub(super) const CONSENT_IGNORED_KEYS: &[&str] = &[
    "server_notice_content",
    "send_server_notice_to_guests",
    "block_events_error",
];

pub(super) fn parse_consent(node: Node<'_>) -> KResult<ConsentConfig> {
    let map = Map::from_node(node)?;
    map.check_keys(CONSENT_KEYS, CONSENT_IGNORED_KEYS)?;
    // YAML reads `version: 1.0` as a number; Synapse uses it as text.
    let version = match map.get("version") {
        Some(l) => match l.value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(KeyError::new(l.path, "expected a version string")),
        },
        None => {
            return Err(KeyError::new(
                map.path_of("version"),
                "missing: the policy version",
            ))
        }
    };
    let template_dir = match map.string("template_dir")? {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            return Err(KeyError::new(
                map.path_of("template_dir"),
                "missing: the folder holding <lang>/<version>.html",
            ))
        }
    };
    let page = template_dir.join("en").join(format!("{version}.html"));
    if !page.is_file() {
        return Err(KeyError::new(
            map.path_of("template_dir"),
            format!("no policy page at `{}`", page.display()),
        ));
    }
    Ok(ConsentConfig {
        version,
        template_dir,
        require_at_registration: map.bool_or("require_at_registration", false)?,
        policy_name: map
            .string("policy_name")?
            .unwrap_or_else(|| "Privacy Policy".to_owned()),
    })
}
