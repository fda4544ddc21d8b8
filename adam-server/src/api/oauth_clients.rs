//! `/oauth-clients`: the applications that sign staff in through Adam's OpenID Connect provider
//! (contract: "OpenID Connect provider"); system admins only.

use adam_core::Adam;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::NoContent;
use super::schema::{OAuthClient, OAuthClientCreate, OAuthClientUpdate};
use super::strict::Strict;
use super::{ApiTags, BearerAuth};
use crate::error::ApiError;

/// OpenID Connect clients.
#[derive(Debug)]
pub(crate) struct OAuthClientsApi {
    pub(crate) adam: Adam,
}

/// A client just registered.
#[derive(ApiResponse)]
pub(crate) enum Registered {
    /// Registered; a confidential client's `client_secret` is in this answer only.
    #[oai(status = 201)]
    Created(
        Json<OAuthClient>,
        /// Always `no-store` (the answer may hold a secret).
        #[oai(header = "Cache-Control")]
        String,
    ),
}

/// A client with a new secret.
#[derive(ApiResponse)]
pub(crate) enum Renewed {
    /// The new `client_secret`, in this answer only; the old one no longer works.
    #[oai(status = 200)]
    Renewed(
        Json<OAuthClient>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[OpenApi(prefix_path = "/api/v1/oauth-clients", tag = "ApiTags::Clients")]
impl OAuthClientsApi {
    /// List clients
    ///
    /// Every registered client, by `client_id` (system admins; others 403).
    #[oai(path = "/", method = "get")]
    async fn list(&self, auth: BearerAuth) -> Result<Json<Vec<OAuthClient>>, ApiError> {
        let all = self.adam.clients(&auth.0.principal).await?;
        Ok(Json(
            all.into_iter().map(|c| OAuthClient::of(c, None)).collect(),
        ))
    }

    /// Register a client
    ///
    /// Redirect URIs are `https://…`, or `http://127.0.0.1…` / `http://[::1]…` for native apps
    /// (any port when used). A confidential client (the default) receives `client_secret` in
    /// this answer only; a `client_id` in use is 409.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        auth: BearerAuth,
        Json(body): Json<Strict<OAuthClientCreate>>,
    ) -> Result<Registered, ApiError> {
        let new = body.0.into_core()?;
        let done = self.adam.register_client(&auth.0.principal, new).await?;
        Ok(Registered::Created(
            Json(OAuthClient::of(done.client, done.secret.as_ref())),
            "no-store".into(),
        ))
    }

    /// Read a client
    #[oai(path = "/:client_id", method = "get")]
    async fn read(
        &self,
        auth: BearerAuth,
        client_id: Path<String>,
    ) -> Result<Json<OAuthClient>, ApiError> {
        let c = self.adam.client(&auth.0.principal, &client_id.0).await?;
        Ok(Json(OAuthClient::of(c, None)))
    }

    /// Change a client
    ///
    /// Whether a client is public is fixed at registration.
    #[oai(path = "/:client_id", method = "patch")]
    async fn update(
        &self,
        auth: BearerAuth,
        client_id: Path<String>,
        Json(body): Json<Strict<OAuthClientUpdate>>,
    ) -> Result<Json<OAuthClient>, ApiError> {
        let patch = body.0.into_core()?;
        let c = self
            .adam
            .update_client(&auth.0.principal, &client_id.0, patch)
            .await?;
        Ok(Json(OAuthClient::of(c, None)))
    }

    /// Give a client a new secret
    ///
    /// A confidential client only (a public client has none: 409).
    #[oai(path = "/:client_id/secret", method = "post")]
    async fn new_secret(
        &self,
        auth: BearerAuth,
        client_id: Path<String>,
    ) -> Result<Renewed, ApiError> {
        let done = self
            .adam
            .new_client_secret(&auth.0.principal, &client_id.0)
            .await?;
        Ok(Renewed::Renewed(
            Json(OAuthClient::of(done.client, done.secret.as_ref())),
            "no-store".into(),
        ))
    }

    /// Delete a client
    #[oai(path = "/:client_id", method = "delete")]
    async fn delete(
        &self,
        auth: BearerAuth,
        client_id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        self.adam
            .delete_client(&auth.0.principal, &client_id.0)
            .await?;
        Ok(NoContent::Done)
    }
}
