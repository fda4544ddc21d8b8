//! Passkeys (contract: "Passkeys (WebAuthn Level 3)") against real databases: every test runs on
//! SQLite and on PostgreSQL. The authenticator is adam-testkit's software passkey (ECDSA P-256
//! from ring, CBOR by hand), written independently of webauthn-rs.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::IpAddr;

use adam_core::{
    Amr, AuditEvent, AuditFilter, AuditLimit, ClientInfo, DealershipPatch, Error, KeyKind,
    Principal, RelyingParty, SignIn, TestClock, TokenPair, UserPatch,
};
use adam_testkit::passkey::SoftPasskey;
use adam_testkit::{on_both_engines, Engine, Fixture, TestDatabase, MANAGER};
use serde_json::Value;
use support::TestDb;

const ORIGIN: &str = "https://adam.dealer.example";

/// An engine whose passkeys belong to `adam.dealer.example`.
struct PasskeyDb(TestDb);

impl std::ops::Deref for PasskeyDb {
    type Target = TestDb;
    fn deref(&self) -> &TestDb {
        &self.0
    }
}

impl Fixture for PasskeyDb {
    async fn on(engine: Engine) -> Self {
        let db = TestDatabase::create(engine).await;
        let clock = TestClock::new();
        let settings = adam_core::Settings {
            passkeys: Some(RelyingParty {
                id: "adam.dealer.example".into(),
                name: "Adam".into(),
                origins: vec![ORIGIN.into()],
            }),
            ..adam_testkit::settings_on(&clock)
        };
        let adam = db.engine_with(settings).await;
        Self(TestDb { adam, db, clock })
    }
}

fn from(address: &str) -> ClientInfo {
    ClientInfo {
        ip: Some(address.parse::<IpAddr>().unwrap()),
        user_agent: Some("passkey tests".into()),
    }
}

/// Registers a new passkey for `who`, as `ORIGIN`; answers it.
async fn register(db: &TestDb, who: &Principal, name: &str) -> SoftPasskey {
    let started = db.start_passkey_registration(who).await.unwrap();
    let key = SoftPasskey::new(&started.public_key);
    let credential = key.registration(&started.public_key, ORIGIN);
    db.register_passkey(who, started.id, &credential, name)
        .await
        .unwrap();
    key
}

/// A passkey sign-in with `key` as `origin`.
async fn sign_in(db: &TestDb, key: &mut SoftPasskey, origin: &str) -> Result<SignIn, Error> {
    let started = db
        .start_passkey_sign_in(&from("198.51.100.7"))
        .await
        .unwrap();
    let assertion = key.assertion(&started.public_key, origin);
    db.sign_in_with_passkey(started.id, &assertion, &from("198.51.100.7"))
        .await
}

fn tokens(signed_in: SignIn) -> TokenPair {
    match signed_in {
        SignIn::Tokens(pair) => pair,
        other => panic!("expected tokens, got {other:?}"),
    }
}

/// The events of `action`, newest first, as the admin sees them.
async fn events(db: &TestDb, action: &str) -> Vec<AuditEvent> {
    let admin = db.admin().await;
    let filter = AuditFilter {
        action: Some(action.into()),
        ..AuditFilter::default()
    };
    db.audit_events(&admin, &filter, AuditLimit::new(100).unwrap(), None)
        .await
        .unwrap()
        .items
}

fn refused_as(e: Result<SignIn, Error>) {
    assert!(matches!(e, Err(Error::PasskeyRefused)), "{e:?}");
}

