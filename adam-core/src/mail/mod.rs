//! The outbox: mail that a change causes (an invitation, a password reset) is written in the
//! change's own unit of work, and a server sends it later ([`Adam::next_mail`], then
//! [`Adam::mail_sent`] or [`Adam::mail_failed`]).
//!
//! - **Exactly one server sends each mail.** Taking a mail claims its row for
//!   [`CLAIM_SECONDS`] (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite writes one at a time), so
//!   servers sharing the database never take the same one; a server that stops mid-send leaves
//!   its claim to run out, and another sends it then.
//! - **Retries back off** from one minute, doubling, to an hour, and stop at the row's
//!   `give_up_at`: 24 hours after it was queued, or the link's expiry when sooner.
//! - **What a mail says is sealed** under `SECRET_KEY` while it waits (the link is a bearer
//!   secret) and forgotten once it is sent or given up. A mail whose link was withdrawn, spent
//!   or replaced meanwhile is dropped instead of sent.
//!
//! The engine does not speak SMTP and does not render: the server does both. A mail is
//! [`MailContent`]: what it is for and the facts the text needs.

mod message;
pub(crate) mod store;

pub use message::{MailContent, MailKind, MailStatus, OutgoingMail};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::db::{Intent, Tx};
use crate::engine::Adam;
use crate::error::{Error, Result};

/// How long a server holds a mail it took before another may take it.
pub const CLAIM_SECONDS: i64 = 300;
/// How long a mail is retried at most.
pub const GIVE_UP_AFTER_HOURS: i64 = 24;
/// Longest an error text kept with a failed attempt.
const MAX_ERROR_LEN: usize = 500;

impl Adam {
    /// Queues `content` to `to` in `tx`, to be sent once the unit of work commits; returns the
    /// mail's id. Retries stop at `give_up_at`'s earlier of 24 hours and the link's expiry.
    pub(crate) async fn queue_mail(
        &self,
        tx: &mut Tx,
        to: &str,
        content: &MailContent,
        now: DateTime<Utc>,
    ) -> Result<Uuid> {
        let id = Uuid::new_v4();
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(content).map_err(|e| Error::Internal(e.to_string()))?,
        );
        let sealed = self.mail.seal(&plain, id.as_bytes())?;
        let give_up = (now + Duration::hours(GIVE_UP_AFTER_HOURS)).min(content.expires_at);
        store::insert(tx, id, content.kind, to, &sealed, now, give_up).await?;
        Ok(id)
    }

    /// Takes the next mail that is due, claiming it for [`CLAIM_SECONDS`] so that no other
    /// server sends it; `None` when none is due. Mail past its `give_up_at` is marked failed on
    /// the way, and mail whose link no longer works is dropped.
    pub async fn next_mail(&self) -> Result<Option<OutgoingMail>> {
        loop {
            let now = self.now();
            let mut tx = self.begin_system(Intent::Write).await?;
            store::give_up_overdue(&mut tx, now).await?;
            let Some(row) =
                store::claim(&mut tx, now, now + Duration::seconds(CLAIM_SECONDS)).await?
            else {
                tx.commit().await?;
                return Ok(None);
            };
            let content = self
                .mail
                .open(&row.sealed, row.id.as_bytes())
                .and_then(|o| serde_json::from_slice::<MailContent>(&o.plaintext).ok());
            let Some(content) = content else {
                store::finish(
                    &mut tx,
                    row.id,
                    store::Outcome::Dropped("does not open"),
                    now,
                )
                .await?;
                tx.commit().await?;
                tracing::warn!(mail = %row.id, "a queued mail does not open with SECRET_KEY: dropped");
                continue;
            };
            if !store::link_still_works(&mut tx, row.id, content.kind, now).await? {
                store::finish(
                    &mut tx,
                    row.id,
                    store::Outcome::Dropped("link withdrawn"),
                    now,
                )
                .await?;
                tx.commit().await?;
                continue;
            }
            tx.commit().await?;
            return Ok(Some(OutgoingMail {
                id: row.id,
                to: row.recipient,
                content,
                attempt: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            }));
        }
    }

    /// Notes that mail `id` was handed to the SMTP server: its content is forgotten.
    pub async fn mail_sent(&self, id: Uuid) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_system(Intent::Write).await?;
        store::finish(&mut tx, id, store::Outcome::Sent, now).await?;
        tx.commit().await
    }

    /// Notes that sending mail `id` failed with `error` (kept, shortened; it must hold no
    /// secret): it is tried again after a backoff, or given up when that would pass its
    /// `give_up_at`. Returns when the next attempt is due, if there is one.
    pub async fn mail_failed(&self, id: Uuid, error: &str) -> Result<Option<DateTime<Utc>>> {
        let now = self.now();
        let error: String = error.chars().take(MAX_ERROR_LEN).collect();
        let mut tx = self.begin_system(Intent::Write).await?;
        let next = store::retry_or_give_up(&mut tx, id, &error, now).await?;
        tx.commit().await?;
        Ok(next)
    }

    /// When the next queued mail is due (now or later), if any is queued: how long a sender may
    /// sleep.
    pub async fn next_mail_due(&self) -> Result<Option<DateTime<Utc>>> {
        let mut tx = self.begin_system(Intent::Read).await?;
        let due = store::next_due(&mut tx).await?;
        tx.commit().await?;
        Ok(due)
    }
}

#[cfg(test)]
mod tests {
    use crate::mail::store::backoff;

    #[test]
    fn retries_back_off_from_a_minute_to_an_hour() {
        let waits: Vec<i64> = (1..=9).map(|n| backoff(n).num_minutes()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
