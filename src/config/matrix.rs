//! `matrix:`: the homeserver that delegates its auth to mxauth, in the
//! shape of matrix-authentication-service's section.

use super::*;

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
    /// `public_baseurl`.
    pub account_management_uri: Option<String>,
}

pub(super) const MATRIX_KEYS: &[&str] = &[
    "kind",
    "homeserver",
    "endpoint",
    "secret",
    "secret_path",
    "secret_file",
    "account_management_uri",
];

pub(super) fn parse_matrix(node: Node<'_>, server_name: &str) -> KResult<MatrixConfig> {
    let map = Map::from_node(node)?;
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
        .unwrap_or_else(|| server_name.to_owned());
    if homeserver != server_name {
        return Err(KeyError::new(
            map.path_of("homeserver"),
            format!("`{homeserver}` differs from server_name `{server_name}`"),
        ));
    }
    let endpoint = match map.get("endpoint") {
        Some(l) => parse_public_baseurl(l.node())?,
        None => {
            return Err(KeyError::new(
                map.path_of("endpoint"),
                "missing: the homeserver's URL (for example `http://localhost:8008/`)",
            ))
        }
    };
    let account_management_uri = match map.get("account_management_uri") {
        Some(l) => Some(parse_public_baseurl(l.node())?),
        None => None,
    };
    let inline = map.secret("secret")?;
    let file_key = ["secret_path", "secret_file"]
        .into_iter()
        .find(|k| map.contains(k));
    let secret = match (inline, file_key) {
        (Some(_), Some(k)) => {
            return Err(KeyError::new(
                map.path_of(k),
                format!("set either `secret` or `{k}`, not both"),
            ))
        }
        (Some(s), None) if !s.is_empty() => Secret::new(s),
        (None, Some(k)) => {
            let file = map.string(k)?.unwrap_or_default();
            let text = std::fs::read_to_string(&file)
                .map_err(|e| KeyError::new(map.path_of(k), format!("cannot read `{file}`: {e}")))?;
            let text = Zeroizing::new(text);
            if text.trim().is_empty() {
                return Err(KeyError::new(
                    map.path_of(k),
                    format!("the file `{file}` is empty"),
                ));
            }
            Secret::new(text.trim())
        }
        _ => {
            return Err(KeyError::new(
                map.path_of("secret"),
                "missing: the secret shared with the homeserver",
            ))
        }
    };
    Ok(MatrixConfig {
        kind,
        homeserver,
        endpoint,
        secret,
        account_management_uri,
    })
}
