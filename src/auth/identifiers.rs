//! User IDs and login identifiers, parsed once at the edge of the rules.

// Not through `threepids`' own module, which names `uia` (a circle).
use super::threepids::msisdn::{phone_number_to_msisdn, MEDIUM_MSISDN};
pub use ruma_common::{OwnedUserId, UserId};
use serde_json::Value;

/// Synapse's limit on a whole user ID.
const MAX_USER_ID_LEN: usize = 255;
/// Synapse's limit on a device display name.
pub const MAX_DEVICE_DISPLAY_NAME_LEN: usize = 100;
/// The spec's (and Synapse's) limit on a device ID given at login.
pub const MAX_DEVICE_ID_LEN: usize = 512;
/// Longest password accepted (Synapse's limit).
pub const MAX_PASSWORD_LEN: usize = 512;

/// A device ID a client chose, parsed once where the request is read:
/// not empty and at most [`MAX_DEVICE_ID_LEN`] characters. Every path that
/// takes a `device_id` (login of every type, registration, an application
/// service's login and registration) makes one before it does anything
/// else, so a bad one costs no hash, no user and no UIA session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct DeviceId(String);

/// A `device_id` the client gave that mxauth refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceIdError {
    Empty,
    /// Over [`MAX_DEVICE_ID_LEN`] characters.
    TooLong,
    NotAString,
}

impl std::fmt::Display for DeviceIdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceIdError::Empty => f.write_str("device_id cannot be empty"),
            DeviceIdError::TooLong => write!(
                f,
                "device_id cannot be longer than {MAX_DEVICE_ID_LEN} characters"
            ),
            DeviceIdError::NotAString => f.write_str("'device_id' must be a string"),
        }
    }
}

impl DeviceId {
    /// An ID that is neither empty nor too long.
    pub fn parse(raw: impl Into<String>) -> std::result::Result<Self, DeviceIdError> {
        let raw = raw.into();
        if raw.is_empty() {
            return Err(DeviceIdError::Empty);
        }
        if raw.chars().count() > MAX_DEVICE_ID_LEN {
            return Err(DeviceIdError::TooLong);
        }
        Ok(DeviceId(raw))
    }

    /// The `device_id` field of a JSON body: absent or `null` is `None`.
    pub fn from_field(
        body: &serde_json::Map<String, Value>,
    ) -> std::result::Result<Option<Self>, DeviceIdError> {
        match body.get("device_id") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Self::parse(s.as_str()).map(Some),
            Some(_) => Err(DeviceIdError::NotAString),
        }
    }

    /// A device ID read back from the store: it was parsed when it was
    /// first given (or by Synapse, for an imported database), so it is
    /// not refused now.
    pub fn from_stored(raw: String) -> Self {
        DeviceId(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for DeviceId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for DeviceId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// A user ID given in a request (a path or a body), parsed by ruma as the
/// spec's user IDs, historical ones included (upper case and the other
/// printable ASCII characters Synapse once allowed, as its imported
/// databases hold): `None` for what is no user ID at all (no `@`, no
/// server name, a space or a character beyond ASCII in the localpart,
/// longer than 255 bytes). The caller answers `None` with the error its
/// endpoint answered for an unknown or foreign user before.
pub fn parse_user_id(raw: &str) -> Option<OwnedUserId> {
    UserId::parse(raw).ok()
}

/// A user ID read back from the store (a token's owner, a user row):
/// every ID mxauth or Synapse wrote passes ruma's historical rules, so a
/// failure is a corrupt row, logged, and the caller refuses as if the row
/// were missing.
pub fn stored_user_id(raw: &str) -> Option<OwnedUserId> {
    let parsed = UserId::parse(raw).ok();
    if parsed.is_none() {
        tracing::warn!(
            user_id = raw,
            "stored user ID is not a valid Matrix user ID"
        );
    }
    parsed
}

/// Whether `user_id` is of this server.
pub fn is_local(user_id: &UserId, server_name: &str) -> bool {
    user_id.server_name().as_str() == server_name
}

/// `@localpart:server_name`.
pub fn user_id(localpart: &str, server_name: &str) -> String {
    format!("@{localpart}:{server_name}")
}

/// The localpart of a user ID of this server, or `None` for a foreign or
/// malformed ID.
pub fn local_localpart<'a>(user_id: &'a str, server_name: &str) -> Option<&'a str> {
    let parsed = <&ruma_common::UserId>::try_from(user_id).ok()?;
    (parsed.server_name().as_str() == server_name).then(|| parsed.localpart())
}

