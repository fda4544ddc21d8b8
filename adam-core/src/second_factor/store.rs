//! A user's second factor as stored on their row (sealed TOTP secret, pending enrollment, last
//! accepted time step, hashed recovery codes), and the challenges of the second sign-in step.
//!
//! Which change is allowed when is decided in `service::mfa`; this module reads and writes.
//! Every change that must happen once (accepting a time step, enabling, spending a recovery code
//! or a challenge) is a conditional `UPDATE` or `DELETE` whose row count says whether this
//! transaction won.

use std::fmt;

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::caller::SignInMethod;
use crate::db::{on_tx, ts, Tx};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::placement::Placement;
use crate::role::Role;
use crate::sessions::refresh::TokenDigest;

/// The scope's filter on `users`, as `$2` (dealership) and `$3` (the only user).
const SCOPED: &str = "($2 IS NULL OR u.dealership_id = $2) AND ($3 IS NULL OR u.id = $3)";

/// A user's second factor, with what decides whether they must have one.
#[derive(Clone, FromRow)]
pub(crate) struct MfaRow {
    id: Uuid,
    pub(crate) email: String,
    role: String,
    dealership_id: Option<Uuid>,
    /// Sealed; present when TOTP is on.
    pub(crate) totp_secret: Option<Vec<u8>>,
    /// Sealed; present while an enrollment awaits its first code.
    pub(crate) totp_pending: Option<Vec<u8>>,
    pub(crate) totp_last_step: Option<i64>,
    /// [`crate::second_factor::recovery::encode`]d.
    pub(crate) recovery_codes: String,
    /// The user's dealership requires a second factor.
    pub(crate) dealership_requires: bool,
    /// The user and their dealership are active.
    pub(crate) may_sign_in: bool,
    /// The password was set by someone else: the sign-in asks for a new one.
    pub(crate) must_change_password: bool,
    /// The user has a passkey (a second factor of its own).
    pub(crate) has_passkey: bool,
}

impl fmt::Debug for MfaRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaRow")
            .field("totp_on", &self.totp_secret.is_some())
            .field("pending", &self.totp_pending.is_some())
            .field("totp_last_step", &self.totp_last_step)
            .finish_non_exhaustive()
    }
}

impl MfaRow {
    /// The user, for the events about them.
    /// The user's id.
    pub(crate) fn user_id(&self) -> UserId {
        self.id.into()
    }

    pub(crate) fn subject(&self) -> crate::audit::events::UserRef {
        crate::audit::events::UserRef::stored(self.id, self.dealership_id)
    }

    /// The user's role and dealership.
    pub(crate) fn placement(&self) -> Result<Placement> {
        let role: Role = self
            .role
            .parse()
            .map_err(|_| Error::Internal("stored role is invalid".into()))?;
        Placement::new(role, self.dealership_id.map(Into::into))
    }
}

/// The second factor of a user in the scope, or [`Error::NotFound`].
pub(crate) async fn get(tx: &mut Tx, user: UserId) -> Result<MfaRow> {
    let sql = format!(
        "SELECT u.id, u.email, u.role, u.dealership_id, u.totp_secret, u.totp_pending, \
         u.totp_last_step, u.recovery_codes, COALESCE(d.mfa_required, FALSE) AS dealership_requires, \
         (u.is_active = TRUE AND (u.dealership_id IS NULL OR d.is_active = TRUE)) AS may_sign_in, \
         u.must_change_password, u.has_passkey FROM users u \
         LEFT JOIN dealerships d ON d.id = u.dealership_id WHERE u.id = $1 AND {SCOPED}"
    );
    let scope = tx.scope;
    let row: Option<MfaRow> = on_tx!(
        tx,
        sqlx::query_as(&sql)
            .bind(user.as_uuid())
            .bind(scope.dealership().map(|d| d.as_uuid()))
            .bind(scope.only_user.map(|u| u.as_uuid())),
        fetch_optional
    )?;
    row.ok_or(Error::NotFound)
}

/// Runs a statement and answers whether it changed exactly one row.
macro_rules! changed {
    ($tx:expr, $query:expr) => {
        on_tx!($tx, $query, execute)
            .map(|n| n == 1)
            .map_err(Error::from)
    };
}

/// Starts or restarts an enrollment: the sealed secret awaits its first code. Refused (false)
/// while TOTP is on.
pub(crate) async fn set_pending(tx: &mut Tx, user: UserId, sealed: &[u8]) -> Result<bool> {
    const SQL: &str = "UPDATE users SET totp_pending = $2 WHERE id = $1 AND totp_secret IS NULL";
    changed!(tx, sqlx::query(SQL).bind(user.as_uuid()).bind(sealed))
}

