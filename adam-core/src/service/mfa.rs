//! The second factor: TOTP enrollment and removal on one's profile, recovery codes, the reset
//! of a lost phone, and the second step of a sign-in.
//!
//! Every code is checked the same way ([`Adam::check_code`]): the attempt is reserved against
//! the sign-in throttle first (a wrong code is a failure for the account and client address),
//! the code is compared outside any transaction (a recovery code costs an argon2 check), and the
//! code is then *taken* by a conditional write in the unit of work that acts on it: a TOTP time
//! step later than the last one accepted, or a recovery code still unused. Of concurrent
//! requests with one code, exactly one takes it.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand_core::{OsRng, RngCore};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::auth::reserve_password_check;
use super::{Adam, ClientInfo, TokenPair};
use crate::caller::Amr;
use crate::db::mfa::{self, Challenge, MfaRow, Purpose};
use crate::db::{throttle, users, Intent, Tx};
use crate::error::{Error, Result};
use crate::events::{Check, Event, LoginFailure, UserRef};
use crate::ids::UserId;
use crate::rbac::{self, Principal};
use crate::recovery::{self, RecoveryCode, StoredCode};
use crate::refresh::TokenDigest;
use crate::revocation::{self, Change};
use crate::secret::Sealer;
use crate::totp::{self, TotpSecret};

/// How long an `mfa_token` lives.
pub const MFA_TOKEN_TTL_SECONDS: i64 = 300;
/// Prefix of every `mfa_token`, so that people and secret scanners can recognise one.
pub const MFA_TOKEN_PREFIX: &str = "adam_mfa_";
/// Longest code text considered (a recovery code with dashes and spaces is 14).
const MAX_CODE_LEN: usize = 64;
/// Longest `mfa_token` text considered (ours are 52).
const MAX_MFA_TOKEN_LEN: usize = 128;

/// The second step of a sign-in: opaque, 256 random bits, stored only as its SHA-256, bound to
/// the user whose password was just checked. It is no bearer token: no route but the second
/// step's takes it. Its `Debug` never shows it.
#[derive(Clone)]
pub struct MfaToken(String);

impl MfaToken {
    fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(format!(
            "{MFA_TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// The token to hand to the client, once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MfaToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MfaToken(<redacted>)")
    }
}

/// What a right password leads to.
#[derive(Debug, Clone)]
pub enum SignIn {
    /// Signed in: no second factor is on or required.
    Tokens(TokenPair),
    /// The user has a second factor: send a code with this token to [`Adam::sign_in_with_code`].
    CodeRequired(MfaToken),
    /// The user must have a second factor and has none: enroll with this token
    /// ([`Adam::enroll_at_sign_in`], [`Adam::confirm_enrollment_at_sign_in`]).
    EnrollmentRequired(MfaToken),
}

impl SignIn {
    /// The tokens, or [`Error::SecondFactorRequired`] when a second step is needed.
    pub fn into_tokens(self) -> Result<TokenPair> {
        match self {
            Self::Tokens(pair) => Ok(pair),
            Self::CodeRequired(_) | Self::EnrollmentRequired(_) => Err(Error::SecondFactorRequired),
        }
    }
}

/// A started enrollment: what an authenticator app needs. Shown to the user, never logged.
#[derive(Clone)]
pub struct TotpEnrollment {
    /// The shared secret in base32 (RFC 4648, no padding), for typing into the app.
    pub secret: Zeroizing<String>,
    /// The `otpauth://totp/…` URI.
    pub otpauth_uri: Zeroizing<String>,
    /// The URI as a QR code (an SVG document).
    pub qr_svg: String,
}

impl fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpEnrollment(<redacted>)")
    }
}

/// Ten new recovery codes, `XXXX-XXXX-XXXX`, shown this once. Never logged.
#[derive(Clone)]
pub struct RecoveryCodes(Vec<String>);

impl RecoveryCodes {
    /// The codes, to show to the user.
    pub fn codes(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes(<{} redacted>)", self.0.len())
    }
}

