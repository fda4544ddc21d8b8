//! Black-box tests of adam-server: the real server on a free port, over SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod connections;
mod cookie_mode;
mod document;
mod helpers;
mod keys;
mod limits;
mod mfa;
mod oauth_clients;
mod oidc;
mod pages;
mod passkeys;
mod processes;
mod refresh;
mod sessions;
mod throttle;

use adam_testkit::on_both_engines;
use helpers::{TestApp, MANAGER, PRINCIPAL};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub(crate) const GET: Method = Method::GET;
pub(crate) const POST: Method = Method::POST;
pub(crate) const PATCH: Method = Method::PATCH;
pub(crate) const DELETE: Method = Method::DELETE;

pub(crate) fn is_problem(body: &Value, status: StatusCode) {
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert!(
        body["title"].is_string() && body["type"].is_string() && body["detail"].is_string(),
        "{body}"
    );
}

async fn premium_id(app: &TestApp, token: &str) -> String {
    let (_, me) = app.call(GET, "/api/v1/auth/me", Some(token), None).await;
    me["dealership_id"].as_str().unwrap().to_owned()
}

on_both_engines! {
    async fn security_review_findings_stay_fixed(app: TestApp) {
        // Token answers are never cached (RFC 6749 §5.1).
        let resp = app
            .req(POST, "/api/v1/auth/login", None)
            .json(&json!({"email": MANAGER.0, "password": MANAGER.1}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let (_, pair) = helpers::read(resp).await;
        let resp = app
            .req(POST, "/api/v1/auth/refresh", None)
            .json(&json!({"refresh_token": pair["refresh_token"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        // A NUL character is refused with 422 naming the field, never a 500.
        for (email, password, field) in [
            ("a\u{0}@premiumauto.com", "whatever-pass", "email"),
            ("manager@premiumauto.com", "Manager123!\u{0}", "password"),
        ] {
            let (s, b) = app
                .call(POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": password})))
                .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
            assert!(b["detail"].as_str().unwrap().contains(field), "{b}");
        }
        let admin = app.admin().await;
        let (s, b) = app.call(GET, "/api/v1/users/?q=a%00b", Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let long = "x".repeat(201);
        let (s, b) = app.call(GET, &format!("/api/v1/users/?q={long}"), Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(b["detail"].as_str().unwrap().contains('q'), "{b}");
        let (s, _) = app.call(GET, &format!("/api/v1/users/?q={}", "x".repeat(200)), Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::OK);
        // Names with bidirectional overrides or invisible characters are refused.
        let (s, b) = app
            .call(POST, "/api/v1/dealerships/", Some(&admin.access), Some(json!({"name": "\u{202e}otuA muimerP"})))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        // A 401 does not say which check failed: garbage, an unknown refresh token and the access
        // token of an ended session read alike.
        let mut details = std::collections::HashSet::new();
        let (s, _) = app.call(POST, "/api/v1/auth/logout-all", Some(pair["access_token"].as_str().unwrap()), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, b) = app
            .call(POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": "adam_rt_unknown"})))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        details.insert(b["detail"].as_str().unwrap().to_owned());
        for token in ["garbage", "a.b.c", pair["access_token"].as_str().unwrap()] {
            let (s, b) = app.call(GET, "/api/v1/auth/me", Some(token), None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
            details.insert(b["detail"].as_str().unwrap().to_owned());
        }
        assert_eq!(details.len(), 1, "{details:?}");
    }

    async fn permissions_say_what_each_role_may_do_to_others(app: TestApp) {
        let (s, _) = app.call(GET, "/api/v1/auth/permissions", None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let admin = app.admin().await;
        let (s, p) = app.call(GET, "/api/v1/auth/permissions", Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(p["actions"].as_array().unwrap().len(), 13, "{p}");
        assert!(p["actions"].as_array().unwrap().contains(&json!("invitations.manage")));
        assert_eq!(p["assignable_roles"], json!(["system_admin", "dealer_principal", "fi_manager"]));
        let principal = app.principal().await;
        let (_, p) = app.call(GET, "/api/v1/auth/permissions", Some(&principal.access), None).await;
        assert_eq!(p["assignable_roles"], json!(["dealer_principal", "fi_manager"]));
        assert!(p["actions"].as_array().unwrap().contains(&json!("dealerships.mfa_required.set")));
        assert!(!p["actions"].as_array().unwrap().contains(&json!("users.delete")));
        let manager = app.manager().await;
        let (_, p) = app.call(GET, "/api/v1/auth/permissions", Some(&manager.access), None).await;
        assert_eq!(p, json!({"actions": [], "assignable_roles": []}));
    }

    async fn invitations_without_mail_hand_over_a_link_whose_page_spends_nothing(app: TestApp) {
        let manager = app.manager().await;
        let body = json!({"email": "new.hire@premiumauto.com", "full_name": "New Hire", "role": "fi_manager"});
        let (s, _) = app.call(POST, "/api/v1/invitations", Some(&manager.access), Some(body.clone())).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let principal = app.principal().await;
        let (s, made) = app.call(POST, "/api/v1/invitations", Some(&principal.access), Some(body.clone())).await;
        assert_eq!(s, StatusCode::CREATED, "{made}");
        assert_eq!((made["status"].as_str(), made["mail_status"].as_str()), (Some("pending"), Some("not_sent")));
        let url = made["invite_url"].as_str().unwrap();
        let path = &url[url.find("/invite/adam_inv_").expect("a link to the invitation page")..];
        assert!(url.starts_with("http") && path.len() == "/invite/adam_inv_".len() + 43, "{url}");
        let link = app.url(path);
        let (s, _) = app.call(POST, "/api/v1/invitations", Some(&principal.access), Some(body)).await;
        assert_eq!(s, StatusCode::CONFLICT, "one pending invitation per email");
        // The page: opened twice, it spends nothing; it sends its security headers.
        let http = reqwest::Client::new();
        for _ in 0..2 {
            let page = http.get(&link).send().await.unwrap();
            assert_eq!(page.status(), StatusCode::OK);
            let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert!(page.text().await.unwrap().contains("name=\"csrf\""));
        }
        let id = made["id"].as_str().unwrap();
        let (s, _) = app.call(DELETE, &format!("/api/v1/invitations/{id}"), Some(&principal.access), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let gone = http.get(&link).send().await.unwrap();
        assert_eq!(gone.status(), StatusCode::GONE);
        assert!(gone.text().await.unwrap().contains("withdrawn"));
        let (_, listed) = app.call(GET, "/api/v1/invitations", Some(&principal.access), None).await;
        assert_eq!(listed["items"][0]["status"], "revoked", "{listed}");
        assert!(listed["items"][0].get("invite_url").is_none(), "a link is shown once");
        // A reset request answers 202 whatever the email, and 422 for what cannot be one.
        for email in ["manager@premiumauto.com", "nobody@premiumauto.com"] {
            let (s, _) = app.call(POST, "/api/v1/auth/password-reset", None, Some(json!({"email": email}))).await;
            assert_eq!(s, StatusCode::ACCEPTED);
        }
        let (s, _) = app.call(POST, "/api/v1/auth/password-reset", None, Some(json!({"email": "x"}))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    }

    async fn token_lifecycle(app: TestApp) {
        let t = app.manager().await;
        let (s, me) = app.call(GET, "/api/v1/auth/me", Some(&t.access), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(me["email"], "manager@premiumauto.com");
        assert_eq!(me["role"], "fi_manager");
        assert!(me.get("password_hash").is_none() && me.get("password").is_none());
        // Refresh: new pair, the old refresh token is spent.
        let (s, pair) = app.call(POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": t.refresh}))).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(pair["token_type"], "bearer");
        assert_eq!(pair["expires_in"], 1800);
        let new_refresh = pair["refresh_token"].as_str().unwrap().to_owned();
        let new_access = pair["access_token"].as_str().unwrap().to_owned();
        assert_ne!(new_refresh, t.refresh);
        // The spent token again, within the reuse grace: a lost race, 401 saying so; the session
        // lives on (reuse after the grace: reuse_after_the_grace_revokes_the_session).
        let (s, body) = app.call(POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": t.refresh}))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        is_problem(&body, s);
        assert!(body["type"].as_str().unwrap().ends_with("/problems/refresh-token-already-rotated"), "{body}");
        let (s, _) = app.call(GET, "/api/v1/auth/me", Some(&new_access), None).await;
        assert_eq!(s, StatusCode::OK);
        let _ = new_refresh;
        // Logout of a new session; unknown token is 204 too.
        let t2 = app.manager().await;
        let (s, _) = app.call(POST, "/api/v1/auth/logout", None, Some(json!({"refresh_token": t2.refresh}))).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = app.call(POST, "/api/v1/auth/logout", None, Some(json!({"refresh_token": "nope"}))).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = app.call(GET, "/api/v1/auth/me", Some(&t2.access), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // Logout-all kills every session of the caller only.
        let a = app.manager().await;
        let b = app.manager().await;
        let p = app.principal().await;
        let (s, _) = app.call(POST, "/api/v1/auth/logout-all", Some(&a.access), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        for tok in [&a.access, &b.access] {
            assert_eq!(app.call(GET, "/api/v1/auth/me", Some(tok), None).await.0, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(app.call(GET, "/api/v1/auth/me", Some(&p.access), None).await.0, StatusCode::OK);
    }

    async fn unauthorized_answers_are_uniform(app: TestApp) {
        let resp = app.req(GET, "/api/v1/auth/me", None).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let t = app.manager().await;
        // Change one character in the middle of the signature (the last one carries padding bits).
        let mut tampered: Vec<char> = t.access.chars().collect();
        let i = tampered.len() - 10;
        tampered[i] = if tampered[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = tampered.into_iter().collect();
        for bad in [tampered.as_str(), "not.a.jwt", t.refresh.as_str(), ""] {
            let resp = app.req(GET, "/api/v1/users/", Some(bad)).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{bad}");
            assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        }
        // Login failures: one answer.
        for (email, pw) in [("nobody@x.com", MANAGER.1), (MANAGER.0, "wrong-password")] {
            let resp = app.req(POST, "/api/v1/auth/login", None).json(&json!({"email": email, "password": pw})).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(resp.headers()["www-authenticate"], "Bearer");
            let (_, body) = helpers::read(resp).await;
            assert_eq!(body["detail"], "Incorrect email or password");
        }
    }

    async fn password_guessing_is_throttled_with_429(app: TestApp) {
        let login = |pw: &'static str| {
            app.req(POST, "/api/v1/auth/login", None)
                .json(&json!({"email": PRINCIPAL.0, "password": pw}))
                .send()
        };
        for _ in 0..10 {
            assert_eq!(login("guess").await.unwrap().status(), StatusCode::UNAUTHORIZED);
        }
        let resp = login(PRINCIPAL.1).await.unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry));
        let (s, body) = helpers::read(resp).await;
        is_problem(&body, s);
        // Another account signs in as usual.
        app.manager().await;
    }

    async fn role_route_tenant_matrix(app: TestApp) {
        let admin = app.admin().await;
        let principal = app.principal().await;
        let manager = app.manager().await;
        let premium = premium_id(&app, &principal.access).await;
        let (s, other) = app.call(POST, "/api/v1/dealerships/", Some(&admin.access), Some(json!({"name": "Other Motors"}))).await;
        assert_eq!(s, StatusCode::CREATED);
        let other_id = other["id"].as_str().unwrap().to_owned();
        let (s, outsider) = app.call(POST, "/api/v1/users/", Some(&admin.access), Some(json!({
            "email": "boss@othermotors.com", "password": "Outsider-pass-1", "full_name": "Boss", "role": "dealer_principal", "dealership_id": other_id
        }))).await;
        assert_eq!(s, StatusCode::CREATED, "{outsider}");
        let outsider_id = outsider["id"].as_str().unwrap().to_owned();
        let (_, me) = app.call(GET, "/api/v1/auth/me", Some(&manager.access), None).await;
        let manager_id = me["id"].as_str().unwrap().to_owned();

        // Lists: only the visible set.
        let total = |t: &str| {
            let t = t.to_owned();
            let app = &app;
            async move { app.call(GET, "/api/v1/users/", Some(&t), None).await.1["total"].as_u64().unwrap() }
        };
        assert_eq!(total(&admin.access).await, 4);
        assert_eq!(total(&principal.access).await, 2);
        assert_eq!(total(&manager.access).await, 1);
        let (_, ds) = app.call(GET, "/api/v1/dealerships/", Some(&principal.access), None).await;
        assert_eq!(ds["total"], 1);
        assert_eq!(ds["items"][0]["id"].as_str().unwrap(), premium);

        // Outside the visible set: 404 for every verb.
        for t in [&principal.access, &manager.access] {
            let user = format!("/api/v1/users/{outsider_id}");
            assert_eq!(app.call(GET, &user, Some(t), None).await.0, StatusCode::NOT_FOUND);
            assert_eq!(app.call(PATCH, &user, Some(t), Some(json!({"full_name": "x"}))).await.0, StatusCode::NOT_FOUND);
            assert_eq!(app.call(DELETE, &user, Some(t), None).await.0, StatusCode::NOT_FOUND);
            let d = format!("/api/v1/dealerships/{other_id}");
            assert_eq!(app.call(GET, &d, Some(t), None).await.0, StatusCode::NOT_FOUND);
            assert_eq!(app.call(PATCH, &d, Some(t), Some(json!({"name": "x"}))).await.0, StatusCode::NOT_FOUND);
            assert_eq!(app.call(DELETE, &d, Some(t), None).await.0, StatusCode::NOT_FOUND);
        }
        // Visible but forbidden: 403.
        let own = format!("/api/v1/dealerships/{premium}");
        for t in [&principal.access, &manager.access] {
            assert_eq!(app.call(PATCH, &own, Some(t), Some(json!({"name": "Mine"}))).await.0, StatusCode::FORBIDDEN);
            assert_eq!(app.call(DELETE, &own, Some(t), None).await.0, StatusCode::FORBIDDEN);
            assert_eq!(app.call(POST, "/api/v1/dealerships/", Some(t), Some(json!({"name": "New"}))).await.0, StatusCode::FORBIDDEN);
        }
        let mgr = format!("/api/v1/users/{manager_id}");
        assert_eq!(app.call(DELETE, &mgr, Some(&principal.access), None).await.0, StatusCode::FORBIDDEN);
        assert_eq!(app.call(PATCH, &mgr, Some(&principal.access), Some(json!({"role": "system_admin", "dealership_id": null}))).await.0, StatusCode::FORBIDDEN);
        assert_eq!(app.call(PATCH, &mgr, Some(&principal.access), Some(json!({"dealership_id": other_id}))).await.0, StatusCode::FORBIDDEN);
        assert_eq!(app.call(PATCH, &mgr, Some(&manager.access), Some(json!({"role": "dealer_principal"}))).await.0, StatusCode::FORBIDDEN);
        assert_eq!(app.call(PATCH, &mgr, Some(&manager.access), Some(json!({"is_active": false}))).await.0, StatusCode::FORBIDDEN);
        let new_admin = json!({"email": "a2@x.com", "password": "Another-pass-1", "full_name": "A", "role": "system_admin"});
        assert_eq!(app.call(POST, "/api/v1/users/", Some(&principal.access), Some(new_admin.clone())).await.0, StatusCode::FORBIDDEN);
        assert_eq!(app.call(POST, "/api/v1/users/", Some(&manager.access), Some(new_admin)).await.0, StatusCode::FORBIDDEN);
        // Allowed: a principal creates an F&I manager in their dealership; a manager renames themself.
        let (s, fi) = app.call(POST, "/api/v1/users/", Some(&principal.access), Some(json!({
            "email": "New.FI@PremiumAuto.com", "password": "Brand-new-pass-1", "full_name": "New FI", "role": "fi_manager"
        }))).await;
        assert_eq!(s, StatusCode::CREATED, "{fi}");
        assert_eq!(fi["email"], "new.fi@premiumauto.com");
        assert_eq!(fi["dealership_id"].as_str().unwrap(), premium);
        let (s, renamed) = app.call(PATCH, &mgr, Some(&manager.access), Some(json!({"full_name": "Fiona"}))).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(renamed["full_name"], "Fiona");
        // Nothing changed in the other dealership.
        let (_, still) = app.call(GET, &format!("/api/v1/users/{outsider_id}"), Some(&admin.access), None).await;
        assert_eq!(still["full_name"], "Boss");
        // Dealership with users: 409; last admin: 409.
        assert_eq!(app.call(DELETE, &format!("/api/v1/dealerships/{other_id}"), Some(&admin.access), None).await.0, StatusCode::CONFLICT);
        let (_, me) = app.call(GET, "/api/v1/auth/me", Some(&admin.access), None).await;
        let admin_path = format!("/api/v1/users/{}", me["id"].as_str().unwrap());
        assert_eq!(app.call(DELETE, &admin_path, Some(&admin.access), None).await.0, StatusCode::CONFLICT);
        assert_eq!(app.call(PATCH, &admin_path, Some(&admin.access), Some(json!({"is_active": false}))).await.0, StatusCode::CONFLICT);
    }

    async fn revocation_is_immediate(app: TestApp) {
        let admin = app.admin().await;
        let manager = app.manager().await;
        let (_, me) = app.call(GET, "/api/v1/auth/me", Some(&manager.access), None).await;
        let path = format!("/api/v1/users/{}", me["id"].as_str().unwrap());
        let (s, _) = app.call(PATCH, &path, Some(&admin.access), Some(json!({"role": "dealer_principal"}))).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(app.call(GET, "/api/v1/auth/me", Some(&manager.access), None).await.0, StatusCode::UNAUTHORIZED);
        let again = app.manager().await;
        let (s, _) = app.call(PATCH, &path, Some(&admin.access), Some(json!({"is_active": false}))).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(app.call(GET, "/api/v1/auth/me", Some(&again.access), None).await.0, StatusCode::UNAUTHORIZED);
        let (s, _) = app.call(POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": again.refresh}))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        app.call(PATCH, &path, Some(&admin.access), Some(json!({"is_active": true}))).await;
        let third = app.manager().await;
        assert_eq!(app.call(DELETE, &path, Some(&admin.access), None).await.0, StatusCode::NO_CONTENT);
        assert_eq!(app.call(GET, "/api/v1/auth/me", Some(&third.access), None).await.0, StatusCode::UNAUTHORIZED);
    }

    async fn bad_input_is_a_clear_4xx_and_changes_nothing(app: TestApp) {
        let admin = app.admin().await;
        let users = "/api/v1/users/";
        let raw = |body: &'static str| {
            app.req(POST, users, Some(&admin.access)).header("content-type", "application/json").body(body).send()
        };
        let (s, b) = helpers::read(raw("{not json").await.unwrap()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        is_problem(&b, s);
        let cases: Vec<(Value, StatusCode, &str)> = vec![
            (json!({"password": "Valid-pass-123", "full_name": "X", "role": "fi_manager"}), StatusCode::BAD_REQUEST, "email"),
            (json!({"email": 5, "password": "Valid-pass-123", "full_name": "X", "role": "fi_manager"}), StatusCode::BAD_REQUEST, "email"),
            (json!({"email": "a@b.com", "password": "Valid-pass-123", "full_name": "X", "role": "king"}), StatusCode::BAD_REQUEST, "role"),
            (json!({"email": "a@b.com", "password": "Valid-pass-123", "full_name": "X", "role": "system_admin", "is_superuser": true}), StatusCode::BAD_REQUEST, "is_superuser"),
            (json!({"email": "not-an-email", "password": "Valid-pass-123", "full_name": "X", "role": "system_admin"}), StatusCode::UNPROCESSABLE_ENTITY, "email"),
            (json!({"email": "a@b.com", "password": "short", "full_name": "X", "role": "system_admin"}), StatusCode::UNPROCESSABLE_ENTITY, "password"),
            (json!({"email": "a@b.com", "password": "password123", "full_name": "X", "role": "system_admin"}), StatusCode::UNPROCESSABLE_ENTITY, "password"),
            (json!({"email": "a@b.com", "password": "Valid-pass-123", "full_name": "", "role": "system_admin"}), StatusCode::UNPROCESSABLE_ENTITY, "full_name"),
            (json!({"email": "a@b.com", "password": "Valid-pass-123", "full_name": "X", "role": "fi_manager"}), StatusCode::UNPROCESSABLE_ENTITY, "dealership_id"),
            (json!({"email": "a@b.com", "password": "Valid-pass-123", "full_name": "X", "role": "fi_manager", "dealership_id": "nope"}), StatusCode::BAD_REQUEST, "dealership_id"),
            (json!({"email": "MANAGER@premiumauto.com", "password": "Valid-pass-123", "full_name": "X", "role": "system_admin"}), StatusCode::CONFLICT, ""),
        ];
        for (body, want, field) in cases {
            let (s, b) = app.call(POST, users, Some(&admin.access), Some(body.clone())).await;
            assert_eq!(s, want, "{body} -> {b}");
            is_problem(&b, s);
            assert!(b["detail"].as_str().unwrap().contains(field), "{field} not named in {b}");
        }
        // Query and path parameters.
        for (path, want) in [
            ("/api/v1/users/?limit=0", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/users/?limit=99999999999999999999999", StatusCode::BAD_REQUEST),
            ("/api/v1/users/?offset=-1", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/users/?role=king", StatusCode::BAD_REQUEST),
            ("/api/v1/users/not-a-uuid", StatusCode::BAD_REQUEST),
            ("/api/v1/users/00000000-0000-0000-0000-000000000000", StatusCode::NOT_FOUND),
        ] {
            let (s, b) = app.call(GET, path, Some(&admin.access), None).await;
            assert_eq!(s, want, "{path}: {b}");
            is_problem(&b, s);
        }
        let (s, _) = app.call(GET, "/api/v1/users", Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::OK, "both spellings of the collection path work");
        let (s, b) = app.call(GET, "/api/v1/users/?q=%27%20OR%201%3D1%20--", Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["total"], 0);
        // Oversized bodies: 413, by Content-Length and chunked.
        let big = format!("{{\"email\":\"a@b.com\",\"password\":\"{}\"}}", "x".repeat(70 * 1024));
        let resp = app.req(POST, "/api/v1/auth/login", None).header("content-type", "application/json").body(big.clone()).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let stream = connections::futures_stream(big);
        let resp = app.req(POST, "/api/v1/auth/login", None).header("content-type", "application/json").body(stream).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // Nothing was created by any of it.
        let (_, list) = app.call(GET, users, Some(&admin.access), None).await;
        assert_eq!(list["total"], 3);
        // Patch with bad values changes nothing either.
        let (_, me) = app.call(GET, "/api/v1/auth/me", Some(&admin.access), None).await;
        let path = format!("/api/v1/users/{}", me["id"].as_str().unwrap());
        let (s, _) = app.call(PATCH, &path, Some(&admin.access), Some(json!({"full_name": "Changed", "email": "bad"}))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, me) = app.call(GET, "/api/v1/auth/me", Some(&admin.access), None).await;
        assert_eq!(me["full_name"], "System Admin");
    }

    async fn docs_health_and_readiness(app: TestApp) {
        for path in ["/api/v1/docs", "/api/v1/redoc", "/health", "/ready"] {
            let resp = app.req(GET, path, None).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
        }
        let (s, spec) = app.call(GET, "/api/v1/openapi.json", None, None).await;
        assert_eq!(s, StatusCode::OK);
        let routes = [
            ("post", "/api/v1/auth/login", false),
            ("post", "/api/v1/auth/refresh", false),
            ("post", "/api/v1/auth/logout", false),
            ("post", "/api/v1/auth/logout-all", true),
            ("get", "/api/v1/auth/me", true),
            ("get", "/api/v1/auth/sessions", true),
            ("delete", "/api/v1/auth/sessions/{id}", true),
            ("get", "/api/v1/users/{id}/sessions", true),
            ("delete", "/api/v1/users/{id}/sessions", true),
            ("get", "/api/v1/users", true),
            ("post", "/api/v1/users", true),
            ("get", "/api/v1/users/{id}", true),
            ("patch", "/api/v1/users/{id}", true),
            ("delete", "/api/v1/users/{id}", true),
            ("get", "/api/v1/dealerships", true),
            ("post", "/api/v1/dealerships", true),
            ("get", "/api/v1/dealerships/{id}", true),
            ("patch", "/api/v1/dealerships/{id}", true),
            ("delete", "/api/v1/dealerships/{id}", true),
        ];
        for (method, path, secured) in routes {
            let op = &spec["paths"][path][method];
            assert!(op.is_object(), "{method} {path} missing from the spec");
            assert!(op["summary"].is_string(), "{method} {path} undocumented");
            assert_eq!(op["security"].is_array(), secured, "{method} {path} security");
            for status in ["400", "401", "422", "429", "500"] {
                let r = &op["responses"][status];
                assert!(r.is_object(), "{method} {path} lacks {status}");
                assert!(r["content"]["application/problem+json"].is_object(), "{method} {path} {status} not problem+json");
            }
        }
        assert_eq!(spec["components"]["securitySchemes"]["BearerAuth"]["scheme"], "bearer");
        assert!(spec["paths"]["/api/v1/auth/login"]["post"]["requestBody"].is_object());
    }
}