on_both_engines! {
    async fn a_registered_passkey_signs_in_without_an_email_as_multi_factor(db: PasskeyDb) {
        let manager = db.manager_of_premium().await;
        let started = db.start_passkey_registration(&manager).await.unwrap();
        let options = &started.public_key;
        assert_eq!(options["rp"]["id"], "adam.dealer.example");
        assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(options["authenticatorSelection"]["requireResidentKey"], true);
        assert_eq!(options["authenticatorSelection"]["userVerification"], "required");
        assert_eq!(options["attestation"], "none");
        let mut key = SoftPasskey::new(options);
        let credential = key.registration(options, ORIGIN);
        let info = db.register_passkey(&manager, started.id, &credential, "  Work laptop ").await.unwrap();
        assert_eq!(info.name, "Work laptop");
        let listed = db.passkeys(&manager).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, info.id);
        assert_eq!(listed[0].last_used_at, None);

        // A second registration excludes the first.
        let again = db.start_passkey_registration(&manager).await.unwrap();
        assert_eq!(again.public_key["excludeCredentials"].as_array().unwrap().len(), 1);

        let sign_in_options = db.start_passkey_sign_in(&from("198.51.100.7")).await.unwrap();
        assert!(sign_in_options.public_key["allowCredentials"].as_array().is_none_or(Vec::is_empty));
        assert_eq!(sign_in_options.public_key["userVerification"], "required");
        let pair = tokens(sign_in(&db, &mut key, ORIGIN).await.unwrap());
        let me = db.authenticate(&pair.access_token).await.unwrap();
        assert_eq!(me.user_id(), manager.user_id());
        assert_eq!(me.amr(), Amr::Passkey(KeyKind::Hardware));
        assert_eq!(me.amr().values(), ["hwk", "mfa"]);
        assert!(db.passkeys(&manager).await.unwrap()[0].last_used_at.is_some());
        // The refresh keeps how the session signed in.
        let refreshed = db.refresh(pair.refresh_token.expose()).await.unwrap();
        assert_eq!(db.authenticate(&refreshed.access_token).await.unwrap().amr(), Amr::Passkey(KeyKind::Hardware));

        let registered = events(&db, "passkey.registered").await;
        assert_eq!(registered.len(), 1);
        assert_eq!(registered[0].details["name"], "Work laptop");
        assert_eq!(registered[0].details["passkey_id"], info.id.to_string());
        let logins = events(&db, "login.succeeded").await;
        assert_eq!(logins.iter().filter(|e| e.details["method"] == "passkey").count(), 1);
    }

    async fn a_synced_passkey_signs_in_as_a_software_key(db: PasskeyDb) {
        let manager = db.manager_of_premium().await;
        let started = db.start_passkey_registration(&manager).await.unwrap();
        let mut key = SoftPasskey::new(&started.public_key);
        key.backup_eligible = true;
        key.counter = 0;
        let credential = key.registration(&started.public_key, ORIGIN);
        db.register_passkey(&manager, started.id, &credential, "Phone").await.unwrap();
        for _ in 0..2 {
            // A counter that stays 0 (synced passkeys have none) is no clone.
            let pair = tokens(sign_in(&db, &mut key, ORIGIN).await.unwrap());
            assert_eq!(db.authenticate(&pair.access_token).await.unwrap().amr(), Amr::Passkey(KeyKind::Software));
        }
    }

    async fn a_ceremony_is_single_use_and_answers_only_its_own_challenge(db: PasskeyDb) {
        let manager = db.manager_of_premium().await;
        let mut key = register(&db, &manager, "Laptop").await;
        let started = db.start_passkey_sign_in(&from("198.51.100.7")).await.unwrap();
        let assertion = key.assertion(&started.public_key, ORIGIN);
        tokens(db.sign_in_with_passkey(started.id, &assertion, &from("198.51.100.7")).await.unwrap());
        // The same answer again: the ceremony is spent.
        let replayed = db.sign_in_with_passkey(started.id, &assertion, &from("198.51.100.7")).await;
        assert!(matches!(replayed, Err(Error::Invalid { field: "ceremony_id", .. })), "{replayed:?}");
        // The answer to one ceremony sent with another.
        let other = db.start_passkey_sign_in(&from("198.51.100.7")).await.unwrap();
        refused_as(db.sign_in_with_passkey(other.id, &assertion, &from("198.51.100.7")).await);
        // And that other ceremony is spent by the refusal.
        let fresh = key.assertion(&other.public_key, ORIGIN);
        let again = db.sign_in_with_passkey(other.id, &fresh, &from("198.51.100.7")).await;
        assert!(matches!(again, Err(Error::Invalid { field: "ceremony_id", .. })), "{again:?}");

        // Five minutes: then it is gone.
        let late = db.start_passkey_sign_in(&from("198.51.100.7")).await.unwrap();
        db.clock.advance(chrono::Duration::seconds(301));
        let answer = key.assertion(&late.public_key, ORIGIN);
        let expired = db.sign_in_with_passkey(late.id, &answer, &from("198.51.100.7")).await;
        assert!(matches!(expired, Err(Error::Invalid { field: "ceremony_id", .. })), "{expired:?}");
    }

    async fn a_registration_ceremony_belongs_to_its_user_and_session(db: PasskeyDb) {
        let principal = db.principal_of_premium().await;
        let manager = db.manager_of_premium().await;
        let started = db.start_passkey_registration(&principal).await.unwrap();
        let key = SoftPasskey::new(&started.public_key);
        let credential = key.registration(&started.public_key, ORIGIN);
        // The manager cannot finish the principal's ceremony.
        let stolen = db.register_passkey(&manager, started.id, &credential, "Mine").await;
        assert!(matches!(stolen, Err(Error::Invalid { field: "ceremony_id", .. })), "{stolen:?}");
        // Nor can another session of the principal.
        let other_session = db.principal_of_premium().await;
        let elsewhere = db.register_passkey(&other_session, started.id, &credential, "Mine").await;
        assert!(matches!(elsewhere, Err(Error::Invalid { field: "ceremony_id", .. })), "{elsewhere:?}");
        db.register_passkey(&principal, started.id, &credential, "Mine").await.unwrap();
        assert!(db.passkeys(&manager).await.unwrap().is_empty());
        assert_eq!(db.passkeys(&principal).await.unwrap().len(), 1);
    }

    async fn another_origin_or_relying_party_or_no_user_verification_is_refused(db: PasskeyDb) {
        let manager = db.manager_of_premium().await;
        // Registration.
        for spoil in 0..3 {
            let started = db.start_passkey_registration(&manager).await.unwrap();
            let mut key = SoftPasskey::new(&started.public_key);
            let origin = match spoil {
                0 => "https://adam.dealer.example.evil.example",
                1 => { key.rp_id = "evil.example".into(); ORIGIN }
                _ => { key.user_verified = false; ORIGIN }
            };
            let credential = key.registration(&started.public_key, origin);
            let refused = db.register_passkey(&manager, started.id, &credential, "Bad").await;
            assert!(matches!(refused, Err(Error::Invalid { field: "credential", .. })), "{spoil}: {refused:?}");
        }
        assert!(db.passkeys(&manager).await.unwrap().is_empty());

        // Sign-in.
        let mut key = register(&db, &manager, "Good").await;
        refused_as(sign_in(&db, &mut key, "https://evil.example").await);
        key.rp_id = "evil.example".into();
        refused_as(sign_in(&db, &mut key, ORIGIN).await);
        key.rp_id = "adam.dealer.example".into();
        key.user_verified = false;
        refused_as(sign_in(&db, &mut key, ORIGIN).await);
        key.user_verified = true;
        tokens(sign_in(&db, &mut key, ORIGIN).await.unwrap());
        let failed = events(&db, "login.failed").await;
        assert_eq!(failed.len(), 3);
        assert!(failed.iter().all(|e| e.details["reason"] == "passkey_failed"));
    }

    async fn a_counter_that_goes_backwards_is_a_clone_refused_and_recorded(db: PasskeyDb) {
        let manager = db.manager_of_premium().await;
        let mut key = register(&db, &manager, "Key").await;
        tokens(sign_in(&db, &mut key, ORIGIN).await.unwrap());
        tokens(sign_in(&db, &mut key, ORIGIN).await.unwrap());
        key.counter -= 2;
        refused_as(sign_in(&db, &mut key, ORIGIN).await);
        let failed = events(&db, "login.failed").await;
        assert_eq!(failed[0].details["reason"], "passkey_cloned");
        assert_eq!(failed[0].subject.as_ref().map(|s| s.id), Some(manager.user_id().as_uuid()));
    }

    async fn a_removed_passkey_or_one_of_a_deactivated_user_signs_in_no_more(db: PasskeyDb) {
        let manager = db.manager_of_premium().await;
        let mut first = register(&db, &manager, "First").await;
        let mut second = register(&db, &manager, "Second").await;
        let listed = db.passkeys(&manager).await.unwrap();
        db.remove_passkey(&manager, listed[0].id).await.unwrap();
        refused_as(sign_in(&db, &mut first, ORIGIN).await);
        assert!(matches!(db.remove_passkey(&manager, listed[0].id).await, Err(Error::NotFound)));
        // Someone else's passkey cannot be removed.
        let principal = db.principal_of_premium().await;
        assert!(matches!(db.remove_passkey(&principal, listed[1].id).await, Err(Error::NotFound)));
        assert_eq!(events(&db, "passkey.removed").await.len(), 1);

        tokens(sign_in(&db, &mut second, ORIGIN).await.unwrap());
        let patch = UserPatch { is_active: Some(false), ..UserPatch::default() };
        db.update_user(&principal, manager.user_id(), patch).await.unwrap();
        refused_as(sign_in(&db, &mut second, ORIGIN).await);
    }

    async fn registering_and_removing_need_a_recent_sign_in(db: PasskeyDb) {
        let manager = db.manager_of_premium().await;
        let mut key = register(&db, &manager, "Laptop").await;
        let id = db.passkeys(&manager).await.unwrap()[0].id;
        let started = db.start_passkey_registration(&manager).await.unwrap();
        db.clock.advance(chrono::Duration::seconds(301));
        assert!(matches!(db.start_passkey_registration(&manager).await, Err(Error::ReauthenticationRequired)));
        assert!(matches!(db.remove_passkey(&manager, id).await, Err(Error::ReauthenticationRequired)));
        let late = SoftPasskey::new(&started.public_key);
        let credential = late.registration(&started.public_key, ORIGIN);
        assert!(matches!(db.register_passkey(&manager, started.id, &credential, "Late").await, Err(Error::ReauthenticationRequired)));
        // Listing needs no fresh sign-in.
        assert_eq!(db.passkeys(&manager).await.unwrap().len(), 1);
        // A new sign-in (with the passkey, now that the password alone no longer does) may.
        let pair = tokens(sign_in(&db, &mut key, ORIGIN).await.unwrap());
        let fresh = db.authenticate(&pair.access_token).await.unwrap();
        db.remove_passkey(&fresh, id).await.unwrap();
    }

    async fn a_passkey_satisfies_a_dealership_that_requires_a_second_factor(db: PasskeyDb) {
        let manager = db.manager_of_premium().await;
        let mut key = register(&db, &manager, "Laptop").await;
        let admin = db.admin().await;
        let on = DealershipPatch { mfa_required: Some(true), ..DealershipPatch::default() };
        db.update_dealership(&admin, manager.dealership_id().unwrap(), on).await.unwrap();
        let pair = tokens(sign_in(&db, &mut key, ORIGIN).await.unwrap());
        let me = db.authenticate(&pair.access_token).await.unwrap();
        assert!(me.amr().has_second_factor());
        db.refresh(pair.refresh_token.expose()).await.unwrap();
    }

    async fn bad_input_changes_nothing(db: PasskeyDb) {
        let manager = db.manager_of_premium().await;
        let started = db.start_passkey_registration(&manager).await.unwrap();
        let key = SoftPasskey::new(&started.public_key);
        let credential = key.registration(&started.public_key, ORIGIN);
        for name in ["", "   ", &"x".repeat(65), "tab\there"] {
            let refused = db.register_passkey(&manager, started.id, &credential, name).await;
            assert!(matches!(refused, Err(Error::Invalid { field: "name", .. })), "{name:?}: {refused:?}");
        }
        for garbage in [Value::Null, serde_json::json!({"id": 3}), serde_json::json!("text")] {
            let refused = db.register_passkey(&manager, started.id, &garbage, "Fine").await;
            assert!(matches!(refused, Err(Error::Invalid { field: "credential", .. })), "{refused:?}");
            let refused = db.sign_in_with_passkey(started.id, &garbage, &from("198.51.100.7")).await;
            assert!(matches!(refused, Err(Error::Invalid { field: "credential", .. })), "{refused:?}");
        }
        // None of that spent the ceremony.
        db.register_passkey(&manager, started.id, &credential, "Fine").await.unwrap();
        // A sign-in ceremony cannot finish a registration, nor the other way round.
        let sign_in_ceremony = db.start_passkey_sign_in(&from("198.51.100.7")).await.unwrap();
        let wrong_kind = db.register_passkey(&manager, sign_in_ceremony.id, &credential, "Again").await;
        assert!(matches!(wrong_kind, Err(Error::Invalid { field: "ceremony_id", .. })), "{wrong_kind:?}");
        // The same credential twice: refused (webauthn-rs sees it among the excluded ones).
        let second = db.start_passkey_registration(&manager).await.unwrap();
        let same = key.registration(&second.public_key, ORIGIN);
        let twice = db.register_passkey(&manager, second.id, &same, "Twice").await;
        assert!(matches!(twice, Err(Error::Conflict(_)) | Err(Error::Invalid { field: "credential", .. })), "{twice:?}");
        assert_eq!(db.passkeys(&manager).await.unwrap().len(), 1);
    }

    async fn anonymous_sign_in_options_are_counted_per_address(db: PasskeyDb) {
        let limit = adam_core::SIGN_IN_CEREMONIES_PER_ADDRESS;
        for _ in 0..limit {
            db.start_passkey_sign_in(&from("203.0.113.9")).await.unwrap();
        }
        let refused = db.start_passkey_sign_in(&from("203.0.113.9")).await;
        assert!(matches!(refused, Err(Error::TooManyAttempts { .. })), "{refused:?}");
        db.start_passkey_sign_in(&from("203.0.113.10")).await.unwrap();
        db.clock.advance(chrono::Duration::seconds(301));
        db.start_passkey_sign_in(&from("203.0.113.9")).await.unwrap();
    }

    async fn a_passkey_is_the_second_step_after_a_password(db: PasskeyDb) {
        let manager = db.manager_of_premium().await;
        let principal = db.principal_of_premium().await;
        assert!(!db.get_user(&principal, manager.user_id()).await.unwrap().mfa_enabled);
        let mut key = register(&db, &manager, "Laptop").await;
        assert!(db.get_user(&principal, manager.user_id()).await.unwrap().mfa_enabled, "a passkey is a second factor");
        let here = from("198.51.100.8");
        let token = match db.sign_in(MANAGER.0, MANAGER.1, &here).await.unwrap() {
            SignIn::CodeRequired(t, methods) => {
                assert_eq!(methods.names(), ["passkey"]);
                t
            }
            other => panic!("expected the second step, got {other:?}"),
        };
        let started = db.start_passkey_second_step(token.expose(), &here).await.unwrap();
        assert_eq!(started.public_key["allowCredentials"].as_array().unwrap().len(), 1);
        // Another origin: refused, and the token lives on.
        let bad = key.assertion(&started.public_key, "https://evil.example");
        refused_as(db.sign_in_with_passkey_second_step(token.expose(), started.id, &bad, &here).await);
        let started = db.start_passkey_second_step(token.expose(), &here).await.unwrap();
        let good = key.assertion(&started.public_key, ORIGIN);
        let pair = tokens(db.sign_in_with_passkey_second_step(token.expose(), started.id, &good, &here).await.unwrap());
        let me = db.authenticate(&pair.access_token).await.unwrap();
        assert_eq!(me.amr(), Amr::PasswordAndPasskey(KeyKind::Hardware));
        assert_eq!(me.amr().values(), ["pwd", "hwk", "mfa"]);
        // The token is spent.
        assert!(matches!(db.start_passkey_second_step(token.expose(), &here).await, Err(Error::MfaTokenInvalid)));
        let logins = events(&db, "login.succeeded").await;
        assert_eq!(logins.iter().filter(|e| e.details["method"] == "passkey").count(), 1);
    }

    async fn a_reset_of_the_second_factor_removes_the_passkeys(db: PasskeyDb) {
        let manager = db.manager_of_premium().await;
        let mut key = register(&db, &manager, "Lost key").await;
        let principal = db.principal_of_premium().await;
        db.reset_mfa(&principal, manager.user_id()).await.unwrap();
        assert!(!db.get_user(&principal, manager.user_id()).await.unwrap().mfa_enabled);
        refused_as(sign_in(&db, &mut key, ORIGIN).await);
        assert!(matches!(db.sign_in(MANAGER.0, MANAGER.1, &from("198.51.100.8")).await.unwrap(), SignIn::Tokens(_)));
    }

    async fn passkeys_are_off_without_a_relying_party(db: TestDb) {
        let manager = db.manager_of_premium().await;
        assert!(!db.passkeys_enabled());
        assert!(matches!(db.passkeys(&manager).await, Err(Error::Conflict(_))));
        assert!(matches!(db.start_passkey_registration(&manager).await, Err(Error::Conflict(_))));
        assert!(matches!(db.start_passkey_sign_in(&from("198.51.100.7")).await, Err(Error::Conflict(_))));
    }
}

