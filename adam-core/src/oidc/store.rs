//! The provider's tables: authorization codes, consents, and grants (sessions whose parent is
//! a browser session).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::caller::Amr;
use crate::db::{on_tx, ts, Tx};
use crate::error::Result;
use crate::ids::{SessionId, UserId};
use crate::placement::Placement;
use crate::sessions::refresh::TokenDigest;

/// What a code was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeRow {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: String,
    pub(crate) nonce: Option<String>,
    pub(crate) scope: String,
    pub(crate) session_id: SessionId,
    pub(crate) expires_at: DateTime<Utc>,
}

/// Stores a new code.
pub(crate) async fn insert_code(
    tx: &mut Tx,
    code: &TokenDigest,
    row: &CodeRow,
    now: DateTime<Utc>,
) -> Result<()> {
    const SQL: &str = "INSERT INTO oauth_codes (code_hash, client_id, redirect_uri, \
        code_challenge, nonce, scope, session_id, created_at, expires_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(&code.0)
            .bind(&row.client_id)
            .bind(&row.redirect_uri)
            .bind(&row.code_challenge)
            .bind(row.nonce.as_deref())
            .bind(&row.scope)
            .bind(row.session_id.as_uuid())
            .bind(ts(now))
            .bind(ts(row.expires_at)),
        execute
    )?;
    Ok(())
}

/// What presenting a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CodeSpend {
    /// It was unspent and is spent now.
    Spent(CodeRow),
    /// It had been spent before; the grant it made, if it made one.
    Replayed(Option<SessionId>),
    /// No such code.
    Unknown,
}

/// Spends a code: the conditional UPDATE lets exactly one of simultaneous exchanges win.
pub(crate) async fn spend_code(
    tx: &mut Tx,
    code: &TokenDigest,
    now: DateTime<Utc>,
) -> Result<CodeSpend> {
    const SPEND: &str = "UPDATE oauth_codes SET spent_at = $2 WHERE code_hash = $1 \
        AND spent_at IS NULL RETURNING client_id, redirect_uri, code_challenge, nonce, scope, \
        session_id, expires_at";
    const FIND: &str = "SELECT grant_id FROM oauth_codes WHERE code_hash = $1";
    type Row = (
        String,
        String,
        String,
        Option<String>,
        String,
        Uuid,
        DateTime<Utc>,
    );
    let spent: Option<Row> = on_tx!(
        tx,
        sqlx::query_as(SPEND).bind(&code.0).bind(ts(now)),
        fetch_optional
    )?;
    if let Some((client_id, redirect_uri, code_challenge, nonce, scope, session, expires_at)) =
        spent
    {
        return Ok(CodeSpend::Spent(CodeRow {
            client_id,
            redirect_uri,
            code_challenge,
            nonce,
            scope,
            session_id: session.into(),
            expires_at,
        }));
    }
    let found: Option<(Option<Uuid>,)> =
        on_tx!(tx, sqlx::query_as(FIND).bind(&code.0), fetch_optional)?;
    Ok(match found {
        Some((grant,)) => CodeSpend::Replayed(grant.map(Into::into)),
        None => CodeSpend::Unknown,
    })
}

/// Notes the grant a code made, which a replay of the code ends.
pub(crate) async fn set_code_grant(
    tx: &mut Tx,
    code: &TokenDigest,
    grant: SessionId,
) -> Result<()> {
    const SQL: &str = "UPDATE oauth_codes SET grant_id = $2 WHERE code_hash = $1";
    on_tx!(
        tx,
        sqlx::query(SQL).bind(&code.0).bind(grant.as_uuid()),
        execute
    )?;
    Ok(())
}

/// Deletes codes that expired before `before`.
pub(crate) async fn purge_codes(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64> {
    const SQL: &str = "DELETE FROM oauth_codes WHERE expires_at < $1";
    Ok(on_tx!(tx, sqlx::query(SQL).bind(ts(before)), execute)?)
}

/// A browser session as a grant is made in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parent {
    pub(crate) user_id: UserId,
    pub(crate) placement: Placement,
    pub(crate) amr: Amr,
    pub(crate) ends_at: Option<DateTime<Utc>>,
    pub(crate) authenticated_at: DateTime<Utc>,
}

