//! Who may see and do what: the role table of the contract as pure functions over a [`Principal`].
//!
//! Visibility decides *whether a thing exists* for the caller (outside it: [`Error::NotFound`]);
//! the `authorize_*` functions decide what the caller may do with what they can see
//! (otherwise: [`Error::Forbidden`]). Storage enforces visibility too: every unit of work is
//! opened in the scope of its caller, and on PostgreSQL row-level security enforces it again.

use std::net::IpAddr;

use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, SessionId, UserId};
use crate::models::{DealershipPatch, User, UserPatch};
use crate::origin::ClientInfo;
use crate::placement::Placement;
use crate::role::Role;

/// The authenticated caller of a use case, as only the engine's full check
/// ([`crate::Adam::authenticate`]) makes one: its session was live and its user and placement
/// were read from the database for this request. The engine's use cases accept nothing else.
///
/// It reads like the [`Caller`] an offline check yields (user, placement, session, through
/// `Deref`), but no `Caller` can become a `Principal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(Caller, ClientInfo);

impl Principal {
    pub(crate) fn new(
        user_id: UserId,
        placement: Placement,
        session_id: SessionId,
        amr: crate::caller::Amr,
    ) -> Self {
        Self(
            Caller::new(user_id, placement, session_id, amr, i64::MAX),
            ClientInfo::default(),
        )
    }

    /// The same principal, calling from `client` (the address the server saw, after trusted
    /// proxies): failed password checks are counted per account and client address, like
    /// sign-ins.
    #[must_use]
    pub fn from_address(self, client: Option<IpAddr>) -> Self {
        let user_agent = self.1.user_agent.clone();
        Self(
            self.0,
            ClientInfo {
                ip: client,
                user_agent,
            },
        )
    }

    /// The same principal, calling from `client` (address and user agent): what the audit
    /// events of its use cases record, and the address its password checks are counted under.
    #[must_use]
    pub fn from_client(self, client: ClientInfo) -> Self {
        Self(self.0, client)
    }

    /// The client address the request came from, when the embedder named one.
    pub fn client(&self) -> Option<IpAddr> {
        self.1.ip
    }

    /// Where the request came from, when the embedder said.
    pub fn origin(&self) -> &ClientInfo {
        &self.1
    }

    /// Whether `user` lies in this principal's visible set.
    pub fn can_see_user(&self, user: &User) -> bool {
        self.0.can_see_user(user.id, user.dealership_id())
    }
}

