//! Guest access: `allow_guest_access`, and `macaroon_secret_key` (or
//! `_path`), the key of the guest tokens Synapse minted as macaroons, which
//! mxauth accepts.

use super::secret::SecretKey;
use super::yaml::{KResult, KeyError, Map};
use super::Secret;

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &[
    "allow_guest_access",
    "macaroon_secret_key",
    "macaroon_secret_key_path",
];

/// This section's part of [`Config`](super::Config).
pub(super) struct Guests {
    pub allow_guest_access: bool,
    pub macaroon_secret_key: Option<Secret>,
}

pub(super) fn parse(top: &Map<'_>) -> KResult<Guests> {
    let macaroon_secret_key = match SecretKey::new("macaroon_secret_key").read(top)? {
        Some(found) if found.value.is_empty() => {
            return Err(KeyError::new(
                top.path_of("macaroon_secret_key"),
                "must not be empty",
            ))
        }
        found => found.map(|f| f.value),
    };
    Ok(Guests {
        allow_guest_access: top.bool_or("allow_guest_access", false)?,
        macaroon_secret_key,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;
    use crate::config::Secret;
    use std::io::Write;

    #[test]
    fn allow_guest_access() {
        assert!(!config("server_name: example.org\n").allow_guest_access);
        assert!(config("server_name: example.org\nallow_guest_access: true\n").allow_guest_access);
    }

    #[test]
    fn macaroon_secret_key_inline_or_from_a_file() {
        let base = "server_name: example.org\n";
        let c = load(&format!("{base}macaroon_secret_key: 'sekrit'\n"))
            .unwrap()
            .config;
        assert_eq!(
            c.macaroon_secret_key.as_ref().map(Secret::expose),
            Some("sekrit")
        );
        assert_eq!(config(base).macaroon_secret_key, None);
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "key-from-file").unwrap();
        let path = file.path().display();
        let c = load(&format!("{base}macaroon_secret_key_path: '{path}'\n"))
            .unwrap()
            .config;
        assert_eq!(
            c.macaroon_secret_key.as_ref().map(Secret::expose),
            Some("key-from-file")
        );
        let err = load(&format!(
            "{base}macaroon_secret_key: x\nmacaroon_secret_key_path: '{path}'\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("macaroon_secret_key_path"), "{err}");
        let err = load(&format!("{base}macaroon_secret_key: ''\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("must not be empty"), "{err}");
    }
}
