//! The OpenID Connect provider's engine (contract: "OpenID Connect provider"): a grant lives in
//! its browser session and ends with it; ending the session queues one back-channel logout per
//! client that has a URI, which exactly one server takes at a time, retried with backoff, a
//! fresh token per attempt; on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

mod support;

use adam_core::oauth_clients::{IdTokenAlg, NewClient};
use adam_core::oidc::{AuthorizationRequest, GrantTokens, LogoutOutcome, Scopes};
use adam_core::{Error, Name, Principal};
use adam_testkit::on_both_engines;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use support::TestDb;

const REDIRECT: &str = "https://training.dealer.example/callback";
const VERIFIER: &str = "a-verifier-of-forty-three-characters-at-least-0123";

fn portal(backchannel: Option<&str>) -> NewClient {
    NewClient {
        client_id: Some("training-portal".into()),
        name: Name::parse("name", "F&I training portal").unwrap(),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: Vec::new(),
        backchannel_logout_uri: backchannel.map(str::to_owned),
        public: false,
        first_party: true,
        allowed_roles: Vec::new(),
        dealership_ids: Vec::new(),
        id_token_alg: IdTokenAlg::EdDSA,
    }
}

/// A manager's browser session, and a grant of the portal in it (an exchanged code, with
/// `offline_access`).
async fn signed_in_to_the_portal(
    db: &TestDb,
    backchannel: Option<&str>,
) -> (Principal, GrantTokens) {
    signed_in_to(db, portal(backchannel)).await
}

/// [`signed_in_to_the_portal`] of the client `new`, the manager consenting if it asks.
async fn signed_in_to(db: &TestDb, new: NewClient) -> (Principal, GrantTokens) {
    let admin = db.admin().await;
    let consent = !new.first_party;
    let client = db.register_client(&admin, new).await.unwrap().client;
    let pair = db
        .login("manager@premiumauto.com", "Manager123!")
        .await
        .unwrap();
    let browser = db.open_browser_session(pair).await.unwrap();
    let (me, _) = db.browser_principal(browser.token.expose()).await.unwrap();
    let challenge = B64.encode(Sha256::digest(VERIFIER.as_bytes()));
    let request = AuthorizationRequest::new(
        client.clone(),
        REDIRECT,
        Scopes::parse("openid offline_access").unwrap(),
        &challenge,
        Some("n"),
    )
    .unwrap();
    let code = db.issue_code(&me, &request, consent).await.unwrap();
    let tokens = db
        .exchange_code(&client, code.expose(), REDIRECT, VERIFIER)
        .await
        .unwrap();
    (me, tokens)
}

