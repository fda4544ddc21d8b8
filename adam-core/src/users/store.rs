//! Users: reads and writes, each filtered by the unit of work's scope.

use std::fmt;

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::audit::store as audit;
use crate::db::{
    bind_each, constraint_error, count, on_tx, page_sql, page_total, ts, Bound, Conn, Counting, Tx,
};
use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, UserId};
use crate::models::{Page, PageRequest, User, UserFilter};
use crate::placement::Placement;
use crate::role::Role;

const COLUMNS: &str = "id, email, full_name, role, dealership_id, is_active, \
    (totp_secret IS NOT NULL OR has_passkey) AS mfa_enabled, created_at, updated_at, last_sign_in_at";

const EMAIL_TAKEN: &str = "a user with this email already exists";

/// A user row as stored.
#[derive(FromRow, Clone)]
pub(crate) struct UserRow {
    id: Uuid,
    email: String,
    full_name: String,
    role: String,
    dealership_id: Option<Uuid>,
    is_active: bool,
    mfa_enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_sign_in_at: Option<DateTime<Utc>>,
}

impl TryFrom<UserRow> for User {
    type Error = Error;
    fn try_from(r: UserRow) -> Result<Self> {
        let corrupt =
            |what: &str| Error::Internal(format!("stored {what} of user {} is invalid", r.id));
        let role: Role = r.role.parse().map_err(|_| corrupt("role"))?;
        Ok(User {
            id: r.id.into(),
            email: Email::from_stored(r.email).map_err(|_| corrupt("email"))?,
            full_name: r.full_name,
            placement: Placement::new(role, r.dealership_id.map(Into::into))
                .map_err(|_| corrupt("placement"))?,
            is_active: r.is_active,
            mfa_enabled: r.mfa_enabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
            last_sign_in_at: r.last_sign_in_at,
        })
    }
}

/// What a user's sign-in needs: never leaves the engine.
pub(crate) struct Credentials {
    pub(crate) user_id: UserId,
    pub(crate) placement: Placement,
    /// The stored PHC hash.
    pub(crate) password_hash: String,
    /// Whether the user and their dealership are both active.
    pub(crate) may_sign_in: bool,
    /// Whether TOTP is on.
    pub(crate) totp_on: bool,
    /// Whether the user has a passkey (which can be the second step after the password).
    pub(crate) has_passkey: bool,
    /// Whether the user's dealership requires a second factor.
    pub(crate) dealership_requires: bool,
    /// Whether the password was set by someone else and must be changed at this sign-in.
    pub(crate) must_change_password: bool,
}

impl Credentials {
    /// The user, for the events of their sign-in.
    pub(crate) fn user_ref(&self) -> crate::audit::events::UserRef {
        crate::audit::events::UserRef::placed(self.user_id, self.placement)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user_id", &self.user_id)
            .field("placement", &self.placement)
            .field("may_sign_in", &self.may_sign_in)
            .field("totp_on", &self.totp_on)
            .field("dealership_requires", &self.dealership_requires)
            .finish_non_exhaustive()
    }
}

#[derive(FromRow)]
struct CredentialsRow {
    id: Uuid,
    role: String,
    dealership_id: Option<Uuid>,
    password_hash: String,
    may_sign_in: bool,
    totp_on: bool,
    has_passkey: bool,
    dealership_requires: bool,
    must_change_password: bool,
}

/// A change to a user as storage applies it: validated and authorised already.
#[derive(Clone, Default)]
pub(crate) struct UserChange {
    pub(crate) email: Option<Email>,
    pub(crate) full_name: Option<String>,
    pub(crate) password_hash: Option<String>,
    pub(crate) placement: Option<Placement>,
    pub(crate) is_active: Option<bool>,
    /// Set with every new password: whether its user must change it at the next sign-in.
    pub(crate) must_change_password: Option<bool>,
}

impl UserChange {
    /// `user` as this change leaves it (but for `updated_at`, which the database sets).
    pub(crate) fn applied_to(&self, user: &User) -> User {
        let mut after = user.clone();
        if let Some(email) = &self.email {
            after.email = email.clone();
        }
        if let Some(name) = &self.full_name {
            after.full_name = name.clone();
        }
        if let Some(placement) = self.placement {
            after.placement = placement;
        }
        if let Some(active) = self.is_active {
            after.is_active = active;
        }
        after
    }
}

