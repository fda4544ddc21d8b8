//! The database: a pool for PostgreSQL or SQLite, and the unit of work every query runs in.
//!
//! Nothing here is public. Every statement runs inside a [`Tx`], and a [`Tx`] cannot be opened
//! without a [`Scope`]: the application wall (each query filters by the scope) and, on PostgreSQL,
//! the database wall (row-level security reads the scope from a transaction-local setting, so a
//! query that forgot its filter still sees only the scope's rows).
//!
//! The SQL is one text for both engines (`$n` parameters, `RETURNING`, `lower()`), in the
//! per-aggregate modules. The [`on_tx!`] macro hands a query to whichever engine the transaction
//! belongs to, so no method carries an `if postgres`.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Connection, Executor};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, SessionId, UserId};
use crate::models::PageRequest;
use crate::placement::Placement;

static PG_MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("../migrations/sqlite");

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// PostgreSQL: production, shared by several servers, row-level security.
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

/// Pool settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long a query waits for a connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
    /// The unprivileged PostgreSQL role every pooled connection switches to
    /// (`DATABASE_APP_ROLE`); created by the migrations when missing, never dropped.
    pub app_role: String,
    /// A PostgreSQL connection idle at least this long is pinged (a round trip) before a unit of
    /// work gets it, and replaced if the database no longer answers on it. One used more
    /// recently is handed out as it is: under load that saves a round trip per request, and a
    /// connection that died since its last use fails its request with 503.
    pub ping_after_idle: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            app_role: "adam_app".into(),
            ping_after_idle: Duration::from_secs(1),
        }
    }
}

/// The places for throttled units of work ([`Db::begin_throttled`]): half the pool, at least one.
fn throttle_places(options: &StoreOptions) -> std::sync::Arc<tokio::sync::Semaphore> {
    let places = usize::try_from(options.max_connections / 2)
        .unwrap_or(1)
        .max(1);
    std::sync::Arc::new(tokio::sync::Semaphore::new(places))
}

/// Whose rows a transaction may touch. The database sees the same scope as the setting
/// `adam.scope` (`system`, `all`, or `dealership`, with `adam.dealership`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tenant {
    /// The engine's own operations: sign-in by email, refresh, the live-session check,
    /// throttling, purges, seed. Never a caller's request.
    System,
    /// A system admin's request: every dealership, and the rows of no dealership.
    AllDealerships,
    /// A principal's or manager's request: one dealership's rows.
    Dealership(DealershipId),
}

/// The scope of a unit of work: the tenant, and for an F&I manager, the one user they can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scope {
    pub(crate) tenant: Tenant,
    pub(crate) only_user: Option<UserId>,
    /// Who acts, for the events the unit of work records.
    pub(crate) actor: Option<(UserId, SessionId)>,
}

impl Scope {
    /// The engine's own scope.
    pub(crate) fn system() -> Self {
        Self {
            tenant: Tenant::System,
            only_user: None,
            actor: None,
        }
    }

    /// What a caller placed at `placement` can see, acting as `user` in `session`: the
    /// database wall and the application wall agree on it.
    pub(crate) fn of(placement: Placement, user: UserId, session: SessionId) -> Self {
        let tenant = match placement.dealership_id() {
            None => Tenant::AllDealerships,
            Some(d) => Tenant::Dealership(d),
        };
        let only_user = placement.sees_only_self().then_some(user);
        Self {
            tenant,
            only_user,
            actor: Some((user, session)),
        }
    }

    /// The one dealership whose rows are visible, if the scope is limited to one.
    pub(crate) fn dealership(&self) -> Option<DealershipId> {
        match self.tenant {
            Tenant::Dealership(d) => Some(d),
            _ => None,
        }
    }

