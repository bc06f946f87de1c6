//! Auth blocking (Synapse's `check_auth_blocking`): `hs_disabled` refuses
//! logins, registrations and new tokens with 403 M_RESOURCE_LIMIT_EXCEEDED,
//! `limit_type: hs_disabled` and the `admin_contact`. Application services,
//! support users and the server-notices user are exempt. (Monthly-active
//! user limits are the other half, still to come.)

use super::identifiers::user_id as make_user_id;
use super::Auth;
use crate::error::{ErrCode, Error, Result};

impl Auth {
    pub(crate) async fn check_auth_blocking(
        &self,
        user_id: Option<&str>,
        app_service: bool,
    ) -> Result<()> {
        if app_service || !self.config.hs_disabled {
            return Ok(());
        }
        if let Some(user_id) = user_id {
            let notices = self
                .config
                .server_notices_localpart
                .as_deref()
                .map(|l| make_user_id(l, self.server_name()));
            if notices.as_deref() == Some(user_id) {
                return Ok(());
            }
            let support = self
                .store
                .get_user(user_id)
                .await?
                .is_some_and(|u| u.user_type.as_deref() == Some("support"));
            if support {
                return Ok(());
            }
        }
        let mut e = Error::new(
            403,
            ErrCode::ResourceLimitExceeded,
            self.config.hs_disabled_message.clone(),
        )
        .with_extra("limit_type", "hs_disabled");
        if let Some(contact) = &self.config.admin_contact {
            e = e.with_extra("admin_contact", contact.clone());
        }
        Err(e)
    }
}
