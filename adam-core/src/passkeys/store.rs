//! The `passkeys` and `passkey_ceremonies` tables (the engine's scope only).
//!
//! What must happen once is a conditional write whose row count says whether this transaction
//! won: spending a ceremony, moving a signature counter forward.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::db::{constraint_error, count, on_tx, ts, Tx};
use crate::error::Result;
use crate::ids::{SessionId, UserId};

/// A stored passkey.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct PasskeyRow {
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) name: String,
    /// webauthn-rs's `Passkey`, as JSON.
    pub(crate) credential: String,
    pub(crate) sign_count: i64,
    pub(crate) backup_eligible: bool,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_used_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, user_id, name, credential, sign_count, backup_eligible, created_at, last_used_at";

/// A passkey to store.
pub(crate) struct NewPasskey<'a> {
    pub(crate) id: Uuid,
    pub(crate) user: UserId,
    pub(crate) credential_id: &'a [u8],
    pub(crate) name: &'a str,
    pub(crate) credential: &'a str,
    pub(crate) sign_count: u32,
    pub(crate) backup_eligible: bool,
}

/// Stores `new`; a credential registered already (to anyone) is [`crate::Error::Conflict`].
pub(crate) async fn insert(tx: &mut Tx, new: &NewPasskey<'_>, now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "INSERT INTO passkeys (id, user_id, credential_id, name, credential, \
        sign_count, backup_eligible, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(new.id)
            .bind(new.user.as_uuid())
            .bind(new.credential_id)
            .bind(new.name)
            .bind(new.credential)
            .bind(i64::from(new.sign_count))
            .bind(new.backup_eligible)
            .bind(ts(now)),
        execute
    )
    .map_err(|e| constraint_error(e, "this passkey is registered already"))?;
    note_passkeys(tx, new.user).await
}

/// Keeps `users.has_passkey` (part of `mfa_enabled`) true while `user` has a passkey.
async fn note_passkeys(tx: &mut Tx, user: UserId) -> Result<()> {
    const SQL: &str = "UPDATE users SET has_passkey = \
        EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = $1) WHERE id = $1";
    on_tx!(tx, sqlx::query(SQL).bind(user.as_uuid()), execute)?;
    Ok(())
}

/// The passkeys of `user`, oldest first.
pub(crate) async fn of_user(tx: &mut Tx, user: UserId) -> Result<Vec<PasskeyRow>> {
    let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
    let rows = on_tx!(tx, sqlx::query_as(&sql).bind(user.as_uuid()), fetch_all)?;
    Ok(rows)
}

/// The passkey with `credential_id`, whoever's it is.
pub(crate) async fn by_credential(tx: &mut Tx, credential_id: &[u8]) -> Result<Option<PasskeyRow>> {
    let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE credential_id = $1");
    let row = on_tx!(tx, sqlx::query_as(&sql).bind(credential_id), fetch_optional)?;
    Ok(row)
}

/// Deletes passkey `id` of `user`; whether there was one.
pub(crate) async fn delete(tx: &mut Tx, user: UserId, id: Uuid) -> Result<bool> {
    const SQL: &str = "DELETE FROM passkeys WHERE id = $1 AND user_id = $2";
    let n = on_tx!(tx, sqlx::query(SQL).bind(id).bind(user.as_uuid()), execute)?;
    note_passkeys(tx, user).await?;
    Ok(n == 1)
}

/// Deletes every passkey of `user` (a second factor reset); how many.
pub(crate) async fn delete_all(tx: &mut Tx, user: UserId) -> Result<u64> {
    const SQL: &str = "DELETE FROM passkeys WHERE user_id = $1";
    let n = on_tx!(tx, sqlx::query(SQL).bind(user.as_uuid()), execute)?;
    note_passkeys(tx, user).await?;
    Ok(n)
}

