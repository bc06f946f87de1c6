//! Access and refresh tokens: opaque, prefixed, checksummed, stored hashed.
//!
//! The shape is Synapse's: `syt_<base64 localpart>_<20 random chars>_<crc>`
//! (refresh tokens `syr_`),
//! where `<crc>` is the CRC-32 of everything before it, in base 62, six
//! characters. The checksum lets a mistyped or forged token be refused
//! without a database lookup; the database only ever sees SHA-256(token).

use crate::clock::{random_string, Random};
use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const ACCESS_TOKEN_PREFIX: &str = "syt_";
/// Synapse's prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "syr_";

/// A token as handed to a client. Its `Debug` prints nothing of it.
pub struct IssuedToken(Zeroizing<String>);

impl IssuedToken {
    /// Wraps a secret made elsewhere (a login token, say).
    pub(crate) fn new(secret: String) -> Self {
        IssuedToken(Zeroizing::new(secret))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn hash(&self) -> Vec<u8> {
        hash_token(&self.0)
    }
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IssuedToken([redacted])")
    }
}

/// A new access token for the user with this localpart.
pub fn generate(prefix: &str, localpart: &str, rng: &dyn Random) -> IssuedToken {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(localpart.as_bytes());
    let body = format!("{prefix}{b64}_{}", random_string(rng, 20));
    let crc = base62(crc32fast::hash(body.as_bytes()), 6);
    IssuedToken(Zeroizing::new(format!("{body}_{crc}")))
}

/// Whether `token` has the shape of our access tokens and a correct checksum.
pub fn is_well_formed(token: &str) -> bool {
    has_shape(token, ACCESS_TOKEN_PREFIX)
}

/// Whether `token` has the shape of our refresh tokens and a correct checksum.
pub fn is_well_formed_refresh(token: &str) -> bool {
    has_shape(token, REFRESH_TOKEN_PREFIX)
}

fn has_shape(token: &str, prefix: &str) -> bool {
    let Some((body, crc)) = token.rsplit_once('_') else {
        return false;
    };
    if !body.starts_with(prefix) || crc.len() != 6 {
        return false;
    }
    // Not a secret comparison: the checksum is public, derived from the token.
    base62(crc32fast::hash(body.as_bytes()), 6) == crc
}

/// SHA-256 of a token: what the store keeps and looks up.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn base62(mut n: u32, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededRandom;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let rng = SeededRandom::new(1);
        let a = generate(ACCESS_TOKEN_PREFIX, "alice", &rng);
        let b = generate(ACCESS_TOKEN_PREFIX, "alice", &rng);
        assert!(a.expose().starts_with("syt_YWxpY2U_"), "{}", a.expose());
        assert!(is_well_formed(a.expose()));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash().len(), 32);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn a_changed_character_breaks_the_checksum() {
        let t = generate(ACCESS_TOKEN_PREFIX, "bob", &SeededRandom::new(2));
        let s = t.expose();
        let mut chars: Vec<char> = s.chars().collect();
        let i = s.len() - 8;
        chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
        let broken: String = chars.into_iter().collect();
        assert!(!is_well_formed(&broken));
        assert!(!is_well_formed("syt_nope"));
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("abc_def_ghijkl"));
    }

    #[test]
    fn refresh_tokens_are_told_apart_from_access_tokens() {
        let rng = SeededRandom::new(4);
        let r = generate(REFRESH_TOKEN_PREFIX, "dave", &rng);
        let a = generate(ACCESS_TOKEN_PREFIX, "dave", &rng);
        assert!(r.expose().starts_with("syr_ZGF2ZQ_"), "{}", r.expose());
        assert!(is_well_formed_refresh(r.expose()) && !is_well_formed(r.expose()));
        assert!(is_well_formed(a.expose()) && !is_well_formed_refresh(a.expose()));
        assert!(!is_well_formed_refresh("syr_nope"));
    }

    #[test]
    fn debug_prints_no_token() {
        let t = generate(ACCESS_TOKEN_PREFIX, "carol", &SeededRandom::new(3));
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn base62_is_fixed_width() {
        assert_eq!(base62(0, 6), "000000");
        assert_eq!(base62(61, 6), "00000z");
        assert_eq!(base62(62, 6), "000010");
        assert_eq!(base62(u32::MAX, 6), "4gfFC3");
    }
}
