//! Where a user stands: their role together with their dealership, as one value.

use crate::error::{Error, Result};
use crate::ids::{DealershipId, UserId};
use crate::role::Role;

/// A user's role and dealership, together, so that the impossible pairs cannot be built: a
/// system admin has no dealership, everyone else exactly one.
///
/// ```
/// use adam_core::{DealershipId, Placement, Role};
/// let d = DealershipId::new();
/// let p = Placement::new(Role::FiManager, Some(d)).unwrap();
/// assert_eq!((p.role(), p.dealership_id()), (Role::FiManager, Some(d)));
/// assert!(Placement::new(Role::SystemAdmin, Some(d)).is_err());
/// assert!(Placement::new(Role::DealerPrincipal, None).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placement {
    /// A system admin: every dealership, and none of their own.
    SystemAdmin,
    /// The dealer principal of one dealership.
    DealerPrincipal(DealershipId),
    /// An F&I manager of one dealership.
    FiManager(DealershipId),
}

impl Placement {
    /// Whether someone placed here must sign in with a second factor: their dealership requires
    /// it, or their role is among `required_roles` (`MFA_REQUIRED_ROLES`). The one text of the
    /// rule, for the sign-in and for the live-session check.
    pub(crate) fn must_use_second_factor(
        self,
        required_roles: &[Role],
        dealership_requires: bool,
    ) -> bool {
        dealership_requires || required_roles.contains(&self.role())
    }

    /// Whether someone placed here (user `me`) sees the user `id` of `dealership`: a system
    /// admin everyone, a principal their dealership's users, an F&I manager only themself.
    pub fn sees_user(self, me: UserId, id: UserId, dealership: Option<DealershipId>) -> bool {
        match self {
            Self::SystemAdmin => true,
            Self::DealerPrincipal(d) => dealership == Some(d),
            Self::FiManager(_) => id == me,
        }
    }

    /// Whether someone placed here sees the dealership `id`: a system admin every one, everyone
    /// else their own.
    pub fn sees_dealership(self, id: DealershipId) -> bool {
        match self.dealership_id() {
            None => true,
            Some(own) => own == id,
        }
    }

    /// The placement of `role` in `dealership`, or [`Error::Invalid`] naming `dealership_id`
    /// for an impossible pair.
    pub fn new(role: Role, dealership: Option<DealershipId>) -> Result<Self> {
        match (role, dealership) {
            (Role::SystemAdmin, None) => Ok(Self::SystemAdmin),
            (Role::SystemAdmin, Some(_)) => Err(Error::invalid(
                "dealership_id",
                "must be null for a system admin",
            )),
            (Role::DealerPrincipal, Some(d)) => Ok(Self::DealerPrincipal(d)),
            (Role::FiManager, Some(d)) => Ok(Self::FiManager(d)),
            (_, None) => Err(Error::invalid("dealership_id", "is required for this role")),
        }
    }

    /// The role.
    pub fn role(&self) -> Role {
        match self {
            Self::SystemAdmin => Role::SystemAdmin,
            Self::DealerPrincipal(_) => Role::DealerPrincipal,
            Self::FiManager(_) => Role::FiManager,
        }
    }

    /// The dealership; `None` exactly for a system admin.
    pub fn dealership_id(&self) -> Option<DealershipId> {
        match self {
            Self::SystemAdmin => None,
            Self::DealerPrincipal(d) | Self::FiManager(d) => Some(*d),
        }
    }

    /// Whether the holder sees only their own profile among users (an F&I manager).
    pub(crate) fn sees_only_self(&self) -> bool {
        matches!(self, Self::FiManager(_))
    }
}
