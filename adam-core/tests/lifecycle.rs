//! Staff lifecycle by mail (contract: "Mail" and "Invitations, password reset, first sign-in"):
//! the outbox, password reset and invitations, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::IpAddr;

use adam_core::links::LinkProblem;
use adam_core::mail::{MailKind, OutgoingMail};
use adam_core::{
    Adam, ClientInfo, DealershipPatch, Email, Error, InvitationStatus, MailStatus, Name,
    NewInvitation, PageRequest, ResetRequested, Role, SignIn, UserPatch,
};
use adam_testkit::authenticator::{code_now, fresh_step, previous_code};
use adam_testkit::on_both_engines;
use adam_testkit::{MANAGER, PRINCIPAL};
use chrono::Duration;
use support::TestDb;

fn from(ip: &str) -> ClientInfo {
    ClientInfo {
        ip: Some(ip.parse::<IpAddr>().unwrap()),
        user_agent: Some("lifecycle tests".into()),
    }
}

fn here() -> ClientInfo {
    from("198.51.100.9")
}

const CHOSEN: &str = "a-new-passphrase-2026";
const INVITEE: &str = "new.hire@premiumauto.com";

/// A second engine on the test's database and clock, with mail on (as with `SMTP_URL`).
async fn with_mail(db: &TestDb) -> Adam {
    let mut settings = adam_testkit::settings_on(&db.clock);
    settings.mail_enabled = true;
    db.db.engine_with(settings).await
}

/// Every mail due now, taken as a sender would (and marked sent).
async fn deliver(adam: &Adam) -> Vec<OutgoingMail> {
    let mut sent = Vec::new();
    while let Some(mail) = adam.next_mail().await.unwrap() {
        adam.mail_sent(mail.id).await.unwrap();
        sent.push(mail);
    }
    sent
}

fn invitation(role: Role, dealership: Option<adam_core::DealershipId>) -> NewInvitation {
    NewInvitation {
        email: Email::parse(INVITEE).unwrap(),
        full_name: Name::parse("full_name", "New Hire").unwrap(),
        role,
        dealership_id: dealership,
    }
}

async fn page_of(adam: &Adam, who: &adam_core::Principal) -> Vec<adam_core::Invitation> {
    adam.list_invitations(who, PageRequest::new(Some(100), Some(0)).unwrap())
        .await
        .unwrap()
        .items
}

