//! Sessions and their refresh tokens.
//!
//! Which sessions a change ends is decided in [`crate::sessions::revocation`]; this module only carries
//! it out ([`end`]) and answers whether a session is live ([`live`]).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, Row};
use uuid::Uuid;

use crate::audit::events::UserRef;
use crate::caller::Amr;
use crate::db::{on_tx, ts, Conn, Db, Intent, Scope, Tx};
use crate::error::Result;
use crate::ids::{DealershipId, SessionId, UserId};
use crate::models::User;
use crate::placement::Placement;
use crate::role::Role;
use crate::sessions::live_checks::{LiveChecks, LiveRow};
use crate::sessions::refresh::TokenDigest;

/// A session that is live, with its user's placement as stored now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LiveSession {
    pub(crate) session_id: SessionId,
    pub(crate) user_id: UserId,
    pub(crate) placement: Placement,
    /// When the session ends however active (`SESSION_MAX_MINUTES` after sign-in); `None` for
    /// sessions made before that rule.
    pub(crate) ends_at: Option<DateTime<Utc>>,
    /// How the session signed in.
    pub(crate) amr: Amr,
}

/// Which sessions to end: the target of a rule of [`crate::sessions::revocation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selector {
    /// One session.
    Session(SessionId),
    /// One session, if it is this user's.
    SessionOf(SessionId, UserId),
    /// The session a refresh token belongs to.
    OfRefreshToken(TokenDigest),
    /// Every session of a user.
    OfUser(UserId),
    /// Every session of a user but one (the caller's own).
    OfUserExcept(UserId, SessionId),
    /// Every session of a dealership's users.
    OfDealership(DealershipId),
    /// Every session of a dealership's users signed in without a second factor.
    OfDealershipPasswordOnly(DealershipId),
    /// The grants of an OpenID Connect client: of one user, or of everyone.
    OfClient(String, Option<UserId>),
}

/// A session [`end`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ended {
    pub(crate) session: SessionId,
    pub(crate) user: UserRef,
    /// For a grant: its browser session and its client.
    pub(crate) grant_of: Option<(SessionId, String)>,
}

/// A row an `UPDATE … RETURNING` of [`end`] answers.
type EndedRow = (Uuid, Uuid, Option<Uuid>, Option<Uuid>, Option<String>);

impl From<EndedRow> for Ended {
    fn from((id, user, dealership, parent, client): EndedRow) -> Self {
        Self {
            session: id.into(),
            user: UserRef::stored(user, dealership),
            grant_of: parent.zip(client).map(|(p, c)| (p.into(), c)),
        }
    }
}

