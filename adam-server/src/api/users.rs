//! `/users`: the users the caller can see.

use adam_core::{Adam, PageRequest, UserFilter};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::registry::{MetaResponse, MetaResponses, Registry};
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use super::auth::NoContent;
use super::schema::{AccessReview, Paged, RoleDto, SessionList, UserCreate, UserOut, UserUpdate};
use super::serialized::Serialized;
use super::strict::Strict;
use super::{ApiTags, BearerAuth};
use crate::error::ApiError;

/// User management.
#[derive(Debug)]
pub(crate) struct UsersApi {
    pub(crate) adam: Adam,
}

/// A created user.
#[derive(ApiResponse)]
pub(crate) enum Created {
    /// The user was created.
    #[oai(status = 201)]
    Created(Json<UserOut>),
}

/// The access review, as JSON or as CSV: one 200 answer with two media types.
pub(crate) struct Review(ReviewBody);

/// The two bodies of [`Review`] (the derive documents each as a response of its own).
#[derive(ApiResponse)]
pub(crate) enum ReviewBody {
    /// The access review: JSON by default, CSV (one line per user under the contract's header)
    /// with `format=csv` or `Accept: text/csv`.
    #[oai(status = 200)]
    Json(Json<AccessReview>),
    /// The access review as CSV.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(PlainText<String>),
}

impl ApiResponse for Review {
    fn meta() -> MetaResponses {
        // Merge the derive's responses of one status into one, with every media type.
        let mut merged: Vec<MetaResponse> = Vec::new();
        for response in ReviewBody::meta().responses {
            match merged.iter_mut().find(|m| m.status == response.status) {
                Some(same) => same.content.extend(response.content),
                None => merged.push(response),
            }
        }
        MetaResponses { responses: merged }
    }

    fn register(registry: &mut Registry) {
        ReviewBody::register(registry);
    }
}

impl poem::IntoResponse for Review {
    fn into_response(self) -> poem::Response {
        self.0.into_response()
    }
}

/// How the access review is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "lowercase")]
pub(crate) enum ReviewFormat {
    /// JSON (the default, unless `Accept` asks for `text/csv`).
    Json,
    /// CSV.
    Csv,
}

#[OpenApi(prefix_path = "/api/v1/users", tag = "ApiTags::Users")]
impl UsersApi {
    /// The access review
    ///
    /// Who can reach the dealership's customer information (the FTC Safeguards Rule's periodic
    /// review): every user the caller may review with their dealership's name, second factor,
    /// last sign-in, live sessions and inviter. System admins see every user (or one
    /// dealership's, with `dealership_id`), dealer principals their own dealership's; F&I
    /// managers 403. JSON, or CSV with `format=csv` or `Accept: text/csv`.
    #[oai(path = "/review", method = "get")]
    async fn review(
        &self,
        auth: BearerAuth,
        req: &poem::Request,
        /// `json` (default) or `csv`.
        format: Query<Option<ReviewFormat>>,
        /// Only this dealership's users (system admins; a principal always gets their own).
        dealership_id: Query<Option<Uuid>>,
    ) -> Result<Review, ApiError> {
        let review: AccessReview = self
            .adam
            .access_review(&auth.0.principal, dealership_id.0.map(Into::into))
            .await?
            .into();
        let wants_csv = match format.0 {
            Some(f) => f == ReviewFormat::Csv,
            None => req
                .headers()
                .get(poem::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().contains("text/csv")),
        };
        Ok(if wants_csv {
            Review(ReviewBody::Csv(PlainText(review.to_csv())))
        } else {
            Review(ReviewBody::Json(Json(review)))
        })
    }

    /// List users
    ///
    /// Only the caller's visible set: everyone for a system admin, their dealership for a dealer
    /// principal, themself for an F&I manager. Sorted by email.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Page size, 1 to 100 (default 50).
        limit: Query<Option<i64>>,
        /// Users to skip (default 0).
        offset: Query<Option<i64>>,
        /// Only users of this role.
        role: Query<Option<RoleDto>>,
        /// Only users whose email or name contains this text, ignoring case.
        q: Query<Option<String>>,
    ) -> Result<Serialized<Paged<UserOut>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let filter = UserFilter {
            role: role.0.map(Into::into),
            q: q.0,
        };
        Ok(Serialized(
            self.adam
                .list_users(&auth.0.principal, &filter, page)
                .await?
                .into(),
        ))
    }

    /// Create a user
    ///
    /// System admins create any user; dealer principals create principals and F&I managers of
    /// their own dealership.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        auth: BearerAuth,
        Json(body): Json<Strict<UserCreate>>,
    ) -> Result<Created, ApiError> {
        let new = body.0.into_core(self.adam.password_policy())?;
        let user = self.adam.create_user(&auth.0.principal, new).await?;
        Ok(Created::Created(Json(user.into())))
    }

    /// Get a user
    #[oai(path = "/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<Json<UserOut>, ApiError> {
        Ok(Json(
            self.adam
                .get_user(&auth.0.principal, id.0.into())
                .await?
                .into(),
        ))
    }

    /// Update a user
    ///
    /// System admins change anything; dealer principals change principals and F&I managers of
    /// their dealership (never making a system admin or moving them elsewhere); F&I managers change
    /// their own `full_name` and, with `current_password`, their own password.
    #[oai(path = "/:id", method = "patch")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        Json(body): Json<Strict<UserUpdate>>,
    ) -> Result<Json<UserOut>, ApiError> {
        let patch = body.0.into_core(self.adam.password_policy())?;
        Ok(Json(
            self.adam
                .update_user(&auth.0.principal, id.0.into(), patch)
                .await?
                .into(),
        ))
    }

    /// A user's sessions
    ///
    /// The user's live sessions, newest first. System admins: any user; dealer principals: the
    /// users of their dealership; F&I managers: 403 (their own are at `/auth/sessions`).
    #[oai(path = "/:id/sessions", method = "get")]
    async fn sessions(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Serialized<SessionList>, ApiError> {
        let sessions = self
            .adam
            .user_sessions(&auth.0.principal, id.0.into())
            .await?;
        Ok(Serialized(sessions.into()))
    }

    /// Sign a user out everywhere
    ///
    /// Ends every session of the user: their tokens stop working at once. Who may: as for
    /// listing them.
    #[oai(path = "/:id/sessions", method = "delete")]
    async fn end_sessions(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<NoContent, ApiError> {
        self.adam
            .end_user_sessions(&auth.0.principal, id.0.into())
            .await?;
        Ok(NoContent::Done)
    }

    /// Reset a user's second factor
    ///
    /// For a lost phone: removes the user's TOTP and recovery codes and ends their sessions. A
    /// user who must have a second factor enrolls again at their next sign-in. System admins:
    /// any user; dealer principals: the users of their dealership; never oneself (403: turn it
    /// off on your profile); F&I managers: 403.
    #[oai(path = "/:id/mfa", method = "delete")]
    async fn reset_mfa(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<NoContent, ApiError> {
        self.adam.reset_mfa(&auth.0.principal, id.0.into()).await?;
        Ok(NoContent::Done)
    }

    /// Delete a user
    ///
    /// System admins only. The last active system admin cannot be deleted (409).
    #[oai(path = "/:id", method = "delete")]
    async fn delete(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<NoContent, ApiError> {
        self.adam
            .delete_user(&auth.0.principal, id.0.into())
            .await?;
        Ok(NoContent::Done)
    }
}
