//! OpenID Connect clients (contract: "OpenID Connect provider"): registration by system admins,
//! the redirect-URI rule, secrets shown once and checked in constant time, audit events; on
//! SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

mod support;

use adam_core::oauth_clients::{ClientPatch, IdTokenAlg, NewClient, CLIENT_SECRET_PREFIX};
use adam_core::{AuditFilter, AuditLimit, Error, Name, Placement, Role};
use adam_testkit::on_both_engines;
use support::TestDb;

fn portal() -> NewClient {
    NewClient {
        client_id: Some("training-portal".into()),
        name: Name::parse("name", "F&I training portal").unwrap(),
        redirect_uris: vec!["https://training.dealer.example/callback".into()],
        post_logout_redirect_uris: vec!["https://training.dealer.example/".into()],
        backchannel_logout_uri: Some("https://training.dealer.example/backchannel".into()),
        public: false,
        first_party: false,
        allowed_roles: vec![Role::FiManager, Role::DealerPrincipal],
        dealership_ids: Vec::new(),
        id_token_alg: IdTokenAlg::RS256,
    }
}

async fn actions(db: &TestDb, admin: &adam_core::Principal) -> Vec<(String, serde_json::Value)> {
    let filter = AuditFilter::default();
    db.audit_events(admin, &filter, AuditLimit::default(), None)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.action.starts_with("oauth_client."))
        .map(|e| (e.action, e.details))
        .collect()
}

on_both_engines! {
    async fn system_admins_register_clients_whose_secret_is_shown_once(db: TestDb) {
        let admin = db.admin().await;
        let registered = db.register_client(&admin, portal()).await.unwrap();
        let secret = registered.secret.clone().unwrap();
        assert!(secret.expose().starts_with(CLIENT_SECRET_PREFIX) && secret.expose().len() == 8 + 43);
        assert!(!format!("{registered:?}").contains(&secret.expose()[8..]), "Debug hides the secret");
        let client = registered.client;
        assert_eq!(client.client_id, "training-portal");
        assert_eq!(client.id_token_alg, IdTokenAlg::RS256);

        // The token endpoint's check: the right secret only, the same refusal for anything else.
        let ok = db.authenticate_client("training-portal", Some(secret.expose())).await.unwrap();
        assert_eq!(ok.id, client.id);
        for (id, given) in [
            ("training-portal", None),
            ("training-portal", Some("adam_cs_wrong")),
            ("nobody", Some(secret.expose())),
            ("adam-desktop", Some(secret.expose())),
        ] {
            assert!(matches!(db.authenticate_client(id, given).await, Err(Error::Unauthorized(_))), "{id} {given:?}");
        }
        // The migrations registered the desktop app: public, first party, a loopback redirect.
        let desktop = db.authenticate_client("adam-desktop", None).await.unwrap();
        assert!(desktop.public && desktop.first_party);
        assert!(desktop.redirect_uri("http://127.0.0.1:49152/callback").is_some());
        assert!(desktop.redirect_uri("http://127.0.0.1:49152/callback/evil").is_none());
        assert!(desktop.redirect_uri("http://localhost:49152/callback").is_none());

        // Who may sign in to it.
        let premium = db.principal_of_premium().await.dealership_id().unwrap();
        assert!(client.admits(Placement::FiManager(premium)));
        assert!(!client.admits(Placement::SystemAdmin));

        // A new secret: the old one stops working at once.
        let renewed = db.new_client_secret(&admin, "training-portal").await.unwrap().secret.unwrap();
        assert!(db.authenticate_client("training-portal", Some(secret.expose())).await.is_err());
        db.authenticate_client("training-portal", Some(renewed.expose())).await.unwrap();
        assert!(matches!(db.new_client_secret(&admin, "adam-desktop").await, Err(Error::Conflict(_))));

        let listed = db.clients(&admin).await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|c| c.client_id.as_str()).collect();
        assert_eq!(ids, ["adam-desktop", "training-portal"]);
        let seen = actions(&db, &admin).await;
        assert_eq!(seen[0].0, "oauth_client.updated");
        assert_eq!(seen[0].1["fields"], serde_json::json!(["secret"]));
        assert_eq!(seen[1].0, "oauth_client.created");
        assert_eq!(seen[1].1["client_id"], "training-portal");
    }

    async fn only_system_admins_manage_clients_and_bad_ones_change_nothing(db: TestDb) {
        let admin = db.admin().await;
        for who in [db.principal_of_premium().await, db.manager_of_premium().await] {
            assert!(matches!(db.register_client(&who, portal()).await, Err(Error::Forbidden(_))));
            assert!(matches!(db.clients(&who).await, Err(Error::Forbidden(_))));
        }
        let bad = |change: fn(&mut NewClient)| {
            let mut c = portal();
            change(&mut c);
            c
        };
        for (client, field) in [
            (bad(|c| c.redirect_uris.clear()), "redirect_uris"),
            (bad(|c| c.redirect_uris = vec!["http://training.dealer.example/callback".into()]), "redirect_uris"),
            (bad(|c| c.redirect_uris = vec!["https://training.dealer.example/cb#x".into()]), "redirect_uris"),
            (bad(|c| c.post_logout_redirect_uris = vec!["http://evil.example/".into()]), "post_logout_redirect_uris"),
            (bad(|c| c.backchannel_logout_uri = Some("http://localhost/bc".into())), "backchannel_logout_uri"),
            (bad(|c| c.client_id = Some("Not An Id".into())), "client_id"),
        ] {
            let got = db.register_client(&admin, client).await;
            assert!(matches!(got, Err(Error::Invalid { field: f, .. }) if f == field), "{field}: {got:?}");
        }
        db.register_client(&admin, portal()).await.unwrap();
        assert!(matches!(db.register_client(&admin, portal()).await, Err(Error::Conflict(_))));
        assert_eq!(db.clients(&admin).await.unwrap().len(), 2, "nothing else was written");

        // Changes name their fields; a bad one changes nothing.
        let id = "training-portal";
        let patch = ClientPatch {
            redirect_uris: Some(vec!["https://training.dealer.example/callback2".into()]),
            first_party: Some(true),
            ..ClientPatch::default()
        };
        let after = db.update_client(&admin, id, patch).await.unwrap();
        assert!(after.redirect_uri("https://training.dealer.example/callback").is_none());
        assert!(after.first_party);
        let broken = ClientPatch { redirect_uris: Some(Vec::new()), ..ClientPatch::default() };
        assert!(db.update_client(&admin, id, broken).await.is_err());
        assert_eq!(db.client(&admin, id).await.unwrap(), after);
        let seen = actions(&db, &admin).await;
        assert_eq!(seen[0].1["fields"], serde_json::json!(["redirect_uris", "first_party"]));

        db.delete_client(&admin, id).await.unwrap();
        assert!(matches!(db.client(&admin, id).await, Err(Error::NotFound)));
        assert!(matches!(db.delete_client(&admin, id).await, Err(Error::NotFound)));
        assert_eq!(actions(&db, &admin).await[0].0, "oauth_client.deleted");
    }
}