impl std::ops::Deref for Principal {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

/// Whether someone placed at `placement` (user `me`) sees the user `id` of `dealership`: a system
/// admin everyone, a principal their dealership's users, an F&I manager only themself.
pub fn sees_user(
    placement: Placement,
    me: UserId,
    id: UserId,
    dealership: Option<DealershipId>,
) -> bool {
    placement.sees_user(me, id, dealership)
}

/// Whether someone placed at `placement` sees the dealership `id`: a system admin every one,
/// everyone else their own.
pub fn sees_dealership(placement: Placement, id: DealershipId) -> bool {
    placement.sees_dealership(id)
}

/// May `p` create a user of `role` in `dealership`? Returns the placement the user will have (a
/// principal's own dealership when they name none).
pub fn authorize_create_user(
    p: &Principal,
    role: Role,
    dealership: Option<DealershipId>,
) -> Result<Placement> {
    match p.placement() {
        Placement::SystemAdmin => Placement::new(role, dealership),
        Placement::DealerPrincipal(own) => {
            if role == Role::SystemAdmin {
                return Err(Error::forbidden(
                    "a dealer principal cannot create system admins",
                ));
            }
            match dealership {
                Some(d) if d != own => Err(Error::forbidden(
                    "a dealer principal can only create users in their own dealership",
                )),
                _ => Placement::new(role, Some(own)),
            }
        }
        Placement::FiManager(_) => Err(Error::forbidden("F&I managers cannot create users")),
    }
}

/// May `p` apply `patch` to `target`, a user `p` can already see?
///
/// Fields the patch sets to their current value are not changes and are always allowed.
pub fn authorize_update_user(p: &Principal, target: &User, patch: &UserPatch) -> Result<()> {
    let changes_role = patch.role.is_some_and(|r| r != target.role());
    let changes_dealership = patch
        .dealership_id
        .is_some_and(|d| d != target.dealership_id());
    let changes_email = patch.email.as_ref().is_some_and(|e| *e != target.email);
    let changes_active = patch.is_active.is_some_and(|a| a != target.is_active);
    match p.placement() {
        Placement::SystemAdmin => {}
        Placement::DealerPrincipal(_) => {
            if target.role() == Role::SystemAdmin {
                return Err(Error::forbidden(
                    "a dealer principal cannot change system admins",
                ));
            }
            if changes_role && patch.role == Some(Role::SystemAdmin) {
                return Err(Error::forbidden(
                    "a dealer principal cannot make system admins",
                ));
            }
            if changes_dealership {
                return Err(Error::forbidden(
                    "a dealer principal cannot move users to another dealership",
                ));
            }
        }
        Placement::FiManager(_) => {
            if target.id != p.user_id() {
                return Err(Error::forbidden("F&I managers can only change themselves"));
            }
            if changes_role || changes_dealership || changes_email || changes_active {
                return Err(Error::forbidden(
                    "F&I managers may change only their own name and password",
                ));
            }
        }
    }
    if target.id == p.user_id() && patch.password.is_some() && patch.current_password.is_none() {
        return Err(Error::invalid(
            "current_password",
            "is required to change your own password",
        ));
    }
    Ok(())
}

/// May `p` delete `target`, a user `p` can already see? Only system admins delete users.
pub fn authorize_delete_user(p: &Principal, _target: &User) -> Result<()> {
    match p.placement() {
        Placement::SystemAdmin => Ok(()),
        _ => Err(Error::forbidden("only system admins can delete users")),
    }
}

/// May `p` list and end the sessions of `target`, a user `p` can already see? System admins and
/// dealer principals (who see only their dealership's users); an F&I manager uses their own
/// session routes instead.
pub fn authorize_manage_sessions(p: &Principal, _target: &User) -> Result<()> {
    match p.placement() {
        Placement::SystemAdmin | Placement::DealerPrincipal(_) => Ok(()),
        Placement::FiManager(_) => Err(Error::forbidden(
            "F&I managers see only their own sessions (/auth/sessions)",
        )),
    }
}

/// May `p` invite a user of `role` to `dealership`, or resend or revoke such an invitation?
/// The same rule as creating the user (the invitation becomes one); returns the placement
/// the invited user will have.
pub fn authorize_invite(
    p: &Principal,
    role: Role,
    dealership: Option<DealershipId>,
) -> Result<Placement> {
    authorize_create_user(p, role, dealership).map_err(|e| match e {
        Error::Forbidden(_) if p.placement().sees_only_self() => {
            Error::forbidden("F&I managers cannot invite users")
        }
        other => other,
    })
}

/// May `p` list invitations? System admins (all) and dealer principals (their dealership's).
pub fn authorize_list_invitations(p: &Principal) -> Result<()> {
    match p.placement() {
        Placement::FiManager(_) => Err(Error::forbidden(
            "invitations are for system admins and dealer principals",
        )),
        _ => Ok(()),
    }
}

/// May `p` export the access review, and of which users: system admins of everyone (or of
/// the dealership they name), dealer principals of their own dealership's users (whatever
/// dealership they name); F&I managers not at all.
pub fn authorize_access_review(
    p: &Principal,
    dealership: Option<DealershipId>,
) -> Result<Option<DealershipId>> {
    match p.placement() {
        Placement::SystemAdmin => Ok(dealership),
        Placement::DealerPrincipal(own) => Ok(Some(own)),
        Placement::FiManager(_) => Err(Error::forbidden(
            "the access review is for system admins and dealer principals",
        )),
    }
}

/// May `p` reset the second factor of `target`, a user `p` can already see? System admins for
/// anyone, dealer principals for their dealership's users (whom alone they see); never
/// oneself (that is turning it off, which needs a code).
pub fn authorize_reset_mfa(p: &Principal, target: &User) -> Result<()> {
    match p.placement() {
        Placement::FiManager(_) => Err(Error::forbidden(
            "only admins and principals can reset a second factor",
        )),
        _ if target.id == p.user_id() => Err(Error::forbidden(
            "you cannot reset your own second factor: turn it off on your profile",
        )),
        Placement::SystemAdmin | Placement::DealerPrincipal(_) => Ok(()),
    }
}

/// May `p` make `patch` to a dealership `p` can already see? System admins anything; a dealer
/// principal (who sees only their own) may turn `mfa_required` on, and nothing else.
pub fn authorize_update_dealership(p: &Principal, patch: &DealershipPatch) -> Result<()> {
    match p.placement() {
        Placement::SystemAdmin => Ok(()),
        Placement::DealerPrincipal(_)
            if patch.name.is_none()
                && patch.is_active.is_none()
                && patch.mfa_required != Some(false) =>
        {
            Ok(())
        }
        Placement::DealerPrincipal(_) => Err(Error::forbidden(
            "a dealer principal may only turn on the second-factor requirement",
        )),
        Placement::FiManager(_) => Err(Error::forbidden(
            "only system admins can manage dealerships",
        )),
    }
}

/// May `p` create, change or delete dealerships? Only system admins.
pub fn authorize_manage_dealerships(p: &Principal) -> Result<()> {
    match p.placement() {
        Placement::SystemAdmin => Ok(()),
        _ => Err(Error::forbidden(
            "only system admins can manage dealerships",
        )),
    }
}

/// What a caller may do to others, for a client to show or hide actions
/// (`GET /auth/permissions`). Computed from the same functions that enforce each action,
/// asked about another user of the caller's dealership (any dealership for a system admin), so
/// that it cannot drift from them. Limits that depend on the target still answer 403 at the
/// action itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// Actions of the contract's vocabulary (`users.read`, `users.create`, …) the caller may do
    /// to someone other than themself; only actions the server offers today.
    pub actions: Vec<&'static str>,
    /// The roles the caller may give a user they create.
    pub assignable_roles: Vec<Role>,
}

