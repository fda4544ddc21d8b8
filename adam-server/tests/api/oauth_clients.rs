//! `/api/v1/oauth-clients` (contract: "OpenID Connect provider"): system admins register,
//! read, change, renew and delete clients; everyone else is refused; a secret is shown once.

use adam_testkit::on_both_engines;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;
use crate::{DELETE, GET, PATCH, POST};

on_both_engines! {
    async fn system_admins_manage_oauth_clients_over_the_api(app: TestApp) {
        let admin = app.admin().await;
        let body = json!({
            "client_id": "training-portal",
            "name": "F&I training portal",
            "redirect_uris": ["https://training.dealer.example/callback"],
            "allowed_roles": ["fi_manager"],
            "id_token_signed_response_alg": "RS256"
        });
        for who in [app.principal().await, app.manager().await] {
            let (s, _) = app.call(POST, "/api/v1/oauth-clients", Some(&who.access), Some(body.clone())).await;
            assert_eq!(s, StatusCode::FORBIDDEN);
            let (s, _) = app.call(GET, "/api/v1/oauth-clients", Some(&who.access), None).await;
            assert_eq!(s, StatusCode::FORBIDDEN);
        }
        let resp = app.req(POST, "/api/v1/oauth-clients", Some(&admin.access)).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let made: serde_json::Value = resp.json().await.unwrap();
        assert!(made["client_secret"].as_str().unwrap().starts_with("adam_cs_"), "{made}");
        assert_eq!(made["public"], false);
        assert_eq!(made["backchannel_logout_uri"], serde_json::Value::Null);
        assert_eq!(made["id_token_signed_response_alg"], "RS256");

        let (s, read) = app.call(GET, "/api/v1/oauth-clients/training-portal", Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(read.get("client_secret").is_none(), "a secret is shown once: {read}");
        let (s, _) = app.call(POST, "/api/v1/oauth-clients", Some(&admin.access), Some(body)).await;
        assert_eq!(s, StatusCode::CONFLICT);
        let bad = json!({"name": "x", "redirect_uris": ["http://portal.example/cb"]});
        let (s, problem) = app.call(POST, "/api/v1/oauth-clients", Some(&admin.access), Some(bad)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

        let change = json!({"backchannel_logout_uri": "https://training.dealer.example/bc", "first_party": true});
        let (s, changed) = app.call(PATCH, "/api/v1/oauth-clients/training-portal", Some(&admin.access), Some(change)).await;
        assert_eq!(s, StatusCode::OK, "{changed}");
        assert_eq!(changed["backchannel_logout_uri"], "https://training.dealer.example/bc");
        let (s, cleared) = app.call(PATCH, "/api/v1/oauth-clients/training-portal", Some(&admin.access), Some(json!({"backchannel_logout_uri": null}))).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(cleared["backchannel_logout_uri"], serde_json::Value::Null);

        let (s, renewed) = app.call(POST, "/api/v1/oauth-clients/training-portal/secret", Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_ne!(renewed["client_secret"], made["client_secret"]);
        let (s, _) = app.call(POST, "/api/v1/oauth-clients/adam-desktop/secret", Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::CONFLICT, "a public client has no secret");

        let (s, listed) = app.call(GET, "/api/v1/oauth-clients", Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::OK);
        let ids: Vec<&str> = listed.as_array().unwrap().iter().map(|c| c["client_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["adam-desktop", "training-portal"]);
        let (s, _) = app.call(DELETE, "/api/v1/oauth-clients/training-portal", Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = app.call(GET, "/api/v1/oauth-clients/training-portal", Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
}

on_both_engines! {
    async fn the_cli_registers_lists_renews_and_removes_clients(app: TestApp) {
        let run = |args: &'static [&'static str]| crate::keys::cli(&app, args, crate::helpers::SECRET, None);
        let (ok, out, err) = run(&[
            "clients", "add", "--name", "Analytics", "--client-id", "analytics",
            "--redirect-uri", "https://analytics.dealer.example/cb", "--allowed-role", "dealer_principal",
        ])
        .await;
        assert!(ok, "{err}");
        assert!(out.contains("client_id: analytics") && out.contains("client_secret: adam_cs_"), "{out}");
        let (ok, _, err) = run(&["clients", "add", "--name", "Bad", "--redirect-uri", "http://analytics.example/cb"]).await;
        assert!(!ok && err.lines().count() == 1 && err.contains("redirect_uris"), "{err}");
        let (ok, list, _) = run(&["clients", "list"]).await;
        assert!(ok && list.contains("analytics") && list.contains("adam-desktop"), "{list}");
        let (ok, renewed, _) = run(&["clients", "new-secret", "analytics"]).await;
        assert!(ok && renewed.contains("client_secret: adam_cs_") && renewed != out, "{renewed}");
        let (ok, _, _) = run(&["clients", "remove", "analytics"]).await;
        assert!(ok);
        let (ok, list, _) = run(&["clients", "list"]).await;
        assert!(ok && !list.contains("analytics"), "{list}");
        // The operator acted for no user: the events have no actor.
        let admin = app.admin().await;
        let (_, events) = app
            .call(crate::GET, "/api/v1/audit-events?action=oauth_client.created", Some(&admin.access), None)
            .await;
        assert_eq!(events["items"][0]["actor"], serde_json::Value::Null, "{events}");
    }
}
