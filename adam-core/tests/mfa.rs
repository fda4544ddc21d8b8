//! The second factor (contract: "Second factor") against real databases: every test runs on
//! SQLite and on PostgreSQL. Codes are computed as an authenticator app would, from the secret
//! the enrollment showed (adam-testkit's own RFC 6238 implementation).

#![allow(clippy::unwrap_used)]

mod support;

use std::net::IpAddr;
use std::sync::Arc;

use adam_core::TestClock;
use adam_core::{
    Amr, ClientInfo, DealershipPatch, Error, Principal, Role, SecretKey, Settings, SignIn,
    TotpEnrollment,
};
use adam_testkit::authenticator::{code_now, fresh_step, next_code, previous_code};
use adam_testkit::on_both_engines;
use adam_testkit::{ADMIN, MANAGER, PRINCIPAL};
use support::{raw_sql, TestDb};

fn from(address: &str) -> ClientInfo {
    ClientInfo {
        ip: Some(address.parse::<IpAddr>().unwrap()),
        user_agent: Some("mfa tests".into()),
    }
}

/// Turns TOTP on for `who` with the previous step's code; returns the secret and the recovery
/// codes. Callers then have the current and the next step's codes to use.
async fn enroll(db: &TestDb, who: &Principal, password: &str) -> (String, Vec<String>) {
    let started: TotpEnrollment = db.start_totp_enrollment(who, password).await.unwrap();
    let secret = started.secret.to_string();
    assert!(started.otpauth_uri.starts_with("otpauth://totp/Adam:"));
    assert!(started.otpauth_uri.contains(&format!("secret={secret}")));
    assert!(started.qr_svg.starts_with("<?xml") || started.qr_svg.contains("<svg"));
    let codes = db
        .confirm_totp_enrollment(who, &previous_code(&db.clock, &secret))
        .await
        .unwrap();
    (secret, codes.codes().to_vec())
}

/// A password-only sign-in: its tokens and its caller.
async fn signed_in(db: &TestDb, who: (&str, &str)) -> (adam_core::TokenPair, Principal) {
    let pair = db.login(who.0, who.1).await.unwrap();
    let caller = db.authenticate(&pair.access_token).await.unwrap();
    (pair, caller)
}

/// A six-digit code that is none of `secret`'s previous, current and next codes.
fn wrong_code(clock: &TestClock, secret: &str) -> String {
    let taken = [
        previous_code(clock, secret),
        code_now(clock, secret),
        next_code(clock, secret),
    ];
    (0..4)
        .map(|n| format!("{n}{n}{n}{n}{n}{n}"))
        .find(|c| !taken.contains(c))
        .unwrap()
}

/// The `mfa_token` of a sign-in that needs a code.
async fn password_step(db: &TestDb, who: (&str, &str)) -> String {
    match db
        .sign_in(who.0, who.1, &from("198.51.100.4"))
        .await
        .unwrap()
    {
        SignIn::CodeRequired(t, _) => t.expose().to_owned(),
        other => panic!("expected a code step, got {other:?}"),
    }
}

