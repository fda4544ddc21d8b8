//! The `password_resets` table (the engine's scope only).

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::db::{count, on_tx, ts, Tx};
use crate::error::Result;
use crate::ids::UserId;
use crate::sessions::refresh::TokenDigest;

/// Serialises reset requests for one account and for one address until the transaction ends,
/// so that counting and inserting are one step for every server (PostgreSQL: advisory locks,
/// account first; SQLite: its write transactions are serial already).
pub(crate) async fn lock(tx: &mut Tx, account: UserId, address: &str) -> Result<()> {
    tx.lock(&format!("adam:reset:account:{account}")).await?;
    tx.lock(&format!("adam:reset:address:{address}")).await
}

/// How many resets were mailed since `since` to `user`, and from `address`.
pub(crate) async fn counts(
    tx: &mut Tx,
    user: UserId,
    address: &str,
    since: DateTime<Utc>,
) -> Result<(u64, u64)> {
    const SQL: &str = "SELECT \
         (SELECT COUNT(*) FROM password_resets WHERE user_id = $1 AND created_at > $3), \
         (SELECT COUNT(*) FROM password_resets WHERE ip = $2 AND created_at > $3)";
    let (account, from): (i64, i64) = on_tx!(
        tx,
        sqlx::query_as(SQL)
            .bind(user.as_uuid())
            .bind(address)
            .bind(ts(since)),
        fetch_one
    )?;
    Ok((count(account), count(from)))
}

/// Voids every unspent reset of `user`; answers the ids of their queued mails.
pub(crate) async fn void_open(
    tx: &mut Tx,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<Vec<Option<Uuid>>> {
    const SQL: &str = "UPDATE password_resets SET voided_at = $2 \
         WHERE user_id = $1 AND used_at IS NULL AND voided_at IS NULL RETURNING mail_id";
    let rows: Vec<(Option<Uuid>,)> = on_tx!(
        tx,
        sqlx::query_as(SQL).bind(user.as_uuid()).bind(ts(now)),
        fetch_all
    )?;
    Ok(rows.into_iter().map(|(m,)| m).collect())
}

/// A new reset.
pub(crate) struct NewReset<'a> {
    pub(crate) user: UserId,
    pub(crate) digest: &'a TokenDigest,
    pub(crate) address: &'a str,
    pub(crate) now: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) mail: Uuid,
}

pub(crate) async fn insert(tx: &mut Tx, r: NewReset<'_>) -> Result<()> {
    const SQL: &str = "INSERT INTO password_resets (id, user_id, token_hash, ip, created_at, \
         expires_at, mail_id) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(Uuid::new_v4())
            .bind(r.user.as_uuid())
            .bind(&r.digest.0)
            .bind(r.address)
            .bind(ts(r.now))
            .bind(ts(r.expires_at))
            .bind(r.mail),
        execute
    )?;
    Ok(())
}

/// A reset as its link finds it.
#[derive(Debug, FromRow)]
pub(crate) struct Found {
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) used_at: Option<DateTime<Utc>>,
    pub(crate) voided_at: Option<DateTime<Utc>>,
}

pub(crate) async fn find(tx: &mut Tx, digest: &TokenDigest) -> Result<Option<Found>> {
    const SQL: &str = "SELECT id, user_id, expires_at, used_at, voided_at \
         FROM password_resets WHERE token_hash = $1";
    Ok(on_tx!(
        tx,
        sqlx::query_as(SQL).bind(&digest.0),
        fetch_optional
    )?)
}

/// Spends reset `id` if it still works: true for the one request that does.
pub(crate) async fn spend(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
    const SQL: &str = "UPDATE password_resets SET used_at = $2 WHERE id = $1 \
         AND used_at IS NULL AND voided_at IS NULL AND expires_at > $2";
    let changed = on_tx!(tx, sqlx::query(SQL).bind(id).bind(ts(now)), execute)?;
    Ok(changed == 1)
}