/// When the user last proved who they are in `session` (its sign-in, or a later
/// re-authentication).
pub(crate) async fn authenticated_at(
    tx: &mut Tx,
    session: SessionId,
) -> Result<Option<DateTime<Utc>>> {
    const SQL: &str = "SELECT coalesce(authenticated_at, created_at) FROM sessions WHERE id = $1";
    let row: Option<(DateTime<Utc>,)> = on_tx!(
        tx,
        sqlx::query_as(SQL).bind(session.as_uuid()),
        fetch_optional
    )?;
    Ok(row.map(|(t,)| t))
}

/// Records a grant: a session of `client` whose parent is the browser session `parent_id`.
pub(crate) async fn create_grant(
    tx: &mut Tx,
    grant: SessionId,
    parent_id: SessionId,
    parent: &Parent,
    client: &str,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    const SQL: &str = "INSERT INTO sessions (id, user_id, dealership_id, created_at, ends_at, \
        amr, parent_id, client_id, scope, authenticated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(grant.as_uuid())
            .bind(parent.user_id.as_uuid())
            .bind(parent.placement.dealership_id().map(|d| d.as_uuid()))
            .bind(ts(now))
            .bind(parent.ends_at.map(ts))
            .bind(parent.amr.stored())
            .bind(parent_id.as_uuid())
            .bind(client)
            .bind(scope)
            .bind(ts(parent.authenticated_at)),
        execute
    )?;
    Ok(())
}

/// A grant as its tokens are refreshed or checked: whose it is, in which browser session, for
/// which scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrantRow {
    pub(crate) parent_id: SessionId,
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) authenticated_at: DateTime<Utc>,
}

/// The grant `session` is, if it is one.
pub(crate) async fn grant(tx: &mut Tx, session: SessionId) -> Result<Option<GrantRow>> {
    const SQL: &str = "SELECT parent_id, client_id, scope, \
        coalesce(authenticated_at, created_at) FROM sessions \
        WHERE id = $1 AND parent_id IS NOT NULL AND client_id IS NOT NULL";
    let row: Option<(Uuid, String, Option<String>, DateTime<Utc>)> = on_tx!(
        tx,
        sqlx::query_as(SQL).bind(session.as_uuid()),
        fetch_optional
    )?;
    Ok(row.map(|(parent, client_id, scope, at)| GrantRow {
        parent_id: parent.into(),
        client_id,
        scope: scope.unwrap_or_default(),
        authenticated_at: at,
    }))
}

/// Whether the user's email was proved (an accepted invitation or a completed reset), for
/// `email_verified`.
pub(crate) async fn email_verified(tx: &mut Tx, user: UserId) -> Result<bool> {
    const SQL: &str = "SELECT email_verified_at FROM users WHERE id = $1";
    let row: Option<(Option<DateTime<Utc>>,)> =
        on_tx!(tx, sqlx::query_as(SQL).bind(user.as_uuid()), fetch_optional)?;
    Ok(matches!(row, Some((Some(_),))))
}

/// The scopes `user` consented to for `client`, if they did.
pub(crate) async fn consent(tx: &mut Tx, user: UserId, client: &str) -> Result<Option<String>> {
    const SQL: &str = "SELECT scope FROM oauth_consents WHERE user_id = $1 AND client_id = $2";
    let row: Option<(String,)> = on_tx!(
        tx,
        sqlx::query_as(SQL).bind(user.as_uuid()).bind(client),
        fetch_optional
    )?;
    Ok(row.map(|(s,)| s))
}