impl fmt::Debug for UserChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserChange")
            .field("email", &self.email)
            .field("full_name", &self.full_name)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field("placement", &self.placement)
            .field("is_active", &self.is_active)
            .field("must_change_password", &self.must_change_password)
            .finish()
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

/// The scope's filter on `users`, as `$2` (dealership) and `$3` (the only user).
const SCOPED: &str = "($2 IS NULL OR dealership_id = $2) AND ($3 IS NULL OR id = $3)";

/// A user in the scope, or [`Error::NotFound`].
pub(crate) async fn get(tx: &mut Tx, id: UserId) -> Result<User> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1 AND {SCOPED}");
    let scope = tx.scope;
    let row: Option<UserRow> = on_tx!(
        tx,
        sqlx::query_as(&sql)
            .bind(id.as_uuid())
            .bind(scope.dealership().map(|d| d.as_uuid()))
            .bind(scope.only_user.map(|u| u.as_uuid())),
        fetch_optional
    )?;
    row.ok_or(Error::NotFound)?.try_into()
}

/// The conditions of a users list, only those in use (so that each can use its index and the
/// plan is the one for this combination), what they bind, in order, and whether they search.
fn list_conditions(tx: &Tx, filter: &UserFilter) -> (String, Vec<Bound>, bool) {
    let mut conditions: Vec<String> = Vec::new();
    let mut binds = Vec::new();
    if let Some(d) = tx.scope.dealership() {
        binds.push(Bound::Id(d.as_uuid()));
        conditions.push(format!("dealership_id = ${}", binds.len()));
    }
    if let Some(u) = tx.scope.only_user {
        binds.push(Bound::Id(u.as_uuid()));
        conditions.push(format!("id = ${}", binds.len()));
    }
    if let Some(role) = filter.role {
        binds.push(Bound::Text(role.as_str().to_owned()));
        conditions.push(format!("role = ${}", binds.len()));
    }
    let q = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if let Some(q) = q {
        binds.push(Bound::Text(like_pattern(q)));
        // Emails are stored lower-case.
        let n = binds.len();
        conditions.push(format!(
            "(email LIKE ${n} ESCAPE '\\' OR lower(full_name) LIKE ${n} ESCAPE '\\')"
        ));
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    (clause, binds, q.is_some())
}

/// A row of a page ([`crate::db::page_sql`]): [`COLUMNS`] in their order, then the page's
/// total. Read by position, as a tuple: by name, sqlx would look each of a page's thousand
/// values up in a map of the row's columns.
type PagedUserRow = (
    Uuid,
    String,
    String,
    String,
    Option<Uuid>,
    bool,
    bool,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    i64,
);

impl From<PagedUserRow> for UserRow {
    fn from(r: PagedUserRow) -> Self {
        Self {
            id: r.0,
            email: r.1,
            full_name: r.2,
            role: r.3,
            dealership_id: r.4,
            is_active: r.5,
            mfa_enabled: r.6,
            created_at: r.7,
            updated_at: r.8,
            last_sign_in_at: r.9,
        }
    }
}

/// A page of the users in the scope that match `filter`, by email, and how many match in all.
///
/// One statement ([`crate::db::page_sql`]); a second, a count, only for an empty page past the
/// first. Without a search the page is read through an index and stops after `limit` rows, so
/// the matches are counted apart, and only when the page is full. A search (`q`) reads every
/// row in the scope on PostgreSQL too: `LIKE` is not leakproof, so under row-level security no
/// index (a trigram one included) can serve it; the same pass counts the matches.
pub(crate) async fn list(
    tx: &mut Tx,
    filter: &UserFilter,
    page: PageRequest,
) -> Result<Page<User>> {
    let (clause, binds, searching) = list_conditions(tx, filter);
    let source = format!("users {clause}");
    let counting = if searching {
        Counting::InThePass
    } else if filter.role.is_none() && tx.scope.only_user.is_none() {
        // Every user of the scope: their number is kept per dealership (`user_counts`).
        // In a dealership's scope, its id is the first bound value (`list_conditions`).
        let of_dealership = tx
            .scope
            .dealership()
            .map_or("", |_| " WHERE dealership_key = $1");
        Counting::Kept(format!(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM user_counts{of_dealership}"
        ))
    } else {
        Counting::WhenFull
    };
    let sql = page_sql(COLUMNS, &source, "email", binds.len() + 1, counting);
    let rows: Vec<PagedUserRow> = on_tx!(
        tx,
        bind_each!(sqlx::query_as(&sql), &binds)
            .bind(i64::from(page.limit()))
            .bind(page.offset() as i64),
        fetch_all
    )?;
    let total = match page_total(rows.first().map(|r| r.10), page) {
        Some(total) => total,
        None => {
            let count_sql = format!("SELECT COUNT(*) FROM {source}");
            let (total,): (i64,) = on_tx!(
                tx,
                bind_each!(sqlx::query_as(&count_sql), &binds),
                fetch_one
            )?;
            count(total)
        }
    };
    Ok(Page {
        items: rows
            .into_iter()
            .map(|r| User::try_from(UserRow::from(r)))
            .collect::<Result<_>>()?,
        total,
        limit: page.limit(),
        offset: page.offset(),
    })
}

/// Stores a new user with a password hash. A taken email is [`Error::Conflict`].
pub(crate) async fn insert(
    tx: &mut Tx,
    u: &User,
    password_hash: &str,
    must_change_password: bool,
) -> Result<()> {
    const SQL: &str = "INSERT INTO users (id, email, full_name, password_hash, role, \
         dealership_id, is_active, created_at, updated_at, must_change_password) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(u.id.as_uuid())
            .bind(u.email.as_str())
            .bind(&u.full_name)
            .bind(password_hash)
            .bind(u.role().as_str())
            .bind(u.dealership_id().map(|d| d.as_uuid()))
            .bind(u.is_active)
            .bind(ts(u.created_at))
            .bind(ts(u.updated_at))
            .bind(must_change_password),
        execute
    )
    .map_err(|e| constraint_error(e, EMAIL_TAKEN))?;
    Ok(())
}