/// Notes a sign-in with passkey `id` whose authenticator answered `counter` and `credential`
/// (webauthn-rs's record after the assertion): taken only if the stored counter is still `seen`
/// (what the assertion was checked against), so of two assertions checked against one counter
/// only one is taken. Whether this one was.
pub(crate) async fn used(
    tx: &mut Tx,
    id: Uuid,
    seen: i64,
    counter: u32,
    credential: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    const SQL: &str = "UPDATE passkeys SET sign_count = $3, credential = $4, last_used_at = $5 \
        WHERE id = $1 AND sign_count = $2";
    let n = on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(seen)
            .bind(i64::from(counter))
            .bind(credential)
            .bind(ts(now)),
        execute
    )?;
    Ok(n == 1)
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Registering a passkey for the user and session that asked.
    Register { user: UserId, session: SessionId },
    /// Signing in, by whoever the credential says.
    SignIn,
    /// The second step after `user`'s password, with one of their passkeys.
    SecondStep { user: UserId },
}

impl Purpose {
    /// The stored purpose, user and session.
    fn columns(self) -> (&'static str, Option<Uuid>, Option<Uuid>) {
        match self {
            Self::Register { user, session } => {
                ("register", Some(user.as_uuid()), Some(session.as_uuid()))
            }
            Self::SignIn => ("sign_in", None, None),
            Self::SecondStep { user } => ("second_step", Some(user.as_uuid()), None),
        }
    }
}

/// Stores a ceremony: webauthn-rs's `state` (JSON), from `ip`, until `expires`.
pub(crate) async fn create_ceremony(
    tx: &mut Tx,
    id: Uuid,
    purpose: Purpose,
    state: &str,
    ip: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    const SQL: &str = "INSERT INTO passkey_ceremonies (id, purpose, user_id, session_id, state, \
        ip, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    let (name, user, session) = purpose.columns();
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(name)
            .bind(user)
            .bind(session)
            .bind(state)
            .bind(ip)
            .bind(ts(now))
            .bind(ts(expires)),
        execute
    )?;
    Ok(())
}

/// Serialises the anonymous ceremonies of one address until the transaction ends, so that
/// counting and inserting are one step for every server (PostgreSQL: an advisory lock; SQLite:
/// its write transactions are serial already).
pub(crate) async fn lock_address(tx: &mut Tx, address: &str) -> Result<()> {
    tx.lock(&format!("adam:passkey:address:{address}")).await
}

/// How many sign-in ceremonies `address` started since `since`.
pub(crate) async fn started_from(tx: &mut Tx, address: &str, since: DateTime<Utc>) -> Result<u64> {
    const SQL: &str = "SELECT COUNT(*) FROM passkey_ceremonies \
        WHERE ip = $1 AND created_at > $2 AND purpose = 'sign_in'";
    let (n,): (i64,) = on_tx!(
        tx,
        sqlx::query_as(SQL).bind(address).bind(ts(since)),
        fetch_one
    )?;
    Ok(count(n))
}

/// Spends ceremony `id` of `purpose` if it is unspent and unexpired, answering its state: of
/// any number of submissions one gets it.
pub(crate) async fn spend_ceremony(
    tx: &mut Tx,
    id: Uuid,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    const SQL: &str = "UPDATE passkey_ceremonies SET spent_at = $2 \
        WHERE id = $1 AND spent_at IS NULL AND expires_at > $2 AND purpose = $3 \
        AND user_id IS NOT DISTINCT FROM $4 AND session_id IS NOT DISTINCT FROM $5 \
        RETURNING state";
    let (name, user, session) = purpose.columns();
    let row: Option<(String,)> = on_tx!(
        tx,
        sqlx::query_as(SQL)
            .bind(id)
            .bind(ts(now))
            .bind(name)
            .bind(user)
            .bind(session),
        fetch_optional
    )?;
    Ok(row.map(|(s,)| s))
}

/// Deletes ceremonies that expired before `before`.
pub(crate) async fn purge_ceremonies(tx: &mut Tx, before: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "DELETE FROM passkey_ceremonies WHERE expires_at < $1";
    on_tx!(tx, sqlx::query(SQL).bind(ts(before)), execute)?;
    Ok(())
}
