//! The keys that sign mxauth's id_tokens (RS256, OpenID Connect's
//! default), kept in the database so every process signs with the same
//! ones and publishes the same JWKS (`GET /oauth2/keys.json`).
//!
//! The first process to start with the OAuth 2.0 API on generates the key;
//! of two starting at once, the one whose insert lands first wins (a
//! partial unique index allows one current key per algorithm) and the
//! other's key is thrown away: every process then reads the stored one.
//!
//! Rotation ([`Auth::rotate_signing_key`], `mxauth oauth rotate-signing-key`):
//! the current key is retired and a new one made current, in one
//! transaction. A retired key signs nothing more but stays in the JWKS for
//! [`RETIRED_KEY_PUBLISHED_MS`], longer than any id_token it signed lives,
//! after which the sweep deletes it.

use super::error::SigningError;
use crate::auth::Auth;
use crate::store::SigningKeyRow;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::SeedableRng;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

/// The algorithm of the keys mxauth makes.
pub const ALG_RS256: &str = "RS256";
/// The algorithms id_tokens are signed with (discovery's
/// `id_token_signing_alg_values_supported`).
pub const SIGNING_ALGS: &[&str] = &[ALG_RS256];
/// How long a retired key stays in the JWKS: a day, longer than any
/// id_token lives.
pub const RETIRED_KEY_PUBLISHED_MS: i64 = 24 * 3600 * 1000;
const RSA_BITS: usize = 2048;

impl Auth {
    /// Makes sure there is a current signing key (at start, with the
    /// OAuth 2.0 API on): generates and stores one if there is none.
    /// Concurrent callers, in this process or others, end with one key.
    pub async fn ensure_signing_key(&self) -> Result<(), SigningError> {
        let keys = self.store.oauth().signing_keys().await?;
        if keys
            .iter()
            .any(|k| k.alg == ALG_RS256 && k.retired_ts.is_none())
        {
            return Ok(());
        }
        let key = self.generate_signing_key().await?;
        if !self
            .store
            .oauth()
            .insert_signing_key_if_absent(&key)
            .await?
        {
            tracing::info!("another process stored the id_token signing key first");
        }
        Ok(())
    }

    /// Retires the current key and makes a new one current, in one
    /// transaction; returns the new key's `kid`. The retired key stays in
    /// the JWKS for [`RETIRED_KEY_PUBLISHED_MS`].
    pub async fn rotate_signing_key(&self) -> Result<String, SigningError> {
        let key = self.generate_signing_key().await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.oauth().retire_signing_key(ALG_RS256, now).await?;
        if !tx.oauth().insert_signing_key_if_absent(&key).await? {
            return Err(SigningError::internal(
                "a concurrent rotation made another key current",
            ));
        }
        tx.commit().await?;
        Ok(key.kid)
    }

    /// The public keys as JWKs (`kid`, `alg`, `use: sig`): the current
    /// ones, then the retired ones still published.
    pub async fn signing_jwks(&self) -> Result<Vec<Value>, SigningError> {
        let keys = self.store.oauth().signing_keys().await?;
        keys.iter()
            .map(|k| {
                serde_json::from_str(&k.public_jwk)
                    .map_err(|e| SigningError::internal(format!("key {}: bad JWK: {e}", k.kid)))
            })
            .collect()
    }

    /// Signs an id_token (its claims as a JSON object) with the current
    /// key; the header names the key (`kid`).
    pub async fn sign_id_token(&self, claims: Value) -> Result<String, SigningError> {
        let current = |keys: Vec<SigningKeyRow>| {
            keys.into_iter()
                .find(|k| k.alg == ALG_RS256 && k.retired_ts.is_none())
        };
        let key = match current(self.store.oauth().signing_keys().await?) {
            Some(k) => k,
            None => {
                self.ensure_signing_key().await?;
                current(self.store.oauth().signing_keys().await?)
                    .ok_or_else(|| SigningError::internal("no current signing key"))?
            }
        };
        let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(key.private_pem.as_bytes())
            .map_err(|e| SigningError::internal(format!("key {}: {e}", key.kid)))?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(key.kid);
        jsonwebtoken::encode(&header, &claims, &encoding).map_err(SigningError::internal)
    }

