//! Mail as the rules see it: they decide the message (the validation
//! mail's subject, text and link are in `threepids.rs`), a [`Mailer`]
//! delivers it. `adapters/smtp.rs` sends over SMTP as the `email:` config
//! says.

use async_trait::async_trait;

/// One plain-text mail, from the configured sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Delivers `mail`. `Err` (for the log: it names no secret) when it
    /// could not be sent.
    async fn send(&self, mail: &Mail) -> Result<(), String>;
}

/// A mailer that keeps what it is given, for tests of the rules.
#[cfg(test)]
#[derive(Default)]
pub struct RecordingMailer {
    pub(crate) sent: std::sync::Mutex<Vec<Mail>>,
    /// When set, every send fails with this.
    pub fail_with: Option<String>,
}

#[cfg(test)]
impl RecordingMailer {
    /// The mails sent so far, oldest first.
    pub fn sent(&self) -> Vec<Mail> {
        self.sent.lock().expect("not poisoned").clone()
    }
}

#[cfg(test)]
#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, mail: &Mail) -> Result<(), String> {
        if let Some(why) = &self.fail_with {
            return Err(why.clone());
        }
        self.sent.lock().expect("not poisoned").push(mail.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support;
    use crate::auth::threepids::{ThreepidError, TokenPurpose, SUBMIT_TOKEN_PATH};
    use crate::config::{Config, EmailConfig};
    use serde_json::{json, Map, Value};
    use std::sync::Arc;

    fn config() -> Config {
        Config {
            server_name: "example.org".try_into().expect("a server name"),
            public_baseurl: Some("https://matrix.example.org/".into()),
            enable_registration: true,
            email: Some(EmailConfig {
                smtp_host: "smtp.invalid".into(),
                smtp_port: 25,
                smtp_user: None,
                smtp_pass: None,
                force_tls: false,
                require_transport_security: false,
                enable_tls: true,
                tlsname: None,
                notif_from: "Example <noreply@example.org>".into(),
                app_name: "Example".into(),
                validation_token_lifetime_ms: 3_600_000,
            }),
            ..Config::default()
        }
    }

    fn request(address: &str, send_attempt: i64) -> Map<String, Value> {
        let body = json!({
            "client_secret": "s3cret",
            "email": address,
            "send_attempt": send_attempt,
        });
        body.as_object().expect("an object").clone()
    }

    /// The query parameter `key` of the validation link in `body`.
    fn link_param(body: &str, key: &str) -> String {
        let link = body
            .lines()
            .find(|l| l.starts_with("https://"))
            .expect("a link in the mail");
        let url = url::Url::parse(link).expect("the link is a URL");
        url.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {key} in {link}"))
    }

    #[tokio::test]
    async fn the_validation_mail_goes_to_the_address_with_a_link_that_validates_it() {
        let mailer = Arc::new(RecordingMailer::default());
        let auth = test_support::auth(config())
            .await
            .with_mailer(mailer.clone());
        let sid = auth
            .request_email_token(
                TokenPurpose::Registration,
                &request(" Alice@Example.ORG", 1),
            )
            .await
            .expect("a session");

        let sent = mailer.sent();
        assert_eq!(sent.len(), 1, "one mail");
        let mail = &sent[0];
        assert_eq!(mail.to, "alice@example.org", "the canonical address");
        assert_eq!(mail.subject, "[example.org] Validate your email");
        assert!(
            mail.body
                .contains("register this email with a new Matrix account"),
            "{}",
            mail.body
        );
        assert!(
            mail.body.contains(&format!(
                "https://matrix.example.org/{SUBMIT_TOKEN_PATH}?token="
            )),
            "{}",
            mail.body
        );
        assert_eq!(link_param(&mail.body, "sid"), sid);
        assert_eq!(link_param(&mail.body, "client_secret"), "s3cret");
        let token = link_param(&mail.body, "token");

        // The same send_attempt again: the same session, no second mail.
        let again = auth
            .request_email_token(TokenPurpose::Registration, &request("alice@example.org", 1))
            .await
            .expect("a session");
        assert_eq!(again, sid);
        assert_eq!(mailer.sent().len(), 1);

        auth.submit_email_token(&sid, "s3cret", &token)
            .await
            .expect("the link validates the session");
    }

    #[tokio::test]
    async fn a_mail_that_cannot_be_sent_fails_the_request() {
        let mailer = Arc::new(RecordingMailer {
            fail_with: Some("the relay is down".into()),
            ..RecordingMailer::default()
        });
        let auth = test_support::auth(config()).await.with_mailer(mailer);
        let got = auth
            .request_email_token(TokenPurpose::Registration, &request("bob@example.org", 1))
            .await;
        assert!(matches!(got, Err(ThreepidError::Internal)), "{got:?}");
    }

    #[tokio::test]
    async fn no_mail_goes_to_an_address_that_cannot_be_reset() {
        let mailer = Arc::new(RecordingMailer::default());
        let mut config = config();
        let auth = test_support::auth(config.clone())
            .await
            .with_mailer(mailer.clone());
        let got = auth
            .request_email_token(
                TokenPurpose::PasswordReset,
                &request("carol@example.org", 1),
            )
            .await;
        assert!(got.is_err(), "no account has the address");
        // Hiding that: a session ID that leads nowhere, and still no mail.
        config.threepids.request_token_inhibit_3pid_errors = true;
        let auth = test_support::auth(config).await.with_mailer(mailer.clone());
        auth.request_email_token(
            TokenPurpose::PasswordReset,
            &request("carol@example.org", 1),
        )
        .await
        .expect("a session ID");
        assert!(mailer.sent().is_empty(), "{:?}", mailer.sent());
    }
}
