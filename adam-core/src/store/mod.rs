//! Storage: one [`Store`] trait, implemented once in SQL for PostgreSQL and for SQLite.
//!
//! The engine is chosen once, from the database URL, by [`connect`]. Both implementations are
//! generated from the same source (the private `sql` module), so the two engines cannot drift apart.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, SessionId, UserId};
use crate::models::{Dealership, DealershipPatch, Page, PageRequest, User, UserFilter};
use crate::rbac::{DealershipScope, UserScope};
use crate::refresh::TokenDigest;
use crate::role::Role;

mod sql;

/// Which database engine a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// PostgreSQL: production, shared by several servers.
    Postgres,
    /// SQLite: the embedded default.
    Sqlite,
}

impl Engine {
    /// The engine a database URL names, or a configuration error naming `DATABASE_URL`.
    pub fn of_url(url: &str) -> Result<Self> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
        match scheme {
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "sqlite" => Ok(Self::Sqlite),
            _ => Err(Error::Config(
                "DATABASE_URL must start with postgres://, postgresql:// or sqlite:".into(),
            )),
        }
    }
}

/// One migration and whether it has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// Version number (from the file name).
    pub version: i64,
    /// Description (from the file name).
    pub description: String,
    /// Whether it is applied to the database.
    pub applied: bool,
}

/// What a user's sign-in needs: never leaves the engine.
#[derive(Clone)]
pub struct Credentials {
    /// The user.
    pub user_id: UserId,
    /// Their role.
    pub role: Role,
    /// Their dealership.
    pub dealership_id: Option<DealershipId>,
    /// The stored PHC hash.
    pub password_hash: String,
    /// Whether the user and their dealership are both active.
    pub may_sign_in: bool,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user_id", &self.user_id)
            .field("role", &self.role)
            .field("may_sign_in", &self.may_sign_in)
            .finish_non_exhaustive()
    }
}

/// A session that is live: not revoked, its user active, the user's dealership active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSession {
    /// The session.
    pub session_id: SessionId,
    /// Its user.
    pub user_id: UserId,
    /// The user's current role.
    pub role: Role,
    /// The user's current dealership.
    pub dealership_id: Option<DealershipId>,
}

/// The outcome of presenting a refresh token for rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live and is now spent; the new one belongs to this session.
    Rotated(LiveSession),
    /// The token had been spent already: its whole session is now revoked.
    Reused,
    /// Unknown, expired, or its session, user or dealership is no longer live.
    Rejected,
}

/// Which sessions of a user to revoke along with a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Revoke {
    /// None.
    #[default]
    Nothing,
    /// Every session.
    All,
    /// Every session but this one (the caller's own, after changing their own password).
    AllExcept(SessionId),
}

/// A change to a user as storage applies it: validated and authorised already.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// New email.
    pub email: Option<Email>,
    /// New display name.
    pub full_name: Option<String>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New active flag.
    pub is_active: Option<bool>,
    /// New dealership.
    pub dealership_id: Option<Option<DealershipId>>,
    /// Sessions to revoke in the same transaction.
    pub revoke: Revoke,
}

