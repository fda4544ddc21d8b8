//! The use cases of adam-core against real databases: every test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;

use adam_core::{
    DealershipPatch, Email, Error, Name, NewDealership, PageRequest, Role, UserFilter, UserPatch,
};
use adam_testkit::on_both_engines;
use adam_testkit::{ADMIN, MANAGER, PRINCIPAL};
use support::{raw_sql, TestDb, PASSWORD};

fn name(s: &str) -> Name {
    Name::parse("name", s).unwrap()
}

async fn second_dealership(db: &TestDb) -> adam_core::Dealership {
    let admin = db.admin().await;
    db.create_dealership(
        &admin,
        NewDealership {
            name: name("Other Motors"),
        },
    )
    .await
    .unwrap()
}

on_both_engines! {
    async fn simultaneous_wrong_passwords_reach_argon2_at_most_the_limit(db: TestDb) {
        let max = db.settings().login_throttle.max_failures as usize;
        let (invalid, throttled) = guess_at_once(&db.adam, 30, "203.0.113.7").await;
        assert_eq!(invalid, max, "exactly the limit reached the password check");
        assert_eq!(throttled, 30 - max);
        // That address is refused even the right password; another address is not.
        let here = Some(ip("203.0.113.7"));
        assert!(matches!(db.login_from(MANAGER.0, MANAGER.1, here).await, Err(Error::TooManyAttempts { .. })));
        db.login_from(MANAGER.0, MANAGER.1, Some(ip("198.51.100.1"))).await.unwrap();
        // A completed sign-in clears the account's failures, from every address.
        db.login_from(MANAGER.0, MANAGER.1, here).await.unwrap();
    }

    async fn one_address_trying_many_accounts_is_refused(db: TestDb) {
        let adam = db.db.engine_with(small_limits()).await;
        let sprayer = Some(ip("203.0.113.9"));
        for n in 0..6 {
            let r = adam.login_from(&format!("user{n}@premiumauto.com"), "Spring2026!", sprayer).await;
            assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
        }
        assert!(matches!(adam.login_from(MANAGER.0, MANAGER.1, sprayer).await, Err(Error::TooManyAttempts { .. })));
        // Successes from an office's address do not count toward its limit.
        let office = Some(ip("198.51.100.20"));
        for _ in 0..8 {
            adam.login_from(MANAGER.0, MANAGER.1, office).await.unwrap();
        }
    }

    async fn one_account_guessed_from_many_addresses_is_refused_everywhere(db: TestDb) {
        let adam = db.db.engine_with(small_limits()).await;
        // 3 per address, 10 x 3 per account.
        for n in 0..30 {
            let from = Some(ip(&format!("203.0.113.{}", 100 + n)));
            let r = adam.login_from(MANAGER.0, "not the password", from).await;
            assert!(matches!(r, Err(Error::InvalidCredentials)), "attempt {n}: {r:?}");
        }
        let fresh = Some(ip("198.51.100.77"));
        assert!(matches!(adam.login_from(MANAGER.0, MANAGER.1, fresh).await, Err(Error::TooManyAttempts { .. })));
        // Other accounts are not affected.
        adam.login_from(PRINCIPAL.0, PRINCIPAL.1, fresh).await.unwrap();
    }

    async fn wrong_current_passwords_are_counted_like_sign_ins(db: TestDb) {
        let max = db.settings().login_throttle.max_failures as usize;
        let here = Some(ip("203.0.113.8"));
        let manager = db.manager_of_premium().await.from_address(here);
        let patch = |current: &str| UserPatch {
            password: Some(db.password_policy().check("a fresh long passphrase".into()).unwrap()),
            current_password: Some(current.into()),
            ..Default::default()
        };
        let mut attempts = tokio::task::JoinSet::new();
        for _ in 0..30 {
            let (adam, manager, patch) = (db.adam.clone(), manager.clone(), patch("a stolen-token guess"));
            attempts.spawn(async move { adam.update_user(&manager, manager.user_id(), patch).await });
        }
        let (mut wrong, mut throttled) = (0, 0);
        while let Some(r) = attempts.join_next().await {
            match r.unwrap() {
                Err(Error::Invalid { field: "current_password", .. }) => wrong += 1,
                Err(Error::TooManyAttempts { .. }) => throttled += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((wrong, throttled), (max, 30 - max), "exactly the limit reached the password check");
        // Even the right password is refused from that address, and so is signing in there.
        let r = db.update_user(&manager, manager.user_id(), patch(MANAGER.1)).await;
        assert!(matches!(r, Err(Error::TooManyAttempts { .. })), "{r:?}");
        assert!(matches!(db.login_from(MANAGER.0, MANAGER.1, here).await, Err(Error::TooManyAttempts { .. })));
        // The owner signs in from their own address, which clears the account's failures.
        db.login_from(MANAGER.0, MANAGER.1, Some(ip("198.51.100.2"))).await.unwrap();
        db.update_user(&manager, manager.user_id(), patch(MANAGER.1)).await.unwrap();
    }

    async fn seed_is_idempotent_and_accounts_sign_in(db: TestDb) {
        let again = db.seed().await.unwrap();
        assert!(!again.dealership_created);
        assert!(again.users_created.is_empty());
        let admin = db.admin().await;
        assert_eq!(admin.role(), Role::SystemAdmin);
        assert_eq!(admin.dealership_id(), None);
        let principal = db.principal_of_premium().await;
        assert_eq!(principal.role(), Role::DealerPrincipal);
        let manager = db.manager_of_premium().await;
        assert_eq!(manager.role(), Role::FiManager);
        assert_eq!(manager.dealership_id(), principal.dealership_id());
        let all = db.list_users(&admin, &UserFilter::default(), PageRequest::default()).await.unwrap();
        assert_eq!(all.total, 3);
    }

    async fn login_failures_are_one_answer(db: TestDb) {
        let admin = db.admin().await;
        let premium = db.principal_of_premium().await.dealership_id().unwrap();
        let u = db.add_user(&admin, "inactive@premiumauto.com", Role::FiManager, Some(premium)).await;
        db.update_user(&admin, u.id, UserPatch { is_active: Some(false), ..Default::default() }).await.unwrap();
        for (email, pw) in [
            ("nobody@premiumauto.com", MANAGER.1),
            ("manager@premiumauto.com", "Manager123"),
            ("manager@premiumauto.com", "manager123!"),
            ("inactive@premiumauto.com", PASSWORD),
            ("not an email", "whatever"),
        ] {
            let err = db.login(email, pw).await.unwrap_err();
            assert!(matches!(err, Error::InvalidCredentials), "{email}/{pw}: {err:?}");
        }
        // Email is case-insensitive; password is not.
        db.login("  MANAGER@PremiumAuto.com ", MANAGER.1).await.unwrap();
    }

    async fn repeated_failures_throttle_that_email_only(db: TestDb) {
        let max = db.settings().login_throttle.max_failures;
        // Failures below the limit, then a success: the count starts again.
        for _ in 0..max - 1 {
            assert!(matches!(db.login("manager@premiumauto.com", "wrong!").await, Err(Error::InvalidCredentials)));
        }
        db.login("MANAGER@premiumauto.com", MANAGER.1).await.unwrap();
        for _ in 0..max {
            assert!(matches!(db.login("manager@premiumauto.com", "wrong!").await, Err(Error::InvalidCredentials)));
        }
        // Now even the right password is refused, and says when to come back.
        match db.login(MANAGER.0, MANAGER.1).await {
            Err(Error::TooManyAttempts { retry_after_secs }) => assert!((1..=900).contains(&retry_after_secs)),
            other => panic!("expected TooManyAttempts, got {other:?}"),
        }
        // Unknown emails are throttled the same way; other accounts are not affected.
        for _ in 0..max {
            assert!(matches!(db.login("nobody@premiumauto.com", "x").await, Err(Error::InvalidCredentials)));
        }
        assert!(matches!(db.login("nobody@premiumauto.com", "x").await, Err(Error::TooManyAttempts { .. })));
        db.login(PRINCIPAL.0, PRINCIPAL.1).await.unwrap();
        // Old failures age out of the window (as if the window had passed).
        raw_sql(db.url(), "DELETE FROM login_failures", &[]).await;
        db.login(MANAGER.0, MANAGER.1).await.unwrap();
    }

    async fn refresh_rotates_and_reuse_revokes_the_session(db: TestDb) {
        // Past the reuse grace (here none), a spent token is a theft.
        let adam = db.db.engine_with(adam_core::Settings { refresh_reuse_grace: chrono::Duration::zero(), ..adam_testkit::settings_on(&db.clock) }).await;
        let first = adam.login(MANAGER.0, MANAGER.1).await.unwrap();
        let second = adam.refresh(first.refresh_token.expose()).await.unwrap();
        assert_ne!(first.refresh_token.expose(), second.refresh_token.expose());
        assert_eq!(second.expires_in, 1800);
        adam.authenticate(&second.access_token).await.unwrap();
        db.clock.advance(chrono::Duration::milliseconds(5));
        // The spent token again: 401, and the whole session dies with it.
        assert!(matches!(adam.refresh(first.refresh_token.expose()).await, Err(Error::Unauthorized(_))));
        assert!(matches!(adam.refresh(second.refresh_token.expose()).await, Err(Error::Unauthorized(_))));
        assert!(matches!(adam.authenticate(&second.access_token).await, Err(Error::Unauthorized(_))));
        assert!(matches!(adam.authenticate(&first.access_token).await, Err(Error::Unauthorized(_))));
        // Another session of the same user is untouched.
        let other = adam.login(MANAGER.0, MANAGER.1).await.unwrap();
        adam.refresh(other.refresh_token.expose()).await.unwrap();
    }

    async fn a_refresh_token_past_its_idle_lifetime_refreshes_nothing(db: TestDb) {
        let idle = adam_core::Settings { refresh_token_ttl: chrono::Duration::seconds(2), ..adam_testkit::settings_on(&db.clock) };
        let adam = db.db.engine_with(idle).await;
        let first = adam.login(MANAGER.0, MANAGER.1).await.unwrap();
        let second = adam.refresh(first.refresh_token.expose()).await.unwrap();
        // Used within its two seconds, the chain goes on; idle longer, it ends, though the
        // session's own end (a day away) has not come.
        db.clock.advance(chrono::Duration::milliseconds(1500));
        let third = adam.refresh(second.refresh_token.expose()).await.unwrap();
        db.clock.advance(chrono::Duration::milliseconds(2100));
        assert!(matches!(adam.refresh(third.refresh_token.expose()).await, Err(Error::Unauthorized(_))));
    }

    async fn a_session_ends_at_its_maximum_however_active(db: TestDb) {
        let short = adam_core::Settings { session_max: chrono::Duration::seconds(3), ..adam_testkit::settings_on(&db.clock) };
        let adam = db.db.engine_with(short).await;
        let first = adam.login(MANAGER.0, MANAGER.1).await.unwrap();
        // No access token outlives its session: three seconds, not the configured 30 minutes.
        let live = adam.introspect(&first.access_token).await.unwrap().unwrap();
        assert!(live.exp - live.iat <= chrono::Duration::seconds(3), "{live:?}");
        assert!(first.expires_in <= 3);
        // Refreshing does not move the end.
        let second = adam.refresh(first.refresh_token.expose()).await.unwrap();
        assert!(second.expires_in <= 3);
        // Nor does the next refresh token outlive it.
        let past_end = "SELECT CAST(COUNT(*) AS TEXT) FROM refresh_tokens r \
            JOIN sessions s ON s.id = r.session_id WHERE r.expires_at > s.ends_at";
        assert_eq!(raw_sql(db.url(), past_end, &[]).await.as_deref(), Some("0"));
        db.clock.advance(chrono::Duration::milliseconds(3200));
        assert!(matches!(adam.refresh(second.refresh_token.expose()).await, Err(Error::Unauthorized(_))));
        assert!(matches!(adam.authenticate(&second.access_token).await, Err(Error::Unauthorized(_))));

        // The per-request check refuses a session past its end even while its token lives.
        let pair = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        db.authenticate(&pair.access_token).await.unwrap();
        raw_sql(db.url(), "UPDATE sessions SET ends_at = created_at", &[]).await;
        assert!(matches!(db.authenticate(&pair.access_token).await, Err(Error::Unauthorized(_))));
        assert_eq!(db.introspect(&pair.access_token).await.unwrap(), None);
        // Refused, the refresh spends the token and changes nothing else: no next token, the
        // session's last use (its newest token's issue) as it was.
        let state = || async {
            let mut figures = Vec::new();
            for sql in [
                "SELECT CAST(COUNT(*) AS TEXT) FROM refresh_tokens",
                "SELECT CAST(COUNT(*) AS TEXT) FROM refresh_tokens WHERE spent_at IS NULL",
                "SELECT COALESCE(CAST(MAX(issued_at) AS TEXT), '-') FROM refresh_tokens",
            ] {
                figures.push(raw_sql(db.url(), sql, &[]).await.unwrap());
            }
            figures
        };
        let before = state().await;
        db.clock.advance(chrono::Duration::milliseconds(5));
        assert!(matches!(db.refresh(pair.refresh_token.expose()).await, Err(Error::Unauthorized(_))));
        let after = state().await;
        let unspent = |f: &[String]| f[1].parse::<u32>().unwrap();
        assert_eq!((&after[0], unspent(&after) + 1, &after[2]), (&before[0], unspent(&before), &before[2]));
    }

    async fn a_user_lists_and_ends_their_own_sessions(db: TestDb) {
        let origin = adam_core::ClientInfo {
            ip: Some(ip("203.0.113.5")),
            user_agent: Some(format!("Adam Desktop/1.0 {}", "x".repeat(300))),
        };
        let laptop = db.login_with(MANAGER.0, MANAGER.1, &origin).await.unwrap();
        db.clock.advance(chrono::Duration::milliseconds(5));
        let phone = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        let me = db.authenticate(&phone.access_token).await.unwrap();
        let list = db.my_sessions(&me).await.unwrap();
        assert_eq!(list.len(), 2, "{list:?}");
        // Newest first; the caller's own is marked.
        assert!(list[0].current && !list[1].current, "{list:?}");
        assert_eq!(list[1].ip.as_deref(), Some("203.0.113.5"));
        assert_eq!(list[1].user_agent.as_ref().unwrap().chars().count(), 256);
        assert!(list[1].user_agent.as_ref().unwrap().starts_with("Adam Desktop/1.0"));
        assert_eq!((list[1].amr, list[0].ip.as_deref()), (adam_core::Amr::Password, None));
        assert!(list[1].expires_at > list[1].created_at);
        // A refresh marks the session used.
        db.clock.advance(chrono::Duration::milliseconds(5));
        let refreshed = db.refresh(laptop.refresh_token.expose()).await.unwrap();
        let list = db.my_sessions(&me).await.unwrap();
        assert!(list[1].last_used_at > list[1].created_at, "{list:?}");
        // Ending the laptop's session stops its tokens at once, and only its.
        db.end_my_session(&me, list[1].id).await.unwrap();
        assert!(matches!(db.authenticate(&refreshed.access_token).await, Err(Error::Unauthorized(_))));
        assert!(matches!(db.refresh(refreshed.refresh_token.expose()).await, Err(Error::Unauthorized(_))));
        db.authenticate(&phone.access_token).await.unwrap();
        assert_eq!(db.my_sessions(&me).await.unwrap().len(), 1);
        // Someone else's session, or one already ended: not found, and nothing ends.
        let principal = db.principal_of_premium().await;
        assert!(matches!(db.end_my_session(&me, principal.session_id()).await, Err(Error::NotFound)));
        assert_eq!(db.my_sessions(&principal).await.unwrap().len(), 1);
        assert!(matches!(db.end_my_session(&me, list[1].id).await, Err(Error::NotFound)));
    }

    async fn admins_and_principals_manage_a_users_sessions_managers_do_not(db: TestDb) {
        let pair = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        let manager = db.authenticate(&pair.access_token).await.unwrap();
        let admin = db.admin().await;
        let principal = db.principal_of_premium().await;
        // An F&I manager: 403 for themself (they have /auth/sessions), 404 for anyone else.
        assert!(matches!(db.user_sessions(&manager, manager.user_id()).await, Err(Error::Forbidden(_))));
        assert!(matches!(db.end_user_sessions(&manager, manager.user_id()).await, Err(Error::Forbidden(_))));
        assert!(matches!(db.user_sessions(&manager, principal.user_id()).await, Err(Error::NotFound)));
        // A principal of another dealership does not see them.
        let other = second_dealership(&db).await;
        let outsider_user = db.add_user(&admin, "p2@other.example.com", Role::DealerPrincipal, Some(other.id)).await;
        let outsider = db.principal("p2@other.example.com", PASSWORD).await;
        assert!(matches!(db.user_sessions(&outsider, manager.user_id()).await, Err(Error::NotFound)));
        assert!(matches!(db.end_user_sessions(&outsider, manager.user_id()).await, Err(Error::NotFound)));
        db.authenticate(&pair.access_token).await.unwrap();
        // The principal of their dealership sees and ends them.
        let seen = db.user_sessions(&principal, manager.user_id()).await.unwrap();
        assert_eq!(seen.len(), 1);
        assert!(!seen[0].current);
        db.end_user_sessions(&principal, manager.user_id()).await.unwrap();
        assert!(matches!(db.authenticate(&pair.access_token).await, Err(Error::Unauthorized(_))));
        assert!(db.user_sessions(&admin, manager.user_id()).await.unwrap().is_empty());
        // A system admin sees anyone's.
        assert_eq!(db.user_sessions(&admin, outsider_user.id).await.unwrap().len(), 1);
    }

    async fn a_spent_token_within_the_grace_is_a_lost_race_not_a_theft(db: TestDb) {
        let first = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        let second = db.refresh(first.refresh_token.expose()).await.unwrap();
        // Another window presents the token the first one just spent.
        assert!(matches!(db.refresh(first.refresh_token.expose()).await, Err(Error::RefreshTokenAlreadyRotated)));
        assert!(matches!(db.refresh(first.refresh_token.expose()).await, Err(Error::RefreshTokenAlreadyRotated)));
        // The session lives on: the winner's tokens work.
        db.authenticate(&second.access_token).await.unwrap();
        db.refresh(second.refresh_token.expose()).await.unwrap();
    }

    async fn garbage_refresh_tokens_are_unauthorized(db: TestDb) {
        let pair = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        for bad in ["", "adam_rt_nope", &pair.access_token, &"x".repeat(10_000)] {
            assert!(matches!(db.refresh(bad).await, Err(Error::Unauthorized(_))), "{bad:.20}");
        }
        // None of that touched the real session.
        db.refresh(pair.refresh_token.expose()).await.unwrap();
    }

    async fn concurrent_refreshes_exactly_one_wins(db: TestDb) {
        let pair = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        let token = pair.refresh_token.expose().to_owned();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let adam = db.adam.clone();
                let token = token.clone();
                tokio::spawn(async move { adam.refresh(&token).await })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => wins += 1,
                Err(Error::RefreshTokenAlreadyRotated) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(wins, 1);
    }

    async fn logout_and_logout_all_kill_tokens_at_once(db: TestDb) {
        let a = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        let b = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        let c = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        let other_user = db.login(PRINCIPAL.0, PRINCIPAL.1).await.unwrap();
        db.logout(a.refresh_token.expose()).await.unwrap();
        db.logout("adam_rt_unknown").await.unwrap();
        assert!(db.authenticate(&a.access_token).await.is_err());
        assert!(db.refresh(a.refresh_token.expose()).await.is_err());
        let caller = db.authenticate(&b.access_token).await.unwrap();
        db.logout_all(&caller).await.unwrap();
        for pair in [&b, &c] {
            assert!(matches!(db.authenticate(&pair.access_token).await, Err(Error::Unauthorized(_))));
            assert!(db.refresh(pair.refresh_token.expose()).await.is_err());
        }
        db.authenticate(&other_user.access_token).await.unwrap();
    }

    // On PostgreSQL the checks of concurrent requests share statements
    // (sessions/live_checks.rs): each must still get its own session's answer.
    async fn simultaneous_checks_each_get_their_own_session(db: TestDb) {
        let mut tokens = Vec::new();
        for (i, (email, password)) in [MANAGER, MANAGER, MANAGER, MANAGER, PRINCIPAL, PRINCIPAL]
            .into_iter()
            .enumerate()
        {
            let pair = db.login(email, password).await.unwrap();
            let caller = db.authenticate(&pair.access_token).await.unwrap();
            // Every other session ends before the checks.
            let live = i % 2 == 0;
            if !live {
                db.logout(pair.refresh_token.expose()).await.unwrap();
            }
            tokens.push((pair.access_token, live.then(|| (caller.user_id(), caller.session_id()))));
        }
        let mut checks = tokio::task::JoinSet::new();
        for round in 0..40 {
            for (token, expected) in tokens.iter().cycle().skip(round).take(tokens.len()) {
                let (adam, token, expected) = (db.adam.clone(), token.clone(), *expected);
                checks.spawn(async move { (adam.authenticate(&token).await, expected) });
            }
        }
        let mut answered = 0;
        while let Some(joined) = checks.join_next().await {
            let (got, expected) = joined.unwrap();
            match (got, expected) {
                (Ok(caller), Some((user, session))) => {
                    assert_eq!((caller.user_id(), caller.session_id()), (user, session));
                }
                (Err(Error::Unauthorized(_)), None) => {}
                (got, expected) => panic!("{got:?} where {expected:?} was expected"),
            }
            answered += 1;
        }
        assert_eq!(answered, 40 * tokens.len());
    }

    async fn deactivation_role_change_and_deletion_revoke_at_once(db: TestDb) {
        let admin = db.admin().await;
        let premium = admin_dealership(&db).await;
        for change in ["deactivate", "role", "delete"] {
            let email = format!("{change}@premiumauto.com");
            let u = db.add_user(&admin, &email, Role::FiManager, Some(premium)).await;
            let pair = db.login(&email, PASSWORD).await.unwrap();
            db.authenticate(&pair.access_token).await.unwrap();
            match change {
                "deactivate" => {
                    db.update_user(&admin, u.id, UserPatch { is_active: Some(false), ..Default::default() }).await.unwrap();
                }
                "role" => {
                    db.update_user(&admin, u.id, UserPatch { role: Some(Role::DealerPrincipal), ..Default::default() }).await.unwrap();
                }
                _ => db.delete_user(&admin, u.id).await.unwrap(),
            }
            assert!(matches!(db.authenticate(&pair.access_token).await, Err(Error::Unauthorized(_))), "{change}");
            assert!(db.refresh(pair.refresh_token.expose()).await.is_err(), "{change}");
        }
    }

    async fn full_pages_tell_the_exact_total_as_users_come_move_and_go(db: TestDb) {
        let admin = db.admin().await;
        let premium = admin_dealership(&db).await;
        let other = second_dealership(&db).await;
        let principal = db.principal_of_premium().await;
        let one = PageRequest::new(Some(1), None).unwrap();
        let all = PageRequest::new(Some(100), None).unwrap();
        // The total of a full page of one (read from the kept counts) against the length of a
        // page that holds them all (counted in its own pass), for each scope.
        let check = |when: &'static str| {
            let db = &db;
            let (admin, principal) = (&admin, &principal);
            async move {
                for caller in [admin, principal] {
                    let full = db.list_users(caller, &UserFilter::default(), one).await.unwrap();
                    let every = db.list_users(caller, &UserFilter::default(), all).await.unwrap();
                    assert_eq!(full.items.len(), 1, "{when}");
                    assert_eq!(full.total, every.items.len() as u64, "{when}: {:?}", caller.role());
                }
            }
        };
        check("seeded").await;
        let mut added = Vec::new();
        for n in 0..3 {
            added.push(db.add_user(&admin, &format!("count{n}@premiumauto.com"), Role::FiManager, Some(premium)).await);
        }
        db.add_user(&admin, "count@othermotors.com", Role::FiManager, Some(other.id)).await;
        check("added").await;
        db.update_user(&admin, added[0].id, UserPatch { dealership_id: Some(Some(other.id)), ..Default::default() }).await.unwrap();
        check("moved").await;
        db.delete_user(&admin, added[1].id).await.unwrap();
        check("deleted").await;
        // Counted in the principal's own scope too (row-level security on the counts).
        db.add_user(&principal, "by-principal@premiumauto.com", Role::FiManager, Some(premium)).await;
        check("added by the principal").await;
        // Users added at once, on several connections: the counts stay exact.
        let mut adding = tokio::task::JoinSet::new();
        for n in 0..8 {
            let (adam, admin) = (db.adam.clone(), admin.clone());
            adding.spawn(async move {
                let new = adam_core::NewUser {
                    email: Email::parse(&format!("race{n}@premiumauto.com")).unwrap(),
                    password: adam.password_policy().check(PASSWORD.into()).unwrap(),
                    full_name: name("Racer"),
                    role: Role::FiManager,
                    dealership_id: Some(premium),
                    must_change_password: false,
                };
                adam.create_user(&admin, new).await.unwrap();
            });
        }
        while adding.join_next().await.is_some() {}
        check("added at once").await;
    }

    async fn tenant_a_gets_not_found_for_tenant_b(db: TestDb) {
        let admin = db.admin().await;
        let other = second_dealership(&db).await;
        let theirs = db.add_user(&admin, "boss@othermotors.com", Role::DealerPrincipal, Some(other.id)).await;
        let their_manager = db.add_user(&admin, "fi@othermotors.com", Role::FiManager, Some(other.id)).await;
        let principal = db.principal_of_premium().await;
        let manager = db.manager_of_premium().await;
        for caller in [&principal, &manager] {
            for id in [theirs.id, their_manager.id, admin.user_id()] {
                assert!(matches!(db.get_user(caller, id).await, Err(Error::NotFound)));
                let patch = UserPatch { full_name: Some(name("Hacked")), ..Default::default() };
                assert!(matches!(db.update_user(caller, id, patch).await, Err(Error::NotFound)));
                assert!(matches!(db.delete_user(caller, id).await, Err(Error::NotFound)));
            }
            assert!(matches!(db.get_dealership(caller, other.id).await, Err(Error::NotFound)));
            let patch = DealershipPatch { is_active: Some(false), ..Default::default() };
            assert!(matches!(db.update_dealership(caller, other.id, patch).await, Err(Error::NotFound)));
            assert!(matches!(db.delete_dealership(caller, other.id).await, Err(Error::NotFound)));
        }
        // Nothing changed in the other dealership.
        assert_eq!(db.get_user(&admin, theirs.id).await.unwrap().full_name, "Test Person");
        assert!(db.get_dealership(&admin, other.id).await.unwrap().is_active);
        // Lists hold only the visible set.
        let seen: HashSet<_> = db.list_users(&principal, &UserFilter::default(), PageRequest::default()).await.unwrap()
            .items.into_iter().map(|u| u.email.into_string()).collect();
        assert_eq!(seen, HashSet::from(["principal@premiumauto.com".to_string(), "manager@premiumauto.com".to_string()]));
        let mine = db.list_users(&manager, &UserFilter::default(), PageRequest::default()).await.unwrap();
        assert_eq!(mine.total, 1);
        assert_eq!(mine.items[0].id, manager.user_id());
        let dealerships = db.list_dealerships(&principal, PageRequest::default()).await.unwrap();
        assert_eq!(dealerships.total, 1);
        assert_eq!(dealerships.items[0].id, principal.dealership_id().unwrap());
        assert_eq!(db.list_dealerships(&admin, PageRequest::default()).await.unwrap().total, 2);
    }

    async fn principal_manages_own_dealership_only(db: TestDb) {
        let principal = db.principal_of_premium().await;
        let own = principal.dealership_id().unwrap();
        let other = second_dealership(&db).await;
        // Creates an F&I manager in their own dealership, by default.
        let fi = db.add_user(&principal, "new.fi@premiumauto.com", Role::FiManager, None).await;
        assert_eq!(fi.dealership_id(), Some(own));
        let new = |email: &str, role, d| adam_core::NewUser {
            email: Email::parse(email).unwrap(),
            password: db.password_policy().check(PASSWORD.into()).unwrap(),
            full_name: name("X"),
            role,
            dealership_id: d,
            must_change_password: false,
        };
        let err = db.create_user(&principal, new("admin2@x.com", Role::SystemAdmin, None)).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)));
        let err = db.create_user(&principal, new("fi2@x.com", Role::FiManager, Some(other.id))).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)));
        // May promote, deactivate; may not make an admin or move to another dealership.
        db.update_user(&principal, fi.id, UserPatch { role: Some(Role::DealerPrincipal), ..Default::default() }).await.unwrap();
        let err = db.update_user(&principal, fi.id, UserPatch { role: Some(Role::SystemAdmin), dealership_id: Some(None), ..Default::default() }).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)));
        let err = db.update_user(&principal, fi.id, UserPatch { dealership_id: Some(Some(other.id)), ..Default::default() }).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)));
        assert!(matches!(db.delete_user(&principal, fi.id).await, Err(Error::Forbidden(_))));
        let after = db.update_user(&principal, fi.id, UserPatch { is_active: Some(false), ..Default::default() }).await.unwrap();
        assert!(!after.is_active);
        assert_eq!(after.role(), Role::DealerPrincipal);
        assert_eq!(after.dealership_id(), Some(own));
        // Dealerships: sees its own, may not change it.
        let err = db.update_dealership(&principal, own, DealershipPatch { name: Some(name("Mine")), ..Default::default() }).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)));
        assert!(matches!(db.create_dealership(&principal, NewDealership { name: name("Mine") }).await, Err(Error::Forbidden(_))));
    }

    async fn manager_changes_only_own_name_and_password(db: TestDb) {
        let manager = db.manager_of_premium().await;
        let me = manager.user_id();
        let renamed = db.update_user(&manager, me, UserPatch { full_name: Some(name("Fiona Manager")), ..Default::default() }).await.unwrap();
        assert_eq!(renamed.full_name, "Fiona Manager");
        for patch in [
            UserPatch { role: Some(Role::DealerPrincipal), ..Default::default() },
            UserPatch { email: Some(Email::parse("me@else.com").unwrap()), ..Default::default() },
            UserPatch { is_active: Some(false), ..Default::default() },
        ] {
            assert!(matches!(db.update_user(&manager, me, patch).await, Err(Error::Forbidden(_))));
        }
        let new_pw = || Some(db.password_policy().check("a fresh long passphrase".into()).unwrap());
        // Own password: current password required and checked.
        let err = db.update_user(&manager, me, UserPatch { password: new_pw(), ..Default::default() }).await.unwrap_err();
        assert!(matches!(err, Error::Invalid { field: "current_password", .. }));
        let err = db.update_user(&manager, me, UserPatch { password: new_pw(), current_password: Some("wrong".into()), ..Default::default() }).await.unwrap_err();
        assert!(matches!(err, Error::Invalid { field: "current_password", .. }));
        db.login(MANAGER.0, MANAGER.1).await.unwrap();
        let other_session = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        db.update_user(&manager, me, UserPatch { password: new_pw(), current_password: Some(MANAGER.1.into()), ..Default::default() }).await.unwrap();
        assert!(matches!(db.login(MANAGER.0, MANAGER.1).await, Err(Error::InvalidCredentials)));
        db.login("manager@premiumauto.com", "a fresh long passphrase").await.unwrap();
        // The other sessions end; the one that changed the password goes on.
        assert!(db.authenticate(&other_session.access_token).await.is_err());
        db.me(&manager).await.unwrap();
    }

    async fn last_active_admin_stays(db: TestDb) {
        let admin = db.admin().await;
        let me = admin.user_id();
        let premium = admin_dealership(&db).await;
        for patch in [
            UserPatch { is_active: Some(false), ..Default::default() },
            UserPatch { role: Some(Role::DealerPrincipal), dealership_id: Some(Some(premium)), ..Default::default() },
        ] {
            assert!(matches!(db.update_user(&admin, me, patch).await, Err(Error::Conflict(_))));
        }
        assert!(matches!(db.delete_user(&admin, me).await, Err(Error::Conflict(_))));
        assert!(db.get_user(&admin, me).await.unwrap().is_active);
        // With a second admin, one of them may go.
        let second = db.add_user(&admin, "second.admin@avataradam.com", Role::SystemAdmin, None).await;
        db.update_user(&admin, second.id, UserPatch { is_active: Some(false), ..Default::default() }).await.unwrap();
        assert!(matches!(db.delete_user(&admin, me).await, Err(Error::Conflict(_))));
        db.update_user(&admin, second.id, UserPatch { is_active: Some(true), ..Default::default() }).await.unwrap();
        db.delete_user(&admin, second.id).await.unwrap();
    }

    async fn concurrent_demotions_leave_one_admin(db: TestDb) {
        let admin = db.admin().await;
        let second = db.add_user(&admin, "second.admin@avataradam.com", Role::SystemAdmin, None).await;
        let tasks: Vec<_> = [admin.user_id(), second.id]
            .into_iter()
            .map(|id| {
                let adam = db.adam.clone();
                let admin = admin.clone();
                tokio::spawn(async move {
                    adam.update_user(&admin, id, UserPatch { is_active: Some(false), ..Default::default() }).await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(Error::Conflict(_)) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(ok, 1);
        let admins = db.list_users(&admin, &UserFilter { role: Some(Role::SystemAdmin), q: None }, PageRequest::default()).await.unwrap();
        assert_eq!(admins.items.iter().filter(|u| u.is_active).count(), 1);
    }

    async fn emails_are_unique_whatever_their_case(db: TestDb) {
        let admin = db.admin().await;
        let err = db.create_user(&admin, adam_core::NewUser {
            email: Email::parse("Manager@PremiumAuto.com").unwrap(),
            password: db.password_policy().check(PASSWORD.into()).unwrap(),
            full_name: name("Dup"),
            role: Role::SystemAdmin,
            dealership_id: None,
            must_change_password: false,
        }).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)));
        let principal = db.principal_of_premium().await;
        let err = db.update_user(&admin, principal.user_id(), UserPatch { email: Some(Email::parse("MANAGER@premiumauto.com").unwrap()), ..Default::default() }).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)));
        assert_eq!(db.get_user(&admin, principal.user_id()).await.unwrap().email.as_str(), "principal@premiumauto.com");
    }

    async fn dealerships_lifecycle(db: TestDb) {
        let admin = db.admin().await;
        let other = second_dealership(&db).await;
        let err = db.create_dealership(&admin, NewDealership { name: name("other MOTORS") }).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)));
        let u = db.add_user(&admin, "x@othermotors.com", Role::FiManager, Some(other.id)).await;
        let pair = db.login("x@othermotors.com", PASSWORD).await.unwrap();
        assert!(matches!(db.delete_dealership(&admin, other.id).await, Err(Error::Conflict(_))));
        // Deactivation: no sign-in, no refresh, tokens dead.
        let off = db.update_dealership(&admin, other.id, DealershipPatch { is_active: Some(false), ..Default::default() }).await.unwrap();
        assert!(!off.is_active);
        assert!(matches!(db.login("x@othermotors.com", PASSWORD).await, Err(Error::InvalidCredentials)));
        assert!(db.refresh(pair.refresh_token.expose()).await.is_err());
        assert!(db.authenticate(&pair.access_token).await.is_err());
        db.delete_user(&admin, u.id).await.unwrap();
        db.delete_dealership(&admin, other.id).await.unwrap();
        assert!(matches!(db.get_dealership(&admin, other.id).await, Err(Error::NotFound)));
        assert!(matches!(db.delete_dealership(&admin, other.id).await, Err(Error::NotFound)));
    }

    async fn bad_references_change_nothing(db: TestDb) {
        let admin = db.admin().await;
        let manager = db.manager_of_premium().await;
        let missing = adam_core::DealershipId::new();
        let err = db.update_user(&admin, manager.user_id(), UserPatch {
            full_name: Some(name("Changed")),
            dealership_id: Some(Some(missing)),
            ..Default::default()
        }).await.unwrap_err();
        assert!(matches!(err, Error::Invalid { field: "dealership_id", .. }));
        let err = db.update_user(&admin, manager.user_id(), UserPatch { dealership_id: Some(None), ..Default::default() }).await.unwrap_err();
        assert!(matches!(err, Error::Invalid { field: "dealership_id", .. }));
        let unchanged = db.get_user(&admin, manager.user_id()).await.unwrap();
        assert_eq!(unchanged.full_name, "F&I Manager");
        assert!(matches!(db.get_user(&admin, adam_core::UserId::new()).await, Err(Error::NotFound)));
        // A promotion to system admin clears the dealership.
        let promoted = db.update_user(&admin, manager.user_id(), UserPatch { role: Some(Role::SystemAdmin), ..Default::default() }).await.unwrap();
        assert_eq!(promoted.dealership_id(), None);
    }

    async fn listing_filters_searches_and_pages(db: TestDb) {
        let admin = db.admin().await;
        let premium = admin_dealership(&db).await;
        for i in 0..12 {
            db.add_user(&admin, &format!("sales{i:02}@premiumauto.com"), Role::FiManager, Some(premium)).await;
        }
        let fi = UserFilter { role: Some(Role::FiManager), q: None };
        let page = db.list_users(&admin, &fi, PageRequest::new(Some(5), Some(10)).unwrap()).await.unwrap();
        assert_eq!(page.total, 13);
        assert_eq!(page.items.len(), 3);
        assert_eq!((page.limit, page.offset), (5, 10));
        let q = UserFilter { role: None, q: Some("SALES0".into()) };
        assert_eq!(db.list_users(&admin, &q, PageRequest::default()).await.unwrap().total, 10);
        let by_name = UserFilter { role: None, q: Some("f&i man".into()) };
        assert_eq!(db.list_users(&admin, &by_name, PageRequest::default()).await.unwrap().total, 1);
        // Wildcards in the search are literal.
        let wild = UserFilter { role: None, q: Some("%".into()) };
        assert_eq!(db.list_users(&admin, &wild, PageRequest::default()).await.unwrap().total, 0);
        let sql = UserFilter { role: None, q: Some("' OR 1=1 --".into()) };
        assert_eq!(db.list_users(&admin, &sql, PageRequest::default()).await.unwrap().total, 0);
        // A listed user is the user as read alone, every column in its place (a page reads its
        // columns by position): created, updated and signed in at three different times.
        db.clock.advance(chrono::Duration::minutes(5));
        let manager = db.manager_of_premium().await;
        db.clock.advance(chrono::Duration::minutes(5));
        let renamed = UserPatch { full_name: Some(name("Renamed Manager")), ..Default::default() };
        db.update_user(&admin, manager.user_id(), renamed).await.unwrap();
        let alone = db.get_user(&admin, manager.user_id()).await.unwrap();
        assert!(alone.last_sign_in_at.is_some_and(|at| at > alone.created_at && at < alone.updated_at));
        let page = db.list_users(&admin, &UserFilter::default(), PageRequest::new(Some(100), None).unwrap()).await.unwrap();
        assert_eq!(page.items.iter().find(|u| u.id == alone.id), Some(&alone));
    }

    async fn every_page_carries_the_total_of_all_matches(db: TestDb) {
        // Full pages (the total is counted), short ones (offset plus length), an exact fit, and
        // empty ones past the end (counted apart), in each scope and filter.
        let admin = db.admin().await;
        let premium = admin_dealership(&db).await;
        for i in 0..11 {
            db.add_user(&admin, &format!("sales{i:02}@premiumauto.com"), Role::FiManager, Some(premium)).await;
        }
        for n in 0..5 {
            db.create_dealership(&admin, NewDealership { name: name(&format!("Lot {n}")) }).await.unwrap();
        }
        let principal = db.principal_of_premium().await;
        let everyone = UserFilter::default();
        let managers = UserFilter { role: Some(Role::FiManager), q: None };
        let sales = UserFilter { role: None, q: Some("sales".into()) };
        for (caller, filter) in [(&admin, &everyone), (&admin, &managers), (&admin, &sales), (&principal, &everyone)] {
            let all = db.list_users(caller, filter, PageRequest::new(Some(100), None).unwrap()).await.unwrap();
            let n = all.items.len() as u64;
            assert!(n >= 11, "{n}");
            assert_eq!(all.total, n);
            for limit in [1, 4, n as i64, n as i64 + 1] {
                for offset in 0..=n + 2 {
                    let page = db.list_users(caller, filter, PageRequest::new(Some(limit), Some(offset as i64)).unwrap()).await.unwrap();
                    assert_eq!(page.total, n, "limit {limit}, offset {offset}, {filter:?}");
                    let expected = &all.items[(offset.min(n) as usize)..((offset + limit as u64).min(n) as usize)];
                    assert_eq!(page.items, expected, "limit {limit}, offset {offset}, {filter:?}");
                }
            }
        }
        let all = db.list_dealerships(&admin, PageRequest::new(Some(100), None).unwrap()).await.unwrap();
        let n = all.items.len() as u64;
        assert_eq!((n, all.total), (6, 6));
        for limit in [1, 4, 6, 7] {
            for offset in 0..=n + 2 {
                let page = db.list_dealerships(&admin, PageRequest::new(Some(limit), Some(offset as i64)).unwrap()).await.unwrap();
                assert_eq!(page.total, n, "limit {limit}, offset {offset}");
                let expected = &all.items[(offset.min(n) as usize)..((offset + limit as u64).min(n) as usize)];
                assert_eq!(page.items, expected, "limit {limit}, offset {offset}");
            }
        }
        let mine = db.list_dealerships(&principal, PageRequest::new(Some(1), Some(1)).unwrap()).await.unwrap();
        assert_eq!((mine.total, mine.items.len()), (1, 0));
        let none = UserFilter { role: None, q: Some("nobody at all".into()) };
        let empty = db.list_users(&admin, &none, PageRequest::default()).await.unwrap();
        assert_eq!((empty.total, empty.items.len()), (0, 0));
    }

    async fn refreshes_proceed_while_a_password_is_being_hashed(db: TestDb) {
        // A slow cost and one hashing thread, so that one password change takes long enough to
        // watch (the seed is already there: this engine hashes only the new password).
        let slow = adam_core::Settings {
            hash_cost: adam_core::hashing::HashCost { memory_kib: 64 * 1024, iterations: 6, parallelism: 1 },
            hash_concurrency: 1,
            ..adam_testkit::settings_on(&db.clock)
        };
        let adam = db.db.engine_with(slow).await;
        let admin = db.admin().await;
        let manager = db.manager_of_premium().await.user_id();
        let mut refresh = db.login(PRINCIPAL.0, PRINCIPAL.1).await.unwrap().refresh_token;
        // Once before, so that the engine has its connection and keys when the change starts.
        refresh = adam.refresh(refresh.expose()).await.unwrap().refresh_token;
        let password = db.password_policy().check("a new password for the manager".into()).unwrap();
        let change = tokio::spawn({
            let adam = adam.clone();
            async move { adam.update_user(&admin, manager, UserPatch { password: Some(password), ..Default::default() }).await }
        });
        // Hashing happens between units of work: on SQLite a write transaction held for it
        // would keep every other write (a refresh, a sign-in) waiting until it ends.
        let mut refreshed = 0;
        while !change.is_finished() {
            refresh = adam.refresh(refresh.expose()).await.unwrap().refresh_token;
            refreshed += 1;
        }
        change.await.unwrap().unwrap();
        assert!(refreshed >= 3, "only {refreshed} refreshes while the password was hashed");
    }

    // The one engine test at the production cost (the others hash at the test kit's cheapest):
    // a stored hash weaker than it is replaced at the next sign-in.
    async fn weak_hashes_are_upgraded_on_login(db: TestDb) {
        let production = adam_core::Settings {
            hash_cost: adam_core::hashing::HashCost::OWASP,
            ..adam_testkit::settings_on(&db.clock)
        };
        let adam = db.db.engine_with(production).await;
        let weak = adam_core::hashing::PasswordHasher::new(
            adam_core::hashing::HashCost { memory_kib: 4096, iterations: 1, parallelism: 1 }, 1).unwrap();
        let hash = weak.hash(&db.password_policy().check(PASSWORD.into()).unwrap()).await.unwrap();
        raw_sql(db.url(), "UPDATE users SET password_hash = $1 WHERE email = 'manager@premiumauto.com'", &[&hash]).await;
        adam.login("manager@premiumauto.com", PASSWORD).await.unwrap();
        let stored = raw_sql(db.url(), "SELECT password_hash FROM users WHERE email = 'manager@premiumauto.com'", &[]).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        adam.login("manager@premiumauto.com", PASSWORD).await.unwrap();
    }

    async fn migrations_go_down_and_up(db: TestDb) {
        let status = db.migration_status().await.unwrap();
        assert!(!status.is_empty() && status.iter().all(|m| m.applied));
        let reverted = db.migrate_down().await.unwrap();
        assert_eq!(reverted, Some(status.last().unwrap().version));
        assert!(!db.migration_status().await.unwrap().last().unwrap().applied);
        let applied = db.migrate_up().await.unwrap();
        assert_eq!(applied, vec![status.last().unwrap().version]);
        db.seed().await.unwrap();
        db.login(ADMIN.0, ADMIN.1).await.unwrap();
    }
}