/// Ends the live sessions `which` names, and the grants made in them; returns what it ended.
pub(crate) async fn end(tx: &mut Tx, which: &Selector, now: DateTime<Utc>) -> Result<Vec<Ended>> {
    const ONE: &str =
        "UPDATE sessions SET revoked_at = $1 WHERE revoked_at IS NULL AND id = $2 RETURNING id, user_id, dealership_id, parent_id, client_id";
    const ONE_OF_USER: &str = "UPDATE sessions SET revoked_at = $1 WHERE revoked_at IS NULL \
        AND id = $2 AND user_id = $3 RETURNING id, user_id, dealership_id, parent_id, client_id";
    const OF_TOKEN: &str = "UPDATE sessions SET revoked_at = $1 WHERE revoked_at IS NULL \
        AND id IN (SELECT session_id FROM refresh_tokens WHERE token_hash = $2) RETURNING id, user_id, dealership_id, parent_id, client_id";
    const OF_USER: &str = "UPDATE sessions SET revoked_at = $1 WHERE revoked_at IS NULL \
        AND user_id = $2 RETURNING id, user_id, dealership_id, parent_id, client_id";
    const OF_USER_EXCEPT: &str = "UPDATE sessions SET revoked_at = $1 WHERE revoked_at IS NULL \
        AND user_id = $2 AND id <> $3 AND (parent_id IS NULL OR parent_id <> $3) \
        RETURNING id, user_id, dealership_id, parent_id, client_id";
    // A session carries the dealership its user had at sign-in; moving a user ends their
    // sessions, so every live session's copy is current.
    const OF_DEALERSHIP: &str = "UPDATE sessions SET revoked_at = $1 WHERE revoked_at IS NULL \
        AND dealership_id = $2 RETURNING id, user_id, dealership_id, parent_id, client_id";
    const OF_DEALERSHIP_PASSWORD_ONLY: &str = "UPDATE sessions SET revoked_at = $1 \
        WHERE revoked_at IS NULL AND dealership_id = $2 AND amr = 'pwd' RETURNING id, user_id, dealership_id, parent_id, client_id";
    const OF_CLIENT: &str = "UPDATE sessions SET revoked_at = $1 WHERE revoked_at IS NULL \
        AND client_id = $2 AND ($3 IS NULL OR user_id = $3) RETURNING id, user_id, dealership_id, parent_id, client_id";
    let now = ts(now);
    let rows: Vec<EndedRow> = match which {
        Selector::OfClient(client, user) => on_tx!(
            tx,
            sqlx::query_as(OF_CLIENT)
                .bind(now)
                .bind(client)
                .bind(user.map(|u| u.as_uuid())),
            fetch_all
        )?,
        Selector::Session(s) => on_tx!(
            tx,
            sqlx::query_as(ONE).bind(now).bind(s.as_uuid()),
            fetch_all
        )?,
        Selector::SessionOf(s, u) => on_tx!(
            tx,
            sqlx::query_as(ONE_OF_USER)
                .bind(now)
                .bind(s.as_uuid())
                .bind(u.as_uuid()),
            fetch_all
        )?,
        Selector::OfRefreshToken(d) => {
            on_tx!(tx, sqlx::query_as(OF_TOKEN).bind(now).bind(&d.0), fetch_all)?
        }
        Selector::OfUser(u) => on_tx!(
            tx,
            sqlx::query_as(OF_USER).bind(now).bind(u.as_uuid()),
            fetch_all
        )?,
        Selector::OfUserExcept(u, s) => on_tx!(
            tx,
            sqlx::query_as(OF_USER_EXCEPT)
                .bind(now)
                .bind(u.as_uuid())
                .bind(s.as_uuid()),
            fetch_all
        )?,
        Selector::OfDealership(d) => on_tx!(
            tx,
            sqlx::query_as(OF_DEALERSHIP).bind(now).bind(d.as_uuid()),
            fetch_all
        )?,
        Selector::OfDealershipPasswordOnly(d) => on_tx!(
            tx,
            sqlx::query_as(OF_DEALERSHIP_PASSWORD_ONLY)
                .bind(now)
                .bind(d.as_uuid()),
            fetch_all
        )?,
    };
    let mut ended: Vec<Ended> = rows.into_iter().map(Ended::from).collect();
    // A session's grants (the tokens of the applications signed in through it) end with it.
    const GRANTS: &str = "UPDATE sessions SET revoked_at = $1 WHERE revoked_at IS NULL \
        AND parent_id = $2 RETURNING id, user_id, dealership_id, parent_id, client_id";
    let parents: Vec<SessionId> = ended
        .iter()
        .filter(|e| e.grant_of.is_none())
        .map(|e| e.session)
        .collect();
    for parent in parents {
        let grants: Vec<EndedRow> = on_tx!(
            tx,
            sqlx::query_as(GRANTS).bind(now).bind(parent.as_uuid()),
            fetch_all
        )?;
        ended.extend(grants.into_iter().map(Ended::from));
    }
    Ok(ended)
}

/// Where and how a session was opened, as its user sees it in their list of sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) amr: Amr,
}

/// Records a new session with its first refresh token.
pub(crate) async fn create(
    tx: &mut Tx,
    session: SessionId,
    user: &LiveSession,
    origin: &Origin,
    first: &TokenDigest,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    const SQL: &str = "INSERT INTO sessions (id, user_id, dealership_id, created_at, ends_at, \
        ip, user_agent, amr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    let dealership = user.placement.dealership_id().map(|d| d.as_uuid());
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(session.as_uuid())
            .bind(user.user_id.as_uuid())
            .bind(dealership)
            .bind(ts(now))
            .bind(user.ends_at.map(ts))
            .bind(origin.ip.as_deref())
            .bind(origin.user_agent.as_deref())
            .bind(origin.amr.stored()),
        execute
    )?;
    let first = Next {
        digest: first,
        expires_at,
    };
    add_refresh_token(tx, session, user.placement, None, first, now).await
}

