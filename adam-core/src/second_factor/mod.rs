//! The second factor: TOTP enrollment and removal on one's profile, recovery codes, the reset
//! of a lost phone, and the second step of a sign-in.
//!
//! Every code is checked the same way ([`crate::Adam::check_code`]): the attempt is reserved against
//! the sign-in throttle first (a wrong code is a failure for the account and client address),
//! the code is compared outside any transaction (a recovery code costs an argon2 check), and the
//! code is then *taken* by a conditional write in the unit of work that acts on it: a TOTP time
//! step later than the last one accepted, or a recovery code still unused. Of concurrent
//! requests with one code, exactly one takes it.

pub(crate) mod codes;
mod enrollment;
mod recovery;
pub(crate) mod second_step;
pub(crate) mod store;
pub(crate) mod totp;

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::caller::SignInMethod;
use crate::engine::TokenPair;
use crate::error::{Error, Result};
use crate::origin::ClientInfo;
use crate::rbac::Principal;

/// How long an `mfa_token` lives.
pub const MFA_TOKEN_TTL_SECONDS: i64 = 300;
/// Prefix of every `mfa_token`, so that people and secret scanners can recognise one.
pub const MFA_TOKEN_PREFIX: &str = "adam_mfa_";
/// Longest code text considered (a recovery code with dashes and spaces is 14).
pub(crate) const MAX_CODE_LEN: usize = 64;
/// Longest `mfa_token` text considered (ours are 52).
pub(crate) const MAX_MFA_TOKEN_LEN: usize = 128;

/// The second step of a sign-in: opaque, 256 random bits, stored only as its SHA-256, bound to
/// the user whose password was just checked. It is no bearer token: no route but the second
/// step's takes it. Its `Debug` never shows it.
#[derive(Clone)]
pub struct MfaToken(String);

impl MfaToken {
    pub(crate) fn generate() -> Self {
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
    /// The user has a second factor: send a code with this token to
    /// [`crate::Adam::sign_in_with_code`], or, where [`SecondFactors::passkey`], answer a passkey
    /// ceremony ([`crate::Adam::start_passkey_second_step`]).
    CodeRequired(MfaToken, SecondFactors),
    /// The user must have a second factor and has none: enroll with this token
    /// ([`crate::Adam::enroll_at_sign_in`], [`crate::Adam::confirm_enrollment_at_sign_in`]).
    EnrollmentRequired(MfaToken),
    /// The password (and second factor, where one is needed) were right, but the password was
    /// set by someone else: choose a new one with this token
    /// ([`crate::Adam::change_password_at_sign_in`]; five minutes, five refused passwords).
    PasswordChangeRequired(MfaToken),
}

impl SignIn {
    /// The tokens, or [`Error::SecondFactorRequired`] when a second step is needed, or
    /// [`Error::PasswordChangeRequired`].
    pub fn into_tokens(self) -> Result<TokenPair> {
        match self {
            Self::Tokens(pair) => Ok(pair),
            Self::CodeRequired(..) | Self::EnrollmentRequired(_) => {
                Err(Error::SecondFactorRequired)
            }
            Self::PasswordChangeRequired(_) => Err(Error::PasswordChangeRequired),
        }
    }
}

/// Which second factors a user has, for the step after their password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondFactors {
    /// TOTP (and with it recovery codes).
    pub totp: bool,
    /// At least one passkey.
    pub passkey: bool,
}

impl SecondFactors {
    /// The contract's names of the methods (`mfa_methods`): `totp` and `recovery_code` with
    /// TOTP, `passkey` with a passkey.
    pub fn names(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.totp {
            names.extend(["totp", "recovery_code"]);
        }
        if self.passkey {
            names.push("passkey");
        }
        names
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
    /// The session's tokens (`amr: ["pwd", "otp"]`), or, for a user whose password was set by
    /// someone else, [`SignIn::PasswordChangeRequired`].
    pub signed_in: SignIn,
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
pub(crate) enum Proof {
    /// A TOTP code for this time step.
    Totp(i64),
    /// A recovery code: the stored codes before, and after spending it.
    Recovery { before: String, after: String },
}

impl Proof {
    /// The method of a sign-in whose password this code followed.
    pub(crate) fn after_password(&self) -> SignInMethod {
        match self {
            Self::Totp(_) => SignInMethod::Totp,
            Self::Recovery { .. } => SignInMethod::RecoveryCode,
        }
    }
}

/// Which secret a code is checked against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Against {
    /// The user's TOTP, or one of their recovery codes.
    SecondFactor,
    /// The TOTP of the pending enrollment only.
    Pending,
}

/// What a use of an `mfa_token` does to its challenge.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChallengeUse {
    /// Reads it (starting an enrollment).
    Read,
    /// Reserves one of its code checks.
    CheckCode,
}

/// Who tries a code: a signed-in caller (turning TOTP off, new recovery codes, confirming an
/// enrollment), or someone in the middle of signing in, from where.
#[derive(Clone, Copy)]
pub(crate) enum Attempt<'a> {
    /// A signed-in caller.
    By(&'a Principal),
    /// Someone signing in, from this client.
    SignIn(&'a ClientInfo),
}
