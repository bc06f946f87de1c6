//! Registration's keys: `enable_registration` (and Synapse's older inverse
//! `disable_registration`), `enable_registration_without_verification`,
//! `registration_requires_token` and `registration_shared_secret` (or
//! `_path`); and Synapse's refusal of open registration without any
//! verification, which looks at the captcha and 3PID sections too.

use super::email::ThreepidConfig;
use super::secret::SecretKey;
use super::yaml::{as_bool, KResult, KeyError, Map};
use super::Secret;

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &[
    "enable_registration",
    "disable_registration",
    "enable_registration_without_verification",
    "registration_requires_token",
    "registration_shared_secret",
    "registration_shared_secret_path",
];

/// This section's part of [`Config`](super::Config).
pub(super) struct Registration {
    pub enable_registration: bool,
    pub enable_registration_without_verification: bool,
    pub registration_requires_token: bool,
    pub registration_shared_secret: Option<Secret>,
}

pub(super) fn parse(top: &Map<'_>) -> KResult<Registration> {
    let mut enable_registration = top.bool_or("enable_registration", false)?;
    // Synapse still honours the old inverse key, and it wins.
    if let Some(l) = top.get("disable_registration") {
        enable_registration = !as_bool(l.node())?;
    }
    Ok(Registration {
        enable_registration,
        enable_registration_without_verification: top
            .bool_or("enable_registration_without_verification", false)?,
        registration_requires_token: top.bool_or("registration_requires_token", false)?,
        registration_shared_secret: parse_shared_secret(top)?,
    })
}

fn parse_shared_secret(top: &Map<'_>) -> KResult<Option<Secret>> {
    let found = SecretKey::new("registration_shared_secret")
        .conflict_message(
            "You have configured both `registration_shared_secret` and \
             `registration_shared_secret_path`. These are mutually incompatible.",
        )
        .read(top)?;
    match found {
        None => Ok(None),
        // An empty secret disables shared-secret registration, as in Synapse
        // (an empty file is refused).
        Some(found) => Ok(Some(found.refuse_empty_file()?.value).filter(|s| !s.is_empty())),
    }
}

/// Synapse's check: open registration needs a token, a captcha or an
/// email, unless `enable_registration_without_verification` says otherwise.
pub(super) fn check_verified(
    top: &Map<'_>,
    registration: &Registration,
    captcha: bool,
    threepids: &ThreepidConfig,
) -> KResult<()> {
    if registration.enable_registration
        && !registration.enable_registration_without_verification
        && !registration.registration_requires_token
        && !captcha
        && !threepids
            .registrations_require_3pid
            .iter()
            .any(|m| m == "email")
    {
        let key = if top.contains("disable_registration") {
            "disable_registration"
        } else {
            "enable_registration"
        };
        return Err(KeyError::new(
            key,
            "You have enabled open registration without any verification. This is a known \
             vector for spam and abuse. If you would like to allow public registration, please \
             consider adding email, captcha, or token-based verification. Otherwise this check \
             can be removed by setting the `enable_registration_without_verification` config \
             option to `true`.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;
    use crate::config::Secret;
    use std::io::Write;

    #[test]
    fn registration_without_verification_is_refused_like_synapse() {
        let (path, shown) = parse_error("server_name: example.com\nenable_registration: true\n");
        assert_eq!(path, "enable_registration");
        assert!(
            shown.contains("You have enabled open registration without any verification."),
            "{shown}"
        );
        assert!(
            shown.contains("`enable_registration_without_verification` config option to `true`"),
            "{shown}"
        );
        let c = config(
            "server_name: example.com\nenable_registration: true\nenable_registration_without_verification: true\n",
        );
        assert!(c.enable_registration);
        assert!(c.enable_registration_without_verification);

        // The old inverse key still works as in Synapse, and is checked the same way.
        let (path, _) = parse_error("server_name: example.com\ndisable_registration: false\n");
        assert_eq!(path, "disable_registration");
    }

    #[test]
    fn shared_secret_and_secret_path_are_exclusive() {
        let text = "server_name: example.com\nregistration_shared_secret: a\nregistration_shared_secret_path: /x\n";
        let (path, shown) = parse_error(text);
        assert_eq!(path, "registration_shared_secret_path");
        assert!(shown.contains("mutually incompatible"), "{shown}");
    }

    #[test]
    fn shared_secret_path_is_read_at_load() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(file, "  s3cret-from-file  ").expect("write secret");
        let text = format!(
            "server_name: example.com\nregistration_shared_secret_path: '{}'\n",
            file.path().display()
        );
        let c = config(&text);
        assert_eq!(
            c.registration_shared_secret.as_ref().map(Secret::expose),
            Some("s3cret-from-file")
        );

        let (path, shown) = parse_error(
            "server_name: example.com\nregistration_shared_secret_path: /nonexistent/mxauth/secret\n",
        );
        assert_eq!(path, "registration_shared_secret_path");
        assert!(
            shown.contains("cannot read `/nonexistent/mxauth/secret`"),
            "{shown}"
        );

        // An empty inline secret disables shared-secret registration, as in Synapse.
        let c = config("server_name: example.com\nregistration_shared_secret: ''\n");
        assert!(c.registration_shared_secret.is_none());
    }

    #[test]
    fn registration_is_verified_by_a_token_a_captcha_or_an_email() {
        let base = "server_name: example.org\nenable_registration: true\n";
        assert!(load(base).is_err());
        assert!(load(&format!("{base}registration_requires_token: true\n")).is_ok());
        assert!(load(&format!(
            "{base}enable_registration_captcha: true\nrecaptcha_public_key: p\nrecaptcha_private_key: s\n"
        ))
        .is_ok());
        assert!(load(&format!(
            "{base}registrations_require_3pid: [email]\nemail:\n  smtp_host: localhost\n  notif_from: 'Server <noreply@example.org>'\n"
        ))
        .is_ok());
    }

    #[test]
    fn an_empty_shared_secret_file_is_refused() {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), " \n").unwrap();
        let (path, shown) = parse_error(&format!(
            "server_name: example.com\nregistration_shared_secret_path: '{}'\n",
            file.path().display()
        ));
        assert_eq!(path, "registration_shared_secret_path");
        assert!(shown.ends_with("is empty"), "{shown}");
    }
}