/// Adds a refresh token to a session: the API's (`client` `None`), or a client's, good only
/// at that client's token endpoint. Its `issued_at` (`now`) is the session's last use.
pub(crate) async fn add_refresh_token(
    tx: &mut Tx,
    session: SessionId,
    placement: Placement,
    client: Option<&str>,
    token: Next<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    const SQL: &str = "INSERT INTO refresh_tokens (token_hash, session_id, dealership_id, \
        issued_at, expires_at, client_id) VALUES ($1, $2, $3, $4, $5, $6)";
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(&token.digest.0)
            .bind(session.as_uuid())
            .bind(placement.dealership_id().map(|d| d.as_uuid()))
            .bind(ts(now))
            .bind(ts(token.expires_at))
            .bind(client),
        execute
    )?;
    Ok(())
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Spend {
    /// It was unspent and is spent now; it belongs to this session and expires then. `live`:
    /// the session if it is live by the rule given and the token had not expired. `staged`:
    /// what the spend did towards the rotation, which [`rotate`] completes or [`unstage`] undoes.
    Spent {
        session: SessionId,
        expires_at: DateTime<Utc>,
        live: Option<(LiveSession, User)>,
        staged: Staged,
    },
    /// It had been spent before, at `spent_at`.
    AlreadySpent {
        session: SessionId,
        user: UserRef,
        spent_at: DateTime<Utc>,
    },
    /// No such token.
    Unknown,
}

/// A refresh token to add (the first of a session, or the next of a rotation) and when it
/// expires.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Next<'a> {
    pub(crate) digest: &'a TokenDigest,
    pub(crate) expires_at: DateTime<Utc>,
}

/// What a [`spend`] did towards the rotation, before the rule was applied in Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Staged {
    /// Nothing: [`rotate`] adds the next token (SQLite; or no row of the session in
    /// `live_sessions`).
    Nothing,
    /// On PostgreSQL, in the spend's own statement (the session's row was in `live_sessions`):
    /// the next token was added, expiring at `expires_at`. [`rotate`] only moves the expiry if
    /// the rule set another; [`unstage`] removes the token if the rule refused the session.
    Added { expires_at: DateTime<Utc> },
}

/// The spend: the conditional UPDATE that lets exactly one transaction flip `spent_at` from NULL.
macro_rules! spend_sql {
    () => {
        "UPDATE refresh_tokens SET spent_at = $2 WHERE token_hash = $1 AND spent_at IS NULL \
         AND coalesce(client_id, '') = $3 RETURNING session_id, expires_at"
    };
}

