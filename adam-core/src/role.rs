//! The three roles of the contract.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A user's role. Its JSON and database spelling is `snake_case`.
///
/// ```
/// use adam_core::Role;
/// assert_eq!("dealer_principal".parse::<Role>().unwrap(), Role::DealerPrincipal);
/// assert_eq!(Role::FiManager.as_str(), "fi_manager");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees and changes everything; belongs to no dealership.
    SystemAdmin,
    /// Runs one dealership: sees its users, manages its principals and F&I managers.
    DealerPrincipal,
    /// Sees only their own profile.
    FiManager,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 3] = [Role::SystemAdmin, Role::DealerPrincipal, Role::FiManager];

    /// The contract's spelling of the role.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::SystemAdmin => "system_admin",
            Role::DealerPrincipal => "dealer_principal",
            Role::FiManager => "fi_manager",
        }
    }

    /// The role's name in a sentence, as people read it (`F&I manager`).
    pub fn in_words(&self) -> &'static str {
        match self {
            Role::SystemAdmin => "system admin",
            Role::DealerPrincipal => "dealer principal",
            Role::FiManager => "F&I manager",
        }
    }

    /// Whether users of this role belong to a dealership (all but the system admin do).
    pub fn has_dealership(&self) -> bool {
        !matches!(self, Role::SystemAdmin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text named no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role (expected system_admin, dealer_principal or fi_manager)")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "system_admin" => Ok(Role::SystemAdmin),
            "dealer_principal" => Ok(Role::DealerPrincipal),
            "fi_manager" => Ok(Role::FiManager),
            _ => Err(UnknownRole),
        }
    }
}
