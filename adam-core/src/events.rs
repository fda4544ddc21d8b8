//! Security events, recorded inside the unit of work of the change they describe.
//!
//! This is the hook of the audit log: every use case that changes something calls
//! [`Tx::record`] before it commits, so an event and its change commit together or not at all.
//! Until the audit log stores them, events go to the debug log. Events never carry a password, a
//! hash or a token: their variants have no field that could hold one.

use crate::db::Tx;
use crate::error::Result;
use crate::ids::{DealershipId, SessionId, UserId};

/// Why a session ended (`details.how` of `session.ended`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionEnd {
    Logout,
    LogoutAll,
    Reuse,
    UserChanged,
    DealershipDeactivated,
    /// The user ended one of their sessions (`DELETE /auth/sessions/{id}`).
    Revoked,
    /// An admin or principal ended a user's sessions (`DELETE /users/{id}/sessions`), or
    /// required a second factor of a dealership (its password-only sessions).
    Admin,
    /// An admin or principal reset the user's second factor.
    MfaReset,
}

/// Why a sign-in failed (`details.reason` of `login.failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginFailure {
    BadCredentials,
    Throttled,
    MfaFailed,
}

/// A security event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    LoginSucceeded {
        user: UserId,
        session: SessionId,
    },
    LoginFailed {
        reason: LoginFailure,
    },
    MfaEnrolled {
        user: UserId,
    },
    MfaDisabled {
        user: UserId,
    },
    MfaReset {
        user: UserId,
    },
    MfaRecoveryCodesRegenerated {
        user: UserId,
    },
    MfaRecoveryCodeUsed {
        user: UserId,
    },
    /// A wrong `current_password` on one's own password change, or one refused by the throttle.
    CurrentPasswordFailed {
        user: UserId,
        throttled: bool,
    },
    RefreshReuseDetected {
        session: SessionId,
    },
    SessionEnded {
        session: SessionId,
        how: SessionEnd,
    },
    UserCreated {
        user: UserId,
    },
    UserUpdated {
        user: UserId,
        fields: Vec<&'static str>,
    },
    UserPasswordChanged {
        user: UserId,
    },
    UserDeleted {
        user: UserId,
    },
    DealershipCreated {
        dealership: DealershipId,
    },
    DealershipUpdated {
        dealership: DealershipId,
        fields: Vec<&'static str>,
    },
    DealershipDeleted {
        dealership: DealershipId,
    },
}

impl Tx {
    /// Records `event` as part of this unit of work, with the actor of its scope.
    pub(crate) async fn record(&mut self, event: Event) -> Result<()> {
        tracing::debug!(actor = ?self.scope.actor.map(|(u, _)| u), ?event, "security event");
        Ok(())
    }
}
