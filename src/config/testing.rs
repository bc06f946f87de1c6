//! Helpers for the config tests of every section: load a YAML text the way
//! `mxauth` loads a file, and look at the error.

pub(crate) use super::{Config, ConfigError, Loaded};
pub(crate) use std::path::Path;

/// The file name errors are reported against.
pub(crate) const ORIGIN: &str = "/etc/matrix/homeserver.yaml";

pub(crate) fn load(text: &str) -> Result<Loaded, ConfigError> {
    Config::from_yaml_str(text, Path::new(ORIGIN))
}

/// The config of `text`, which must load.
pub(crate) fn config(text: &str) -> Config {
    match load(text) {
        Ok(loaded) => loaded.config,
        Err(e) => panic!("expected the config to load, got: {e}"),
    }
}

/// The key path and the full Display of a Parse error.
pub(crate) fn parse_error(text: &str) -> (String, String) {
    match load(text) {
        Ok(loaded) => panic!("expected an error, loaded {loaded:?}"),
        Err(e) => {
            let shown = e.to_string();
            match e {
                ConfigError::Parse { path, .. } => (path, shown),
                other => panic!("expected a Parse error, got {other:?}"),
            }
        }
    }
}
