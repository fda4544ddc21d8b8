//! Signing keys on real databases (every test on SQLite and on PostgreSQL): the keys a fresh
//! database gets, rotation by hand and when due, with several engines on one database,
//! revocation, a change of `SECRET_KEY`, and introspection.

#![allow(clippy::unwrap_used)]

mod support;

use adam_testkit::{ADMIN, MANAGER};
use std::time::Duration as StdDuration;

use adam_core::keyring::{KeyState, SigningAlg};
use adam_core::oauth_clients::{IdTokenAlg, NewClient};
use adam_core::tokens::AccessTokenVerifier;
use adam_core::{Adam, Amr, Error, Role, SecretKey, Settings};
use adam_testkit::{on_both_engines, SECRET};
use chrono::Duration;
use support::TestDb;

const OTHER_SECRET: &[u8] = b"another secret key, also more than thirty-two bytes";

fn kid(token: &str) -> String {
    AccessTokenVerifier::kid_of(token).unwrap()
}

/// Keys that may sign as soon as they are published, read again every 50 ms, on the clock of
/// `db`'s engine.
fn eager(db: &TestDb) -> Settings {
    Settings {
        key_publish_lead: Duration::zero(),
        key_reload: StdDuration::from_millis(50),
        ..adam_testkit::settings_on(&db.clock)
    }
}

async fn kid_of_state(adam: &Adam, state: KeyState) -> Vec<String> {
    let keys = adam.signing_keys().await.unwrap();
    keys.into_iter()
        .filter(|k| k.state == state)
        .map(|k| k.kid)
        .collect()
}

async fn connect(db: &TestDb, secret: SecretKey) -> Adam {
    Adam::connect(db.url(), secret, adam_testkit::settings_on(&db.clock))
        .await
        .unwrap()
}

