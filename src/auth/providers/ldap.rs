//! `ldap_auth_provider.LdapAuthProviderModule`: synapse-ldap3's behaviour.
//!
//! * Simple mode binds as `<uid attribute>=<user>,<base>` with the password.
//! * Search mode binds as `bind_dn` (or anonymously), searches `base` for
//!   `(&(<uid>=<user>)<filter>)`, and binds as the one entry found.
//! * `m.login.password` with an email (`check_3pid_auth`): search mode only,
//!   by `(&(<mail>=<address>)<filter>)`.
//! * A user the directory accepts is created locally on its first login,
//!   with the directory's display name and email (search mode; simple mode
//!   has only the name typed).
//!
//! Names holding LDAP filter characters and empty passwords (an
//! "unauthenticated bind", RFC 4513 5.1.2) are refused before any
//! connection. Connecting and every operation are bounded by `timeout`: a
//! directory that is down or stops answering is an error (the registry
//! skips the provider), never a hang.

use super::ProviderResult;
use super::{AuthChecker, AuthProvider, Authenticated, NewUserProfile, ProviderError};
use crate::auth::identifiers::user_id;
use crate::auth::login::LOGIN_TYPE_PASSWORD;
use crate::auth::threepids::MEDIUM_EMAIL;
use crate::config::LdapProviderConfig;
use ldap3::{dn_escape, ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

pub const MODULE_NAME: &str = crate::config::LDAP_MODULE;
/// LDAP's invalidCredentials result code.
const INVALID_CREDENTIALS: u32 = 49;

pub struct LdapProvider {
    config: LdapProviderConfig,
    server_name: String,
    /// TLS trusting only `tls_options.ca_certs_file`, when set.
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// The user's entry: its DN and the attributes asked for.
struct Found {
    localpart: Option<String>,
    display_name: Option<String>,
    mail: Option<String>,
}

fn err(what: &str, e: ldap3::LdapError) -> ProviderError {
    ProviderError::new(format!("{what}: {e}"))
}

/// A name that can go into a DN or a filter as it is: no LDAP special
/// character at all, so nothing needs escaping (and nothing is guessed).
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl LdapProvider {
    /// Fails when `tls_options.ca_certs_file` cannot be read.
    pub fn new(config: &LdapProviderConfig, server_name: &str) -> Result<Self, String> {
        let tls = match &config.ca_certs_file {
            Some(path) => Some(Arc::new(tls_trusting(path)?)),
            None => None,
        };
        Ok(LdapProvider {
            config: config.clone(),
            server_name: server_name.to_owned(),
            tls,
        })
    }

    fn op_timeout(&self) -> Duration {
        Duration::from_millis(self.config.timeout_ms)
    }

    /// A connection to the first URI that answers.
    async fn connect(&self) -> ProviderResult<Ldap> {
        let mut last = None;
        for uri in &self.config.uris {
            let mut settings = LdapConnSettings::new()
                .set_conn_timeout(self.op_timeout())
                .set_starttls(self.config.start_tls)
                .set_no_tls_verify(!self.config.validate_cert);
            if let Some(tls) = &self.tls {
                settings = settings.set_config(tls.clone());
            }
            match LdapConnAsync::with_settings(settings, uri).await {
                Ok((conn, ldap)) => {
                    ldap3::drive!(conn);
                    return Ok(ldap);
                }
                Err(e) => {
                    tracing::warn!(uri, "cannot connect to the directory: {e}");
                    last = Some(e);
                }
            }
        }
        Err(match last {
            Some(e) => err("no directory server answered", e),
            None => ProviderError::new("no directory URI configured"),
        })
    }

    /// Binds; `Ok(false)` for bad credentials.
    async fn bind(&self, ldap: &mut Ldap, dn: &str, password: &str) -> ProviderResult<bool> {
        let res = ldap
            .with_timeout(self.op_timeout())
            .simple_bind(dn, password)
            .await
            .map_err(|e| err("bind", e))?;
        match res.rc {
            0 => Ok(true),
            INVALID_CREDENTIALS => Ok(false),
            rc => {
                tracing::info!(rc, "the directory refused a bind");
                Ok(false)
            }
        }
    }

    async fn close(&self, mut ldap: Ldap) {
        let _ = ldap.unbind().await;
    }

    /// Search mode: the one entry matching `(attr=value)` and the filter,
    /// if `password` binds as it.
    async fn search_then_bind(
        &self,
        attr: &str,
        value: &str,
        password: &str,
    ) -> ProviderResult<Option<Found>> {
        let Some(search) = &self.config.search else {
            return Ok(None);
        };
        let mut ldap = self.connect().await?;
        if let Some((dn, secret)) = &search.bind {
            if !self.bind(&mut ldap, dn, secret.expose()).await? {
                self.close(ldap).await;
                return Err(ProviderError::new(
                    "the directory refused bind_dn's credentials",
                ));
            }
        }
        let query = format!(
            "(&({attr}={}){})",
            ldap_escape(value),
            search.filter.as_deref().unwrap_or("")
        );
        let c = &self.config;
        let attrs = [
            c.uid_attribute.as_str(),
            c.name_attribute.as_str(),
            c.mail_attribute.as_str(),
        ];
        let result = ldap
            .with_timeout(self.op_timeout())
            .search(&c.base, Scope::Subtree, &query, attrs.to_vec())
            .await
            .map_err(|e| err("search", e))?;
        let (entries, _) = result.success().map_err(|e| err("search", e))?;
        self.close(ldap).await;
        if entries.len() != 1 {
            tracing::info!(
                count = entries.len(),
                "the directory search did not find exactly one entry"
            );
            return Ok(None);
        }
        let entry = SearchEntry::construct(entries.into_iter().next().expect("one entry"));
        let mut ldap = self.connect().await?;
        let ok = self.bind(&mut ldap, &entry.dn, password).await?;
        self.close(ldap).await;
        if !ok {
            return Ok(None);
        }
        let single = |attr: &str| match entry.attrs.get(attr).map(Vec::as_slice) {
            Some([one]) => Some(one.clone()),
            _ => None,
        };
        Ok(Some(Found {
            localpart: single(&c.uid_attribute),
            display_name: single(&c.name_attribute),
            mail: single(&c.mail_attribute),
        }))
    }

    fn user_id(&self, localpart: &str) -> String {
        user_id(&localpart.to_lowercase(), &self.server_name)
    }
}

/// A TLS client configuration trusting only the CA certificates in `path`.
fn tls_trusting(path: &std::path::Path) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let what = || {
        format!(
            "{MODULE_NAME}: tls_options.ca_certs_file {}",
            path.display()
        )
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", what()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{}: {e}", what()))?;
        roots.add(cert).map_err(|e| format!("{}: {e}", what()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate in it", what()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{}: {e}", what()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[async_trait::async_trait]
impl AuthProvider for LdapProvider {
    fn name(&self) -> &str {
        MODULE_NAME
    }

    fn auth_checkers(&self) -> Vec<AuthChecker> {
        vec![AuthChecker::new(LOGIN_TYPE_PASSWORD, &["password"])]
    }

    fn timeout(&self) -> Duration {
        // Connect, bind, search, connect, bind: each bounded, and the
        // whole too.
        self.op_timeout()
    }

    async fn check_auth(
        &self,
        user: &str,
        _login_type: &str,
        login_dict: &Map<String, Value>,
    ) -> ProviderResult<Option<Authenticated>> {
        let password = match login_dict.get("password") {
            Some(Value::String(p)) if !p.is_empty() => p,
            _ => return Ok(None),
        };
        let name = match user.strip_prefix('@').and_then(|u| u.split_once(':')) {
            Some((localpart, server)) if server == self.server_name => localpart,
            Some(_) => return Ok(None),
            None => user,
        };
        if !plain_name(name) {
            tracing::info!("a login name with characters LDAP treats specially was refused");
            return Ok(None);
        }
        let c = &self.config;
        let profile = if c.search.is_some() {
            let Some(found) = self
                .search_then_bind(&c.uid_attribute, name, password)
                .await?
            else {
                return Ok(None);
            };
            NewUserProfile {
                display_name: Some(found.display_name.unwrap_or_else(|| name.to_owned())),
                threepids: found
                    .mail
                    .map(|m| (MEDIUM_EMAIL.to_owned(), m))
                    .into_iter()
                    .collect(),
            }
        } else {
            let dn = format!("{}={},{}", c.uid_attribute, dn_escape(name), c.base);
            let mut ldap = self.connect().await?;
            let ok = self.bind(&mut ldap, &dn, password).await?;
            self.close(ldap).await;
            if !ok {
                return Ok(None);
            }
            NewUserProfile {
                display_name: Some(name.to_owned()),
                threepids: Vec::new(),
            }
        };
        Ok(Some(Authenticated::create_if_missing(
            self.user_id(name),
            profile,
        )))
    }

    async fn check_3pid_auth(
        &self,
        medium: &str,
        address: &str,
        password: &str,
    ) -> ProviderResult<Option<Authenticated>> {
        if medium != MEDIUM_EMAIL || password.is_empty() || self.config.search.is_none() {
            return Ok(None);
        }
        let mail_attribute = self.config.mail_attribute.clone();
        let Some(found) = self
            .search_then_bind(&mail_attribute, address, password)
            .await?
        else {
            return Ok(None);
        };
        let Some(localpart) = found.localpart.filter(|l| plain_name(l)) else {
            tracing::warn!("a directory entry found by email has no usable uid");
            return Ok(None);
        };
        let display_name = found.display_name.unwrap_or_else(|| localpart.clone());
        Ok(Some(Authenticated::create_if_missing(
            self.user_id(&localpart),
            NewUserProfile {
                display_name: Some(display_name),
                threepids: vec![(MEDIUM_EMAIL.to_owned(), address.to_owned())],
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::plain_name;

    #[test]
    fn names_with_ldap_special_characters_are_not_plain() {
        assert!(plain_name("alice"));
        assert!(plain_name("alice.liddell-2_x"));
        for bad in [
            "",
            "*",
            "alice)(uid=*",
            "a,b",
            "a=b",
            "a\\29",
            "a b",
            "a\0",
            "é",
        ] {
            assert!(!plain_name(bad), "{bad:?}");
        }
    }
}