/// What the caller placed at `placement` may do to others ([`Permissions`]).
pub fn permissions(placement: Placement) -> Permissions {
    let me = UserId::new();
    let caller = Principal::new(
        me,
        placement,
        SessionId::new(),
        crate::caller::Amr::Password,
    );
    let here = placement.dealership_id().unwrap_or_default();
    let other = User {
        id: UserId::new(),
        email: crate::email::Email::parse("someone.else@example.invalid")
            .unwrap_or_else(|_| unreachable!("a valid email")),
        full_name: String::new(),
        placement: Placement::FiManager(here),
        is_active: true,
        mfa_enabled: true,
        last_sign_in_at: None,
        created_at: chrono::DateTime::UNIX_EPOCH,
        updated_at: chrono::DateTime::UNIX_EPOCH,
    };
    let rename = UserPatch {
        full_name: crate::models::Name::parse("full_name", "Renamed").ok(),
        ..UserPatch::default()
    };
    let rename_dealership = DealershipPatch {
        name: crate::models::Name::parse("name", "Renamed").ok(),
        ..DealershipPatch::default()
    };
    let require_mfa = DealershipPatch {
        mfa_required: Some(true),
        ..DealershipPatch::default()
    };
    let sees_other = placement.sees_user(me, other.id, other.dealership_id());
    let assignable_roles: Vec<Role> = [Role::SystemAdmin, Role::DealerPrincipal, Role::FiManager]
        .into_iter()
        .filter(|role| {
            let dealership = (*role != Role::SystemAdmin).then_some(here);
            authorize_create_user(&caller, *role, dealership).is_ok()
        })
        .collect();
    let may = [
        ("users.read", sees_other),
        ("users.create", !assignable_roles.is_empty()),
        (
            "users.update",
            sees_other && authorize_update_user(&caller, &other, &rename).is_ok(),
        ),
        (
            "users.delete",
            sees_other && authorize_delete_user(&caller, &other).is_ok(),
        ),
        (
            "users.sessions.manage",
            sees_other && authorize_manage_sessions(&caller, &other).is_ok(),
        ),
        (
            "users.mfa.reset",
            sees_other && authorize_reset_mfa(&caller, &other).is_ok(),
        ),
        (
            "users.review",
            authorize_access_review(&caller, None).is_ok(),
        ),
        (
            "invitations.manage",
            authorize_list_invitations(&caller).is_ok() && !assignable_roles.is_empty(),
        ),
        (
            "dealerships.create",
            authorize_manage_dealerships(&caller).is_ok(),
        ),
        (
            "dealerships.update",
            authorize_update_dealership(&caller, &rename_dealership).is_ok(),
        ),
        (
            "dealerships.delete",
            authorize_manage_dealerships(&caller).is_ok(),
        ),
        (
            "dealerships.mfa_required.set",
            authorize_update_dealership(&caller, &require_mfa).is_ok(),
        ),
        ("audit.read", !placement.sees_only_self()),
    ];
    Permissions {
        actions: may.iter().filter(|(_, ok)| *ok).map(|(a, _)| *a).collect(),
        assignable_roles,
    }
}

