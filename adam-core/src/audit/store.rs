//! The audit log's rows: written with the change they record, read newest first in keyset pages,
//! exported oldest first, purged by age.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::FromRow;
use uuid::Uuid;

use crate::audit::{AuditActor, AuditCursor, AuditEvent, AuditFilter, AuditSubject};
use crate::db::{bind_each, on_tx, ts, Bound, Tenant, Tx};
use crate::error::{Error, Result};
use crate::ids::{DealershipId, SessionId, UserId};
use crate::user_ref::UserRef;

/// An event about to be written: what [`crate::audit::events::Event::row`] makes of an event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewEvent {
    pub(crate) action: &'static str,
    pub(crate) subject: Option<(&'static str, Uuid)>,
    pub(crate) dealership: Option<DealershipId>,
    pub(crate) former_dealership: Option<DealershipId>,
    /// The session it happened in, when not the actor's.
    pub(crate) session: Option<SessionId>,
    /// The subject (a user) is the actor when the unit of work acts for no one: signing in.
    pub(crate) subject_acts: bool,
    /// The actor, when the unit of work acts for no one and the subject is not a user (an
    /// invitation accepted by its new user).
    pub(crate) actor: Option<UserId>,
    pub(crate) details: Value,
}

impl NewEvent {
    pub(crate) fn new(action: &'static str) -> Self {
        Self {
            action,
            subject: None,
            dealership: None,
            former_dealership: None,
            session: None,
            subject_acts: false,
            actor: None,
            details: Value::Object(serde_json::Map::new()),
        }
    }

    pub(crate) fn about_user(action: &'static str, user: &UserRef) -> Self {
        Self {
            subject: Some(("user", user.id.as_uuid())),
            dealership: user.dealership,
            ..Self::new(action)
        }
    }

    pub(crate) fn about_dealership(action: &'static str, d: DealershipId) -> Self {
        Self {
            subject: Some(("dealership", d.as_uuid())),
            dealership: Some(d),
            ..Self::new(action)
        }
    }

    pub(crate) fn about_invitation(
        action: &'static str,
        invitation: Uuid,
        dealership: Option<DealershipId>,
    ) -> Self {
        Self {
            subject: Some(("invitation", invitation)),
            dealership,
            ..Self::new(action)
        }
    }

    pub(crate) fn about_client(action: &'static str, client: Uuid) -> Self {
        Self {
            subject: Some(("oauth_client", client)),
            ..Self::new(action)
        }
    }

    pub(crate) fn by_subject(self) -> Self {
        Self {
            subject_acts: true,
            ..self
        }
    }

    pub(crate) fn in_session(self, session: SessionId) -> Self {
        Self {
            session: Some(session),
            ..self
        }
    }

    pub(crate) fn with(self, details: Value) -> Self {
        Self { details, ..self }
    }
}

/// The columns an event's row is written with, in the order of [`bind_event!`]'s values.
pub(crate) const INSERT_COLUMNS: &str = "id, at, action, actor_id, actor_email, dealership_id, \
    former_dealership_id, subject_type, subject_id, session_id, ip, user_agent, details";

/// An event's row as the unit of work `tx` writes it: who acted and from where are the unit's.
pub(crate) struct Row {
    pub(crate) id: Uuid,
    pub(crate) at: DateTime<Utc>,
    pub(crate) action: &'static str,
    pub(crate) actor: Option<Uuid>,
    pub(crate) dealership: Option<Uuid>,
    pub(crate) former_dealership: Option<Uuid>,
    pub(crate) subject_type: Option<&'static str>,
    pub(crate) subject: Option<Uuid>,
    pub(crate) session: Option<Uuid>,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) details: String,
}

impl Row {
    /// The row of `event` recorded in `tx`.
    pub(crate) fn new(tx: &Tx, event: &NewEvent) -> Self {
        let scope_actor = tx.scope.actor;
        let actor = scope_actor
            .map(|(u, _)| u.as_uuid())
            .or(event.actor.map(|u| u.as_uuid()))
            .or_else(|| {
                event
                    .subject_acts
                    .then_some(event.subject.map(|(_, id)| id))
                    .flatten()
            });
        Self {
            id: Uuid::new_v4(),
            at: ts(tx.now()),
            action: event.action,
            actor,
            dealership: event.dealership.map(|d| d.as_uuid()),
            former_dealership: event.former_dealership.map(|d| d.as_uuid()),
            subject_type: event.subject.map(|(kind, _)| kind),
            subject: event.subject.map(|(_, id)| id),
            session: event
                .session
                .or(scope_actor.map(|(_, s)| s))
                .map(|s| s.as_uuid()),
            ip: tx.origin.ip.map(|a| a.to_string()),
            user_agent: tx.origin.user_agent(),
            details: event.details.to_string(),
        }
    }

