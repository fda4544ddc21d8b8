//! User use cases: create, get, list, update, delete, scoped to what the caller can see.

mod inactive;
mod review;
pub(crate) mod store;

pub use review::{AccessReview, ReviewEntry};

use crate::audit::events::{changed_fields, Check, Event, LoginFailure, UserRef};
use crate::db::{Intent, Tx};
use crate::dealerships::store as dealerships;
use crate::engine::Adam;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, UserId};
use crate::invitations::store as invitations;
use crate::models::{NewUser, Page, PageRequest, User, UserFilter, UserPatch};
use crate::rbac::{self, Principal};
use crate::sessions::revocation::{self, Change};
use crate::signin::throttle::reserve_password_check;
use crate::signin::throttle::store as throttle;
use crate::users::store as users;

impl Adam {
    /// Creates a user. System admins create anyone anywhere; dealer principals create principals
    /// and F&I managers in their own dealership (theirs when `dealership_id` is omitted).
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id()))]
    pub async fn create_user(&self, caller: &Principal, new: NewUser) -> Result<User> {
        let placement = rbac::authorize_create_user(caller, new.role, new.dealership_id)?;
        let hash = self.hasher.hash(&new.password).await?;
        let now = self.now();
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        if let Some(d) = placement.dealership_id() {
            require_dealership(&mut tx, d).await?;
        }
        let user = User {
            id: UserId::new(),
            email: new.email,
            full_name: new.full_name.as_str().to_owned(),
            placement,
            is_active: true,
            mfa_enabled: false,
            last_sign_in_at: None,
            created_at: now,
            updated_at: now,
        };
        users::insert(&mut tx, &user, &hash, new.must_change_password).await?;
        tx.record(Event::UserCreated {
            user: UserRef::from(&user),
        })
        .await?;
        // Read back, so the answer carries the stored (microsecond) timestamps.
        let stored = users::get(&mut tx, user.id).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// A user the caller can see, or [`Error::NotFound`].
    pub async fn get_user(&self, caller: &Principal, id: UserId) -> Result<User> {
        let mut tx = self.begin_for(caller, Intent::Read).await?;
        let user = users::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// A page of the users the caller can see, filtered.
    pub async fn list_users(
        &self,
        caller: &Principal,
        filter: &UserFilter,
        page: PageRequest,
    ) -> Result<Page<User>> {
        filter.check()?;
        let mut tx = self.begin_for(caller, Intent::Read).await?;
        let users = users::list(&mut tx, filter, page).await?;
        tx.commit().await?;
        Ok(users)
    }

    /// Changes a user the caller can see, within what the caller's role allows.
    ///
    /// Changing one's own password needs `current_password`, checked before anything else and
    /// counted like a sign-in (a wrong one is a failure for the account and client address; past
    /// the throttle's limit, [`Error::TooManyAttempts`]). Which sessions the change ends is
    /// the one revocation rule of the engine. The last active system admin cannot be deactivated or
    /// demoted ([`Error::Conflict`]).
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id(), user = %id))]
    pub async fn update_user(
        &self,
        caller: &Principal,
        id: UserId,
        patch: UserPatch,
    ) -> Result<User> {
        if let (true, Some(_), Some(current)) = (
            id == caller.user_id(),
            &patch.password,
            &patch.current_password,
        ) {
            self.check_current_password(caller, current).await?;
        }
        // A new password is hashed between units of work, never inside one (on SQLite a write
        // transaction holds the database's lock): authorized first in a read, so that nobody
        // makes the server hash for a change they may not make, then checked again below.
        let password_hash = match &patch.password {
            Some(pw) => {
                let mut tx = self.begin_for(caller, Intent::Read).await?;
                let before = users::get(&mut tx, id).await?;
                tx.commit().await?;
                rbac::authorize_update_user(caller, &before, &patch)?;
                Some(self.hasher.hash(pw).await?)
            }
            None => None,
        };
        let now = self.now();
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        let before = users::get(&mut tx, id).await?;
        rbac::authorize_update_user(caller, &before, &patch)?;
        let placement = rbac::resulting_placement(&before, &patch)?;
        if let (true, Some(d)) = (
            placement.dealership_id() != before.dealership_id(),
            placement.dealership_id(),
        ) {
            require_dealership(&mut tx, d).await?;
        }
        let is_active = patch.is_active.unwrap_or(before.is_active);
        if rbac::removes_an_active_admin(&before, Some((placement, is_active)))
            && users::other_active_admins(&mut tx, id).await? == 0
        {
            return Err(rbac::last_admin());
        }
        let password_changed = password_hash.is_some();
        // Whether the new password must be changed at the next sign-in: only a password set for
        // someone else can say so; any new password replaces the flag (false unless asked).
        let must_change_password = match (password_changed, patch.must_change_password) {
            (false, None) => None,
            (false, Some(_)) => {
                return Err(Error::invalid(
                    "must_change_password",
                    "goes only with a password set for someone else",
                ))
            }
            (true, Some(true)) if id == caller.user_id() => {
                return Err(Error::invalid(
                    "must_change_password",
                    "goes only with a password set for someone else",
                ))
            }
            (true, asked) => Some(asked.unwrap_or(false)),
        };
        let change = users::UserChange {
            email: patch.email.filter(|e| *e != before.email),
            full_name: patch.full_name.map(|n| n.as_str().to_owned()),
            password_hash,
            placement: (placement != before.placement).then_some(placement),
            is_active: patch.is_active,
            must_change_password,
        };
        // `user.updated` is written with the change itself (one statement on PostgreSQL), so it
        // is made from what the change will store.
        let expected = change.applied_to(&before);
        let event = (!changed_fields(&before, &expected).is_empty()).then(|| {
            Event::UserUpdated {
                before: Box::new(before.clone()),
                after: Box::new(expected),
                reason: None,
            }
            .row()
        });
        let after = users::update(&mut tx, id, &change, now, event.as_ref()).await?;
        revocation::apply(
            &mut tx,
            Change::UserUpdated {
                before: &before,
                after: &after,
                password_changed,
                by: caller,
            },
            now,
        )
        .await?;
        // Whoever may no longer invite this way leaves no invitation behind.
        if (before.is_active && !after.is_active) || before.placement != after.placement {
            invitations::revoke_by_inviter(&mut tx, id, now).await?;
        }
        if password_changed {
            tx.record(Event::UserPasswordChanged {
                user: UserRef::from(&after),
            })
            .await?;
        }
        tx.commit().await?;
        Ok(after)
    }

    /// Checks the caller's own password before they change it, throttled like a sign-in: the
    /// check is reserved against the account and client address first, a wrong password keeps
    /// its reservation, the right one clears the account's failures. No connection is held while
    /// argon2 works.
    pub(crate) async fn check_current_password(
        &self,
        caller: &Principal,
        current: &str,
    ) -> Result<()> {
        let now = self.now();
        let limits = self.settings.login_throttle;
        let address = caller.client().map(|a| a.to_string()).unwrap_or_default();
        let user = caller.user_id();
        let failed = |reason| Event::LoginFailed {
            reason,
            check: Check::CurrentPassword,
            user: Some(UserRef::placed(user, caller.placement())),
        };
        let mut tx = self.begin_throttled(caller.origin(), Some(caller)).await?;
        let account = users::get(&mut tx, user).await?.email;
        let (mut tx, reserved) =
            reserve_password_check(tx, &limits, account.as_str(), &address, now, |k| {
                failed(LoginFailure::Throttled(k))
            })
            .await?;
        let stored = users::password_hash(&mut tx, user).await?;
        tx.commit().await?;

        let matches = self
            .hasher
            .verify(current, stored.as_deref())
            .await?
            .matches;
        let mut tx = self.begin_system_for(caller, Intent::Write).await?;
        // A right password gives its reservation back but clears nothing: only a completed
        // sign-in clears an account's failures, or a right password would open a new round of
        // guesses at the code that usually follows it.
        if matches {
            throttle::release(&mut tx, reserved).await?;
        } else {
            tx.record(failed(LoginFailure::BadCredentials)).await?;
        }
        tx.commit().await?;
        if matches {
            Ok(())
        } else {
            Err(Error::invalid("current_password", "is incorrect"))
        }
    }

    /// Deletes a user (system admins only). The last active system admin cannot be deleted.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id(), user = %id))]
    pub async fn delete_user(&self, caller: &Principal, id: UserId) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        let before = users::get(&mut tx, id).await?;
        rbac::authorize_delete_user(caller, &before)?;
        if rbac::removes_an_active_admin(&before, None)
            && users::other_active_admins(&mut tx, id).await? == 0
        {
            return Err(rbac::last_admin());
        }
        revocation::apply(&mut tx, Change::UserDeleted(id), now).await?;
        users::delete(&mut tx, id).await?;
        tx.record(Event::UserDeleted {
            user: UserRef::from(&before),
        })
        .await?;
        tx.commit().await
    }
}

/// A dealership the unit of work can see, or a 422 naming `dealership_id`.
async fn require_dealership(tx: &mut Tx, id: DealershipId) -> Result<()> {
    match dealerships::get(tx, id).await {
        Ok(_) => Ok(()),
        Err(Error::NotFound) => Err(Error::invalid("dealership_id", "no such dealership")),
        Err(e) => Err(e),
    }
}
