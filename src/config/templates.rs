//! `templates:` (Synapse's section): `custom_template_directory`, a folder
//! whose files replace mxauth's HTML pages by file name. Checked at load:
//! the folder exists and every page mxauth renders loads from it and
//! renders (the error names the file), so `mxauth config check` finds a
//! broken template and the server never meets one at request time.

use super::yaml::{KResult, KeyError, Map};
use std::path::PathBuf;

/// Top-level keys parsed here.
pub(crate) const KEYS: &[&str] = &["templates"];

/// Synapse's `templates:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplatesConfig {
    /// `custom_template_directory`: templates here replace the built-in
    /// ones of the same file name (a relative path is from the working
    /// directory, as in Synapse).
    pub custom_template_directory: Option<PathBuf>,
}

pub(crate) fn parse(top: &Map<'_>) -> KResult<TemplatesConfig> {
    let Some(section) = top.get("templates") else {
        return Ok(TemplatesConfig::default());
    };
    let map = Map::from_node(section.node())?;
    map.check_keys(&["custom_template_directory"], &[])?;
    let Some(dir) = map.string("custom_template_directory")? else {
        return Ok(TemplatesConfig::default());
    };
    let dir = PathBuf::from(dir);
    crate::templates::Templates::load(Some(&dir))
        .map_err(|e| KeyError::new(map.path_of("custom_template_directory"), e.to_string()))?;
    Ok(TemplatesConfig {
        custom_template_directory: Some(dir),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};
    use std::path::Path;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str(text, Path::new("homeserver.yaml")).map(|l| l.config)
    }

    fn with_dir(dir: &Path) -> String {
        format!(
            "server_name: example.org\ntemplates:\n  custom_template_directory: {}\n",
            dir.display()
        )
    }

    /// The key path and the whole message of an error.
    fn error(text: &str) -> (String, String) {
        let e = load(text).unwrap_err();
        (e.key_path().unwrap_or_default().to_owned(), e.to_string())
    }

    #[test]
    fn absent_or_empty_means_the_built_in_pages() {
        for text in [
            "server_name: example.org\n",
            "server_name: example.org\ntemplates:\n",
            "server_name: example.org\ntemplates:\n  custom_template_directory:\n",
        ] {
            assert_eq!(
                load(text).unwrap().templates.custom_template_directory,
                None
            );
        }
    }

    #[test]
    fn a_directory_of_good_templates_loads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("password.html"),
            "{% extends \"_base.html\" %}{% block body %}{{ description }}{% endblock %}",
        )
        .unwrap();
        let config = load(&with_dir(dir.path())).unwrap();
        assert_eq!(
            config.templates.custom_template_directory.as_deref(),
            Some(dir.path())
        );
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let (path, message) = error(&with_dir(Path::new("/nonexistent/mxauth-templates")));
        assert_eq!(path, "templates.custom_template_directory");
        assert!(
            message.contains("/nonexistent/mxauth-templates"),
            "{message}"
        );
        assert!(message.contains("does not exist"), "{message}");
    }

    #[test]
    fn a_broken_template_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("recaptcha.html"), "<p>{{ sitekey </p>").unwrap();
        let (path, message) = error(&with_dir(dir.path()));
        assert_eq!(path, "templates.custom_template_directory");
        let file = dir.path().join("recaptcha.html");
        assert!(message.contains(&file.display().to_string()), "{message}");
        assert!(message.contains("syntax error"), "{message}");

        // Parsed, but failing when rendered: an unknown filter.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sso_login_idp_picker.html"),
            "{% for p in providers %}{{ p.idp_icon | mxc_to_http(32, 32) }}{% endfor %}",
        )
        .unwrap();
        let (_, message) = error(&with_dir(dir.path()));
        assert!(message.contains("sso_login_idp_picker.html"), "{message}");
        assert!(message.contains("mxc_to_http"), "{message}");
    }

    #[test]
    fn the_section_is_read_not_ignored() {
        assert!(!crate::config::synapse_keys::is_ignored_synapse_key(
            "templates"
        ));
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors() {
        let (path, message) =
            error("server_name: example.org\ntemplates:\n  custom_template_dir: /tmp\n");
        assert_eq!(path, "templates.custom_template_dir");
        assert!(message.contains("custom_template_directory"), "{message}");
        let (path, _) = error("server_name: example.org\ntemplates: /tmp\n");
        assert_eq!(path, "templates");
        let (path, _) =
            error("server_name: example.org\ntemplates:\n  custom_template_directory: [a]\n");
        assert_eq!(path, "templates.custom_template_directory");
    }
}
