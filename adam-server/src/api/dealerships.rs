//! `/dealerships`: the tenants.

use adam_core::{Adam, Name, NewDealership, PageRequest};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use super::auth::NoContent;
use super::schema::{DealershipCreate, DealershipOut, DealershipUpdate, Paged};
use super::serialized::Serialized;
use super::strict::Strict;
use super::{ApiTags, BearerAuth};
use crate::error::ApiError;

/// Dealership management.
#[derive(Debug)]
pub(crate) struct DealershipsApi {
    pub(crate) adam: Adam,
}

/// A created dealership.
#[derive(ApiResponse)]
pub(crate) enum Created {
    /// The dealership was created.
    #[oai(status = 201)]
    Created(Json<DealershipOut>),
}

#[OpenApi(prefix_path = "/api/v1/dealerships", tag = "ApiTags::Dealerships")]
impl DealershipsApi {
    /// List dealerships
    ///
    /// System admins see all; everyone else sees their own.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Page size, 1 to 100 (default 50).
        limit: Query<Option<i64>>,
        /// Dealerships to skip (default 0).
        offset: Query<Option<i64>>,
    ) -> Result<Serialized<Paged<DealershipOut>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        Ok(Serialized(
            self.adam
                .list_dealerships(&auth.0.principal, page)
                .await?
                .into(),
        ))
    }

    /// Create a dealership
    ///
    /// System admins only.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        auth: BearerAuth,
        Json(body): Json<Strict<DealershipCreate>>,
    ) -> Result<Created, ApiError> {
        let name = Name::parse("name", &body.0.name)?;
        let d = self
            .adam
            .create_dealership(&auth.0.principal, NewDealership { name })
            .await?;
        Ok(Created::Created(Json(d.into())))
    }

    /// Get a dealership
    #[oai(path = "/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<Json<DealershipOut>, ApiError> {
        Ok(Json(
            self.adam
                .get_dealership(&auth.0.principal, id.0.into())
                .await?
                .into(),
        ))
    }

    /// Update a dealership
    ///
    /// System admins only. Deactivating a dealership ends its users' sessions; they cannot sign in
    /// until it is active again.
    #[oai(path = "/:id", method = "patch")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        Json(body): Json<Strict<DealershipUpdate>>,
    ) -> Result<Json<DealershipOut>, ApiError> {
        let patch = body.0.into_core()?;
        Ok(Json(
            self.adam
                .update_dealership(&auth.0.principal, id.0.into(), patch)
                .await?
                .into(),
        ))
    }

    /// Delete a dealership
    ///
    /// System admins only; 409 while it has users.
    #[oai(path = "/:id", method = "delete")]
    async fn delete(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<NoContent, ApiError> {
        self.adam
            .delete_dealership(&auth.0.principal, id.0.into())
            .await?;
        Ok(NoContent::Done)
    }
}
