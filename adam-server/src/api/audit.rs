//! `/audit-events`: the security log, as far as the caller may read it.

use adam_core::{Adam, AuditCursor, AuditFilter, AuditLimit};
use chrono::{DateTime, Utc};
use poem_openapi::param::Query;
use poem_openapi::OpenApi;
use uuid::Uuid;

use super::schema::AuditPage;
use super::serialized::Serialized;
use super::{ApiTags, BearerAuth};
use crate::error::ApiError;

/// The audit log.
#[derive(Debug)]
pub(crate) struct AuditApi {
    pub(crate) adam: Adam,
}

#[OpenApi(prefix_path = "/api/v1/audit-events", tag = "ApiTags::Audit")]
impl AuditApi {
    /// List audit events
    ///
    /// Newest first, in pages: pass the answer's `next_cursor` as `cursor` for the next one.
    /// Every event committed before the first page was read appears exactly once, however many
    /// arrive meanwhile. System admins see every event; dealer principals the events of their
    /// dealership (a user moved away or in is seen by both); F&I managers the events where they
    /// are the actor or the subject.
    #[oai(path = "/", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Only this action (`login.failed`, `user.updated`, …).
        action: Query<Option<String>>,
        /// Only events done by this user.
        actor_id: Query<Option<Uuid>>,
        /// Only events about this user or dealership.
        subject_id: Query<Option<Uuid>>,
        /// Only events of this dealership.
        dealership_id: Query<Option<Uuid>>,
        /// Only events at or after this time (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
        /// Only events before this time (RFC 3339).
        until: Query<Option<DateTime<Utc>>>,
        /// Page size, 1 to 100 (default 50).
        limit: Query<Option<i64>>,
        /// Where the page starts: the `next_cursor` of the page before.
        cursor: Query<Option<String>>,
    ) -> Result<Serialized<AuditPage>, ApiError> {
        let limit = limit
            .0
            .map(AuditLimit::new)
            .transpose()?
            .unwrap_or_default();
        let cursor = cursor.0.as_deref().map(AuditCursor::decode).transpose()?;
        let filter = AuditFilter {
            action: action.0,
            actor_id: actor_id.0.map(Into::into),
            subject_id: subject_id.0,
            dealership_id: dealership_id.0.map(Into::into),
            since: since.0,
            until: until.0,
        };
        let page = self
            .adam
            .audit_events(&auth.0.principal, &filter, limit, cursor)
            .await?;
        Ok(Serialized(page.into()))
    }
}