/// Why a localpart wanted at registration is refused (Synapse's rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsernameError {
    Empty,
    /// A character outside a-z, 0-9 and `=_-./+`.
    BadCharacter,
    LeadingUnderscore,
    /// All digits: the form of generated and guest IDs.
    Numeric,
    /// The whole user ID is over [`MAX_USER_ID_LEN`].
    TooLong,
}

impl std::fmt::Display for UsernameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UsernameError::Empty => f.write_str("User ID cannot be empty"),
            UsernameError::BadCharacter => {
                f.write_str("User ID can only contain characters a-z, 0-9, or '=_-./+'")
            }
            UsernameError::LeadingUnderscore => f.write_str("User ID may not begin with _"),
            UsernameError::Numeric => f.write_str("Numeric user IDs are reserved for guest users."),
            UsernameError::TooLong => write!(
                f,
                "User ID may not be longer than {MAX_USER_ID_LEN} characters"
            ),
        }
    }
}

/// Whether a localpart is made only of the characters Synapse allows in
/// new ones: a-z, 0-9 and `=_-./+`.
pub fn has_allowed_characters(localpart: &str) -> bool {
    localpart
        .bytes()
        .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'=' | b'_' | b'-' | b'.' | b'/' | b'+'))
}

/// Checks a localpart wanted at registration (already lower-cased), with
/// Synapse's rules.
pub fn check_new_localpart(
    localpart: &str,
    server_name: &str,
) -> std::result::Result<(), UsernameError> {
    if localpart.is_empty() {
        return Err(UsernameError::Empty);
    }
    if !has_allowed_characters(localpart) {
        return Err(UsernameError::BadCharacter);
    }
    if localpart.starts_with('_') {
        return Err(UsernameError::LeadingUnderscore);
    }
    if localpart.bytes().all(|c| c.is_ascii_digit()) {
        return Err(UsernameError::Numeric);
    }
    if user_id(localpart, server_name).len() > MAX_USER_ID_LEN {
        return Err(UsernameError::TooLong);
    }
    Ok(())
}

/// Who a login or a password stage names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserIdentifier {
    /// `m.id.user`, or the legacy top-level `user`: a localpart or a full ID.
    User(String),
    /// `m.id.thirdparty`, or the legacy top-level `medium` + `address`
    /// (the address as given); or `m.id.phone`, made the `msisdn` 3PID of
    /// its number as Synapse does, so every way of writing a number names
    /// the same 3PID.
    ThirdParty { medium: String, address: String },
}

/// What is wrong with a login's identifier (rendered by the HTTP layer:
/// `From<IdentifierError> for Error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentifierError {
    /// `identifier` is not an object (M_BAD_JSON).
    NotAnObject,
    /// A field that must be a string is not (M_BAD_JSON).
    NotAString(String),
    /// A field the identifier's type needs is missing (M_MISSING_PARAM).
    Missing(&'static str),
    /// An identifier type mxauth does not know (M_UNKNOWN).
    UnknownType,
    /// An `m.id.phone` whose number does not parse (M_INVALID_PARAM).
    BadPhoneNumber,
}

impl std::fmt::Display for IdentifierError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentifierError::NotAnObject => f.write_str("'identifier' must be an object"),
            IdentifierError::NotAString(key) => write!(f, "'{key}' must be a string"),
            IdentifierError::Missing(what) => f.write_str(what),
            IdentifierError::UnknownType => f.write_str("Unknown login identifier type"),
            IdentifierError::BadPhoneNumber => f.write_str("Unable to parse phone number"),
        }
    }
}

