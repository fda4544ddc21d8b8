//! Reading the audit log, exporting it, and its retention purge.

use chrono::{DateTime, Utc};

use crate::audit::store as audit;
use crate::audit::{AuditCursor, AuditEvent, AuditFilter, AuditLimit, AuditPage};
use crate::db::Intent;
use crate::engine::Adam;
use crate::error::Result;
use crate::rbac::Principal;

/// The name of the retention purge in the table of chores.
const RETENTION_CHORE: &str = "audit_retention";

/// How many events an export reads at a time.
const EXPORT_BATCH: u32 = 1000;

impl Adam {
    /// A page of the audit events `caller` may see that match `filter`, newest first: a system
    /// admin every event, a dealer principal those of their dealership (and of users who left
    /// it), an F&I manager those where they are actor or subject. Pass the page's
    /// `next_cursor` for the next page: every event committed before the first page was read
    /// appears exactly once, however many arrive meanwhile.
    pub async fn audit_events(
        &self,
        caller: &Principal,
        filter: &AuditFilter,
        limit: AuditLimit,
        cursor: Option<AuditCursor>,
    ) -> Result<AuditPage> {
        filter.check()?;
        let mut tx = self.begin_for(caller, Intent::Read).await?;
        // One more than asked tells whether there is a next page.
        let mut items = audit::page(&mut tx, filter, cursor, limit.get() + 1).await?;
        tx.commit().await?;
        let more = items.len() > limit.get() as usize;
        items.truncate(limit.get() as usize);
        let next_cursor = if more {
            items.last().map(AuditCursor::after)
        } else {
            None
        };
        Ok(AuditPage { items, next_cursor })
    }

    /// Every audit event from `since` (inclusive) to `until` (exclusive), oldest first, handed to
    /// `each` in order; returns how many. A system operation (the CLI's `audit export`): it
    /// acts for no caller and sees every dealership. Reads in batches, each in its own
    /// transaction, so a long export holds no transaction open.
    pub async fn export_audit_events(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        mut each: impl FnMut(AuditEvent) -> std::io::Result<()>,
    ) -> Result<u64> {
        crate::audit::check_bound("since", since)?;
        crate::audit::check_bound("until", until)?;
        let mut after = None;
        let mut total = 0u64;
        loop {
            let mut tx = self.begin_system(Intent::Read).await?;
            let batch = audit::oldest_first(&mut tx, since, until, after, EXPORT_BATCH).await?;
            tx.commit().await?;
            total += batch.len() as u64;
            let full = batch.len() == EXPORT_BATCH as usize;
            after = batch.last().filter(|_| full).map(AuditCursor::after);
            for event in batch {
                each(event)
                    .map_err(|e| crate::Error::Internal(format!("writing the export: {e}")))?;
            }
            if after.is_none() {
                return Ok(total);
            }
        }
    }

    /// Deletes the audit events older than `AUDIT_RETENTION_DAYS`
    /// ([`crate::Settings::audit_retention`]), at most once a day whichever of the servers on the
    /// database asks: `None` when another run (here or elsewhere) did it within the day, else how
    /// many events it deleted.
    pub async fn purge_audit_log(&self) -> Result<Option<u64>> {
        let now = self.now();
        let mut tx = self.begin_system(Intent::Write).await?;
        if !audit::claim_chore(&mut tx, RETENTION_CHORE, chrono::Duration::days(1), now).await? {
            return Ok(None);
        }
        let deleted = audit::purge(&mut tx, now - self.settings.audit_retention).await?;
        tx.commit().await?;
        Ok(Some(deleted))
    }
}