/// Spends a refresh token of `client` (`None`: the API's own) and reads its session as
/// [`live`] does, by `rule` (whose `now` is the moment of spending). The conditional UPDATE is
/// the race's referee: the database lets exactly one transaction flip `spent_at` from NULL. A
/// token of another kind is [`Spend::Unknown`] and stays as it was.
///
/// On PostgreSQL this is one statement, which also stages the rotation ([`Staged::Added`]):
/// when the session has a row in `live_sessions`, it adds `next`, so
/// that a refresh is one statement between `BEGIN` and `COMMIT`. The rule is still applied
/// here, in Rust, to the row the statement read (its one snapshot sees what a read after the
/// spend would: the view does not read refresh tokens); the caller then completes the rotation
/// ([`rotate`]) or undoes the staging ([`unstage`]) in the same unit of work.
pub(crate) async fn spend(
    tx: &mut Tx,
    presented: &TokenDigest,
    client: Option<&str>,
    rule: &LiveRule<'_>,
    next: Next<'_>,
) -> Result<Spend> {
    const SPEND_AND_STAGE: &str = concat!(
        "WITH spent AS (",
        spend_sql!(),
        "), found AS (SELECT spent.session_id AS spent_session_id, \
         spent.expires_at AS spent_expires_at, v.* FROM spent \
         LEFT JOIN live_sessions v ON v.session_id = spent.session_id), \
         added AS (INSERT INTO refresh_tokens (token_hash, session_id, dealership_id, issued_at, \
         expires_at, client_id) SELECT $4, session_id, dealership_id, $2, $5, nullif($3, '') \
         FROM found WHERE session_id IS NOT NULL RETURNING session_id) \
         SELECT found.*, EXISTS (SELECT 1 FROM added) AS staged FROM found"
    );
    const FIND: &str = "SELECT t.session_id, t.spent_at, s.user_id, s.dealership_id \
        FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
        WHERE t.token_hash = $1 AND coalesce(t.client_id, '') = $2";
    let now = rule.now;
    let client = client.unwrap_or("");
    type Found = (Uuid, DateTime<Utc>, Option<LiveRow>, Staged);
    let spent: Option<Found> = match &mut tx.conn {
        Conn::Pg(c) => {
            let row = sqlx::query(SPEND_AND_STAGE)
                .bind(&presented.0)
                .bind(ts(now))
                .bind(client)
                .bind(&next.digest.0)
                .bind(ts(next.expires_at))
                .fetch_optional(&mut **c)
                .await?;
            match row {
                Some(row) => {
                    let live_row = match row.try_get::<Option<Uuid>, _>("session_id")? {
                        Some(_) => Some(LiveRow::from_row(&row)?),
                        None => None,
                    };
                    let staged = if row.try_get("staged")? {
                        Staged::Added {
                            expires_at: ts(next.expires_at),
                        }
                    } else {
                        Staged::Nothing
                    };
                    Some((
                        row.try_get("spent_session_id")?,
                        row.try_get("spent_expires_at")?,
                        live_row,
                        staged,
                    ))
                }
                None => None,
            }
        }
        Conn::Lite(c) => {
            let spent: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(spend_sql!())
                .bind(&presented.0)
                .bind(ts(now))
                .bind(client)
                .fetch_optional(&mut **c)
                .await?;
            match spent {
                Some((session, expires_at)) => {
                    let live_row: Option<LiveRow> = sqlx::query_as(LIVE)
                        .bind(session)
                        .fetch_optional(&mut **c)
                        .await?;
                    Some((session, expires_at, live_row, Staged::Nothing))
                }
                None => None,
            }
        }
    };
    if let Some((session, expires_at, live_row, staged)) = spent {
        // An expired token spends but refreshes nothing: its session is not read as live.
        let live = match live_row.filter(|_| expires_at > now) {
            Some(row) => row.split(rule)?,
            None => None,
        };
        return Ok(Spend::Spent {
            session: session.into(),
            expires_at,
            live,
            staged,
        });
    }
    /// Session, when spent, its user and the user's dealership.
    type Known = (Uuid, Option<DateTime<Utc>>, Uuid, Option<Uuid>);
    let known: Option<Known> = on_tx!(
        tx,
        sqlx::query_as(FIND).bind(&presented.0).bind(client),
        fetch_optional
    )?;
    Ok(match known {
        Some((session, spent_at, user, dealership)) => Spend::AlreadySpent {
            session: session.into(),
            user: UserRef::stored(user, dealership),
            spent_at: spent_at.unwrap_or(now),
        },
        None => Spend::Unknown,
    })
}

/// Undoes what [`spend`] staged for a session the rule refused: the next token is removed (and
/// with it the session's last use it marked). The token presented stays spent.
pub(crate) async fn unstage(tx: &mut Tx, staged: Staged, next: &TokenDigest) -> Result<()> {
    const UNSTAGE: &str = "DELETE FROM refresh_tokens WHERE token_hash = $1";
    if staged == Staged::Nothing {
        return Ok(());
    }
    on_tx!(tx, sqlx::query(UNSTAGE).bind(&next.0), execute)?;
    Ok(())
}

/// The live-session query: the row of the view `live_sessions` (migration
/// `20261204000001_live_sessions`: not ended, user and dealership active), which
/// [`LiveRow::split`] then holds to the rest of the rule.
const LIVE: &str = "SELECT * FROM live_sessions WHERE session_id = $1";

/// What makes a session live besides its row in `live_sessions`: the moment, and who must have
/// signed in with a second factor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveRule<'a> {
    /// Now, on the engine's clock: a session past its end is not live.
    pub(crate) now: DateTime<Utc>,
    /// `MFA_REQUIRED_ROLES`: with the dealership's `mfa_required`, whose sessions must have
    /// been signed in with a second factor.
    pub(crate) mfa_required_roles: &'a [Role],
}

impl LiveRule<'_> {
    /// `expires_at`, the newest refresh token's expiry, if that token can still refresh: a
    /// session whose tokens have all expired is not listed as live.
    fn refreshable(&self, expires_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        expires_at.filter(|e| *e > self.now)
    }

    /// Whether a session of `placement`, signed in as `amr`, ending at `ends_at`, whose
    /// dealership requires a second factor or not, is live.
    fn admits(
        &self,
        placement: Placement,
        amr: Amr,
        ends_at: Option<DateTime<Utc>>,
        dealership_requires: bool,
    ) -> bool {
        let within_lifetime = ends_at.is_none_or(|end| end > self.now);
        within_lifetime
            && (amr.has_second_factor()
                || !placement.must_use_second_factor(self.mfa_required_roles, dealership_requires))
    }
}

