//! The audit log against real databases (SQLite and PostgreSQL): each change records its event
//! in its own transaction, readers see what their role allows, pages are exactly-once while
//! events arrive, a throttled burst records one refusal, secrets never reach an event.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;
use std::net::IpAddr;

use adam_core::{
    AuditCursor, AuditEvent, AuditFilter, AuditLimit, ClientInfo, DealershipId, DealershipPatch,
    Engine, Error, Name, NewDealership, Principal, Role, SignIn, UserId, UserPatch,
};
use adam_testkit::authenticator::{code_now, fresh_step, previous_code};
use adam_testkit::on_both_engines;
use adam_testkit::{ADMIN, MANAGER};
use support::{raw_sql, TestDb, PASSWORD};

/// Every event `caller` sees, newest first, read in pages of `limit`.
async fn all_seen(
    db: &TestDb,
    caller: &Principal,
    filter: &AuditFilter,
    limit: u32,
) -> Vec<AuditEvent> {
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = db
            .audit_events(
                caller,
                filter,
                AuditLimit::new(limit.into()).unwrap(),
                cursor,
            )
            .await
            .unwrap();
        seen.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return seen,
        }
    }
}

fn of_action(action: &str) -> AuditFilter {
    AuditFilter {
        action: Some(action.into()),
        ..AuditFilter::default()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The events of `action` the admin sees, newest first.
async fn events_of(db: &TestDb, admin: &Principal, action: &str) -> Vec<AuditEvent> {
    all_seen(db, admin, &of_action(action), 100).await
}

/// Asserts who acted, whom or what it was about, and the dealership it belongs to.
#[track_caller]
fn assert_people(
    e: &AuditEvent,
    actor: Option<UserId>,
    subject: (&str, uuid::Uuid),
    dealership: Option<DealershipId>,
) {
    assert_eq!(e.actor.as_ref().map(|a| a.id), actor, "actor of {e:?}");
    let s = e.subject.as_ref().unwrap();
    assert_eq!((s.kind.as_str(), s.id), subject, "subject of {e:?}");
    assert_eq!(e.dealership_id, dealership, "dealership of {e:?}");
}

on_both_engines! {
    async fn a_change_records_its_event_with_actor_subject_dealership_and_origin(db: TestDb) {
        let admin = db.admin().await;
        let principal = db
            .principal_of_premium()
            .await
            .from_client(ClientInfo { ip: Some(ip("198.51.100.4")), user_agent: Some("Desk/1.0".into()) });
        let manager = db.manager_of_premium().await;
        let premium = principal.placement().dealership_id();
        db.update_user(
            &principal,
            manager.user_id(),
            UserPatch { full_name: Some(Name::parse("full_name", "Renamed").unwrap()), ..UserPatch::default() },
        )
        .await
        .unwrap();
        let events = all_seen(&db, &admin, &of_action("user.updated"), 50).await;
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        assert_eq!(e.actor.as_ref().unwrap().id, principal.user_id());
        assert_eq!(e.actor.as_ref().unwrap().email.as_deref(), Some("principal@premiumauto.com"));
        let subject = e.subject.as_ref().unwrap();
        assert_eq!((subject.kind.as_str(), subject.id), ("user", manager.user_id().as_uuid()));
        assert_eq!(e.dealership_id, premium);
        assert_eq!(e.session_id, Some(principal.session_id()));
        assert_eq!(e.ip.as_deref(), Some("198.51.100.4"));
        assert_eq!(e.user_agent.as_deref(), Some("Desk/1.0"));
        assert_eq!(e.details["fields"], serde_json::json!(["full_name"]));

        // A deactivation: from → to, and one session.ended per session it ended.
        db.update_user(&admin, manager.user_id(), UserPatch { is_active: Some(false), ..UserPatch::default() })
            .await
            .unwrap();
        let events = all_seen(&db, &admin, &of_action("user.updated"), 50).await;
        assert_eq!(events[0].details["is_active"], serde_json::json!({"from": true, "to": false}));
        assert_eq!(events[0].actor.as_ref().unwrap().id, admin.user_id());
        let ended = all_seen(&db, &admin, &AuditFilter {
            action: Some("session.ended".into()),
            subject_id: Some(manager.user_id().as_uuid()),
            ..AuditFilter::default()
        }, 50).await;
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(ended[0].session_id, Some(manager.session_id()));
        assert_eq!(ended[0].details["how"], "user_changed");

        // Sign-ins: the user is the actor of their own, a failure names the account.
        let logins = all_seen(&db, &admin, &AuditFilter {
            action: Some("login.succeeded".into()),
            actor_id: Some(manager.user_id()),
            ..AuditFilter::default()
        }, 50).await;
        assert_eq!(logins.len(), 1);
        assert_eq!(logins[0].session_id, Some(manager.session_id()));
        assert!(db.login(MANAGER.0, "wrong password").await.is_err());
        let failed = all_seen(&db, &admin, &of_action("login.failed"), 50).await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].details["reason"], "bad_credentials");
        assert!(failed[0].actor.is_none());
        assert_eq!(failed[0].subject.as_ref().unwrap().id, manager.user_id().as_uuid());
    }

    async fn each_role_sees_only_what_the_role_table_allows(db: TestDb) {
        let admin = db.admin().await;
        let other = db
            .create_dealership(&admin, NewDealership { name: Name::parse("name", "Other Motors").unwrap() })
            .await
            .unwrap();
        let far = db.add_user(&admin, "far@other.example", Role::FiManager, Some(other.id)).await;
        let far = db.principal(far.email.as_str(), PASSWORD).await;
        let principal = db.principal_of_premium().await;
        let manager = db.manager_of_premium().await;
        let premium = principal.placement().dealership_id();
        // The principal renames the manager: the manager is its subject.
        db.update_user(&principal, manager.user_id(), UserPatch {
            full_name: Some(Name::parse("full_name", "Renamed").unwrap()),
            ..UserPatch::default()
        }).await.unwrap();

        let everything = all_seen(&db, &admin, &AuditFilter::default(), 100).await;
        assert!(everything.iter().any(|e| e.dealership_id == Some(other.id)));
        assert!(everything.iter().any(|e| e.dealership_id.is_none()));

        let of_principal = all_seen(&db, &principal, &AuditFilter::default(), 3).await;
        assert!(!of_principal.is_empty());
        assert!(of_principal.iter().all(|e| e.dealership_id == premium), "{of_principal:?}");
        let expected = everything.iter().filter(|e| e.dealership_id == premium).count();
        assert_eq!(of_principal.len(), expected);
        // Asking for another dealership by filter finds nothing either.
        let asked = all_seen(&db, &principal, &AuditFilter { dealership_id: Some(other.id), ..AuditFilter::default() }, 50).await;
        assert!(asked.is_empty(), "{asked:?}");

        let of_manager = all_seen(&db, &manager, &AuditFilter::default(), 2).await;
        let me = manager.user_id();
        assert!(of_manager.iter().all(|e| e.actor.as_ref().map(|a| a.id) == Some(me)
            || e.subject.as_ref().map(|s| s.id) == Some(me.as_uuid())), "{of_manager:?}");
        assert!(of_manager.iter().any(|e| e.action == "user.updated"), "done to them by the principal");
        let expected = everything.iter().filter(|e| e.actor.as_ref().map(|a| a.id) == Some(me)
            || e.subject.as_ref().map(|s| s.id) == Some(me.as_uuid())).count();
        assert_eq!(of_manager.len(), expected);

        let of_far = all_seen(&db, &far, &AuditFilter::default(), 50).await;
        assert!(of_far.iter().all(|e| e.dealership_id == Some(other.id)), "{of_far:?}");
    }

    async fn a_user_moved_between_dealerships_is_seen_by_both_principals(db: TestDb) {
        let admin = db.admin().await;
        let other = db
            .create_dealership(&admin, NewDealership { name: Name::parse("name", "Other Motors").unwrap() })
            .await
            .unwrap();
        let principal = db.principal_of_premium().await;
        let manager = db.manager_of_premium().await;
        db.update_user(&admin, manager.user_id(), UserPatch {
            dealership_id: Some(Some(other.id)),
            ..UserPatch::default()
        }).await.unwrap();
        let seen = all_seen(&db, &principal, &of_action("user.updated"), 50).await;
        assert_eq!(seen.len(), 1, "the former dealership's principal sees the move");
        assert_eq!(seen[0].dealership_id, Some(other.id));
        assert_eq!(seen[0].details["dealership_id"]["to"], other.id.as_uuid().to_string());
    }

    async fn pages_are_exactly_once_while_events_arrive(db: TestDb) {
        let admin = db.admin().await;
        for _ in 0..12 {
            db.login(ADMIN.0, ADMIN.1).await.unwrap();
        }
        let before: HashSet<_> = all_seen(&db, &admin, &AuditFilter::default(), 100).await.into_iter().map(|e| e.id).collect();
        // Page by 4 while sign-ins keep arriving.
        let writer = {
            let adam = db.adam.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    adam.login(ADMIN.0, ADMIN.1).await.unwrap();
                }
            })
        };
        let mut seen = Vec::new();
        let mut cursor: Option<AuditCursor> = None;
        loop {
            let page = db.audit_events(&admin, &AuditFilter::default(), AuditLimit::new(4).unwrap(), cursor).await.unwrap();
            seen.extend(page.items.into_iter().map(|e| (e.at, e.id)));
            match page.next_cursor { Some(c) => cursor = Some(c), None => break }
            tokio::task::yield_now().await;
        }
        writer.await.unwrap();
        let ids: Vec<_> = seen.iter().map(|(_, id)| *id).collect();
        let unique: HashSet<_> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "an event appeared twice");
        assert!(before.is_subset(&unique), "an event committed before the first page was missed");
        assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first");
    }

    async fn a_failed_event_write_rolls_back_its_change(db: TestDb) {
        let admin = db.admin().await;
        let manager = db.manager_of_premium().await;
        match db.engine() {
            Engine::Postgres => {
                raw_sql(db.url(), "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
                    $$ BEGIN RAISE EXCEPTION 'refused'; END $$", &[]).await;
                raw_sql(db.url(), "CREATE TRIGGER refuse BEFORE INSERT ON audit_events FOR EACH ROW \
                    WHEN (NEW.action = 'user.updated') EXECUTE FUNCTION refuse()", &[]).await;
            }
            Engine::Sqlite => {
                raw_sql(db.url(), "CREATE TRIGGER refuse BEFORE INSERT ON audit_events \
                    WHEN NEW.action = 'user.updated' BEGIN SELECT RAISE(ABORT, 'refused'); END", &[]).await;
            }
        }
        let result = db.update_user(&admin, manager.user_id(), UserPatch {
            is_active: Some(false),
            ..UserPatch::default()
        }).await;
        assert!(result.is_err(), "{result:?}");
        let stored = db.get_user(&admin, manager.user_id()).await.unwrap();
        assert!(stored.is_active, "the change committed without its event");
        assert!(!db.my_sessions(&manager).await.unwrap().is_empty(), "the session was ended");
        assert!(all_seen(&db, &admin, &of_action("session.ended"), 50).await.is_empty());
    }

    async fn a_throttled_burst_records_one_refusal(db: TestDb) {
        let admin = db.admin().await;
        let max = db.settings().login_throttle.max_failures as usize;
        let mut attempts = tokio::task::JoinSet::new();
        for _ in 0..30 {
            let adam = db.adam.clone();
            attempts.spawn(async move { adam.login_from(MANAGER.0, "a wrong guess", Some(ip("203.0.113.9"))).await });
        }
        let mut throttled = 0;
        while let Some(r) = attempts.join_next().await {
            if matches!(r.unwrap(), Err(Error::TooManyAttempts { .. })) {
                throttled += 1;
            }
        }
        assert_eq!(throttled, 30 - max);
        let failed = all_seen(&db, &admin, &of_action("login.failed"), 100).await;
        let refusals: Vec<_> = failed.iter().filter(|e| e.details["reason"] == "throttled").collect();
        assert_eq!(refusals.len(), 1, "{refusals:?}");
        assert_eq!(refusals[0].details["throttle"], "account_and_address");
        assert_eq!(refusals[0].ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(failed.len() - 1, max, "each failure that reached the password check");
    }

    async fn no_event_holds_a_password_or_token(db: TestDb) {
        let admin = db.admin().await;
        let user = db.add_user(&admin, "someone@premiumauto.com", Role::FiManager, db.principal_of_premium().await.placement().dealership_id()).await;
        let me = db.principal(user.email.as_str(), PASSWORD).await;
        let new_password = "An0ther-secret-pass";
        db.update_user(&me, me.user_id(), UserPatch {
            password: Some(db.password_policy().check(new_password.into()).unwrap()),
            current_password: Some(PASSWORD.into()),
            ..UserPatch::default()
        }).await.unwrap();
        let _ = db.login(user.email.as_str(), "typed-by-mistake-secret").await;
        let pair = db.login(user.email.as_str(), new_password).await.unwrap();
        let text = serde_json::to_string(&all_seen(&db, &admin, &AuditFilter::default(), 100).await).unwrap();
        assert!(text.contains("user.password_changed"));
        for secret in [PASSWORD, new_password, "typed-by-mistake-secret", pair.access_token.as_str(), pair.refresh_token.expose()] {
            assert!(!text.contains(secret), "an event holds {secret:?}");
        }
        let stored = raw_sql(db.url(), "SELECT password_hash FROM users WHERE email = 'someone@premiumauto.com'", &[]).await.unwrap();
        assert!(!text.contains(&stored));
    }

    async fn a_malformed_cursor_or_limit_is_refused(db: TestDb) {
        let admin = db.admin().await;
        assert!(matches!(AuditCursor::decode("bm90LWEtY3Vyc29y"), Err(Error::Invalid { field: "cursor", .. })));
        assert!(matches!(AuditLimit::new(0), Err(Error::Invalid { field: "limit", .. })));
        let long = AuditFilter { action: Some("x".repeat(65)), ..AuditFilter::default() };
        assert!(matches!(db.audit_events(&admin, &long, AuditLimit::default(), None).await, Err(Error::Invalid { field: "action", .. })));
    }

    async fn retention_deletes_old_events_once_a_day(db: TestDb) {
        let admin = db.admin().await;
        let old = match db.engine() {
            Engine::Postgres => "UPDATE audit_events SET at = at - interval '400 days' WHERE action = 'user.created' RETURNING 'x'",
            Engine::Sqlite => "UPDATE audit_events SET at = '2020-01-01T00:00:00+00:00' WHERE action = 'user.created' RETURNING 'x'",
        };
        raw_sql(db.url(), old, &[]).await;
        let created = all_seen(&db, &admin, &of_action("user.created"), 100).await.len() as u64;
        assert!(created > 0);
        let (a, b) = tokio::join!(db.purge_audit_log(), db.purge_audit_log());
        let runs: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(runs, [created], "one run deleted the old events; the other did nothing");
        assert!(all_seen(&db, &admin, &of_action("user.created"), 100).await.is_empty());
        assert!(!all_seen(&db, &admin, &of_action("login.succeeded"), 100).await.is_empty());
        assert_eq!(db.purge_audit_log().await.unwrap(), None, "not again within the day");

        let mut exported = Vec::new();
        let n = db.export_audit_events(None, None, |e| { exported.push(e); Ok(()) }).await.unwrap();
        assert_eq!(n as usize, exported.len());
        assert!(exported.windows(2).all(|w| (w[0].at, w[0].id) < (w[1].at, w[1].id)), "oldest first");
    }

    async fn each_second_factor_action_is_recorded_once_with_its_people(db: TestDb) {
        fresh_step(&db.clock);
        let admin = db.admin().await;
        let principal = db.principal_of_premium().await;
        let manager = db.manager_of_premium().await;
        let premium = principal.placement().dealership_id();
        let me = manager.user_id();
        let about_me = ("user", me.as_uuid());
        let first = db.start_totp_enrollment(&manager, MANAGER.1).await.unwrap();
        let secret = first.secret.to_string();
        let codes = db.confirm_totp_enrollment(&manager, &previous_code(&db.clock, &secret)).await.unwrap();
        let codes = codes.codes().to_vec();
        let enrolled = events_of(&db, &admin, "mfa.enrolled").await;
        assert_eq!(enrolled.len(), 1, "{enrolled:?}");
        assert_people(&enrolled[0], Some(me), about_me, premium);
        assert_eq!(enrolled[0].session_id, Some(manager.session_id()));

        // A recovery code at sign-in; the user is the actor of their own sign-in.
        let origin = ClientInfo { ip: Some(ip("198.51.100.7")), user_agent: Some("Phone/2".into()) };
        let token = match db.sign_in(MANAGER.0, MANAGER.1, &origin).await.unwrap() {
            SignIn::CodeRequired(t, _) => t.expose().to_owned(),
            other => panic!("expected the code step, got {other:?}"),
        };
        let pair = db.sign_in_with_code(&token, &codes[0], &origin).await.and_then(adam_core::SignIn::into_tokens).unwrap();
        let signed_in = db.authenticate(&pair.access_token).await.unwrap();
        let used = events_of(&db, &admin, "mfa.recovery_code_used").await;
        assert_eq!(used.len(), 1, "{used:?}");
        assert_people(&used[0], Some(me), about_me, premium);
        assert_eq!(used[0].ip.as_deref(), Some("198.51.100.7"));
        let method_of = |events: &[AuditEvent], session| -> Vec<serde_json::Value> {
            events.iter().filter(|e| e.session_id == Some(session)).map(|e| e.details["method"].clone()).collect()
        };
        let logins = events_of(&db, &admin, "login.succeeded").await;
        assert_eq!(method_of(&logins, signed_in.session_id()), ["recovery_code"], "the sign-in names the recovery code");

        // New recovery codes, asked for with another recovery code: both recorded, once.
        db.regenerate_recovery_codes(&signed_in, &codes[1]).await.unwrap();
        let regenerated = events_of(&db, &admin, "mfa.recovery_codes_regenerated").await;
        assert_eq!(regenerated.len(), 1, "{regenerated:?}");
        assert_people(&regenerated[0], Some(me), about_me, premium);
        assert_eq!(regenerated[0].session_id, Some(signed_in.session_id()));
        assert_eq!(events_of(&db, &admin, "mfa.recovery_code_used").await.len(), 2);
        // A wrong code changes nothing and records no second factor event.
        assert!(db.regenerate_recovery_codes(&signed_in, "000000-x").await.is_err());
        assert_eq!(events_of(&db, &admin, "mfa.recovery_codes_regenerated").await.len(), 1);

        // A TOTP code at sign-in is named `totp`.
        fresh_step(&db.clock);
        let token = match db.sign_in(MANAGER.0, MANAGER.1, &origin).await.unwrap() {
            SignIn::CodeRequired(t, _) => t.expose().to_owned(),
            other => panic!("expected the code step, got {other:?}"),
        };
        let by_totp = db.sign_in_with_code(&token, &code_now(&db.clock, &secret), &origin).await.and_then(adam_core::SignIn::into_tokens).unwrap();
        let by_totp = db.authenticate(&by_totp.access_token).await.unwrap();
        let logins = events_of(&db, &admin, "login.succeeded").await;
        assert_eq!(method_of(&logins, by_totp.session_id()), ["totp"]);
        fresh_step(&db.clock);

        db.disable_totp(&signed_in, MANAGER.1, &code_now(&db.clock, &secret)).await.unwrap();
        let disabled = events_of(&db, &admin, "mfa.disabled").await;
        assert_eq!(disabled.len(), 1, "{disabled:?}");
        assert_people(&disabled[0], Some(me), about_me, premium);
        assert_eq!(events_of(&db, &admin, "mfa.recovery_code_used").await.len(), 2, "a TOTP code is no recovery code");

        // The principal resets it: they are the actor, and each of the manager's sessions ends.
        let manager = db.manager_of_premium().await;
        let started = db.start_totp_enrollment(&manager, MANAGER.1).await.unwrap();
        db.confirm_totp_enrollment(&manager, &previous_code(&db.clock, &started.secret)).await.unwrap();
        assert_eq!(events_of(&db, &admin, "mfa.enrolled").await.len(), 2);
        let live = db.my_sessions(&manager).await.unwrap().len();
        db.reset_mfa(&principal, me).await.unwrap();
        let reset = events_of(&db, &admin, "mfa.reset").await;
        assert_eq!(reset.len(), 1, "{reset:?}");
        assert_people(&reset[0], Some(principal.user_id()), about_me, premium);
        assert_eq!(reset[0].session_id, Some(principal.session_id()));
        let ended: Vec<_> = events_of(&db, &admin, "session.ended").await.into_iter()
            .filter(|e| e.details["how"] == "mfa_reset").collect();
        assert_eq!(ended.len(), live, "one session.ended per session: {ended:?}");
        assert!(ended.iter().all(|e| e.subject.as_ref().unwrap().id == me.as_uuid()));

        // No event holds a TOTP secret, a recovery code or the sign-in's mfa_token.
        let text = serde_json::to_string(&all_seen(&db, &admin, &AuditFilter::default(), 100).await).unwrap();
        let second = started.secret.to_string();
        for secret in codes.iter().chain([&secret, &second, &token]) {
            assert!(!text.contains(secret.as_str()), "an event holds {secret:?}");
            assert!(!text.contains(&secret.replace('-', "")), "an event holds {secret:?}");
        }
    }

    async fn dealership_and_user_lifecycles_are_recorded_once_each(db: TestDb) {
        let admin = db.admin().await;
        let a = Some(admin.user_id());
        let d = db
            .create_dealership(&admin, NewDealership { name: Name::parse("name", "Northside Cars").unwrap() })
            .await
            .unwrap();
        let about_d = ("dealership", d.id.as_uuid());
        let created = events_of(&db, &admin, "dealership.created").await;
        let created: Vec<_> = created.iter().filter(|e| e.dealership_id == Some(d.id)).collect();
        assert_eq!(created.len(), 1, "{created:?}");
        assert_people(created[0], a, about_d, Some(d.id));

        let user = db.add_user(&admin, "seller@northside.example", Role::FiManager, Some(d.id)).await;
        let about_user = ("user", user.id.as_uuid());
        let made: Vec<_> = events_of(&db, &admin, "user.created").await.into_iter()
            .filter(|e| e.subject.as_ref().unwrap().id == user.id.as_uuid()).collect();
        assert_eq!(made.len(), 1, "{made:?}");
        assert_people(&made[0], a, about_user, Some(d.id));
        let seller = db.principal(user.email.as_str(), PASSWORD).await;

        // A patch that changes nothing records nothing; a rename and a deactivation, one event
        // with the fields and from → to, and the end of the seller's session.
        let same = DealershipPatch { name: Some(Name::parse("name", "Northside Cars").unwrap()), ..DealershipPatch::default() };
        db.update_dealership(&admin, d.id, same).await.unwrap();
        assert!(events_of(&db, &admin, "dealership.updated").await.is_empty());
        db.update_dealership(&admin, d.id, DealershipPatch {
            name: Some(Name::parse("name", "Northside Motors").unwrap()),
            is_active: Some(false),
            ..DealershipPatch::default()
        }).await.unwrap();
        let updated = events_of(&db, &admin, "dealership.updated").await;
        assert_eq!(updated.len(), 1, "{updated:?}");
        assert_people(&updated[0], a, about_d, Some(d.id));
        assert_eq!(updated[0].details["fields"], serde_json::json!(["name", "is_active"]));
        assert_eq!(updated[0].details["is_active"], serde_json::json!({"from": true, "to": false}));
        let ended: Vec<_> = events_of(&db, &admin, "session.ended").await.into_iter()
            .filter(|e| e.session_id == Some(seller.session_id())).collect();
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(ended[0].details["how"], "dealership_deactivated");
        assert_people(&ended[0], a, about_user, Some(d.id));

        // Deleting: refused while it has users (and nothing recorded), then the user, then it.
        assert!(matches!(db.delete_dealership(&admin, d.id).await, Err(Error::Conflict(_))));
        assert!(events_of(&db, &admin, "dealership.deleted").await.is_empty());
        db.delete_user(&admin, user.id).await.unwrap();
        let deleted = events_of(&db, &admin, "user.deleted").await;
        assert_eq!(deleted.len(), 1, "{deleted:?}");
        assert_people(&deleted[0], a, about_user, Some(d.id));
        db.delete_dealership(&admin, d.id).await.unwrap();
        let deleted = events_of(&db, &admin, "dealership.deleted").await;
        assert_eq!(deleted.len(), 1, "{deleted:?}");
        assert_people(&deleted[0], a, about_d, Some(d.id));
        // The events outlive what they are about.
        assert_eq!(events_of(&db, &admin, "user.created").await.iter()
            .filter(|e| e.subject.as_ref().unwrap().id == user.id.as_uuid()).count(), 1);
    }

    async fn key_rotation_and_revocation_are_system_events(db: TestDb) {
        let admin = db.admin().await;
        let principal = db.principal_of_premium().await;
        let state = |keys: &[adam_core::keyring::SigningKeyInfo], s: &str| {
            keys.iter().find(|k| k.state.as_str() == s).map(|k| k.kid.clone()).unwrap()
        };
        let keys = db.signing_keys().await.unwrap();
        let (first, next) = (state(&keys, "current"), state(&keys, "next"));
        // Refused (the next key was published a moment ago): nothing recorded.
        assert!(db.rotate_signing_keys(false).await.is_err());
        assert!(events_of(&db, &admin, "keys.rotated").await.is_empty());
        db.rotate_signing_keys(true).await.unwrap();
        let keys = db.signing_keys().await.unwrap();
        let rotated = events_of(&db, &admin, "keys.rotated").await;
        assert_eq!(rotated.len(), 1, "{rotated:?}");
        let e = &rotated[0];
        assert!(e.actor.is_none() && e.subject.is_none() && e.dealership_id.is_none(), "{e:?}");
        assert_eq!(e.details, serde_json::json!({
            "alg": "EdDSA", "retired": first, "current": next, "next": state(&keys, "next"),
        }));
        assert!(db.revoke_signing_key("no-such-kid").await.is_err());
        db.revoke_signing_key(&first).await.unwrap();
        let revoked = events_of(&db, &admin, "keys.revoked").await;
        assert_eq!(revoked.len(), 1, "{revoked:?}");
        assert_eq!(revoked[0].details, serde_json::json!({"kid": first, "state": "retired"}));
        // A principal's view holds no system event.
        let seen = all_seen(&db, &principal, &AuditFilter::default(), 100).await;
        assert!(seen.iter().all(|e| !e.action.starts_with("keys.")), "{seen:?}");
    }

    async fn any_user_agent_is_stored_as_it_came(db: TestDb) {
        // Text that looks like SQL, quotes, backslashes, dollar quotes, non-ASCII letters and a
        // format character come back byte for byte.
        let admin = db.admin().await;
        let agent = "Zoë's app'); DROP TABLE users; -- \\ $$ $x$ \"quoted\" \u{202e}";
        let caller = db.admin().await.from_client(ClientInfo { ip: Some(ip("2001:db8::7")), user_agent: Some(agent.into()) });
        let manager = db.manager_of_premium().await;
        db.update_user(&caller, manager.user_id(), UserPatch {
            full_name: Some(Name::parse("full_name", "Renamed").unwrap()),
            ..UserPatch::default()
        }).await.unwrap();
        let events = events_of(&db, &admin, "user.updated").await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].user_agent.as_deref(), Some(agent));
        assert_eq!(events[0].ip.as_deref(), Some("2001:db8::7"));
        assert_eq!(events[0].actor.as_ref().unwrap().email.as_deref(), Some("admin@avataradam.com"));
        assert_eq!(db.get_user(&admin, manager.user_id()).await.unwrap().full_name, "Renamed");
    }

    async fn bounds_outside_the_years_1970_to_9999_are_refused_and_others_compare_as_times(db: TestDb) {
        let admin = db.admin().await;
        use chrono::TimeZone;
        let year = |y: i32| chrono::Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap();
        let second = chrono::Duration::seconds(1);
        let limit = AuditLimit::new(100).unwrap();
        for (since, until) in [
            (Some(year(-4714)), None),
            (None, Some(year(262_142))),
            (Some(year(1970) - second), None),
            (None, Some(year(10_000))),
        ] {
            let filter = AuditFilter { since, until, ..AuditFilter::default() };
            let r = db.audit_events(&admin, &filter, limit, None).await;
            assert!(matches!(r, Err(Error::Invalid { field: "since" | "until", .. })), "{since:?} {until:?}: {r:?}");
            assert!(matches!(db.export_audit_events(since, until, |_| Ok(())).await, Err(Error::Invalid { .. })));
        }
        // Within the years, times compare as times: the sign-in is before any later bound and
        // after any earlier one, to the microsecond.
        let signed_in = all_seen(&db, &admin, &of_action("login.succeeded"), 100).await[0].at;
        let around = |since, until| AuditFilter { action: Some("login.succeeded".into()), since, until, ..AuditFilter::default() };
        let micro = chrono::Duration::microseconds(1);
        assert!(!all_seen(&db, &admin, &around(Some(signed_in), None), 100).await.is_empty());
        assert!(all_seen(&db, &admin, &around(Some(signed_in + micro), None), 100).await.is_empty());
        assert!(all_seen(&db, &admin, &around(None, Some(signed_in)), 100).await.is_empty());
        assert!(!all_seen(&db, &admin, &around(None, Some(signed_in + micro)), 100).await.is_empty());
        assert!(!all_seen(&db, &admin, &around(Some(year(1970)), Some(year(10_000) - second)), 100).await.is_empty());
    }

    async fn wrong_codes_on_the_profile_routes_are_recorded(db: TestDb) {
        fresh_step(&db.clock);
        let admin = db.admin().await;
        let manager = db.manager_of_premium().await;
        let started = db.start_totp_enrollment(&manager, MANAGER.1).await.unwrap();
        let secret = started.secret.to_string();
        db.confirm_totp_enrollment(&manager, &previous_code(&db.clock, &secret)).await.unwrap();
        let before = events_of(&db, &admin, "login.failed").await.len();
        let wrong = if code_now(&db.clock, &secret) == "000000" { "111111" } else { "000000" };
        assert!(db.disable_totp(&manager, MANAGER.1, wrong).await.is_err());
        assert!(db.regenerate_recovery_codes(&manager, wrong).await.is_err());
        let failed = events_of(&db, &admin, "login.failed").await;
        assert_eq!(failed.len(), before + 2, "one event per wrong code");
        assert!(failed[..2].iter().all(|e| e.subject.as_ref().map(|s| s.id) == Some(manager.user_id().as_uuid())), "{failed:?}");
    }
}
