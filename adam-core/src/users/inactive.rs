//! Deactivating users who stopped signing in (contract: `INACTIVE_USER_DAYS`): staff who left
//! the dealership without anyone deactivating them lose access on their own.

use chrono::Duration;

use crate::audit::events::Event;
use crate::audit::store as audit;
use crate::db::Intent;
use crate::engine::Adam;
use crate::error::Result;
use crate::invitations::store as invitations;
use crate::models::User;
use crate::placement::Placement;
use crate::sessions::revocation::{self, Change};
use crate::users::store::{self as users, UserChange};

/// The chore's name among the database's once-a-day chores.
const INACTIVE_CHORE: &str = "inactive_users";

impl Adam {
    /// Deactivates every active user with no sign-in, creation or reactivation within
    /// [`crate::Settings::inactive_after`], sparing the last active system admin (the most
    /// recently active of the stale ones stays). Acts at most once a day across every server on
    /// the database: `None` when it is off or another run came within the day, else whom it
    /// deactivated. Each is a `user.updated` event with no actor and `details.reason: "inactive"`;
    /// their sessions end and their open invitations are revoked, in the same unit of work.
    #[tracing::instrument(skip_all)]
    pub async fn deactivate_inactive_users(&self) -> Result<Option<Vec<User>>> {
        let Some(after) = self.settings.inactive_after else {
            return Ok(None);
        };
        let now = self.now();
        let mut tx = self.begin_system(Intent::Write).await?;
        if !audit::claim_chore(&mut tx, INACTIVE_CHORE, Duration::days(1), now).await? {
            return Ok(None);
        }
        let mut stale = users::inactive_since(&mut tx, now - after).await?;
        // The least recently active first, so that the admin spared is the most recent one.
        stale.reverse();
        let mut deactivated = Vec::with_capacity(stale.len());
        for (before, _) in stale {
            if before.placement == Placement::SystemAdmin
                && users::other_active_admins(&mut tx, before.id).await? == 0
            {
                continue;
            }
            let change = UserChange {
                is_active: Some(false),
                ..UserChange::default()
            };
            let event = Event::UserUpdated {
                before: Box::new(before.clone()),
                after: Box::new(change.applied_to(&before)),
                reason: Some("inactive"),
            }
            .row();
            let after = users::update(&mut tx, before.id, &change, now, Some(&event)).await?;
            revocation::apply(&mut tx, Change::Inactive(after.id), now).await?;
            invitations::revoke_by_inviter(&mut tx, after.id, now).await?;
            deactivated.push(after);
        }
        tx.commit().await?;
        Ok(Some(deactivated))
    }
}
