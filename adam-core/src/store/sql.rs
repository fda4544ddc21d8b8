//! The SQL behind [`Store`], written once and instantiated for PostgreSQL and SQLite.
//!
//! Both engines accept the same statements here (`$n` parameters, `RETURNING`, `lower()`,
//! `LIKE … ESCAPE`), so a macro stamps out one implementation per pool type instead of an `if`
//! in every method. Times are always bound from Rust, never taken from SQL defaults, so both
//! engines compare them the same way.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::FromRow;
use uuid::Uuid;

use super::{
    Credentials, Engine, LiveSession, MigrationState, Revoke, Rotation, Store, UserChange,
};
use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, SessionId, UserId};
use crate::models::{Dealership, DealershipPatch, Page, PageRequest, User, UserFilter};
use crate::rbac::{DealershipScope, UserScope};
use crate::refresh::TokenDigest;
use crate::role::Role;

static PG_MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("../migrations/sqlite");

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub(crate) struct PgStore {
    pub(crate) pool: sqlx::PgPool,
}

/// The SQLite store.
#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    pub(crate) pool: sqlx::SqlitePool,
}

const USER_COLUMNS: &str =
    "id, email, full_name, role, dealership_id, is_active, created_at, updated_at";
const DEALERSHIP_COLUMNS: &str = "id, name, is_active, created_at, updated_at";