impl LiveRow {
    fn split(self, rule: &LiveRule<'_>) -> Result<Option<(LiveSession, User)>> {
        let session_id = self.session_id.into();
        let user = User::try_from(self.user)?;
        let amr = Amr::parse_stored(&self.amr)?;
        if !rule.admits(
            user.placement,
            amr,
            self.ends_at,
            self.dealership_mfa_required,
        ) {
            return Ok(None);
        }
        let live = LiveSession {
            session_id,
            user_id: user.id,
            placement: user.placement,
            ends_at: self.ends_at,
            amr,
        };
        Ok(Some((live, user)))
    }
}

/// The session if it is live by `rule`, with its user as stored now: one query.
pub(crate) async fn live(
    tx: &mut Tx,
    session: SessionId,
    rule: &LiveRule<'_>,
) -> Result<Option<(LiveSession, User)>> {
    let row: Option<LiveRow> = on_tx!(
        tx,
        sqlx::query_as(LIVE).bind(session.as_uuid()),
        fetch_optional
    )?;
    Ok(row.map(|r| r.split(rule)).transpose()?.flatten())
}

/// [`live`] on its own, in the system scope: the check every authenticated request makes. With
/// `checks` (PostgreSQL), the checks of concurrent requests share one statement of the function
/// `adam_live_sessions` (migration `20261208000001_live_session_batches`), which enters the
/// system scope for its one query and restores the scope it found ([`super::live_checks`]).
/// Without (SQLite), it is [`LIVE`] in a unit of work of its own.
pub(crate) async fn live_now(
    db: &Db,
    checks: Option<&LiveChecks>,
    session: SessionId,
    rule: &LiveRule<'_>,
) -> Result<Option<(LiveSession, User)>> {
    match checks {
        Some(checks) => {
            let row = checks.row(session).await?;
            Ok(row.map(|r| r.split(rule)).transpose()?.flatten())
        }
        None => {
            let mut tx = db.begin(Scope::system(), Intent::Read).await?;
            let found = live(&mut tx, session, rule).await?;
            tx.commit().await?;
            Ok(found)
        }
    }
}

/// The session a browser's cookie (`digest`) holds, if it is not ended and its refresh token's
/// lifetime has not passed.
pub(crate) async fn of_browser(
    tx: &mut Tx,
    digest: &TokenDigest,
    now: DateTime<Utc>,
) -> Result<Option<SessionId>> {
    const SQL: &str = "SELECT s.id FROM sessions s WHERE s.browser_token_hash = $1 \
         AND s.revoked_at IS NULL AND EXISTS (SELECT 1 FROM refresh_tokens r \
         WHERE r.session_id = s.id AND r.expires_at > $2)";
    let row: Option<(Uuid,)> = on_tx!(
        tx,
        sqlx::query_as(SQL).bind(&digest.0).bind(ts(now)),
        fetch_optional
    )?;
    Ok(row.map(|(id,)| id.into()))
}

/// When `session` ends unless refreshed (its newest refresh token's expiry), if after `now`.
pub(crate) async fn refreshable_until(
    tx: &mut Tx,
    session: SessionId,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    const SQL: &str = "SELECT MAX(expires_at) FROM refresh_tokens WHERE session_id = $1";
    let (until,): (Option<DateTime<Utc>>,) =
        on_tx!(tx, sqlx::query_as(SQL).bind(session.as_uuid()), fetch_one)?;
    Ok(until.filter(|u| *u > now))
}

/// After a spend of a live session: adds its next refresh token (as [`add_refresh_token`]), or
/// completes what the spend staged (only the expiry, if `next`'s is not the one staged). On
/// PostgreSQL at most one statement.
pub(crate) async fn rotate(
    tx: &mut Tx,
    session: SessionId,
    staged: Staged,
    placement: Placement,
    client: Option<&str>,
    next: Next<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    const EXPIRY: &str = "UPDATE refresh_tokens SET expires_at = $2 WHERE token_hash = $1";
    match staged {
        Staged::Added { expires_at } if expires_at == ts(next.expires_at) => Ok(()),
        Staged::Added { .. } => {
            on_tx!(
                tx,
                sqlx::query(EXPIRY)
                    .bind(&next.digest.0)
                    .bind(ts(next.expires_at)),
                execute
            )?;
            Ok(())
        }
        Staged::Nothing => add_refresh_token(tx, session, placement, client, next, now).await,
    }
}

