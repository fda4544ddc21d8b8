//! Sign-in, refresh, sign-out and authentication of access tokens.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::{Adam, ClientInfo, SignIn, TokenPair};
use crate::caller::Amr;
use crate::db::sessions::{self, LiveSession, Spend};
use crate::db::users::Credentials;
use crate::db::{throttle, users, Intent, Tx};
use crate::email::Email;
use crate::error::{Error, Result};
use crate::events::{Check, Event, LoginFailure, ThrottleKey, UserRef};
use crate::ids::{SessionId, UserId};
use crate::models::User;
use crate::placement::Placement;
use crate::rbac::Principal;
use crate::refresh::{RefreshToken, TokenDigest};
use crate::revocation::{self, Change};
use crate::settings::LoginThrottle;
use crate::tokens::AccessClaims;

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

/// Counts and reserves one password check for `account` from `address` in `tx`, under the
/// throttle's locks (which hold until `tx` ends), and hands `tx` back to go on. Past a limit,
/// commits `tx` with the refusal recorded as `refused(key)` when it is the first of its key's
/// lockout (of a throttled burst, one event per key and lockout) and answers
/// [`Error::TooManyAttempts`]. The one way every check (sign-in, `current_password`, codes)
/// is throttled.
pub(super) async fn reserve_password_check(
    mut tx: Tx,
    limits: &LoginThrottle,
    account: &str,
    address: &str,
    now: DateTime<Utc>,
    refused: impl FnOnce(ThrottleKey) -> Event,
) -> Result<(Tx, throttle::Reservation)> {
    throttle::lock(&mut tx, account, address).await?;
    let counts = throttle::counts(&mut tx, account, address, now - limits.window).await?;
    if let Err(refusal) = crate::throttle::admit(limits, &counts, now) {
        let key = match refusal.key {
            ThrottleKey::AccountAndAddress => format!("pair {address} {account}"),
            ThrottleKey::Account => format!("account {account}"),
            ThrottleKey::Address => format!("address {address}"),
        };
        if throttle::note_refusal(&mut tx, &key, refusal.free_at, now).await? {
            tx.record(refused(refusal.key)).await?;
        }
        tx.commit().await?;
        return Err(refusal.error(now));
    }
    let reserved = throttle::reserve(&mut tx, account, address, now).await?;
    Ok((tx, reserved))
}

/// Longest email text a sign-in considers.
const MAX_TYPED_EMAIL: usize = 320;

/// Longer presented refresh tokens cannot be ours; refusing them early saves a hash and a query.
const MAX_REFRESH_TOKEN_LEN: usize = 256;

impl Adam {
    /// Signs a user in with email and password and opens a session; no client address (see
    /// [`Adam::login_from`]).
    pub async fn login(&self, email: &str, password: &str) -> Result<TokenPair> {
        self.login_from(email, password, None).await
    }

    /// Signs a user in with email and password, from `client` (the address the server saw, after
    /// trusted proxies), and opens a session.
    ///
    /// Unknown email, wrong password, inactive user and inactive dealership all answer
    /// [`Error::InvalidCredentials`], after the same argon2 work, so neither the answer nor its
    /// timing tells which. A stored hash weaker than the current cost is replaced. The attempt is
    /// counted as a failure *before* the password is checked (and forgotten if it succeeds), so
    /// that of any number of simultaneous attempts at most the throttle's limit reach argon2;
    /// past a limit ([`crate::settings::LoginThrottle`]) the answer is
    /// [`Error::TooManyAttempts`].
    #[tracing::instrument(skip_all)]
    pub async fn login_from(
        &self,
        email: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<TokenPair> {
        let origin = ClientInfo {
            ip: client,
            user_agent: None,
        };
        self.login_with(email, password, &origin).await
    }

    /// [`Adam::login_from`] with the user agent as well, which the user's list of sessions
    /// shows (cut to [`ClientInfo::MAX_USER_AGENT`] characters). A user who needs a second step
    /// gets [`Error::SecondFactorRequired`]: [`Adam::sign_in`] hands over its `mfa_token`.
    pub async fn login_with(
        &self,
        email: &str,
        password: &str,
        origin: &ClientInfo,
    ) -> Result<TokenPair> {
        self.sign_in(email, password, origin).await?.into_tokens()
    }

    /// Signs a user in with email and password from `origin`: the tokens, or, for a user with a
    /// second factor (or one who must enroll), the `mfa_token` of the second step
    /// ([`SignIn`]). A right password does not clear the account's throttled failures until
    /// the second step is done.
    ///
    /// Unknown email, wrong password, inactive user and inactive dealership all answer
    /// [`Error::InvalidCredentials`], after the same argon2 work. The attempt is counted as a
    /// failure *before* the password is checked (and forgotten if it succeeds), so that of any
    /// number of simultaneous attempts at most the throttle's limit reach argon2; past a limit
    /// the answer is [`Error::TooManyAttempts`].
    #[tracing::instrument(skip_all)]
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        origin: &ClientInfo,
    ) -> Result<SignIn> {
        let client = origin.ip;
        // No account has a NUL in its email or password; refusing them keeps them out of the
        // throttle's keys (PostgreSQL text cannot hold NUL).
        for (field, text) in [("email", email), ("password", password)] {
            if text.contains('\0') {
                return Err(Error::invalid(field, "must not contain NUL characters"));
            }
        }
        if email.chars().count() > MAX_TYPED_EMAIL {
            return Err(Error::invalid("email", "is longer than 254 characters"));
        }
        let parsed = Email::parse(email).ok();
        let account = throttle_key(email, parsed.as_ref());
        let address = client.map(|a| a.to_string()).unwrap_or_default();
        let now = self.now();
        let limits = self.settings.login_throttle;

        // Count and reserve, one attempt at a time per account and per address: the reservation
        // is this attempt's failure until the password proves otherwise.
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        let creds = match &parsed {
            Some(email) => users::credentials(&mut tx, email).await?,
            None => None,
        };
        let subject = creds.as_ref().map(Credentials::user_ref);
        let failed = |reason| Event::LoginFailed {
            reason,
            check: Check::SignIn,
            user: subject,
        };
        let (tx, reserved) = reserve_password_check(tx, &limits, &account, &address, now, |k| {
            failed(LoginFailure::Throttled(k))
        })
        .await?;
        tx.commit().await?;

        // The password check runs outside any transaction: no connection or lock is held while
        // argon2 works.
        let verified = self
            .hasher
            .verify(password, creds.as_ref().map(|c| c.password_hash.as_str()))
            .await?;
        let Some(creds) = creds.filter(|c| verified.matches && c.may_sign_in) else {
            // The reservation stays: it is this failure.
            let mut tx = self.begin_system_from(origin, Intent::Write).await?;
            tx.record(failed(LoginFailure::BadCredentials)).await?;
            tx.commit().await?;
            return Err(Error::InvalidCredentials);
        };
        let rehashed = if verified.needs_rehash {
            match self.hasher.hash_str(password).await {
                Ok(hash) => Some(hash),
                Err(e) => {
                    tracing::warn!(error = %e, "could not re-hash password");
                    None
                }
            }
        } else {
            None
        };

        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        if let Some(hash) = rehashed {
            let change = users::UserChange {
                password_hash: Some(hash),
                ..users::UserChange::default()
            };
            users::update(&mut tx, creds.user_id, &change, now, None).await?;
        }
        if let Some(second) = self.second_step(&mut tx, &creds, now).await? {
            // The password was right: this attempt is no failure, but the account's earlier
            // failures stay until the second step is done.
            throttle::release(&mut tx, reserved).await?;
            tx.commit().await?;
            return Ok(second);
        }
        throttle::clear_account(&mut tx, &account).await?;
        let (live, refresh) = self
            .open_session(
                &mut tx,
                creds.user_id,
                creds.placement,
                origin,
                Amr::Password,
                now,
            )
            .await?;
        tx.commit().await?;
        Ok(SignIn::Tokens(self.pair(live, refresh).await?))
    }

