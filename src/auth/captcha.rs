//! The `m.login.recaptcha` stage's verifier, as the rules see it.
//! `adapters/recaptcha.rs` asks the configured siteverify endpoint.

use async_trait::async_trait;

#[async_trait]
pub trait CaptchaVerifier: Send + Sync + 'static {
    /// Whether the response a client got from the captcha widget is good.
    /// `Err` when the verifier could not be asked.
    async fn verify(&self, response: &str) -> Result<bool, String>;
}