async fn admin_dealership(db: &TestDb) -> adam_core::DealershipId {
    db.principal_of_premium().await.dealership_id().unwrap()
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let db = adam_testkit::TestDatabase::create(adam_testkit::Engine::Sqlite).await;
    let adam = db.engine_with(adam_testkit::settings()).await;
    adam.login(ADMIN.0, ADMIN.1).await.unwrap();
    let path = db.url.trim_start_matches("sqlite://").to_owned();
    for file in [path.clone(), format!("{path}-wal"), format!("{path}-shm")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} has mode {mode:o}");
    }
}

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

fn small_limits() -> adam_core::Settings {
    adam_core::Settings {
        login_throttle: adam_core::settings::LoginThrottle {
            max_failures: 3,
            window: chrono::Duration::minutes(15),
            max_failures_per_address: 6,
        },
        ..adam_testkit::settings()
    }
}

/// `n` simultaneous wrong passwords for the manager from `from`: (401s, 429s).
async fn guess_at_once(adam: &adam_core::Adam, n: usize, from: &str) -> (usize, usize) {
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..n {
        let adam = adam.clone();
        let from = Some(ip(from));
        attempts.spawn(async move { adam.login_from(MANAGER.0, "a wrong guess", from).await });
    }
    let (mut invalid, mut throttled) = (0, 0);
    while let Some(r) = attempts.join_next().await {
        match r.unwrap() {
            Err(Error::InvalidCredentials) => invalid += 1,
            Err(Error::TooManyAttempts { .. }) => throttled += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    (invalid, throttled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_engines_on_one_postgres_share_the_throttle_exactly() {
    let db = adam_testkit::TestDatabase::create(adam_testkit::Engine::Postgres).await;
    let a = db.engine_with(adam_testkit::settings()).await;
    let b = db.engine_with(adam_testkit::settings()).await;
    let ((ia, ta), (ib, tb)) = tokio::join!(
        guess_at_once(&a, 20, "203.0.113.50"),
        guess_at_once(&b, 20, "203.0.113.50")
    );
    assert_eq!(ia + ib, 10, "one limit for both servers");
    assert_eq!(ta + tb, 30);
}

/// Ends every other connection to the test database, waiting until each is gone.
async fn close_the_pools_connections(url: &str) {
    raw_sql(
        url,
        "SELECT count(pg_terminate_backend(pid, 5000))::text FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
        &[],
    )
    .await;
}

#[tokio::test]
async fn connections_the_database_closed_are_replaced_or_answer_unavailable() {
    let db = adam_testkit::TestDatabase::create(adam_testkit::Engine::Postgres).await;
    let pinging_after = |idle: std::time::Duration| adam_core::Settings {
        store: adam_core::StoreOptions {
            ping_after_idle: idle,
            ..adam_core::StoreOptions::default()
        },
        ..adam_testkit::settings()
    };
    // Pinged before each use: the closed connections are replaced, no request sees them.
    let pinged = db
        .engine_with(pinging_after(std::time::Duration::ZERO))
        .await;
    let pair = pinged.login(MANAGER.0, MANAGER.1).await.unwrap();
    close_the_pools_connections(&db.url).await;
    pinged.authenticate(&pair.access_token).await.unwrap();
    close_the_pools_connections(&db.url).await;
    let pair = pinged.refresh(pair.refresh_token.expose()).await.unwrap();

    // Used too recently to be pinged: a request on a closed connection is unavailable (503),
    // never another error, and the pool soon holds only new connections.
    let unpinged = db
        .engine_with(pinging_after(std::time::Duration::from_secs(3600)))
        .await;
    unpinged.authenticate(&pair.access_token).await.unwrap();
    close_the_pools_connections(&db.url).await;
    let mut answered = false;
    for _ in 0..=adam_core::StoreOptions::default().max_connections {
        match unpinged.authenticate(&pair.access_token).await {
            Ok(_) => {
                answered = true;
                break;
            }
            Err(e) => assert!(e.is_unavailable(), "{e:?}"),
        }
    }
    assert!(answered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_ins_waiting_on_one_account_leave_connections_to_other_requests() {
    use sqlx::Connection;
    let db = adam_testkit::TestDatabase::create(adam_testkit::Engine::Postgres).await;
    let adam = db
        .engine_with(adam_core::Settings {
            store: adam_core::StoreOptions {
                max_connections: 4,
                ..adam_core::StoreOptions::default()
            },
            ..adam_testkit::settings()
        })
        .await;
    let pair = adam.login(MANAGER.0, MANAGER.1).await.unwrap();
    // Another server's slow attempt holds the account's throttle lock.
    let mut other_server = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let key = format!("adam:sign-in:account:{}", MANAGER.0);
    sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
        .bind(&key)
        .execute(&mut other_server)
        .await
        .unwrap();
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let adam = adam.clone();
            tokio::spawn(async move { adam.login(MANAGER.0, MANAGER.1).await })
        })
        .collect();
    // Half the pool waits for the lock (the throttled units' places), the others in memory.
    const WAITING: &str =
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted";
    let mut waiting = 0;
    for _ in 0..100_000 {
        waiting = sqlx::query_scalar::<_, i64>(WAITING)
            .fetch_one(&mut other_server)
            .await
            .unwrap();
        if waiting >= 2 {
            break;
        }
    }
    assert_eq!(waiting, 2);
    // The other half serves everyone else meanwhile.
    for _ in 0..4 {
        let caller = adam.authenticate(&pair.access_token).await.unwrap();
        adam.me(&caller).await.unwrap();
    }
    let waiting_now: i64 = sqlx::query_scalar(WAITING)
        .fetch_one(&mut other_server)
        .await
        .unwrap();
    assert_eq!(waiting_now, 2, "no more than half the pool waits");
    sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
        .bind(&key)
        .execute(&mut other_server)
        .await
        .unwrap();
    for attempt in attempts {
        attempt.await.unwrap().unwrap();
    }
}
