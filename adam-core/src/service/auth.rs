//! Sign-in, refresh, sign-out and authentication of access tokens.

use chrono::Utc;

use super::{Adam, TokenPair};
use crate::email::Email;
use crate::error::{Error, Result};
use crate::models::User;
use crate::rbac::Principal;
use crate::refresh::{RefreshToken, TokenDigest};
use crate::store::{LiveSession, Revoke, Rotation};

/// What failed sign-ins are counted under: the normalised email, or for text that is no email,
/// the trimmed, lower-cased text (bounded), so unknown emails are throttled the same way.
fn throttle_key(typed: &str, parsed: Option<&Email>) -> String {
    match parsed {
        Some(e) => e.as_str().to_owned(),
        None => typed
            .trim()
            .to_lowercase()
            .chars()
            .take(Email::MAX_LEN)
            .collect(),
    }
}

/// Longer presented refresh tokens cannot be ours; refusing them early saves a hash and a query.
const MAX_REFRESH_TOKEN_LEN: usize = 256;

impl Adam {
    /// Signs a user in with email and password and opens a session.
    ///
    /// Unknown email, wrong password, inactive user and inactive dealership all answer
    /// [`Error::InvalidCredentials`], after the same argon2 work, so neither the answer nor its
    /// timing tells which. A stored hash weaker than the current cost is replaced. After
    /// [`crate::settings::LoginThrottle::max_failures`] failures for one email within the window,
    /// every attempt for it is [`Error::TooManyAttempts`] until the oldest failure ages out.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, email: &str, password: &str) -> Result<TokenPair> {
        let parsed = Email::parse(email).ok();
        let throttle_key = throttle_key(email, parsed.as_ref());
        let now = Utc::now();
        let throttle = self.settings.login_throttle;
        let (failures, oldest) = self
            .store
            .login_failures(&throttle_key, now - throttle.window)
            .await?;
        if failures >= u64::from(throttle.max_failures) {
            let free_at = oldest.unwrap_or(now) + throttle.window;
            let retry_after_secs = u64::try_from((free_at - now).num_seconds())
                .unwrap_or(0)
                .max(1);
            return Err(Error::TooManyAttempts { retry_after_secs });
        }
        let creds = match &parsed {
            Some(email) => self.store.credentials(email).await?,
            None => None,
        };
        let verified = self
            .hasher
            .verify(password, creds.as_ref().map(|c| c.password_hash.as_str()))
            .await?;
        let Some(creds) = creds.filter(|c| verified.matches && c.may_sign_in) else {
            self.store.record_login_failure(&throttle_key, now).await?;
            return Err(Error::InvalidCredentials);
        };
        if failures > 0 {
            self.store.clear_login_failures(&throttle_key).await?;
        }
        if verified.needs_rehash {
            match self.hasher.hash_str(password).await {
                Ok(hash) => {
                    if let Err(e) = self.store.set_password_hash(creds.user_id, &hash).await {
                        tracing::warn!(error = %e, "could not store re-hashed password");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not re-hash password"),
            }
        }
        let session = crate::ids::SessionId::new();
        let refresh = RefreshToken::generate();
        self.store
            .create_session(
                session,
                creds.user_id,
                &refresh.digest(),
                now + self.settings.refresh_token_ttl,
                now,
            )
            .await?;
        let live = LiveSession {
            session_id: session,
            user_id: creds.user_id,
            role: creds.role,
            dealership_id: creds.dealership_id,
        };
        self.pair(live, refresh)
    }

    /// Exchanges a refresh token for a new pair. The presented token is spent; presenting a spent
    /// token again revokes its whole session. Every failure is [`Error::Unauthorized`].
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        if refresh_token.is_empty() || refresh_token.len() > MAX_REFRESH_TOKEN_LEN {
            return Err(Error::unauthorized("invalid refresh token"));
        }
        let now = Utc::now();
        let next = RefreshToken::generate();
        let outcome = self
            .store
            .rotate_refresh(
                &TokenDigest::of(refresh_token),
                &next.digest(),
                now + self.settings.refresh_token_ttl,
                now,
            )
            .await?;
        match outcome {
            Rotation::Rotated(live) => self.pair(live, next),
            Rotation::Reused => {
                tracing::warn!("spent refresh token presented again; session revoked");
                Err(Error::unauthorized(
                    "refresh token already used; session revoked",
                ))
            }
            Rotation::Rejected => Err(Error::unauthorized("invalid refresh token")),
        }
    }

    /// Revokes the session of `refresh_token`. Unknown tokens are not an error.
    #[tracing::instrument(skip_all)]
    pub async fn logout(&self, refresh_token: &str) -> Result<()> {
        if refresh_token.len() > MAX_REFRESH_TOKEN_LEN {
            return Ok(());
        }
        self.store
            .revoke_by_refresh(&TokenDigest::of(refresh_token), Utc::now())
            .await
    }

    /// Revokes every session of the caller.
    #[tracing::instrument(skip_all, fields(user = %caller.user_id()))]
    pub async fn logout_all(&self, caller: &Principal) -> Result<()> {
        self.store
            .revoke_sessions(caller.user_id(), Revoke::All, Utc::now())
            .await?;
        Ok(())
    }

    /// The full check of an access token: signature and claims, then the session and user as the
    /// database has them now. A token of a revoked session, of an inactive or deleted user, or
    /// issued before a change of role or dealership is [`Error::Unauthorized`].
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal> {
        self.authenticate_user(access_token).await.map(|(p, _)| p)
    }

    /// [`Adam::authenticate`], also returning the caller's profile, read by the same query.
    pub async fn authenticate_user(&self, access_token: &str) -> Result<(Principal, User)> {
        let claims = self.verifier.verify(access_token)?;
        let (live, user) = self
            .store
            .live_session(claims.sid)
            .await?
            .ok_or_else(|| Error::unauthorized("session is no longer valid"))?;
        if live.user_id != claims.sub
            || live.role != claims.role
            || live.dealership_id != claims.dealership_id
        {
            return Err(Error::unauthorized("token is out of date"));
        }
        let principal =
            Principal::new(live.user_id, live.role, live.dealership_id, live.session_id);
        Ok((principal, user))
    }

    /// The caller's own profile.
    pub async fn me(&self, caller: &Principal) -> Result<User> {
        self.store
            .get_user(&caller.user_scope(), caller.user_id())
            .await
            .map_err(|e| match e {
                Error::NotFound => Error::unauthorized("user no longer exists"),
                other => other,
            })
    }

    fn pair(&self, live: LiveSession, refresh: RefreshToken) -> Result<TokenPair> {
        let access_token = self.issuer.issue(
            live.user_id,
            live.role,
            live.dealership_id,
            live.session_id,
            Utc::now(),
        )?;
        Ok(TokenPair {
            access_token,
            refresh_token: refresh,
            expires_in: self.issuer.ttl().num_seconds(),
        })
    }
}
