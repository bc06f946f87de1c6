//! Secrets in the config: the [`Secret`] type, and [`SecretKey`], the one
//! way a secret is read where Synapse lets it be given inline or in a file
//! (`registration_shared_secret` or `registration_shared_secret_path`,
//! `macaroon_secret_key[_path]`, `recaptcha_{public,private}_key[_path]`,
//! `oidc_providers[].client_secret[_path]`, `matrix.secret` or
//! `secret_path`/`secret_file`, synapse-ldap3's `bind_password[_file]`).
//!
//! Secrets given inline only (`password_config.pepper`, `email.smtp_pass`,
//! `database.args.password`, `jwt_config.secret`) are read with
//! [`Map::secret`](super::yaml::Map::secret), which never shows the value in
//! an error either.

use std::fmt;

use zeroize::Zeroizing;

use super::yaml::{KResult, KeyError, Map};

/// A secret string. `Debug` and `Display` print `[redacted]`; [`Secret::expose`]
/// gives the value. The memory is wiped on drop. Equality is constant-time.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

/// How the content of a secret file is trimmed, as Synapse (or the module)
/// trims that key's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trim {
    /// Whitespace at both ends (Synapse's `read_file(...).strip()`).
    Whitespace,
    /// Trailing newlines only (`.rstrip("\n")`, synapse-ldap3's
    /// `bind_password_file`): spaces at the end are part of the secret.
    TrailingNewlines,
}

/// A secret key that may be given inline (`key`) or as the name of a file
/// holding it (by default `<key>_path`). Giving both is an error at the
/// file key; a file that cannot be read is an error at the file key naming
/// the file.
pub(crate) struct SecretKey<'a> {
    key: &'a str,
    file_keys: Vec<String>,
    trim: Trim,
    conflict: Option<&'a str>,
}

/// A secret found under its key.
#[derive(Debug)]
pub(crate) struct Found {
    pub value: Secret,
    /// The key path it was given under: the inline key, or the file key.
    pub path: String,
    /// The file it was read from, when given as a file.
    pub file: Option<String>,
}

impl<'a> SecretKey<'a> {
    /// `key` inline or `<key>_path`, trimmed of whitespace.
    pub fn new(key: &'a str) -> Self {
        SecretKey {
            key,
            file_keys: vec![format!("{key}_path")],
            trim: Trim::Whitespace,
            conflict: None,
        }
    }

    /// The keys naming a file, instead of `<key>_path` (several: any one of
    /// them, for instance MAS's `secret_file` and Synapse's `secret_path`).
    pub fn file_keys(mut self, keys: &[&str]) -> Self {
        self.file_keys = keys.iter().map(|k| (*k).to_owned()).collect();
        self
    }

    pub fn trim(mut self, trim: Trim) -> Self {
        self.trim = trim;
        self
    }

    /// The message when the key is given both inline and as a file (by
    /// default "set either `key` or `key_path`, not both").
    pub fn conflict_message(mut self, message: &'a str) -> Self {
        self.conflict = Some(message);
        self
    }

    /// The secret, if given. The value may be empty: what an empty secret
    /// means is the caller's (see [`Found::refuse_empty_file`]).
    pub fn read(&self, map: &Map<'_>) -> KResult<Option<Found>> {
        let inline = map.secret(self.key)?.map(Zeroizing::new);
        let mut files = Vec::new();
        for key in &self.file_keys {
            if let Some(file) = map.string(key)? {
                files.push((key.as_str(), file));
            }
        }
        if let [(first, _), (second, _), ..] = files.as_slice() {
            return Err(KeyError::new(
                map.path_of(second),
                format!("set either `{first}` or `{second}`, not both"),
            ));
        }
        match (inline, files.pop()) {
            (Some(_), Some((file_key, _))) => Err(KeyError::new(
                map.path_of(file_key),
                match self.conflict {
                    Some(message) => message.to_owned(),
                    None => format!("set either `{}` or `{file_key}`, not both", self.key),
                },
            )),
            (Some(value), None) => Ok(Some(Found {
                value: Secret::new(value.as_str()),
                path: map.path_of(self.key),
                file: None,
            })),
            (None, Some((file_key, file))) => {
                let path = map.path_of(file_key);
                let text = std::fs::read_to_string(&file)
                    .map(Zeroizing::new)
                    .map_err(|e| KeyError::new(&path, format!("cannot read `{file}`: {e}")))?;
                let value = match self.trim {
                    Trim::Whitespace => text.trim(),
                    Trim::TrailingNewlines => text.trim_end_matches('\n'),
                };
                Ok(Some(Found {
                    value: Secret::new(value),
                    path,
                    file: Some(file),
                }))
            }
            (None, None) => Ok(None),
        }
    }
}