    /// The statement that opens a transaction in this scope on PostgreSQL: `BEGIN` and the
    /// transaction-local settings in one round trip. Only values we format ourselves (a fixed
    /// word, a UUID) are spliced in.
    fn pg_begin(&self) -> String {
        let (scope, dealership) = match self.tenant {
            Tenant::System => ("system", String::new()),
            Tenant::AllDealerships => ("all", String::new()),
            Tenant::Dealership(d) => ("dealership", d.as_uuid().to_string()),
        };
        format!(
            "BEGIN; SELECT set_config('adam.scope', '{scope}', true), \
             set_config('adam.dealership', '{dealership}', true)"
        )
    }
}

/// Whether a unit of work only reads, or writes too (SQLite takes its write lock up front, so
/// two writers queue instead of failing when one upgrades from reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Intent {
    Read,
    Write,
}

/// The connection pool, the clock every unit of work reads the time from, and the outbox bell.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pub(crate) pool: Pool,
    clock: Clock,
    /// The places for units of work that count and reserve a password or code check
    /// ([`Db::begin_throttled`]): half the pool, at least one.
    throttled: std::sync::Arc<tokio::sync::Semaphore>,
    /// How long a unit of work waits for a connection (or a place) before the database counts
    /// as unavailable.
    acquire_timeout: Duration,
    /// Rung after a unit of work that queued something for a sender of this process (a
    /// back-channel logout) commits, so that it goes out at once.
    pub(crate) outbox_bell: std::sync::Arc<tokio::sync::Notify>,
}

/// The connection pool of one engine.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Pg {
        pool: sqlx::PgPool,
        /// For migrations, which run as the login role, not as the app role.
        options: Box<sqlx::postgres::PgConnectOptions>,
        app_role: String,
    },
    Lite {
        pool: sqlx::SqlitePool,
    },
}

/// A transaction of one engine.
#[derive(Debug)]
pub(crate) enum Conn {
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
    Lite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

/// A unit of work: one transaction, in one scope. Dropped without [`Tx::commit`], it rolls back.
#[derive(Debug)]
pub(crate) struct Tx {
    pub(crate) conn: Conn,
    pub(crate) scope: Scope,
    /// Where the request came from, for the events the unit of work records.
    pub(crate) origin: crate::origin::ClientInfo,
    clock: Clock,
    /// Rung at commit when [`Tx::ring_after_commit`] was asked for.
    bell: std::sync::Arc<tokio::sync::Notify>,
    ring: bool,
    /// Its place among the throttled units of work, held until it ends.
    place: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Runs `$query.$method(executor).await` on whichever engine `$tx` belongs to. With `execute`,
/// it answers the number of rows affected (the engines' result types differ).
macro_rules! on_tx {
    ($tx:expr, $query:expr, execute) => {
        match &mut $tx.conn {
            $crate::db::Conn::Pg(c) => $query.execute(&mut **c).await.map(|r| r.rows_affected()),
            $crate::db::Conn::Lite(c) => $query.execute(&mut **c).await.map(|r| r.rows_affected()),
        }
    };
    ($tx:expr, $query:expr, $method:ident) => {
        match &mut $tx.conn {
            $crate::db::Conn::Pg(c) => $query.$method(&mut **c).await,
            $crate::db::Conn::Lite(c) => $query.$method(&mut **c).await,
        }
    };
}
pub(crate) use on_tx;

/// A value a query built from its filters binds (the users list, the audit log).
pub(crate) enum Bound {
    Id(uuid::Uuid),
    Text(String),
    Time(DateTime<Utc>),
    Int(i64),
}

/// `query` with each of `binds` bound, in order (for either engine).
macro_rules! bind_each {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for b in $binds {
            query = match b {
                $crate::db::Bound::Id(id) => query.bind(*id),
                $crate::db::Bound::Text(text) => query.bind(text.as_str()),
                $crate::db::Bound::Time(t) => query.bind(*t),
                $crate::db::Bound::Int(n) => query.bind(*n),
            };
        }
        query
    }};
}
pub(crate) use bind_each;

impl Tx {
    /// Serialises this unit of work with every other that locks `key`, until it ends, so that
    /// counting and writing are one step for every server on the database (PostgreSQL: an
    /// advisory lock; SQLite: its write transactions are serial already).
    pub(crate) async fn lock(&mut self, key: &str) -> Result<()> {
        const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";
        if let Conn::Pg(c) = &mut self.conn {
            sqlx::query(LOCK).bind(key).execute(&mut **c).await?;
        }
        Ok(())
    }