    /// Deletes the keys retired more than [`RETIRED_KEY_PUBLISHED_MS`] ago
    /// (a background job); returns how many went.
    pub async fn sweep_signing_keys(&self) -> Result<u64, SigningError> {
        let before = self.now() - RETIRED_KEY_PUBLISHED_MS;
        Ok(self
            .store
            .oauth()
            .delete_retired_signing_keys(before)
            .await?)
    }

    /// A new RS256 key, generated off the async threads (a second or so)
    /// from the injected randomness.
    async fn generate_signing_key(&self) -> Result<SigningKeyRow, SigningError> {
        let mut seed = [0u8; 32];
        self.rng.fill(&mut seed);
        let kid = crate::clock::random_string(self.rng.as_ref(), 16);
        let created_ts = self.now();
        tokio::task::spawn_blocking(move || rsa_key(seed, kid, created_ts))
            .await
            .map_err(SigningError::internal)?
    }
}

fn rsa_key(seed: [u8; 32], kid: String, created_ts: i64) -> Result<SigningKeyRow, SigningError> {
    let mut rng = rand::rngs::StdRng::from_seed(seed);
    let private = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS).map_err(SigningError::internal)?;
    let pem = private
        .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
        .map_err(SigningError::internal)?;
    let jwk = json!({
        "kty": "RSA",
        "kid": kid,
        "alg": ALG_RS256,
        "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
    });
    Ok(SigningKeyRow {
        kid,
        alg: ALG_RS256.to_owned(),
        private_pem: pem.to_string(),
        public_jwk: jwk.to_string(),
        created_ts,
        retired_ts: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{MockClock, SeededRandom};
    use crate::config::Config;
    use std::sync::Arc;

    /// One key made at "start", an id_token signed with it verifies against
    /// the published JWK; after a rotation the new key signs and both are
    /// published, until the retired one's time is up.
    #[tokio::test]
    async fn sign_verify_and_rotate() {
        let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
        let clock = Arc::new(MockClock::new(1_700_000_000_000));
        let rng = Arc::new(SeededRandom::new(7));
        let auth = Auth::new(Arc::new(Config::default()), store, clock.clone(), rng);
        auth.ensure_signing_key().await.unwrap();
        auth.ensure_signing_key().await.unwrap();
        let jwks = auth.signing_jwks().await.unwrap();
        assert_eq!(jwks.len(), 1, "{jwks:?}");
        assert_eq!(jwks[0]["alg"], "RS256");
        assert_eq!(jwks[0]["use"], "sig");
        assert!(jwks[0].get("d").is_none(), "no private part");

        let claims = json!({"iss": "https://auth.example/", "sub": "@a:example", "aud": "c"});
        let token = auth.sign_id_token(claims.clone()).await.unwrap();
        let verify = |token: &str, jwk: &Value| {
            let header = jsonwebtoken::decode_header(token).unwrap();
            assert_eq!(header.kid.as_deref(), jwk["kid"].as_str());
            let key = jsonwebtoken::DecodingKey::from_rsa_components(
                jwk["n"].as_str().unwrap(),
                jwk["e"].as_str().unwrap(),
            )
            .unwrap();
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            validation.set_audience(&["c"]);
            validation.required_spec_claims.clear();
            jsonwebtoken::decode::<Value>(token, &key, &validation)
                .unwrap()
                .claims
        };
        assert_eq!(verify(&token, &jwks[0]), claims);

        let new_kid = auth.rotate_signing_key().await.unwrap();
        let jwks = auth.signing_jwks().await.unwrap();
        assert_eq!(jwks.len(), 2);
        assert_eq!(jwks[0]["kid"], new_kid.as_str(), "the current key first");
        let token = auth.sign_id_token(claims.clone()).await.unwrap();
        assert_eq!(verify(&token, &jwks[0]), claims);

        assert_eq!(auth.sweep_signing_keys().await.unwrap(), 0);
        clock.advance_ms(RETIRED_KEY_PUBLISHED_MS + 1);
        assert_eq!(auth.sweep_signing_keys().await.unwrap(), 1);
        assert_eq!(auth.signing_jwks().await.unwrap().len(), 1);
    }
}
