//! The `invitations` table: a dealership's rows (row-level security on PostgreSQL), read in the
//! caller's scope and written in the engine's.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::db::{constraint_error, count, on_tx, ts, Tx};
use crate::error::{Error, Result};
use crate::ids::{DealershipId, UserId};
use crate::models::PageRequest;
use crate::sessions::refresh::TokenDigest;

const COLUMNS: &str = "id, email, full_name, role, dealership_id, invited_by, created_at, \
     expires_at, accepted_at, revoked_at, lapsed_at, mail_id, mail_status";
/// The application wall: `$1` is the scope's dealership (none: every row).
const SCOPED: &str = "($1 IS NULL OR dealership_id = $1)";
/// Neither accepted, revoked nor lapsed (it may still have expired).
const OPEN: &str = "accepted_at IS NULL AND revoked_at IS NULL AND lapsed_at IS NULL";
/// The answer to a second open invitation for one email.
pub(crate) const PENDING: &str = "this email has a pending invitation";

/// An invitation as stored.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct Row {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) full_name: String,
    pub(crate) role: String,
    pub(crate) dealership_id: Option<Uuid>,
    pub(crate) invited_by: Option<Uuid>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) accepted_at: Option<DateTime<Utc>>,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
    pub(crate) lapsed_at: Option<DateTime<Utc>>,
    pub(crate) mail_id: Option<Uuid>,
    pub(crate) mail_status: String,
}

/// Marks lapsed the open invitations of `email` that expired, so that a new one may be made.
pub(crate) async fn lapse_expired(tx: &mut Tx, email: &str, now: DateTime<Utc>) -> Result<()> {
    let sql = format!(
        "UPDATE invitations SET lapsed_at = $2 WHERE email = $1 AND {OPEN} AND expires_at <= $2"
    );
    on_tx!(tx, sqlx::query(&sql).bind(email).bind(ts(now)), execute)?;
    Ok(())
}

pub(crate) async fn insert(tx: &mut Tx, r: &Row, digest: &TokenDigest) -> Result<()> {
    let sql = format!(
        "INSERT INTO invitations ({COLUMNS}, token_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, NULL, $9, $10, $11)"
    );
    on_tx!(
        tx,
        sqlx::query(&sql)
            .bind(r.id)
            .bind(&r.email)
            .bind(&r.full_name)
            .bind(&r.role)
            .bind(r.dealership_id)
            .bind(r.invited_by)
            .bind(ts(r.created_at))
            .bind(ts(r.expires_at))
            .bind(r.mail_id)
            .bind(&r.mail_status)
            .bind(&digest.0),
        execute
    )
    .map_err(|e| constraint_error(e, PENDING))?;
    Ok(())
}

/// One invitation in the scope.
pub(crate) async fn get(tx: &mut Tx, id: Uuid) -> Result<Row> {
    let sql = format!("SELECT {COLUMNS} FROM invitations WHERE id = $2 AND {SCOPED}");
    let scope = tx.scope.dealership().map(|d| d.as_uuid());
    let row: Option<Row> = on_tx!(
        tx,
        sqlx::query_as(&sql).bind(scope).bind(id),
        fetch_optional
    )?;
    row.ok_or(Error::NotFound)
}

/// A page of the invitations in the scope, newest first, and how many there are.
pub(crate) async fn list(tx: &mut Tx, page: PageRequest) -> Result<(Vec<Row>, u64)> {
    let scope = tx.scope.dealership().map(|d| d.as_uuid());
    let sql = format!(
        "SELECT {COLUMNS} FROM invitations WHERE {SCOPED} \
         ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
    );
    let rows: Vec<Row> = on_tx!(
        tx,
        sqlx::query_as(&sql)
            .bind(scope)
            .bind(i64::from(page.limit()))
            .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX)),
        fetch_all
    )?;
    let total_sql = format!("SELECT COUNT(*) FROM invitations WHERE {SCOPED}");
    let (total,): (i64,) = on_tx!(tx, sqlx::query_as(&total_sql).bind(scope), fetch_one)?;
    Ok((rows, count(total)))
}

/// The invitation a link's token names (engine's scope).
pub(crate) async fn find(tx: &mut Tx, digest: &TokenDigest) -> Result<Option<Row>> {
    let sql = format!("SELECT {COLUMNS} FROM invitations WHERE token_hash = $1");
    Ok(on_tx!(
        tx,
        sqlx::query_as(&sql).bind(&digest.0),
        fetch_optional
    )?)
}

/// A new link, expiry and mail for an invitation not accepted or revoked (an expired or lapsed
/// one opens again); false when there is none such.
pub(crate) async fn renew(
    tx: &mut Tx,
    id: Uuid,
    digest: &TokenDigest,
    expires_at: DateTime<Utc>,
    mail: (Option<Uuid>, &str),
) -> Result<bool> {
    const SQL: &str = "UPDATE invitations SET token_hash = $2, expires_at = $3, \
         lapsed_at = NULL, mail_id = $4, mail_status = $5 \
         WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL";
    let changed = on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(&digest.0)
            .bind(ts(expires_at))
            .bind(mail.0)
            .bind(mail.1),
        execute
    )
    .map_err(|e| constraint_error(e, PENDING))?;
    Ok(changed == 1)
}

/// Revokes an invitation not accepted or revoked yet; answers its queued mail, if any, or
/// `None` when there was nothing to revoke.
pub(crate) async fn revoke(
    tx: &mut Tx,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Option<Uuid>>> {
    const SQL: &str = "UPDATE invitations SET revoked_at = $2 \
         WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL RETURNING mail_id";
    let row: Option<(Option<Uuid>,)> = on_tx!(
        tx,
        sqlx::query_as(SQL).bind(id).bind(ts(now)),
        fetch_optional
    )?;
    Ok(row.map(|(m,)| m))
}

/// Accepts an open, unexpired invitation: true for the one request that does.
pub(crate) async fn accept(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
    let sql = format!(
        "UPDATE invitations SET accepted_at = $2 WHERE id = $1 AND {OPEN} AND expires_at > $2"
    );
    let changed = on_tx!(tx, sqlx::query(&sql).bind(id).bind(ts(now)), execute)?;
    Ok(changed == 1)
}

/// Revokes the open invitations `inviter` made (they were deactivated, demoted or moved).
pub(crate) async fn revoke_by_inviter(
    tx: &mut Tx,
    inviter: UserId,
    now: DateTime<Utc>,
) -> Result<u64> {
    let sql = format!("UPDATE invitations SET revoked_at = $2 WHERE invited_by = $1 AND {OPEN}");
    Ok(on_tx!(
        tx,
        sqlx::query(&sql).bind(inviter.as_uuid()).bind(ts(now)),
        execute
    )?)
}

/// Revokes the open invitations to `dealership` (it was deactivated).
pub(crate) async fn revoke_in_dealership(
    tx: &mut Tx,
    dealership: DealershipId,
    now: DateTime<Utc>,
) -> Result<u64> {
    let sql = format!("UPDATE invitations SET revoked_at = $2 WHERE dealership_id = $1 AND {OPEN}");
    Ok(on_tx!(
        tx,
        sqlx::query(&sql).bind(dealership.as_uuid()).bind(ts(now)),
        execute
    )?)
}