/// A sign-in completed by enrolling: the tokens and the first recovery codes.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// The session's tokens (`amr: ["pwd", "otp"]`).
    pub tokens: TokenPair,
    /// The recovery codes, shown this once.
    pub recovery_codes: RecoveryCodes,
}

/// A user's second factor as they see it (`GET /auth/mfa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaStatus {
    /// TOTP is on.
    pub totp_enabled: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: usize,
    /// The user must sign in with a second factor (their dealership or role requires it).
    pub required: bool,
}

/// How a code proved the second factor, and what taking it writes.
enum Proof {
    /// A TOTP code for this time step.
    Totp(i64),
    /// A recovery code: the stored codes before, and after spending it.
    Recovery { before: String, after: String },
}

/// Which secret a code is checked against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Against {
    /// The user's TOTP, or one of their recovery codes.
    SecondFactor,
    /// The TOTP of the pending enrollment only.
    Pending,
}

impl Adam {
    /// The caller's second factor.
    pub async fn mfa_status(&self, caller: &Principal) -> Result<MfaStatus> {
        let mut tx = self.begin_for(caller, Intent::Read).await?;
        let row = mfa::get(&mut tx, caller.user_id()).await?;
        tx.commit().await?;
        Ok(MfaStatus {
            totp_enabled: row.totp_secret.is_some(),
            recovery_codes_left: recovery::decode(&row.recovery_codes).len(),
            required: self.mfa_required(&row)?,
        })
    }

    /// Starts (or restarts) the caller's TOTP enrollment after their current password, which
    /// is throttled like a sign-in (wrong: [`Error::Invalid`] naming `current_password`). Nothing
    /// changes for sign-in until [`Adam::confirm_totp_enrollment`]. With TOTP on already,
    /// [`Error::Conflict`] (disable it first).
    #[tracing::instrument(skip_all, fields(user = %caller.user_id()))]
    pub async fn start_totp_enrollment(
        &self,
        caller: &Principal,
        current_password: &str,
    ) -> Result<TotpEnrollment> {
        no_nul("current_password", current_password)?;
        let user = caller.user_id();
        let row = self.mfa_row_for(caller).await?;
        if row.totp_secret.is_some() {
            return Err(totp_is_on());
        }
        self.check_current_password(caller, current_password)
            .await?;
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        let enrollment = self.pend(&mut tx, user, &row.email).await?;
        tx.commit().await?;
        Ok(enrollment)
    }

    /// Confirms the caller's pending enrollment with a first code: TOTP is on from now, and the
    /// answer holds ten recovery codes, shown this once. A wrong code is [`Error::Invalid`]
    /// naming `code` (and a throttled failure); nothing pending is [`Error::Conflict`].
    #[tracing::instrument(skip_all, fields(user = %caller.user_id()))]
    pub async fn confirm_totp_enrollment(
        &self,
        caller: &Principal,
        code: &str,
    ) -> Result<RecoveryCodes> {
        let user = caller.user_id();
        let row = self.mfa_row_for(caller).await?;
        let pending = pending_of(&row)?;
        let (reserved, step) = match self
            .check_code(&row, user, code, Against::Pending, Attempt::By(caller))
            .await?
        {
            Some((reserved, Proof::Totp(step))) => (reserved, step),
            _ => return Err(wrong_code()),
        };
        let (codes, stored) = self.new_recovery_codes().await?;
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        if !mfa::enable(&mut tx, user, &pending, step, &stored).await? {
            return Err(Error::conflict(
                "the enrollment changed meanwhile; start again",
            ));
        }
        tx.record(Event::MfaEnrolled {
            user: row.subject(),
        })
        .await?;
        tx.commit().await?;
        self.release(reserved).await?;
        Ok(codes)
    }

