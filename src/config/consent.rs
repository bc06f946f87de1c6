//! `user_consent`: the privacy policy users accept (`m.login.terms`), the
//! parts of Synapse's block that are about auth.

use std::path::PathBuf;

use serde_yaml::Value;

use super::yaml::{KResult, KeyError, Map};

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &["user_consent"];

/// Synapse's `user_consent` block, the parts about auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentConfig {
    /// `version`: the policy's current version.
    pub version: String,
    /// `template_dir`: holds `<lang>/<version>.html`.
    pub template_dir: PathBuf,
    /// `require_at_registration`: registration has an `m.login.terms` stage.
    pub require_at_registration: bool,
    /// `policy_name`, default "Privacy Policy".
    pub policy_name: String,
}

const CONSENT_KEYS: &[&str] = &[
    "version",
    "template_dir",
    "require_at_registration",
    "policy_name",
];
/// Synapse's consent keys about server notices and event blocking, which
/// are not mxauth's: accepted and ignored.
const CONSENT_IGNORED_KEYS: &[&str] = &[
    "server_notice_content",
    "send_server_notice_to_guests",
    "block_events_error",
];

pub(super) fn parse(top: &Map<'_>) -> KResult<Option<ConsentConfig>> {
    let Some(l) = top.get("user_consent") else {
        return Ok(None);
    };
    let map = Map::from_node(l.node())?;
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
        Some(d) => PathBuf::from(d),
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
    Ok(Some(ConsentConfig {
        version,
        template_dir,
        require_at_registration: map.bool_or("require_at_registration", false)?,
        policy_name: map
            .string("policy_name")?
            .unwrap_or_else(|| "Privacy Policy".to_owned()),
    }))
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn user_consent_needs_its_policy_page() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("en")).unwrap();
        std::fs::write(dir.path().join("en/1.0.html"), "<p>policy</p>").unwrap();
        let ok = load(&format!(
            "server_name: example.org\nuser_consent:\n  template_dir: {}\n  version: 1.0\n  require_at_registration: true\n  server_notice_content: {{msgtype: m.text, body: hi}}\n",
            dir.path().display()
        ))
        .unwrap();
        let consent = ok.config.user_consent.unwrap();
        assert_eq!(consent.version, "1.0");
        assert_eq!(consent.policy_name, "Privacy Policy");
        assert!(consent.require_at_registration);
        let err = load(&format!(
            "server_name: example.org\nuser_consent:\n  template_dir: {}\n  version: 2.0\n",
            dir.path().display()
        ))
        .unwrap_err();
        assert_eq!(err.key_path(), Some("user_consent.template_dir"), "{err}");
        let err =
            load("server_name: example.org\nuser_consent:\n  template_dir: /x\n").unwrap_err();
        assert_eq!(err.key_path(), Some("user_consent.version"), "{err}");
    }
}
