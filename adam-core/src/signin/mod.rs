//! Sign-in with a password: the throttle, the one hash per attempt, and the session it opens (or
//! the second step it asks for). What follows a sign-in is in `crate::sessions`.

mod new_password;
pub(crate) mod throttle;

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::audit::events::{Check, Event, LoginFailure, UserRef};
use crate::caller::SignInMethod;
use crate::db::{Intent, Tx};
use crate::email::Email;
use crate::engine::{Adam, TokenPair};
use crate::error::{Error, Result};
use crate::ids::{SessionId, UserId};
use crate::origin::ClientInfo;
use crate::placement::Placement;
use crate::second_factor::SignIn;
use crate::sessions::refresh::RefreshToken;
use crate::sessions::store::{self as sessions, LiveSession};
use crate::users::store as users;
use crate::users::store::Credentials;

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

/// Longest email text a sign-in considers.
const MAX_TYPED_EMAIL: usize = 320;

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
        let mut tx = self.begin_throttled(origin, None).await?;
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
        let (tx, reserved) =
            throttle::reserve_password_check(tx, &limits, &account, &address, now, |k| {
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
            throttle::store::release(&mut tx, reserved).await?;
            tx.commit().await?;
            return Ok(second);
        }
        throttle::store::clear_account(&mut tx, &account).await?;
        if creds.must_change_password {
            let token = self
                .require_new_password(&mut tx, creds.user_id, SignInMethod::Password, now)
                .await?;
            tx.commit().await?;
            return Ok(SignIn::PasswordChangeRequired(token));
        }
        let (live, refresh) = self
            .open_session(
                &mut tx,
                creds.user_id,
                creds.placement,
                origin,
                SignInMethod::Password,
                now,
            )
            .await?;
        tx.commit().await?;
        Ok(SignIn::Tokens(self.pair(live, refresh).await?))
    }

    /// Opens a session for a sign-in completed by `method` in `tx`, with its first refresh token,
    /// notes the user's `last_sign_in_at`, and records the sign-in.
    pub(crate) async fn open_session(
        &self,
        tx: &mut Tx,
        user: UserId,
        placement: Placement,
        origin: &ClientInfo,
        method: SignInMethod,
        now: DateTime<Utc>,
    ) -> Result<(LiveSession, RefreshToken)> {
        let amr = method.amr();
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
        users::signed_in(tx, user, now).await?;
        tx.record(Event::LoginSucceeded {
            user: UserRef::placed(live.user_id, live.placement),
            session: live.session_id,
            method,
        })
        .await?;
        Ok((live, refresh))
    }

    /// A token pair for `live`, the access token signed with the current key, saying how the
    /// session signed in (`amr`).
    pub(crate) async fn pair(&self, live: LiveSession, refresh: RefreshToken) -> Result<TokenPair> {
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
