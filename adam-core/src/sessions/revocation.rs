//! Which sessions a change ends: the one place that knows the rule.
//!
//! Every use case that changes something asks here, inside its unit of work, and carries out
//! the answer there, so a change and the end of the sessions it invalidates commit together.
//! A session is live while it has not been ended and its user and the user's dealership are
//! active ([`crate::sessions::store::live`]); access tokens are checked against that on each request.

use chrono::{DateTime, Utc};

use crate::audit::events::{Event, SessionEnd};
use crate::db::Tx;
use crate::error::Result;
use crate::ids::{SessionId, UserId};
use crate::models::{Dealership, User};
use crate::oidc::store as oidc;
use crate::rbac::Principal;
use crate::sessions::refresh::TokenDigest;
use crate::sessions::store::{self as sessions, Selector};

/// A change that may end sessions.
#[derive(Debug)]
pub(crate) enum Change<'a> {
    /// Sign-out with a refresh token: its session.
    Logout(&'a TokenDigest),
    /// Sign-out everywhere: every session of the caller.
    LogoutAll(&'a Principal),
    /// A spent refresh token presented again: its whole session (possible theft).
    RefreshReused(SessionId),
    /// A user ends one of their own sessions: that one, if it is theirs.
    SessionEnded(&'a Principal, SessionId),
    /// An admin or principal ends every session of a user they may manage.
    SessionsEndedBy(UserId),
    /// A user changed. A new role or dealership, a new email or a deactivation ends every
    /// session; a new password ends every other session when the user changed it themself
    /// (they stay signed in where they did it), and every session when someone else reset it.
    UserUpdated {
        before: &'a User,
        after: &'a User,
        password_changed: bool,
        by: &'a Principal,
    },
    /// A user turned their second factor off: every other session of theirs.
    MfaDisabled(&'a Principal),
    /// An admin or principal reset a user's second factor: every session of that user.
    MfaReset(UserId),
    /// A user set a new password through a reset link: every session of theirs.
    PasswordReset(UserId),
    /// A user was deactivated for not signing in (`INACTIVE_USER_DAYS`): every session.
    Inactive(UserId),
    /// A user is deleted: every session (the rows go with the user).
    UserDeleted(UserId),
    /// An OpenID Connect client's grant ends alone (the client revoked a token of it, or a code
    /// was presented twice): that grant, and its browser session lives on.
    GrantEnded(SessionId),
    /// Another user signed in in the browser of a session: that session, with its grants.
    BrowserSignedOver(SessionId),
    /// A user withdrew their consent to a client (`/account`): their grants of that client.
    AppRevoked(&'a Principal, &'a str),
    /// A client was deleted: every grant of it.
    ClientDeleted(&'a str),
    /// A dealership changed: deactivating it ends its users' sessions; requiring a second factor
    /// ends those signed in without one.
    DealershipUpdated {
        before: &'a Dealership,
        after: &'a Dealership,
    },
}

impl Change<'_> {
    /// The sessions this change ends, and why; `None` when it ends none.
    fn ends(&self) -> Option<(Selector, SessionEnd)> {
        match *self {
            Change::Logout(digest) => {
                Some((Selector::OfRefreshToken(digest.clone()), SessionEnd::Logout))
            }
            Change::LogoutAll(caller) => {
                Some((Selector::OfUser(caller.user_id()), SessionEnd::LogoutAll))
            }
            Change::RefreshReused(session) => Some((Selector::Session(session), SessionEnd::Reuse)),
            Change::GrantEnded(grant) => Some((Selector::Session(grant), SessionEnd::GrantRevoked)),
            Change::BrowserSignedOver(session) => {
                Some((Selector::Session(session), SessionEnd::Logout))
            }
            Change::AppRevoked(caller, client) => Some((
                Selector::OfClient(client.to_owned(), Some(caller.user_id())),
                SessionEnd::GrantRevoked,
            )),
            Change::ClientDeleted(client) => Some((
                Selector::OfClient(client.to_owned(), None),
                SessionEnd::GrantRevoked,
            )),
            Change::SessionEnded(caller, session) => Some((
                Selector::SessionOf(session, caller.user_id()),
                SessionEnd::Revoked,
            )),
            Change::SessionsEndedBy(user) => Some((Selector::OfUser(user), SessionEnd::Admin)),
            Change::UserUpdated {
                before,
                after,
                password_changed,
                by,
            } => {
                let identity_changed = before.placement != after.placement
                    || before.email != after.email
                    || (before.is_active && !after.is_active);
                if identity_changed || (password_changed && by.user_id() != after.id) {
                    Some((Selector::OfUser(after.id), SessionEnd::UserChanged))
                } else if password_changed {
                    Some((
                        Selector::OfUserExcept(after.id, by.session_id()),
                        SessionEnd::UserChanged,
                    ))
                } else {
                    None
                }
            }
            Change::MfaDisabled(caller) => Some((
                Selector::OfUserExcept(caller.user_id(), caller.session_id()),
                SessionEnd::UserChanged,
            )),
            Change::MfaReset(user) => Some((Selector::OfUser(user), SessionEnd::MfaReset)),
            Change::PasswordReset(id) => Some((Selector::OfUser(id), SessionEnd::UserChanged)),
            Change::UserDeleted(id) | Change::Inactive(id) => {
                Some((Selector::OfUser(id), SessionEnd::UserChanged))
            }
            Change::DealershipUpdated { before, after } => {
                if before.is_active && !after.is_active {
                    Some((
                        Selector::OfDealership(after.id),
                        SessionEnd::DealershipDeactivated,
                    ))
                } else if !before.mfa_required && after.mfa_required {
                    Some((
                        Selector::OfDealershipPasswordOnly(after.id),
                        SessionEnd::Admin,
                    ))
                } else {
                    None
                }
            }
        }
    }
}

/// Ends, within `tx`, the sessions `change` invalidates, and records one event per session.
/// Returns how many it ended.
pub(crate) async fn apply(tx: &mut Tx, change: Change<'_>, now: DateTime<Utc>) -> Result<usize> {
    let Some((which, how)) = change.ends() else {
        return Ok(0);
    };
    let ended = sessions::end(tx, &which, now).await?;
    // Clients are told when the session they were signed in through ends (Back-Channel Logout),
    // and when their user withdraws consent (the user is signed out of that application too),
    // not when a grant ends at the client's own request or with a replayed code (it knows), nor
    // when the client is deleted (its URI goes with it).
    let tell_clients = !matches!(change, Change::GrantEnded(_) | Change::ClientDeleted(_));
    for e in &ended {
        tx.record(Event::SessionEnded {
            session: e.session,
            user: e.user,
            how,
        })
        .await?;
        if let (true, Some((parent, client))) = (tell_clients, &e.grant_of) {
            if oidc::queue_logout(tx, client, *parent, e.user.id, now).await? {
                tx.ring_after_commit();
            }
        }
    }
    Ok(ended.len())
}
