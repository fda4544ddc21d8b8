//! The idempotent seed run.

use chrono::Utc;

use super::Adam;
use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, UserId};
use crate::models::{Dealership, User};
use crate::password::PasswordPolicy;
use crate::seed::{SeedReport, ACCOUNTS, DEALERSHIP};

impl Adam {
    /// Creates the contract's seed dealership and accounts where they are missing. Running it
    /// again changes nothing; existing accounts keep their passwords.
    pub async fn seed(&self) -> Result<SeedReport> {
        let mut report = SeedReport::default();
        let now = Utc::now();
        let dealership = match self.store.dealership_by_name(DEALERSHIP).await? {
            Some(d) => d,
            None => {
                let d = Dealership {
                    id: DealershipId::new(),
                    name: DEALERSHIP.into(),
                    is_active: true,
                    created_at: now,
                    updated_at: now,
                };
                self.store.insert_dealership(&d).await?;
                report.dealership_created = true;
                d
            }
        };
        for account in ACCOUNTS {
            let email = Email::parse(account.email)?;
            if self.store.credentials(&email).await?.is_some() {
                continue;
            }
            // Seed passwords are fixed by the contract; they meet the default policy even where
            // PASSWORD_MIN_LENGTH is raised.
            let password = PasswordPolicy::default().check(account.password.into())?;
            let hash = self.hasher.hash(&password).await?;
            let user = User {
                id: UserId::new(),
                email,
                full_name: account.full_name.into(),
                role: account.role,
                dealership_id: account.role.has_dealership().then_some(dealership.id),
                is_active: true,
                created_at: now,
                updated_at: now,
            };
            match self.store.insert_user(&user, &hash).await {
                Ok(()) => report.users_created.push(account.email),
                // Another seeder won the race: the account exists, which is all we want.
                Err(Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }
}
