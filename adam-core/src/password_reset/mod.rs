//! Password reset by mail: a request mails a link to `/reset/{token}`; its page sets a new
//! password, with the second factor where the user has one (a reset never bypasses it).
//!
//! - A request answers the same whether or not the account exists ([`ResetRequested`] is for
//!   the server's log, never for the client). For an active account it voids the user's
//!   earlier links and queues a mail with a new one, good for `PASSWORD_RESET_EXPIRE_MINUTES`.
//! - At most [`PER_ACCOUNT_PER_HOUR`] requests per account and [`PER_ADDRESS_PER_HOUR`] per
//!   client address in an hour send mail; more change nothing (not even the earlier link).
//!   Counting and queuing are one step per account and address for every server.
//! - Opening the link ([`Adam::open_password_reset`]) spends nothing; completing it
//!   ([`Adam::complete_password_reset`]) spends it once, ends every session of the user, proves
//!   the email, and opens one new session.

pub(crate) mod store;

use chrono::Duration;

use crate::audit::events::{Event, UserRef};
use crate::caller::SignInMethod;
use crate::db::Intent;
use crate::email::Email;
use crate::engine::{Adam, TokenPair};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::links::{self, LinkProblem, LinkToken, PASSWORD_RESET_PREFIX};
use crate::mail::{store as outbox, MailContent, MailKind};
use crate::origin::ClientInfo;
use crate::second_factor::codes::take;
use crate::second_factor::store as mfa;
use crate::second_factor::{Against, Attempt, Proof};
use crate::sessions::revocation::{self, Change};
use crate::signin::throttle::store as throttle;
use crate::users::store as users;

/// Requests per account in an hour that send mail.
pub const PER_ACCOUNT_PER_HOUR: u64 = 3;
/// Requests per client address in an hour that send mail.
pub const PER_ADDRESS_PER_HOUR: u64 = 20;

/// What a reset request did: for the server's log only (the client's answer is always the
/// same, so that nobody learns whether an account exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetRequested {
    /// A mail with a new link is queued.
    Queued,
    /// No mail is sent (no `SMTP_URL`): nothing was done.
    MailOff,
    /// Nothing was sent: no such active account, or a limit was reached.
    Nothing,
}

/// An open reset link, as its page shows it.
#[derive(Debug, Clone)]
pub struct ResetLink {
    /// Whose password it resets.
    pub email: Email,
    /// The user has a second factor: the page asks for a code (or a recovery code).
    pub second_factor: bool,
}

impl Adam {
    /// `POST /auth/password-reset`: for an active account with this email, a mail with a link
    /// to set a new password (within the limits). An email that cannot be one is
    /// [`Error::Invalid`]; every other outcome is `Ok` and alike to the client.
    #[tracing::instrument(skip_all)]
    pub async fn request_password_reset(
        &self,
        email: &str,
        origin: &ClientInfo,
    ) -> Result<ResetRequested> {
        let email = Email::parse(email)?;
        if !self.settings.mail_enabled {
            return Ok(ResetRequested::MailOff);
        }
        let now = self.now();
        let address = origin.ip.map(|a| a.to_string()).unwrap_or_default();
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        let Some(creds) = users::credentials(&mut tx, &email).await? else {
            tx.commit().await?;
            return Ok(ResetRequested::Nothing);
        };
        if !creds.may_sign_in {
            tx.commit().await?;
            return Ok(ResetRequested::Nothing);
        }
        store::lock(&mut tx, creds.user_id, &address).await?;
        let (account, from) =
            store::counts(&mut tx, creds.user_id, &address, now - Duration::hours(1)).await?;
        if account >= PER_ACCOUNT_PER_HOUR || from >= PER_ADDRESS_PER_HOUR {
            tx.commit().await?;
            return Ok(ResetRequested::Nothing);
        }
        for mail in store::void_open(&mut tx, creds.user_id, now).await? {
            outbox::cancel(&mut tx, mail, now).await?;
        }
        let user = users::get(&mut tx, creds.user_id).await?;
        let token = LinkToken::generate(PASSWORD_RESET_PREFIX);
        let expires_at = now + self.settings.password_reset_ttl;
        let content = MailContent {
            kind: MailKind::PasswordReset,
            token: token.clone(),
            full_name: user.full_name.clone(),
            expires_at,
            role: None,
            dealership_name: None,
            invited_by: None,
        };
        let mail = self
            .queue_mail(&mut tx, user.email.as_str(), &content, now)
            .await?;
        store::insert(
            &mut tx,
            store::NewReset {
                user: user.id,
                digest: &token.digest(),
                address: &address,
                now,
                expires_at,
                mail,
            },
        )
        .await?;
        tx.record(Event::PasswordResetRequested {
            user: UserRef::from(&user),
        })
        .await?;
        tx.commit().await?;
        Ok(ResetRequested::Queued)
    }

