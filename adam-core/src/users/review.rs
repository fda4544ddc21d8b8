//! The access review (contract: "Access review and inactive users"): who can reach the
//! dealership's customer information, with their second factor, last sign-in and live sessions,
//! for the periodic review the FTC Safeguards Rule asks of dealers.

use chrono::{DateTime, Utc};

use crate::db::{Intent, Tx};
use crate::email::Email;
use crate::engine::Adam;
use crate::error::Result;
use crate::ids::DealershipId;
use crate::models::User;
use crate::rbac::{self, Principal};
use crate::sessions::store as sessions;
use crate::users::store as users;

/// One user in the access review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewEntry {
    /// The user (with `mfa_enabled` and `last_sign_in_at`).
    pub user: User,
    /// Their dealership's name; `None` for a system admin.
    pub dealership_name: Option<String>,
    /// How many sessions of theirs are live now.
    pub live_sessions: u64,
    /// Who invited them, if they came by invitation.
    pub invited_by: Option<Email>,
}

/// The access review: every user the reviewer can see, by email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessReview {
    /// The users.
    pub items: Vec<ReviewEntry>,
    /// When the review was read.
    pub generated_at: DateTime<Utc>,
}

impl Adam {
    /// The access review for `caller`: a system admin sees every user (or those of
    /// `dealership`), a dealer principal the users of their own dealership; an F&I manager is
    /// [`crate::Error::Forbidden`].
    pub async fn access_review(
        &self,
        caller: &Principal,
        dealership: Option<DealershipId>,
    ) -> Result<AccessReview> {
        let dealership = rbac::authorize_access_review(caller, dealership)?;
        let tx = self.begin_for(caller, Intent::Read).await?;
        self.review_in(tx, dealership).await
    }

    /// The access review of every user (or those of `dealership`), for an operator at the
    /// command line (`adam-server users review`): a system operation that acts for no caller.
    pub async fn access_review_all(
        &self,
        dealership: Option<DealershipId>,
    ) -> Result<AccessReview> {
        let tx = self.begin_system(Intent::Read).await?;
        self.review_in(tx, dealership).await
    }

    async fn review_in(
        &self,
        mut tx: Tx,
        dealership: Option<DealershipId>,
    ) -> Result<AccessReview> {
        let rule = self.live_rule();
        let now = rule.now;
        let rows = users::review(&mut tx, dealership).await?;
        let live = sessions::live_counts(&mut tx, &rule).await?;
        tx.commit().await?;
        Ok(AccessReview {
            items: rows
                .into_iter()
                .map(|(user, dealership_name, invited_by)| ReviewEntry {
                    live_sessions: live.get(&user.id).copied().unwrap_or(0),
                    user,
                    dealership_name,
                    invited_by: invited_by.and_then(|e| Email::parse(&e).ok()),
                })
                .collect(),
            generated_at: now,
        })
    }
}