    /// Turns the caller's TOTP off, after their current password and a code (TOTP or recovery),
    /// and ends their other sessions. [`Error::Forbidden`] when the caller must use a second
    /// factor; [`Error::Conflict`] when it is off.
    #[tracing::instrument(skip_all, fields(user = %caller.user_id()))]
    pub async fn disable_totp(
        &self,
        caller: &Principal,
        current_password: &str,
        code: &str,
    ) -> Result<()> {
        no_nul("current_password", current_password)?;
        let user = caller.user_id();
        let row = self.mfa_row_for(caller).await?;
        if self.mfa_required(&row)? {
            return Err(Error::forbidden(
                "a second factor is required for this account; it cannot be turned off",
            ));
        }
        if row.totp_secret.is_none() {
            return Err(totp_is_off());
        }
        self.check_current_password(caller, current_password)
            .await?;
        let Some((reserved, proof)) = self
            .check_code(&row, user, code, Against::SecondFactor, Attempt::By(caller))
            .await?
        else {
            return Err(wrong_code());
        };
        let now = self.now();
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        if !take(&mut tx, &row, &proof).await? {
            return Err(wrong_code());
        }
        mfa::remove(&mut tx, user).await?;
        revocation::apply(&mut tx, Change::MfaDisabled(caller), now).await?;
        tx.record(Event::MfaDisabled {
            user: row.subject(),
        })
        .await?;
        tx.commit().await?;
        self.release(reserved).await
    }

    /// Replaces the caller's recovery codes after a code (TOTP or recovery): the old ones are
    /// void. A wrong code is [`Error::Invalid`] naming `code`; TOTP off is [`Error::Conflict`].
    #[tracing::instrument(skip_all, fields(user = %caller.user_id()))]
    pub async fn regenerate_recovery_codes(
        &self,
        caller: &Principal,
        code: &str,
    ) -> Result<RecoveryCodes> {
        let user = caller.user_id();
        let row = self.mfa_row_for(caller).await?;
        if row.totp_secret.is_none() {
            return Err(totp_is_off());
        }
        let Some((reserved, proof)) = self
            .check_code(&row, user, code, Against::SecondFactor, Attempt::By(caller))
            .await?
        else {
            return Err(wrong_code());
        };
        let (codes, stored) = self.new_recovery_codes().await?;
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        let expected = match &proof {
            Proof::Totp(_) => row.recovery_codes.clone(),
            Proof::Recovery { after, .. } => after.clone(),
        };
        if !take(&mut tx, &row, &proof).await?
            || !mfa::replace_codes(&mut tx, user, &expected, &stored).await?
        {
            return Err(wrong_code());
        }
        tx.record(Event::MfaRecoveryCodesRegenerated {
            user: row.subject(),
        })
        .await?;
        tx.commit().await?;
        self.release(reserved).await?;
        Ok(codes)
    }

    /// Removes a user's TOTP and recovery codes and ends their sessions (a lost phone): system
    /// admins for anyone but themselves, dealer principals for their dealership's users but
    /// themselves ([`rbac::authorize_reset_mfa`]). A user who must have a second factor enrolls
    /// again at their next sign-in.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id(), user = %id))]
    pub async fn reset_mfa(&self, caller: &Principal, id: UserId) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        let target = users::get(&mut tx, id).await?;
        rbac::authorize_reset_mfa(caller, &target)?;
        mfa::remove(&mut tx, id).await?;
        revocation::apply(&mut tx, Change::MfaReset(id), now).await?;
        tx.record(Event::MfaReset {
            user: UserRef::from(&target),
        })
        .await?;
        tx.commit().await
    }

    /// The second step of a sign-in: `code` (six digits, or a recovery code) for the user of
    /// `mfa_token`. A wrong or replayed code is [`Error::MfaCodeInvalid`] (the token lives on,
    /// until its fifth wrong code); a spent, expired or unknown token is
    /// [`Error::MfaTokenInvalid`]. Success spends the token and opens a session with
    /// `amr: ["pwd", "otp"]`.
    #[tracing::instrument(skip_all)]
    pub async fn sign_in_with_code(
        &self,
        mfa_token: &str,
        code: &str,
        origin: &ClientInfo,
    ) -> Result<TokenPair> {
        let (digest, challenge, row) = self
            .challenge(mfa_token, Purpose::Verify, ChallengeUse::CheckCode)
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
        self.complete_sign_in(tx, &row, user, origin, now).await
    }

    /// For a user who must have a second factor and has none, with the `mfa_token` of their
    /// sign-in: starts (or restarts) the enrollment. Confirm it with
    /// [`Adam::confirm_enrollment_at_sign_in`].
    #[tracing::instrument(skip_all)]
    pub async fn enroll_at_sign_in(&self, mfa_token: &str) -> Result<TotpEnrollment> {
        let (_, challenge, row) = self
            .challenge(mfa_token, Purpose::Enroll, ChallengeUse::Read)
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
            .challenge(mfa_token, Purpose::Enroll, ChallengeUse::CheckCode)
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
            tokens: self.complete_sign_in(tx, &row, user, origin, now).await?,
            recovery_codes: codes,
        })
    }
}

