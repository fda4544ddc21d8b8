//! The read-only caller an offline token check yields, for an embedding service's own rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{DealershipId, SessionId, UserId};
use crate::placement::Placement;
use crate::role::Role;

/// How a user signed in: the access token's `amr` claim (RFC 8176).
///
/// An embedding service can demand a second factor for its own sensitive routes with
/// [`Amr::has_second_factor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub enum Amr {
    /// A password only: `["pwd"]`.
    Password,
    /// A password and a one-time code (TOTP or a recovery code): `["pwd", "otp"]`.
    PasswordAndOtp,
    /// A passkey with user verification, alone: `[K, "mfa"]` (a multi-factor sign-in).
    Passkey(KeyKind),
    /// A password, then a passkey as the second step: `["pwd", K, "mfa"]`.
    PasswordAndPasskey(KeyKind),
}

/// Which RFC 8176 key proof a passkey gave (`K` in [`Amr`]): `swk` where the authenticator says
/// the credential may be backed up (a synced passkey), `hwk` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `hwk`: bound to one device.
    Hardware,
    /// `swk`: may be synced to other devices.
    Software,
}

impl KeyKind {
    /// The `amr` value.
    pub fn value(self) -> &'static str {
        match self {
            Self::Hardware => "hwk",
            Self::Software => "swk",
        }
    }

    /// The kind of a credential whose authenticator said it may (`true`) or may not be backed up.
    pub fn of_backup_eligible(backup_eligible: bool) -> Self {
        if backup_eligible {
            Self::Software
        } else {
            Self::Hardware
        }
    }
}

/// How a sign-in was completed: what `login.succeeded` names (`details.method`), and through
/// [`SignInMethod::amr`] what its session's `amr` says. A recovery code is `["pwd", "otp"]` like
/// a TOTP code; only the audit log tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignInMethod {
    /// The password alone.
    Password,
    /// The password, then a TOTP code.
    Totp,
    /// The password, then a recovery code.
    RecoveryCode,
    /// A passkey alone.
    Passkey(KeyKind),
    /// The password, then a passkey.
    PasswordAndPasskey(KeyKind),
}

/// The word that follows the `amr` values in [`SignInMethod::stored`] for a recovery code.
const STORED_RECOVERY_CODE: &str = "recovery_code";

impl SignInMethod {
    /// The session's `amr`.
    pub(crate) fn amr(self) -> Amr {
        match self {
            Self::Password => Amr::Password,
            Self::Totp | Self::RecoveryCode => Amr::PasswordAndOtp,
            Self::Passkey(k) => Amr::Passkey(k),
            Self::PasswordAndPasskey(k) => Amr::PasswordAndPasskey(k),
        }
    }

    /// `details.method` of `login.succeeded`: the last step's.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Passkey(_) | Self::PasswordAndPasskey(_) => "passkey",
        }
    }

    /// As storage writes it: the `amr` values, then `recovery_code` for a recovery code.
    pub(crate) fn stored(self) -> String {
        match self {
            Self::RecoveryCode => format!("{} {STORED_RECOVERY_CODE}", self.amr().stored()),
            _ => self.amr().stored(),
        }
    }

    /// What [`SignInMethod::stored`] wrote.
    pub(crate) fn parse_stored(stored: &str) -> crate::error::Result<Self> {
        if let Some(amr) = stored.strip_suffix(STORED_RECOVERY_CODE) {
            return match Amr::parse_stored(amr.trim_end())? {
                Amr::PasswordAndOtp => Ok(Self::RecoveryCode),
                _ => Err(crate::error::Error::Internal(format!(
                    "stored sign-in method {stored:?}"
                ))),
            };
        }
        Ok(match Amr::parse_stored(stored)? {
            Amr::Password => Self::Password,
            Amr::PasswordAndOtp => Self::Totp,
            Amr::Passkey(k) => Self::Passkey(k),
            Amr::PasswordAndPasskey(k) => Self::PasswordAndPasskey(k),
        })
    }
}

impl Amr {
    /// The claim's values.
    pub fn values(self) -> &'static [&'static str] {
        match self {
            Self::Password => &["pwd"],
            Self::PasswordAndOtp => &["pwd", "otp"],
            Self::Passkey(KeyKind::Hardware) => &["hwk", "mfa"],
            Self::Passkey(KeyKind::Software) => &["swk", "mfa"],
            Self::PasswordAndPasskey(KeyKind::Hardware) => &["pwd", "hwk", "mfa"],
            Self::PasswordAndPasskey(KeyKind::Software) => &["pwd", "swk", "mfa"],
        }
    }

    /// As storage writes it: the values, space-separated.
    pub(crate) fn stored(self) -> String {
        self.values().join(" ")
    }

    /// What [`Amr::stored`] wrote.
    pub(crate) fn parse_stored(stored: &str) -> crate::error::Result<Self> {
        Self::try_from(stored.split(' ').map(str::to_owned).collect::<Vec<_>>())
            .map_err(|e| crate::error::Error::Internal(format!("stored amr {stored:?}: {e}")))
    }

    /// Whether the user proved a second factor at sign-in (a code, or a passkey, which is
    /// multi-factor by itself).
    pub fn has_second_factor(self) -> bool {
        self != Self::Password
    }

    /// Whether a passkey was used.
    pub fn used_passkey(self) -> bool {
        matches!(self, Self::Passkey(_) | Self::PasswordAndPasskey(_))
    }
}

impl From<Amr> for Vec<String> {
    fn from(a: Amr) -> Self {
        a.values().iter().map(|v| (*v).to_owned()).collect()
    }
}

