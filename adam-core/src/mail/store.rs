//! The `mail_outbox` table (the engine's scope only), and the mail status it keeps current on
//! the invitation that caused a mail.

use chrono::{DateTime, Duration, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::db::{on_tx, ts, Conn, Tx};
use crate::error::Result;
use crate::mail::message::{MailKind, MailStatus};

/// The wait before attempt `n + 1` after `n` failed ones: a minute, doubling, at most an hour.
pub(crate) fn backoff(failed_attempts: u32) -> Duration {
    let minutes = 1i64 << failed_attempts.saturating_sub(1).min(6);
    Duration::minutes(minutes.min(60))
}

/// What a row must be to be taken: still sealed (not sent or given up), due, within its time,
/// and claimed by no one (or by a server whose claim ran out). `$1` is now.
const DUE: &str = "sealed IS NOT NULL AND next_attempt_at <= $1 AND give_up_at > $1 \
     AND (claimed_until IS NULL OR claimed_until <= $1)";

/// Queues a mail.
pub(crate) async fn insert(
    tx: &mut Tx,
    id: Uuid,
    kind: MailKind,
    to: &str,
    sealed: &[u8],
    now: DateTime<Utc>,
    give_up_at: DateTime<Utc>,
) -> Result<()> {
    const SQL: &str = "INSERT INTO mail_outbox (id, kind, recipient, sealed, created_at, \
         next_attempt_at, give_up_at) VALUES ($1, $2, $3, $4, $5, $5, $6)";
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(kind.as_str())
            .bind(to)
            .bind(sealed)
            .bind(ts(now))
            .bind(ts(give_up_at)),
        execute
    )?;
    Ok(())
}

/// A claimed row.
#[derive(FromRow)]
pub(crate) struct Claimed {
    pub(crate) id: Uuid,
    pub(crate) recipient: String,
    pub(crate) sealed: Vec<u8>,
    pub(crate) attempts: i32,
}

