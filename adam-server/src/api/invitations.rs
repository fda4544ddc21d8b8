//! `/invitations`: inviting staff by mail (contract: "Invitations, password reset, first
//! sign-in").

use adam_core::{Adam, PageRequest};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use super::auth::NoContent;
use super::schema::{Invitation, InvitationCreate, Paged};
use super::serialized::Serialized;
use super::strict::Strict;
use super::{ApiTags, BearerAuth};
use crate::error::ApiError;

/// Invitations.
#[derive(Debug)]
pub(crate) struct InvitationsApi {
    pub(crate) adam: Adam,
    /// Wakes the mail sender when a request queued a mail.
    pub(crate) bell: crate::mail::Mailbell,
}

/// A new invitation.
#[derive(ApiResponse)]
pub(crate) enum Created {
    /// The invitation was made; with mail on, its mail is queued, otherwise `invite_url` holds
    /// the link to hand over.
    #[oai(status = 201)]
    Created(Json<Invitation>),
}

impl InvitationsApi {
    fn written(&self, invited: adam_core::Invited) -> Invitation {
        if invited.invitation.mail_status == adam_core::MailStatus::Queued {
            self.bell.ring();
        }
        Invitation::of(
            invited.invitation,
            invited.link.as_ref(),
            &self.adam.settings().token_audience.issuer,
        )
    }
}

#[OpenApi(prefix_path = "/api/v1/invitations", tag = "ApiTags::Users")]
impl InvitationsApi {
    /// Invite someone
    ///
    /// Who may invite whom is the rule for creating that user: system admins anyone, dealer
    /// principals principals and F&I managers of their own dealership. An email that has an
    /// account or a pending invitation is 409. With `SMTP_URL` set the invitation is mailed;
    /// otherwise the answer holds `invite_url`, the link to hand over (shown this once).
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        auth: BearerAuth,
        Json(body): Json<Strict<InvitationCreate>>,
    ) -> Result<Created, ApiError> {
        let new = body.0.into_core()?;
        let invited = self.adam.invite(&auth.0.principal, new).await?;
        Ok(Created::Created(Json(self.written(invited))))
    }

    /// List invitations
    ///
    /// The invitations the caller can see (system admins all, dealer principals their
    /// dealership's; F&I managers 403), newest first, whatever their status.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Page size, 1 to 100 (default 50).
        limit: Query<Option<i64>>,
        /// Invitations to skip (default 0).
        offset: Query<Option<i64>>,
    ) -> Result<Serialized<Paged<Invitation>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        Ok(Serialized(
            self.adam
                .list_invitations(&auth.0.principal, page)
                .await?
                .into(),
        ))
    }

    /// Resend an invitation
    ///
    /// A new link with a new expiry; the old link stops working. A pending or expired
    /// invitation only (an accepted or revoked one is 409). With mail off, the answer holds the
    /// new `invite_url`.
    #[oai(path = "/:id/resend", method = "post")]
    async fn resend(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<Json<Invitation>, ApiError> {
        let invited = self
            .adam
            .resend_invitation(&auth.0.principal, id.0.into())
            .await?;
        Ok(Json(self.written(invited)))
    }

    /// Revoke an invitation
    ///
    /// Its link stops working at once and a mail not yet sent is not sent.
    #[oai(path = "/:id", method = "delete")]
    async fn revoke(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<NoContent, ApiError> {
        self.adam
            .revoke_invitation(&auth.0.principal, id.0.into())
            .await?;
        Ok(NoContent::Done)
    }
}
