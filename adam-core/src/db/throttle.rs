//! Failed sign-ins, counted per throttle key and shared by every server on the database.

use chrono::{DateTime, Utc};

use super::{count, on_tx, ts, Tx};
use crate::error::Result;

/// Failed sign-ins under `key` since `since`, and the time of the oldest of them.
pub(crate) async fn failures(
    tx: &mut Tx,
    key: &str,
    since: DateTime<Utc>,
) -> Result<(u64, Option<DateTime<Utc>>)> {
    const SQL: &str =
        "SELECT COUNT(*), MIN(failed_at) FROM login_failures WHERE email = $1 AND failed_at > $2";
    let (n, oldest): (i64, Option<DateTime<Utc>>) =
        on_tx!(tx, sqlx::query_as(SQL).bind(key).bind(ts(since)), fetch_one)?;
    Ok((count(n), oldest))
}

/// Records a failed sign-in under `key`.
pub(crate) async fn record(tx: &mut Tx, key: &str, at: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "INSERT INTO login_failures (email, failed_at) VALUES ($1, $2)";
    on_tx!(tx, sqlx::query(SQL).bind(key).bind(ts(at)), execute)?;
    Ok(())
}

/// Forgets the failed sign-ins under `key` (after a successful one).
pub(crate) async fn clear(tx: &mut Tx, key: &str) -> Result<()> {
    on_tx!(
        tx,
        sqlx::query("DELETE FROM login_failures WHERE email = $1").bind(key),
        execute
    )?;
    Ok(())
}

/// Deletes failures older than `before`.
pub(crate) async fn purge(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64> {
    const SQL: &str = "DELETE FROM login_failures WHERE failed_at < $1";
    on_tx!(tx, sqlx::query(SQL).bind(ts(before)), execute).map_err(Into::into)
}
