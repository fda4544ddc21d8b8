//! A session after its sign-in: refreshing it (the token rotates; a spent token presented
//! again ends the session), signing out, and the full check of an access token on every request.

use crate::audit::events::Event;
use crate::db::Intent;
use crate::engine::{Adam, TokenPair};
use crate::error::{Error, Result};
use crate::models::User;
use crate::origin::ClientInfo;
use crate::rbac::Principal;
use crate::sessions::refresh::{RefreshToken, TokenDigest};
use crate::sessions::revocation::{self, Change};
use crate::sessions::store::{self as sessions, LiveSession, Spend};
use crate::tokens::AccessClaims;
use crate::users::store as users;

/// Longer presented refresh tokens cannot be ours; refusing them early saves a hash and a query.
const MAX_REFRESH_TOKEN_LEN: usize = 256;

impl Adam {
    /// Exchanges a refresh token for a new pair. The presented token is spent. Presenting a spent
    /// token again within [`Settings::refresh_reuse_grace`](crate::Settings) of its spending is
    /// [`Error::RefreshTokenAlreadyRotated`] and leaves the session alive (two windows of one app
    /// refreshed at once); later, it revokes the whole session. Every other failure is
    /// [`Error::Unauthorized`].
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        self.refresh_with(refresh_token, &ClientInfo::default())
            .await
    }

    /// [`Adam::refresh`] from `origin` (the client's address and program), which the audit log
    /// keeps with a `refresh.reuse_detected` event.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_with(
        &self,
        refresh_token: &str,
        origin: &ClientInfo,
    ) -> Result<TokenPair> {
        let (live, next) = self
            .rotate_refresh_token(refresh_token, None, origin)
            .await?;
        self.pair(live, next).await
    }

    /// Spends a refresh token of `client` (`None`: the API's own) and adds the next one: the
    /// rotation and reuse rules of [`Adam::refresh`], for the API and the OpenID Connect token
    /// endpoint alike. A token of the other kind is refused and stays as it was.
    pub(crate) async fn rotate_refresh_token(
        &self,
        refresh_token: &str,
        client: Option<&str>,
        origin: &ClientInfo,
    ) -> Result<(LiveSession, RefreshToken)> {
        let rejected = || Error::unauthorized("invalid refresh token");
        if refresh_token.is_empty() || refresh_token.len() > MAX_REFRESH_TOKEN_LEN {
            return Err(rejected());
        }
        let now = self.now();
        let rule = sessions::LiveRule {
            now,
            ..self.live_rule()
        };
        let next = RefreshToken::generate();
        let digest = next.digest();
        let ttl_end = now + self.settings.refresh_token_ttl;
        let staging = sessions::Next {
            digest: &digest,
            expires_at: ttl_end,
        };
        let presented = TokenDigest::of(refresh_token);
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        match sessions::spend(&mut tx, &presented, client, &rule, staging).await? {
            Spend::Unknown => Err(rejected()),
            Spend::AlreadySpent {
                session,
                user,
                spent_at,
            } => {
                if now - spent_at <= self.settings.refresh_reuse_grace {
                    // Two windows of one app refreshing at once: the other one won.
                    return Err(Error::RefreshTokenAlreadyRotated);
                }
                revocation::apply(&mut tx, Change::RefreshReused(session), now).await?;
                tx.record(Event::RefreshReuseDetected { session, user })
                    .await?;
                tx.commit().await?;
                tracing::warn!(%session, "spent refresh token presented again; session revoked");
                Err(Error::unauthorized(
                    "refresh token already used; session revoked",
                ))
            }
            Spend::Spent {
                session,
                expires_at,
                live,
                staged,
            } => {
                let Some((live, _)) = live else {
                    // The token stays spent: an expired or dead session's token is no use again.
                    sessions::unstage(&mut tx, staged, &digest).await?;
                    tx.commit().await?;
                    return Err(rejected());
                };
                // A grant's next token lives no longer than the one it replaces (its browser
                // session's lifetime bounds it).
                let mut until = live.ends_at.map_or(ttl_end, |end| ttl_end.min(end));
                if client.is_some() {
                    until = until.min(expires_at);
                }
                let next_token = sessions::Next {
                    digest: &digest,
                    expires_at: until,
                };
                sessions::rotate(
                    &mut tx,
                    session,
                    staged,
                    live.placement,
                    client,
                    next_token,
                    now,
                )
                .await?;
                tx.commit().await?;
                Ok((live, next))
            }
        }
    }

    /// Revokes the session of `refresh_token`. Unknown tokens are not an error.
    #[tracing::instrument(skip_all)]
    pub async fn logout(&self, refresh_token: &str) -> Result<()> {
        self.logout_with(refresh_token, &ClientInfo::default())
            .await
    }

    /// [`Adam::logout`] from `origin` (the client's address and program), which the audit log
    /// keeps with the `session.ended` event.
    #[tracing::instrument(skip_all)]
    pub async fn logout_with(&self, refresh_token: &str, origin: &ClientInfo) -> Result<()> {
        if refresh_token.len() > MAX_REFRESH_TOKEN_LEN {
            return Ok(());
        }
        let digest = TokenDigest::of(refresh_token);
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        revocation::apply(&mut tx, Change::Logout(&digest), self.now()).await?;
        tx.commit().await
    }

    /// Revokes every session of the caller.
    #[tracing::instrument(skip_all, fields(user = %caller.user_id()))]
    pub async fn logout_all(&self, caller: &Principal) -> Result<()> {
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        revocation::apply(&mut tx, Change::LogoutAll(caller), self.now()).await?;
        tx.commit().await
    }

    /// The full check of an access token: signature and claims, then the session and user as the
    /// database has them now. A token of a revoked session, of an inactive or deleted user, or
    /// issued before a change of role or dealership is [`Error::Unauthorized`]. The
    /// [`Principal`] it returns is the only kind the engine's use cases accept.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal> {
        self.authenticate_user(access_token).await.map(|(p, _)| p)
    }

    /// [`Adam::authenticate`], also returning the caller's profile, read by the same query.
    pub async fn authenticate_user(&self, access_token: &str) -> Result<(Principal, User)> {
        let claims = self.keys.claims(access_token).await?;
        self.check_session(&claims).await
    }

    /// The second half of the full check: the session of verified `claims` is live and its
    /// user still has the role and dealership the token says.
    pub(crate) async fn check_session(&self, claims: &AccessClaims) -> Result<(Principal, User)> {
        let found = sessions::live_now(
            &self.db,
            self.live_checks.as_ref(),
            claims.sid,
            &self.live_rule(),
        )
        .await?;
        let (live, user) =
            found.ok_or_else(|| Error::unauthorized("session is no longer valid"))?;
        if live.user_id != claims.sub
            || live.placement.role() != claims.role
            || live.placement.dealership_id() != claims.dealership_id
        {
            return Err(Error::unauthorized("token is out of date"));
        }
        Ok((
            Principal::new(live.user_id, live.placement, live.session_id, claims.amr),
            user,
        ))
    }

    /// The caller's own profile.
    pub async fn me(&self, caller: &Principal) -> Result<User> {
        let mut tx = self.begin_for(caller, Intent::Read).await?;
        let me = users::get(&mut tx, caller.user_id()).await;
        tx.commit().await?;
        me.map_err(|e| match e {
            Error::NotFound => Error::unauthorized("user no longer exists"),
            other => other,
        })
    }
}