/// Everything Adam stores, with the tenancy scope in the signature of every read a caller drives.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// The engine behind this store.
    fn engine(&self) -> Engine;
    /// Answers when the database does.
    async fn ping(&self) -> Result<()>;
    /// Applies pending migrations; returns the versions applied.
    async fn migrate_up(&self) -> Result<Vec<i64>>;
    /// Reverts the last applied migration; returns its version, if there was one.
    async fn migrate_down(&self) -> Result<Option<i64>>;
    /// Every known migration with whether it is applied.
    async fn migration_status(&self) -> Result<Vec<MigrationState>>;
    /// Closes the pool, waiting for connections in use to be returned.
    async fn close(&self);

    /// Stores a new dealership. A name taken in any case is [`Error::Conflict`].
    async fn insert_dealership(&self, d: &Dealership) -> Result<()>;
    /// A dealership in `scope`, or [`Error::NotFound`].
    async fn get_dealership(&self, scope: &DealershipScope, id: DealershipId)
        -> Result<Dealership>;
    /// The dealership with this name, ignoring case.
    async fn dealership_by_name(&self, name: &str) -> Result<Option<Dealership>>;
    /// A page of the dealerships in `scope`, by name.
    async fn list_dealerships(
        &self,
        scope: &DealershipScope,
        page: PageRequest,
    ) -> Result<Page<Dealership>>;
    /// Changes a dealership; deactivating it revokes its users' sessions.
    async fn update_dealership(
        &self,
        id: DealershipId,
        patch: &DealershipPatch,
        now: DateTime<Utc>,
    ) -> Result<Dealership>;
    /// Deletes a dealership; [`Error::Conflict`] while it has users.
    async fn delete_dealership(&self, id: DealershipId) -> Result<()>;

    /// Stores a new user with a password hash. A taken email is [`Error::Conflict`].
    async fn insert_user(&self, user: &User, password_hash: &str) -> Result<()>;
    /// A user in `scope`, or [`Error::NotFound`].
    async fn get_user(&self, scope: &UserScope, id: UserId) -> Result<User>;
    /// A page of the users in `scope` that match `filter`, by email.
    async fn list_users(
        &self,
        scope: &UserScope,
        filter: &UserFilter,
        page: PageRequest,
    ) -> Result<Page<User>>;
    /// Sign-in data for an email.
    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>>;
    /// The stored password hash of a user.
    async fn password_hash(&self, id: UserId) -> Result<Option<String>>;
    /// Replaces a password hash (re-hash after sign-in), nothing else.
    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<()>;
    /// Changes a user in `scope`. Refuses (409) to leave no active system admin.
    async fn update_user(
        &self,
        scope: &UserScope,
        id: UserId,
        change: &UserChange,
        now: DateTime<Utc>,
    ) -> Result<User>;
    /// Deletes a user and their sessions. Refuses (409) to delete the last active system admin.
    async fn delete_user(&self, id: UserId) -> Result<()>;

    /// Records a new session with its first refresh token.
    async fn create_session(
        &self,
        session: SessionId,
        user: UserId,
        first: &TokenDigest,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Spends `presented` and records `next` in its place, atomically: of concurrent callers
    /// presenting the same token exactly one gets [`Rotation::Rotated`].
    async fn rotate_refresh(
        &self,
        presented: &TokenDigest,
        next: &TokenDigest,
        next_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Rotation>;
    /// Revokes the session a refresh token belongs to; unknown tokens are ignored.
    async fn revoke_by_refresh(&self, presented: &TokenDigest, now: DateTime<Utc>) -> Result<()>;
    /// Revokes a user's sessions.
    async fn revoke_sessions(&self, user: UserId, which: Revoke, now: DateTime<Utc>)
        -> Result<u64>;
    /// The session if it is live, with its user as stored now (one query).
    async fn live_session(&self, session: SessionId) -> Result<Option<(LiveSession, User)>>;
    /// Deletes refresh tokens that expired before `before`, sessions left with none, and sign-in
    /// failures older than `before`.
    async fn purge_expired(&self, before: DateTime<Utc>) -> Result<u64>;

    /// Failed sign-ins for `email` since `since`, and the time of the oldest of them.
    async fn login_failures(
        &self,
        email: &str,
        since: DateTime<Utc>,
    ) -> Result<(u64, Option<DateTime<Utc>>)>;
    /// Records a failed sign-in for `email`.
    async fn record_login_failure(&self, email: &str, at: DateTime<Utc>) -> Result<()>;
    /// Forgets the failed sign-ins of `email` (after a successful one).
    async fn clear_login_failures(&self, email: &str) -> Result<()>;
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long a query waits for a connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens a store for `url` (`postgres://…` or `sqlite:…`). The PostgreSQL pool connects lazily,
/// so a server can start, report itself not ready, and recover when the database comes back.
/// A SQLite file is created if missing.
pub async fn connect(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>> {
    let bad_url = |e: sqlx::Error| Error::Config(format!("DATABASE_URL is not a valid URL: {e}"));
    match Engine::of_url(url)? {
        Engine::Postgres => {
            let opts = sqlx::postgres::PgConnectOptions::from_str(url).map_err(bad_url)?;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_lazy_with(opts);
            Ok(Arc::new(sql::PgStore { pool }))
        }
        Engine::Sqlite => {
            use sqlx::sqlite::{
                SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
            };
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(bad_url)?
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .synchronous(SqliteSynchronous::Normal);
            let opts = if in_memory {
                opts
            } else {
                opts.journal_mode(SqliteJournalMode::Wal)
            };
            let mut pool = SqlitePoolOptions::new().acquire_timeout(options.acquire_timeout);
            pool = if in_memory {
                // Every connection to :memory: is a database of its own: keep exactly one, forever.
                pool.max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                pool.max_connections(options.max_connections)
            };
            let pool = pool.connect_with(opts).await.map_err(|e| {
                Error::Config(format!(
                    "DATABASE_URL: cannot open the SQLite database: {e}"
                ))
            })?;
            Ok(Arc::new(sql::SqliteStore { pool }))
        }
    }
}