/// The placement a user ends up with after `patch`: promoting to system admin clears the
/// dealership; an impossible pair is [`Error::Invalid`].
pub(crate) fn resulting_placement(target: &User, patch: &UserPatch) -> Result<Placement> {
    let role = patch.role.unwrap_or(target.role());
    let dealership = match patch.dealership_id {
        Some(d) => d,
        None if role == Role::SystemAdmin => None,
        None => target.dealership_id(),
    };
    Placement::new(role, dealership)
}

/// Whether going from `before` to `after` (`None`: deleted) takes an active system admin away,
/// which the last one may never be (the contract's 409).
pub(crate) fn removes_an_active_admin(before: &User, after: Option<(Placement, bool)>) -> bool {
    let was = before.placement == Placement::SystemAdmin && before.is_active;
    let stays = after.is_some_and(|(p, active)| p == Placement::SystemAdmin && active);
    was && !stays
}

/// Who may register, change and delete OpenID Connect clients: system admins.
pub(crate) fn authorize_manage_clients(caller: &Principal) -> Result<()> {
    if caller.role() == Role::SystemAdmin {
        Ok(())
    } else {
        Err(Error::forbidden(
            "only system admins manage OpenID Connect clients",
        ))
    }
}

/// The answer when the last active system admin would go.
pub(crate) fn last_admin() -> Error {
    Error::conflict("the last active system admin cannot be deleted, deactivated or demoted")
}

#[cfg(test)]
mod tests {
    //! The contract's role table, exhaustively: every caller role × every action × every kind of
    //! target (self, same dealership, other dealership, admin).
    use super::*;

