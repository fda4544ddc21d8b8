//! The second step of a sign-in: a code for an `mfa_token`, or an enrollment where a second
//! factor is required and none is set up.

use chrono::{DateTime, Duration, Utc};

use crate::audit::events::{Check, Event, LoginFailure};
use crate::caller::SignInMethod;
use crate::db::{Intent, Tx};
use crate::engine::Adam;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::origin::ClientInfo;
use crate::rbac::Principal;
use crate::second_factor::codes::{pending_of, take};
use crate::second_factor::store::{self as mfa, Challenge, MfaRow, Purpose};
use crate::second_factor::{
    Against, Attempt, ChallengeUse, Enrolled, MfaToken, Proof, SecondFactors, SignIn,
    TotpEnrollment, MAX_MFA_TOKEN_LEN, MFA_TOKEN_TTL_SECONDS,
};
use crate::sessions::refresh::TokenDigest;
use crate::signin::throttle::store as throttle;
use crate::users::store as users;

impl Adam {
    /// The second step of a sign-in: `code` (six digits, or a recovery code) for the user of
    /// `mfa_token`. A wrong or replayed code is [`Error::MfaCodeInvalid`] (the token lives on,
    /// until its fifth wrong code); a spent, expired or unknown token is
    /// [`Error::MfaTokenInvalid`]. Success spends the token and opens a session with
    /// `amr: ["pwd", "otp"]` ([`SignIn::Tokens`]), or, for a user whose password was set by
    /// someone else, asks for a new one first ([`SignIn::PasswordChangeRequired`]).
    #[tracing::instrument(skip_all)]
    pub async fn sign_in_with_code(
        &self,
        mfa_token: &str,
        code: &str,
        origin: &ClientInfo,
    ) -> Result<SignIn> {
        let (digest, challenge, row) = self
            .challenge(mfa_token, |p| p == Purpose::Verify, ChallengeUse::CheckCode)
            .await?;
        let user = challenge.user;
        let Some((_, proof)) = self
            .check_code(
                &row,
                user,
                code,
                Against::SecondFactor,
                Attempt::SignIn(origin),
            )
            .await?
        else {
            self.fail_challenge(&digest, &row, origin).await?;
            return Err(Error::MfaCodeInvalid);
        };
        let now = self.now();
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        if !take(&mut tx, &row, &proof).await? {
            drop(tx);
            self.fail_challenge(&digest, &row, origin).await?;
            return Err(Error::MfaCodeInvalid);
        }
        if !mfa::spend_challenge(&mut tx, &digest, now).await? {
            return Err(Error::MfaTokenInvalid);
        }
        let method = proof.after_password();
        self.complete_sign_in(tx, &row, user, origin, method, now)
            .await
    }

    /// For a user who must have a second factor and has none, with the `mfa_token` of their
    /// sign-in: starts (or restarts) the enrollment. Confirm it with
    /// [`Adam::confirm_enrollment_at_sign_in`].
    #[tracing::instrument(skip_all)]
    pub async fn enroll_at_sign_in(&self, mfa_token: &str) -> Result<TotpEnrollment> {
        let (_, challenge, row) = self
            .challenge(mfa_token, |p| p == Purpose::Enroll, ChallengeUse::Read)
            .await?;
        if row.totp_secret.is_some() {
            return Err(Error::MfaTokenInvalid);
        }
        let mut tx = self.begin_system(Intent::Write).await?;
        let enrollment = self.pend(&mut tx, challenge.user, &row.email).await?;
        tx.commit().await?;
        Ok(enrollment)
    }

    /// Completes the sign-in of a user who had to enroll: the first code of the pending
    /// enrollment turns TOTP on, spends the token and opens a session (`amr: ["pwd", "otp"]`);
    /// the answer also holds the recovery codes, shown this once. Wrong codes are
    /// [`Error::MfaCodeInvalid`] (five spend the token); no enrollment started is
    /// [`Error::Conflict`].
    #[tracing::instrument(skip_all)]
    pub async fn confirm_enrollment_at_sign_in(
        &self,
        mfa_token: &str,
        code: &str,
        origin: &ClientInfo,
    ) -> Result<Enrolled> {
        let (digest, challenge, row) = self
            .challenge(mfa_token, |p| p == Purpose::Enroll, ChallengeUse::CheckCode)
            .await?;
        let user = challenge.user;
        let pending = pending_of(&row)?;
        let step = match self
            .check_code(&row, user, code, Against::Pending, Attempt::SignIn(origin))
            .await?
        {
            Some((_, Proof::Totp(step))) => step,
            _ => {
                self.fail_challenge(&digest, &row, origin).await?;
                return Err(Error::MfaCodeInvalid);
            }
        };
        let (codes, stored) = self.new_recovery_codes().await?;
        let now = self.now();
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        if !mfa::spend_challenge(&mut tx, &digest, now).await? {
            return Err(Error::MfaTokenInvalid);
        }
        if !mfa::enable(&mut tx, user, &pending, step, &stored).await? {
            return Err(Error::MfaTokenInvalid);
        }
        tx.record(Event::MfaEnrolled {
            user: row.subject(),
        })
        .await?;
        Ok(Enrolled {
            signed_in: self
                .complete_sign_in(tx, &row, user, origin, SignInMethod::Totp, now)
                .await?,
            recovery_codes: codes,
        })
    }
}

/// Internals of the second step of a sign-in.
impl Adam {
    /// Whether the user of `row` must sign in with a second factor.
    pub(crate) fn mfa_required(&self, row: &MfaRow) -> Result<bool> {
        Ok(row
            .placement()?
            .must_use_second_factor(&self.settings.mfa_required_roles, row.dealership_requires))
    }

