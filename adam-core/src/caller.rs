//! The read-only caller an offline token check yields, for an embedding service's own rules.

use chrono::{DateTime, Utc};

use crate::ids::{DealershipId, SessionId, UserId};
use crate::placement::Placement;
use crate::rbac;
use crate::role::Role;

/// Who a verified access token speaks for, as the token says: for the embedding service's own
/// checks (its routes, its rows). The engine's use cases do not accept it; they take only the
/// [`crate::Principal`] of the engine's full check, which also knows the session is still live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    user_id: UserId,
    placement: Placement,
    session_id: SessionId,
    expires_at: i64,
}

impl Caller {
    pub(crate) fn new(
        user_id: UserId,
        placement: Placement,
        session_id: SessionId,
        expires_at: i64,
    ) -> Self {
        Self {
            user_id,
            placement,
            session_id,
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
        rbac::sees_user(self.placement, self.user_id, id, dealership)
    }

    /// Whether the dealership lies in the caller's visible set.
    pub fn can_see_dealership(&self, id: DealershipId) -> bool {
        rbac::sees_dealership(self.placement, id)
    }
}
