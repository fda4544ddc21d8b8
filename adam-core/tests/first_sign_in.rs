//! The first sign-in with a password someone else set (contract: "Invitations, password reset,
//! first sign-in"), and `last_sign_in_at`, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::IpAddr;

use adam_core::{
    Amr, ClientInfo, DealershipPatch, Email, Error, Name, NewUser, Principal, Role, SignIn,
    UserPatch,
};
use adam_testkit::authenticator::{code_now, fresh_step, previous_code};
use adam_testkit::on_both_engines;
use adam_testkit::{ADMIN, MANAGER};
use chrono::Duration;
use support::{TestDb, PASSWORD};

fn here() -> ClientInfo {
    ClientInfo {
        ip: Some("198.51.100.7".parse::<IpAddr>().unwrap()),
        user_agent: Some("first sign-in tests".into()),
    }
}

const NEW: &str = "new.fi@premiumauto.com";
const CHOSEN: &str = "my-own-passphrase-2026";

/// A new F&I manager of the admin's choosing, with `PASSWORD` set for them.
async fn hire(db: &TestDb, admin: &Principal, must_change_password: bool) -> adam_core::User {
    let dealership = db.manager_of_premium().await.dealership_id();
    db.create_user(
        admin,
        NewUser {
            email: Email::parse(NEW).unwrap(),
            password: db.password_policy().check(PASSWORD.into()).unwrap(),
            full_name: Name::parse("full_name", "New Hire").unwrap(),
            role: Role::FiManager,
            dealership_id: dealership,
            must_change_password,
        },
    )
    .await
    .unwrap()
}

/// The `password_change_token` of a sign-in that asks for a new password.
async fn asked_for_new_password(db: &TestDb, email: &str, password: &str) -> String {
    match db.sign_in(email, password, &here()).await.unwrap() {
        SignIn::PasswordChangeRequired(t) => t.expose().to_owned(),
        other => panic!("expected a new password to be asked for, got {other:?}"),
    }
}