    /// The `VALUES` of the row for a statement whose first parameter of the row is `$first`:
    /// thirteen columns from twelve parameters (the actor's email is read by its id).
    pub(crate) fn placeholders(first: usize) -> String {
        let p: Vec<String> = (first..first + 12).map(|n| format!("${n}")).collect();
        format!(
            "{}, {}, {}, {}, (SELECT email FROM users WHERE id = {}), {}",
            p[0],
            p[1],
            p[2],
            p[3],
            p[3],
            p[4..].join(", ")
        )
    }
}

/// `$query` with the twelve values of an event's [`Row`] bound, in [`Row::placeholders`] order.
macro_rules! bind_event {
    ($query:expr, $row:expr) => {{
        let row = $row;
        $query
            .bind(row.id)
            .bind(row.at)
            .bind(row.action)
            .bind(row.actor)
            .bind(row.dealership)
            .bind(row.former_dealership)
            .bind(row.subject_type)
            .bind(row.subject)
            .bind(row.session)
            .bind(row.ip.as_deref())
            .bind(row.user_agent.as_deref())
            .bind(row.details.as_str())
    }};
}
pub(crate) use bind_event;

/// Writes `event` in `tx`, with the scope's actor (their email copied: events outlive users)
/// and the unit of work's origin.
pub(crate) async fn insert(tx: &mut Tx, event: &NewEvent) -> Result<()> {
    let row = Row::new(tx, event);
    insert_row(tx, &row).await
}

/// Writes a row made by [`Row::new`].
pub(crate) async fn insert_row(tx: &mut Tx, row: &Row) -> Result<()> {
    let sql = format!(
        "INSERT INTO audit_events ({INSERT_COLUMNS}) VALUES ({})",
        Row::placeholders(1)
    );
    on_tx!(tx, bind_event!(sqlx::query(&sql), row), execute)?;
    Ok(())
}

const COLUMNS: &str = "id, at, action, actor_id, actor_email, dealership_id, subject_type, \
    subject_id, session_id, ip, user_agent, details";

#[derive(FromRow)]
struct EventRow {
    id: Uuid,
    at: DateTime<Utc>,
    action: String,
    actor_id: Option<Uuid>,
    actor_email: Option<String>,
    dealership_id: Option<Uuid>,
    subject_type: Option<String>,
    subject_id: Option<Uuid>,
    session_id: Option<Uuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    details: String,
}

impl TryFrom<EventRow> for AuditEvent {
    type Error = Error;
    fn try_from(r: EventRow) -> Result<Self> {
        let details = serde_json::from_str(&r.details).map_err(|_| {
            Error::Internal(format!("stored details of event {} are not JSON", r.id))
        })?;
        Ok(Self {
            id: r.id,
            at: r.at,
            action: r.action,
            actor: r.actor_id.map(|id| AuditActor {
                id: id.into(),
                email: r.actor_email,
            }),
            dealership_id: r.dealership_id.map(Into::into),
            subject: r
                .subject_type
                .zip(r.subject_id)
                .map(|(kind, id)| AuditSubject { kind, id }),
            session_id: r.session_id.map(Into::into),
            ip: r.ip,
            user_agent: r.user_agent,
            details,
        })
    }
}

/// The conditions of a query, only those in use, numbered from `$1` in `binds`.
struct Conditions {
    parts: Vec<String>,
}

impl Conditions {
    fn push(&mut self, binds: &mut Vec<Bound>, bound: Bound, sql: impl Fn(usize) -> String) {
        binds.push(bound);
        self.parts.push(sql(binds.len()));
    }
}

