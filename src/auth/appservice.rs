//! Application services: requests made with an `as_token` (from the
//! allowed addresses only), acting as their sender or, with `?user_id=`,
//! as a registered user of their namespace, and with `?device_id=` as one
//! of that user's devices; `m.login.application_service` login and
//! registration; and exclusive namespaces kept from everyone else.

use super::activity::Connection;
use super::identifiers::{stored_user_id, user_id as make_user_id, DeviceId, UserId};
use super::requester::{AuthnError, IfLocked};
use super::{Auth, Requester};
use crate::config::AppServiceConfig;
use crate::store::StoreResult;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An application service, ready to check requests against.
pub struct AppService {
    pub config: AppServiceConfig,
    token_hash: [u8; 32],
    users: Vec<(regex::Regex, bool)>,
}

impl AppService {
    pub fn new(config: AppServiceConfig) -> Self {
        let token_hash = Sha256::digest(config.as_token.expose().as_bytes()).into();
        let users = config
            .users
            .iter()
            // Compiled as the loader checked them (anchored at the start).
            .filter_map(|n| n.compile().ok().map(|r| (r, n.exclusive)))
            .collect();
        AppService {
            config,
            token_hash,
            users,
        }
    }

    /// Whether `user_id` is in one of its user namespaces (or is its sender).
    pub fn is_interested_in_user(&self, user_id: &str, server_name: &str) -> bool {
        user_id == make_user_id(&self.config.sender_localpart, server_name)
            || self.users.iter().any(|(r, _)| r.is_match(user_id))
    }

    fn claims_exclusively(&self, user_id: &str) -> bool {
        self.users
            .iter()
            .any(|(r, exclusive)| *exclusive && r.is_match(user_id))
    }

    fn allows_ip(&self, ip: Option<&str>) -> bool {
        let nets = &self.config.ip_range_whitelist;
        if nets.is_empty() {
            return true;
        }
        ip.and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
    }
}

/// What a request asks to act as (`?user_id=`, `?device_id=` or
/// `?org.matrix.msc3202.device_id=`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Masquerade<'a> {
    pub user_id: Option<&'a str>,
    pub device_id: Option<&'a str>,
}

impl Auth {
    /// The application service whose `as_token` this is (constant time).
    pub fn app_service_by_token(&self, token: &str) -> Option<&AppService> {
        // The hot path: no hashing at all where no services are configured.
        if self.app_services.is_empty() {
            return None;
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for a in self.app_services.iter() {
            if bool::from(a.token_hash.ct_eq(&hash)) {
                found = Some(a);
            }
        }
        found
    }

    /// Request authentication with application services: an `as_token`
    /// acts as the service's sender or, masquerading, as one of its users
    /// (locked or not, as in Synapse); any other token is a user's
    /// ([`Auth::authenticate_token`]).
    pub async fn authenticate_request(
        &self,
        token: &str,
        conn: Connection<'_>,
        masquerade: Masquerade<'_>,
        if_locked: IfLocked,
    ) -> Result<Requester, AuthnError> {
        let requester = match self.app_service_by_token(token) {
            None => self.authenticate_token(token, if_locked).await?,
            Some(service) => {
                self.authenticate_app_service(service, conn, masquerade)
                    .await?
            }
        };
        self.track_request(&requester, conn);
        Ok(requester)
    }

    async fn authenticate_app_service(
        &self,
        service: &AppService,
        conn: Connection<'_>,
        masquerade: Masquerade<'_>,
    ) -> Result<Requester, AuthnError> {
        if !service.allows_ip(conn.ip) {
            return Err(AuthnError::UnknownToken);
        }
        let sender = make_user_id(&service.config.sender_localpart, self.server_name());
        let user_id = match masquerade.user_id {
            // The sender was checked as a user ID when the config was read.
            None => UserId::parse(&sender).map_err(|_| AuthnError::Internal)?,
            Some(u) if u == sender => UserId::parse(&sender).map_err(|_| AuthnError::Internal)?,
            Some(u) => {
                if !service.is_interested_in_user(u, self.server_name()) {
                    return Err(AuthnError::NotInNamespace);
                }
                // Parsed once it is known to be a user of the service's.
                match self.store.users().get_user(u).await? {
                    Some(_) => stored_user_id(u),
                    None => None,
                }
                .ok_or(AuthnError::NotRegistered)?
            }
        };
        let device_id = match masquerade.device_id {
            None => None,
            Some(d) => {
                if self
                    .store
                    .devices()
                    .get_device(user_id.as_str(), d)
                    .await?
                    .is_none()
                {
                    return Err(AuthnError::UnknownDevice);
                }
                Some(DeviceId::from_stored(d.to_owned()))
            }
        };
        Ok(Requester {
            user_id,
            device_id,
            token_id: APP_SERVICE_TOKEN_ID,
            is_guest: false,
            admin: false,
            puppet_owner: None,
            valid_until_ts: None,
            app_service_id: Some(service.config.id.clone()),
            oauth_client_id: None,
            scope: None,
        })
    }

    /// Whether a service other than `except` claims `user_id` exclusively.
    pub(crate) fn exclusively_claimed(&self, user_id: &str, except: Option<&str>) -> bool {
        self.app_services
            .iter()
            .filter(|a| Some(a.config.id.as_str()) != except)
            .any(|a| a.claims_exclusively(user_id))
    }

    /// The application service a request's token belongs to, or 401; a
    /// token used from outside the service's `ip_range_whitelist` is
    /// refused as unknown, as for every other use of the as_token.
    pub(crate) fn require_app_service(
        &self,
        token: Option<&str>,
        ip: Option<&str>,
    ) -> Result<&AppService, AuthnError> {
        let token = token.ok_or(AuthnError::MissingToken)?;
        let service = self
            .app_service_by_token(token)
            .ok_or(AuthnError::UnknownToken)?;
        if !service.allows_ip(ip) {
            tracing::info!(
                app_service = %service.config.id,
                "as_token used from outside ip_range_whitelist"
            );
            return Err(AuthnError::UnknownToken);
        }
        Ok(service)
    }

    /// The service's sender (`sender_localpart`) as a user: created, owned
    /// by the service, the first time it logs in (with
    /// `m.login.application_service`, for a device of its own, as bridges
    /// do for encryption). Its requests never needed the row.
    pub(crate) async fn ensure_app_service_sender(&self, service: &AppService) -> StoreResult<()> {
        let sender = make_user_id(&service.config.sender_localpart, self.server_name());
        if self.store.users().get_user(&sender).await?.is_some() {
            return Ok(());
        }
        let created = self
            .store
            .users()
            .create_user(&crate::store::NewUser {
                user_id: sender.clone(),
                created_ts: self.now(),
                appservice_id: Some(service.config.id.clone()),
                ..crate::store::NewUser::default()
            })
            .await?;
        // Not created: another request made it meanwhile.
        if created {
            tracing::info!(user_id = %sender, app_service = %service.config.id, "created an application service's sender");
            self.provision_new_user(&sender, None).await?;
        }
        Ok(())
    }
}

/// Application service requests have no token row.
pub const APP_SERVICE_TOKEN_ID: i64 = -1;