/// Whether a user with this email exists (the seed's check; system scope).
pub(crate) async fn email_taken(tx: &mut Tx, email: &Email) -> Result<bool> {
    let row: Option<(Uuid,)> = on_tx!(
        tx,
        sqlx::query_as("SELECT id FROM users WHERE email = $1").bind(email.as_str()),
        fetch_optional
    )?;
    Ok(row.is_some())
}

/// Sign-in data for an email (system scope).
pub(crate) async fn credentials(tx: &mut Tx, email: &Email) -> Result<Option<Credentials>> {
    const SQL: &str = "SELECT u.id, u.role, u.dealership_id, u.password_hash, \
         (u.is_active = TRUE AND (u.dealership_id IS NULL OR d.is_active = TRUE)) AS may_sign_in, \
         (u.totp_secret IS NOT NULL) AS totp_on, u.has_passkey, \
         COALESCE(d.mfa_required, FALSE) AS dealership_requires, u.must_change_password \
         FROM users u LEFT JOIN dealerships d ON d.id = u.dealership_id WHERE u.email = $1";
    let row: Option<CredentialsRow> =
        on_tx!(tx, sqlx::query_as(SQL).bind(email.as_str()), fetch_optional)?;
    row.map(|r| {
        let role: Role = r
            .role
            .parse()
            .map_err(|_| Error::Internal(format!("stored role of user {} is invalid", r.id)))?;
        Ok(Credentials {
            user_id: r.id.into(),
            placement: Placement::new(role, r.dealership_id.map(Into::into))?,
            password_hash: r.password_hash,
            may_sign_in: r.may_sign_in,
            totp_on: r.totp_on,
            has_passkey: r.has_passkey,
            dealership_requires: r.dealership_requires,
            must_change_password: r.must_change_password,
        })
    })
    .transpose()
}

/// The stored password hash of a user in the scope.
pub(crate) async fn password_hash(tx: &mut Tx, id: UserId) -> Result<Option<String>> {
    let sql = format!("SELECT password_hash FROM users WHERE id = $1 AND {SCOPED}");
    let scope = tx.scope;
    let row: Option<(String,)> = on_tx!(
        tx,
        sqlx::query_as(&sql)
            .bind(id.as_uuid())
            .bind(scope.dealership().map(|d| d.as_uuid()))
            .bind(scope.only_user.map(|u| u.as_uuid())),
        fetch_optional
    )?;
    Ok(row.map(|(h,)| h))
}

