//! The access review (contract: "Access review and inactive users") on SQLite and PostgreSQL:
//! who sees whom, live sessions and last sign-ins as the engine counts them.

#![allow(clippy::unwrap_used)]

mod support;

use adam_core::{AuditFilter, AuditLimit, DealershipId, Error, NewDealership, Role, UserPatch};
use adam_testkit::on_both_engines;
use adam_testkit::{ADMIN, MANAGER, PRINCIPAL};
use chrono::Duration;
use support::TestDb;

/// A second engine on the test's database and clock with `INACTIVE_USER_DAYS=30`.
async fn after_30_days(db: &TestDb) -> adam_core::Adam {
    let mut settings = adam_testkit::settings_on(&db.clock);
    settings.inactive_after = Some(Duration::days(30));
    db.db.engine_with(settings).await
}

on_both_engines! {
    async fn inactive_users_are_deactivated_once_a_day_but_never_the_last_admin(db: TestDb) {
        let chore = after_30_days(&db).await;
        assert!(db.deactivate_inactive_users().await.unwrap().is_none(), "off by default");
        let admin = db.admin().await;
        db.add_user(&admin, "second.admin@adam.example", Role::SystemAdmin, None).await;
        db.manager_of_premium().await;
        assert_eq!(chore.deactivate_inactive_users().await.unwrap(), Some(vec![]), "nobody is stale yet");
        assert_eq!(chore.deactivate_inactive_users().await.unwrap(), None, "once a day");

        db.clock.advance(Duration::days(1));
        db.login("second.admin@adam.example", support::PASSWORD).await.unwrap();
        db.clock.advance(Duration::days(30) + Duration::minutes(1));
        db.login(PRINCIPAL.0, PRINCIPAL.1).await.unwrap();
        let other = after_30_days(&db).await;
        let (a, b) = tokio::join!(chore.deactivate_inactive_users(), other.deactivate_inactive_users());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.is_none() != b.is_none(), "one of two servers acts: {a:?} {b:?}");
        let gone = a.or(b).unwrap();
        let mut emails: Vec<&str> = gone.iter().map(|u| u.email.as_str()).collect();
        emails.sort_unstable();
        // The principal signed in within the 30 days; of the two stale admins the more recently
        // active one stays.
        assert_eq!(emails, [ADMIN.0, MANAGER.0]);
        assert!(gone.iter().all(|u| !u.is_active));
        assert!(db.login(MANAGER.0, MANAGER.1).await.is_err(), "a deactivated user cannot sign in");

        let second = db.principal("second.admin@adam.example", support::PASSWORD).await;
        let events = db
            .audit_events(&second, &AuditFilter { action: Some("user.updated".into()), ..AuditFilter::default() }, AuditLimit::default(), None)
            .await
            .unwrap()
            .items;
        let inactive: Vec<_> = events.iter().filter(|e| e.details["reason"] == "inactive").collect();
        assert_eq!(inactive.len(), 2, "{events:?}");
        assert!(inactive.iter().all(|e| e.actor.is_none() && e.details["is_active"]["to"] == false));
        let ended = db
            .audit_events(&second, &AuditFilter { action: Some("session.ended".into()), ..AuditFilter::default() }, AuditLimit::default(), None)
            .await
            .unwrap()
            .items;
        assert!(ended.iter().any(|e| e.details["how"] == "user_changed"), "the manager's session ended");

        // Reactivated, the manager counts from the reactivation: not deactivated the next day.
        let manager = gone.iter().find(|u| u.email.as_str() == MANAGER.0).unwrap();
        db.update_user(&second, manager.id, UserPatch { is_active: Some(true), ..UserPatch::default() }).await.unwrap();
        db.clock.advance(Duration::days(1) + Duration::minutes(1));
        let next = chore.deactivate_inactive_users().await.unwrap().unwrap();
        assert!(next.iter().all(|u| u.email.as_str() != MANAGER.0), "{next:?}");
        db.login(MANAGER.0, MANAGER.1).await.unwrap();
    }

    async fn the_review_shows_each_reviewer_whom_they_may_see(db: TestDb) {
        let admin = db.admin().await;
        let principal = db.principal_of_premium().await;
        // A second sign-in of the manager: two live sessions; one ended: one.
        let manager = db.manager_of_premium().await;
        let second = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        db.logout(second.refresh_token.expose()).await.unwrap();
        let other = db
            .create_dealership(&admin, NewDealership { name: adam_core::Name::parse("name", "Other Motors").unwrap() })
            .await
            .unwrap();
        db.add_user(&admin, "fi@other.example", Role::FiManager, Some(other.id)).await;

        let everyone = db.access_review(&admin, None).await.unwrap();
        let emails: Vec<&str> = everyone.items.iter().map(|e| e.user.email.as_str()).collect();
        assert_eq!(emails, [ADMIN.0, "fi@other.example", MANAGER.0, PRINCIPAL.0], "every user, by email");
        let of = |email: &str| everyone.items.iter().find(|e| e.user.email.as_str() == email).unwrap().clone();
        assert_eq!(of(MANAGER.0).live_sessions, 1, "the ended session does not count");
        assert_eq!(of(MANAGER.0).dealership_name.as_deref(), Some("Premium Auto"));
        assert!(of(MANAGER.0).user.last_sign_in_at.is_some());
        assert_eq!(of("fi@other.example").user.last_sign_in_at, None, "never signed in");
        assert_eq!(of("fi@other.example").live_sessions, 0);
        assert_eq!(of(ADMIN.0).dealership_name, None);

        let one: Vec<_> = db.access_review(&admin, Some(other.id)).await.unwrap().items;
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].user.email.as_str(), "fi@other.example");

        // A principal sees their own dealership whatever they name.
        for asked in [None, Some(other.id), Some(DealershipId::new())] {
            let theirs = db.access_review(&principal, asked).await.unwrap();
            let emails: Vec<&str> = theirs.items.iter().map(|e| e.user.email.as_str()).collect();
            assert_eq!(emails, [MANAGER.0, PRINCIPAL.0], "asked for {asked:?}");
        }
        assert!(matches!(db.access_review(&manager, None).await, Err(Error::Forbidden(_))));
        // The operator's review at the command line sees everyone.
        assert_eq!(db.access_review_all(None).await.unwrap().items.len(), 4);
    }
}