    /// The current time, on the engine's clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Asks that the outbox bell ring once this unit of work has committed: it queued
    /// something a sender should send now.
    pub(crate) fn ring_after_commit(&mut self) {
        self.ring = true;
    }

    /// Whether this unit of work holds a place among the throttled ones
    /// ([`Db::begin_throttled`]).
    pub(crate) fn is_throttled(&self) -> bool {
        self.place.is_some()
    }

    /// Commits the unit of work, in a task of its own (as [`Db::begin`] begins it): a caller
    /// that stops waiting (a client that went away) cannot cut the commit short. Dropped while
    /// its `COMMIT` is answered, sqlx would queue a `ROLLBACK` behind it (PostgreSQL warns
    /// "there is no transaction in progress") and the outbox bell would not ring for what the
    /// unit of work queued.
    pub(crate) async fn commit(self) -> Result<()> {
        let Tx {
            conn,
            bell,
            ring,
            place,
            ..
        } = self;
        let commit = async move {
            match conn {
                Conn::Pg(c) => c.commit().await?,
                Conn::Lite(c) => c.commit().await?,
            }
            if ring {
                bell.notify_one();
            }
            // The throttled place is given back once the unit of work has ended.
            drop(place);
            Ok::<(), Error>(())
        };
        tokio::spawn(commit)
            .await
            .map_err(|e| Error::Internal(format!("committing a transaction: {e}")))?
    }
}

/// PostgreSQL keeps microseconds; round every time we write so both engines store the same value.
pub(crate) fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// How the statement of a page ([`page_sql`]) counts the rows of its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Counting {
    /// The page is read through an index in its order and stops after `limit` rows: the rows
    /// are counted apart, and only when the page is full (a short page's total is its offset
    /// plus its length). Both engines evaluate the uncorrelated count of the `CASE`'s last arm
    /// only when it is reached (PostgreSQL's plan shows it "never executed" otherwise).
    WhenFull,
    /// The source is read whole anyway (a contains-search, which no index serves under
    /// row-level security): the same pass counts it (`COUNT(*) OVER ()`).
    InThePass,
    /// As [`Counting::WhenFull`], but the total is kept (by triggers, in the transactions that
    /// change it): this scalar query reads it, in the page's own statement and snapshot.
    Kept(String),
}

/// One statement for a page of `SELECT {columns} FROM {source}` (a table and its `WHERE`) in
/// `order`, each row also carrying `total`, how many rows `source` holds in all: one round trip
/// where a `COUNT(*)` and the page were two. `limit` and `offset` are the binds numbered `first`
/// and `first + 1`. An empty page has no row to carry the total; [`page_total`] says what it is
/// then.
pub(crate) fn page_sql(
    columns: &str,
    source: &str,
    order: &str,
    first: usize,
    counting: Counting,
) -> String {
    let (limit, offset) = (first, first + 1);
    let full = |count: &str| {
        format!(
            "SELECT page.*, CASE WHEN COUNT(*) OVER () < ${limit} THEN ${offset} + COUNT(*) OVER () \
             ELSE ({count}) END AS total \
             FROM (SELECT {columns} FROM {source} ORDER BY {order} LIMIT ${limit} OFFSET ${offset}) page \
             ORDER BY {order}"
        )
    };
    match counting {
        Counting::WhenFull => full(&format!("SELECT COUNT(*) FROM {source}")),
        Counting::Kept(count) => full(&count),
        Counting::InThePass => format!(
            "SELECT {columns}, COUNT(*) OVER () AS total FROM {source} \
             ORDER BY {order} LIMIT ${limit} OFFSET ${offset}"
        ),
    }
}