impl Found {
    /// An empty file is an error at its key ("the file `x` is empty"); an
    /// empty inline value is kept (some keys read it as "off").
    pub fn refuse_empty_file(self) -> KResult<Self> {
        match &self.file {
            Some(file) if self.value.is_empty() => Err(KeyError::new(
                &self.path,
                format!("the file `{file}` is empty"),
            )),
            _ => Ok(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml::Value;

    fn read(yaml: &str, key: SecretKey<'_>) -> KResult<Option<Found>> {
        let value: Value = serde_yaml::from_str(yaml).unwrap();
        let map = Map::from_value(&value, "section").unwrap();
        key.read(&map)
    }

    fn file(content: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), content).unwrap();
        file
    }

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.clone(), s);
        assert_ne!(s, Secret::new("hunter3"));

        let deserialized: Secret = serde_yaml::from_str("hunter3").expect("secret from yaml");
        assert_eq!(deserialized.expose(), "hunter3");
    }

    #[test]
    fn inline() {
        let found = read("k: ' s3cret '", SecretKey::new("k")).unwrap().unwrap();
        assert_eq!(
            found.value.expose(),
            " s3cret ",
            "inline values are not trimmed"
        );
        assert_eq!(found.path, "section.k");
        assert_eq!(found.file, None);
        assert!(read("other: 1", SecretKey::new("k")).unwrap().is_none());
        assert!(read("k: null\nk_path: ~", SecretKey::new("k"))
            .unwrap()
            .is_none());
        // An empty inline value is the caller's to judge.
        let empty = read("k: ''", SecretKey::new("k")).unwrap().unwrap();
        assert!(empty.value.is_empty());
        assert!(empty.refuse_empty_file().is_ok());
    }

    #[test]
    fn from_a_file_trimmed_as_synapse_does() {
        let f = file("  s3cret \n\n");
        let yaml = format!("k_path: '{}'", f.path().display());
        let found = read(&yaml, SecretKey::new("k")).unwrap().unwrap();
        assert_eq!(found.value.expose(), "s3cret");
        assert_eq!(found.path, "section.k_path");
        assert_eq!(found.file.as_deref(), Some(&*f.path().to_string_lossy()));

        let yaml = format!("k_file: '{}'", f.path().display());
        let key = SecretKey::new("k")
            .file_keys(&["k_file"])
            .trim(Trim::TrailingNewlines);
        let found = read(&yaml, key).unwrap().unwrap();
        assert_eq!(found.value.expose(), "  s3cret ");
    }

    #[test]
    fn both_given_is_an_error_at_the_file_key() {
        let f = file("x");
        let yaml = format!("k: a\nk_path: '{}'", f.path().display());
        let e = read(&yaml, SecretKey::new("k")).unwrap_err();
        assert_eq!(e.path, "section.k_path");
        assert_eq!(e.message, "set either `k` or `k_path`, not both");
        let e = read(
            &yaml,
            SecretKey::new("k").conflict_message("mutually incompatible"),
        )
        .unwrap_err();
        assert_eq!(e.message, "mutually incompatible");
        // Two of the file keys are a conflict too.
        let yaml = format!("a: '{0}'\nb: '{0}'", f.path().display());
        let e = read(&yaml, SecretKey::new("k").file_keys(&["a", "b"])).unwrap_err();
        assert_eq!(e.path, "section.b");
        assert_eq!(e.message, "set either `a` or `b`, not both");
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_the_key_and_the_file() {
        let e = read("k_path: /nonexistent/mxauth/secret", SecretKey::new("k")).unwrap_err();
        assert_eq!(e.path, "section.k_path");
        assert!(
            e.message
                .starts_with("cannot read `/nonexistent/mxauth/secret`: "),
            "{}",
            e.message
        );
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!("k_path: '{}'", dir.path().display());
        let e = read(&yaml, SecretKey::new("k")).unwrap_err();
        assert_eq!(e.path, "section.k_path");
    }

    #[test]
    fn an_empty_file_can_be_refused() {
        let f = file("\n");
        let yaml = format!("k_path: '{}'", f.path().display());
        let found = read(&yaml, SecretKey::new("k")).unwrap().unwrap();
        let e = found.refuse_empty_file().unwrap_err();
        assert_eq!(e.path, "section.k_path");
        assert!(e.message.ends_with("is empty"), "{}", e.message);
    }

    #[test]
    fn wrong_types_do_not_show_the_value() {
        let e = read("k: 987654321", SecretKey::new("k")).unwrap_err();
        assert_eq!(e.path, "section.k");
        assert!(!e.message.contains("987654321"), "{}", e.message);
        let e = read("k_path: [a]", SecretKey::new("k")).unwrap_err();
        assert_eq!(e.path, "section.k_path");
    }
}