    #[test]
    fn permissions_follow_the_role_table() {
        let admin = permissions(Placement::SystemAdmin);
        assert_eq!(
            admin.actions,
            [
                "users.read",
                "users.create",
                "users.update",
                "users.delete",
                "users.sessions.manage",
                "users.mfa.reset",
                "users.review",
                "invitations.manage",
                "dealerships.create",
                "dealerships.update",
                "dealerships.delete",
                "dealerships.mfa_required.set",
                "audit.read",
            ]
        );
        assert_eq!(
            admin.assignable_roles,
            [Role::SystemAdmin, Role::DealerPrincipal, Role::FiManager]
        );
        let principal = permissions(Placement::DealerPrincipal(DealershipId::new()));
        assert_eq!(
            principal.actions,
            [
                "users.read",
                "users.create",
                "users.update",
                "users.sessions.manage",
                "users.mfa.reset",
                "users.review",
                "invitations.manage",
                "dealerships.mfa_required.set",
                "audit.read",
            ]
        );
        assert_eq!(
            principal.assignable_roles,
            [Role::DealerPrincipal, Role::FiManager]
        );
        let manager = permissions(Placement::FiManager(DealershipId::new()));
        assert!(
            manager.actions.is_empty() && manager.assignable_roles.is_empty(),
            "{manager:?}"
        );
    }
    use crate::email::Email;
    use crate::password::PasswordPolicy;
    use chrono::Utc;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Outcome {
        Allowed,
        Forbidden,
        NotFound,
        Invalid,
    }
    use Outcome::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Target {
        Myself,
        SameDealershipPrincipal,
        SameDealershipManager,
        OtherDealershipManager,
        Admin,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Action {
        View,
        Rename,
        ChangeEmail,
        ChangeOwnPasswordWithCurrent,
        ResetPasswordWithoutCurrent,
        Deactivate,
        MakeManager,
        MakePrincipal,
        MakeAdmin,
        MoveToOtherDealership,
        Delete,
        ResetMfa,
    }

    const HOME: u128 = 1;
    const AWAY: u128 = 2;

    fn did(n: u128) -> DealershipId {
        uuid::Uuid::from_u128(n).into()
    }

    fn user(id: UserId, role: Role, dealership: Option<DealershipId>) -> User {
        User {
            id,
            email: Email::parse(&format!("u{}@example.com", id.as_uuid().as_u128())).unwrap(),
            full_name: "Someone".into(),
            placement: Placement::new(role, dealership).unwrap(),
            is_active: true,
            mfa_enabled: false,
            last_sign_in_at: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn setup(caller: Role, target: Target) -> (Principal, User) {
        let me = UserId::from(uuid::Uuid::from_u128(100));
        let my_dealership = caller.has_dealership().then(|| did(HOME));
        let p = Principal::new(
            me,
            Placement::new(caller, my_dealership).unwrap(),
            SessionId::new(),
            crate::Amr::Password,
        );
        let other = UserId::from(uuid::Uuid::from_u128(200));
        let t = match target {
            Target::Myself => user(me, caller, my_dealership),
            Target::SameDealershipPrincipal => user(other, Role::DealerPrincipal, Some(did(HOME))),
            Target::SameDealershipManager => user(other, Role::FiManager, Some(did(HOME))),
            Target::OtherDealershipManager => user(other, Role::FiManager, Some(did(AWAY))),
            Target::Admin => user(other, Role::SystemAdmin, None),
        };
        (p, t)
    }

    fn patch(action: Action) -> UserPatch {
        let pw = || {
            Some(
                PasswordPolicy::default()
                    .check("a brand new passphrase".into())
                    .unwrap(),
            )
        };
        let mut patch = UserPatch::default();
        match action {
            Action::View | Action::Delete | Action::ResetMfa => {}
            Action::Rename => {
                patch.full_name = Some(crate::models::Name::parse("full_name", "New Name").unwrap())
            }
            Action::ChangeEmail => patch.email = Some(Email::parse("new@example.com").unwrap()),
            Action::ChangeOwnPasswordWithCurrent => {
                patch.password = pw();
                patch.current_password = Some("the old one".into());
            }
            Action::ResetPasswordWithoutCurrent => patch.password = pw(),
            Action::Deactivate => patch.is_active = Some(false),
            Action::MakeManager => patch.role = Some(Role::FiManager),
            Action::MakePrincipal => patch.role = Some(Role::DealerPrincipal),
            Action::MakeAdmin => {
                patch.role = Some(Role::SystemAdmin);
                patch.dealership_id = Some(None);
            }
            Action::MoveToOtherDealership => patch.dealership_id = Some(Some(did(AWAY))),
        }
        patch
    }

    /// Runs the same decision path the use cases run: visibility, permission, then consistency.
    fn decide(p: &Principal, target: &User, action: Action) -> Outcome {
        if !p.can_see_user(target) {
            return NotFound;
        }
        let result = match action {
            Action::View => Ok(()),
            Action::Delete => authorize_delete_user(p, target),
            Action::ResetMfa => authorize_reset_mfa(p, target),
            _ => {
                let patch = patch(action);
                authorize_update_user(p, target, &patch)
                    .and_then(|()| resulting_placement(target, &patch).map(|_| ()))
            }
        };
        match result {
            Ok(()) => Allowed,
            Err(Error::Forbidden(_)) => Forbidden,
            Err(Error::Invalid { .. }) => Invalid,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    /// The contract, written out. Rows: target; columns: actions in the order of `ACTIONS`.
    fn expected(caller: Role, target: Target, action: Action) -> Outcome {
        use Action::*;
        use Target::*;
        match caller {
            Role::SystemAdmin => match (target, action) {
                // A system admin can do anything; moving an admin into a dealership is
                // inconsistent (admins have none) and so is invalid input, not forbidden.
                (Myself | Admin, MoveToOtherDealership) => Invalid,
                (Myself | Admin, MakeManager | MakePrincipal) => Invalid,
                (Myself, ResetPasswordWithoutCurrent) => Invalid,
                // One's own second factor is turned off on the profile, with a code.
                (Myself, ResetMfa) => Forbidden,
                _ => Allowed,
            },
            Role::DealerPrincipal => match (target, action) {
                (OtherDealershipManager | Admin, _) => NotFound,
                (Myself, ResetMfa) => Forbidden,
                (_, MakeAdmin | MoveToOtherDealership | Delete) => Forbidden,
                (Myself, ResetPasswordWithoutCurrent) => Invalid,
                _ => Allowed,
            },
            Role::FiManager => match (target, action) {
                // Setting one's role to the role one has is no change.
                (Myself, View | Rename | ChangeOwnPasswordWithCurrent | MakeManager) => Allowed,
                (Myself, ResetPasswordWithoutCurrent) => Invalid,
                (Myself, _) => Forbidden,
                _ => NotFound,
            },
        }
    }

    const TARGETS: [Target; 5] = [
        Target::Myself,
        Target::SameDealershipPrincipal,
        Target::SameDealershipManager,
        Target::OtherDealershipManager,
        Target::Admin,
    ];
    const ACTIONS: [Action; 12] = [
        Action::View,
        Action::Rename,
        Action::ChangeEmail,
        Action::ChangeOwnPasswordWithCurrent,
        Action::ResetPasswordWithoutCurrent,
        Action::Deactivate,
        Action::MakeManager,
        Action::MakePrincipal,
        Action::MakeAdmin,
        Action::MoveToOtherDealership,
        Action::Delete,
        Action::ResetMfa,
    ];

    #[test]
    fn role_action_tenant_table_matches_the_contract() {
        let mut failures = Vec::new();
        let mut checked = 0;
        for caller in Role::ALL {
            for target in TARGETS {
                for action in ACTIONS {
                    let (p, t) = setup(caller, target);
                    let got = decide(&p, &t, action);
                    let want = expected(caller, target, action);
                    checked += 1;
                    if got != want {
                        failures.push(format!(
                            "{caller} {action:?} {target:?}: got {got:?}, want {want:?}"
                        ));
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 5 * 12);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn the_dealership_switch_is_on_and_off_for_admins_and_only_on_for_principals() {
        let patch = |name: bool, active: Option<bool>, mfa: Option<bool>| DealershipPatch {
            name: name.then(|| crate::models::Name::parse("name", "Renamed").unwrap()),
            is_active: active,
            mfa_required: mfa,
        };
        for (caller, change, allowed) in [
            (Role::SystemAdmin, patch(false, None, Some(true)), true),
            (Role::SystemAdmin, patch(false, None, Some(false)), true),
            (Role::SystemAdmin, patch(true, Some(false), None), true),
            (Role::DealerPrincipal, patch(false, None, Some(true)), true),
            (
                Role::DealerPrincipal,
                patch(false, None, Some(false)),
                false,
            ),
            (Role::DealerPrincipal, patch(true, None, Some(true)), false),
            (Role::DealerPrincipal, patch(false, Some(true), None), false),
            (Role::FiManager, patch(false, None, Some(true)), false),
        ] {
            let (p, _) = setup(caller, Target::Myself);
            let got = authorize_update_dealership(&p, &change);
            assert_eq!(got.is_ok(), allowed, "{caller} {change:?}: {got:?}");
            if !allowed {
                assert!(matches!(got, Err(Error::Forbidden(_))));
            }
        }
    }

    #[test]
    fn escalation_guard_principal_never_creates_admins_or_reaches_other_dealerships() {
        let (p, _) = setup(Role::DealerPrincipal, Target::Myself);
        assert!(matches!(
            authorize_create_user(&p, Role::SystemAdmin, None),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            authorize_create_user(&p, Role::FiManager, Some(did(AWAY))),
            Err(Error::Forbidden(_))
        ));
        assert_eq!(
            authorize_create_user(&p, Role::FiManager, None).unwrap(),
            Placement::FiManager(did(HOME))
        );
        assert_eq!(
            authorize_create_user(&p, Role::DealerPrincipal, Some(did(HOME))).unwrap(),
            Placement::DealerPrincipal(did(HOME))
        );
    }

    #[test]
    fn escalation_guard_managers_create_nothing() {
        let (p, _) = setup(Role::FiManager, Target::Myself);
        for role in Role::ALL {
            assert!(matches!(
                authorize_create_user(&p, role, Some(did(HOME))),
                Err(Error::Forbidden(_))
            ));
        }
    }

    #[test]
    fn admin_creation_requires_consistent_placement() {
        let (p, _) = setup(Role::SystemAdmin, Target::Myself);
        assert_eq!(
            authorize_create_user(&p, Role::SystemAdmin, None).unwrap(),
            Placement::SystemAdmin
        );
        assert!(matches!(
            authorize_create_user(&p, Role::SystemAdmin, Some(did(HOME))),
            Err(Error::Invalid { .. })
        ));
        assert!(matches!(
            authorize_create_user(&p, Role::FiManager, None),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn only_admins_manage_dealerships_and_scopes_match() {
        for role in Role::ALL {
            let (p, _) = setup(role, Target::Myself);
            assert_eq!(
                authorize_manage_dealerships(&p).is_ok(),
                role == Role::SystemAdmin
            );
            assert!(p.can_see_dealership(did(HOME)));
            assert_eq!(p.can_see_dealership(did(AWAY)), role == Role::SystemAdmin);
        }
    }

    #[test]
    fn unchanged_fields_are_not_changes() {
        let (p, me) = setup(Role::FiManager, Target::Myself);
        let patch = UserPatch {
            email: Some(me.email.clone()),
            role: Some(me.role()),
            is_active: Some(true),
            dealership_id: Some(me.dealership_id()),
            ..UserPatch::default()
        };
        assert!(authorize_update_user(&p, &me, &patch).is_ok());
    }
}
