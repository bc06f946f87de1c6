//! Request authentication: "whose request is this?". The hottest path of
//! the product: a checksum check, one indexed lookup, no database write.

use super::{tokens, Auth};
use crate::error::{ErrCode, Error, Result};

/// The authenticated user of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub user_id: String,
    pub device_id: Option<String>,
    pub token_id: i64,
    pub is_guest: bool,
    pub admin: bool,
    /// For a puppet token: the admin acting as `user_id`.
    pub puppet_owner: Option<String>,
    /// When the token expires, if it does.
    pub valid_until_ms: Option<i64>,
    /// Set for a request made with an application service's `as_token`.
    pub app_service_id: Option<String>,
}

impl Auth {
    /// Resolves an access token; `ip` is recorded as the device's last seen
    /// address (in a later batch write).
    pub async fn authenticate(&self, token: &str, ip: Option<&str>) -> Result<Requester> {
        if !tokens::is_well_formed(token) {
            return Err(Error::unknown_token(false));
        }
        let owner = self
            .store
            .get_token_owner(&tokens::hash_token(token))
            .await?
            .ok_or_else(|| Error::unknown_token(false))?;
        let now = self.now();
        if owner.valid_until_ms.is_some_and(|until| until <= now) {
            return Err(Error::unknown_token(true));
        }
        if owner.user_deactivated {
            return Err(Error::unknown_token(false));
        }
        if owner.user_locked {
            return Err(
                Error::new(401, ErrCode::UserLocked, "User account has been locked")
                    .with_extra("soft_logout", true),
            );
        }
        self.usage.record(
            owner.token_id,
            &owner.user_id,
            owner.device_id.as_deref(),
            now,
            ip,
        );
        Ok(Requester {
            user_id: owner.user_id,
            device_id: owner.device_id,
            token_id: owner.token_id,
            is_guest: owner.user_is_guest,
            admin: owner.user_admin,
            puppet_owner: owner.puppet_owner,
            valid_until_ms: owner.valid_until_ms,
            app_service_id: None,
        })
    }
}
