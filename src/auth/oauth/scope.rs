//! The scopes of a Matrix OAuth 2.0 grant (the spec's "Scope" section,
//! MSC2967): API access, exactly one device, Synapse's admin scope, and
//! OpenID Connect's `openid`. The unstable `org.matrix.msc2967.client`
//! names are accepted as aliases of the stable ones. The scope names are
//! defined here once; introspection (`auth/introspect.rs`) reports them
//! too.

use crate::auth::identifiers::DeviceId;

pub const SCOPE_OPENID: &str = "openid";
/// What Synapse reads from introspection (MSC2967, stable and unstable).
pub const SCOPE_API: &str = "urn:matrix:client:api:*";
pub const SCOPE_API_UNSTABLE: &str = "urn:matrix:org.matrix.msc2967.client:api:*";
pub const SCOPE_DEVICE_PREFIX: &str = "urn:matrix:client:device:";
pub const SCOPE_DEVICE_PREFIX_UNSTABLE: &str = "urn:matrix:org.matrix.msc2967.client:device:";
/// The scope by which Synapse learns that a user is an admin.
pub const SCOPE_SYNAPSE_ADMIN: &str = "urn:synapse:admin:*";
/// A guest's scopes in place of the API ones (introspection of a legacy
/// guest token): Synapse treats a token as a guest's when it has a guest
/// scope and no `api:*` scope (it reads the unstable one; the stable name
/// is MSC2967's). Not granted through OAuth.
pub const SCOPE_GUEST: &str = "urn:matrix:client:api:guest";
pub const SCOPE_GUEST_UNSTABLE: &str = "urn:matrix:org.matrix.msc2967.client:api:guest";

/// Scope tokens and the whole string are bounded: a scope is stored with
/// each grant and token.
const MAX_SCOPE_LEN: usize = 1024;

/// A checked scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantScope {
    /// The scope tokens, as asked for, without repetitions, in order.
    pub tokens: Vec<String>,
    pub device_id: DeviceId,
    pub openid: bool,
    pub admin: bool,
    pub api: bool,
}

impl GrantScope {
    /// The scope as a space-separated string (what is stored and answered).
    pub fn as_string(&self) -> String {
        self.tokens.join(" ")
    }
}

/// Why a scope is refused (`invalid_scope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    Missing,
    TooLong,
    /// A scope token mxauth does not know.
    Unknown(String),
    NoDevice,
    SeveralDevices,
    /// The device ID is empty, too long, or not made of URI unreserved
    /// characters.
    BadDeviceId,
}

impl std::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScopeError::Missing => f.write_str("The scope is missing"),
            ScopeError::TooLong => f.write_str("The scope is too long"),
            ScopeError::Unknown(s) => write!(f, "Unknown scope: {s}"),
            ScopeError::NoDevice => f.write_str(
                "The scope must name exactly one device (urn:matrix:client:device:<device ID>)",
            ),
            ScopeError::SeveralDevices => f.write_str("The scope names more than one device"),
            ScopeError::BadDeviceId => {
                f.write_str("The device ID in the scope must be 1 to 255 URI unreserved characters")
            }
        }
    }
}

/// Parses and checks a space-separated scope.
pub fn parse_scope(scope: &str) -> Result<GrantScope, ScopeError> {
    if scope.len() > MAX_SCOPE_LEN {
        return Err(ScopeError::TooLong);
    }
    let mut tokens: Vec<String> = Vec::new();
    let mut device: Option<String> = None;
    let (mut openid, mut admin, mut api) = (false, false, false);
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        if tokens.iter().any(|t| t == token) {
            continue;
        }
        if let Some(id) = token
            .strip_prefix(SCOPE_DEVICE_PREFIX)
            .or_else(|| token.strip_prefix(SCOPE_DEVICE_PREFIX_UNSTABLE))
        {
            if !is_unreserved(id) {
                return Err(ScopeError::BadDeviceId);
            }
            match &device {
                Some(d) if d != id => return Err(ScopeError::SeveralDevices),
                _ => device = Some(id.to_owned()),
            }
        } else {
            match token {
                SCOPE_OPENID => openid = true,
                SCOPE_API | SCOPE_API_UNSTABLE => api = true,
                SCOPE_SYNAPSE_ADMIN => admin = true,
                other => return Err(ScopeError::Unknown(other.to_owned())),
            }
        }
        tokens.push(token.to_owned());
    }
    if tokens.is_empty() {
        return Err(ScopeError::Missing);
    }
    let device = device.ok_or(ScopeError::NoDevice)?;
    let device_id = DeviceId::parse(device).map_err(|_| ScopeError::BadDeviceId)?;
    Ok(GrantScope {
        tokens,
        device_id,
        openid,
        admin,
        api,
    })
}

/// RFC 3986's unreserved characters, and at least one.
fn is_unreserved(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// What the consent page says a scope token allows.
pub fn describe(token: &str) -> String {
    if let Some(id) = token
        .strip_prefix(SCOPE_DEVICE_PREFIX)
        .or_else(|| token.strip_prefix(SCOPE_DEVICE_PREFIX_UNSTABLE))
    {
        return format!("Sign in as a device with ID {id}");
    }
    match token {
        SCOPE_API | SCOPE_API_UNSTABLE => "Read and send your messages, and act as you on Matrix",
        SCOPE_SYNAPSE_ADMIN => "Administer the homeserver (server admin access)",
        SCOPE_OPENID => "Know who you are (your Matrix user ID)",
        _ => "Unknown access",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_scope_parses() {
        let s = parse_scope(
            "openid urn:matrix:client:api:* urn:matrix:client:device:ABCDEFGHIJ urn:synapse:admin:*",
        )
        .unwrap();
        assert!(s.openid && s.api && s.admin);
        assert_eq!(s.device_id.as_str(), "ABCDEFGHIJ");
        assert_eq!(s.tokens.len(), 4);
    }

    #[test]
    fn unstable_aliases_and_repetitions() {
        let s = parse_scope(
            "urn:matrix:org.matrix.msc2967.client:api:* urn:matrix:org.matrix.msc2967.client:device:AB \
             urn:matrix:client:device:AB urn:matrix:client:device:AB",
        )
        .unwrap();
        assert!(s.api && !s.openid && !s.admin);
        assert_eq!(s.device_id.as_str(), "AB");
        assert_eq!(s.tokens.len(), 3, "{:?}", s.tokens);
    }

    #[test]
    fn refusals() {
        let cases = [
            ("", ScopeError::Missing),
            ("   ", ScopeError::Missing),
            ("urn:matrix:client:api:*", ScopeError::NoDevice),
            (
                "urn:matrix:client:device:A urn:matrix:client:device:B",
                ScopeError::SeveralDevices,
            ),
            ("urn:matrix:client:device:", ScopeError::BadDeviceId),
            ("urn:matrix:client:device:a/b", ScopeError::BadDeviceId),
            ("urn:matrix:client:device:a%20b", ScopeError::BadDeviceId),
            (
                "urn:matrix:client:device:A profile",
                ScopeError::Unknown("profile".into()),
            ),
        ];
        for (scope, want) in cases {
            assert_eq!(parse_scope(scope).unwrap_err(), want, "{scope:?}");
        }
        let long = format!(
            "urn:matrix:client:device:{}",
            "A".repeat(crate::auth::identifiers::MAX_DEVICE_ID_LEN + 1)
        );
        assert_eq!(parse_scope(&long).unwrap_err(), ScopeError::BadDeviceId);
        assert_eq!(
            parse_scope(&"openid ".repeat(200)).unwrap_err(),
            ScopeError::TooLong
        );
    }
}
