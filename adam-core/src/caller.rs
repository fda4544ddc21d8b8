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
}

impl Amr {
    /// The claim's values.
    pub fn values(self) -> &'static [&'static str] {
        match self {
            Self::Password => &["pwd"],
            Self::PasswordAndOtp => &["pwd", "otp"],
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

    /// Whether the user proved a second factor at sign-in.
    pub fn has_second_factor(self) -> bool {
        self == Self::PasswordAndOtp
    }
}

impl From<Amr> for Vec<String> {
    fn from(a: Amr) -> Self {
        a.values().iter().map(|v| (*v).to_owned()).collect()
    }
}

impl TryFrom<Vec<String>> for Amr {
    type Error = &'static str;
    fn try_from(v: Vec<String>) -> Result<Self, Self::Error> {
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        match v.as_slice() {
            ["pwd"] => Ok(Self::Password),
            ["pwd", "otp"] | ["otp", "pwd"] => Ok(Self::PasswordAndOtp),
            _ => Err("amr must be [\"pwd\"] or [\"pwd\", \"otp\"]"),
        }
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
