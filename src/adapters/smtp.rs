//! Sending mail over SMTP (the `email:` config): the only outbound SMTP of
//! mxauth, used for the links that validate an email address.

use crate::auth::mail::{Mail, Mailer};
use crate::config::EmailConfig;
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// The [`Mailer`] of the `email:` block: one SMTP connection per mail.
pub struct Smtp {
    config: EmailConfig,
}

impl Smtp {
    pub fn new(config: &EmailConfig) -> Self {
        Smtp {
            config: config.clone(),
        }
    }
}

#[async_trait]
impl Mailer for Smtp {
    async fn send(&self, mail: &Mail) -> Result<(), String> {
        send(&self.config, &mail.to, &mail.subject, &mail.body).await
    }
}

/// Sends a plain-text mail from `notif_from` to `to`. The error is for the
/// log (it names no secret).
async fn send(config: &EmailConfig, to: &str, subject: &str, body: &str) -> Result<(), String> {
    let message = Message::builder()
        .from(
            config
                .notif_from
                .parse()
                .map_err(|e| format!("notif_from: {e}"))?,
        )
        .to(to.parse().map_err(|e| format!("recipient: {e}"))?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|e| format!("building the message: {e}"))?;
    let tls_name = config
        .tlsname
        .clone()
        .unwrap_or_else(|| config.smtp_host.clone());
    let params = || TlsParameters::new(tls_name.clone()).map_err(|e| format!("TLS: {e}"));
    // Synapse's order: implicit TLS, else STARTTLS required, else STARTTLS
    // when offered, else none.
    let tls = if config.force_tls {
        Tls::Wrapper(params()?)
    } else if config.require_transport_security {
        Tls::Required(params()?)
    } else if config.enable_tls {
        Tls::Opportunistic(params()?)
    } else {
        Tls::None
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.smtp_host)
        .port(config.smtp_port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)));
    if let (Some(user), Some(pass)) = (&config.smtp_user, &config.smtp_pass) {
        transport = transport.credentials(Credentials::new(user.clone(), pass.expose().to_owned()));
    }
    transport
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP to {}:{}: {e}", config.smtp_host, config.smtp_port))
}