/// Reads the identifier of a login or `m.login.password` body: `identifier`
/// first, then the deprecated `user`, then `medium`/`address`.
pub fn parse_identifier(
    body: &serde_json::Map<String, Value>,
) -> std::result::Result<UserIdentifier, IdentifierError> {
    let str_field = |v: &Value, key: &str| match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(IdentifierError::NotAString(key.to_owned())),
    };
    match body.get("identifier") {
        Some(Value::Object(_)) => {
            let id = &body["identifier"];
            let kind = str_field(id, "type")?
                .ok_or(IdentifierError::Missing("'identifier' has no 'type'"))?;
            match kind.as_str() {
                "m.id.user" => str_field(id, "user")?
                    .map(UserIdentifier::User)
                    .ok_or(IdentifierError::Missing("'identifier' has no 'user'")),
                "m.id.thirdparty" => match (str_field(id, "medium")?, str_field(id, "address")?) {
                    (Some(medium), Some(address)) => {
                        Ok(UserIdentifier::ThirdParty { medium, address })
                    }
                    _ => Err(IdentifierError::Missing(
                        "Invalid thirdparty identifier: 'medium' and 'address' are required",
                    )),
                },
                "m.id.phone" => {
                    // The spec's `phone`, else the `number` Synapse once
                    // required (Element sends both).
                    let phone = match str_field(id, "phone")? {
                        Some(phone) => Some(phone),
                        None => str_field(id, "number")?,
                    };
                    match (str_field(id, "country")?, phone) {
                        (Some(country), Some(phone)) => Ok(UserIdentifier::ThirdParty {
                            medium: MEDIUM_MSISDN.to_owned(),
                            address: phone_number_to_msisdn(&country, &phone)
                                .map_err(|_| IdentifierError::BadPhoneNumber)?,
                        }),
                        _ => Err(IdentifierError::Missing(
                            "Invalid phone-type identifier: 'country' and 'phone' are required",
                        )),
                    }
                }
                _ => Err(IdentifierError::UnknownType),
            }
        }
        Some(Value::Null) | None => {
            let top = Value::Object(body.clone());
            if let Some(user) = str_field(&top, "user")? {
                return Ok(UserIdentifier::User(user));
            }
            match (str_field(&top, "medium")?, str_field(&top, "address")?) {
                (Some(medium), Some(address)) => Ok(UserIdentifier::ThirdParty { medium, address }),
                _ => Err(IdentifierError::Missing("Missing param: identifier")),
            }
        }
        Some(_) => Err(IdentifierError::NotAnObject),
    }
}