/// Changes a user in the scope, and records `event` with the change; [`Error::NotFound`]
/// outside it (and nothing recorded).
pub(crate) async fn update(
    tx: &mut Tx,
    id: UserId,
    change: &UserChange,
    now: DateTime<Utc>,
    event: Option<&audit::NewEvent>,
) -> Result<User> {
    let update = format!(
        "UPDATE users SET email = COALESCE($4, email), full_name = COALESCE($5, full_name), \
         password_hash = COALESCE($6, password_hash), role = COALESCE($7, role), \
         is_active = COALESCE($8, is_active), \
         reactivated_at = CASE WHEN $8 AND NOT is_active THEN $11 ELSE reactivated_at END, \
         dealership_id = CASE WHEN $9 THEN $10 ELSE dealership_id END, updated_at = $11, \
         email_verified_at = CASE WHEN $4 IS NULL OR $4 = email THEN email_verified_at END, \
         must_change_password = COALESCE($12, must_change_password) \
         WHERE id = $1 AND {SCOPED} RETURNING {COLUMNS}"
    );
    // On PostgreSQL the event goes in the same statement (one round trip for the change and
    // its record; they stand or fall together); SQLite has no data-modifying CTE, and no
    // round trip to save.
    let row = event.map(|e| audit::Row::new(tx, e));
    let together = matches!(tx.conn, Conn::Pg(_)) && row.is_some();
    let sql = if together {
        format!(
            "WITH changed AS ({update}), \
             recorded AS (INSERT INTO audit_events ({}) SELECT {} WHERE EXISTS (SELECT 1 FROM changed)) \
             SELECT * FROM changed",
            audit::INSERT_COLUMNS,
            audit::Row::placeholders(13)
        )
    } else {
        update
    };
    let scope = tx.scope;
    // The update's parameters, $1 to $12, for either engine.
    macro_rules! update_query {
        () => {
            sqlx::query_as(&sql)
                .bind(id.as_uuid())
                .bind(scope.dealership().map(|d| d.as_uuid()))
                .bind(scope.only_user.map(|u| u.as_uuid()))
                .bind(change.email.as_ref().map(|e| e.as_str()))
                .bind(change.full_name.as_deref())
                .bind(change.password_hash.as_deref())
                .bind(change.placement.map(|p| p.role().as_str()))
                .bind(change.is_active)
                .bind(change.placement.is_some())
                .bind(
                    change
                        .placement
                        .and_then(|p| p.dealership_id())
                        .map(|d| d.as_uuid()),
                )
                .bind(ts(now))
                .bind(change.must_change_password)
        };
    }
    let stored: Option<UserRow> = match (&mut tx.conn, &row) {
        (Conn::Pg(c), Some(row)) => {
            audit::bind_event!(update_query!(), row)
                .fetch_optional(&mut **c)
                .await
        }
        (Conn::Pg(c), None) => update_query!().fetch_optional(&mut **c).await,
        (Conn::Lite(c), _) => update_query!().fetch_optional(&mut **c).await,
    }
    .map_err(|e| constraint_error(e, EMAIL_TAKEN))?;
    let user: User = stored.ok_or(Error::NotFound)?.try_into()?;
    if let (false, Some(row)) = (together, &row) {
        audit::insert_row(tx, row).await?;
    }
    Ok(user)
}

/// Every user in the scope (of `dealership` only, if given), by email, with their
/// dealership's name: the access review's rows.
pub(crate) async fn review(
    tx: &mut Tx,
    dealership: Option<DealershipId>,
) -> Result<Vec<(User, Option<String>, Option<String>)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserRow,
        dealership_name: Option<String>,
        invited_by_email: Option<String>,
    }
    let sql = format!(
        "SELECT x.*, (SELECT d.name FROM dealerships d WHERE d.id = x.dealership_id) \
         AS dealership_name FROM (SELECT {COLUMNS}, invited_by_email FROM users \
         WHERE {SCOPED} AND ($1 IS NULL OR dealership_id = $1)) x ORDER BY x.email"
    );
    let scope = tx.scope;
    let rows: Vec<Row> = on_tx!(
        tx,
        sqlx::query_as(&sql)
            .bind(dealership.map(|d| d.as_uuid()))
            .bind(scope.dealership().map(|d| d.as_uuid()))
            .bind(scope.only_user.map(|u| u.as_uuid())),
        fetch_all
    )?;
    rows.into_iter()
        .map(|r| {
            Ok((
                User::try_from(r.user)?,
                r.dealership_name,
                r.invited_by_email,
            ))
        })
        .collect()
}

