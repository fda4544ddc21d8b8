//! Security events, recorded inside the unit of work of the change they describe.
//!
//! Every use case that changes something calls [`Tx::record`] before it commits: the event is a
//! row of the audit log written in the same transaction, so an event and its change commit
//! together or not at all. Events never carry a password, a hash, a token or a TOTP secret: their
//! variants have no field that could hold one, and [`Event::row`] is the one place that turns
//! them into what is stored.

use serde_json::{json, Map, Value};

use crate::audit::store as audit;
use crate::db::Tx;
use crate::error::Result;
use crate::ids::{DealershipId, SessionId, UserId};
use crate::models::{Dealership, User};
pub(crate) use crate::user_ref::UserRef;

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
    /// An OpenID Connect client's grant ended alone: the client revoked its token, or a code
    /// was presented twice.
    GrantRevoked,
}

impl SessionEnd {
    fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::Reuse => "reuse",
            Self::UserChanged => "user_changed",
            Self::DealershipDeactivated => "dealership_deactivated",
            Self::Revoked => "revoked",
            Self::Admin => "admin",
            Self::MfaReset => "mfa_reset",
            Self::GrantRevoked => "grant_revoked",
        }
    }
}

/// Why a sign-in failed (`details.reason` of `login.failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginFailure {
    BadCredentials,
    /// Refused by the throttle: which key was exhausted.
    Throttled(ThrottleKey),
    MfaFailed,
    /// A passkey assertion that did not check, or a passkey or user that may not sign in.
    PasskeyFailed,
    /// A passkey whose signature counter went backwards: a cloned authenticator.
    PasskeyCloned,
}

/// The throttle key a refusal exhausted (`details.throttle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThrottleKey {
    AccountAndAddress,
    Account,
    Address,
}

impl ThrottleKey {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::AccountAndAddress => "account_and_address",
            Self::Account => "account",
            Self::Address => "address",
        }
    }
}

/// Which check a failed sign-in was (`details.check`): the sign-in itself, or the current
/// password a signed-in user typed to change theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    SignIn,
    CurrentPassword,
    /// A code a signed-in user typed (turning TOTP off, new recovery codes, confirming an
    /// enrollment).
    Code,
}

/// What happened to an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvitationEvent {
    Created,
    Resent,
    Revoked,
    /// Accepted by the new user, who is the actor.
    Accepted(UserId),
}

/// What happened to an OpenID Connect client (`oauth_client.created`, `.updated`, `.deleted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientEvent {
    Created,
    Updated,
    Deleted,
}

/// A security event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// `login.succeeded`, naming its method (`details.method`).
    LoginSucceeded {
        user: UserRef,
        session: SessionId,
        method: crate::caller::SignInMethod,
    },
    /// A refused sign-in, second step or current-password check; `user` when the account
    /// exists.
    LoginFailed {
        reason: LoginFailure,
        check: Check,
        user: Option<UserRef>,
    },
    MfaEnrolled {
        user: UserRef,
    },
    MfaDisabled {
        user: UserRef,
    },
    MfaReset {
        user: UserRef,
    },
    MfaRecoveryCodesRegenerated {
        user: UserRef,
    },
    MfaRecoveryCodeUsed {
        user: UserRef,
    },
    RefreshReuseDetected {
        session: SessionId,
        user: UserRef,
    },
    SessionEnded {
        session: SessionId,
        user: UserRef,
        how: SessionEnd,
    },
    UserCreated {
        user: UserRef,
    },
    /// `user.updated`; `reason` says why when nobody made the change (`"inactive"`).
    UserUpdated {
        before: Box<User>,
        after: Box<User>,
        reason: Option<&'static str>,
    },
    UserPasswordChanged {
        user: UserRef,
    },
    UserDeleted {
        user: UserRef,
    },
    DealershipCreated {
        dealership: DealershipId,
    },
    PasswordResetRequested {
        user: UserRef,
    },
    PasswordResetCompleted {
        user: UserRef,
    },
    /// `invitation.created`, `.resent`, `.revoked` or `.accepted` (whose actor is the new user).
    Invitation {
        what: InvitationEvent,
        invitation: uuid::Uuid,
        dealership: Option<DealershipId>,
        email: String,
        role: crate::role::Role,
    },
    DealershipUpdated {
        before: Box<Dealership>,
        after: Box<Dealership>,
    },
    /// A client registered, changed (`fields`: what; `secret` for a new secret) or deleted.
    OAuthClient {
        what: ClientEvent,
        id: uuid::Uuid,
        client_id: String,
        fields: Vec<&'static str>,
    },
    DealershipDeleted {
        dealership: DealershipId,
    },
    /// `passkey.registered` by its owner: its id and name.
    PasskeyRegistered {
        user: UserRef,
        passkey: uuid::Uuid,
        name: String,
    },
    /// `passkey.removed` by its owner.
    PasskeyRemoved {
        user: UserRef,
        passkey: uuid::Uuid,
    },
    KeysRotated {
        alg: crate::keys::state::SigningAlg,
        retired: String,
        current: String,
        next: String,
    },
    /// A signing key deleted by hand (`adam-server keys revoke`): not in the contract's list,
    /// recorded all the same since every token it signed stops verifying.
    KeysRevoked {
        kid: String,
        state: crate::keys::state::KeyState,
    },
}