/// The total of a page read with [`page_sql`]: what its first row carries; 0 for an empty first
/// page; `None` for an empty page further on, whose total only a count can tell.
pub(crate) fn page_total(first_row_total: Option<i64>, page: PageRequest) -> Option<u64> {
    match first_row_total {
        Some(total) => Some(count(total)),
        None if page.offset() == 0 => Some(0),
        None => None,
    }
}

/// A count from SQL as an unsigned number.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A unique or foreign-key violation as the contract's answer; anything else as storage.
pub(crate) fn constraint_error(e: sqlx::Error, conflict: &'static str) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Error::conflict(conflict),
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            Error::invalid("dealership_id", "no such dealership")
        }
        _ => Error::from(e),
    }
}

/// A role name fit to splice into SQL as an identifier.
fn check_role_name(role: &str) -> Result<()> {
    let ok = !role.is_empty()
        && role.len() <= 63
        && role.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::Config(
            "DATABASE_APP_ROLE must be a lower-case SQL identifier (letters, digits, _)".into(),
        ))
    }
}

impl Db {
    /// Opens a pool for `url`. The PostgreSQL pool connects lazily, so a server can start, report
    /// itself not ready, and recover when the database comes back; each of its connections
    /// switches to the app role and refuses to serve as a superuser or a `BYPASSRLS` role.
    /// A SQLite file is created if missing, readable by its owner only.
    pub(crate) async fn connect(url: &str, options: &StoreOptions, clock: Clock) -> Result<Self> {
        let bad_url =
            |e: sqlx::Error| Error::Config(format!("DATABASE_URL is not a valid URL: {e}"));
        match Engine::of_url(url)? {
            Engine::Postgres => {
                check_role_name(&options.app_role)?;
                let opts = sqlx::postgres::PgConnectOptions::from_str(url).map_err(bad_url)?;
                let role = options.app_role.clone();
                let ping_after_idle = options.ping_after_idle;
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(options.max_connections)
                    .acquire_timeout(options.acquire_timeout)
                    .test_before_acquire(false)
                    .before_acquire(move |conn, used| {
                        Box::pin(async move {
                            if used.idle_for >= ping_after_idle {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
                    .after_connect(move |conn, _| {
                        let role = role.clone();
                        Box::pin(async move { become_app_role(conn, &role).await })
                    })
                    .connect_lazy_with(opts.clone());
                Ok(Self {
                    pool: Pool::Pg {
                        pool,
                        options: Box::new(opts),
                        app_role: options.app_role.clone(),
                    },
                    clock,
                    outbox_bell: Default::default(),
                    throttled: throttle_places(options),
                    acquire_timeout: options.acquire_timeout,
                })
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
                    create_private_file(opts.get_filename())?;
                    opts.journal_mode(SqliteJournalMode::Wal)
                };
                let mut pool = SqlitePoolOptions::new().acquire_timeout(options.acquire_timeout);
                pool = if in_memory {
                    // Every connection to :memory: is a database of its own: keep exactly one.
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
                Ok(Self {
                    pool: Pool::Lite { pool },
                    clock,
                    outbox_bell: Default::default(),
                    throttled: throttle_places(options),
                    acquire_timeout: options.acquire_timeout,
                })
            }
        }
    }

    /// The current time, on the engine's clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The engine behind this pool.
    pub(crate) fn engine(&self) -> Engine {
        match &self.pool {
            Pool::Pg { .. } => Engine::Postgres,
            Pool::Lite { .. } => Engine::Sqlite,
        }
    }

    /// Opens a unit of work in `scope`.
    pub(crate) async fn begin(&self, scope: Scope, intent: Intent) -> Result<Tx> {
        let conn = match &self.pool {
            Pool::Pg { pool, .. } => {
                // sqlx 0.8's `begin` is not cancel-safe on PostgreSQL (launchbadge/sqlx#4393):
                // dropped while `BEGIN` is answered (a client that went away), it leaves the
                // server in a transaction, in this unit's scope, that nothing rolls back, and the
                // pool hands that connection to the next unit of work. Begun in a task of its
                // own, it always completes; a transaction nobody waits for any more is dropped
                // as a counted one, and rolls back.
                let pool = pool.clone();
                let begin = scope.pg_begin();
                let tx = tokio::spawn(async move { pool.begin_with(begin).await })
                    .await
                    .map_err(|e| Error::Internal(format!("beginning a transaction: {e}")))??;
                Conn::Pg(tx)
            }
            Pool::Lite { pool } => Conn::Lite(match intent {
                Intent::Read => pool.begin().await?,
                Intent::Write => pool.begin_with("BEGIN IMMEDIATE").await?,
            }),
        };
        Ok(Tx {
            conn,
            scope,
            origin: crate::origin::ClientInfo::default(),
            clock: self.clock.clone(),
            bell: self.outbox_bell.clone(),
            ring: false,
            place: None,
        })
    }

    /// Opens a unit of work in `scope` that will count and reserve a password or code check.
    /// The throttle's locks make such units wait for each other per account and per address,
    /// each on a pooled connection; so a unit first takes one of the places kept for them (half
    /// the pool), and a burst of attempts on one account or from one address waits here, in
    /// memory, leaving the other connections to every other request.
    pub(crate) async fn begin_throttled(&self, scope: Scope, intent: Intent) -> Result<Tx> {
        let place =
            tokio::time::timeout(self.acquire_timeout, self.throttled.clone().acquire_owned())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?
                .map_err(|_| sqlx::Error::PoolClosed)?;
        let mut tx = self.begin(scope, intent).await?;
        tx.place = Some(place);
        Ok(tx)
    }

    /// Answers when the database does (as the app role, on PostgreSQL).
    pub(crate) async fn ping(&self) -> Result<()> {
        match &self.pool {
            Pool::Pg { pool, .. } => pool.execute("SELECT 1").await.map(drop)?,
            Pool::Lite { pool } => pool.execute("SELECT 1").await.map(drop)?,
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub(crate) async fn close(&self) {
        match &self.pool {
            Pool::Pg { pool, .. } => pool.close().await,
            Pool::Lite { pool } => pool.close().await,
        }
    }

    /// Applies pending migrations (as the login role), then makes sure the app role exists and
    /// may use the tables. Returns the versions applied.
    pub(crate) async fn migrate_up(&self) -> Result<Vec<i64>> {
        let before = self.migration_status().await?;
        match &self.pool {
            Pool::Pg {
                options, app_role, ..
            } => {
                let mut conn = sqlx::PgConnection::connect_with(&**options).await?;
                PG_MIGRATOR.run_direct(&mut conn).await?;
                provision_app_role(&mut conn, app_role).await?;
                conn.close().await?;
            }
            Pool::Lite { pool } => SQLITE_MIGRATOR.run(pool).await?,
        }
        Ok(before
            .into_iter()
            .filter(|m| !m.applied)
            .map(|m| m.version)
            .collect())
    }

    /// Reverts the last applied migration; returns its version, if there was one.
    pub(crate) async fn migrate_down(&self) -> Result<Option<i64>> {
        let applied: Vec<i64> = self
            .migration_status()
            .await?
            .into_iter()
            .filter(|m| m.applied)
            .map(|m| m.version)
            .collect();
        let Some(&last) = applied.last() else {
            return Ok(None);
        };
        let target = applied.iter().rev().nth(1).copied().unwrap_or(0);
        match &self.pool {
            Pool::Pg { options, .. } => {
                // As the login role, on a pool of its own (the app pool switches roles).
                let owner = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with((**options).clone())
                    .await?;
                PG_MIGRATOR.undo(&owner, target).await?;
                owner.close().await;
            }
            Pool::Lite { pool } => SQLITE_MIGRATOR.undo(pool, target).await?,
        }
        Ok(Some(last))
    }

    /// Every known migration with whether it is applied.
    pub(crate) async fn migration_status(&self) -> Result<Vec<MigrationState>> {
        let (migrator, applied) = match &self.pool {
            Pool::Pg { options, .. } => {
                let mut conn = sqlx::PgConnection::connect_with(&**options).await?;
                conn.ensure_migrations_table().await?;
                let applied = conn.list_applied_migrations().await?;
                conn.close().await?;
                (&PG_MIGRATOR, applied)
            }
            Pool::Lite { pool } => {
                let mut conn = pool.acquire().await?;
                conn.ensure_migrations_table().await?;
                (&SQLITE_MIGRATOR, conn.list_applied_migrations().await?)
            }
        };
        let applied: Vec<i64> = applied.into_iter().map(|m| m.version).collect();
        Ok(migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| MigrationState {
                version: m.version,
                description: m.description.to_string(),
                applied: applied.contains(&m.version),
            })
            .collect())
    }
}

/// Creates the SQLite file readable and writable by its owner only (it holds password hashes),
/// if it does not exist yet. SQLite gives its `-wal` and `-shm` files the database file's mode.
fn create_private_file(path: &std::path::Path) -> Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::Config(format!(
            "DATABASE_URL: cannot create the SQLite database {}: {e}",
            path.display()
        ))),
    }
}

/// Switches a fresh pooled connection to the app role, and refuses a role that would bypass
/// row-level security.
async fn become_app_role(conn: &mut sqlx::PgConnection, role: &str) -> Result<(), sqlx::Error> {
    // `role` passed `check_role_name`; quoting keeps it an identifier all the same.
    if let Err(e) = conn.execute(format!("SET ROLE \"{role}\"").as_str()).await {
        return Err(sqlx::Error::Configuration(
            format!(
                "cannot switch to DATABASE_APP_ROLE {role:?} ({e}); run `adam-server migrate` as \
                 a role that may create it"
            )
            .into(),
        ));
    }
    let (bypasses,): (bool,) = sqlx::query_as(
        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut *conn)
    .await?;
    if bypasses {
        return Err(sqlx::Error::Configuration(
            format!(
                "DATABASE_APP_ROLE {role:?} is a superuser or has BYPASSRLS; refusing to serve"
            )
            .into(),
        ));
    }
    Ok(())
}

/// Creates the app role if missing (roles are cluster-wide: never dropped, and tests in parallel
/// may race to create it), lets the login role switch to it, and grants it the tables.
async fn provision_app_role(conn: &mut sqlx::PgConnection, role: &str) -> Result<()> {
    check_role_name(role)?;
    let create = format!(
        "DO $$ BEGIN \
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN \
             CREATE ROLE \"{role}\" NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT; \
           END IF; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; \
         END $$"
    );
    conn.execute(create.as_str()).await?;
    let member: (bool,) = sqlx::query_as("SELECT pg_has_role(current_user, $1, 'MEMBER')")
        .bind(role)
        .fetch_one(&mut *conn)
        .await?;
    if !member.0 {
        conn.execute(format!("GRANT \"{role}\" TO CURRENT_USER").as_str())
            .await?;
    }
    let grants = format!(
        "GRANT USAGE ON SCHEMA public TO \"{role}\"; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{role}\"; \
         REVOKE ALL ON _sqlx_migrations FROM \"{role}\""
    );
    conn.execute(grants.as_str()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A caller that stops waiting while its unit of work commits leaves the commit to finish:
    /// what the unit of work queued is committed, and the outbox bell rings for it.
    #[tokio::test]
    async fn a_commit_its_caller_stops_waiting_for_completes_and_rings_the_bell() {
        let db = Db::connect("sqlite::memory:", &StoreOptions::default(), Clock::system())
            .await
            .unwrap();
        let mut tx = db.begin(Scope::system(), Intent::Write).await.unwrap();
        tx.ring_after_commit();
        // Polled once, then dropped: the caller went away during the commit.
        let cut_short = tokio::select! {
            biased;
            _ = tx.commit() => false,
            () = std::future::ready(()) => true,
        };
        assert!(
            cut_short,
            "the commit was still under way when its caller went away"
        );
        let rung = db.outbox_bell.notified();
        tokio::time::timeout(std::time::Duration::from_secs(10), rung)
            .await
            .expect("the bell rang once the commit completed");
    }
}
