//! Dealerships: reads and writes, each filtered by the unit of work's scope.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::db::{constraint_error, count, on_tx, page_sql, page_total, ts, Counting, Tx};
use crate::error::{Error, Result};
use crate::ids::DealershipId;
use crate::models::{Dealership, DealershipPatch, Page, PageRequest};

const COLUMNS: &str = "id, name, is_active, mfa_required, created_at, updated_at";
const NAME_TAKEN: &str = "a dealership with this name already exists";

#[derive(FromRow)]
struct DealershipRow {
    id: Uuid,
    name: String,
    is_active: bool,
    mfa_required: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<DealershipRow> for Dealership {
    fn from(r: DealershipRow) -> Self {
        Dealership {
            id: r.id.into(),
            name: r.name,
            is_active: r.is_active,
            mfa_required: r.mfa_required,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The scope's filter on `dealerships`, as `$2`.
const SCOPED: &str = "($2 IS NULL OR id = $2)";

/// Stores a new dealership. A name taken in any case is [`Error::Conflict`].
pub(crate) async fn insert(tx: &mut Tx, d: &Dealership) -> Result<()> {
    const SQL: &str = "INSERT INTO dealerships (id, name, is_active, created_at, updated_at) \
                       VALUES ($1, $2, $3, $4, $5)";
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(d.id.as_uuid())
            .bind(&d.name)
            .bind(d.is_active)
            .bind(ts(d.created_at))
            .bind(ts(d.updated_at)),
        execute
    )
    .map_err(|e| constraint_error(e, NAME_TAKEN))?;
    Ok(())
}

/// A dealership in the scope, or [`Error::NotFound`].
pub(crate) async fn get(tx: &mut Tx, id: DealershipId) -> Result<Dealership> {
    let sql = format!("SELECT {COLUMNS} FROM dealerships WHERE id = $1 AND {SCOPED}");
    let only = tx.scope.dealership().map(|d| d.as_uuid());
    let row: Option<DealershipRow> = on_tx!(
        tx,
        sqlx::query_as(&sql).bind(id.as_uuid()).bind(only),
        fetch_optional
    )?;
    Ok(row.ok_or(Error::NotFound)?.into())
}

/// The dealership with this name, ignoring case, in the scope.
pub(crate) async fn by_name(tx: &mut Tx, name: &str) -> Result<Option<Dealership>> {
    let sql =
        format!("SELECT {COLUMNS} FROM dealerships WHERE lower(name) = lower($1) AND {SCOPED}");
    let only = tx.scope.dealership().map(|d| d.as_uuid());
    let row: Option<DealershipRow> = on_tx!(
        tx,
        sqlx::query_as(&sql).bind(name).bind(only),
        fetch_optional
    )?;
    Ok(row.map(Into::into))
}

/// A dealership row with the total of its page ([`crate::db::page_sql`]).
#[derive(FromRow)]
struct PagedDealershipRow {
    #[sqlx(flatten)]
    dealership: DealershipRow,
    total: i64,
}

/// A page of the dealerships in the scope, by name: one statement ([`crate::db::page_sql`]), and a
/// count only for an empty page past the first.
pub(crate) async fn list(tx: &mut Tx, page: PageRequest) -> Result<Page<Dealership>> {
    let only = tx.scope.dealership().map(|d| d.as_uuid());
    const SOURCE: &str = "dealerships WHERE ($1 IS NULL OR id = $1)";
    let sql = page_sql(COLUMNS, SOURCE, "lower(name), id", 2, Counting::WhenFull);
    let rows: Vec<PagedDealershipRow> = on_tx!(
        tx,
        sqlx::query_as(&sql)
            .bind(only)
            .bind(i64::from(page.limit()))
            .bind(page.offset() as i64),
        fetch_all
    )?;
    let total = match page_total(rows.first().map(|r| r.total), page) {
        Some(total) => total,
        None => {
            let (total,): (i64,) = on_tx!(
                tx,
                sqlx::query_as(&format!("SELECT COUNT(*) FROM {SOURCE}")).bind(only),
                fetch_one
            )?;
            count(total)
        }
    };
    Ok(Page {
        items: rows.into_iter().map(|r| r.dealership.into()).collect(),
        total,
        limit: page.limit(),
        offset: page.offset(),
    })
}

/// Changes a dealership in the scope.
pub(crate) async fn update(
    tx: &mut Tx,
    id: DealershipId,
    patch: &DealershipPatch,
    now: DateTime<Utc>,
) -> Result<Dealership> {
    let sql = format!(
        "UPDATE dealerships SET name = COALESCE($3, name), is_active = COALESCE($4, is_active), \
         mfa_required = COALESCE($6, mfa_required), updated_at = $5 WHERE id = $1 AND {SCOPED} RETURNING {COLUMNS}"
    );
    let only = tx.scope.dealership().map(|d| d.as_uuid());
    let row: Option<DealershipRow> = on_tx!(
        tx,
        sqlx::query_as(&sql)
            .bind(id.as_uuid())
            .bind(only)
            .bind(patch.name.as_ref().map(|n| n.as_str()))
            .bind(patch.is_active)
            .bind(ts(now))
            .bind(patch.mfa_required),
        fetch_optional
    )
    .map_err(|e| constraint_error(e, NAME_TAKEN))?;
    Ok(row.ok_or(Error::NotFound)?.into())
}

/// Whether any user belongs to the dealership.
pub(crate) async fn has_users(tx: &mut Tx, id: DealershipId) -> Result<bool> {
    const SQL: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE dealership_id = $1)";
    let (any,): (bool,) = on_tx!(tx, sqlx::query_as(SQL).bind(id.as_uuid()), fetch_one)?;
    Ok(any)
}

/// Deletes a dealership in the scope. The foreign key from users stays as the last line of
/// defence against deleting one that still has users.
pub(crate) async fn delete(tx: &mut Tx, id: DealershipId) -> Result<()> {
    let sql = format!("DELETE FROM dealerships WHERE id = $1 AND {SCOPED}");
    let only = tx.scope.dealership().map(|d| d.as_uuid());
    let done = on_tx!(tx, sqlx::query(&sql).bind(id.as_uuid()).bind(only), execute).map_err(
        |e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                Error::conflict("the dealership still has users")
            }
            _ => Error::from(e),
        },
    )?;
    if done == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
