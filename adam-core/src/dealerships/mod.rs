//! Dealership use cases: everyone sees their own, system admins manage all.

pub(crate) mod store;

use crate::audit::events::{changed_dealership_fields, Event};
use crate::db::Intent;
use crate::dealerships::store as dealerships;
use crate::engine::Adam;
use crate::error::{Error, Result};
use crate::ids::DealershipId;
use crate::invitations::store as invitations;
use crate::models::{Dealership, DealershipPatch, NewDealership, Page, PageRequest};
use crate::rbac::{self, Principal};
use crate::sessions::revocation::{self, Change};

impl Adam {
    /// Creates a dealership (system admins only).
    pub async fn create_dealership(
        &self,
        caller: &Principal,
        new: NewDealership,
    ) -> Result<Dealership> {
        rbac::authorize_manage_dealerships(caller)?;
        let now = self.now();
        let d = Dealership {
            id: DealershipId::new(),
            name: new.name.as_str().to_owned(),
            is_active: true,
            mfa_required: false,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        dealerships::insert(&mut tx, &d).await?;
        tx.record(Event::DealershipCreated { dealership: d.id })
            .await?;
        let stored = dealerships::get(&mut tx, d.id).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// A dealership the caller can see, or [`crate::Error::NotFound`].
    pub async fn get_dealership(&self, caller: &Principal, id: DealershipId) -> Result<Dealership> {
        let mut tx = self.begin_for(caller, Intent::Read).await?;
        let d = dealerships::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// A page of the dealerships the caller can see.
    pub async fn list_dealerships(
        &self,
        caller: &Principal,
        page: PageRequest,
    ) -> Result<Page<Dealership>> {
        let mut tx = self.begin_for(caller, Intent::Read).await?;
        let list = dealerships::list(&mut tx, page).await?;
        tx.commit().await?;
        Ok(list)
    }

    /// Changes a dealership: system admins anything, its dealer principal only turning
    /// `mfa_required` on. Deactivating it ends its users' sessions; requiring a second factor
    /// ends those signed in without one.
    pub async fn update_dealership(
        &self,
        caller: &Principal,
        id: DealershipId,
        patch: DealershipPatch,
    ) -> Result<Dealership> {
        let now = self.now();
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        let before = dealerships::get(&mut tx, id).await?;
        rbac::authorize_update_dealership(caller, &patch)?;
        let after = dealerships::update(&mut tx, id, &patch, now).await?;
        revocation::apply(
            &mut tx,
            Change::DealershipUpdated {
                before: &before,
                after: &after,
            },
            now,
        )
        .await?;
        if before.is_active && !after.is_active {
            invitations::revoke_in_dealership(&mut tx, id, now).await?;
        }
        if !changed_dealership_fields(&before, &after).is_empty() {
            tx.record(Event::DealershipUpdated {
                before: Box::new(before),
                after: Box::new(after.clone()),
            })
            .await?;
        }
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a dealership (system admins only); refused while it has users.
    pub async fn delete_dealership(&self, caller: &Principal, id: DealershipId) -> Result<()> {
        let mut tx = self.begin_for(caller, Intent::Write).await?;
        dealerships::get(&mut tx, id).await?;
        rbac::authorize_manage_dealerships(caller)?;
        if dealerships::has_users(&mut tx, id).await? {
            return Err(Error::conflict("the dealership still has users"));
        }
        dealerships::delete(&mut tx, id).await?;
        tx.record(Event::DealershipDeleted { dealership: id })
            .await?;
        tx.commit().await
    }
}
