//! Checking a code (TOTP or recovery) against the throttle and taking it once, and the sealed
//! secrets behind the codes.

use uuid::Uuid;

use crate::audit::events::{Check, Event, LoginFailure};
use crate::db::{Intent, Tx};
use crate::engine::Adam;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::keys::secret::Sealer;
use crate::second_factor::recovery::{RecoveryCode, StoredCode};
use crate::second_factor::store::{self as mfa, MfaRow};
use crate::second_factor::totp::TotpSecret;
use crate::second_factor::{
    recovery, totp, Against, Attempt, Proof, RecoveryCodes, TotpEnrollment, MAX_CODE_LEN,
};
use crate::signin::throttle::reserve_password_check;
use crate::signin::throttle::store as throttle;

/// Checking and taking codes, and the secrets behind them.
impl Adam {
    /// Checks `code` for the user of `row`, throttled like a sign-in from the attempt's client:
    /// the attempt is reserved first (past a limit, [`Error::TooManyAttempts`]) and a wrong code
    /// keeps its reservation. Returns the reservation and how the code proved the factor, both
    /// for the unit of work that takes the code ([`take`]) and then gives the reservation back;
    /// `None` for a wrong code.
    pub(crate) async fn check_code(
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
                self.begin_throttled(caller.origin(), Some(caller)).await?,
                Check::Code,
            ),
            Attempt::SignIn(origin) => (self.begin_throttled(origin, None).await?, Check::SignIn),
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
    pub(crate) async fn match_recovery_code(
        &self,
        stored: &str,
        typed: &str,
    ) -> Result<Option<Proof>> {
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
    pub(crate) async fn new_recovery_codes(&self) -> Result<(RecoveryCodes, String)> {
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
    pub(crate) async fn pend(
        &self,
        tx: &mut Tx,
        user: UserId,
        email: &str,
    ) -> Result<TotpEnrollment> {
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
    pub(crate) fn open_secret(&self, user: UserId, sealed: &[u8]) -> Result<TotpSecret> {
        self.totp
            .open(sealed, user.as_uuid().as_bytes())
            .map(|o| TotpSecret::from_bytes(&o.plaintext))
            .ok_or_else(|| Error::Internal(format!("the TOTP secret of user {user} does not open")))
    }

    /// Seals again, under the current `SECRET_KEY`, every TOTP secret that only the former one
    /// (`SECRET_KEY_PREVIOUS`) opens; a secret neither opens is [`Error::Config`]. Returns how
    /// many were sealed again. Runs at start, with the signing keys.
    pub(crate) async fn reseal_totp_secrets(&self) -> Result<usize> {
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
pub(crate) fn reseal_one(sealer: &Sealer, user: Uuid, sealed: &[u8]) -> Result<Option<Vec<u8>>> {
    let opened = sealer.open(sealed, user.as_bytes()).ok_or_else(|| {
        Error::Config(
            "SECRET_KEY does not open the stored TOTP secrets: set SECRET_KEY to the key they \
             were made with, or that one as SECRET_KEY_PREVIOUS"
                .into(),
        )
    })?;
    if opened.by == crate::keys::secret::SealedBy::Previous {
        Ok(Some(sealer.seal(&opened.plaintext, user.as_bytes())?))
    } else {
        Ok(None)
    }
}

/// Takes a checked code in `tx`: false when another request took it first (a replay). A
/// recovery code taken records `mfa.recovery_code_used`, whatever it was typed for (a sign-in,
/// new codes, turning TOTP off).
pub(crate) async fn take(tx: &mut Tx, row: &MfaRow, proof: &Proof) -> Result<bool> {
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
pub(crate) fn pending_of(row: &MfaRow) -> Result<Vec<u8>> {
    if row.totp_secret.is_some() {
        return Err(totp_is_on());
    }
    row.totp_pending
        .clone()
        .ok_or_else(|| Error::conflict("no enrollment is pending: start one first"))
}

pub(crate) fn no_nul(field: &'static str, text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(Error::invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}

pub(crate) fn wrong_code() -> Error {
    Error::invalid("code", "is incorrect or was used already")
}

pub(crate) fn totp_is_on() -> Error {
    Error::conflict("the second factor is on already: turn it off first")
}

pub(crate) fn totp_is_off() -> Error {
    Error::conflict("the second factor is not on")
}
