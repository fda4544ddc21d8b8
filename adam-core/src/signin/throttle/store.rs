//! Failed sign-ins, counted per account and client address, shared by every server on the
//! database. An attempt reserves its row before the password is checked.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::db::{on_tx, ts, Tx};
use crate::error::Result;

/// Recent failures that concern one attempt, by throttle key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromRow)]
pub(crate) struct Counts {
    /// Failures for this account from this address.
    pub(crate) pair: i64,
    /// Failures for this account from every address.
    pub(crate) account: i64,
    /// Failures from this address for every account.
    pub(crate) address: i64,
    pub(crate) pair_oldest: Option<DateTime<Utc>>,
    pub(crate) account_oldest: Option<DateTime<Utc>>,
    pub(crate) address_oldest: Option<DateTime<Utc>>,
}

/// Serialises attempts for one account and for one address until the transaction ends, so that
/// counting and reserving are one step for every server on the database (PostgreSQL: advisory
/// locks, account first; SQLite: its write transactions are serial already).
pub(crate) async fn lock(tx: &mut Tx, account: &str, address: &str) -> Result<()> {
    tx.lock(&format!("adam:sign-in:account:{account}")).await?;
    if !address.is_empty() {
        tx.lock(&format!("adam:sign-in:address:{address}")).await?;
    }
    Ok(())
}

/// The failures since `since` for `account` from `address`, for `account`, and from `address`
/// (`''`: unknown, counted as no address).
pub(crate) async fn counts(
    tx: &mut Tx,
    account: &str,
    address: &str,
    since: DateTime<Utc>,
) -> Result<Counts> {
    const SQL: &str = "SELECT \
        COALESCE(SUM(CASE WHEN account = $1 AND address = $2 THEN 1 ELSE 0 END), 0) AS pair, \
        COALESCE(SUM(CASE WHEN account = $1 THEN 1 ELSE 0 END), 0) AS account, \
        COALESCE(SUM(CASE WHEN address = $2 AND $2 <> '' THEN 1 ELSE 0 END), 0) AS address, \
        MIN(CASE WHEN account = $1 AND address = $2 THEN failed_at END) AS pair_oldest, \
        MIN(CASE WHEN account = $1 THEN failed_at END) AS account_oldest, \
        MIN(CASE WHEN address = $2 AND $2 <> '' THEN failed_at END) AS address_oldest \
        FROM login_failures WHERE (account = $1 OR address = $2) AND failed_at > $3";
    let counts: Counts = on_tx!(
        tx,
        sqlx::query_as(SQL)
            .bind(account)
            .bind(address)
            .bind(ts(since)),
        fetch_one
    )?;
    Ok(counts)
}

/// One password or code check, counted as a failure before it runs, until the check proves
/// otherwise ([`release`] gives it back). Made only by [`reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reservation(Uuid);

/// Records an attempt as a failure until it proves otherwise.
pub(crate) async fn reserve(
    tx: &mut Tx,
    account: &str,
    address: &str,
    at: DateTime<Utc>,
) -> Result<Reservation> {
    const SQL: &str =
        "INSERT INTO login_failures (id, account, address, failed_at) VALUES ($1, $2, $3, $4)";
    let id = Uuid::new_v4();
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(account)
            .bind(address)
            .bind(ts(at)),
        execute
    )?;
    Ok(Reservation(id))
}

/// Gives back one reservation (an attempt that proved right).
pub(crate) async fn release(tx: &mut Tx, reserved: Reservation) -> Result<()> {
    const SQL: &str = "DELETE FROM login_failures WHERE id = $1";
    on_tx!(tx, sqlx::query(SQL).bind(reserved.0), execute)?;
    Ok(())
}

/// Forgets the failures of `account` (after a completed sign-in).
pub(crate) async fn clear_account(tx: &mut Tx, account: &str) -> Result<()> {
    const SQL: &str = "DELETE FROM login_failures WHERE account = $1";
    on_tx!(tx, sqlx::query(SQL).bind(account), execute)?;
    Ok(())
}

/// Deletes failures older than `before`.
pub(crate) async fn purge(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64> {
    const SQL: &str = "DELETE FROM login_failures WHERE failed_at < $1";
    on_tx!(tx, sqlx::query(SQL).bind(ts(before)), execute).map_err(Into::into)
}

/// Notes that `key` refuses attempts until `until`: true for the first refusal of a lockout
/// (the one the audit log records), false while the key's earlier notice still stands.
pub(crate) async fn note_refusal(
    tx: &mut Tx,
    key: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    const SQL: &str = "INSERT INTO throttle_notices (key, until) VALUES ($1, $2) \
        ON CONFLICT (key) DO UPDATE SET until = excluded.until WHERE throttle_notices.until <= $3 \
        RETURNING key";
    let noted: Option<(String,)> = on_tx!(
        tx,
        sqlx::query_as(SQL).bind(key).bind(ts(until)).bind(ts(now)),
        fetch_optional
    )?;
    Ok(noted.is_some())
}

/// Deletes the notices of lockouts that ended before `before`.
pub(crate) async fn purge_notices(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64> {
    const SQL: &str = "DELETE FROM throttle_notices WHERE until < $1";
    on_tx!(tx, sqlx::query(SQL).bind(ts(before)), execute).map_err(Into::into)
}
