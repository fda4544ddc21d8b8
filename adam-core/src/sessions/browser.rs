//! Browser sessions (contract: "Pages in the browser"): the pages' sign-in opens an ordinary
//! session (listed, ended and audited like any other) whose holder is a browser. The browser
//! keeps a 256-bit secret in its `__Host-adam_session` cookie; the database keeps its SHA-256.
//! The session's refresh token is never handed out: the session lives until it is ended, its
//! `SESSION_MAX_MINUTES` run out, or its refresh token's lifetime passes.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::db::{on_tx, Intent};
use crate::engine::{Adam, TokenPair};
use crate::error::{Error, Result};
use crate::links::{presented, LinkToken};
use crate::models::User;
use crate::rbac::Principal;
use crate::sessions::revocation::{self, Change};
use crate::sessions::store as sessions;

/// Prefix of a browser session's secret.
pub const BROWSER_SESSION_PREFIX: &str = "adam_ses_";

/// A browser's hold on a session: the secret for its cookie, and when the session ends at the
/// latest (the cookie's expiry). Its `Debug` never shows the secret.
pub struct BrowserSession {
    /// The cookie's value.
    pub token: LinkToken,
    /// When the session ends at the latest.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for BrowserSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrowserSession")
            .field("token", &self.token)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Adam {
    /// Hands the session a sign-in just opened (`pair`, from any of the sign-in steps, an
    /// accepted invitation or a completed reset) to a browser: the pair is dropped and the
    /// browser receives the session's secret instead.
    pub async fn open_browser_session(&self, pair: TokenPair) -> Result<BrowserSession> {
        let claims = self.keys.claims(&pair.access_token).await?;
        let token = LinkToken::generate(BROWSER_SESSION_PREFIX);
        let now = self.now();
        let mut tx = self.begin_system(Intent::Write).await?;
        const SQL: &str = "UPDATE sessions SET browser_token_hash = $2 \
             WHERE id = $1 AND revoked_at IS NULL AND browser_token_hash IS NULL";
        let done = on_tx!(
            tx,
            sqlx::query(SQL)
                .bind(claims.sid.as_uuid())
                .bind(&token.digest().0),
            execute
        )?;
        if done != 1 {
            return Err(Error::unauthorized("session is no longer valid"));
        }
        let expires_at = sessions::refreshable_until(&mut tx, claims.sid, now)
            .await?
            .ok_or_else(|| Error::unauthorized("session is no longer valid"))?;
        tx.commit().await?;
        Ok(BrowserSession { token, expires_at })
    }

    /// [`Adam::open_browser_session`] in a browser that may hold a session already (its
    /// cookie's value, `previous`): the same user signing in again (`prompt=login`, `max_age`)
    /// re-authenticates that session (its `auth_time` and `amr` become the new sign-in's, and
    /// the session `pair` opened is dropped unused), so the browser keeps its cookie (`None`);
    /// another user ends that session, with its grants, and the browser receives the new one.
    pub async fn open_browser_session_over(
        &self,
        pair: TokenPair,
        previous: Option<&str>,
    ) -> Result<Option<BrowserSession>> {
        let Some(previous) = previous else {
            return self.open_browser_session(pair).await.map(Some);
        };
        let Ok((before, _)) = self.browser_principal(previous).await else {
            return self.open_browser_session(pair).await.map(Some);
        };
        let claims = self.keys.claims(&pair.access_token).await?;
        let now = self.now();
        let mut tx = self.begin_system(Intent::Write).await?;
        if before.user_id() == claims.sub {
            const AGAIN: &str = "UPDATE sessions SET authenticated_at = $2, amr = $3 \
                 WHERE id = $1 AND revoked_at IS NULL";
            const DROP: &str = "DELETE FROM sessions WHERE id = $1";
            on_tx!(
                tx,
                sqlx::query(AGAIN)
                    .bind(before.session_id().as_uuid())
                    .bind(crate::db::ts(now))
                    .bind(claims.amr.stored()),
                execute
            )?;
            on_tx!(tx, sqlx::query(DROP).bind(claims.sid.as_uuid()), execute)?;
            tx.commit().await?;
            return Ok(None);
        }
        revocation::apply(&mut tx, Change::BrowserSignedOver(before.session_id()), now).await?;
        tx.commit().await?;
        self.open_browser_session(pair).await.map(Some)
    }

    /// The caller a browser's session cookie stands for, and their profile: the session must
    /// be live as for an access token (not ended, within its time, user and dealership
    /// active, the second factor where required). Anything else, a malformed value included, is
    /// [`Error::Unauthorized`].
    pub async fn browser_principal(&self, cookie: &str) -> Result<(Principal, User)> {
        let unknown = || Error::unauthorized("no browser session");
        let digest = presented(cookie, BROWSER_SESSION_PREFIX).ok_or_else(unknown)?;
        let now = self.now();
        let mut tx = self.begin_system(Intent::Read).await?;
        let found = match sessions::of_browser(&mut tx, &digest, now).await? {
            Some(session) => sessions::live(&mut tx, session, &self.live_rule()).await?,
            None => None,
        };
        tx.commit().await?;
        let (live, user) = found.ok_or_else(unknown)?;
        Ok((
            Principal::new(live.user_id, live.placement, live.session_id, live.amr),
            user,
        ))
    }
}
