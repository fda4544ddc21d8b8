//! Token signing keys as stored: the public half, the sealed private half, the state and dates.
//!
//! Which key changes state when is decided in [`crate::keys::keyring`]; this module only reads and
//! writes rows. Every change that must happen once (a rotation, a promotion) is a conditional
//! `UPDATE` whose row count tells whether this transaction won.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::db::{on_tx, ts, Tx};
use crate::error::Result;
use crate::keys::state::{KeyState, SigningAlg};

/// One stored key.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct KeyRow {
    pub(crate) kid: String,
    #[sqlx(try_from = "String")]
    pub(crate) alg: SigningAlg,
    #[sqlx(try_from = "String")]
    pub(crate) state: KeyState,
    pub(crate) public_key: Vec<u8>,
    pub(crate) sealed_private_key: Vec<u8>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) activated_at: Option<DateTime<Utc>>,
    pub(crate) retired_at: Option<DateTime<Utc>>,
    pub(crate) drop_after: Option<DateTime<Utc>>,
}

/// Every key still in use at `now`: next, current, and retired keys whose tokens may still be
/// live. Oldest first.
pub(crate) async fn in_use(tx: &mut Tx, now: DateTime<Utc>) -> Result<Vec<KeyRow>> {
    Ok(on_tx!(
        tx,
        sqlx::query_as::<_, KeyRow>(
            "SELECT kid, alg, state, public_key, sealed_private_key, created_at, activated_at, \
         retired_at, drop_after FROM signing_keys \
         WHERE state <> 'retired' OR drop_after > $1 ORDER BY created_at, kid",
        )
        .bind(ts(now)),
        fetch_all
    )?)
}

/// Stores a new key of `alg` in state `state` (next or current). A second key of that algorithm
/// in that state is a unique violation: another server made one first.
pub(crate) async fn insert(
    tx: &mut Tx,
    kid: &str,
    alg: SigningAlg,
    state: KeyState,
    public_key: &[u8],
    sealed_private_key: &[u8],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let activated = (state == KeyState::Current).then_some(ts(now));
    on_tx!(
        tx,
        sqlx::query(
            "INSERT INTO signing_keys (kid, state, public_key, sealed_private_key, created_at, \
         activated_at, alg) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(kid)
        .bind(state.as_str())
        .bind(public_key)
        .bind(sealed_private_key)
        .bind(ts(now))
        .bind(activated)
        .bind(alg.as_str()),
        execute
    )
    .map(drop)
}

/// Retires `kid` if it is still the current key; 1 when this transaction retired it.
pub(crate) async fn retire_current(
    tx: &mut Tx,
    kid: &str,
    now: DateTime<Utc>,
    drop_after: DateTime<Utc>,
) -> Result<u64> {
    Ok(on_tx!(
        tx,
        sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retired_at = $2, drop_after = $3 \
         WHERE kid = $1 AND state = 'current'",
        )
        .bind(kid)
        .bind(ts(now))
        .bind(ts(drop_after)),
        execute
    )?)
}

/// Makes `kid` current if it is still the next key; 1 when this transaction promoted it.
pub(crate) async fn promote_next(tx: &mut Tx, kid: &str, now: DateTime<Utc>) -> Result<u64> {
    Ok(on_tx!(
        tx,
        sqlx::query(
            "UPDATE signing_keys SET state = 'current', activated_at = $2 \
         WHERE kid = $1 AND state = 'next'",
        )
        .bind(kid)
        .bind(ts(now)),
        execute
    )?)
}

/// Deletes `kid` whatever its state; 1 when it existed.
pub(crate) async fn delete(tx: &mut Tx, kid: &str) -> Result<u64> {
    Ok(on_tx!(
        tx,
        sqlx::query("DELETE FROM signing_keys WHERE kid = $1").bind(kid),
        execute
    )?)
}

/// Deletes retired keys whose tokens have all expired.
pub(crate) async fn drop_expired(tx: &mut Tx, now: DateTime<Utc>) -> Result<u64> {
    Ok(on_tx!(
        tx,
        sqlx::query("DELETE FROM signing_keys WHERE state = 'retired' AND drop_after <= $1")
            .bind(ts(now)),
        execute
    )?)
}

/// Replaces the sealed private half of `kid`, if it is still `old` (sealed under the former
/// `SECRET_KEY`).
pub(crate) async fn reseal(tx: &mut Tx, kid: &str, old: &[u8], new: &[u8]) -> Result<u64> {
    Ok(on_tx!(
        tx,
        sqlx::query(
            "UPDATE signing_keys SET sealed_private_key = $3 \
         WHERE kid = $1 AND sealed_private_key = $2",
        )
        .bind(kid)
        .bind(old)
        .bind(new),
        execute
    )?)
}