/// The candidate user ID for what a client typed: a full ID as is, a
/// localpart made into one of this server. `None` for another server's ID.
pub fn qualify(user: &str, server_name: &str) -> Option<String> {
    if user.starts_with('@') {
        let parsed = <&ruma_common::UserId>::try_from(user).ok()?;
        (parsed.server_name().as_str() == server_name).then(|| user.to_owned())
    } else {
        Some(user_id(user, server_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn identifiers_in_every_shape() {
        assert_eq!(
            parse_identifier(&obj(
                json!({"identifier": {"type": "m.id.user", "user": "alice"}})
            ))
            .unwrap(),
            UserIdentifier::User("alice".into())
        );
        assert_eq!(
            parse_identifier(&obj(json!({"user": "@alice:hs"}))).unwrap(),
            UserIdentifier::User("@alice:hs".into())
        );
        assert_eq!(
            parse_identifier(&obj(json!({"medium": "email", "address": "a@b.c"}))).unwrap(),
            UserIdentifier::ThirdParty {
                medium: "email".into(),
                address: "a@b.c".into()
            }
        );
        let e = parse_identifier(&obj(json!({"identifier": {"type": "m.id.nope"}}))).unwrap_err();
        assert_eq!(e, IdentifierError::UnknownType);
        let e = parse_identifier(&obj(
            json!({"identifier": {"type": "m.id.user", "user": 3}}),
        ))
        .unwrap_err();
        assert_eq!(e, IdentifierError::NotAString("user".into()));
        let e = parse_identifier(&obj(json!({}))).unwrap_err();
        assert_eq!(e, IdentifierError::Missing("Missing param: identifier"));
    }

    #[test]
    fn a_phone_identifier_is_the_msisdn_3pid_of_its_number() {
        let msisdn = UserIdentifier::ThirdParty {
            medium: "msisdn".into(),
            address: "447700900123".into(),
        };
        for identifier in [
            json!({"type": "m.id.phone", "country": "GB", "phone": "07700 900123"}),
            json!({"type": "m.id.phone", "country": "US", "phone": "+44 7700 900123"}),
            json!({"type": "m.id.phone", "country": "GB", "number": "07700900123"}),
            json!({"type": "m.id.phone", "country": "GB", "phone": "07700900123", "number": "x"}),
        ] {
            let body = obj(json!({ "identifier": identifier }));
            assert_eq!(parse_identifier(&body).unwrap(), msisdn, "{identifier}");
        }
        // m.id.thirdparty's address is taken as given, as Synapse does.
        let given = obj(json!({"identifier":
            {"type": "m.id.thirdparty", "medium": "msisdn", "address": "+44 7700 900123"}}));
        assert_eq!(
            parse_identifier(&given).unwrap(),
            UserIdentifier::ThirdParty {
                medium: "msisdn".into(),
                address: "+44 7700 900123".into()
            }
        );
        let phone = |v: Value| parse_identifier(&obj(json!({ "identifier": v })));
        assert_eq!(
            phone(json!({"type": "m.id.phone", "country": "GB", "phone": "not a number"})),
            Err(IdentifierError::BadPhoneNumber)
        );
        assert!(matches!(
            phone(json!({"type": "m.id.phone", "phone": "07700900123"})),
            Err(IdentifierError::Missing(_))
        ));
        assert_eq!(
            phone(json!({"type": "m.id.phone", "country": "GB", "phone": 7700900123_u64})),
            Err(IdentifierError::NotAString("phone".into()))
        );
    }

    #[test]
    fn device_ids_are_parsed_once() {
        assert_eq!(DeviceId::parse("PHONE").unwrap().as_str(), "PHONE");
        assert!(DeviceId::parse("é".repeat(MAX_DEVICE_ID_LEN)).is_ok());
        assert_eq!(DeviceId::parse(""), Err(DeviceIdError::Empty));
        assert_eq!(
            DeviceId::parse("x".repeat(MAX_DEVICE_ID_LEN + 1)),
            Err(DeviceIdError::TooLong)
        );
        let body = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(DeviceId::from_field(&body(json!({}))).unwrap(), None);
        assert_eq!(
            DeviceId::from_field(&body(json!({"device_id": null}))).unwrap(),
            None
        );
        assert_eq!(
            DeviceId::from_field(&body(json!({"device_id": 3}))),
            Err(DeviceIdError::NotAString)
        );
    }

    #[test]
    fn localpart_rules() {
        assert!(check_new_localpart("alice.b-c_d=e/f+g", "hs").is_ok());
        let cases = [
            ("", UsernameError::Empty),
            ("Alice", UsernameError::BadCharacter),
            ("al ice", UsernameError::BadCharacter),
            ("ä", UsernameError::BadCharacter),
            ("_bridge", UsernameError::LeadingUnderscore),
            ("1234", UsernameError::Numeric),
        ];
        for (bad, why) in cases {
            assert_eq!(check_new_localpart(bad, "hs"), Err(why), "{bad}");
        }
        assert_eq!(
            check_new_localpart(&"a".repeat(300), "hs"),
            Err(UsernameError::TooLong)
        );
    }

    #[test]
    fn user_ids_parsed_as_ruma_does_historical_ones_included() {
        let id = parse_user_id("@Bob.Old!:hs.example").expect("historical");
        assert_eq!(id.as_str(), "@Bob.Old!:hs.example");
        assert!(is_local(&id, "hs.example"));
        assert!(!is_local(&id, "other.example"));
        let long = format!("@{}:hs", "a".repeat(252));
        for bad in [
            "bob",
            "@bob",
            "@:hs.example",
            "@a b:hs.example",
            "@é:hs.example",
            "@bob:bad_host",
            long.as_str(),
        ] {
            assert_eq!(parse_user_id(bad), None, "{bad}");
            assert_eq!(stored_user_id(bad), None, "{bad}");
            // The same as today's test of a local ID: no user ID is local.
            assert_eq!(local_localpart(bad, "hs.example"), None, "{bad}");
        }
        assert_eq!(
            stored_user_id("@alice:hs").map(|u| u.localpart().to_owned()),
            Some("alice".to_owned())
        );
    }

    #[test]
    fn qualify_and_localpart() {
        assert_eq!(
            qualify("bob", "hs.example").as_deref(),
            Some("@bob:hs.example")
        );
        assert_eq!(
            qualify("@bob:hs.example", "hs.example").as_deref(),
            Some("@bob:hs.example")
        );
        assert_eq!(qualify("@bob:other.example", "hs.example"), None);
        assert_eq!(
            local_localpart("@bob:hs.example", "hs.example"),
            Some("bob")
        );
        assert_eq!(local_localpart("@bob:other", "hs.example"), None);
    }
}
