//! Sessions as their users see them: listing one's own and ending one, and, for admins and
//! principals, listing and ending a user's.

mod browser;
mod lifecycle;
pub(crate) mod live_checks;
pub mod refresh;
pub(crate) mod revocation;
pub(crate) mod store;

pub use browser::{BrowserSession, BROWSER_SESSION_PREFIX};

use chrono::{DateTime, Utc};

use crate::caller::Amr;
use crate::db::Intent;
use crate::engine::Adam;
use crate::error::{Error, Result};
use crate::ids::{SessionId, UserId};
use crate::rbac::{self, Principal};
use crate::sessions::revocation::Change;
use crate::sessions::store::{self as sessions, SessionRow};
use crate::users::store as users;

/// The full check: signature, then the live session and user in the database.
impl crate::check::CheckCaller for Adam {
    async fn check(&self, token: &str) -> Result<crate::caller::Caller> {
        Ok(*self.authenticate(token).await?)
    }
}

/// One live session, as its user (or whoever manages them) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session (`sid` of its tokens).
    pub id: SessionId,
    /// When it was signed in.
    pub created_at: DateTime<Utc>,
    /// When it was last refreshed (its sign-in, if never).
    pub last_used_at: DateTime<Utc>,
    /// When it ends unless refreshed before (never after `SESSION_MAX_MINUTES` from sign-in).
    pub expires_at: DateTime<Utc>,
    /// The client address it signed in from, if known.
    pub ip: Option<String>,
    /// The program it signed in with, if it said (at most 256 characters).
    pub user_agent: Option<String>,
    /// How it signed in.
    pub amr: Amr,
    /// Whether it is the caller's own session.
    pub current: bool,
}

impl SessionInfo {
    fn of(row: SessionRow, caller: &Principal) -> Self {
        Self {
            current: row.id == caller.session_id(),
            id: row.id,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            ip: row.ip,
            user_agent: row.user_agent,
            amr: row.amr,
        }
    }
}

impl Adam {
    /// The caller's live sessions, newest first.
    pub async fn my_sessions(&self, caller: &Principal) -> Result<Vec<SessionInfo>> {
        let mut tx = self.begin_for(caller, Intent::Read).await?;
        let rows = sessions::of_user(&mut tx, caller.user_id(), &self.live_rule()).await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| SessionInfo::of(r, caller))
            .collect())
    }

    /// Ends one of the caller's sessions (the current one too): its refresh and access tokens
    /// stop at once. Someone else's session, or one already ended, is [`Error::NotFound`].
    pub async fn end_my_session(&self, caller: &Principal, session: SessionId) -> Result<()> {
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        let ended =
            revocation::apply(&mut tx, Change::SessionEnded(caller, session), self.now()).await?;
        if ended == 0 {
            return Err(Error::NotFound);
        }
        tx.commit().await
    }

    /// The live sessions of `user`, newest first: for system admins (anyone) and dealer
    /// principals (their dealership's users). A user the caller cannot see is
    /// [`Error::NotFound`]; an F&I manager is [`Error::Forbidden`].
    pub async fn user_sessions(
        &self,
        caller: &Principal,
        user: UserId,
    ) -> Result<Vec<SessionInfo>> {
        let mut tx = self.begin_for(caller, Intent::Read).await?;
        let target = users::get(&mut tx, user).await?;
        rbac::authorize_manage_sessions(caller, &target)?;
        let rows = sessions::of_user(&mut tx, user, &self.live_rule()).await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| SessionInfo::of(r, caller))
            .collect())
    }

    /// Ends every session of `user` (sign out everywhere, for them), under the rules of
    /// [`Adam::user_sessions`].
    pub async fn end_user_sessions(&self, caller: &Principal, user: UserId) -> Result<()> {
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        let target = users::get(&mut tx, user).await?;
        rbac::authorize_manage_sessions(caller, &target)?;
        revocation::apply(&mut tx, Change::SessionsEndedBy(user), self.now()).await?;
        tx.commit().await
    }
}