/// Notes that the user proved their email at `now` (accepting an invitation or completing a
/// password reset; system scope).
pub(crate) async fn email_proven(tx: &mut Tx, id: UserId, now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "UPDATE users SET email_verified_at = $2 WHERE id = $1";
    on_tx!(
        tx,
        sqlx::query(SQL).bind(id.as_uuid()).bind(ts(now)),
        execute
    )?;
    Ok(())
}

/// Notes who invited the user, by their email as it is now (system scope).
pub(crate) async fn invited_by(tx: &mut Tx, id: UserId, inviter: Option<UserId>) -> Result<()> {
    const SQL: &str = "UPDATE users SET invited_by_email = \
         (SELECT i.email FROM users i WHERE i.id = $2) WHERE id = $1";
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(id.as_uuid())
            .bind(inviter.map(|u| u.as_uuid())),
        execute
    )?;
    Ok(())
}

/// Notes a completed sign-in of `id` at `now` (system scope).
pub(crate) async fn signed_in(tx: &mut Tx, id: UserId, now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "UPDATE users SET last_sign_in_at = $2 WHERE id = $1";
    on_tx!(
        tx,
        sqlx::query(SQL).bind(id.as_uuid()).bind(ts(now)),
        execute
    )?;
    Ok(())
}

/// Deletes a user in the scope; [`Error::NotFound`] outside it.
pub(crate) async fn delete(tx: &mut Tx, id: UserId) -> Result<()> {
    let sql = format!("DELETE FROM users WHERE id = $1 AND {SCOPED}");
    let scope = tx.scope;
    let done = on_tx!(
        tx,
        sqlx::query(&sql)
            .bind(id.as_uuid())
            .bind(scope.dealership().map(|d| d.as_uuid()))
            .bind(scope.only_user.map(|u| u.as_uuid())),
        execute
    )?;
    if done == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// An active user, and the later of their last sign-in, creation and last reactivation.
#[derive(FromRow)]
struct ActivityRow {
    #[sqlx(flatten)]
    user: UserRow,
    reactivated_at: Option<DateTime<Utc>>,
}

/// Active users with no sign-in, creation or reactivation since `cutoff`, each with the latest
/// of the three, the most recently active first.
pub(crate) async fn inactive_since(
    tx: &mut Tx,
    cutoff: DateTime<Utc>,
) -> Result<Vec<(User, DateTime<Utc>)>> {
    let sql = format!(
        "SELECT {COLUMNS}, reactivated_at FROM users WHERE is_active = TRUE AND created_at < $1 \
         AND (last_sign_in_at IS NULL OR last_sign_in_at < $1) \
         AND (reactivated_at IS NULL OR reactivated_at < $1)"
    );
    let rows: Vec<ActivityRow> = on_tx!(tx, sqlx::query_as(&sql).bind(ts(cutoff)), fetch_all)?;
    let mut found = rows
        .into_iter()
        .map(|r| {
            let latest = [r.user.last_sign_in_at, r.reactivated_at]
                .into_iter()
                .flatten()
                .fold(r.user.created_at, DateTime::max);
            Ok((User::try_from(r.user)?, latest))
        })
        .collect::<Result<Vec<_>>>()?;
    found.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.id.as_uuid().cmp(&b.0.id.as_uuid())));
    Ok(found)
}

/// Active system admins other than `id`, after locking every active admin's row (PostgreSQL) or
/// the database (SQLite, whose write transactions hold it already), so that two concurrent
/// demotions cannot both see the other admin.
pub(crate) async fn other_active_admins(tx: &mut Tx, id: UserId) -> Result<u64> {
    const LOCK: &str =
        "UPDATE users SET updated_at = updated_at WHERE role = $1 AND is_active = TRUE";
    const COUNT: &str =
        "SELECT COUNT(*) FROM users WHERE role = $1 AND is_active = TRUE AND id <> $2";
    let admin = Role::SystemAdmin.as_str();
    on_tx!(tx, sqlx::query(LOCK).bind(admin), execute)?;
    let (n,): (i64,) = on_tx!(
        tx,
        sqlx::query_as(COUNT).bind(admin).bind(id.as_uuid()),
        fetch_one
    )?;
    Ok(count(n))
}