/// What a use of an `mfa_token` does to its challenge.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ChallengeUse {
    /// Reads it (starting an enrollment).
    Read,
    /// Reserves one of its code checks.
    CheckCode,
}

/// Who tries a code: a signed-in caller (turning TOTP off, new recovery codes, confirming an
/// enrollment), or someone in the middle of signing in, from where.
#[derive(Clone, Copy)]
enum Attempt<'a> {
    By(&'a Principal),
    SignIn(&'a ClientInfo),
}

/// Internals shared by the use cases above and the sign-in.
impl Adam {
    /// Whether the user of `row` must sign in with a second factor.
    pub(super) fn mfa_required(&self, row: &MfaRow) -> Result<bool> {
        Ok(row
            .placement()?
            .must_use_second_factor(&self.settings.mfa_required_roles, row.dealership_requires))
    }

    /// After a right password (`creds`, as the sign-in read them): the second step the user
    /// needs, if any, as a new challenge in `tx` (the engine's scope).
    pub(super) async fn second_step(
        &self,
        tx: &mut Tx,
        creds: &users::Credentials,
        now: DateTime<Utc>,
    ) -> Result<Option<SignIn>> {
        let user = creds.user_id;
        let purpose = if creds.totp_on {
            Purpose::Verify
        } else if creds
            .placement
            .must_use_second_factor(&self.settings.mfa_required_roles, creds.dealership_requires)
        {
            Purpose::Enroll
        } else {
            return Ok(None);
        };
        let token = MfaToken::generate();
        let expires = now + Duration::seconds(MFA_TOKEN_TTL_SECONDS);
        let challenge = Challenge { user, purpose };
        mfa::create_challenge(
            tx,
            &TokenDigest::of(token.expose()),
            challenge,
            now,
            expires,
        )
        .await?;
        Ok(Some(match purpose {
            Purpose::Verify => SignIn::CodeRequired(token),
            Purpose::Enroll => SignIn::EnrollmentRequired(token),
        }))
    }

    /// Gives back the throttle reservation of a code that was right and taken, after the unit of
    /// work that took it committed (the throttle's rows belong to the engine's scope, so this is
    /// a unit of work of its own).
    async fn release(&self, reserved: throttle::Reservation) -> Result<()> {
        let mut tx = self.begin_system(Intent::Write).await?;
        throttle::release(&mut tx, reserved).await?;
        tx.commit().await
    }

    /// Completes a sign-in whose second factor was just taken in `tx`: clears the account's
    /// failures (this attempt's reservation too), opens the session (`amr: ["pwd", "otp"]`),
    /// commits, and answers its tokens.
    async fn complete_sign_in(
        &self,
        mut tx: Tx,
        row: &MfaRow,
        user: UserId,
        origin: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<TokenPair> {
        throttle::clear_account(&mut tx, &row.email).await?;
        let amr = Amr::PasswordAndOtp;
        let (live, refresh) = self
            .open_session(&mut tx, user, row.placement()?, origin, amr, now)
            .await?;
        tx.commit().await?;
        self.pair(live, refresh).await
    }

    /// The caller's own second factor, read in their scope.
    async fn mfa_row_for(&self, caller: &Principal) -> Result<MfaRow> {
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
    async fn challenge(
        &self,
        mfa_token: &str,
        purpose: Purpose,
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
            .filter(|c| c.purpose == purpose)
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
    async fn fail_challenge(
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

    /// Checks `code` for the user of `row`, throttled like a sign-in from the attempt's client:
    /// the attempt is reserved first (past a limit, [`Error::TooManyAttempts`]) and a wrong code
    /// keeps its reservation. Returns the reservation and how the code proved the factor, both
    /// for the unit of work that takes the code ([`take`]) and then gives the reservation back;
    /// `None` for a wrong code.
    async fn check_code(
        &self,
        row: &MfaRow,
        user: UserId,
        code: &str,
        against: Against,
        attempt: Attempt<'_>,
    ) -> Result<Option<(throttle::Reservation, Proof)>> {
        let now = self.now();
        let limits = self.settings.login_throttle;
        let (tx, check) = match attempt {
            Attempt::By(caller) => (
                self.begin_system_for(caller, Intent::Write).await?,
                Check::Code,
            ),
            Attempt::SignIn(origin) => (
                self.begin_system_from(origin, Intent::Write).await?,
                Check::SignIn,
            ),
        };
        let address = tx.origin.ip.map(|a| a.to_string()).unwrap_or_default();
        let refused = |key| Event::LoginFailed {
            reason: LoginFailure::Throttled(key),
            check,
            user: Some(row.subject()),
        };
        let (tx, reserved) =
            reserve_password_check(tx, &limits, &row.email, &address, now, refused).await?;
        tx.commit().await?;

        let proof = if code.len() > MAX_CODE_LEN || code.contains('\0') {
            None
        } else if totp::looks_like_totp(code) {
            let sealed = match against {
                Against::SecondFactor => row.totp_secret.as_deref(),
                Against::Pending => row.totp_pending.as_deref(),
            };
            match sealed {
                Some(sealed) => self
                    .open_secret(user, sealed)?
                    .matching_step(code.trim(), now.timestamp())
                    .filter(|step| row.totp_last_step.is_none_or(|last| *step > last))
                    .map(Proof::Totp),
                None => None,
            }
        } else if against == Against::SecondFactor {
            self.match_recovery_code(&row.recovery_codes, code).await?
        } else {
            None
        };
        // A wrong code's reservation stays: it is this failure. A sign-in records it with its
        // challenge ([`Adam::fail_challenge`]); a signed-in caller's is recorded here.
        if let (None, Attempt::By(caller)) = (&proof, attempt) {
            let mut tx = self.begin_system_for(caller, Intent::Write).await?;
            tx.record(Event::LoginFailed {
                reason: LoginFailure::MfaFailed,
                check,
                user: Some(row.subject()),
            })
            .await?;
            tx.commit().await?;
        }
        Ok(proof.map(|p| (reserved, p)))
    }

    /// The stored codes after spending the one `typed` is, if it is one of them.
    async fn match_recovery_code(&self, stored: &str, typed: &str) -> Result<Option<Proof>> {
        let Some(code) = RecoveryCode::parse(typed) else {
            return Ok(None);
        };
        let codes = recovery::decode(stored);
        for (i, candidate) in codes.iter().enumerate() {
            if candidate.lookup != code.lookup() {
                continue;
            }
            if self
                .hasher
                .verify(code.expose(), Some(&candidate.hash))
                .await?
                .matches
            {
                let mut rest = codes.clone();
                rest.remove(i);
                return Ok(Some(Proof::Recovery {
                    before: stored.to_owned(),
                    after: recovery::encode(&rest),
                }));
            }
        }
        Ok(None)
    }

    /// Ten new recovery codes, and their stored form (each hashed with argon2id).
    async fn new_recovery_codes(&self) -> Result<(RecoveryCodes, String)> {
        let mut shown = Vec::with_capacity(recovery::COUNT);
        let mut stored = Vec::with_capacity(recovery::COUNT);
        for _ in 0..recovery::COUNT {
            let code = RecoveryCode::generate();
            stored.push(StoredCode {
                lookup: code.lookup().to_owned(),
                hash: self.hasher.hash_str(code.expose()).await?,
            });
            shown.push(code.display());
        }
        Ok((RecoveryCodes(shown), recovery::encode(&stored)))
    }

    /// A new secret, pending for `user` in `tx`, and what the app needs of it.
    async fn pend(&self, tx: &mut Tx, user: UserId, email: &str) -> Result<TotpEnrollment> {
        let secret = TotpSecret::generate();
        let sealed = self.totp.seal(secret.bytes(), user.as_uuid().as_bytes())?;
        if !mfa::set_pending(tx, user, &sealed).await? {
            return Err(totp_is_on());
        }
        let otpauth_uri = totp::otpauth_uri(&secret, email);
        let qr_svg = totp::qr_svg(&otpauth_uri)?;
        Ok(TotpEnrollment {
            secret: secret.base32(),
            otpauth_uri,
            qr_svg,
        })
    }

    /// Opens a sealed TOTP secret of `user`.
    fn open_secret(&self, user: UserId, sealed: &[u8]) -> Result<TotpSecret> {
        self.totp
            .open(sealed, user.as_uuid().as_bytes())
            .map(|o| TotpSecret::from_bytes(&o.plaintext))
            .ok_or_else(|| Error::Internal(format!("the TOTP secret of user {user} does not open")))
    }

    /// Seals again, under the current `SECRET_KEY`, every TOTP secret that only the former one
    /// (`SECRET_KEY_PREVIOUS`) opens; a secret neither opens is [`Error::Config`]. Returns how
    /// many were sealed again. Runs at start, with the signing keys.
    pub(super) async fn reseal_totp_secrets(&self) -> Result<usize> {
        let mut tx = self.begin_system(Intent::Write).await?;
        let rows = mfa::sealed_secrets(&mut tx).await?;
        let mut resealed = 0;
        for (user, secret, pending) in rows {
            for (is_pending, sealed) in [(false, secret), (true, pending)] {
                let Some(sealed) = sealed else { continue };
                if let Some(new) = reseal_one(&self.totp, user, &sealed)? {
                    if mfa::reseal(&mut tx, user, is_pending, &sealed, &new).await? {
                        resealed += 1;
                    }
                }
            }
        }
        tx.commit().await?;
        if resealed > 0 {
            tracing::info!(
                secrets = resealed,
                "sealed TOTP secrets again under the new SECRET_KEY"
            );
        }
        Ok(resealed)
    }
}

/// The value sealed again under the current key when only the former one opens it.
fn reseal_one(sealer: &Sealer, user: Uuid, sealed: &[u8]) -> Result<Option<Vec<u8>>> {
    let opened = sealer.open(sealed, user.as_bytes()).ok_or_else(|| {
        Error::Config(
            "SECRET_KEY does not open the stored TOTP secrets: set SECRET_KEY to the key they \
             were made with, or that one as SECRET_KEY_PREVIOUS"
                .into(),
        )
    })?;
    if opened.by == crate::secret::SealedBy::Previous {
        Ok(Some(sealer.seal(&opened.plaintext, user.as_bytes())?))
    } else {
        Ok(None)
    }
}

/// Takes a checked code in `tx`: false when another request took it first (a replay). A
/// recovery code taken records `mfa.recovery_code_used`, whatever it was typed for (a sign-in,
/// new codes, turning TOTP off).
async fn take(tx: &mut Tx, row: &MfaRow, proof: &Proof) -> Result<bool> {
    let user = row.subject();
    match proof {
        Proof::Totp(step) => mfa::accept_step(tx, user.id, *step).await,
        Proof::Recovery { before, after } => {
            let taken = mfa::replace_codes(tx, user.id, before, after).await?;
            if taken {
                tx.record(Event::MfaRecoveryCodeUsed { user }).await?;
            }
            Ok(taken)
        }
    }
}

/// The sealed pending secret, or [`Error::Conflict`] when no enrollment was started.
fn pending_of(row: &MfaRow) -> Result<Vec<u8>> {
    if row.totp_secret.is_some() {
        return Err(totp_is_on());
    }
    row.totp_pending
        .clone()
        .ok_or_else(|| Error::conflict("no enrollment is pending: start one first"))
}

fn no_nul(field: &'static str, text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(Error::invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}

fn wrong_code() -> Error {
    Error::invalid("code", "is incorrect or was used already")
}

fn totp_is_on() -> Error {
    Error::conflict("the second factor is on already: turn it off first")
}

fn totp_is_off() -> Error {
    Error::conflict("the second factor is not on")
}
