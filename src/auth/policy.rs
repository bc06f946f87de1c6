//! The password policy (Synapse's `password_config.policy`).

use crate::config::PasswordPolicy;

use super::password::too_long;

/// Why a new password is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordPolicyError {
    /// Over Synapse's limit of 512 characters, whatever the policy.
    TooLong,
    /// Shorter than `minimum_length` (carried).
    TooShort(usize),
    NoDigit,
    NoSymbol,
    NoUppercase,
    NoLowercase,
}

impl std::fmt::Display for PasswordPolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordPolicyError::TooLong => f.write_str("Password too long"),
            PasswordPolicyError::TooShort(n) => {
                write!(f, "The password must be at least {n} characters long")
            }
            PasswordPolicyError::NoDigit => {
                f.write_str("The password must include at least one digit")
            }
            PasswordPolicyError::NoSymbol => {
                f.write_str("The password must include at least one symbol")
            }
            PasswordPolicyError::NoUppercase => {
                f.write_str("The password must include at least one uppercase letter")
            }
            PasswordPolicyError::NoLowercase => {
                f.write_str("The password must include at least one lowercase letter")
            }
        }
    }
}

/// Refuses a new password the policy does not allow (on the wire the
/// spec's `M_WEAK_PASSWORD`; Synapse answers with its own `M_PASSWORD_*`
/// codes, the spec names only `M_WEAK_PASSWORD`).
pub fn check_new_password(
    policy: &PasswordPolicy,
    password: &str,
) -> Result<(), PasswordPolicyError> {
    if too_long(password) {
        return Err(PasswordPolicyError::TooLong);
    }
    if !policy.enabled {
        return Ok(());
    }
    if password.chars().count() < policy.minimum_length {
        return Err(PasswordPolicyError::TooShort(policy.minimum_length));
    }
    if policy.require_digit && !password.chars().any(|c| c.is_ascii_digit()) {
        return Err(PasswordPolicyError::NoDigit);
    }
    if policy.require_symbol && !password.chars().any(|c| !c.is_alphanumeric()) {
        return Err(PasswordPolicyError::NoSymbol);
    }
    if policy.require_uppercase && !password.chars().any(|c| c.is_uppercase()) {
        return Err(PasswordPolicyError::NoUppercase);
    }
    if policy.require_lowercase && !password.chars().any(|c| c.is_lowercase()) {
        return Err(PasswordPolicyError::NoLowercase);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_refuses_with_its_reason() {
        let policy = PasswordPolicy {
            enabled: true,
            minimum_length: 8,
            require_digit: true,
            require_symbol: true,
            require_lowercase: true,
            require_uppercase: true,
        };
        assert!(check_new_password(&policy, "Abcdef1!").is_ok());
        let cases = [
            ("Ab1!", PasswordPolicyError::TooShort(8)),
            ("Abcdefg!", PasswordPolicyError::NoDigit),
            ("Abcdefg1", PasswordPolicyError::NoSymbol),
            ("abcdef1!", PasswordPolicyError::NoUppercase),
            ("ABCDEF1!", PasswordPolicyError::NoLowercase),
        ];
        for (bad, why) in cases {
            assert_eq!(check_new_password(&policy, bad), Err(why), "{bad}");
        }
        let off = PasswordPolicy {
            enabled: false,
            ..policy
        };
        assert!(check_new_password(&off, "x").is_ok());
        assert_eq!(
            check_new_password(&off, &"x".repeat(513)),
            Err(PasswordPolicyError::TooLong)
        );
    }
}