    /// What the page of a reset link shows; opening it spends nothing.
    pub async fn open_password_reset(&self, token: &str) -> Result<ResetLink> {
        let (_, row) = self.reset_of(token).await?;
        Ok(ResetLink {
            email: Email::parse(&row.email)?,
            second_factor: row.totp_secret.is_some(),
        })
    }

    /// Completes a reset: sets `new_password` (the policy applies), after `code` (a TOTP or
    /// recovery code) for a user with a second factor, counted and throttled like a sign-in's.
    /// Spends the link, ends every session of the user, proves the email, records
    /// `password_reset.completed`, and opens a new session. Of concurrent completions of one
    /// link exactly one succeeds; the others are [`Error::LinkUnusable`].
    #[tracing::instrument(skip_all)]
    pub async fn complete_password_reset(
        &self,
        token: &str,
        new_password: &str,
        code: Option<&str>,
        origin: &ClientInfo,
    ) -> Result<TokenPair> {
        let (reset, row) = self.reset_of(token).await?;
        let user = row.user_id();
        let password = self
            .settings
            .password_policy
            .check_field("new_password", new_password.to_owned())?;
        let proof = if row.totp_secret.is_some() {
            let code = code.filter(|c| !c.trim().is_empty()).ok_or_else(|| {
                Error::invalid("code", "is required: this account has a second factor")
            })?;
            match self
                .check_code(
                    &row,
                    user,
                    code,
                    Against::SecondFactor,
                    Attempt::SignIn(origin),
                )
                .await?
            {
                Some((_, proof)) => Some(proof),
                None => {
                    let mut tx = self.begin_system_from(origin, Intent::Write).await?;
                    tx.record(Event::LoginFailed {
                        reason: crate::audit::events::LoginFailure::MfaFailed,
                        check: crate::audit::events::Check::SignIn,
                        user: Some(row.subject()),
                    })
                    .await?;
                    tx.commit().await?;
                    return Err(Error::MfaCodeInvalid);
                }
            }
        } else {
            None
        };
        let hash = self.hasher.hash(&password).await?;
        let now = self.now();
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        if !store::spend(&mut tx, reset, now).await? {
            return Err(Error::LinkUnusable(LinkProblem::Spent));
        }
        if let Some(proof) = &proof {
            if !take(&mut tx, &row, proof).await? {
                return Err(Error::MfaCodeInvalid);
            }
        }
        let change = users::UserChange {
            password_hash: Some(hash),
            must_change_password: Some(false),
            ..users::UserChange::default()
        };
        let after = users::update(&mut tx, user, &change, now, None).await?;
        users::email_proven(&mut tx, user, now).await?;
        revocation::apply(&mut tx, Change::PasswordReset(user), now).await?;
        tx.record(Event::PasswordResetCompleted {
            user: UserRef::from(&after),
        })
        .await?;
        throttle::clear_account(&mut tx, after.email.as_str()).await?;
        let method = proof
            .as_ref()
            .map_or(SignInMethod::Password, Proof::after_password);
        let (live, refresh) = self
            .open_session(&mut tx, user, after.placement, origin, method, now)
            .await?;
        tx.commit().await?;
        self.pair(live, refresh).await
    }

    /// The reset a link's token names and its user (with their second factor), if the link
    /// still works; otherwise why not.
    async fn reset_of(&self, token: &str) -> Result<(uuid::Uuid, mfa::MfaRow)> {
        let digest = links::presented(token, PASSWORD_RESET_PREFIX)
            .ok_or(Error::LinkUnusable(LinkProblem::Unknown))?;
        let now = self.now();
        let mut tx = self.begin_system(Intent::Read).await?;
        let found = store::find(&mut tx, &digest).await?;
        let Some(found) = found else {
            return Err(Error::LinkUnusable(LinkProblem::Unknown));
        };
        let user = UserId::from(found.user_id);
        let row = mfa::get(&mut tx, user).await?;
        tx.commit().await?;
        let problem = if found.used_at.is_some() {
            Some(LinkProblem::Spent)
        } else if found.voided_at.is_some() || !row.may_sign_in {
            Some(LinkProblem::Revoked)
        } else if found.expires_at <= now {
            Some(LinkProblem::Expired)
        } else {
            None
        };
        match problem {
            Some(p) => Err(Error::LinkUnusable(p)),
            None => Ok((found.id, row)),
        }
    }
}