/// Turns TOTP on with the pending secret that was checked (`pending`), the step its first code
/// was for, and the new recovery codes. False when the pending secret changed meanwhile (another
/// enrollment, a confirm that won) or TOTP is on already.
pub(crate) async fn enable(
    tx: &mut Tx,
    user: UserId,
    pending: &[u8],
    step: i64,
    codes: &str,
) -> Result<bool> {
    const SQL: &str = "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, \
        totp_last_step = $3, recovery_codes = $4 \
        WHERE id = $1 AND totp_pending = $2 AND totp_secret IS NULL";
    changed!(
        tx,
        sqlx::query(SQL)
            .bind(user.as_uuid())
            .bind(pending)
            .bind(step)
            .bind(codes)
    )
}

/// Accepts a code's time step: true only when it is later than the last one accepted (the
/// database referees concurrent requests: exactly one of them moves the step).
pub(crate) async fn accept_step(tx: &mut Tx, user: UserId, step: i64) -> Result<bool> {
    const SQL: &str = "UPDATE users SET totp_last_step = $2 WHERE id = $1 \
        AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $2)";
    changed!(tx, sqlx::query(SQL).bind(user.as_uuid()).bind(step))
}

/// Replaces the recovery codes if they are still `expected` (spending one, or a new set): false
/// when another request changed them first.
pub(crate) async fn replace_codes(
    tx: &mut Tx,
    user: UserId,
    expected: &str,
    codes: &str,
) -> Result<bool> {
    const SQL: &str = "UPDATE users SET recovery_codes = $3 WHERE id = $1 \
        AND totp_secret IS NOT NULL AND recovery_codes = $2";
    changed!(
        tx,
        sqlx::query(SQL)
            .bind(user.as_uuid())
            .bind(expected)
            .bind(codes)
    )
}

/// Removes TOTP, any pending enrollment and the recovery codes; false when there was none.
pub(crate) async fn remove(tx: &mut Tx, user: UserId) -> Result<bool> {
    const SQL: &str = "UPDATE users SET totp_secret = NULL, totp_pending = NULL, \
        totp_last_step = NULL, recovery_codes = '' WHERE id = $1 \
        AND (totp_secret IS NOT NULL OR totp_pending IS NOT NULL)";
    changed!(tx, sqlx::query(SQL).bind(user.as_uuid()))
}

/// Every sealed secret (system scope), to seal again under a new `SECRET_KEY`.
pub(crate) async fn sealed_secrets(
    tx: &mut Tx,
) -> Result<Vec<(Uuid, Option<Vec<u8>>, Option<Vec<u8>>)>> {
    const SQL: &str = "SELECT id, totp_secret, totp_pending FROM users \
        WHERE totp_secret IS NOT NULL OR totp_pending IS NOT NULL";
    Ok(on_tx!(tx, sqlx::query_as(SQL), fetch_all)?)
}

/// Replaces a sealed secret (`pending`: the enrollment's) if it is still `old`.
pub(crate) async fn reseal(
    tx: &mut Tx,
    user: Uuid,
    pending: bool,
    old: &[u8],
    new: &[u8],
) -> Result<bool> {
    let sql = if pending {
        "UPDATE users SET totp_pending = $3 WHERE id = $1 AND totp_pending = $2"
    } else {
        "UPDATE users SET totp_secret = $3 WHERE id = $1 AND totp_secret = $2"
    };
    changed!(tx, sqlx::query(sql).bind(user).bind(old).bind(new))
}

/// What a second sign-in step is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A code of the user's second factor (`/auth/login/mfa`).
    Verify,
    /// Enrollment of a user who must have a second factor (`/auth/login/mfa/enroll…`).
    Enroll,
    /// A new password, for a user whose password was set by someone else
    /// (`/auth/login/password`); the session it opens signs in by the method the sign-in
    /// completed before this step.
    Password(SignInMethod),
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Enroll => "enroll",
            Self::Password(_) => "password",
        }
    }

    /// The stored `amr` column: set exactly for [`Purpose::Password`].
    fn amr(self) -> Option<String> {
        match self {
            Self::Password(method) => Some(method.stored()),
            Self::Verify | Self::Enroll => None,
        }
    }

    fn parse(purpose: &str, amr: Option<&str>) -> Result<Self> {
        match (purpose, amr) {
            ("verify", None) => Ok(Self::Verify),
            ("enroll", None) => Ok(Self::Enroll),
            ("password", Some(method)) => Ok(Self::Password(SignInMethod::parse_stored(method)?)),
            _ => Err(Error::Internal(format!(
                "stored challenge purpose {purpose:?} is invalid"
            ))),
        }
    }
}