    /// Opens a session for a completed sign-in in `tx`, with its first refresh token, and
    /// records the sign-in.
    pub(super) async fn open_session(
        &self,
        tx: &mut Tx,
        user: UserId,
        placement: Placement,
        origin: &ClientInfo,
        amr: Amr,
        now: DateTime<Utc>,
    ) -> Result<(LiveSession, RefreshToken)> {
        let ends_at = now + self.settings.session_max;
        let live = LiveSession {
            session_id: SessionId::new(),
            user_id: user,
            placement,
            ends_at: Some(ends_at),
            amr,
        };
        let refresh = RefreshToken::generate();
        sessions::create(
            tx,
            live.session_id,
            &live,
            &sessions::Origin {
                ip: origin.ip.map(|a| a.to_string()),
                user_agent: origin.user_agent(),
                amr,
            },
            &refresh.digest(),
            (now + self.settings.refresh_token_ttl).min(ends_at),
            now,
        )
        .await?;
        tx.record(Event::LoginSucceeded {
            user: UserRef::placed(live.user_id, live.placement),
            session: live.session_id,
        })
        .await?;
        Ok((live, refresh))
    }

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
        let rejected = || Error::unauthorized("invalid refresh token");
        if refresh_token.is_empty() || refresh_token.len() > MAX_REFRESH_TOKEN_LEN {
            return Err(rejected());
        }
        let now = self.now();
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        match sessions::spend(&mut tx, &TokenDigest::of(refresh_token), now).await? {
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
            } => {
                let rule = sessions::LiveRule {
                    now,
                    ..self.live_rule()
                };
                let live = if expires_at > now {
                    sessions::live(&mut tx, session, &rule).await?
                } else {
                    None
                };
                let Some((live, _)) = live else {
                    // The token stays spent: an expired or dead session's token is no use again.
                    tx.commit().await?;
                    return Err(rejected());
                };
                let next = RefreshToken::generate();
                sessions::touch(&mut tx, session, now).await?;
                sessions::add_refresh_token(
                    &mut tx,
                    session,
                    live.placement,
                    &next.digest(),
                    live.ends_at
                        .map_or(now + self.settings.refresh_token_ttl, |end| {
                            (now + self.settings.refresh_token_ttl).min(end)
                        }),
                    now,
                )
                .await?;
                tx.commit().await?;
                self.pair(live, next).await
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
    pub(super) async fn check_session(&self, claims: &AccessClaims) -> Result<(Principal, User)> {
        let found = sessions::live_now(&self.db, claims.sid, &self.live_rule()).await?;
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

    /// A token pair for `live`, the access token signed with the current key, saying how the
    /// session signed in (`amr`).
    pub(super) async fn pair(&self, live: LiveSession, refresh: RefreshToken) -> Result<TokenPair> {
        let keys = self.keys.get().await?;
        let now = self.now();
        let mut claims =
            self.issuer
                .claims(live.user_id, live.placement, live.session_id, live.amr, now);
        // No access token outlives its session.
        if let Some(end) = live.ends_at {
            claims.exp = claims.exp.min(end.timestamp());
        }
        let access_token = keys.signer().sign(&claims)?;
        Ok(TokenPair {
            access_token,
            refresh_token: refresh,
            expires_in: (claims.exp - now.timestamp()).max(0),
        })
    }
}
