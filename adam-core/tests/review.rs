//! The access review (contract: "Access review and inactive users") on SQLite and PostgreSQL:
//! who sees whom, live sessions and last sign-ins as the engine counts them.

#![allow(clippy::unwrap_used)]

mod support;

use adam_core::{DealershipId, Error, NewDealership, Role};
use adam_testkit::on_both_engines;
use adam_testkit::{ADMIN, MANAGER, PRINCIPAL};
use support::TestDb;

on_both_engines! {
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