on_both_engines! {
    async fn rsa_keys_come_with_the_first_rs256_client_then_rotate_and_revoke_beside_the_others(db: TestDb) {
        let of = |keys: &[adam_core::keyring::SigningKeyInfo], alg, state| -> Vec<String> {
            keys.iter().filter(|k| k.alg == alg && k.state == state).map(|k| k.kid.clone()).collect()
        };
        let keys = db.signing_keys().await.unwrap();
        assert!(keys.iter().all(|k| k.alg == SigningAlg::EdDSA), "none before a client needs them");
        let admin = db.admin().await;
        let client = NewClient {
            client_id: Some("analytics".into()),
            name: adam_core::Name::parse("name", "Analytics").unwrap(),
            redirect_uris: vec!["https://analytics.dealer.example/cb".into()],
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            public: false,
            first_party: false,
            allowed_roles: Vec::new(),
            dealership_ids: Vec::new(),
            id_token_alg: IdTokenAlg::RS256,
        };
        db.register_client(&admin, client).await.unwrap();
        let keys = db.signing_keys().await.unwrap();
        let (rsa_current, rsa_next) = (of(&keys, SigningAlg::RS256, KeyState::Current), of(&keys, SigningAlg::RS256, KeyState::Next));
        assert_eq!((rsa_current.len(), rsa_next.len()), (1, 1), "{keys:?}");
        let ed_current = of(&keys, SigningAlg::EdDSA, KeyState::Current);
        let jwks = db.jwks().await.unwrap();
        assert_eq!(jwks.find(&rsa_current[0]).unwrap().alg(), "RS256");
        assert!(jwks.find(&rsa_next[0]).is_some());
        // Access tokens are still signed, and only verified, with the Ed25519 keys.
        let pair = db.login(ADMIN.0, ADMIN.1).await.unwrap();
        assert_eq!(kid(&pair.access_token), ed_current[0]);

        // A rotation rotates both algorithms, each on its own pair, in one step.
        let rotations = db.rotate_signing_keys(true).await.unwrap();
        let algs: Vec<SigningAlg> = rotations.iter().map(|r| r.alg).collect();
        assert_eq!(algs, [SigningAlg::EdDSA, SigningAlg::RS256]);
        assert_eq!((&rotations[1].retired, &rotations[1].current), (&rsa_current[0], &rsa_next[0]));
        let keys = db.signing_keys().await.unwrap();
        assert_eq!(of(&keys, SigningAlg::RS256, KeyState::Current), vec![rsa_next[0].clone()]);
        assert_eq!(of(&keys, SigningAlg::EdDSA, KeyState::Current), vec![rotations[0].current.clone()]);

        // Revoking the current RSA key promotes the RSA next key; the Ed25519 keys stay.
        let ed_before = of(&keys, SigningAlg::EdDSA, KeyState::Current);
        assert_eq!(db.revoke_signing_key(&rsa_next[0]).await.unwrap(), KeyState::Current);
        let keys = db.signing_keys().await.unwrap();
        assert_eq!(of(&keys, SigningAlg::RS256, KeyState::Current), vec![rotations[1].next.clone()]);
        assert_eq!(of(&keys, SigningAlg::RS256, KeyState::Next).len(), 1);
        assert_eq!(of(&keys, SigningAlg::EdDSA, KeyState::Current), ed_before);
        assert!(db.jwks().await.unwrap().find(&rsa_next[0]).is_none());
    }

    async fn a_fresh_database_has_one_current_and_one_next_key(db: TestDb) {
        let current = kid_of_state(&db, KeyState::Current).await;
        let next = kid_of_state(&db, KeyState::Next).await;
        assert_eq!((current.len(), next.len()), (1, 1));
        assert_eq!(kid_of_state(&db, KeyState::Retired).await.len(), 0);
        let jwks = db.jwks().await.unwrap();
        assert!(jwks.find(&current[0]).is_some() && jwks.find(&next[0]).is_some());
        // The current key signs; the published keys verify, without the database.
        let pair = db.login(ADMIN.0, ADMIN.1).await.unwrap();
        assert_eq!(kid(&pair.access_token), current[0]);
        let caller = db.offline_verifier().await.unwrap().verify(&pair.access_token).unwrap();
        assert_eq!(caller.role(), Role::SystemAdmin);
    }

    async fn rotation_keeps_old_tokens_and_signs_with_the_former_next_key(db: TestDb) {
        let before = db.login(ADMIN.0, ADMIN.1).await.unwrap();
        let current = kid_of_state(&db, KeyState::Current).await.remove(0);
        let next = kid_of_state(&db, KeyState::Next).await.remove(0);
        // The next key was published a moment ago: too soon to sign, and nothing changes.
        let refused = db.rotate_signing_keys(false).await;
        assert!(matches!(&refused, Err(Error::Conflict(m)) if m.contains("--force")), "{refused:?}");
        assert_eq!(kid_of_state(&db, KeyState::Current).await, vec![current.clone()]);

        let rotations = db.rotate_signing_keys(true).await.unwrap();
        assert_eq!(rotations.len(), 1, "no RSA keys until a client needs them");
        let rotation = &rotations[0];
        assert_eq!((&rotation.retired, &rotation.current), (&current, &next));
        assert_ne!(rotation.next, next);
        // Tokens signed before still work, in full and offline; new ones use the former next key.
        db.authenticate(&before.access_token).await.unwrap();
        let published = db.offline_verifier().await.unwrap();
        published.verify(&before.access_token).unwrap();
        let after = db.login(ADMIN.0, ADMIN.1).await.unwrap();
        assert_eq!(kid(&after.access_token), next);
        published.verify(&after.access_token).unwrap();
        let refreshed = db.refresh(before.refresh_token.expose()).await.unwrap();
        assert_eq!(kid(&refreshed.access_token), next);
        // The retired key is published until its last token has expired.
        let jwks = db.jwks().await.unwrap();
        for k in [&current, &next, &rotation.next] {
            assert!(jwks.find(k).is_some(), "{k} published");
        }
        let keys = db.signing_keys().await.unwrap();
        let retired = keys.iter().find(|k| k.kid == current).unwrap();
        assert_eq!(retired.state, KeyState::Retired);
        let until = retired.published_until.unwrap();
        assert!(until >= retired.retired_at.unwrap() + db.settings().access_token_ttl);
    }

    async fn of_many_simultaneous_rotations_on_several_engines_exactly_one_happens(db: TestDb) {
        // The next key may sign after one second; the one a rotation makes is too young then.
        let lead = Settings { key_publish_lead: Duration::seconds(1), ..eager(&db) };
        let mut engines = Vec::new();
        for _ in 0..3 {
            engines.push(db.db.engine_with(lead.clone()).await);
        }
        engines[0].open_signing_keys().await.unwrap();
        db.clock.advance(Duration::milliseconds(1100));
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..24 {
            let adam = engines[n % engines.len()].clone();
            tasks.spawn(async move { adam.rotate_signing_keys(false).await });
        }
        let mut done = 0;
        while let Some(r) = tasks.join_next().await {
            match r.unwrap() {
                Ok(_) => done += 1,
                Err(Error::Conflict(_)) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(done, 1, "exactly one rotation");
        assert_eq!(kid_of_state(&db, KeyState::Retired).await.len(), 1);
        assert_eq!(kid_of_state(&db, KeyState::Current).await.len(), 1);
        assert_eq!(kid_of_state(&db, KeyState::Next).await.len(), 1);
    }

    async fn a_due_rotation_happens_once_however_many_engines_notice(db: TestDb) {
        let due = Settings { key_rotation: Some(Duration::seconds(1)), ..eager(&db) };
        let mut engines = Vec::new();
        for _ in 0..3 {
            engines.push(db.db.engine_with(due.clone()).await);
        }
        let before = db.login(ADMIN.0, ADMIN.1).await.unwrap();
        let next = kid_of_state(&db, KeyState::Next).await.remove(0);
        db.clock.advance(Duration::milliseconds(1100));
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..12 {
            let adam = engines[n % engines.len()].clone();
            tasks.spawn(async move { adam.maintain_signing_keys().await });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap().unwrap();
        }
        assert_eq!(kid_of_state(&engines[0], KeyState::Retired).await.len(), 1);
        // Every engine signs with the one new key; the old token still verifies everywhere.
        for adam in &engines {
            let pair = adam.login(ADMIN.0, ADMIN.1).await.unwrap();
            assert_eq!(kid(&pair.access_token), next);
            adam.authenticate(&before.access_token).await.unwrap();
        }
    }

    async fn a_revoked_key_stops_verifying_at_once(db: TestDb) {
        let elsewhere = db.db.engine_with(eager(&db)).await;
        let token = db.login(ADMIN.0, ADMIN.1).await.unwrap().access_token;
        elsewhere.authenticate(&token).await.unwrap();
        let current = kid(&token);
        let next = kid_of_state(&db, KeyState::Next).await.remove(0);
        assert_eq!(db.revoke_signing_key(&current).await.unwrap(), KeyState::Current);
        assert!(matches!(db.authenticate(&token).await, Err(Error::Unauthorized(_))));
        assert_eq!(db.introspect(&token).await.unwrap(), None);
        assert!(db.jwks().await.unwrap().find(&current).is_none());
        // The next key took its place, and a new next key was made.
        assert_eq!(kid(&db.login(ADMIN.0, ADMIN.1).await.unwrap().access_token), next);
        assert_eq!(kid_of_state(&db, KeyState::Next).await.len(), 1);
        // Another engine stops accepting it once it reads the keys again.
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        assert!(matches!(elsewhere.authenticate(&token).await, Err(Error::Unauthorized(_))));
        assert!(matches!(db.revoke_signing_key(&current).await, Err(Error::NotFound)));
    }

    async fn a_changed_secret_key_opens_the_keys_only_with_the_previous_one(db: TestDb) {
        let token = db.login(ADMIN.0, ADMIN.1).await.unwrap().access_token;
        let new = SecretKey::new(OTHER_SECRET).unwrap();
        let old = SecretKey::new(SECRET.as_bytes()).unwrap();
        // The new key alone opens nothing: one clear line, and nothing is changed.
        let alone = connect(&db, new.clone()).await;
        let e = alone.open_signing_keys().await.unwrap_err();
        assert!(matches!(&e, Error::Config(m) if m.contains("SECRET_KEY_PREVIOUS") && !m.contains('\n')), "{e:?}");
        connect(&db, old.clone()).await.open_signing_keys().await.unwrap();
        // With the former key as the previous one, the keys are sealed again under the new one.
        let both = connect(&db, new.clone().with_previous(old.clone())).await;
        both.open_signing_keys().await.unwrap();
        both.authenticate(&token).await.unwrap();
        let after = connect(&db, new).await;
        after.open_signing_keys().await.unwrap();
        after.authenticate(&token).await.unwrap();
        let e = connect(&db, old).await.open_signing_keys().await.unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
    }

    async fn introspection_is_active_only_for_a_live_access_token(db: TestDb) {
        let pair = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        let live = db.introspect(&pair.access_token).await.unwrap().unwrap();
        assert_eq!((live.role, live.amr, live.aud.as_str()), (Role::FiManager, Amr::Password, "adam-api"));
        assert_eq!(live.iss, db.settings().token_audience.issuer);
        assert!(live.dealership_id.is_some() && live.exp > live.iat);
        for not_live in [pair.refresh_token.expose(), "garbage", "", "a.b.c"] {
            assert_eq!(db.introspect(not_live).await.unwrap(), None, "{not_live}");
        }
        db.logout(pair.refresh_token.expose()).await.unwrap();
        assert_eq!(db.introspect(&pair.access_token).await.unwrap(), None);
    }
}