/// A live challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) user: UserId,
    pub(crate) purpose: Purpose,
}

/// Wrong codes after which a challenge is spent.
pub(crate) const MAX_CHALLENGE_FAILURES: i32 = 5;

/// Stores a challenge (system scope).
pub(crate) async fn create_challenge(
    tx: &mut Tx,
    token: &TokenDigest,
    challenge: Challenge,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    const SQL: &str = "INSERT INTO mfa_challenges (token_hash, user_id, purpose, created_at, \
        expires_at, amr) VALUES ($1, $2, $3, $4, $5, $6)";
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(&token.0)
            .bind(challenge.user.as_uuid())
            .bind(challenge.purpose.as_str())
            .bind(ts(now))
            .bind(ts(expires_at))
            .bind(challenge.purpose.amr()),
        execute
    )?;
    Ok(())
}

/// The live challenge of `token` (not expired, fewer than five wrong codes), if any.
pub(crate) async fn challenge(
    tx: &mut Tx,
    token: &TokenDigest,
    now: DateTime<Utc>,
) -> Result<Option<Challenge>> {
    const SQL: &str = "SELECT user_id, purpose, amr FROM mfa_challenges \
        WHERE token_hash = $1 AND expires_at > $2 AND failures < $3";
    live_challenge(tx, SQL, token, now).await
}

/// The challenge `sql` answers (`user_id, purpose, amr`) for the live challenge of `token`: `$1` the
/// token, `$2` now, `$3` the most wrong codes a challenge takes.
async fn live_challenge(
    tx: &mut Tx,
    sql: &'static str,
    token: &TokenDigest,
    now: DateTime<Utc>,
) -> Result<Option<Challenge>> {
    let row: Option<(Uuid, String, Option<String>)> = on_tx!(
        tx,
        sqlx::query_as(sql)
            .bind(&token.0)
            .bind(ts(now))
            .bind(MAX_CHALLENGE_FAILURES),
        fetch_optional
    )?;
    row.map(|(user, purpose, amr)| {
        Ok(Challenge {
            user: user.into(),
            purpose: Purpose::parse(&purpose, amr.as_deref())?,
        })
    })
    .transpose()
}

/// Reserves one code check on a live challenge, before the code is checked: of any number of
/// concurrent attempts on one token, at most [`MAX_CHALLENGE_FAILURES`] ever get a check (a
/// conditional UPDATE). `None`: the token is unknown, expired or out of checks.
pub(crate) async fn reserve_check(
    tx: &mut Tx,
    token: &TokenDigest,
    now: DateTime<Utc>,
) -> Result<Option<Challenge>> {
    const SQL: &str = "UPDATE mfa_challenges SET failures = failures + 1 \
        WHERE token_hash = $1 AND expires_at > $2 AND failures < $3 RETURNING user_id, purpose, amr";
    live_challenge(tx, SQL, token, now).await
}

/// After a wrong code (its check already counted by [`reserve_check`]): the challenge is spent
/// once it has had all its checks.
pub(crate) async fn fail_challenge(tx: &mut Tx, token: &TokenDigest) -> Result<()> {
    const SPEND: &str = "DELETE FROM mfa_challenges WHERE token_hash = $1 AND failures >= $2";
    on_tx!(
        tx,
        sqlx::query(SPEND)
            .bind(&token.0)
            .bind(MAX_CHALLENGE_FAILURES),
        execute
    )?;
    Ok(())
}

/// Spends a live challenge whose check was reserved ([`reserve_check`]): true for exactly one
/// of any number of concurrent spends.
pub(crate) async fn spend_challenge(
    tx: &mut Tx,
    token: &TokenDigest,
    now: DateTime<Utc>,
) -> Result<bool> {
    const SQL: &str = "DELETE FROM mfa_challenges WHERE token_hash = $1 AND expires_at > $2";
    changed!(tx, sqlx::query(SQL).bind(&token.0).bind(ts(now)))
}

/// Deletes challenges that expired before `before`.
pub(crate) async fn purge_challenges(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64> {
    const SQL: &str = "DELETE FROM mfa_challenges WHERE expires_at < $1";
    Ok(on_tx!(tx, sqlx::query(SQL).bind(ts(before)), execute)?)
}