/// Events the unit of work's caller may see that match `filter`, newest first, after `cursor`:
/// at most `limit`.
///
/// A caller's visibility is one or two *arms*, each a query that one index serves in order
/// (a principal: the events of their dealership, and those of users who left it; an F&I manager:
/// what they did, and what was done to them by others); the arms are disjoint, each stops after
/// `limit` rows, and the union is cut to `limit`.
pub(crate) async fn page(
    tx: &mut Tx,
    filter: &AuditFilter,
    cursor: Option<AuditCursor>,
    limit: u32,
) -> Result<Vec<AuditEvent>> {
    let mut binds = Vec::new();
    let mut common = Conditions { parts: Vec::new() };
    if let Some(a) = &filter.action {
        common.push(&mut binds, Bound::Text(a.clone()), |n| {
            format!("action = ${n}")
        });
    }
    if let Some(u) = filter.actor_id {
        common.push(&mut binds, Bound::Id(u.as_uuid()), |n| {
            format!("actor_id = ${n}")
        });
    }
    if let Some(s) = filter.subject_id {
        common.push(&mut binds, Bound::Id(s), |n| format!("subject_id = ${n}"));
    }
    if let Some(d) = filter.dealership_id {
        common.push(&mut binds, Bound::Id(d.as_uuid()), |n| {
            format!("dealership_id = ${n}")
        });
    }
    if let Some(t) = filter.since {
        common.push(&mut binds, Bound::Time(ts(t)), |n| format!("at >= ${n}"));
    }
    if let Some(t) = filter.until {
        common.push(&mut binds, Bound::Time(ts(t)), |n| format!("at < ${n}"));
    }
    if let Some(c) = cursor {
        binds.push(Bound::Time(ts(c.at)));
        binds.push(Bound::Id(c.id));
        let n = binds.len();
        common.parts.push(format!("(at, id) < (${}, ${n})", n - 1));
    }
    let arms: Vec<String> = match (tx.scope.tenant, tx.scope.only_user) {
        (Tenant::Dealership(_), Some(me)) => {
            binds.push(Bound::Id(me.as_uuid()));
            let n = binds.len();
            vec![
                format!("actor_id = ${n}"),
                format!("subject_id = ${n} AND (actor_id IS NULL OR actor_id <> ${n})"),
            ]
        }
        (Tenant::Dealership(d), None) => {
            binds.push(Bound::Id(d.as_uuid()));
            let n = binds.len();
            vec![
                format!("dealership_id = ${n}"),
                format!(
                    "former_dealership_id = ${n} AND (dealership_id IS NULL OR dealership_id <> ${n})"
                ),
            ]
        }
        (Tenant::AllDealerships | Tenant::System, _) => vec![String::new()],
    };
    binds.push(Bound::Int(i64::from(limit)));
    let limit_param = binds.len();
    let arm_sql = |arm: &String| {
        let parts: Vec<&str> = common
            .parts
            .iter()
            .map(String::as_str)
            .chain((!arm.is_empty()).then_some(arm.as_str()))
            .collect();
        let clause = if parts.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", parts.join(" AND "))
        };
        format!(
            "SELECT {COLUMNS} FROM audit_events {clause} ORDER BY at DESC, id DESC \
             LIMIT ${limit_param}"
        )
    };
    let sql = if arms.len() == 1 {
        arm_sql(&arms[0])
    } else {
        let union: Vec<String> = arms
            .iter()
            .enumerate()
            .map(|(i, arm)| format!("SELECT * FROM ({}) arm{i}", arm_sql(arm)))
            .collect();
        format!(
            "SELECT * FROM ({}) arms ORDER BY at DESC, id DESC LIMIT ${limit_param}",
            union.join(" UNION ALL ")
        )
    };
    let rows: Vec<EventRow> = on_tx!(tx, bind_each!(sqlx::query_as(&sql), &binds), fetch_all)?;
    rows.into_iter().map(AuditEvent::try_from).collect()
}

/// Every event from `since` (inclusive) to `until` (exclusive), oldest first, after `after`:
/// at most `limit` (the export reads in batches).
pub(crate) async fn oldest_first(
    tx: &mut Tx,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    after: Option<AuditCursor>,
    limit: u32,
) -> Result<Vec<AuditEvent>> {
    const SQL: &str = "SELECT id, at, action, actor_id, actor_email, dealership_id, \
        subject_type, subject_id, session_id, ip, user_agent, details FROM audit_events \
        WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR at < $2) \
        AND ($3 IS NULL OR (at, id) > ($3, $4)) ORDER BY at, id LIMIT $5";
    let rows: Vec<EventRow> = on_tx!(
        tx,
        sqlx::query_as(SQL)
            .bind(since.map(ts))
            .bind(until.map(ts))
            .bind(after.map(|c| ts(c.at)))
            .bind(after.map(|c| c.id))
            .bind(i64::from(limit)),
        fetch_all
    )?;
    rows.into_iter().map(AuditEvent::try_from).collect()
}

/// Deletes the events older than `before`; returns how many.
pub(crate) async fn purge(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64> {
    const SQL: &str = "DELETE FROM audit_events WHERE at < $1";
    on_tx!(tx, sqlx::query(SQL).bind(ts(before)), execute).map_err(Into::into)
}

/// Claims the chore `name` for this run if its last run (by any server) was at least `every`
/// ago: true for exactly one of any number of servers asking at once (the row's update is
/// serial, and the loser's condition no longer holds when it gets the row).
pub(crate) async fn claim_chore(
    tx: &mut Tx,
    name: &str,
    every: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<bool> {
    const SEED: &str =
        "INSERT INTO chores (name, last_run) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
    const CLAIM: &str = "UPDATE chores SET last_run = $2 WHERE name = $1 AND last_run <= $3";
    let never = DateTime::<Utc>::UNIX_EPOCH;
    on_tx!(tx, sqlx::query(SEED).bind(name).bind(never), execute)?;
    let claimed = on_tx!(
        tx,
        sqlx::query(CLAIM)
            .bind(name)
            .bind(ts(now))
            .bind(ts(now - every)),
        execute
    )?;
    Ok(claimed == 1)
}
