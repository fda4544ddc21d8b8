//! User use cases: create, get, list, update, delete, scoped to what the caller can see.

use chrono::Utc;

use super::Adam;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, UserId};
use crate::models::{NewUser, Page, PageRequest, User, UserFilter, UserPatch};
use crate::rbac::{self, DealershipScope, Principal};
use crate::store::{Revoke, UserChange};

impl Adam {
    /// Creates a user. System admins create anyone anywhere; dealer principals create principals
    /// and F&I managers in their own dealership (theirs when `dealership_id` is omitted).
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id()))]
    pub async fn create_user(&self, caller: &Principal, new: NewUser) -> Result<User> {
        let dealership = rbac::authorize_create_user(caller, new.role, new.dealership_id)?;
        if let Some(d) = dealership {
            self.require_dealership(d).await?;
        }
        let hash = self.hasher.hash(&new.password).await?;
        let now = Utc::now();
        let user = User {
            id: UserId::new(),
            email: new.email,
            full_name: new.full_name.as_str().to_owned(),
            role: new.role,
            dealership_id: dealership,
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_user(&user, &hash).await?;
        self.store.get_user(&caller.user_scope(), user.id).await
    }

    /// A user the caller can see, or [`Error::NotFound`].
    pub async fn get_user(&self, caller: &Principal, id: UserId) -> Result<User> {
        self.store.get_user(&caller.user_scope(), id).await
    }

    /// A page of the users the caller can see, filtered.
    pub async fn list_users(
        &self,
        caller: &Principal,
        filter: &UserFilter,
        page: PageRequest,
    ) -> Result<Page<User>> {
        self.store
            .list_users(&caller.user_scope(), filter, page)
            .await
    }

    /// Changes a user the caller can see, within what the caller's role allows.
    ///
    /// Changing one's own password needs `current_password`. A change of role, dealership or a
    /// deactivation revokes the user's sessions; a password change revokes every other session.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id(), user = %id))]
    pub async fn update_user(
        &self,
        caller: &Principal,
        id: UserId,
        patch: UserPatch,
    ) -> Result<User> {
        let scope = caller.user_scope();
        let target = self.store.get_user(&scope, id).await?;
        rbac::authorize_update_user(caller, &target, &patch)?;
        let (role, dealership) = rbac::resulting_placement(&target, &patch)?;
        let moves = dealership != target.dealership_id;
        if let (true, Some(d)) = (moves, dealership) {
            self.require_dealership(d).await?;
        }
        let is_self = target.id == caller.user_id();
        if let (true, Some(_), Some(current)) = (is_self, &patch.password, &patch.current_password)
        {
            let stored = self.store.password_hash(id).await?;
            if !self
                .hasher
                .verify(current, stored.as_deref())
                .await?
                .matches
            {
                return Err(Error::invalid("current_password", "is incorrect"));
            }
        }
        let password_hash = match &patch.password {
            Some(pw) => Some(self.hasher.hash(pw).await?),
            None => None,
        };
        let demoted_or_moved = role != target.role || moves;
        let deactivated = patch.is_active == Some(false) && target.is_active;
        let revoke = if demoted_or_moved || deactivated {
            Revoke::All
        } else if password_hash.is_some() && is_self {
            Revoke::AllExcept(caller.session_id())
        } else if password_hash.is_some() {
            Revoke::All
        } else {
            Revoke::Nothing
        };
        let change = UserChange {
            email: patch.email.filter(|e| *e != target.email),
            full_name: patch.full_name.map(|n| n.as_str().to_owned()),
            password_hash,
            role: (role != target.role).then_some(role),
            is_active: patch.is_active,
            dealership_id: moves.then_some(dealership),
            revoke,
        };
        self.store
            .update_user(&scope, id, &change, Utc::now())
            .await
    }

    /// Deletes a user (system admins only). The last active system admin cannot be deleted.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id(), user = %id))]
    pub async fn delete_user(&self, caller: &Principal, id: UserId) -> Result<()> {
        let target = self.store.get_user(&caller.user_scope(), id).await?;
        rbac::authorize_delete_user(caller, &target)?;
        self.store.delete_user(id).await
    }

    async fn require_dealership(&self, id: DealershipId) -> Result<()> {
        match self
            .store
            .get_dealership(&DealershipScope::system(), id)
            .await
        {
            Ok(_) => Ok(()),
            Err(Error::NotFound) => Err(Error::invalid("dealership_id", "no such dealership")),
            Err(e) => Err(e),
        }
    }
}
