//! Guest access tokens that Synapse minted as macaroons (pymacaroons' V1
//! format, HMAC-SHA256 chained over the caveats), accepted when
//! `macaroon_secret_key` is the key Synapse used. mxauth never mints them;
//! they let guests of a Synapse that mxauth replaces keep their sessions.
//!
//! The rules are Synapse's `verify_guest_token`: a `guest = true` caveat,
//! exactly one `user_id`, and every caveat one of `gen = 1`,
//! `type = access`, `guest = true`, `user_id = …`, `nonce = …` or an
//! unexpired `time < …`; no third-party caveats.

use crate::clock::Timestamp;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// A decoded macaroon (first-party caveats only are kept usable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Macaroon {
    pub location: String,
    pub identifier: Vec<u8>,
    pub caveats: Vec<Caveat>,
    pub signature: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caveat {
    pub id: Vec<u8>,
    /// Set for a third-party caveat.
    pub verification_id: Option<Vec<u8>>,
}

/// Whether `token` looks like a serialised macaroon at all (cheap: it
/// decodes and its packets parse).
pub fn looks_like_macaroon(token: &str) -> bool {
    parse(token).is_some()
}

/// pymacaroons' V1 binary format, base64 (URL-safe or standard, padded or
/// not): packets of four hex digits of length (header included), then
/// `key value\n`.
pub fn parse(token: &str) -> Option<Macaroon> {
    let trimmed = token.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .ok()?;
    let mut packets = Vec::new();
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        let header = std::str::from_utf8(rest.get(..4)?).ok()?;
        let len = usize::from_str_radix(header, 16).ok()?;
        let packet = rest.get(4..len)?;
        rest = &rest[len..];
        let body = packet.strip_suffix(b"\n")?;
        let space = body.iter().position(|&b| b == b' ')?;
        packets.push((&body[..space], &body[space + 1..]));
    }
    let mut packets = packets.into_iter().peekable();
    let (k, location) = packets.next()?;
    if k != b"location" {
        return None;
    }
    let (k, identifier) = packets.next()?;
    if k != b"identifier" {
        return None;
    }
    let mut caveats: Vec<Caveat> = Vec::new();
    let mut signature = None;
    for (key, value) in packets {
        match key {
            b"cid" => caveats.push(Caveat {
                id: value.to_vec(),
                verification_id: None,
            }),
            b"vid" => caveats.last_mut()?.verification_id = Some(value.to_vec()),
            b"cl" => {}
            b"signature" => signature = Some(value.to_vec()),
            _ => return None,
        }
        if signature.is_some() && key != b"signature" {
            return None;
        }
    }
    Some(Macaroon {
        location: String::from_utf8(location.to_vec()).ok()?,
        identifier: identifier.to_vec(),
        caveats,
        signature: signature?,
    })
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl Macaroon {
    /// Whether the signature is the chain of HMACs from `key` (first-party
    /// caveats only), compared in constant time.
    fn signed_with(&self, key: &[u8]) -> bool {
        if self.caveats.iter().any(|c| c.verification_id.is_some()) {
            return false;
        }
        let derived = hmac(b"macaroons-key-generator", key);
        let mut sig = hmac(&derived, &self.identifier);
        for c in &self.caveats {
            sig = hmac(&sig, &c.id);
        }
        self.signature.len() == 32 && bool::from(sig.ct_eq(&self.signature[..]))
    }
}

/// The user a guest macaroon was minted for, if it verifies with `key`
/// and has not expired at `now_ms`.
pub fn verify_guest_token(token: &str, key: &[u8], now_ms: Timestamp) -> Option<String> {
    let macaroon = parse(token)?;
    if !macaroon.signed_with(key) {
        return None;
    }
    let mut user_id: Option<&str> = None;
    let mut guest = false;
    for c in &macaroon.caveats {
        let id = std::str::from_utf8(&c.id).ok()?;
        if let Some(u) = id.strip_prefix("user_id = ") {
            if user_id.is_some_and(|prev| prev != u) {
                return None;
            }
            user_id = Some(u);
        } else if let Some(t) = id.strip_prefix("time < ") {
            if now_ms >= t.parse::<i64>().ok()? {
                return None;
            }
        } else if id == "guest = true" {
            guest = true;
        } else if !(id == "gen = 1" || id == "type = access" || id.starts_with("nonce = ")) {
            return None;
        }
    }
    guest.then_some(())?;
    user_id.map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"the macaroon secret key";
    // Minted by pymacaroons 0.13 as Synapse's generate_guest_access_token
    // does: gen, type, user_id, nonce, guest.
    const GUEST: &str = "MDAxYWxvY2F0aW9uIHRlc3QuZXhhbXBsZQowMDEzaWRlbnRpZmllciBrZXkKMDAxMGNpZCBnZW4gPSAxCjAwMTZjaWQgdHlwZSA9IGFjY2VzcwowMDI5Y2lkIHVzZXJfaWQgPSBAYmFsZHJpY2s6dGVzdC5leGFtcGxlCjAwMWFjaWQgbm9uY2UgPSBhYmMxMjNYWVoKMDAxNWNpZCBndWVzdCA9IHRydWUKMDAyZnNpZ25hdHVyZSAmhIw0pRD85h3sE8445VgFVnPT8_XJpDjXwbuS4o_kLgo";
    // The same without the nonce, with `time < 1000`.
    const EXPIRING: &str = "MDAxYWxvY2F0aW9uIHRlc3QuZXhhbXBsZQowMDEzaWRlbnRpZmllciBrZXkKMDAxMGNpZCBnZW4gPSAxCjAwMTZjaWQgdHlwZSA9IGFjY2VzcwowMDI5Y2lkIHVzZXJfaWQgPSBAYmFsZHJpY2s6dGVzdC5leGFtcGxlCjAwMTVjaWQgZ3Vlc3QgPSB0cnVlCjAwMTRjaWQgdGltZSA8IDEwMDAKMDAyZnNpZ25hdHVyZSCbDdCRElFSWlPE9mKIEVaVgzPlKGSnfdqQaxPiLP0SSgo";

    #[test]
    fn pymacaroons_guest_tokens_verify() {
        let m = parse(GUEST).expect("parses");
        assert_eq!(m.location, "test.example");
        assert_eq!(m.identifier, b"key");
        assert_eq!(m.caveats.len(), 5);
        assert_eq!(
            verify_guest_token(GUEST, KEY, 0).as_deref(),
            Some("@baldrick:test.example")
        );
        // Padded, as some serialisers write it.
        let padded = format!("{GUEST}{}", "=".repeat((4 - GUEST.len() % 4) % 4));
        assert_eq!(
            verify_guest_token(&padded, KEY, 0).as_deref(),
            Some("@baldrick:test.example")
        );
    }

    #[test]
    fn wrong_key_expiry_and_tampering_are_refused() {
        assert_eq!(verify_guest_token(GUEST, b"another key", 0), None);
        assert_eq!(
            verify_guest_token(EXPIRING, KEY, 999).as_deref(),
            Some("@baldrick:test.example")
        );
        assert_eq!(verify_guest_token(EXPIRING, KEY, 1000), None);
        // Changing one caveat breaks the signature.
        let mut m = parse(GUEST).unwrap();
        m.caveats[2].id = b"user_id = @admin:test.example".to_vec();
        assert!(!m.signed_with(KEY));
        assert!(parse("syt_not_a_macaroon").is_none());
        assert!(parse("").is_none());
    }
}