on_both_engines! {
    async fn a_grant_ends_with_its_browser_session_and_its_client_is_told_once(db: TestDb) {
        let (me, tokens) = signed_in_to_the_portal(&db, Some("https://training.dealer.example/backchannel")).await;
        let access = tokens.access_token;
        assert!(db.authenticate(&access).await.is_ok(), "a first-party grant's token is good at the API");
        assert!(db.next_backchannel_logout().await.unwrap().is_none(), "nothing ended yet");

        db.end_my_session(&me, me.session_id()).await.unwrap();
        assert!(matches!(db.authenticate(&access).await, Err(Error::Unauthorized(_))), "the grant ended with its session");

        let first = db.next_backchannel_logout().await.unwrap().unwrap();
        assert_eq!(first.uri, "https://training.dealer.example/backchannel");
        assert_eq!(first.attempt, 1);
        assert!(!format!("{first:?}").contains(&first.logout_token), "Debug hides the token");
        let header: serde_json::Value = serde_json::from_slice(&B64.decode(first.logout_token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["typ"], "logout+jwt");
        let claims: serde_json::Value = serde_json::from_slice(&B64.decode(first.logout_token.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["aud"], "training-portal");
        assert_eq!(claims["sid"], me.session_id().to_string());
        assert_eq!(claims["sub"], me.user_id().to_string());
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);
        assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object(), "{claims}");
        assert!(claims.get("nonce").is_none());

        // Claimed: no other server takes it while the attempt runs.
        assert!(db.next_backchannel_logout().await.unwrap().is_none());
        // A failed attempt comes back after its backoff, with a fresh token.
        db.backchannel_logout_done(first.id, first.attempt, &LogoutOutcome::Failed("503".into())).await.unwrap();
        assert!(db.next_backchannel_logout().await.unwrap().is_none(), "not yet due");
        db.clock.advance(chrono::Duration::seconds(6));
        let second = db.next_backchannel_logout().await.unwrap().unwrap();
        assert_eq!((second.id, second.attempt), (first.id, 2));
        assert_ne!(second.logout_token, first.logout_token, "a fresh token per attempt");
        db.backchannel_logout_done(second.id, second.attempt, &LogoutOutcome::Delivered).await.unwrap();
        db.clock.advance(chrono::Duration::hours(1));
        assert!(db.next_backchannel_logout().await.unwrap().is_none(), "delivered once");
    }

    async fn a_client_is_told_only_when_it_has_a_uri_and_not_when_its_own_grant_ends(db: TestDb) {
        let (me, tokens) = signed_in_to_the_portal(&db, Some("https://training.dealer.example/backchannel")).await;
        let access = tokens.access_token;
        let client = db.authenticate_client("training-portal", None).await;
        assert!(client.is_err(), "confidential");
        let client = db.oauth_client("training-portal").await.unwrap();
        db.revoke_client_token(&client, &access).await.unwrap();
        assert!(db.authenticate(&access).await.is_err(), "revoked");
        assert!(db.my_sessions(&me).await.unwrap().iter().any(|s| s.id == me.session_id()), "the browser session lives on");
        db.end_my_session(&me, me.session_id()).await.unwrap();
        assert!(db.next_backchannel_logout().await.unwrap().is_none(), "its grant had ended before");

        let admin = db.admin().await;
        db.delete_client(&admin, "training-portal").await.unwrap();
        let (me, _) = signed_in_to_the_portal(&db, None).await;
        db.logout_all(&me).await.unwrap();
        assert!(db.next_backchannel_logout().await.unwrap().is_none(), "no back-channel URI");
    }

    async fn a_client_is_told_when_its_user_withdraws_consent(db: TestDb) {
        let new = NewClient { first_party: false, ..portal(Some("https://training.dealer.example/backchannel")) };
        let (me, _) = signed_in_to(&db, new).await;
        assert!(db.next_backchannel_logout().await.unwrap().is_none(), "nothing ended yet");
        db.revoke_app(&me, "training-portal").await.unwrap();
        assert!(db.my_sessions(&me).await.unwrap().iter().any(|s| s.id == me.session_id()), "the browser session lives on");
        let told = db.next_backchannel_logout().await.unwrap().expect("the portal is told");
        assert_eq!(told.uri, "https://training.dealer.example/backchannel");
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(told.logout_token.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["sid"], me.session_id().to_string(), "{claims}");
        assert_eq!(claims["sub"], me.user_id().to_string(), "{claims}");
    }

    async fn of_two_servers_asking_at_once_exactly_one_takes_a_logout(db: TestDb) {
        let (me, _) = signed_in_to_the_portal(&db, Some("https://training.dealer.example/backchannel")).await;
        db.end_my_session(&me, me.session_id()).await.unwrap();
        let other = db.db.engine_with(adam_testkit::settings_on(&db.clock)).await;
        let (a, b) = tokio::join!(db.next_backchannel_logout(), other.next_backchannel_logout());
        let taken = [a.unwrap(), b.unwrap()].into_iter().flatten().count();
        assert_eq!(taken, 1);
        // And after 24 hours of failures it is given up.
        db.clock.advance(chrono::Duration::hours(25));
        assert!(db.next_backchannel_logout().await.unwrap().is_none());
    }

    async fn a_grants_refresh_tokens_end_when_its_first_one_does(db: TestDb) {
        // The grant's first refresh token ends with its browser session's, a refresh lifetime
        // (7 days) after the sign-in; rotating it does not move that end, as the API's own
        // tokens' end moves. Sessions here may last 30 days, so that only this rule ends it.
        let settings = adam_core::Settings { session_max: chrono::Duration::days(30), ..adam_testkit::settings_on(&db.clock) };
        let db = TestDb { adam: db.db.engine_with(settings).await, ..db };
        let (_, tokens) = signed_in_to_the_portal(&db, None).await;
        let client = db.oauth_client("training-portal").await.unwrap();
        let day = chrono::Duration::days(1);
        let minute = chrono::Duration::minutes(1);
        db.clock.advance(day * 4);
        let first = tokens.refresh_token.unwrap();
        let second = db.refresh_grant(&client, first.expose()).await.unwrap().refresh_token.unwrap();
        db.clock.advance(day * 3 - minute * 2);
        let third = db.refresh_grant(&client, second.expose()).await.unwrap().refresh_token.unwrap();
        db.clock.advance(minute * 3);
        let late = db.refresh_grant(&client, third.expose()).await;
        assert!(matches!(late, Err(Error::Unauthorized(_))), "past the first token's end: {late:?}");
    }
}