/// Records (or widens) `user`'s consent to `client` for `scope`.
pub(crate) async fn save_consent(
    tx: &mut Tx,
    user: UserId,
    client: &str,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    const SQL: &str = "INSERT INTO oauth_consents (user_id, client_id, scope, created_at) \
        VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, client_id) \
        DO UPDATE SET scope = excluded.scope, created_at = excluded.created_at";
    on_tx!(
        tx,
        sqlx::query(SQL)
            .bind(user.as_uuid())
            .bind(client)
            .bind(scope)
            .bind(ts(now)),
        execute
    )?;
    Ok(())
}

/// The clients `user` consented to, with when.
pub(crate) async fn consents(tx: &mut Tx, user: UserId) -> Result<Vec<(String, DateTime<Utc>)>> {
    const SQL: &str = "SELECT client_id, created_at FROM oauth_consents WHERE user_id = $1 \
        ORDER BY created_at DESC, client_id";
    Ok(on_tx!(
        tx,
        sqlx::query_as(SQL).bind(user.as_uuid()),
        fetch_all
    )?)
}

/// Withdraws `user`'s consent to `client`; whether there was one.
pub(crate) async fn delete_consent(tx: &mut Tx, user: UserId, client: &str) -> Result<bool> {
    const SQL: &str = "DELETE FROM oauth_consents WHERE user_id = $1 AND client_id = $2";
    let done = on_tx!(
        tx,
        sqlx::query(SQL).bind(user.as_uuid()).bind(client),
        execute
    )?;
    Ok(done > 0)
}

/// The grant a refresh token of `client` belongs to, spent or not.
pub(crate) async fn grant_of_refresh(
    tx: &mut Tx,
    token: &TokenDigest,
    client: &str,
) -> Result<Option<SessionId>> {
    const SQL: &str =
        "SELECT session_id FROM refresh_tokens WHERE token_hash = $1 AND client_id = $2";
    let row: Option<(Uuid,)> = on_tx!(
        tx,
        sqlx::query_as(SQL).bind(&token.0).bind(client),
        fetch_optional
    )?;
    Ok(row.map(|(id,)| id.into()))
}

/// Queues a back-channel logout of browser session `sid` (user `sub`) for `client`, if the
/// client has a back-channel logout URI and is not told of this session already; whether it
/// queued one. Sessions end in their ender's scope: on PostgreSQL the function
/// `adam_queue_backchannel_logout` (migration `20261205000005_backchannel_logout`) enters the
/// system scope for this one statement.
pub(crate) async fn queue_logout(
    tx: &mut Tx,
    client: &str,
    sid: SessionId,
    sub: UserId,
    now: DateTime<Utc>,
) -> Result<bool> {
    const PG: &str = "SELECT adam_queue_backchannel_logout($1, $2, $3, $4, $5)";
    const LITE: &str = "INSERT INTO backchannel_logouts (id, client_id, sid, sub, created_at, \
        next_attempt_at, attempts) SELECT $1, client_id, $3, $4, $5, $5, 0 FROM oauth_clients \
        WHERE client_id = $2 AND backchannel_logout_uri IS NOT NULL \
        ON CONFLICT (client_id, sid) DO NOTHING";
    let id = Uuid::new_v4();
    let now = ts(now);
    match &mut tx.conn {
        crate::db::Conn::Pg(c) => {
            let (queued,): (bool,) = sqlx::query_as(PG)
                .bind(id)
                .bind(client)
                .bind(sid.as_uuid())
                .bind(sub.as_uuid())
                .bind(now)
                .fetch_one(&mut **c)
                .await?;
            Ok(queued)
        }
        crate::db::Conn::Lite(c) => {
            let done = sqlx::query(LITE)
                .bind(id)
                .bind(client)
                .bind(sid.as_uuid())
                .bind(sub.as_uuid())
                .bind(now)
                .execute(&mut **c)
                .await?;
            Ok(done.rows_affected() > 0)
        }
    }
}

/// A back-channel logout claimed for an attempt.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct LogoutRow {
    pub(crate) id: Uuid,
    pub(crate) client_id: String,
    pub(crate) sid: Uuid,
    pub(crate) sub: Uuid,
    pub(crate) attempts: i32,
    pub(crate) uri: String,
}