/// A live session as its user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRow {
    pub(crate) id: SessionId,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_used_at: DateTime<Utc>,
    /// When it ends unless refreshed: its newest refresh token's expiry (never past the
    /// session's absolute end).
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) amr: Amr,
}

/// The rows of the view `live_sessions` with when their newest refresh token expires
/// (`expires_at`) and any `$columns`, but grants (a grant is part of its browser session, not a
/// session of its own in the user's eyes), filtered by `$tail`: what the sessions lists read.
macro_rules! listed {
    ($columns:literal, $tail:literal) => {
        concat!(
            "SELECT v.*, (SELECT MAX(r.expires_at) FROM refresh_tokens r \
             WHERE r.session_id = v.session_id) AS expires_at",
            $columns,
            " FROM live_sessions v WHERE NOT EXISTS (SELECT 1 FROM sessions g WHERE g.id = v.session_id \
             AND g.parent_id IS NOT NULL) AND ",
            $tail
        )
    };
}

/// How many live sessions (by `rule`, with a refresh token that has not expired) each user in
/// the scope has, in one statement: the access review's column.
pub(crate) async fn live_counts(
    tx: &mut Tx,
    rule: &LiveRule<'_>,
) -> Result<std::collections::HashMap<UserId, u64>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        live: LiveRow,
        expires_at: Option<DateTime<Utc>>,
    }
    const SQL: &str = listed!(
        "",
        "($1 IS NULL OR v.dealership_id = $1) AND ($2 IS NULL OR v.id = $2)"
    );
    let scope = tx.scope;
    let rows: Vec<Row> = on_tx!(
        tx,
        sqlx::query_as(SQL)
            .bind(scope.dealership().map(|d| d.as_uuid()))
            .bind(scope.only_user.map(|u| u.as_uuid())),
        fetch_all
    )?;
    let mut counts = std::collections::HashMap::new();
    for row in rows {
        if rule.refreshable(row.expires_at).is_none() {
            continue;
        }
        if let Some((session, _)) = row.live.split(rule)? {
            *counts.entry(session.user_id).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

/// The live sessions of `user` by `rule`, newest first, with a refresh token that has not
/// expired: rows of the view `live_sessions`, held to the rest of the rule as [`live`] holds
/// the one it checks.
pub(crate) async fn of_user(
    tx: &mut Tx,
    user: UserId,
    rule: &LiveRule<'_>,
) -> Result<Vec<SessionRow>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        live: LiveRow,
        session_created_at: DateTime<Utc>,
        last_used: Option<DateTime<Utc>>,
        ip: Option<String>,
        user_agent: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    }
    // A session's last use is when its newest refresh token was issued: at sign-in, then at
    // each refresh. Nothing else marks it, so a refresh writes no more than its tokens.
    const SQL: &str = listed!(
        ", (SELECT MAX(r.issued_at) FROM refresh_tokens r \
         WHERE r.session_id = v.session_id) AS last_used",
        "v.id = $1 ORDER BY v.session_created_at DESC, v.session_id"
    );
    let rows: Vec<Row> = on_tx!(tx, sqlx::query_as(SQL).bind(user.as_uuid()), fetch_all)?;
    let mut live = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(expires_at) = rule.refreshable(row.expires_at) else {
            continue;
        };
        let Some((session, _)) = row.live.split(rule)? else {
            continue;
        };
        live.push(SessionRow {
            id: session.session_id,
            created_at: row.session_created_at,
            last_used_at: row.last_used.unwrap_or(row.session_created_at),
            expires_at,
            ip: row.ip,
            user_agent: row.user_agent,
            amr: session.amr,
        });
    }
    Ok(live)
}

/// Deletes refresh tokens that expired before `before`, and sessions left with none.
pub(crate) async fn purge_expired(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64> {
    const TOKENS: &str = "DELETE FROM refresh_tokens WHERE expires_at < $1";
    const SESSIONS: &str = "DELETE FROM sessions WHERE created_at < $1 \
        AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = sessions.id)";
    let tokens = on_tx!(tx, sqlx::query(TOKENS).bind(ts(before)), execute)?;
    on_tx!(tx, sqlx::query(SESSIONS).bind(ts(before)), execute)?;
    Ok(tokens)
}
