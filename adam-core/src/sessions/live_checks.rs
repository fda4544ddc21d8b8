//! The live-session checks of concurrent requests on PostgreSQL, gathered into one statement.
//!
//! Every authenticated request checks its session in the database when it arrives, so that a
//! revocation takes effect at once. On PostgreSQL each check was a statement of its own, and the
//! statement's fixed cost (the protocol's round trip, the function that enters the system scope,
//! TLS records) outweighed its two index lookups. A gatherer task now sends the checks waiting at
//! one moment as one statement, `adam_live_sessions($1)` with their session ids, while at most
//! [`IN_FLIGHT`] such statements run: an idle server sends each check at once, alone; a busy one
//! sends the checks that arrived during the statements before. A check is never older than its
//! request (its statement starts after the request asked), so revocation stays immediate; each
//! request then holds the row to its own rule ([`super::store::LiveRule`]).
//!
//! When the gatherer cannot answer (no runtime to run it on, its queue full, the statement
//! failed), the request sends its own statement, so a check never fails for the gathering's
//! sake and a failing database gives each request its own error; only a database that cannot be
//! reached answers every waiting check at once (as unavailable: 503), so that no request waits
//! for a connection twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use tokio::sync::{mpsc, oneshot, Semaphore};
use uuid::Uuid;

use crate::error::Result;
use crate::ids::SessionId;
use crate::users::store::UserRow;

/// A row of the view `live_sessions`, which `store.rs` holds to the rest of the rule.
#[derive(FromRow, Clone)]
pub(crate) struct LiveRow {
    pub(super) session_id: Uuid,
    pub(super) ends_at: Option<DateTime<Utc>>,
    pub(super) amr: String,
    pub(super) dealership_mfa_required: bool,
    #[sqlx(flatten)]
    pub(super) user: UserRow,
}

/// The statement: the rows of `live_sessions` for an array of session ids, in the system scope
/// (migration `20261208000001_live_session_batches`).
const LIVE_MANY: &str = "SELECT * FROM adam_live_sessions($1)";

/// How many gathered statements may run at once: with two, one is read while the other is
/// answered, and the pool keeps connections for everything else.
const IN_FLIGHT: usize = 2;

/// The most checks in one statement.
const MOST: usize = 128;

/// How many checks may wait for the gatherer; beyond that a request sends its own statement.
const QUEUE: usize = 4096;

/// One request's check, waiting for its row (`None`: no live row) or for why the gathered
/// statement failed.
struct Waiting {
    session: Uuid,
    reply: oneshot::Sender<std::result::Result<Option<LiveRow>, Unanswered>>,
}

/// The gathered statement failed.
#[derive(Debug)]
enum Unanswered {
    /// The database could not be reached: every waiting request answers so at once, instead of
    /// waiting for a connection a second time.
    Unavailable,
    /// Any other error: the request asks alone and gets its own error.
    Failed,
}

/// The gatherer of one PostgreSQL pool, started on first use.
#[derive(Clone)]
pub(crate) struct LiveChecks {
    pool: sqlx::PgPool,
    queue: Arc<Mutex<Option<mpsc::Sender<Waiting>>>>,
}

impl std::fmt::Debug for LiveChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveChecks").finish_non_exhaustive()
    }
}

impl LiveChecks {
    /// A gatherer for `pool`; its task starts with the first check.
    pub(crate) fn new(pool: sqlx::PgPool) -> Self {
        Self {
            pool,
            queue: Arc::new(Mutex::new(None)),
        }
    }

    /// The row of `live_sessions` for `session`, if any, read by a statement that started after
    /// this call.
    pub(crate) async fn row(&self, session: SessionId) -> Result<Option<LiveRow>> {
        let session = session.as_uuid();
        if let Some(queue) = self.queue() {
            let (reply, answer) = oneshot::channel();
            if queue.try_send(Waiting { session, reply }).is_ok() {
                match answer.await {
                    Ok(Ok(row)) => return Ok(row),
                    Ok(Err(Unanswered::Unavailable)) => {
                        return Err(sqlx::Error::PoolTimedOut.into());
                    }
                    Ok(Err(Unanswered::Failed)) | Err(_) => {}
                }
            }
        }
        alone(&self.pool, session.into()).await
    }

    /// The gatherer's queue, starting its task (again, if the runtime it ran on has ended) on
    /// the runtime of this call; `None` outside a Tokio runtime.
    fn queue(&self) -> Option<mpsc::Sender<Waiting>> {
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(sender) = queue.as_ref().filter(|s| !s.is_closed()) {
            return Some(sender.clone());
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (sender, waiting) = mpsc::channel(QUEUE);
        runtime.spawn(gather(self.pool.clone(), waiting));
        *queue = Some(sender.clone());
        Some(sender)
    }
}

/// The gatherer's task: while fewer than [`IN_FLIGHT`] statements run, takes every check
/// waiting (at least one, at most [`MOST`]) into the next. Ends when every sender is gone.
async fn gather(pool: sqlx::PgPool, mut waiting: mpsc::Receiver<Waiting>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = waiting.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MOST {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            answer(&pool, batch).await;
            drop(slot);
        });
    }
}

/// Reads the rows of `batch` in one statement and hands each check its own.
async fn answer(pool: &sqlx::PgPool, batch: Vec<Waiting>) {
    let ids: Vec<Uuid> = batch.iter().map(|w| w.session).collect();
    match read(pool, &ids).await {
        Ok(rows) => {
            let rows: HashMap<Uuid, LiveRow> =
                rows.into_iter().map(|r| (r.session_id, r)).collect();
            for w in batch {
                // A request that gave up waiting has dropped its receiver: nothing to do.
                let _ = w.reply.send(Ok(rows.get(&w.session).cloned()));
            }
        }
        Err(e) => {
            let unavailable = crate::error::Error::from(e).is_unavailable();
            for w in batch {
                let _ = w.reply.send(Err(if unavailable {
                    Unanswered::Unavailable
                } else {
                    Unanswered::Failed
                }));
            }
        }
    }
}

/// The row of `live_sessions` for `session`, in a statement of its own.
async fn alone(pool: &sqlx::PgPool, session: SessionId) -> Result<Option<LiveRow>> {
    Ok(read(pool, &[session.as_uuid()]).await?.pop())
}

/// The rows of `live_sessions` for `sessions`, in one statement.
async fn read(pool: &sqlx::PgPool, sessions: &[Uuid]) -> sqlx::Result<Vec<LiveRow>> {
    sqlx::query_as(LIVE_MANY)
        .bind(sessions)
        .fetch_all(pool)
        .await
}
