//! `org.matrix.login.jwt`, as Synapse's `jwt_config`: a JSON Web Token
//! signed with the configured key logs in the user its subject claim names
//! (created on first login, with the display name claim). Expiry and
//! not-before are checked against the injected clock with Synapse's two
//! minutes of leeway.

use super::{Authenticated, NewUserProfile};
use crate::clock::Timestamp;
use crate::config::JwtConfig;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

pub const LOGIN_TYPE_JWT: &str = "org.matrix.login.jwt";

/// Clock skew allowed on `exp` and `nbf`, as Synapse's `leeway=120`.
const LEEWAY_S: i64 = 120;

/// The configured key and claims a token must satisfy.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    config: JwtConfig,
}

impl JwtVerifier {
    /// Fails when the key does not suit the algorithm.
    pub fn new(config: &JwtConfig) -> Result<Self, String> {
        let algorithm: Algorithm = config
            .algorithm
            .parse()
            .map_err(|_| format!("jwt_config.algorithm: unknown `{}`", config.algorithm))?;
        let secret = config.secret.expose().as_bytes();
        let key = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                Ok(DecodingKey::from_secret(secret))
            }
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => DecodingKey::from_rsa_pem(secret),
            Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(secret),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(secret),
        }
        .map_err(|_| {
            format!(
                "jwt_config.secret: not a PEM public key for {}",
                config.algorithm
            )
        })?;
        let mut validation = Validation::new(algorithm);
        // Claims are checked below, against the injected clock.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        Ok(JwtVerifier {
            key,
            validation,
            config: config.clone(),
        })
    }

    /// The user a token proves (its subject claim, as a localpart of
    /// `server_name`, created if missing), or why not.
    pub fn verify(
        &self,
        token: &str,
        now_ms: Timestamp,
        server_name: &str,
    ) -> Result<Authenticated, String> {
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                "Signature verification failed".to_owned()
            }
            _ => format!("{e}"),
        })?;
        let claims = data.claims;
        let now = now_ms.div_euclid(1000);
        if let Some(exp) = claims.get("exp") {
            let exp = exp.as_i64().ok_or("invalid claim 'exp'")?;
            if exp.saturating_add(LEEWAY_S) < now {
                return Err("The token is expired".into());
            }
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf.as_i64().ok_or("invalid claim 'nbf'")?;
            if nbf.saturating_sub(LEEWAY_S) > now {
                return Err("The token is not valid yet".into());
            }
        }
        if let Some(issuer) = &self.config.issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
                return Err("invalid claim 'iss'".into());
            }
        }
        let aud: Vec<&str> = match claims.get("aud") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            Some(_) => return Err("invalid claim 'aud'".into()),
        };
        let audience_ok = match &self.config.audiences {
            Some(allowed) if !allowed.is_empty() => {
                aud.iter().any(|a| allowed.iter().any(|b| b == a))
            }
            // As Synapse: an `aud` claim with no audiences configured fails.
            _ => !claims.contains_key("aud"),
        };
        if !audience_ok {
            return Err("invalid claim 'aud'".into());
        }
        let subject = claims
            .get(&self.config.subject_claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or("Invalid JWT")?;
        let display_name = self
            .config
            .display_name_claim
            .as_ref()
            .and_then(|c| claims.get(c))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let localpart = subject.to_lowercase();
        Ok(Authenticated::create_if_missing(
            crate::auth::identifiers::user_id(&localpart, server_name),
            NewUserProfile {
                display_name,
                threepids: Vec::new(),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const NOW_MS: i64 = 1_700_000_000_000;

    fn verifier(issuer: Option<&str>, audiences: Option<Vec<&str>>) -> JwtVerifier {
        JwtVerifier::new(&JwtConfig {
            secret: Secret::new("s3cret"),
            algorithm: "HS256".into(),
            subject_claim: "sub".into(),
            display_name_claim: Some("name".into()),
            issuer: issuer.map(str::to_owned),
            audiences: audiences.map(|a| a.into_iter().map(str::to_owned).collect()),
        })
        .unwrap()
    }

    fn token(claims: Value, secret: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn claims_are_checked_against_the_injected_clock() {
        let v = verifier(Some("idp"), Some(vec!["mx"]));
        let now = NOW_MS / 1000;
        let good =
            json!({"sub": "Alice", "name": "Alice A", "iss": "idp", "aud": "mx", "exp": now + 60});
        let found = v.verify(&token(good, "s3cret"), NOW_MS, "hs").unwrap();
        assert_eq!(found.user_id, "@alice:hs");
        let profile = found.create_with.unwrap();
        assert_eq!(profile.display_name.as_deref(), Some("Alice A"));

        // Within the leeway is fine; beyond it is expired.
        let skewed = json!({"sub": "a", "iss": "idp", "aud": "mx", "exp": now - 100});
        assert!(v.verify(&token(skewed, "s3cret"), NOW_MS, "hs").is_ok());
        let expired = json!({"sub": "a", "iss": "idp", "aud": "mx", "exp": now - 121});
        let e = v
            .verify(&token(expired, "s3cret"), NOW_MS, "hs")
            .unwrap_err();
        assert!(e.contains("expired"), "{e}");
        let early = json!({"sub": "a", "iss": "idp", "aud": "mx", "nbf": now + 600});
        assert!(v.verify(&token(early, "s3cret"), NOW_MS, "hs").is_err());
    }

    #[test]
    fn bad_signature_issuer_audience_and_subject_fail() {
        let v = verifier(Some("idp"), Some(vec!["mx", "other"]));
        let claims = json!({"sub": "a", "iss": "idp", "aud": ["x", "other"]});
        assert!(v
            .verify(&token(claims.clone(), "s3cret"), NOW_MS, "hs")
            .is_ok());
        let e = v.verify(&token(claims, "wrong"), NOW_MS, "hs").unwrap_err();
        assert_eq!(e, "Signature verification failed");
        let wrong_iss = json!({"sub": "a", "iss": "evil", "aud": "mx"});
        assert!(v.verify(&token(wrong_iss, "s3cret"), NOW_MS, "hs").is_err());
        let no_iss = json!({"sub": "a", "aud": "mx"});
        assert!(v.verify(&token(no_iss, "s3cret"), NOW_MS, "hs").is_err());
        let wrong_aud = json!({"sub": "a", "iss": "idp", "aud": "elsewhere"});
        assert!(v.verify(&token(wrong_aud, "s3cret"), NOW_MS, "hs").is_err());
        let no_sub = json!({"iss": "idp", "aud": "mx"});
        assert_eq!(
            v.verify(&token(no_sub, "s3cret"), NOW_MS, "hs")
                .unwrap_err(),
            "Invalid JWT"
        );
        // Without configured audiences, a token naming one is refused.
        let open = verifier(None, None);
        assert!(open
            .verify(&token(json!({"sub": "a"}), "s3cret"), NOW_MS, "hs")
            .is_ok());
        assert!(open
            .verify(
                &token(json!({"sub": "a", "aud": "mx"}), "s3cret"),
                NOW_MS,
                "hs"
            )
            .is_err());
    }
}
