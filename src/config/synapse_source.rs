//! What `mxauth import-synapse` reads of the homeserver.yaml of the Synapse
//! it imports from: the server name, the database, the secrets its tokens
//! and hashes depend on, whether it delegates auth, and where its client
//! API listens (to tell whether it is running). Only these keys are read;
//! the rest of the file is Synapse's business and is not checked.

use std::path::Path;

use serde_yaml::Value;

use super::database::{self, DatabaseConfig};
use super::secret::SecretKey;
use super::yaml::{as_list, as_string, KResult, Map};
use super::{ConfigError, Secret};

/// The parts of a Synapse homeserver.yaml the import needs.
#[derive(Debug, Clone)]
pub struct SynapseSourceConfig {
    pub server_name: String,
    pub database: DatabaseConfig,
    /// `password_config.pepper` (empty when unset).
    pub pepper: Secret,
    /// The key Synapse signs guest macaroons with: `macaroon_secret_key`
    /// (or `_path`), else `registration_shared_secret` (or `_path`), as
    /// Synapse falls back. `None`: Synapse derives one from its signing
    /// key, which no other server can know.
    pub macaroon_secret_key: Option<Secret>,
    /// Synapse hands auth to matrix-authentication-service or mxauth
    /// (`matrix_authentication_service.enabled`, or the experimental
    /// `msc3861.enabled`).
    pub delegates_auth: bool,
    /// The base URLs (`http://address:port`) of its listeners that serve
    /// the client API.
    pub client_urls: Vec<String>,
}

impl SynapseSourceConfig {
    /// Reads the file at `path`.
    pub fn load(path: &Path) -> Result<SynapseSourceConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let root = super::read_document(&text, path)?;
        parse(&root).map_err(|e| ConfigError::Parse {
            file: path.to_owned(),
            path: e.path,
            message: e.message,
        })
    }
}

fn parse(root: &Value) -> KResult<SynapseSourceConfig> {
    let top = Map::from_value(root, "")?;
    let server_name = match top.get("server_name") {
        Some(l) => as_string(l.node())?,
        None => {
            return Err(super::yaml::KeyError::new(
                "server_name",
                "missing: Synapse's config names its server",
            ))
        }
    };
    let database = database::parse(&top)?;
    let pepper = match top.get("password_config") {
        Some(l) if !l.value.is_null() => Map::from_node(l.node())?
            .secret("pepper")?
            .map(Secret::new)
            .unwrap_or_default(),
        _ => Secret::default(),
    };
    let macaroon_secret_key = match SecretKey::new("macaroon_secret_key").read(&top)? {
        Some(found) if !found.value.is_empty() => Some(found.value),
        _ => SecretKey::new("registration_shared_secret")
            .read(&top)?
            .map(|found| found.value)
            .filter(|s| !s.is_empty()),
    };
    let enabled = |map: &Map<'_>, key: &str| -> KResult<bool> {
        match map.get(key) {
            Some(l) if !l.value.is_null() => Map::from_node(l.node())?.bool_or("enabled", false),
            _ => Ok(false),
        }
    };
    let mut delegates_auth = enabled(&top, "matrix_authentication_service")?;
    if let Some(l) = top.get("experimental_features") {
        if !l.value.is_null() {
            delegates_auth |= enabled(&Map::from_node(l.node())?, "msc3861")?;
        }
    }
    let mut client_urls = Vec::new();
    if let Some(l) = top.get("listeners") {
        for listener in as_list(l.node())? {
            if let Some(url) = client_url(&Map::from_node(listener.node())?)? {
                client_urls.push(url);
            }
        }
    }
    Ok(SynapseSourceConfig {
        server_name,
        database,
        pepper,
        macaroon_secret_key,
        delegates_auth,
        client_urls,
    })
}

