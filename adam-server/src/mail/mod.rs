//! Sending the outbox over SMTP (contract: "Mail"): the engine queues each mail in the unit of
//! work that causes it; here one task per server takes what is due and hands it to the SMTP
//! server with lettre, retrying with the engine's backoff.

mod smtp;
mod write;

use std::sync::Arc;
use std::time::Duration;

use adam_core::Adam;
use lettre::AsyncTransport;
use tokio::sync::Notify;

pub use smtp::{Security, SmtpUrl};

/// Longest the sender sleeps before looking at the outbox again (mail queued by another server
/// on the same database is seen within this).
const POLL: Duration = Duration::from_secs(5);

/// Wakes the sender at once when a request of this server queued a mail.
#[derive(Debug, Clone, Default)]
pub struct Mailbell(Arc<Notify>);

impl Mailbell {
    /// Says a mail was queued.
    pub fn ring(&self) {
        self.0.notify_one();
    }
}

/// What the sender needs: the SMTP server, the sender's address, and the public URL the links
/// point to.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `SMTP_URL`.
    pub smtp: SmtpUrl,
    /// `MAIL_FROM`.
    pub from: lettre::message::Mailbox,
}

/// Sends the outbox until `stop` says so: each due mail once, in turn; sleeps until the next is
/// due, a request rings `bell`, or [`POLL`] passes. A mail being sent when `stop` comes is
/// finished and its outcome recorded (otherwise its claim would hold it for minutes).
pub async fn send_until(
    adam: Adam,
    settings: MailSettings,
    public_url: String,
    bell: Mailbell,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let transport = settings.smtp.transport();
    let writer = write::Writer::new(public_url);
    while !*stop.borrow() {
        match adam.next_mail().await {
            Ok(Some(mail)) => {
                let outcome = match writer.message(&settings.from, &mail) {
                    Ok(message) => transport.send(message).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                let done = match outcome {
                    Ok(_) => {
                        tracing::info!(mail = %mail.id, kind = ?mail.content.kind, "mail sent");
                        adam.mail_sent(mail.id).await.map(|_| ())
                    }
                    Err(error) => {
                        tracing::warn!(mail = %mail.id, attempt = mail.attempt, %error, "sending a mail failed");
                        adam.mail_failed(mail.id, &error).await.map(|_| ())
                    }
                };
                if let Err(e) = done {
                    tracing::warn!(error = %e, "recording a mail's outcome failed");
                    tokio::time::sleep(POLL).await;
                }
            }
            Ok(None) => {
                let due = adam.next_mail_due().await;
                crate::outbox::wait_for_next(&adam, due, POLL, &bell.0, &mut stop).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the outbox failed");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}
