//! Dealership use cases: everyone sees their own, system admins manage all.

use chrono::Utc;

use super::Adam;
use crate::error::Result;
use crate::ids::DealershipId;
use crate::models::{Dealership, DealershipPatch, NewDealership, Page, PageRequest};
use crate::rbac::{self, Principal};

impl Adam {
    /// Creates a dealership (system admins only).
    pub async fn create_dealership(
        &self,
        caller: &Principal,
        new: NewDealership,
    ) -> Result<Dealership> {
        rbac::authorize_manage_dealerships(caller)?;
        let now = Utc::now();
        let d = Dealership {
            id: DealershipId::new(),
            name: new.name.as_str().to_owned(),
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_dealership(&d).await?;
        self.store
            .get_dealership(&caller.dealership_scope(), d.id)
            .await
    }

    /// A dealership the caller can see, or [`crate::Error::NotFound`].
    pub async fn get_dealership(&self, caller: &Principal, id: DealershipId) -> Result<Dealership> {
        self.store
            .get_dealership(&caller.dealership_scope(), id)
            .await
    }

    /// A page of the dealerships the caller can see.
    pub async fn list_dealerships(
        &self,
        caller: &Principal,
        page: PageRequest,
    ) -> Result<Page<Dealership>> {
        self.store
            .list_dealerships(&caller.dealership_scope(), page)
            .await
    }

    /// Changes a dealership (system admins only). Deactivating it ends its users' sessions.
    pub async fn update_dealership(
        &self,
        caller: &Principal,
        id: DealershipId,
        patch: DealershipPatch,
    ) -> Result<Dealership> {
        self.store
            .get_dealership(&caller.dealership_scope(), id)
            .await?;
        rbac::authorize_manage_dealerships(caller)?;
        self.store.update_dealership(id, &patch, Utc::now()).await
    }

    /// Deletes a dealership (system admins only); refused while it has users.
    pub async fn delete_dealership(&self, caller: &Principal, id: DealershipId) -> Result<()> {
        self.store
            .get_dealership(&caller.dealership_scope(), id)
            .await?;
        rbac::authorize_manage_dealerships(caller)?;
        self.store.delete_dealership(id).await
    }
}