/// `http://address:port` of an HTTP listener with the `client` resource.
fn client_url(listener: &Map<'_>) -> KResult<Option<String>> {
    let kind = listener.string("type")?.unwrap_or_default();
    let Some(port) = listener.get("port").and_then(|l| l.value.as_u64()) else {
        return Ok(None);
    };
    let serves_client = match listener.get("resources") {
        Some(l) => as_list(l.node())?.iter().any(|resource| {
            resource
                .value
                .get("names")
                .and_then(Value::as_sequence)
                .is_some_and(|names| names.iter().any(|n| n.as_str() == Some("client")))
        }),
        None => false,
    };
    if kind != "http" || !serves_client {
        return Ok(None);
    }
    let address = listener
        .get("bind_addresses")
        .and_then(|l| l.value.as_sequence().and_then(|s| s.first()).cloned())
        .and_then(|v| v.as_str().map(str::to_owned))
        .or(listener.string("bind_address")?)
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let host = match address.as_str() {
        "" | "0.0.0.0" => "127.0.0.1".to_owned(),
        "::" => "[::1]".to_owned(),
        a if a.contains(':') => format!("[{a}]"),
        a => a.to_owned(),
    };
    Ok(Some(format!("http://{host}:{port}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> KResult<SynapseSourceConfig> {
        parse(&serde_yaml::from_str(text).unwrap())
    }

    #[test]
    fn reads_what_the_import_needs_and_ignores_the_rest() {
        let c = parse_str(
            "server_name: example.org\n\
             database: {name: psycopg2, args: {user: synapse, database: synapse, host: db}}\n\
             password_config: {pepper: 'p3pper'}\n\
             registration_shared_secret: 'shared'\n\
             listeners:\n\
             - {port: 8008, type: http, bind_addresses: ['::1', '127.0.0.1'], resources: [{names: [client, federation]}]}\n\
             - {port: 9000, type: metrics}\n\
             - {port: 8448, type: http, resources: [{names: [federation]}]}\n\
             - {port: 8009, type: http, bind_addresses: ['0.0.0.0'], resources: [{names: [client]}]}\n\
             media_store_path: /somewhere\n\
             enable_registration: true\n",
        )
        .unwrap();
        assert_eq!(c.server_name, "example.org");
        assert!(
            matches!(c.database, DatabaseConfig::Postgres { ref database, .. } if database == "synapse")
        );
        assert_eq!(c.pepper.expose(), "p3pper");
        // No macaroon_secret_key: Synapse falls back to the shared secret.
        assert_eq!(
            c.macaroon_secret_key.as_ref().map(Secret::expose),
            Some("shared")
        );
        assert!(!c.delegates_auth);
        assert_eq!(
            c.client_urls,
            ["http://[::1]:8008", "http://127.0.0.1:8009"]
        );
    }

    #[test]
    fn delegation_either_way() {
        let base = "server_name: example.org\n";
        let stable = format!(
            "{base}matrix_authentication_service: {{enabled: true, endpoint: 'http://x'}}\n"
        );
        assert!(parse_str(&stable).unwrap().delegates_auth);
        let msc = format!("{base}experimental_features: {{msc3861: {{enabled: true}}}}\n");
        assert!(parse_str(&msc).unwrap().delegates_auth);
        let off = format!("{base}matrix_authentication_service: {{enabled: false}}\n");
        assert!(!parse_str(&off).unwrap().delegates_auth);
        let c = parse_str(&format!(
            "{base}macaroon_secret_key: 'mac'\nregistration_shared_secret: 'r'\n"
        ))
        .unwrap();
        assert_eq!(
            c.macaroon_secret_key.as_ref().map(Secret::expose),
            Some("mac")
        );
        assert!(parse_str(base).unwrap().macaroon_secret_key.is_none());
        assert!(matches!(
            parse_str(base).unwrap().database,
            DatabaseConfig::Sqlite { .. }
        ));
    }

    #[test]
    fn a_file_without_server_name_is_refused() {
        assert_eq!(
            parse_str("database: {name: sqlite3, args: {database: x.db}}\n")
                .unwrap_err()
                .path,
            "server_name"
        );
    }
}
