//! The `m.login.recaptcha` stage's verifier, as the rules see it.
//! `adapters/recaptcha.rs` asks the configured siteverify endpoint.

use async_trait::async_trait;

#[async_trait]
pub trait CaptchaVerifier: Send + Sync + 'static {
    /// Whether the response a client got from the captcha widget is good.
    /// `Err` when the verifier could not be asked.
    async fn verify(&self, response: &str) -> Result<bool, String>;
}

/// A verifier for tests: accepts the responses it was given, refuses the
/// others, or cannot be asked at all; notes every response it is asked about.
#[cfg(test)]
#[derive(Default)]
pub struct FakeCaptcha {
    pub accepted: Vec<String>,
    /// Every `verify` fails as if siteverify were down.
    pub unreachable: bool,
    pub(crate) asked: std::sync::Mutex<Vec<String>>,
}

#[cfg(test)]
impl FakeCaptcha {
    pub fn accepting(responses: &[&str]) -> Self {
        FakeCaptcha {
            accepted: responses.iter().map(|r| (*r).to_owned()).collect(),
            ..FakeCaptcha::default()
        }
    }

    /// The responses asked about so far.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().expect("not poisoned").clone()
    }
}

#[cfg(test)]
#[async_trait]
impl CaptchaVerifier for FakeCaptcha {
    async fn verify(&self, response: &str) -> Result<bool, String> {
        self.asked
            .lock()
            .expect("not poisoned")
            .push(response.to_owned());
        if self.unreachable {
            return Err("siteverify unreachable".into());
        }
        Ok(self.accepted.iter().any(|r| r == response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::register::RegisterRequest;
    use crate::auth::test_support;
    use crate::config::{Config, RecaptchaConfig, Secret};
    use crate::error::Error;
    use serde_json::{json, Map, Value};
    use std::sync::Arc;

    /// The UIA challenge of a registration with `auth`.
    async fn challenge(auth: &crate::auth::Auth, ui: Option<Value>) -> Map<String, Value> {
        let body = json!({ "username": "alice", "password": "a long enough password" });
        let ui = ui.map(|v| v.as_object().expect("an object").clone());
        let got = auth
            .register(RegisterRequest {
                guest: false,
                method: "POST",
                uri: "/_matrix/client/v3/register",
                body: body.as_object().expect("an object"),
                auth: ui.as_ref(),
                access_token: None,
                client_ip: Some("10.0.0.1"),
            })
            .await;
        // As the client sees it.
        match got.map_err(Error::from) {
            Err(Error::AuthRequired(c)) => *c,
            other => panic!("not a challenge: {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_recaptcha_stage_passes_only_what_the_verifier_accepts() {
        let config = Config {
            enable_registration: true,
            recaptcha: Some(RecaptchaConfig {
                public_key: "site-key".into(),
                private_key: Secret::new("secret-key"),
                siteverify_api: "https://siteverify.invalid/".into(),
            }),
            ..Config::default()
        };
        for (verifier, response, passes) in [
            (FakeCaptcha::accepting(&["good"]), "good", true),
            (FakeCaptcha::accepting(&["good"]), "bad", false),
            (
                FakeCaptcha {
                    unreachable: true,
                    ..FakeCaptcha::accepting(&["good"])
                },
                "good",
                false,
            ),
        ] {
            let verifier = Arc::new(verifier);
            let auth = test_support::auth(config.clone())
                .await
                .with_captcha(verifier.clone());
            let first = challenge(&auth, None).await;
            assert_eq!(
                first["params"]["m.login.recaptcha"]["public_key"],
                "site-key"
            );
            let session = first["session"].clone();
            let got = challenge(
                &auth,
                Some(json!({
                    "type": "m.login.recaptcha", "response": response, "session": session,
                })),
            )
            .await;
            let completed = got.get("completed").cloned().unwrap_or(json!([]));
            if passes {
                assert_eq!(completed, json!(["m.login.recaptcha"]), "{got:?}");
            } else {
                assert_eq!(completed, json!([]), "{got:?}");
                assert_eq!(got["errcode"], "M_UNAUTHORIZED", "{got:?}");
            }
            assert_eq!(verifier.asked(), [response]);
        }
    }
}