impl TryFrom<Vec<String>> for Amr {
    type Error = &'static str;
    /// The claim's values in any order, each once.
    fn try_from(v: Vec<String>) -> Result<Self, Self::Error> {
        let mut sorted: Vec<&str> = v.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        let kind = |k: &str| match k {
            "hwk" => Some(KeyKind::Hardware),
            "swk" => Some(KeyKind::Software),
            _ => None,
        };
        let found = match sorted.as_slice() {
            ["pwd"] => Some(Self::Password),
            ["otp", "pwd"] => Some(Self::PasswordAndOtp),
            // Sorted: "hwk" < "mfa" < "pwd" < "swk".
            ["hwk", "mfa"] => Some(Self::Passkey(KeyKind::Hardware)),
            ["mfa", "swk"] => Some(Self::Passkey(KeyKind::Software)),
            ["hwk", "mfa", "pwd"] | ["mfa", "pwd", "swk"] => sorted
                .iter()
                .find_map(|k| kind(k))
                .map(Self::PasswordAndPasskey),
            _ => None,
        };
        found.ok_or(
            "amr must be [\"pwd\"], [\"pwd\", \"otp\"], [K, \"mfa\"] or [\"pwd\", K, \"mfa\"] \
             with K \"hwk\" or \"swk\"",
        )
    }
}

/// Who a verified access token speaks for, as the token says: for the embedding service's own
/// checks (its routes, its rows). The engine's use cases do not accept it; they take only the
/// [`crate::Principal`] of the engine's full check, which also knows the session is still live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    user_id: UserId,
    placement: Placement,
    session_id: SessionId,
    amr: Amr,
    expires_at: i64,
}

impl Caller {
    pub(crate) fn new(
        user_id: UserId,
        placement: Placement,
        session_id: SessionId,
        amr: Amr,
        expires_at: i64,
    ) -> Self {
        Self {
            user_id,
            placement,
            session_id,
            amr,
            expires_at,
        }
    }

    /// The user.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// Role and dealership, as the token says.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.placement.role()
    }

    /// The dealership (`None` for a system admin).
    pub fn dealership_id(&self) -> Option<DealershipId> {
        self.placement.dealership_id()
    }

    /// The session the token belongs to.
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// How the user signed in.
    pub fn amr(&self) -> Amr {
        self.amr
    }

    /// When the token expires (`None` for a [`crate::Principal`], whose session is checked on
    /// every request instead).
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        if self.expires_at == i64::MAX {
            return None;
        }
        DateTime::from_timestamp(self.expires_at, 0)
    }

    /// Whether the user `id` of `dealership` lies in the caller's visible set.
    pub fn can_see_user(&self, id: UserId, dealership: Option<DealershipId>) -> bool {
        self.placement.sees_user(self.user_id, id, dealership)
    }

    /// Whether the dealership lies in the caller's visible set.
    pub fn can_see_dealership(&self, id: DealershipId) -> bool {
        self.placement.sees_dealership(id)
    }
}

#[cfg(test)]
mod tests {
    use super::{Amr, KeyKind, SignInMethod};

    fn parse(values: &[&str]) -> Result<Amr, &'static str> {
        Amr::try_from(values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn every_form_reads_back_as_itself_in_any_order() {
        for kind in [KeyKind::Hardware, KeyKind::Software] {
            for amr in [
                Amr::Password,
                Amr::PasswordAndOtp,
                Amr::Passkey(kind),
                Amr::PasswordAndPasskey(kind),
            ] {
                let mut values = amr.values().to_vec();
                assert_eq!(parse(&values), Ok(amr));
                values.reverse();
                assert_eq!(parse(&values), Ok(amr));
                assert_eq!(Amr::parse_stored(&amr.stored()).ok(), Some(amr));
            }
        }
    }

    #[test]
    fn every_sign_in_method_reads_back_as_itself() {
        for kind in [KeyKind::Hardware, KeyKind::Software] {
            for method in [
                SignInMethod::Password,
                SignInMethod::Totp,
                SignInMethod::RecoveryCode,
                SignInMethod::Passkey(kind),
                SignInMethod::PasswordAndPasskey(kind),
            ] {
                assert_eq!(
                    SignInMethod::parse_stored(&method.stored()).ok(),
                    Some(method)
                );
            }
        }
        // A recovery code is `["pwd", "otp"]` to every verifier; only the method says which.
        assert_eq!(SignInMethod::RecoveryCode.amr(), SignInMethod::Totp.amr());
        assert!(SignInMethod::parse_stored("pwd recovery_code").is_err());
    }

    #[test]
    fn a_passkey_is_a_second_factor_and_a_password_alone_is_not() {
        assert!(!Amr::Password.has_second_factor());
        assert!(Amr::PasswordAndOtp.has_second_factor());
        assert!(Amr::Passkey(KeyKind::Software).has_second_factor());
        assert!(Amr::PasswordAndPasskey(KeyKind::Hardware).has_second_factor());
        assert_eq!(Amr::Passkey(KeyKind::Software).values(), ["swk", "mfa"]);
        assert_eq!(
            Amr::PasswordAndPasskey(KeyKind::Hardware).values(),
            ["pwd", "hwk", "mfa"]
        );
    }

    #[test]
    fn other_claims_are_refused() {
        for bad in [
            &[][..],
            &["mfa"],
            &["hwk"],
            &["pwd", "mfa"],
            &["hwk", "swk", "mfa"],
            &["pwd", "pwd"],
            &["hwk", "mfa", "mfa"],
            &["pwd", "otp", "hwk", "mfa"],
            &["otp", "mfa"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
