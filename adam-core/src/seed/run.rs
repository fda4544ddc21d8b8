//! The idempotent seed run: a system operation.

use chrono::Utc;

use crate::audit::events::{Event, UserRef};
use crate::db::Intent;
use crate::dealerships::store as dealerships;
use crate::email::Email;
use crate::engine::Adam;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, UserId};
use crate::models::{Dealership, User};
use crate::password::PasswordPolicy;
use crate::placement::Placement;
use crate::role::Role;
use crate::seed::{SeedReport, ACCOUNTS, DEALERSHIP};
use crate::users::store as users;

impl Adam {
    /// Creates the contract's seed dealership and accounts where they are missing. Running it
    /// again changes nothing; existing accounts keep their passwords. Several seeders at once
    /// (servers starting together) create each record once.
    pub async fn seed(&self) -> Result<SeedReport> {
        let mut report = SeedReport::default();
        let now = self.now();
        let (dealership, created) = self.seed_dealership(now).await?;
        report.dealership_created = created;
        for account in ACCOUNTS {
            let email = Email::parse(account.email)?;
            let mut tx = self.begin_system(Intent::Read).await?;
            let exists = users::email_taken(&mut tx, &email).await?;
            tx.commit().await?;
            if exists {
                continue;
            }
            // Seed passwords are fixed by the contract; they meet the default policy even where
            // PASSWORD_MIN_LENGTH is raised.
            let password = PasswordPolicy::default().check(account.password.into())?;
            let hash = self.hasher.hash(&password).await?;
            let dealership_id = (account.role != Role::SystemAdmin).then_some(dealership.id);
            let user = User {
                id: UserId::new(),
                email,
                full_name: account.full_name.into(),
                placement: Placement::new(account.role, dealership_id)?,
                is_active: true,
                mfa_enabled: false,
                last_sign_in_at: None,
                created_at: now,
                updated_at: now,
            };
            let mut tx = self.begin_system(Intent::Write).await?;
            match users::insert(&mut tx, &user, &hash, false).await {
                Ok(()) => {
                    tx.record(Event::UserCreated {
                        user: UserRef::from(&user),
                    })
                    .await?;
                    tx.commit().await?;
                    report.users_created.push(account.email);
                }
                // Another seeder won the race: the account exists, which is all we want.
                Err(Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// The seed dealership, created if missing; `true` when this call created it.
    async fn seed_dealership(&self, now: chrono::DateTime<Utc>) -> Result<(Dealership, bool)> {
        let mut tx = self.begin_system(Intent::Write).await?;
        if let Some(d) = dealerships::by_name(&mut tx, DEALERSHIP).await? {
            tx.commit().await?;
            return Ok((d, false));
        }
        let d = Dealership {
            id: DealershipId::new(),
            name: DEALERSHIP.into(),
            is_active: true,
            mfa_required: false,
            created_at: now,
            updated_at: now,
        };
        match dealerships::insert(&mut tx, &d).await {
            Ok(()) => {
                tx.record(Event::DealershipCreated { dealership: d.id })
                    .await?;
                tx.commit().await?;
                Ok((d, true))
            }
            Err(Error::Conflict(_)) => {
                drop(tx);
                let mut tx = self.begin_system(Intent::Read).await?;
                let found = dealerships::by_name(&mut tx, DEALERSHIP).await?;
                tx.commit().await?;
                Ok((found.ok_or(Error::NotFound)?, false))
            }
            Err(e) => Err(e),
        }
    }
}
