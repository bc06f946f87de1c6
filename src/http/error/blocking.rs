//! Auth blocking's refusals ([`Blocked`]) as Matrix errors: 403
//! M_RESOURCE_LIMIT_EXCEEDED with the `limit_type` and, when configured,
//! the `admin_contact`.

use crate::auth::blocking::Blocked;
use crate::error::{ErrCode, Error};

impl From<Blocked> for Error {
    fn from(e: Blocked) -> Self {
        let (message, limit_type, admin_contact) = match e {
            Blocked::ServerDisabled {
                message,
                admin_contact,
            } => (message, "hs_disabled", admin_contact),
            Blocked::MonthlyActiveUsers { admin_contact } => (
                "Monthly Active User Limit Exceeded".to_owned(),
                "monthly_active_user",
                admin_contact,
            ),
            Blocked::Internal => return Error::Internal,
        };
        let e = Error::new(403, ErrCode::ResourceLimitExceeded, message)
            .with_extra("limit_type", limit_type);
        match admin_contact {
            Some(contact) => e.with_extra("admin_contact", contact),
            None => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::tests::rendered;

    #[test]
    fn blocking_is_resource_limit_exceeded_with_its_limit_type_and_contact() {
        let (status, errcode, message, extra) = rendered(Blocked::ServerDisabled {
            message: "Closed for repairs".into(),
            admin_contact: Some("mailto:admin@example.com".into()),
        });
        assert_eq!(
            (status, errcode, message.as_str()),
            (403, ErrCode::ResourceLimitExceeded, "Closed for repairs")
        );
        assert_eq!(extra["limit_type"], "hs_disabled");
        assert_eq!(extra["admin_contact"], "mailto:admin@example.com");
        let (_, errcode, message, extra) = rendered(Blocked::MonthlyActiveUsers {
            admin_contact: None,
        });
        assert_eq!(errcode, ErrCode::ResourceLimitExceeded);
        assert_eq!(message, "Monthly Active User Limit Exceeded");
        assert_eq!(extra["limit_type"], "monthly_active_user");
        assert!(!extra.contains_key("admin_contact"));
        assert!(matches!(Error::from(Blocked::Internal), Error::Internal));
    }
}
