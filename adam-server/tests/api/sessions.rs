//! The session routes: one's own sessions (`/auth/sessions`) and a user's (`/users/{id}/sessions`).

use adam_testkit::on_both_engines;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, MANAGER};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const DELETE: Method = Method::DELETE;

async fn me(app: &TestApp, token: &str) -> StatusCode {
    app.call(GET, "/api/v1/auth/me", Some(token), None).await.0
}

on_both_engines! {
    async fn sessions_are_listed_and_ended_over_http(app: TestApp) {
        let laptop = app.login_with_agent(MANAGER.0, MANAGER.1, "Adam Desktop/1.0 (Linux)").await;
        let laptop_access = laptop.access.clone();
        let phone = app.manager().await;
        let (s, list) = app.call(GET, "/api/v1/auth/sessions", Some(&phone.access), None).await;
        assert_eq!(s, StatusCode::OK, "{list}");
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{list}");
        assert_eq!((&items[0]["current"], &items[1]["current"]), (&json!(true), &json!(false)));
        assert_eq!(items[1]["user_agent"], "Adam Desktop/1.0 (Linux)");
        assert_eq!(items[1]["ip"], "127.0.0.1");
        assert_eq!(items[1]["amr"], json!(["pwd"]));
        for member in ["id", "created_at", "last_used_at", "expires_at", "ip", "user_agent", "amr", "current"] {
            assert!(items[0].get(member).is_some(), "{member} missing: {list}");
        }
        // Ending the laptop's session: its tokens stop at once; twice, or someone else's, is 404.
        let laptop_sid = items[1]["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/auth/sessions/{laptop_sid}");
        assert_eq!(app.call(DELETE, &path, Some(&phone.access), None).await.0, StatusCode::NO_CONTENT);
        assert_eq!(me(&app, &laptop_access).await, StatusCode::UNAUTHORIZED);
        let (s, _) = app
            .call(POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": laptop.refresh})))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(app.call(DELETE, &path, Some(&phone.access), None).await.0, StatusCode::NOT_FOUND);
        let principal = app.principal().await;
        let (_, principal_sessions) = app.call(GET, "/api/v1/auth/sessions", Some(&principal.access), None).await;
        let theirs = principal_sessions["items"][0]["id"].as_str().unwrap().to_owned();
        let (s, _) = app.call(DELETE, &format!("/api/v1/auth/sessions/{theirs}"), Some(&phone.access), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(me(&app, &principal.access).await, StatusCode::OK);

        // A user's sessions: the principal of their dealership sees and ends them; the F&I
        // manager is told to use their own route (403), and sees no one else (404).
        let (_, manager) = app.call(GET, "/api/v1/auth/me", Some(&phone.access), None).await;
        let (_, principal_me) = app.call(GET, "/api/v1/auth/me", Some(&principal.access), None).await;
        let of_manager = format!("/api/v1/users/{}/sessions", manager["id"].as_str().unwrap());
        let of_principal = format!("/api/v1/users/{}/sessions", principal_me["id"].as_str().unwrap());
        assert_eq!(app.call(GET, &of_manager, Some(&phone.access), None).await.0, StatusCode::FORBIDDEN);
        assert_eq!(app.call(GET, &of_principal, Some(&phone.access), None).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.call(DELETE, &of_principal, Some(&phone.access), None).await.0, StatusCode::NOT_FOUND);
        let (s, seen) = app.call(GET, &of_manager, Some(&principal.access), None).await;
        assert_eq!((s, seen["items"].as_array().unwrap().len()), (StatusCode::OK, 1), "{seen}");
        assert_eq!(seen["items"][0]["current"], false);
        assert_eq!(app.call(DELETE, &of_manager, Some(&principal.access), None).await.0, StatusCode::NO_CONTENT);
        assert_eq!(me(&app, &phone.access).await, StatusCode::UNAUTHORIZED);
        assert_eq!(me(&app, &principal.access).await, StatusCode::OK);
    }
}
