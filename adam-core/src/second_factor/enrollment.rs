//! A user's own second factor: its status, turning TOTP on and off, new recovery codes, and
//! the reset of a lost phone by an admin or principal.

use crate::audit::events::{Event, UserRef};
use crate::db::Intent;
use crate::engine::Adam;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::rbac::{self, Principal};
use crate::second_factor::codes::{no_nul, pending_of, take, totp_is_off, totp_is_on, wrong_code};
use crate::second_factor::store::{self as mfa};
use crate::second_factor::{
    recovery, Against, Attempt, MfaStatus, Proof, RecoveryCodes, TotpEnrollment,
};
use crate::sessions::revocation::{self, Change};
use crate::users::store as users;

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
        if self.mfa_required(&row)? && !row.has_passkey {
            return Err(Error::forbidden(
                "a second factor is required for this account and it has no passkey; TOTP \
                 cannot be turned off",
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

    /// Removes a user's TOTP, recovery codes and passkeys and ends their sessions (a lost phone
    /// or key): system admins for anyone but themselves, dealer principals for their dealership's users but
    /// themselves ([`rbac::authorize_reset_mfa`]). A user who must have a second factor enrolls
    /// again at their next sign-in.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id(), user = %id))]
    pub async fn reset_mfa(&self, caller: &Principal, id: UserId) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        let target = users::get(&mut tx, id).await?;
        rbac::authorize_reset_mfa(caller, &target)?;
        mfa::remove(&mut tx, id).await?;
        crate::passkeys::store::delete_all(&mut tx, id).await?;
        revocation::apply(&mut tx, Change::MfaReset(id), now).await?;
        tx.record(Event::MfaReset {
            user: UserRef::from(&target),
        })
        .await?;
        tx.commit().await
    }
}