on_both_engines! {
    async fn a_browser_session_is_an_ordinary_session_held_by_a_secret(db: TestDb) {
        let pair = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        let session = db.authenticate(&pair.access_token).await.unwrap().session_id();
        let held = db.open_browser_session(pair).await.unwrap();
        let token = held.token.expose().to_owned();
        assert!(token.starts_with(adam_core::BROWSER_SESSION_PREFIX) && token.len() == 9 + 43);
        assert!(!format!("{held:?}").contains(&token[9..]), "Debug hides the secret");
        assert!(held.expires_at > db.clock.now() + Duration::hours(23), "until SESSION_MAX_MINUTES");
        let (me, user) = db.browser_principal(&token).await.unwrap();
        assert_eq!((me.session_id(), user.email.as_str()), (session, MANAGER.0));
        let listed = db.my_sessions(&me).await.unwrap();
        assert_eq!(listed.iter().filter(|s| s.current).count(), 1, "listed like any session");
        for bad in ["", "adam_ses_", &token[..40], &format!("{token}x"), "adam_rst_AAAA"] {
            assert!(matches!(db.browser_principal(bad).await, Err(Error::Unauthorized(_))), "{bad}");
        }
        // Ended by anyone's rule (here: the manager deactivated), it holds nothing any more.
        let admin = db.admin().await;
        db.update_user(&admin, me.user_id(), UserPatch { is_active: Some(false), ..UserPatch::default() }).await.unwrap();
        assert!(matches!(db.browser_principal(&token).await, Err(Error::Unauthorized(_))));
        db.update_user(&admin, me.user_id(), UserPatch { is_active: Some(true), ..UserPatch::default() }).await.unwrap();
        assert!(db.browser_principal(&token).await.is_err(), "the deactivation ended the session for good");
        // A session's time runs out for the browser too.
        let pair = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        let held = db.open_browser_session(pair).await.unwrap();
        db.clock.advance(Duration::hours(25));
        assert!(db.browser_principal(held.token.expose()).await.is_err());
    }

    async fn a_reset_without_mail_does_nothing_and_says_so_to_the_log_only(db: TestDb) {
        let said = db.request_password_reset(MANAGER.0, &here()).await.unwrap();
        assert_eq!(said, ResetRequested::MailOff);
        assert!(db.next_mail().await.unwrap().is_none());
        let bad = db.request_password_reset("not an email", &here()).await;
        assert!(matches!(bad, Err(Error::Invalid { field: "email", .. })), "{bad:?}");
    }

    async fn a_reset_link_sets_a_new_password_once_and_ends_every_session(db: TestDb) {
        let mail = with_mail(&db).await;
        let old = db.login(MANAGER.0, MANAGER.1).await.unwrap();
        // Unknown and known emails get the same answer; only the known one is mailed.
        let unknown = mail.request_password_reset("nobody@premiumauto.com", &here()).await.unwrap();
        assert_eq!(unknown, ResetRequested::Nothing);
        let known = mail.request_password_reset("Manager@PremiumAuto.com", &here()).await.unwrap();
        assert_eq!(known, ResetRequested::Queued);
        let sent = deliver(&mail).await;
        assert_eq!(sent.len(), 1, "one mail, sent once");
        assert_eq!(sent[0].to, MANAGER.0);
        assert_eq!(sent[0].content.kind, MailKind::PasswordReset);
        let token = sent[0].content.token.expose().to_owned();
        assert!(token.starts_with("adam_rst_") && token.len() >= 52);
        assert!(!format!("{:?}", sent[0]).contains(&token[9..]), "Debug hides the link");
        assert!(deliver(&mail).await.is_empty(), "nothing is sent twice");

        // Opening the link spends nothing, however often.
        for _ in 0..3 {
            let link = mail.open_password_reset(&token).await.unwrap();
            assert_eq!(link.email.as_str(), MANAGER.0);
            assert!(!link.second_factor);
        }
        // A weak password is refused and spends nothing.
        let weak = mail.complete_password_reset(&token, "short", None, &here()).await;
        assert!(matches!(weak, Err(Error::Invalid { field: "new_password", .. })), "{weak:?}");
        let pair = mail.complete_password_reset(&token, CHOSEN, None, &here()).await.unwrap();
        mail.authenticate(&pair.access_token).await.unwrap();
        assert!(db.authenticate(&old.access_token).await.is_err(), "every earlier session ended");
        assert!(db.refresh(old.refresh_token.expose()).await.is_err());
        assert!(matches!(db.login(MANAGER.0, MANAGER.1).await, Err(Error::InvalidCredentials)));
        db.login(MANAGER.0, CHOSEN).await.unwrap();
        // Spent.
        let again = mail.complete_password_reset(&token, "yet-another-pass-77", None, &here()).await;
        assert!(matches!(again, Err(Error::LinkUnusable(LinkProblem::Spent))), "{again:?}");
        let opened = mail.open_password_reset(&token).await;
        assert!(matches!(opened, Err(Error::LinkUnusable(LinkProblem::Spent))), "{opened:?}");
    }

    async fn only_the_newest_reset_link_works_and_none_after_its_time(db: TestDb) {
        let mail = with_mail(&db).await;
        mail.request_password_reset(MANAGER.0, &here()).await.unwrap();
        let first = deliver(&mail).await.remove(0).content.token;
        mail.request_password_reset(MANAGER.0, &here()).await.unwrap();
        let second = deliver(&mail).await.remove(0).content.token;
        let replaced = mail.open_password_reset(first.expose()).await;
        assert!(matches!(replaced, Err(Error::LinkUnusable(LinkProblem::Revoked))), "{replaced:?}");
        mail.open_password_reset(second.expose()).await.unwrap();
        db.clock.advance(Duration::minutes(31));
        let late = mail.complete_password_reset(second.expose(), CHOSEN, None, &here()).await;
        assert!(matches!(late, Err(Error::LinkUnusable(LinkProblem::Expired))), "{late:?}");
        db.login(MANAGER.0, MANAGER.1).await.unwrap();
        let made_up = mail.open_password_reset("adam_rst_made-up").await;
        assert!(matches!(made_up, Err(Error::LinkUnusable(LinkProblem::Unknown))), "{made_up:?}");
    }

    async fn three_resets_an_hour_per_account_and_twenty_per_address_send_mail(db: TestDb) {
        let mail = with_mail(&db).await;
        for _ in 0..3 {
            let said = mail.request_password_reset(MANAGER.0, &here()).await.unwrap();
            assert_eq!(said, ResetRequested::Queued);
        }
        let newest = deliver(&mail).await.pop().unwrap().content.token;
        // The fourth sends nothing and voids nothing.
        let fourth = mail.request_password_reset(MANAGER.0, &here()).await.unwrap();
        assert_eq!(fourth, ResetRequested::Nothing);
        assert!(deliver(&mail).await.is_empty());
        mail.open_password_reset(newest.expose()).await.unwrap();
        // An hour later the account may ask again.
        db.clock.advance(Duration::minutes(61));
        let later = mail.request_password_reset(MANAGER.0, &here()).await.unwrap();
        assert_eq!(later, ResetRequested::Queued);

        // One address asking for many accounts: twenty mails, then none.
        let admin = db.admin().await;
        let dealership = db.manager_of_premium().await.dealership_id();
        let crowd = from("203.0.113.50");
        for n in 0..21 {
            let email = format!("staff{n}@premiumauto.com");
            db.add_user(&admin, &email, Role::FiManager, dealership).await;
            let said = mail.request_password_reset(&email, &crowd).await.unwrap();
            let expected = if n < 20 { ResetRequested::Queued } else { ResetRequested::Nothing };
            assert_eq!(said, expected, "request {n}");
        }
    }

    async fn simultaneous_reset_requests_send_three_mails_and_completions_succeed_once(db: TestDb) {
        let mail = with_mail(&db).await;
        let asks: Vec<_> = (0..8)
            .map(|_| {
                let mail = mail.clone();
                tokio::spawn(async move { mail.request_password_reset(MANAGER.0, &here()).await })
            })
            .collect();
        let mut queued = 0;
        for ask in asks {
            if ask.await.unwrap().unwrap() == ResetRequested::Queued {
                queued += 1;
            }
        }
        assert_eq!(queued, 3, "exactly the limit, however many at once");
        let sent = deliver(&mail).await;
        assert_eq!(sent.len(), 1, "the older links were voided with their queued mail");
        let token = sent[0].content.token.expose().to_owned();
        let tries: Vec<_> = (0..6)
            .map(|n| {
                let (mail, token) = (mail.clone(), token.clone());
                tokio::spawn(async move {
                    mail.complete_password_reset(&token, &format!("{CHOSEN}-{n}"), None, &here())
                        .await
                })
            })
            .collect();
        let mut won = 0;
        for t in tries {
            match t.await.unwrap() {
                Ok(_) => won += 1,
                Err(Error::LinkUnusable(LinkProblem::Spent)) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(won, 1, "one link, one new password");
    }

    async fn a_reset_asks_for_the_second_factor_and_counts_wrong_codes(db: TestDb) {
        let mail = with_mail(&db).await;
        let manager = db.manager_of_premium().await;
        let started = db.start_totp_enrollment(&manager, MANAGER.1).await.unwrap();
        let secret = started.secret.to_string();
        db.confirm_totp_enrollment(&manager, &previous_code(&db.clock, &secret)).await.unwrap();
        mail.request_password_reset(MANAGER.0, &here()).await.unwrap();
        let token = deliver(&mail).await.remove(0).content.token;
        assert!(mail.open_password_reset(token.expose()).await.unwrap().second_factor);
        let none = mail.complete_password_reset(token.expose(), CHOSEN, None, &here()).await;
        assert!(matches!(none, Err(Error::Invalid { field: "code", .. })), "{none:?}");
        let wrong = mail.complete_password_reset(token.expose(), CHOSEN, Some("000000"), &here()).await;
        assert!(matches!(wrong, Err(Error::MfaCodeInvalid)), "{wrong:?}");
        db.login(MANAGER.0, MANAGER.1).await.err().unwrap(); // TOTP on: a code is asked
        fresh_step(&db.clock);
        let code = code_now(&db.clock, &secret);
        let pair = mail
            .complete_password_reset(token.expose(), CHOSEN, Some(&code), &here())
            .await
            .unwrap();
        let me = mail.authenticate(&pair.access_token).await.unwrap();
        assert!(me.amr().has_second_factor(), "signed in with the code");
    }

    async fn mail_is_taken_by_one_sender_retried_with_backoff_and_given_up_in_time(db: TestDb) {
        let a = with_mail(&db).await;
        let b = with_mail(&db).await;
        a.request_password_reset(MANAGER.0, &here()).await.unwrap();
        // Two senders at once: one takes it.
        let (x, y) = tokio::join!(a.next_mail(), b.next_mail());
        let taken: Vec<_> = [x.unwrap(), y.unwrap()].into_iter().flatten().collect();
        assert_eq!(taken.len(), 1, "exactly one sender");
        let id = taken[0].id;
        assert_eq!(taken[0].attempt, 1);
        // Held while it is being sent; after a failure it waits a minute.
        assert!(b.next_mail().await.unwrap().is_none());
        let failed_at = db.clock.now();
        let next = a.mail_failed(id, "421 try later").await.unwrap().unwrap();
        let wait = next - failed_at;
        assert!(wait >= Duration::minutes(1) && wait < Duration::seconds(61), "{wait}");
        assert!(b.next_mail().await.unwrap().is_none(), "not before its time");
        db.clock.advance(Duration::seconds(61));
        let retry = b.next_mail().await.unwrap().unwrap();
        assert_eq!((retry.id, retry.attempt), (id, 2));
        // A sender that stops mid-send leaves its claim to run out; another sends it then.
        db.clock.advance(Duration::minutes(6));
        let resumed = a.next_mail().await.unwrap().unwrap();
        assert_eq!((resumed.id, resumed.attempt), (id, 3));
        // Never after its link expired (30 minutes): failures past it give up.
        db.clock.advance(Duration::minutes(25));
        assert_eq!(a.mail_failed(id, "421 try later").await.unwrap(), None);
        assert!(a.next_mail().await.unwrap().is_none());
    }

    async fn an_invitation_without_mail_hands_over_its_link_and_makes_the_user(db: TestDb) {
        let principal = db.principal_of_premium().await;
        let dealership = principal.dealership_id();
        let invited = db.invite(&principal, invitation(Role::FiManager, None)).await.unwrap();
        assert_eq!(invited.invitation.status, InvitationStatus::Pending);
        assert_eq!(invited.invitation.mail_status, MailStatus::NotSent);
        assert_eq!(invited.invitation.placement.dealership_id(), dealership);
        assert_eq!(invited.invitation.invited_by, Some(principal.user_id()));
        let link = invited.link.unwrap();
        assert!(db.next_mail().await.unwrap().is_none(), "no mail without SMTP");
        // Again for the same email: 409, whatever the case.
        let mut twice = invitation(Role::FiManager, None);
        twice.email = Email::parse("New.Hire@PremiumAuto.com").unwrap();
        assert!(matches!(db.invite(&principal, twice).await, Err(Error::Conflict(_))));
        // An email with an account: 409.
        let mut taken = invitation(Role::FiManager, None);
        taken.email = Email::parse(MANAGER.0).unwrap();
        assert!(matches!(db.invite(&principal, taken).await, Err(Error::Conflict(_))));

        let page = db.open_invitation(link.expose()).await.unwrap();
        assert_eq!((page.email.as_str(), page.role), (INVITEE, Role::FiManager));
        assert_eq!(page.dealership_name.as_deref(), Some("Premium Auto"));
        let weak = db.accept_invitation(link.expose(), "short", &here()).await;
        assert!(matches!(weak, Err(Error::Invalid { field: "password", .. })), "{weak:?}");
        let SignIn::Tokens(pair) = db.accept_invitation(link.expose(), CHOSEN, &here()).await.unwrap() else {
            panic!("no second factor is required here");
        };
        let me = db.authenticate(&pair.access_token).await.unwrap();
        assert_eq!((me.role(), me.dealership_id()), (Role::FiManager, dealership));
        let again = db.accept_invitation(link.expose(), CHOSEN, &here()).await;
        assert!(matches!(again, Err(Error::LinkUnusable(LinkProblem::Spent))), "{again:?}");
        db.login(INVITEE, CHOSEN).await.unwrap();
        let listed = page_of(&db, &principal).await;
        assert_eq!(listed[0].status, InvitationStatus::Accepted);
        let review = db.access_review(&principal, None).await.unwrap();
        let entry = review.items.iter().find(|e| e.user.email.as_str() == INVITEE).unwrap();
        assert_eq!(entry.invited_by.as_ref().map(|e| e.as_str()), Some(PRINCIPAL.0));
    }

    async fn invitations_follow_the_role_table(db: TestDb) {
        let principal = db.principal_of_premium().await;
        let manager = db.manager_of_premium().await;
        let admin = db.admin().await;
        assert!(matches!(
            db.invite(&principal, invitation(Role::SystemAdmin, None)).await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            db.invite(&manager, invitation(Role::FiManager, None)).await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            db.list_invitations(&manager, PageRequest::default()).await,
            Err(Error::Forbidden(_))
        ));
        // An admin's invitation elsewhere is not the principal's to see.
        let other = db.create_dealership(&admin, adam_core::NewDealership {
            name: Name::parse("name", "Other Motors").unwrap(),
        }).await.unwrap();
        let elsewhere = db.invite(&admin, invitation(Role::DealerPrincipal, Some(other.id))).await.unwrap();
        assert!(page_of(&db, &principal).await.is_empty());
        assert!(matches!(
            db.revoke_invitation(&principal, elsewhere.invitation.id).await,
            Err(Error::NotFound)
        ));
        assert_eq!(page_of(&db, &admin).await.len(), 1);
    }

    async fn a_resent_link_replaces_the_old_and_a_revoked_one_works_no_more(db: TestDb) {
        let mail = with_mail(&db).await;
        let principal = db.principal_of_premium().await;
        let invited = mail.invite(&principal, invitation(Role::FiManager, None)).await.unwrap();
        assert!(invited.link.is_none(), "the mail carries the link");
        assert_eq!(invited.invitation.mail_status, MailStatus::Queued);
        let first = deliver(&mail).await.remove(0);
        assert_eq!(first.content.kind, MailKind::Invitation);
        assert_eq!(first.content.role, Some(Role::FiManager));
        assert_eq!(page_of(&mail, &principal).await[0].mail_status, MailStatus::Sent);

        // Expired, then resent: a new link, the old one void.
        db.clock.advance(Duration::hours(73));
        assert_eq!(page_of(&mail, &principal).await[0].status, InvitationStatus::Expired);
        let resent = mail.resend_invitation(&principal, invited.invitation.id).await.unwrap();
        assert_eq!(resent.invitation.status, InvitationStatus::Pending);
        let second = deliver(&mail).await.remove(0);
        assert_ne!(first.content.token, second.content.token);
        let old = mail.open_invitation(first.content.token.expose()).await;
        assert!(matches!(old, Err(Error::LinkUnusable(LinkProblem::Unknown))), "{old:?}");
        mail.open_invitation(second.content.token.expose()).await.unwrap();

        mail.revoke_invitation(&principal, invited.invitation.id).await.unwrap();
        let revoked = mail.accept_invitation(second.content.token.expose(), CHOSEN, &here()).await;
        assert!(matches!(revoked, Err(Error::LinkUnusable(LinkProblem::Revoked))), "{revoked:?}");
        assert_eq!(page_of(&mail, &principal).await[0].status, InvitationStatus::Revoked);
        // A revoked invitation's queued mail is never sent.
        let third = mail.invite(&principal, invitation(Role::FiManager, None)).await.unwrap();
        mail.revoke_invitation(&principal, third.invitation.id).await.unwrap();
        assert!(deliver(&mail).await.is_empty());
    }

    async fn an_inviter_who_may_no_longer_invite_leaves_no_invitation_behind(db: TestDb) {
        let admin = db.admin().await;
        let principal = db.principal_of_premium().await;
        let invited = db.invite(&principal, invitation(Role::FiManager, None)).await.unwrap();
        let demote = UserPatch { role: Some(Role::FiManager), ..UserPatch::default() };
        db.update_user(&admin, principal.user_id(), demote).await.unwrap();
        let link = invited.link.unwrap();
        let refused = db.accept_invitation(link.expose(), CHOSEN, &here()).await;
        assert!(matches!(refused, Err(Error::LinkUnusable(LinkProblem::Revoked))), "{refused:?}");

        // A dealership deactivated takes its invitations with it.
        let dealership = db.manager_of_premium().await.dealership_id().unwrap();
        let by_admin = db.invite(&admin, invitation(Role::FiManager, Some(dealership))).await.unwrap();
        let off = DealershipPatch { is_active: Some(false), ..DealershipPatch::default() };
        db.update_dealership(&admin, dealership, off).await.unwrap();
        let gone = db.open_invitation(by_admin.link.unwrap().expose()).await;
        assert!(matches!(gone, Err(Error::LinkUnusable(LinkProblem::Revoked))), "{gone:?}");
    }

    async fn an_invitee_enrolls_first_where_a_second_factor_is_required(db: TestDb) {
        let admin = db.admin().await;
        let dealership = db.manager_of_premium().await.dealership_id().unwrap();
        let on = DealershipPatch { mfa_required: Some(true), ..DealershipPatch::default() };
        db.update_dealership(&admin, dealership, on).await.unwrap();
        let invited = db.invite(&admin, invitation(Role::FiManager, Some(dealership))).await.unwrap();
        let link = invited.link.unwrap();
        assert!(db.open_invitation(link.expose()).await.unwrap().second_factor_required);
        let signed = db.accept_invitation(link.expose(), CHOSEN, &here()).await.unwrap();
        assert!(matches!(signed, SignIn::EnrollmentRequired(_)), "{signed:?}");
    }

    async fn simultaneous_acceptances_of_one_link_make_one_user(db: TestDb) {
        let principal = db.principal_of_premium().await;
        let link = db.invite(&principal, invitation(Role::FiManager, None)).await.unwrap().link.unwrap();
        let tries: Vec<_> = (0..6)
            .map(|_| {
                let (adam, token) = (db.adam.clone(), link.expose().to_owned());
                tokio::spawn(async move { adam.accept_invitation(&token, CHOSEN, &here()).await })
            })
            .collect();
        let mut won = 0;
        for t in tries {
            match t.await.unwrap() {
                Ok(_) => won += 1,
                Err(Error::LinkUnusable(LinkProblem::Spent) | Error::Conflict(_)) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(won, 1);
    }
}