/// What makes a back-channel logout due: not done, its time come, not claimed by a server now.
const LOGOUT_DUE: &str = "done_at IS NULL AND next_attempt_at <= $1 \
    AND (claimed_until IS NULL OR claimed_until <= $1)";

/// Claims the oldest due back-channel logout until `until`, counting the attempt; those given
/// up on (created before `give_up_before`) are ended on the way.
pub(crate) async fn claim_logout(
    tx: &mut Tx,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    give_up_before: DateTime<Utc>,
) -> Result<Option<LogoutRow>> {
    const GIVE_UP: &str = "UPDATE backchannel_logouts SET done_at = $1, \
        last_error = coalesce(last_error, 'not delivered in time') \
        WHERE done_at IS NULL AND created_at < $2";
    on_tx!(
        tx,
        sqlx::query(GIVE_UP).bind(ts(now)).bind(ts(give_up_before)),
        execute
    )?;
    let lock = match tx.conn {
        crate::db::Conn::Pg(_) => "FOR UPDATE SKIP LOCKED",
        crate::db::Conn::Lite(_) => "",
    };
    let sql = format!(
        "UPDATE backchannel_logouts SET claimed_until = $2, attempts = attempts + 1 \
         WHERE id = (SELECT id FROM backchannel_logouts WHERE {LOGOUT_DUE} \
         ORDER BY next_attempt_at, id LIMIT 1 {lock}) AND {LOGOUT_DUE} \
         RETURNING id, client_id, sid, sub, attempts, \
         (SELECT c.backchannel_logout_uri FROM oauth_clients c \
          WHERE c.client_id = backchannel_logouts.client_id) AS uri"
    );
    let row: Option<(Uuid, String, Uuid, Uuid, i32, Option<String>)> = on_tx!(
        tx,
        sqlx::query_as(&sql).bind(ts(now)).bind(ts(until)),
        fetch_optional
    )?;
    Ok(match row {
        Some((id, client_id, sid, sub, attempts, Some(uri))) => Some(LogoutRow {
            id,
            client_id,
            sid,
            sub,
            attempts,
            uri,
        }),
        // The client dropped its back-channel URI meanwhile: nothing to tell.
        Some((id, ..)) => {
            finish_logout(tx, id, None, now, None).await?;
            None
        }
        None => None,
    })
}

/// Records an attempt's outcome: delivered (or refused for good: `retry_at` `None`), or to be
/// tried again at `retry_at`, with the error.
pub(crate) async fn finish_logout(
    tx: &mut Tx,
    id: Uuid,
    error: Option<&str>,
    now: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
) -> Result<()> {
    const DONE: &str = "UPDATE backchannel_logouts SET done_at = $2, claimed_until = NULL, \
        last_error = $3 WHERE id = $1";
    const AGAIN: &str = "UPDATE backchannel_logouts SET next_attempt_at = $2, \
        claimed_until = NULL, last_error = $3 WHERE id = $1";
    match retry_at {
        None => on_tx!(
            tx,
            sqlx::query(DONE).bind(id).bind(ts(now)).bind(error),
            execute
        )?,
        Some(at) => on_tx!(
            tx,
            sqlx::query(AGAIN).bind(id).bind(ts(at)).bind(error),
            execute
        )?,
    };
    Ok(())
}

/// When the next back-channel logout is due, if any is waiting.
pub(crate) async fn next_logout_due(tx: &mut Tx) -> Result<Option<DateTime<Utc>>> {
    const SQL: &str = "SELECT MIN(CASE WHEN claimed_until IS NOT NULL AND claimed_until > \
        next_attempt_at THEN claimed_until ELSE next_attempt_at END) \
        FROM backchannel_logouts WHERE done_at IS NULL";
    let (at,): (Option<DateTime<Utc>>,) = on_tx!(tx, sqlx::query_as(SQL), fetch_one)?;
    Ok(at)
}