/// A second engine (another server) on the same PostgreSQL database as `db`.
async fn another_server(db: &PasskeyDb) -> adam_core::Adam {
    let settings = adam_core::Settings {
        passkeys: Some(RelyingParty {
            id: "adam.dealer.example".into(),
            name: "Adam".into(),
            origins: vec![ORIGIN.into()],
        }),
        ..adam_testkit::settings_on(&db.clock)
    };
    db.db.engine_with(settings).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ceremony_started_on_one_server_finishes_on_another() {
    let db = PasskeyDb::on(Engine::Postgres).await;
    let other = another_server(&db).await;
    let manager = db.manager_of_premium().await;
    let started = db.start_passkey_registration(&manager).await.unwrap();
    let mut key = SoftPasskey::new(&started.public_key);
    let credential = key.registration(&started.public_key, ORIGIN);
    other
        .register_passkey(&manager, started.id, &credential, "Laptop")
        .await
        .unwrap();
    let here = from("198.51.100.7");
    let started = other.start_passkey_sign_in(&here).await.unwrap();
    let assertion = key.assertion(&started.public_key, ORIGIN);
    tokens(
        db.sign_in_with_passkey(started.id, &assertion, &here)
            .await
            .unwrap(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_answers_to_one_ceremony_on_two_servers_sign_in_once() {
    let db = PasskeyDb::on(Engine::Postgres).await;
    let other = another_server(&db).await;
    let manager = db.manager_of_premium().await;
    let mut key = register(&db, &manager, "Laptop").await;
    let started = db
        .start_passkey_sign_in(&from("198.51.100.7"))
        .await
        .unwrap();
    let assertion = key.assertion(&started.public_key, ORIGIN);
    let mut attempts = tokio::task::JoinSet::new();
    for n in 0..8 {
        let adam = if n % 2 == 0 {
            db.adam.clone()
        } else {
            other.clone()
        };
        let assertion = assertion.clone();
        attempts.spawn(async move {
            adam.sign_in_with_passkey(started.id, &assertion, &from("198.51.100.7"))
                .await
        });
    }
    let results = attempts.join_all().await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloned_key_answering_many_ceremonies_at_once_signs_in_once() {
    let db = PasskeyDb::on(Engine::Postgres).await;
    let other = another_server(&db).await;
    let manager = db.manager_of_premium().await;
    let mut key = register(&db, &manager, "Laptop").await;
    let here = from("198.51.100.7");
    // Eight ceremonies, each answered with the same counter, as copies of one key would.
    let mut answers = Vec::new();
    for _ in 0..8 {
        let started = db.start_passkey_sign_in(&here).await.unwrap();
        let before = key.counter;
        answers.push((started.id, key.assertion(&started.public_key, ORIGIN)));
        key.counter = before;
    }
    let mut attempts = tokio::task::JoinSet::new();
    for (n, (id, assertion)) in answers.into_iter().enumerate() {
        let adam = if n % 2 == 0 {
            db.adam.clone()
        } else {
            other.clone()
        };
        let here = here.clone();
        attempts.spawn(async move { adam.sign_in_with_passkey(id, &assertion, &here).await });
    }
    let results = attempts.join_all().await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    let cloned = events(&db, "login.failed").await;
    assert_eq!(cloned.len(), 7);
    assert!(cloned
        .iter()
        .all(|e| e.details["reason"] == "passkey_cloned"));
}