/// What a user update changed, by field name (`details.fields` of `user.updated`).
pub(crate) fn changed_fields(before: &User, after: &User) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if before.email != after.email {
        fields.push("email");
    }
    if before.full_name != after.full_name {
        fields.push("full_name");
    }
    if before.role() != after.role() {
        fields.push("role");
    }
    if before.dealership_id() != after.dealership_id() {
        fields.push("dealership_id");
    }
    if before.is_active != after.is_active {
        fields.push("is_active");
    }
    fields
}

/// What a dealership update changed, by field name.
pub(crate) fn changed_dealership_fields(
    before: &Dealership,
    after: &Dealership,
) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if before.name != after.name {
        fields.push("name");
    }
    if before.is_active != after.is_active {
        fields.push("is_active");
    }
    if before.mfa_required != after.mfa_required {
        fields.push("mfa_required");
    }
    fields
}

fn from_to(from: Value, to: Value) -> Value {
    json!({ "from": from, "to": to })
}

fn uuid_or_null(id: Option<DealershipId>) -> Value {
    id.map_or(Value::Null, |d| Value::String(d.as_uuid().to_string()))
}

impl Event {
    /// The stored form of the event: action, subject, dealership and details. Who acted, from
    /// where, is the unit of work's ([`Tx::record`]).
    pub(crate) fn row(&self) -> audit::NewEvent {
        let user = |action, u: &UserRef| audit::NewEvent::about_user(action, u);
        match self {
            Self::LoginSucceeded {
                user: u,
                session,
                method,
            } => user("login.succeeded", u)
                .by_subject()
                .in_session(*session)
                .with(json!({ "method": method.name() })),
            Self::LoginFailed {
                reason,
                check,
                user: u,
            } => {
                let mut e = match u {
                    Some(u) => user("login.failed", u),
                    None => audit::NewEvent::new("login.failed"),
                };
                let mut details = Map::new();
                let reason = match reason {
                    LoginFailure::BadCredentials => "bad_credentials",
                    LoginFailure::MfaFailed => "mfa_failed",
                    LoginFailure::PasskeyFailed => "passkey_failed",
                    LoginFailure::PasskeyCloned => "passkey_cloned",
                    LoginFailure::Throttled(key) => {
                        details.insert("throttle".into(), key.as_str().into());
                        "throttled"
                    }
                };
                details.insert("reason".into(), reason.into());
                match check {
                    Check::SignIn => {}
                    Check::CurrentPassword => {
                        details.insert("check".into(), "current_password".into());
                    }
                    Check::Code => {
                        details.insert("check".into(), "code".into());
                    }
                }
                e.details = Value::Object(details);
                e
            }
            Self::MfaEnrolled { user: u } => user("mfa.enrolled", u).by_subject(),
            Self::MfaDisabled { user: u } => user("mfa.disabled", u),
            Self::MfaReset { user: u } => user("mfa.reset", u),
            Self::MfaRecoveryCodesRegenerated { user: u } => {
                user("mfa.recovery_codes_regenerated", u)
            }
            Self::MfaRecoveryCodeUsed { user: u } => user("mfa.recovery_code_used", u).by_subject(),
            Self::PasskeyRegistered {
                user: u,
                passkey,
                name,
            } => user("passkey.registered", u)
                .by_subject()
                .with(json!({ "passkey_id": passkey, "name": name })),
            Self::PasskeyRemoved { user: u, passkey } => user("passkey.removed", u)
                .by_subject()
                .with(json!({ "passkey_id": passkey })),
            Self::RefreshReuseDetected { session, user: u } => {
                user("refresh.reuse_detected", u).in_session(*session)
            }
            Self::SessionEnded {
                session,
                user: u,
                how,
            } => {
                let e = user("session.ended", u).in_session(*session);
                let e = if *how == SessionEnd::Logout {
                    e.by_subject()
                } else {
                    e
                };
                e.with(json!({ "how": how.as_str() }))
            }
            Self::UserCreated { user: u } => user("user.created", u),
            Self::UserUpdated {
                before,
                after,
                reason,
            } => {
                let fields = changed_fields(before, after);
                let mut details = Map::new();
                details.insert("fields".into(), json!(fields));
                if let Some(reason) = reason {
                    details.insert("reason".into(), json!(reason));
                }
                if before.role() != after.role() {
                    details.insert(
                        "role".into(),
                        from_to(before.role().as_str().into(), after.role().as_str().into()),
                    );
                }
                if before.is_active != after.is_active {
                    details.insert(
                        "is_active".into(),
                        from_to(before.is_active.into(), after.is_active.into()),
                    );
                }
                let mut e = user("user.updated", &UserRef::from(&**after));
                if before.dealership_id() != after.dealership_id() {
                    details.insert(
                        "dealership_id".into(),
                        from_to(
                            uuid_or_null(before.dealership_id()),
                            uuid_or_null(after.dealership_id()),
                        ),
                    );
                    e.former_dealership = before.dealership_id();
                }
                e.with(Value::Object(details))
            }
            Self::UserPasswordChanged { user: u } => user("user.password_changed", u),
            Self::UserDeleted { user: u } => user("user.deleted", u),
            Self::PasswordResetRequested { user: u } => user("password_reset.requested", u),
            Self::PasswordResetCompleted { user: u } => {
                user("password_reset.completed", u).by_subject()
            }
            Self::Invitation {
                what,
                invitation,
                dealership,
                email,
                role,
            } => {
                let action = match what {
                    InvitationEvent::Created => "invitation.created",
                    InvitationEvent::Resent => "invitation.resent",
                    InvitationEvent::Revoked => "invitation.revoked",
                    InvitationEvent::Accepted(_) => "invitation.accepted",
                };
                let mut e = audit::NewEvent::about_invitation(action, *invitation, *dealership)
                    .with(json!({ "email": email, "role": role.as_str() }));
                if let InvitationEvent::Accepted(user) = what {
                    e.actor = Some(*user);
                }
                e
            }
            Self::DealershipCreated { dealership } => {
                audit::NewEvent::about_dealership("dealership.created", *dealership)
            }
            Self::DealershipUpdated { before, after } => {
                let mut details = Map::new();
                details.insert(
                    "fields".into(),
                    json!(changed_dealership_fields(before, after)),
                );
                if before.is_active != after.is_active {
                    details.insert(
                        "is_active".into(),
                        from_to(before.is_active.into(), after.is_active.into()),
                    );
                }
                if before.mfa_required != after.mfa_required {
                    details.insert(
                        "mfa_required".into(),
                        from_to(before.mfa_required.into(), after.mfa_required.into()),
                    );
                }
                audit::NewEvent::about_dealership("dealership.updated", after.id)
                    .with(Value::Object(details))
            }
            Self::DealershipDeleted { dealership } => {
                audit::NewEvent::about_dealership("dealership.deleted", *dealership)
            }
            Self::KeysRotated {
                alg,
                retired,
                current,
                next,
            } => audit::NewEvent::new("keys.rotated").with(json!({
                "alg": alg.as_str(), "retired": retired, "current": current, "next": next
            })),
            Self::OAuthClient {
                what,
                id,
                client_id,
                fields,
            } => {
                let action = match what {
                    ClientEvent::Created => "oauth_client.created",
                    ClientEvent::Updated => "oauth_client.updated",
                    ClientEvent::Deleted => "oauth_client.deleted",
                };
                let details = if fields.is_empty() {
                    json!({ "client_id": client_id })
                } else {
                    json!({ "client_id": client_id, "fields": fields })
                };
                audit::NewEvent::about_client(action, *id).with(details)
            }
            Self::KeysRevoked { kid, state } => audit::NewEvent::new("keys.revoked")
                .with(json!({ "kid": kid, "state": state.as_str() })),
        }
    }
}

impl Tx {
    /// Records `event` in this unit of work: it commits with the change or not at all. The actor
    /// is the scope's (or, for what a user does before they hold a session, such as signing in,
    /// the event's own user); the address and user agent are the unit of work's origin.
    pub(crate) async fn record(&mut self, event: Event) -> Result<()> {
        let row = event.row();
        audit::insert(self, &row).await
    }
}