on_both_engines! {
    async fn enrollment_needs_the_password_and_a_first_code(db: TestDb) {
        fresh_step(&db.clock);
        let manager = db.manager_of_premium().await;
        let wrong = db.start_totp_enrollment(&manager, "not my password").await;
        assert!(matches!(wrong, Err(Error::Invalid { field: "current_password", .. })), "{wrong:?}");
        assert!(matches!(db.confirm_totp_enrollment(&manager, "123456").await, Err(Error::Conflict(_))));

        let started = db.start_totp_enrollment(&manager, MANAGER.1).await.unwrap();
        let secret = started.secret.to_string();
        assert_eq!(secret.len(), 32, "160 bits in base32");
        assert!(!format!("{started:?}").contains(&secret));
        // Pending: sign-in does not ask for a code yet.
        assert!(matches!(db.sign_in(MANAGER.0, MANAGER.1, &from("198.51.100.4")).await.unwrap(), SignIn::Tokens(_)));
        let status = db.mfa_status(&manager).await.unwrap();
        assert!(!status.totp_enabled && !status.required && status.recovery_codes_left == 0);

        let bad = db.confirm_totp_enrollment(&manager, &wrong_code(&db.clock, &secret)).await;
        assert!(matches!(bad, Err(Error::Invalid { field: "code", .. })), "{bad:?}");
        let codes = db.confirm_totp_enrollment(&manager, &code_now(&db.clock, &secret)).await.unwrap();
        assert_eq!(codes.codes().len(), 10);
        for code in codes.codes() {
            assert_eq!(code.len(), 14, "{code}");
            assert_eq!(&code[4..5], "-");
            assert_eq!(&code[9..10], "-");
        }
        assert!(!format!("{codes:?}").contains(&codes.codes()[0]));
        let status = db.mfa_status(&manager).await.unwrap();
        assert!(status.totp_enabled && status.recovery_codes_left == 10);
        assert!(db.me(&manager).await.unwrap().mfa_enabled);
        // On already: restarting is refused.
        assert!(matches!(db.start_totp_enrollment(&manager, MANAGER.1).await, Err(Error::Conflict(_))));

        // At rest: the secret is sealed, the recovery codes are hashes behind a 4-character prefix.
        let id = manager.user_id().as_uuid().to_string();
        let stored = if db.db.engine() == adam_core::Engine::Postgres {
            raw_sql(db.url(), "SELECT encode(totp_secret, 'hex') || ' ' || recovery_codes FROM users WHERE id = $1::uuid", &[&id]).await
        } else {
            raw_sql(db.url(), "SELECT hex(totp_secret) || ' ' || recovery_codes FROM users WHERE lower(hex(id)) = replace($1, '-', '')", &[&id]).await
        }.unwrap();
        let raw_secret_hex: String = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap().iter().map(|b| format!("{b:02x}")).collect();
        assert!(!stored.to_lowercase().contains(&raw_secret_hex), "the secret is stored sealed");
        for code in codes.codes() {
            assert!(!stored.contains(&code.replace('-', "")), "a recovery code in clear");
        }
        assert_eq!(stored.matches("$argon2id$").count(), 10);
    }

    async fn sign_in_takes_a_code_once_and_says_so_in_amr(db: TestDb) {
        fresh_step(&db.clock);
        let manager = db.manager_of_premium().await;
        let (secret, _) = enroll(&db, &manager, MANAGER.1).await;
        // Turning it on leaves the session it was done in alive.
        db.me(&manager).await.unwrap();

        let token = password_step(&db, MANAGER).await;
        assert!(token.starts_with(adam_core::MFA_TOKEN_PREFIX) && token.len() >= 52);
        // The mfa_token is no bearer token.
        assert!(matches!(db.authenticate(&token).await, Err(Error::Unauthorized(_))));
        // The code of the enrollment's step (and any older one) is a replay.
        let replay = db.sign_in_with_code(&token, &previous_code(&db.clock, &secret), &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens);
        assert!(matches!(replay, Err(Error::MfaCodeInvalid)), "{replay:?}");
        let pair = db.sign_in_with_code(&token, &code_now(&db.clock, &secret), &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens).unwrap();
        let caller = db.authenticate(&pair.access_token).await.unwrap();
        assert_eq!(caller.amr(), Amr::PasswordAndOtp);
        // A refresh keeps the session's amr.
        let refreshed = db.refresh(pair.refresh_token.expose()).await.unwrap();
        assert_eq!(db.authenticate(&refreshed.access_token).await.unwrap().amr(), Amr::PasswordAndOtp);
        // Spent by the success.
        let again = db.sign_in_with_code(&token, &next_code(&db.clock, &secret), &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens);
        assert!(matches!(again, Err(Error::MfaTokenInvalid)), "{again:?}");

        // The same code again, with a new token: a replay.
        let token = password_step(&db, MANAGER).await;
        let replay = db.sign_in_with_code(&token, &code_now(&db.clock, &secret), &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens);
        assert!(matches!(replay, Err(Error::MfaCodeInvalid)), "{replay:?}");
        // The token lives on after a wrong code; the next step's code works.
        db.sign_in_with_code(&token, &next_code(&db.clock, &secret), &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens).unwrap();
        // The embedder's password-only sign-in refuses to hand out tokens.
        assert!(matches!(db.login(MANAGER.0, MANAGER.1).await, Err(Error::SecondFactorRequired)));
    }

    async fn a_recovery_code_signs_in_once_in_any_case_with_or_without_dashes(db: TestDb) {
        fresh_step(&db.clock);
        let manager = db.manager_of_premium().await;
        let (_, codes) = enroll(&db, &manager, MANAGER.1).await;
        let typed = codes[3].replace('-', "").to_lowercase();
        let token = password_step(&db, MANAGER).await;
        let pair = db.sign_in_with_code(&token, &typed, &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens).unwrap();
        let caller = db.authenticate(&pair.access_token).await.unwrap();
        assert_eq!(caller.amr(), Amr::PasswordAndOtp, "a recovery code is a second factor too");
        assert_eq!(db.mfa_status(&caller).await.unwrap().recovery_codes_left, 9);
        let token = password_step(&db, MANAGER).await;
        assert!(matches!(db.sign_in_with_code(&token, &codes[3], &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens), Err(Error::MfaCodeInvalid)));
        db.sign_in_with_code(&token, &codes[4], &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens).unwrap();

        // New codes void the old ones.
        let fresh = db.regenerate_recovery_codes(&caller, &codes[5]).await.unwrap();
        let token = password_step(&db, MANAGER).await;
        assert!(matches!(db.sign_in_with_code(&token, &codes[6], &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens), Err(Error::MfaCodeInvalid)));
        db.sign_in_with_code(&token, &fresh.codes()[0], &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens).unwrap();
        assert!(matches!(db.regenerate_recovery_codes(&caller, "000000-x").await, Err(Error::Invalid { field: "code", .. })));
    }

    async fn the_fifth_wrong_code_spends_the_token(db: TestDb) {
        fresh_step(&db.clock);
        let manager = db.manager_of_premium().await;
        let (secret, _) = enroll(&db, &manager, MANAGER.1).await;
        let right = code_now(&db.clock, &secret);
        let wrong = wrong_code(&db.clock, &secret);
        let token = password_step(&db, MANAGER).await;
        for n in 1..=5 {
            let r = db.sign_in_with_code(&token, &wrong, &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens);
            assert!(matches!(r, Err(Error::MfaCodeInvalid)), "wrong code {n}: {r:?}");
        }
        let r = db.sign_in_with_code(&token, &right, &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens);
        assert!(matches!(r, Err(Error::MfaTokenInvalid)), "{r:?}");
        for garbage in ["", "adam_mfa_nothing", &"x".repeat(4000), "a\0b"] {
            let r = db.sign_in_with_code(garbage, &right, &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens);
            assert!(matches!(r, Err(Error::MfaTokenInvalid)), "{r:?}");
        }
    }

    async fn of_simultaneous_sign_ins_with_one_code_exactly_one_wins(db: TestDb) {
        fresh_step(&db.clock);
        let manager = db.manager_of_premium().await;
        let (secret, _) = enroll(&db, &manager, MANAGER.1).await;
        let mut tokens = Vec::new();
        for _ in 0..12 {
            tokens.push(password_step(&db, MANAGER).await);
        }
        let code = code_now(&db.clock, &secret);
        let adam = Arc::new(db.adam.clone());
        // Twelve sign-ins each with its own token, and twelve with one token, all one code.
        let mut tasks = Vec::new();
        for token in tokens.iter().cloned().chain(std::iter::repeat_n(tokens[0].clone(), 12)) {
            let (adam, code) = (adam.clone(), code.clone());
            tasks.push(tokio::spawn(async move {
                adam.sign_in_with_code(&token, &code, &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens)
            }));
        }
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => won += 1,
                // Past the throttle's limit for this account and address, attempts wait their turn.
                Err(Error::MfaCodeInvalid | Error::MfaTokenInvalid | Error::TooManyAttempts { .. }) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(won, 1, "one code, one sign-in");
    }

    async fn wrong_codes_count_toward_the_sign_in_throttle(db: TestDb) {
        fresh_step(&db.clock);
        let adam = db.db.engine_with(Settings {
            login_throttle: adam_core::settings::LoginThrottle {
                max_failures: 3,
                window: chrono::Duration::minutes(15),
                max_failures_per_address: 100,
            },
            ..adam_testkit::settings_on(&db.clock)
        }).await;
        let manager = db.manager_of_premium().await;
        let (secret, _) = enroll(&db, &manager, MANAGER.1).await;
        let here = from("203.0.113.30");
        // One wrong password, then the right one: the failure is not cleared by the password.
        assert!(matches!(adam.sign_in(MANAGER.0, "wrong", &here).await, Err(Error::InvalidCredentials)));
        let token = match adam.sign_in(MANAGER.0, MANAGER.1, &here).await.unwrap() {
            SignIn::CodeRequired(t, _) => t,
            other => panic!("{other:?}"),
        };
        let wrong = wrong_code(&db.clock, &secret);
        for _ in 0..2 {
            let r = adam.sign_in_with_code(token.expose(), &wrong, &here).await.and_then(adam_core::SignIn::into_tokens);
            assert!(matches!(r, Err(Error::MfaCodeInvalid)), "{r:?}");
        }
        // Three failures for this account and address: even the right code is refused now.
        let r = adam.sign_in_with_code(token.expose(), &code_now(&db.clock, &secret), &here).await.and_then(adam_core::SignIn::into_tokens);
        assert!(matches!(r, Err(Error::TooManyAttempts { .. })), "{r:?}");
        assert!(matches!(adam.sign_in(MANAGER.0, MANAGER.1, &here).await, Err(Error::TooManyAttempts { .. })));
        // From elsewhere, the second factor completes and clears the account's failures.
        let elsewhere = from("198.51.100.31");
        let token = match adam.sign_in(MANAGER.0, MANAGER.1, &elsewhere).await.unwrap() {
            SignIn::CodeRequired(t, _) => t,
            other => panic!("{other:?}"),
        };
        adam.sign_in_with_code(token.expose(), &code_now(&db.clock, &secret), &elsewhere).await.and_then(adam_core::SignIn::into_tokens).unwrap();
        assert!(matches!(adam.sign_in(MANAGER.0, MANAGER.1, &here).await.unwrap(), SignIn::CodeRequired(..)));
    }

    async fn a_dealership_that_requires_it_leads_its_users_through_enrollment(db: TestDb) {
        fresh_step(&db.clock);
        let (principal_pair, principal) = signed_in(&db, PRINCIPAL).await;
        let (manager_pair, manager) = signed_in(&db, MANAGER).await;
        let dealership = principal.dealership_id().unwrap();
        // A manager may not touch the switch; a principal may turn it on, not off.
        let on = DealershipPatch { mfa_required: Some(true), ..DealershipPatch::default() };
        let off = DealershipPatch { mfa_required: Some(false), ..DealershipPatch::default() };
        assert!(matches!(db.update_dealership(&manager, dealership, on.clone()).await, Err(Error::Forbidden(_))));
        let rename = DealershipPatch { name: Some(adam_core::Name::parse("name", "Renamed").unwrap()), mfa_required: Some(true), ..DealershipPatch::default() };
        assert!(matches!(db.update_dealership(&principal, dealership, rename).await, Err(Error::Forbidden(_))));
        let d = db.update_dealership(&principal, dealership, on).await.unwrap();
        assert!(d.mfa_required);
        // Turning it on ended the dealership's password-only sessions (the principal's too).
        assert!(db.authenticate(&manager_pair.access_token).await.is_err());
        assert!(db.authenticate(&principal_pair.access_token).await.is_err());
        let admin = db.admin().await;
        assert!(matches!(db.update_dealership(&admin, dealership, off.clone()).await.map(|d| d.mfa_required), Ok(false)));
        db.update_dealership(&admin, dealership, DealershipPatch { mfa_required: Some(true), ..DealershipPatch::default() }).await.unwrap();

        // The manager must enroll before any token.
        let token = match db.sign_in(MANAGER.0, MANAGER.1, &from("198.51.100.4")).await.unwrap() {
            SignIn::EnrollmentRequired(t) => t.expose().to_owned(),
            other => panic!("{other:?}"),
        };
        assert!(matches!(db.sign_in_with_code(&token, "123456", &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens), Err(Error::MfaTokenInvalid)), "an enrollment token is not a code token");
        assert!(matches!(db.confirm_enrollment_at_sign_in(&token, "123456", &from("198.51.100.4")).await, Err(Error::Conflict(_))));
        let first = db.enroll_at_sign_in(&token).await.unwrap();
        let again = db.enroll_at_sign_in(&token).await.unwrap();
        assert_ne!(first.secret.as_str(), again.secret.as_str(), "each call starts over");
        let secret = again.secret.to_string();
        let old = code_now(&db.clock, first.secret.as_str());
        if ![previous_code(&db.clock, &secret), code_now(&db.clock, &secret), next_code(&db.clock, &secret)].contains(&old) {
            let r = db.confirm_enrollment_at_sign_in(&token, &old, &from("198.51.100.4")).await;
            assert!(matches!(r, Err(Error::MfaCodeInvalid)), "the replaced secret's code: {r:?}");
        }
        let enrolled = db.confirm_enrollment_at_sign_in(&token, &previous_code(&db.clock, &secret), &from("198.51.100.4")).await.unwrap();
        assert_eq!(enrolled.recovery_codes.codes().len(), 10);
        let manager = db.authenticate(&enrolled.signed_in.clone().into_tokens().unwrap().access_token).await.unwrap();
        assert_eq!(manager.amr(), Amr::PasswordAndOtp);
        let status = db.mfa_status(&manager).await.unwrap();
        assert!(status.totp_enabled && status.required);
        assert!(matches!(db.confirm_enrollment_at_sign_in(&token, &code_now(&db.clock, &secret), &from("198.51.100.4")).await, Err(Error::MfaTokenInvalid)), "spent");
        // Required: turning it off is refused.
        let r = db.disable_totp(&manager, MANAGER.1, &code_now(&db.clock, &secret)).await;
        assert!(matches!(r, Err(Error::Forbidden(_))), "{r:?}");
        // The next sign-in asks for a code.
        password_step(&db, MANAGER).await;
    }

    async fn a_required_role_must_enroll_everywhere(db: TestDb) {
        let adam = db.db.engine_with(Settings {
            mfa_required_roles: vec![Role::SystemAdmin],
            ..adam_testkit::settings_on(&db.clock)
        }).await;
        let r = adam.sign_in(ADMIN.0, ADMIN.1, &from("198.51.100.4")).await.unwrap();
        assert!(matches!(r, SignIn::EnrollmentRequired(_)), "{r:?}");
        assert!(matches!(adam.sign_in(MANAGER.0, MANAGER.1, &from("198.51.100.4")).await.unwrap(), SignIn::Tokens(_)));
    }

    async fn turning_it_off_needs_password_and_code_and_ends_other_sessions(db: TestDb) {
        fresh_step(&db.clock);
        let (pair, manager) = signed_in(&db, MANAGER).await;
        let (secret, _) = enroll(&db, &manager, MANAGER.1).await;
        let token = password_step(&db, MANAGER).await;
        let other = db.sign_in_with_code(&token, &code_now(&db.clock, &secret), &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens).unwrap();
        assert!(matches!(db.disable_totp(&manager, "wrong password", &next_code(&db.clock, &secret)).await, Err(Error::Invalid { field: "current_password", .. })));
        assert!(matches!(db.disable_totp(&manager, MANAGER.1, &code_now(&db.clock, &secret)).await, Err(Error::Invalid { field: "code", .. })), "a replayed code");
        db.disable_totp(&manager, MANAGER.1, &next_code(&db.clock, &secret)).await.unwrap();
        assert!(db.authenticate(&other.access_token).await.is_err(), "other sessions end");
        db.authenticate(&pair.access_token).await.expect("this session lives");
        assert!(!db.mfa_status(&manager).await.unwrap().totp_enabled);
        assert!(matches!(db.sign_in(MANAGER.0, MANAGER.1, &from("198.51.100.4")).await.unwrap(), SignIn::Tokens(_)));
        assert!(matches!(db.disable_totp(&manager, MANAGER.1, "123456").await, Err(Error::Conflict(_))));
    }

    async fn totp_secrets_are_sealed_again_under_a_new_secret_key(db: TestDb) {
        fresh_step(&db.clock);
        let manager = db.manager_of_premium().await;
        let (secret, _) = enroll(&db, &manager, MANAGER.1).await;
        let old = SecretKey::new(adam_testkit::SECRET.as_bytes()).unwrap();
        let new = SecretKey::new(b"another test secret key, also over thirty-two bytes").unwrap();
        let connect = |key: SecretKey| {
            let url = db.url().to_owned();
            let settings = adam_testkit::settings_on(&db.clock);
            async move { adam_core::Adam::connect(&url, key, settings).await.unwrap() }
        };
        // Rotating the signing keys' seal first, so that only the TOTP secrets are at stake.
        let both = connect(new.clone().with_previous(old.clone())).await;
        both.open_signing_keys().await.unwrap();
        let after = connect(new.clone()).await;
        after.open_signing_keys().await.unwrap();
        let token = match after.sign_in(MANAGER.0, MANAGER.1, &from("198.51.100.4")).await.unwrap() {
            SignIn::CodeRequired(t, _) => t,
            other => panic!("{other:?}"),
        };
        let pair = after.sign_in_with_code(token.expose(), &code_now(&db.clock, &secret), &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens).unwrap();
        assert_eq!(after.authenticate(&pair.access_token).await.unwrap().amr(), Amr::PasswordAndOtp);
        // The former key alone opens nothing now: one clear line.
        let e = connect(old).await.open_signing_keys().await.unwrap_err();
        assert!(matches!(&e, Error::Config(m) if !m.contains('\n')), "{e:?}");
    }

    async fn admins_and_principals_reset_a_lost_phone(db: TestDb) {
        fresh_step(&db.clock);
        let (manager_pair, manager) = signed_in(&db, MANAGER).await;
        enroll(&db, &manager, MANAGER.1).await;
        let principal = db.principal_of_premium().await;
        let admin = db.admin().await;
        // A manager may not; nobody resets their own.
        assert!(matches!(db.reset_mfa(&manager, principal.user_id()).await, Err(Error::Forbidden(_) | Error::NotFound)));
        assert!(matches!(db.reset_mfa(&manager, manager.user_id()).await, Err(Error::Forbidden(_))));
        assert!(matches!(db.reset_mfa(&principal, principal.user_id()).await, Err(Error::Forbidden(_))));
        assert!(matches!(db.reset_mfa(&admin, admin.user_id()).await, Err(Error::Forbidden(_))));
        // A principal of another dealership does not see the user.
        let other = db.create_dealership(&admin, adam_core::NewDealership { name: adam_core::Name::parse("name", "Other Motors").unwrap() }).await.unwrap();
        db.add_user(&admin, "p2@other.example", Role::DealerPrincipal, Some(other.id)).await;
        let stranger = db.principal("p2@other.example", support::PASSWORD).await;
        assert!(matches!(db.reset_mfa(&stranger, manager.user_id()).await, Err(Error::NotFound)));

        db.reset_mfa(&principal, manager.user_id()).await.unwrap();
        assert!(db.authenticate(&manager_pair.access_token).await.is_err(), "the user's sessions end");
        assert!(matches!(db.sign_in(MANAGER.0, MANAGER.1, &from("198.51.100.4")).await.unwrap(), SignIn::Tokens(_)));
        assert!(!db.mfa_status(&db.manager_of_premium().await).await.unwrap().totp_enabled);
    }

    async fn password_only_sessions_die_once_their_role_must_use_a_second_factor(db: TestDb) {
        let (manager, _) = signed_in(&db, MANAGER).await;
        let (principal, _) = signed_in(&db, PRINCIPAL).await;
        // A server started with MFA_REQUIRED_ROLES=fi_manager, on the same database.
        let strict = db.db.engine_with(Settings { mfa_required_roles: vec![Role::FiManager], ..adam_testkit::settings_on(&db.clock) }).await;
        assert!(matches!(strict.authenticate(&manager.access_token).await, Err(Error::Unauthorized(_))));
        assert!(matches!(strict.refresh(manager.refresh_token.expose()).await, Err(Error::Unauthorized(_))));
        assert!(strict.introspect(&manager.access_token).await.unwrap().is_none());
        // Nor are they listed as live.
        let admin_pair = strict.login(ADMIN.0, ADMIN.1).await.unwrap();
        let admin = strict.authenticate(&admin_pair.access_token).await.unwrap();
        let manager_id = db.authenticate(&manager.access_token).await.unwrap().user_id();
        assert!(strict.user_sessions(&admin, manager_id).await.unwrap().is_empty());
        assert_eq!(db.user_sessions(&admin, manager_id).await.unwrap().len(), 1, "live where no setting requires it");
        // Roles the setting does not name keep their sessions.
        strict.authenticate(&principal.access_token).await.unwrap();
        strict.refresh(principal.refresh_token.expose()).await.unwrap();
    }

    async fn password_only_sessions_signed_in_while_a_dealership_requires_it_do_not_survive(db: TestDb) {
        let principal = db.principal_of_premium().await;
        let dealership = principal.placement().dealership_id().unwrap();
        let mut signing_in = tokio::task::JoinSet::new();
        for n in 0..12 {
            let adam = db.adam.clone();
            signing_in.spawn(async move { adam.sign_in(MANAGER.0, MANAGER.1, &from(&format!("198.51.100.{}", 10 + n))).await });
        }
        let on = DealershipPatch { mfa_required: Some(true), ..DealershipPatch::default() };
        db.update_dealership(&principal, dealership, on).await.unwrap();
        let mut password_only = Vec::new();
        while let Some(done) = signing_in.join_next().await {
            if let SignIn::Tokens(pair) = done.unwrap().unwrap() {
                password_only.push(pair);
            }
        }
        for pair in &password_only {
            assert!(matches!(db.authenticate(&pair.access_token).await, Err(Error::Unauthorized(_))));
            assert!(matches!(db.refresh(pair.refresh_token.expose()).await, Err(Error::Unauthorized(_))));
        }
    }

    async fn a_right_password_does_not_reopen_code_guessing_on_the_profile(db: TestDb) {
        fresh_step(&db.clock);
        let manager = db.manager_of_premium().await;
        let (secret, _) = enroll(&db, &manager, MANAGER.1).await;
        let wrong = wrong_code(&db.clock, &secret);
        let limit = db.settings().login_throttle.max_failures;
        let mut refused_at = None;
        for attempt in 1..=limit + 1 {
            match db.disable_totp(&manager, MANAGER.1, &wrong).await {
                Err(Error::Invalid { field: "code", .. }) => {}
                Err(Error::TooManyAttempts { .. }) => {
                    refused_at = Some(attempt);
                    break;
                }
                other => panic!("attempt {attempt}: {other:?}"),
            }
        }
        assert_eq!(refused_at, Some(limit + 1), "every wrong code counts, the right password clears nothing");
        assert!(matches!(db.regenerate_recovery_codes(&manager, &wrong).await, Err(Error::TooManyAttempts { .. })));
        assert!(db.mfa_status(&manager).await.unwrap().totp_enabled);
    }

    async fn of_many_simultaneous_wrong_codes_on_one_token_five_are_checked(db: TestDb) {
        fresh_step(&db.clock);
        let manager = db.manager_of_premium().await;
        let (secret, _) = enroll(&db, &manager, MANAGER.1).await;
        let wrong = wrong_code(&db.clock, &secret);
        // Many failures allowed, so that the throttle is not what stops the guesses.
        let lax = db.db.engine_with(Settings {
            login_throttle: adam_core::settings::LoginThrottle { max_failures: 1000, max_failures_per_address: 1000, ..adam_core::settings::LoginThrottle::default() },
            ..adam_testkit::settings_on(&db.clock)
        }).await;
        let token = match lax.sign_in(MANAGER.0, MANAGER.1, &from("198.51.100.4")).await.unwrap() {
            SignIn::CodeRequired(t, _) => t.expose().to_owned(),
            other => panic!("{other:?}"),
        };
        let mut guesses = tokio::task::JoinSet::new();
        for _ in 0..30 {
            let (adam, token, wrong) = (lax.clone(), token.clone(), wrong.clone());
            guesses.spawn(async move { adam.sign_in_with_code(&token, &wrong, &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens) });
        }
        let mut checked = 0;
        while let Some(done) = guesses.join_next().await {
            match done.unwrap() {
                Err(Error::MfaCodeInvalid) => checked += 1,
                Err(Error::MfaTokenInvalid) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(checked, 5, "at most five codes are checked on one token");
        let right = code_now(&db.clock, &secret);
        assert!(matches!(lax.sign_in_with_code(&token, &right, &from("198.51.100.4")).await.and_then(adam_core::SignIn::into_tokens), Err(Error::MfaTokenInvalid)));
    }
}