#[derive(FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    full_name: String,
    role: String,
    dealership_id: Option<Uuid>,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = Error;
    fn try_from(r: UserRow) -> Result<Self> {
        Ok(User {
            id: r.id.into(),
            email: Email::parse(&r.email)
                .map_err(|_| Error::Internal(format!("stored email of {} is invalid", r.id)))?,
            full_name: r.full_name,
            role: parse_role(&r.role)?,
            dealership_id: r.dealership_id.map(Into::into),
            is_active: r.is_active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(FromRow)]
struct DealershipRow {
    id: Uuid,
    name: String,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<DealershipRow> for Dealership {
    fn from(r: DealershipRow) -> Self {
        Dealership {
            id: r.id.into(),
            name: r.name,
            is_active: r.is_active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(FromRow)]
struct LiveRow {
    session_id: Uuid,
    #[sqlx(flatten)]
    user: UserRow,
}

impl LiveRow {
    fn split(self) -> Result<(LiveSession, User)> {
        let session_id = self.session_id.into();
        let user = User::try_from(self.user)?;
        let live = LiveSession {
            session_id,
            user_id: user.id,
            role: user.role,
            dealership_id: user.dealership_id,
        };
        Ok((live, user))
    }
}

#[derive(FromRow)]
struct CredentialsRow {
    id: Uuid,
    role: String,
    dealership_id: Option<Uuid>,
    password_hash: String,
    may_sign_in: bool,
}

fn parse_role(s: &str) -> Result<Role> {
    s.parse()
        .map_err(|_| Error::Internal(format!("stored role {s:?} is unknown")))
}

/// PostgreSQL keeps microseconds; round every time we write so both engines store the same value.
fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

fn unique_to_conflict(e: sqlx::Error, what: &'static str) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Error::conflict(what),
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            Error::invalid("dealership_id", "no such dealership")
        }
        _ => Error::from(e),
    }
}

/// `%text%` for LIKE, lower-cased, with the wildcard characters of `text` escaped.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

// The live-session join: session not revoked, user active, dealership (if any) active.
const LIVE_SESSION_SQL: &str =
    "SELECT s.id AS session_id, u.id, u.email, u.full_name, u.role, u.dealership_id, \
     u.is_active, u.created_at, u.updated_at FROM sessions s JOIN users u ON u.id = s.user_id \
     LEFT JOIN dealerships d ON d.id = u.dealership_id \
     WHERE s.id = $1 AND s.revoked_at IS NULL AND u.is_active = TRUE \
     AND (u.dealership_id IS NULL OR d.is_active = TRUE)";

// Locks every active system admin row (PostgreSQL) or the whole database for writing (SQLite)
// before the last-admin check, so two concurrent demotions cannot both pass it.
const LOCK_ADMINS_SQL: &str =
    "UPDATE users SET updated_at = updated_at WHERE role = 'system_admin' AND is_active = TRUE";

macro_rules! sql_store {
    ($store:ident, $db:ty, $engine:expr, $migrator:expr) => {
        impl $store {
            /// Revokes sessions of `user` inside the caller's transaction.
            async fn revoke_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                user: UserId,
                which: Revoke,
                now: DateTime<Utc>,
            ) -> Result<u64> {
                let except = match which {
                    Revoke::Nothing => return Ok(0),
                    Revoke::All => None,
                    Revoke::AllExcept(s) => Some(s.as_uuid()),
                };
                let done = sqlx::query(
                    "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL \
                     AND ($3 IS NULL OR id <> $3)",
                )
                .bind(user.as_uuid())
                .bind(now)
                .bind(except)
                .execute(&mut **tx)
                .await?;
                Ok(done.rows_affected())
            }

            /// Refuses to leave the database without an active system admin, if `id` is one now
            /// and would stop being one. Runs inside the caller's transaction, after locking.
            async fn guard_last_admin(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: Uuid,
                stays_admin: bool,
            ) -> Result<()> {
                sqlx::query(LOCK_ADMINS_SQL).execute(&mut **tx).await?;
                let row: Option<(String, bool)> =
                    sqlx::query_as("SELECT role, is_active FROM users WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut **tx)
                        .await?;
                let Some((role, active)) = row else { return Ok(()) };
                if role != "system_admin" || !active || stays_admin {
                    return Ok(());
                }
                let (others,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM users WHERE role = 'system_admin' AND is_active = TRUE AND id <> $1",
                )
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
                if others == 0 {
                    return Err(Error::conflict(
                        "the last active system admin cannot be deleted, deactivated or demoted",
                    ));
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl Store for $store {
            fn engine(&self) -> Engine {
                $engine
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn migrate_up(&self) -> Result<Vec<i64>> {
                let before = self.migration_status().await?;
                $migrator.run(&self.pool).await?;
                Ok(before.into_iter().filter(|m| !m.applied).map(|m| m.version).collect())
            }

            async fn migrate_down(&self) -> Result<Option<i64>> {
                let applied: Vec<i64> = self
                    .migration_status()
                    .await?
                    .into_iter()
                    .filter(|m| m.applied)
                    .map(|m| m.version)
                    .collect();
                let Some(&last) = applied.last() else { return Ok(None) };
                let target = applied.iter().rev().nth(1).copied().unwrap_or(0);
                $migrator.undo(&self.pool, target).await?;
                Ok(Some(last))
            }

            async fn migration_status(&self) -> Result<Vec<MigrationState>> {
                let mut conn = self.pool.acquire().await?;
                conn.ensure_migrations_table().await?;
                let applied: Vec<i64> = conn
                    .list_applied_migrations()
                    .await?
                    .into_iter()
                    .map(|m| m.version)
                    .collect();
                Ok($migrator
                    .iter()
                    .filter(|m| m.migration_type.is_up_migration())
                    .map(|m| MigrationState {
                        version: m.version,
                        description: m.description.to_string(),
                        applied: applied.contains(&m.version),
                    })
                    .collect())
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn insert_dealership(&self, d: &Dealership) -> Result<()> {
                sqlx::query(
                    "INSERT INTO dealerships (id, name, is_active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(d.id.as_uuid())
                .bind(&d.name)
                .bind(d.is_active)
                .bind(ts(d.created_at))
                .bind(ts(d.updated_at))
                .execute(&self.pool)
                .await
                .map_err(|e| unique_to_conflict(e, "a dealership with this name already exists"))?;
                Ok(())
            }

            async fn get_dealership(&self, scope: &DealershipScope, id: DealershipId) -> Result<Dealership> {
                let only = scope.restriction()?;
                let sql = format!(
                    "SELECT {DEALERSHIP_COLUMNS} FROM dealerships WHERE id = $1 AND ($2 IS NULL OR id = $2)"
                );
                let row: DealershipRow = sqlx::query_as(&sql)
                    .bind(id.as_uuid())
                    .bind(only.map(|d| d.as_uuid()))
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(Error::NotFound)?;
                Ok(row.into())
            }

            async fn dealership_by_name(&self, name: &str) -> Result<Option<Dealership>> {
                let sql = format!("SELECT {DEALERSHIP_COLUMNS} FROM dealerships WHERE lower(name) = lower($1)");
                let row: Option<DealershipRow> =
                    sqlx::query_as(&sql).bind(name).fetch_optional(&self.pool).await?;
                Ok(row.map(Into::into))
            }

            async fn list_dealerships(&self, scope: &DealershipScope, page: PageRequest) -> Result<Page<Dealership>> {
                let only = scope.restriction()?.map(|d| d.as_uuid());
                let (total,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM dealerships WHERE ($1 IS NULL OR id = $1)")
                        .bind(only)
                        .fetch_one(&self.pool)
                        .await?;
                let sql = format!(
                    "SELECT {DEALERSHIP_COLUMNS} FROM dealerships WHERE ($1 IS NULL OR id = $1) \
                     ORDER BY lower(name), id LIMIT $2 OFFSET $3"
                );
                let rows: Vec<DealershipRow> = sqlx::query_as(&sql)
                    .bind(only)
                    .bind(i64::from(page.limit()))
                    .bind(page.offset() as i64)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(Page {
                    items: rows.into_iter().map(Into::into).collect(),
                    total: count(total),
                    limit: page.limit(),
                    offset: page.offset(),
                })
            }

            async fn update_dealership(&self, id: DealershipId, patch: &DealershipPatch, now: DateTime<Utc>) -> Result<Dealership> {
                let now = ts(now);
                let mut tx = self.pool.begin().await?;
                let sql = format!(
                    "UPDATE dealerships SET name = COALESCE($2, name), is_active = COALESCE($3, is_active), \
                     updated_at = $4 WHERE id = $1 RETURNING {DEALERSHIP_COLUMNS}"
                );
                let row: DealershipRow = sqlx::query_as(&sql)
                    .bind(id.as_uuid())
                    .bind(patch.name.as_ref().map(|n| n.as_str()))
                    .bind(patch.is_active)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| unique_to_conflict(e, "a dealership with this name already exists"))?
                    .ok_or(Error::NotFound)?;
                if patch.is_active == Some(false) {
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $2 WHERE revoked_at IS NULL \
                         AND user_id IN (SELECT id FROM users WHERE dealership_id = $1)",
                    )
                    .bind(id.as_uuid())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(row.into())
            }

            async fn delete_dealership(&self, id: DealershipId) -> Result<()> {
                // One statement, so no user can slip in between the check and the delete; the
                // foreign key stays as the last line of defence.
                let done = sqlx::query(
                    "DELETE FROM dealerships WHERE id = $1 \
                     AND NOT EXISTS (SELECT 1 FROM users WHERE dealership_id = $1)",
                )
                .bind(id.as_uuid())
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 1 {
                    return Ok(());
                }
                self.get_dealership(&DealershipScope::system(), id).await?;
                Err(Error::conflict("the dealership still has users"))
            }

            async fn insert_user(&self, u: &User, password_hash: &str) -> Result<()> {
                sqlx::query(
                    "INSERT INTO users (id, email, full_name, password_hash, role, dealership_id, is_active, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(u.id.as_uuid())
                .bind(u.email.as_str())
                .bind(&u.full_name)
                .bind(password_hash)
                .bind(u.role.as_str())
                .bind(u.dealership_id.map(|d| d.as_uuid()))
                .bind(u.is_active)
                .bind(ts(u.created_at))
                .bind(ts(u.updated_at))
                .execute(&self.pool)
                .await
                .map_err(|e| unique_to_conflict(e, "a user with this email already exists"))?;
                Ok(())
            }

            async fn get_user(&self, scope: &UserScope, id: UserId) -> Result<User> {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE id = $1 \
                     AND ($2 IS NULL OR dealership_id = $2) AND ($3 IS NULL OR id = $3)"
                );
                let row: UserRow = sqlx::query_as(&sql)
                    .bind(id.as_uuid())
                    .bind(scope.dealership().map(|d| d.as_uuid()))
                    .bind(scope.only_user().map(|u| u.as_uuid()))
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(Error::NotFound)?;
                row.try_into()
            }

            async fn list_users(&self, scope: &UserScope, filter: &UserFilter, page: PageRequest) -> Result<Page<User>> {
                const WHERE: &str = "WHERE ($1 IS NULL OR dealership_id = $1) AND ($2 IS NULL OR id = $2) \
                     AND ($3 IS NULL OR role = $3) \
                     AND ($4 IS NULL OR lower(email) LIKE $4 ESCAPE '\\' OR lower(full_name) LIKE $4 ESCAPE '\\')";
                let dealership = scope.dealership().map(|d| d.as_uuid());
                let only = scope.only_user().map(|u| u.as_uuid());
                let role = filter.role.map(|r| r.as_str());
                let q = filter
                    .q
                    .as_deref()
                    .map(str::trim)
                    .filter(|q| !q.is_empty())
                    .map(like_pattern);
                let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM users {WHERE}"))
                    .bind(dealership)
                    .bind(only)
                    .bind(role)
                    .bind(q.as_deref())
                    .fetch_one(&self.pool)
                    .await?;
                let sql = format!("SELECT {USER_COLUMNS} FROM users {WHERE} ORDER BY email LIMIT $5 OFFSET $6");
                let rows: Vec<UserRow> = sqlx::query_as(&sql)
                    .bind(dealership)
                    .bind(only)
                    .bind(role)
                    .bind(q.as_deref())
                    .bind(i64::from(page.limit()))
                    .bind(page.offset() as i64)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(Page {
                    items: rows.into_iter().map(User::try_from).collect::<Result<_>>()?,
                    total: count(total),
                    limit: page.limit(),
                    offset: page.offset(),
                })
            }

            async fn credentials(&self, email: &Email) -> Result<Option<Credentials>> {
                let row: Option<CredentialsRow> = sqlx::query_as(
                    "SELECT u.id, u.role, u.dealership_id, u.password_hash, \
                     (u.is_active = TRUE AND (u.dealership_id IS NULL OR d.is_active = TRUE)) AS may_sign_in \
                     FROM users u LEFT JOIN dealerships d ON d.id = u.dealership_id WHERE u.email = $1",
                )
                .bind(email.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    Ok(Credentials {
                        user_id: r.id.into(),
                        role: parse_role(&r.role)?,
                        dealership_id: r.dealership_id.map(Into::into),
                        password_hash: r.password_hash,
                        may_sign_in: r.may_sign_in,
                    })
                })
                .transpose()
            }

            async fn password_hash(&self, id: UserId) -> Result<Option<String>> {
                let row: Option<(String,)> = sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
                    .bind(id.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(h,)| h))
            }

            async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<()> {
                sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                    .bind(id.as_uuid())
                    .bind(hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn update_user(&self, scope: &UserScope, id: UserId, change: &UserChange, now: DateTime<Utc>) -> Result<User> {
                let now = ts(now);
                let mut tx = self.pool.begin().await?;
                if change.role.is_some() || change.is_active == Some(false) {
                    let stays_admin = change.role.is_none_or(|r| r == Role::SystemAdmin)
                        && change.is_active != Some(false);
                    Self::guard_last_admin(&mut tx, id.as_uuid(), stays_admin).await?;
                }
                let sql = format!(
                    "UPDATE users SET email = COALESCE($2, email), full_name = COALESCE($3, full_name), \
                     password_hash = COALESCE($4, password_hash), role = COALESCE($5, role), \
                     is_active = COALESCE($6, is_active), \
                     dealership_id = CASE WHEN $7 THEN $8 ELSE dealership_id END, updated_at = $9 \
                     WHERE id = $1 AND ($10 IS NULL OR dealership_id = $10) AND ($11 IS NULL OR id = $11) \
                     RETURNING {USER_COLUMNS}"
                );
                let row: UserRow = sqlx::query_as(&sql)
                    .bind(id.as_uuid())
                    .bind(change.email.as_ref().map(|e| e.as_str()))
                    .bind(change.full_name.as_deref())
                    .bind(change.password_hash.as_deref())
                    .bind(change.role.map(|r| r.as_str()))
                    .bind(change.is_active)
                    .bind(change.dealership_id.is_some())
                    .bind(change.dealership_id.flatten().map(|d| d.as_uuid()))
                    .bind(now)
                    .bind(scope.dealership().map(|d| d.as_uuid()))
                    .bind(scope.only_user().map(|u| u.as_uuid()))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| unique_to_conflict(e, "a user with this email already exists"))?
                    .ok_or(Error::NotFound)?;
                Self::revoke_in(&mut tx, id, change.revoke, now).await?;
                tx.commit().await?;
                row.try_into()
            }

            async fn delete_user(&self, id: UserId) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                Self::guard_last_admin(&mut tx, id.as_uuid(), false).await?;
                let done = sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(id.as_uuid())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(Error::NotFound);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn create_session(&self, session: SessionId, user: UserId, first: &TokenDigest, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
                let now = ts(now);
                let mut tx = self.pool.begin().await?;
                sqlx::query("INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)")
                    .bind(session.as_uuid())
                    .bind(user.as_uuid())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&first.0)
                .bind(session.as_uuid())
                .bind(now)
                .bind(ts(expires_at))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn rotate_refresh(&self, presented: &TokenDigest, next: &TokenDigest, next_expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<Rotation> {
                let now = ts(now);
                let mut tx = self.pool.begin().await?;
                // The conditional UPDATE is the race's referee: the database lets exactly one
                // transaction flip spent_at from NULL.
                let spent: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
                    "UPDATE refresh_tokens SET spent_at = $2 WHERE token_hash = $1 AND spent_at IS NULL \
                     RETURNING session_id, expires_at",
                )
                .bind(&presented.0)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((session_id, expires_at)) = spent else {
                    let known: Option<(Uuid,)> =
                        sqlx::query_as("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
                            .bind(&presented.0)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let Some((session_id,)) = known else { return Ok(Rotation::Rejected) };
                    sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                        .bind(session_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    return Ok(Rotation::Reused);
                };
                if expires_at <= now {
                    tx.commit().await?;
                    return Ok(Rotation::Rejected);
                }
                let live: Option<LiveRow> = sqlx::query_as(LIVE_SESSION_SQL)
                    .bind(session_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(live) = live else {
                    tx.commit().await?;
                    return Ok(Rotation::Rejected);
                };
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&next.0)
                .bind(session_id)
                .bind(now)
                .bind(ts(next_expires_at))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Rotation::Rotated(live.split()?.0))
            }

            async fn revoke_by_refresh(&self, presented: &TokenDigest, now: DateTime<Utc>) -> Result<()> {
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $2 WHERE revoked_at IS NULL \
                     AND id IN (SELECT session_id FROM refresh_tokens WHERE token_hash = $1)",
                )
                .bind(&presented.0)
                .bind(ts(now))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn revoke_sessions(&self, user: UserId, which: Revoke, now: DateTime<Utc>) -> Result<u64> {
                let mut tx = self.pool.begin().await?;
                let n = Self::revoke_in(&mut tx, user, which, ts(now)).await?;
                tx.commit().await?;
                Ok(n)
            }

            async fn live_session(&self, session: SessionId) -> Result<Option<(LiveSession, User)>> {
                let row: Option<LiveRow> = sqlx::query_as(LIVE_SESSION_SQL)
                    .bind(session.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(LiveRow::split).transpose()
            }

            async fn purge_expired(&self, before: DateTime<Utc>) -> Result<u64> {
                let before = ts(before);
                let mut tx = self.pool.begin().await?;
                let tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
                    .bind(before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query(
                    "DELETE FROM sessions WHERE created_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = sessions.id)",
                )
                .bind(before)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM login_failures WHERE failed_at < $1")
                    .bind(before)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(tokens)
            }

            async fn login_failures(&self, email: &str, since: DateTime<Utc>) -> Result<(u64, Option<DateTime<Utc>>)> {
                let (n, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
                    "SELECT COUNT(*), MIN(failed_at) FROM login_failures WHERE email = $1 AND failed_at > $2",
                )
                .bind(email)
                .bind(ts(since))
                .fetch_one(&self.pool)
                .await?;
                Ok((count(n), oldest))
            }

            async fn record_login_failure(&self, email: &str, at: DateTime<Utc>) -> Result<()> {
                sqlx::query("INSERT INTO login_failures (email, failed_at) VALUES ($1, $2)")
                    .bind(email)
                    .bind(ts(at))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn clear_login_failures(&self, email: &str) -> Result<()> {
                sqlx::query("DELETE FROM login_failures WHERE email = $1")
                    .bind(email)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

sql_store!(PgStore, sqlx::Postgres, Engine::Postgres, PG_MIGRATOR);
sql_store!(SqliteStore, sqlx::Sqlite, Engine::Sqlite, SQLITE_MIGRATOR);
