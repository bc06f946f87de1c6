//! The password policy (Synapse's `password_config.policy`).

use crate::config::PasswordPolicy;
use crate::error::{ErrCode, Error, Result};

use super::password::too_long;

/// Refuses a new password the policy does not allow, with the spec's
/// `M_WEAK_PASSWORD` (Synapse answers with its own `M_PASSWORD_*` codes;
/// the spec names only `M_WEAK_PASSWORD`).
pub fn check_new_password(policy: &PasswordPolicy, password: &str) -> Result<()> {
    // Synapse's limit: 512 characters.
    if too_long(password) {
        return Err(Error::invalid_param("Password too long"));
    }
    if !policy.enabled {
        return Ok(());
    }
    let weak = |m: String| Err(Error::new(400, ErrCode::WeakPassword, m));
    if password.chars().count() < policy.minimum_length {
        return weak(format!(
            "The password must be at least {} characters long",
            policy.minimum_length
        ));
    }
    if policy.require_digit && !password.chars().any(|c| c.is_ascii_digit()) {
        return weak("The password must include at least one digit".into());
    }
    if policy.require_symbol && !password.chars().any(|c| !c.is_alphanumeric()) {
        return weak("The password must include at least one symbol".into());
    }
    if policy.require_uppercase && !password.chars().any(|c| c.is_uppercase()) {
        return weak("The password must include at least one uppercase letter".into());
    }
    if policy.require_lowercase && !password.chars().any(|c| c.is_lowercase()) {
        return weak("The password must include at least one lowercase letter".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_refuses_with_weak_password() {
        let policy = PasswordPolicy {
            enabled: true,
            minimum_length: 8,
            require_digit: true,
            require_symbol: true,
            require_lowercase: true,
            require_uppercase: true,
        };
        assert!(check_new_password(&policy, "Abcdef1!").is_ok());
        for bad in ["Ab1!", "Abcdefg!", "Abcdefg1", "abcdef1!", "ABCDEF1!"] {
            let e = check_new_password(&policy, bad).unwrap_err();
            assert_eq!(e.errcode(), Some(ErrCode::WeakPassword), "{bad}");
        }
        let off = PasswordPolicy {
            enabled: false,
            ..policy
        };
        assert!(check_new_password(&off, "x").is_ok());
        assert_eq!(
            check_new_password(&off, &"x".repeat(513))
                .unwrap_err()
                .errcode(),
            Some(ErrCode::InvalidParam)
        );
    }
}
