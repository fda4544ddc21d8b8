//! Which user an event or a check is about, with the dealership it belongs to: one leaf type
//! that the audit log, its storage and every use case share.

use crate::ids::{DealershipId, UserId};
use crate::models::User;

/// A user an event is about, with the dealership the event then belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UserRef {
    pub(crate) id: UserId,
    pub(crate) dealership: Option<DealershipId>,
}

impl UserRef {
    /// A user placed at `placement`: the event belongs to its dealership.
    pub(crate) fn placed(id: UserId, placement: crate::placement::Placement) -> Self {
        Self {
            id,
            dealership: placement.dealership_id(),
        }
    }

    /// A user as a row stores it: its id and its dealership's.
    pub(crate) fn stored(id: uuid::Uuid, dealership: Option<uuid::Uuid>) -> Self {
        Self {
            id: id.into(),
            dealership: dealership.map(Into::into),
        }
    }
}

impl From<&User> for UserRef {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            dealership: u.dealership_id(),
        }
    }
}