/// Claims the oldest due mail until `until`, counting the attempt.
pub(crate) async fn claim(
    tx: &mut Tx,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<Claimed>> {
    // PostgreSQL: a row another server is claiming is skipped, not waited for; SQLite runs one
    // writer at a time.
    let lock = match tx.conn {
        Conn::Pg(_) => "FOR UPDATE SKIP LOCKED",
        Conn::Lite(_) => "",
    };
    let sql = format!(
        "UPDATE mail_outbox SET claimed_until = $2, attempts = attempts + 1 \
         WHERE id = (SELECT id FROM mail_outbox WHERE {DUE} ORDER BY next_attempt_at, id \
         LIMIT 1 {lock}) AND {DUE} \
         RETURNING id, recipient, sealed, attempts"
    );
    Ok(on_tx!(
        tx,
        sqlx::query_as::<_, Claimed>(&sql)
            .bind(ts(now))
            .bind(ts(until)),
        fetch_optional
    )?)
}

/// How a mail's life ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome<'a> {
    /// Handed to the SMTP server.
    Sent,
    /// Not sent, and never to be: its link was withdrawn, or it cannot be opened.
    Dropped(&'static str),
    /// Not sent in its time: the last attempt's error.
    Failed(&'a str),
}

/// Ends a mail's life: its content is forgotten; a sent invitation says so.
pub(crate) async fn finish(
    tx: &mut Tx,
    id: Uuid,
    outcome: Outcome<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    match outcome {
        Outcome::Sent => {
            const SQL: &str = "UPDATE mail_outbox SET sealed = NULL, sent_at = $2, \
                 claimed_until = NULL WHERE id = $1 AND sealed IS NOT NULL";
            on_tx!(tx, sqlx::query(SQL).bind(id).bind(ts(now)), execute)?;
            set_invitation_status(tx, id, MailStatus::Sent).await
        }
        Outcome::Dropped(error) | Outcome::Failed(error) => {
            const SQL: &str = "UPDATE mail_outbox SET sealed = NULL, failed_at = $2, \
                 claimed_until = NULL, last_error = $3 WHERE id = $1 AND sealed IS NOT NULL";
            on_tx!(
                tx,
                sqlx::query(SQL).bind(id).bind(ts(now)).bind(error),
                execute
            )?;
            match outcome {
                Outcome::Failed(_) => set_invitation_status(tx, id, MailStatus::Failed).await,
                _ => Ok(()),
            }
        }
    }
}

/// Drops a queued mail whose link was replaced or withdrawn (nothing if it is gone already).
pub(crate) async fn cancel(tx: &mut Tx, id: Option<Uuid>, now: DateTime<Utc>) -> Result<()> {
    match id {
        Some(id) => finish(tx, id, Outcome::Dropped("link withdrawn"), now).await,
        None => Ok(()),
    }
}

/// After a failed attempt: the next one after the backoff, or, past `give_up_at`, none (the
/// mail failed). Returns when the next attempt is due.
pub(crate) async fn retry_or_give_up(
    tx: &mut Tx,
    id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    let row: Option<(i32, DateTime<Utc>)> = on_tx!(
        tx,
        sqlx::query_as(
            "SELECT attempts, give_up_at FROM mail_outbox WHERE id = $1 AND sealed IS NOT NULL"
        )
        .bind(id),
        fetch_optional
    )?;
    let Some((attempts, give_up_at)) = row else {
        return Ok(None);
    };
    let next = now + backoff(u32::try_from(attempts).unwrap_or(u32::MAX));
    if next < give_up_at {
        const SQL: &str = "UPDATE mail_outbox SET next_attempt_at = $2, claimed_until = NULL, \
             last_error = $3 WHERE id = $1";
        on_tx!(
            tx,
            sqlx::query(SQL).bind(id).bind(ts(next)).bind(error),
            execute
        )?;
        Ok(Some(next))
    } else {
        finish(tx, id, Outcome::Failed(error), now).await?;
        Ok(None)
    }
}

/// Marks failed every mail that was not sent by its `give_up_at` and is held by no server.
pub(crate) async fn give_up_overdue(tx: &mut Tx, now: DateTime<Utc>) -> Result<()> {
    const OVERDUE: &str = "sealed IS NOT NULL AND give_up_at <= $1 \
         AND (claimed_until IS NULL OR claimed_until <= $1)";
    let status = format!(
        "UPDATE invitations SET mail_status = $2 \
         WHERE mail_id IN (SELECT id FROM mail_outbox WHERE {OVERDUE})"
    );
    on_tx!(
        tx,
        sqlx::query(&status)
            .bind(ts(now))
            .bind(MailStatus::Failed.as_str()),
        execute
    )?;
    let fail = format!(
        "UPDATE mail_outbox SET sealed = NULL, failed_at = $1, claimed_until = NULL, \
         last_error = coalesce(last_error, 'not sent in time') WHERE {OVERDUE}"
    );
    on_tx!(tx, sqlx::query(&fail).bind(ts(now)), execute)?;
    Ok(())
}

/// Whether the link mail `id` carries still works: the invitation is open, or the reset is
/// the user's newest unspent one, and neither has expired.
pub(crate) async fn link_still_works(
    tx: &mut Tx,
    id: Uuid,
    kind: MailKind,
    now: DateTime<Utc>,
) -> Result<bool> {
    let sql = match kind {
        MailKind::Invitation => {
            "SELECT 1 FROM invitations WHERE mail_id = $1 AND accepted_at IS NULL \
             AND revoked_at IS NULL AND lapsed_at IS NULL AND expires_at > $2"
        }
        MailKind::PasswordReset => {
            "SELECT 1 FROM password_resets WHERE mail_id = $1 AND used_at IS NULL \
             AND voided_at IS NULL AND expires_at > $2"
        }
    };
    let found: Option<(i32,)> = on_tx!(
        tx,
        sqlx::query_as(sql).bind(id).bind(ts(now)),
        fetch_optional
    )?;
    Ok(found.is_some())
}

/// When the earliest queued mail is due.
pub(crate) async fn next_due(tx: &mut Tx) -> Result<Option<DateTime<Utc>>> {
    const SQL: &str = "SELECT next_attempt_at, claimed_until FROM mail_outbox \
         WHERE sealed IS NOT NULL ORDER BY next_attempt_at LIMIT 1";
    let row: Option<(DateTime<Utc>, Option<DateTime<Utc>>)> =
        on_tx!(tx, sqlx::query_as(SQL), fetch_optional)?;
    Ok(row.map(|(next, claimed)| claimed.map_or(next, |c| c.max(next))))
}

async fn set_invitation_status(tx: &mut Tx, mail: Uuid, status: MailStatus) -> Result<()> {
    const SQL: &str = "UPDATE invitations SET mail_status = $2 WHERE mail_id = $1";
    on_tx!(
        tx,
        sqlx::query(SQL).bind(mail).bind(status.as_str()),
        execute
    )?;
    Ok(())
}
