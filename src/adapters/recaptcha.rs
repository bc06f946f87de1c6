//! reCAPTCHA's siteverify over HTTP (`recaptcha_siteverify_api`): POST the
//! secret and the client's response as a form, read `{"success": bool}`.
//! Only the configured URL is ever contacted.

use super::http::ClientOptions;
use crate::auth::captcha::CaptchaVerifier;
use crate::config::{RecaptchaConfig, Secret};
use async_trait::async_trait;
use std::time::Duration;

pub struct Recaptcha {
    http: reqwest::Client,
    url: String,
    secret: Secret,
}

impl Recaptcha {
    #[allow(clippy::disallowed_methods)] // siteverify's one client
    pub fn new(config: &RecaptchaConfig) -> anyhow::Result<Self> {
        Ok(Recaptcha {
            http: ClientOptions::new()
                .timeout(Duration::from_secs(10))
                .build()?,
            url: config.siteverify_api.clone(),
            secret: config.private_key.clone(),
        })
    }
}

#[async_trait]
impl CaptchaVerifier for Recaptcha {
    async fn verify(&self, response: &str) -> Result<bool, String> {
        let body = format!(
            "secret={}&response={}",
            form_encode(self.secret.expose()),
            form_encode(response)
        );
        let res = self
            .http
            .post(&self.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("siteverify unreachable: {}", e.without_url()))?;
        if !res.status().is_success() {
            return Err(format!("siteverify answered {}", res.status()));
        }
        let answer: serde_json::Value = res
            .json()
            .await
            .map_err(|_| "siteverify answered with something other than JSON".to_owned())?;
        Ok(answer["success"] == true)
    }
}

fn form_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
