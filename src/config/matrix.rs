//! `matrix:`: the homeserver that delegates its auth to mxauth, in the
//! shape of matrix-authentication-service's section.

use ruma_common::ServerName;

use super::secret::SecretKey;
use super::yaml::{as_base_url, KResult, KeyError, Map};
use super::Secret;

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &["matrix"];

/// `matrix:`: the homeserver that delegates its authentication to mxauth
/// (Synapse's `matrix_authentication_service` seam), in MAS's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixConfig {
    /// `kind`: only `synapse`.
    pub kind: String,
    /// `homeserver`: the server name; must equal `server_name` when both are set.
    pub homeserver: String,
    /// `endpoint`: the homeserver's base URL, normalised to end with `/`.
    pub endpoint: String,
    /// `secret`, or read from `secret_path` / `secret_file`: authenticates both
    /// directions (Synapse's introspection calls, mxauth's `/_synapse/mas` calls).
    pub secret: Secret,
    /// `account_management_uri` for the discovery document; default
    /// mxauth's account pages, `<public_baseurl>account/`.
    pub account_management_uri: Option<String>,
}

const MATRIX_KEYS: &[&str] = &[
    "kind",
    "homeserver",
    "endpoint",
    "secret",
    "secret_path",
    "secret_file",
    "account_management_uri",
];

/// `matrix:`, which needs `public_baseurl` (the issuer the homeserver is
/// told about).
pub(super) fn parse(
    top: &Map<'_>,
    server_name: &ServerName,
    public_baseurl: Option<&str>,
) -> KResult<Option<MatrixConfig>> {
    let Some(l) = top.get("matrix") else {
        return Ok(None);
    };
    let map = Map::from_node(l.node())?;
    map.check_keys(MATRIX_KEYS, &[])?;
    let kind = map.string("kind")?.unwrap_or_else(|| "synapse".to_owned());
    if kind != "synapse" {
        return Err(KeyError::new(
            map.path_of("kind"),
            format!("`{kind}` is not supported: the only kind is `synapse`"),
        ));
    }
    let homeserver = map
        .string("homeserver")?
        .unwrap_or_else(|| server_name.to_string());
    if homeserver != server_name.as_str() {
        return Err(KeyError::new(
            map.path_of("homeserver"),
            format!("`{homeserver}` differs from server_name `{server_name}`"),
        ));
    }
    let endpoint = match map.get("endpoint") {
        Some(l) => as_base_url(l.node())?,
        None => {
            return Err(KeyError::new(
                map.path_of("endpoint"),
                "missing: the homeserver's URL (for example `http://localhost:8008/`)",
            ))
        }
    };
    let account_management_uri = match map.get("account_management_uri") {
        Some(l) => Some(as_base_url(l.node())?),
        None => None,
    };
    let secret = SecretKey::new("secret")
        .file_keys(&["secret_path", "secret_file"])
        .read(&map)?
        .map(|found| found.refuse_empty_file())
        .transpose()?
        .map(|found| found.value)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            KeyError::new(
                map.path_of("secret"),
                "missing: the secret shared with the homeserver",
            )
        })?;
    if public_baseurl.is_none() {
        return Err(KeyError::new(
            "public_baseurl",
            "missing: required with `matrix:` (it is the issuer the homeserver is told about)",
        ));
    }
    Ok(Some(MatrixConfig {
        kind,
        homeserver,
        endpoint,
        secret,
        account_management_uri,
    }))
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn matrix_section_for_synapse_delegation() {
        let base = "server_name: example.org\npublic_baseurl: https://auth.example.org\n";
        let ok = load(&format!(
            "{base}matrix:\n  kind: synapse\n  homeserver: example.org\n  endpoint: http://localhost:8008\n  secret: s3cret\n"
        ))
        .unwrap();
        let m = ok.config.matrix.unwrap();
        assert_eq!(m.endpoint, "http://localhost:8008/");
        assert_eq!(m.secret.expose(), "s3cret");
        assert_eq!(m.homeserver, "example.org");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "from-file\n").unwrap();
        let ok = load(&format!(
            "{base}matrix:\n  endpoint: http://localhost:8008/\n  secret_path: {}\n",
            file.display()
        ))
        .unwrap();
        assert_eq!(ok.config.matrix.unwrap().secret.expose(), "from-file");

        for (yaml, path) in [
            (
                "matrix:\n  endpoint: http://h/\n  secret: x\n  kind: dendrite\n",
                "matrix.kind",
            ),
            (
                "matrix:\n  endpoint: http://h/\n  secret: x\n  homeserver: other.org\n",
                "matrix.homeserver",
            ),
            ("matrix:\n  secret: x\n", "matrix.endpoint"),
            ("matrix:\n  endpoint: http://h/\n", "matrix.secret"),
            (
                "matrix:\n  endpoint: http://h/\n  secrett: x\n",
                "matrix.secrett",
            ),
        ] {
            let err = load(&format!("{base}{yaml}")).unwrap_err();
            assert_eq!(err.key_path(), Some(path), "{err}");
        }
        let err = load("server_name: example.org\nmatrix:\n  endpoint: http://h/\n  secret: x\n")
            .unwrap_err();
        assert_eq!(err.key_path(), Some("public_baseurl"), "{err}");
    }

    #[test]
    fn the_secret_from_secret_file_or_secret_path() {
        let base = "server_name: example.org\npublic_baseurl: https://auth.example.org\n\
                    matrix:\n  endpoint: http://h/\n";
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "  from-file \n").unwrap();
        let file = file.display();
        let c = config(&format!("{base}  secret_file: '{file}'\n"));
        assert_eq!(c.matrix.unwrap().secret.expose(), "from-file");
        for (extra, path) in [
            (
                format!("  secret: x\n  secret_file: '{file}'\n"),
                "matrix.secret_file",
            ),
            (
                format!("  secret_path: '{file}'\n  secret_file: '{file}'\n"),
                "matrix.secret_file",
            ),
            ("  secret: ''\n".to_owned(), "matrix.secret"),
            (
                "  secret_path: /nonexistent/mxauth/secret\n".to_owned(),
                "matrix.secret_path",
            ),
        ] {
            let (got, shown) = parse_error(&format!("{base}{extra}"));
            assert_eq!(got, path, "{extra}: {shown}");
        }
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let (got, shown) = parse_error(&format!("{base}  secret_path: '{}'\n", empty.display()));
        assert_eq!(got, "matrix.secret_path");
        assert!(shown.ends_with("is empty"), "{shown}");
    }
}