    /// After a right password (`creds`, as the sign-in read them): the second step the user
    /// needs, if any, as a new challenge in `tx` (the engine's scope).
    pub(crate) async fn second_step(
        &self,
        tx: &mut Tx,
        creds: &users::Credentials,
        now: DateTime<Utc>,
    ) -> Result<Option<SignIn>> {
        let user = creds.user_id;
        let methods = SecondFactors {
            totp: creds.totp_on,
            passkey: creds.has_passkey,
        };
        let purpose = if creds.totp_on || creds.has_passkey {
            Purpose::Verify
        } else if creds
            .placement
            .must_use_second_factor(&self.settings.mfa_required_roles, creds.dealership_requires)
        {
            Purpose::Enroll
        } else {
            return Ok(None);
        };
        let token = open_challenge(tx, Challenge { user, purpose }, now).await?;
        Ok(Some(if purpose == Purpose::Verify {
            SignIn::CodeRequired(token, methods)
        } else {
            SignIn::EnrollmentRequired(token)
        }))
    }

    /// Gives back the throttle reservation of a code that was right and taken, after the unit of
    /// work that took it committed (the throttle's rows belong to the engine's scope, so this is
    /// a unit of work of its own).
    pub(crate) async fn release(&self, reserved: throttle::Reservation) -> Result<()> {
        let mut tx = self.begin_system(Intent::Write).await?;
        throttle::release(&mut tx, reserved).await?;
        tx.commit().await
    }

    /// Completes a sign-in whose second factor was just taken in `tx`: clears the account's
    /// failures (this attempt's reservation too), opens the session (`amr`: `["pwd", "otp"]` or,
    /// after a passkey, `["pwd", K, "mfa"]`),
    /// commits, and answers its tokens; or, for a user whose password was set by someone else,
    /// asks for a new one instead of opening the session.
    pub(crate) async fn complete_sign_in(
        &self,
        mut tx: Tx,
        row: &MfaRow,
        user: UserId,
        origin: &ClientInfo,
        method: SignInMethod,
        now: DateTime<Utc>,
    ) -> Result<SignIn> {
        throttle::clear_account(&mut tx, &row.email).await?;
        if row.must_change_password {
            let token = self
                .require_new_password(&mut tx, user, method, now)
                .await?;
            tx.commit().await?;
            return Ok(SignIn::PasswordChangeRequired(token));
        }
        let (live, refresh) = self
            .open_session(&mut tx, user, row.placement()?, origin, method, now)
            .await?;
        tx.commit().await?;
        Ok(SignIn::Tokens(self.pair(live, refresh).await?))
    }

    /// The caller's own second factor, read in their scope.
    pub(crate) async fn mfa_row_for(&self, caller: &Principal) -> Result<MfaRow> {
        let mut tx = self.begin_for(caller, Intent::Read).await?;
        let row = mfa::get(&mut tx, caller.user_id()).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The live challenge of `mfa_token` for `purpose`, with its user's second factor (a user who
    /// can no longer sign in has none), or [`Error::MfaTokenInvalid`]. With
    /// [`ChallengeUse::CheckCode`], one of the challenge's code checks is reserved first
    /// (committed before the code is looked at), so that concurrent guesses on one token get no
    /// more checks than one after another.
    pub(crate) async fn challenge(
        &self,
        mfa_token: &str,
        accepts: impl Fn(Purpose) -> bool,
        check: ChallengeUse,
    ) -> Result<(TokenDigest, Challenge, MfaRow)> {
        if mfa_token.is_empty() || mfa_token.len() > MAX_MFA_TOKEN_LEN {
            return Err(Error::MfaTokenInvalid);
        }
        let digest = TokenDigest::of(mfa_token);
        let now = self.now();
        let intent = match check {
            ChallengeUse::Read => Intent::Read,
            ChallengeUse::CheckCode => Intent::Write,
        };
        let mut tx = self.begin_system(intent).await?;
        let found = match check {
            ChallengeUse::Read => mfa::challenge(&mut tx, &digest, now).await?,
            ChallengeUse::CheckCode => mfa::reserve_check(&mut tx, &digest, now).await?,
        };
        let challenge = found
            .filter(|c| accepts(c.purpose))
            .ok_or(Error::MfaTokenInvalid)?;
        let row = mfa::get(&mut tx, challenge.user).await?;
        tx.commit().await?;
        if !row.may_sign_in {
            return Err(Error::MfaTokenInvalid);
        }
        Ok((digest, challenge, row))
    }

    /// After a wrong code against a challenge (counted when its check was reserved): the fifth
    /// spends it; records the failure.
    pub(crate) async fn fail_challenge(
        &self,
        digest: &TokenDigest,
        row: &MfaRow,
        origin: &ClientInfo,
    ) -> Result<()> {
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        mfa::fail_challenge(&mut tx, digest).await?;
        tx.record(Event::LoginFailed {
            reason: LoginFailure::MfaFailed,
            check: Check::SignIn,
            user: Some(row.subject()),
        })
        .await?;
        tx.commit().await
    }
}

/// Stores a new challenge of a sign-in step in `tx` (the engine's scope), good for
/// [`MFA_TOKEN_TTL_SECONDS`], and answers its token (only the token's digest is stored).
pub(crate) async fn open_challenge(
    tx: &mut Tx,
    challenge: Challenge,
    now: DateTime<Utc>,
) -> Result<MfaToken> {
    let token = MfaToken::generate();
    let expires = now + Duration::seconds(MFA_TOKEN_TTL_SECONDS);
    mfa::create_challenge(
        tx,
        &TokenDigest::of(token.expose()),
        challenge,
        now,
        expires,
    )
    .await?;
    Ok(token)
}