on_both_engines! {
    async fn a_password_set_by_someone_else_is_changed_at_the_first_sign_in(db: TestDb) {
        let admin = db.admin().await;
        let hired = hire(&db, &admin, true).await;
        assert_eq!(hired.last_sign_in_at, None, "null until the first sign-in");

        let token = asked_for_new_password(&db, NEW, PASSWORD).await;
        // No session yet: the convenience sign-in cannot go on either.
        assert!(matches!(db.login(NEW, PASSWORD).await, Err(Error::PasswordChangeRequired)));
        // The set password again, and a weak one, are refused and change nothing.
        let same = db.change_password_at_sign_in(&token, PASSWORD, &here()).await;
        assert!(matches!(same, Err(Error::Invalid { field: "new_password", .. })), "{same:?}");
        let weak = db.change_password_at_sign_in(&token, "short", &here()).await;
        assert!(matches!(weak, Err(Error::Invalid { field: "new_password", .. })), "{weak:?}");

        let pair = db.change_password_at_sign_in(&token, CHOSEN, &here()).await.unwrap();
        let me = db.authenticate(&pair.access_token).await.unwrap();
        assert_eq!(me.user_id(), hired.id);
        let profile = db.me(&me).await.unwrap();
        assert!(profile.last_sign_in_at.is_some(), "the completed sign-in is noted");

        // Spent: the token opens nothing again.
        let again = db.change_password_at_sign_in(&token, "another-passphrase-9", &here()).await;
        assert!(matches!(again, Err(Error::MfaTokenInvalid)), "{again:?}");
        // The new password signs in directly; the old one no longer does.
        assert!(matches!(db.sign_in(NEW, CHOSEN, &here()).await.unwrap(), SignIn::Tokens(_)));
        assert!(matches!(db.login(NEW, PASSWORD).await, Err(Error::InvalidCredentials)));
    }

    async fn five_refused_passwords_spend_the_token(db: TestDb) {
        let admin = db.admin().await;
        hire(&db, &admin, true).await;
        let token = asked_for_new_password(&db, NEW, PASSWORD).await;
        for _ in 0..5 {
            let r = db.change_password_at_sign_in(&token, "short", &here()).await;
            assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
        }
        let r = db.change_password_at_sign_in(&token, CHOSEN, &here()).await;
        assert!(matches!(r, Err(Error::MfaTokenInvalid)), "{r:?}");
        // The password is unchanged: a new sign-in asks again.
        asked_for_new_password(&db, NEW, PASSWORD).await;
    }

    async fn of_two_simultaneous_new_passwords_exactly_one_is_set(db: TestDb) {
        let admin = db.admin().await;
        hire(&db, &admin, true).await;
        let token = asked_for_new_password(&db, NEW, PASSWORD).await;
        let origin = here();
        let (a, b) = tokio::join!(
            db.change_password_at_sign_in(&token, "first-passphrase-11", &origin),
            db.change_password_at_sign_in(&token, "second-passphrase-22", &origin),
        );
        assert_eq!(usize::from(a.is_ok()) + usize::from(b.is_ok()), 1, "{a:?} {b:?}");
        let won = if a.is_ok() { "first-passphrase-11" } else { "second-passphrase-22" };
        assert!(matches!(db.sign_in(NEW, won, &here()).await.unwrap(), SignIn::Tokens(_)));
    }

    async fn the_second_factor_comes_before_the_new_password(db: TestDb) {
        fresh_step(&db.clock);
        let manager = db.manager_of_premium().await;
        let started = db.start_totp_enrollment(&manager, MANAGER.1).await.unwrap();
        let secret = started.secret.to_string();
        db.confirm_totp_enrollment(&manager, &previous_code(&db.clock, &secret)).await.unwrap();
        let admin = db.admin().await;
        let patch = UserPatch {
            password: Some(db.password_policy().check(PASSWORD.into()).unwrap()),
            must_change_password: Some(true),
            ..UserPatch::default()
        };
        db.update_user(&admin, manager.user_id(), patch).await.unwrap();

        let mfa_token = match db.sign_in(MANAGER.0, PASSWORD, &here()).await.unwrap() {
            SignIn::CodeRequired(t, _) => t.expose().to_owned(),
            other => panic!("the code comes first, got {other:?}"),
        };
        let next = db.sign_in_with_code(&mfa_token, &code_now(&db.clock, &secret), &here()).await.unwrap();
        let SignIn::PasswordChangeRequired(token) = next else {
            panic!("then the new password, got {next:?}");
        };
        let pair = db.change_password_at_sign_in(token.expose(), CHOSEN, &here()).await.unwrap();
        let me = db.authenticate(&pair.access_token).await.unwrap();
        assert_eq!(me.amr(), Amr::PasswordAndOtp, "the session keeps the second factor it proved");
    }

    async fn must_change_password_goes_only_with_a_password_set_for_someone_else(db: TestDb) {
        let admin = db.admin().await;
        let manager = db.manager_of_premium().await;
        let alone = UserPatch { must_change_password: Some(true), ..UserPatch::default() };
        let r = db.update_user(&admin, manager.user_id(), alone).await;
        assert!(matches!(r, Err(Error::Invalid { field: "must_change_password", .. })), "{r:?}");
        let own = UserPatch {
            password: Some(db.password_policy().check(CHOSEN.into()).unwrap()),
            current_password: Some(ADMIN.1.into()),
            must_change_password: Some(true),
            ..UserPatch::default()
        };
        let r = db.update_user(&admin, admin.user_id(), own).await;
        assert!(matches!(r, Err(Error::Invalid { field: "must_change_password", .. })), "{r:?}");
        // Nothing changed: both still sign in with their passwords, without a new one asked.
        assert!(matches!(db.sign_in(ADMIN.0, ADMIN.1, &here()).await.unwrap(), SignIn::Tokens(_)));
        assert!(matches!(db.sign_in(MANAGER.0, MANAGER.1, &here()).await.unwrap(), SignIn::Tokens(_)));
    }

    async fn the_new_password_token_lives_five_minutes(db: TestDb) {
        let admin = db.admin().await;
        hire(&db, &admin, true).await;
        let token = asked_for_new_password(&db, NEW, PASSWORD).await;
        db.clock.advance(Duration::seconds(301));
        let late = db.change_password_at_sign_in(&token, CHOSEN, &here()).await;
        assert!(matches!(late, Err(Error::MfaTokenInvalid)), "{late:?}");
        asked_for_new_password(&db, NEW, PASSWORD).await;
    }

    async fn an_enrollment_at_sign_in_hands_its_recovery_codes_to_the_new_password_step(db: TestDb) {
        fresh_step(&db.clock);
        let admin = db.admin().await;
        let hired = hire(&db, &admin, true).await;
        let on = DealershipPatch { mfa_required: Some(true), ..DealershipPatch::default() };
        db.update_dealership(&admin, hired.dealership_id().unwrap(), on).await.unwrap();
        let mfa_token = match db.sign_in(NEW, PASSWORD, &here()).await.unwrap() {
            SignIn::EnrollmentRequired(t) => t.expose().to_owned(),
            other => panic!("enrollment comes first, got {other:?}"),
        };
        let secret = db.enroll_at_sign_in(&mfa_token).await.unwrap().secret.to_string();
        let enrolled = db
            .confirm_enrollment_at_sign_in(&mfa_token, &code_now(&db.clock, &secret), &here())
            .await
            .unwrap();
        assert_eq!(enrolled.recovery_codes.codes().len(), 10);
        let SignIn::PasswordChangeRequired(token) = enrolled.signed_in else {
            panic!("then the new password, got {:?}", enrolled.signed_in);
        };
        let pair = db.change_password_at_sign_in(token.expose(), CHOSEN, &here()).await.unwrap();
        let me = db.authenticate(&pair.access_token).await.unwrap();
        assert_eq!(me.amr(), Amr::PasswordAndOtp);
    }

    async fn without_must_change_password_a_new_user_signs_in_directly(db: TestDb) {
        let admin = db.admin().await;
        hire(&db, &admin, false).await;
        assert!(matches!(db.sign_in(NEW, PASSWORD, &here()).await.unwrap(), SignIn::Tokens(_)));
    }
}