on_both_engines! {
    async fn of_two_servers_exchanging_one_code_at_once_exactly_one_gets_tokens(db: TestDb) {
        let admin = db.admin().await;
        let client = db.register_client(&admin, portal(None)).await.unwrap().client;
        let pair = db.login("manager@premiumauto.com", "Manager123!").await.unwrap();
        let browser = db.open_browser_session(pair).await.unwrap();
        let (me, _) = db.browser_principal(browser.token.expose()).await.unwrap();
        let challenge = B64.encode(Sha256::digest(VERIFIER.as_bytes()));
        let request = AuthorizationRequest::new(client.clone(), REDIRECT, Scopes::parse("openid").unwrap(), &challenge, None).unwrap();
        let other = db.db.engine_with(adam_testkit::settings_on(&db.clock)).await;
        for _ in 0..5 {
            let code = db.issue_code(&me, &request, false).await.unwrap();
            let (a, b) = tokio::join!(
                db.exchange_code(&client, code.expose(), REDIRECT, VERIFIER),
                other.exchange_code(&client, code.expose(), REDIRECT, VERIFIER),
            );
            let won: Vec<_> = [a, b].into_iter().filter_map(Result::ok).collect();
            assert_eq!(won.len(), 1, "a code is exchanged once");
        }
    }

    async fn consent_is_per_user_and_a_user_the_client_does_not_admit_gets_no_code(db: TestDb) {
        let admin = db.admin().await;
        let mut new = portal(None);
        new.first_party = false;
        new.allowed_roles = vec![adam_core::Role::FiManager];
        let client = db.register_client(&admin, new).await.unwrap().client;
        let challenge = B64.encode(Sha256::digest(VERIFIER.as_bytes()));
        let request = AuthorizationRequest::new(client.clone(), REDIRECT, Scopes::parse("openid email").unwrap(), &challenge, None).unwrap();
        let browser_of = |email: &'static str, password: &'static str| {
            let db = &db;
            async move {
                let pair = db.login(email, password).await.unwrap();
                let browser = db.open_browser_session(pair).await.unwrap();
                db.browser_principal(browser.token.expose()).await.unwrap().0
            }
        };
        let manager = browser_of("manager@premiumauto.com", "Manager123!").await;
        assert!(db.consent_needed(&manager, &client, request.scopes).await.unwrap());
        assert!(matches!(db.issue_code(&manager, &request, false).await, Err(Error::Forbidden(_))), "no consent, no code");
        db.issue_code(&manager, &request, true).await.unwrap();
        assert!(!db.consent_needed(&manager, &client, request.scopes).await.unwrap(), "asked once");
        let wider = Scopes::parse("openid email profile").unwrap();
        assert!(db.consent_needed(&manager, &client, wider).await.unwrap(), "more scopes ask again");
        let principal = browser_of("principal@premiumauto.com", "Principal123!").await;
        assert!(matches!(db.issue_code(&principal, &request, true).await, Err(Error::Forbidden(_))), "not in allowed_roles");
        // Withdrawn on /account: asked again, and the grants end.
        db.revoke_app(&manager, "training-portal").await.unwrap();
        assert!(db.consent_needed(&manager, &client, request.scopes).await.unwrap());
        assert_eq!(db.allowed_apps(&manager).await.unwrap().len(), 0);
    }
}
