//! Black-box tests of adam-server: the real server on a free port, over SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod helpers;
mod keys;
mod limits;
mod mfa;
mod sessions;

use adam_testkit::on_both_engines;
use helpers::{Engine, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

fn is_problem(body: &Value, status: StatusCode) {
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
            .json(&json!({"email": "manager@premiumauto.com", "password": "Manager123!"}))
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
        assert_eq!(p["actions"].as_array().unwrap().len(), 11, "{p}");
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
        for (email, pw) in [("nobody@x.com", "Manager123!"), ("manager@premiumauto.com", "wrong-password")] {
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
                .json(&json!({"email": "principal@premiumauto.com", "password": pw}))
                .send()
        };
        for _ in 0..10 {
            assert_eq!(login("guess").await.unwrap().status(), StatusCode::UNAUTHORIZED);
        }
        let resp = login("Principal123!").await.unwrap();
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
        let stream = futures_stream(big);
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

/// The document says what the server enforces: each declared bound is the edge between an
/// accepted and a refused request, nullable fields are marked, 405 names what is allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_says_what_the_server_enforces() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let admin = app.admin().await;
    let (_, doc) = app.call(GET, "/api/v1/openapi.json", None, None).await;
    let schemas = &doc["components"]["schemas"];
    // The admin's own profile fits the User schema: dealership_id is present, null, nullable.
    let (_, me) = app
        .call(GET, "/api/v1/auth/me", Some(&admin.access), None)
        .await;
    assert!(me["dealership_id"].is_null() && me.get("dealership_id").is_some());
    assert_eq!(
        schemas["User"]["properties"]["dealership_id"]["nullable"],
        true
    );
    assert!(schemas["User"]["required"]
        .as_array()
        .unwrap()
        .contains(&json!("dealership_id")));
    // Unknown properties: declared refused, and refused.
    for name in [
        "LoginRequest",
        "UserCreate",
        "UserUpdate",
        "DealershipCreate",
        "DealershipUpdate",
    ] {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
    }
    let (s, _) = app
        .call(
            POST,
            "/api/v1/dealerships",
            Some(&admin.access),
            Some(json!({"name": "X", "extra": 1})),
        )
        .await;
    assert!(s.is_client_error(), "{s}");
    // A body is an object: serde would read a struct from an array (found by schemathesis).
    let (_, me_again) = app
        .call(GET, "/api/v1/auth/me", Some(&admin.access), None)
        .await;
    let path = format!("/api/v1/users/{}", me_again["id"].as_str().unwrap());
    let (s, _) = app
        .call(PATCH, &path, Some(&admin.access), Some(json!([null, null])))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // In a change, null is declared and means "unchanged".
    for (schema, field) in [
        ("UserUpdate", "email"),
        ("UserUpdate", "role"),
        ("DealershipUpdate", "name"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["nullable"], true,
            "{schema}.{field}"
        );
    }
    let body = json!({"email": null, "full_name": null});
    let (s, unchanged) = app
        .call(PATCH, &path, Some(&admin.access), Some(body))
        .await;
    assert_eq!(
        (s, &unchanged["email"]),
        (StatusCode::OK, &me_again["email"])
    );
    // The page size: the declared maximum is accepted, one more is refused.
    let limit = doc["paths"]["/api/v1/users"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()["schema"]
        .clone();
    assert_eq!(
        (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
        (Some(1), Some(100))
    );
    for (limit, want) in [
        (100, StatusCode::OK),
        (101, StatusCode::UNPROCESSABLE_ENTITY),
        (0, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (s, _) = app
            .call(
                GET,
                &format!("/api/v1/users?limit={limit}"),
                Some(&admin.access),
                None,
            )
            .await;
        assert_eq!(s, want, "limit={limit}");
    }
    // A name of the declared maximum length is accepted, one longer is refused.
    let max = schemas["DealershipCreate"]["properties"]["name"]["maxLength"]
        .as_u64()
        .unwrap() as usize;
    let (s, _) = app
        .call(
            POST,
            "/api/v1/dealerships",
            Some(&admin.access),
            Some(json!({"name": "n".repeat(max)})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = app
        .call(
            POST,
            "/api/v1/dealerships",
            Some(&admin.access),
            Some(json!({"name": "m".repeat(max + 1)})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // 415 is documented where a body is read, and answered.
    assert!(doc["paths"]["/api/v1/auth/login"]["post"]["responses"]["415"].is_object());
    let resp = app
        .req(POST, "/api/v1/auth/login", None)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Every success answer says what it is.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, answer) in op["responses"].as_object().unwrap() {
                if status.starts_with('2') {
                    assert!(
                        !answer["description"].as_str().unwrap().is_empty(),
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    // The documentation pages show this document.
    for page in ["/api/v1/docs", "/api/v1/redoc"] {
        let html = app
            .req(GET, page, None)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(r#""additionalProperties":false"#), "{page}");
    }
    // 405 names the allowed methods.
    for (path, allow) in [
        ("/api/v1/auth/me", "GET"),
        (
            "/api/v1/users/00000000-0000-0000-0000-000000000000",
            "DELETE, GET, PATCH",
        ),
    ] {
        let resp = app
            .req(Method::PUT, path, Some(&admin.access))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(resp.headers()["allow"], allow, "{path}");
    }
}

/// Clients that connect and never finish a request are closed at the header deadline, and
/// beyond `MAX_CONNECTIONS` further clients wait instead of exhausting the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_closed_and_connections_are_capped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(
        Engine::Sqlite,
        &[
            ("MAX_CONNECTIONS", "2"),
            ("HEADER_READ_TIMEOUT_SECONDS", "1"),
            ("IDLE_TIMEOUT_SECONDS", "1"),
        ],
    )
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // One client says nothing at all, the other half a request: they hold both slots.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut partial = tokio::net::TcpStream::connect(&addr).await.unwrap();
    partial
        .write_all(b"GET /health HTTP/1.1\r\nHost: adam\r\n")
        .await
        .unwrap();
    // A third client waits for a slot...
    let waiting = tokio::spawn({
        let url = app.url("/health");
        async move { reqwest::get(url).await.map(|r| r.status()) }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "beyond the cap a client is not served"
    );
    // ...until the server closes the slow ones at their deadline.
    for slow in [&mut silent, &mut partial] {
        let mut buf = [0u8; 512];
        let closed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                match slow.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {} // a 408 answer, then the close
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a slow client was left open");
    }
    assert_eq!(waiting.await.unwrap().unwrap(), StatusCode::OK);
    // An idle keep-alive connection is closed too.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: adam\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        idle.read_to_end(&mut answer),
    )
    .await;
    assert!(closed.is_ok(), "an idle connection was left open");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

/// Over HTTP/2 cleartext a body carries neither `Content-Length` nor `Transfer-Encoding`: the
/// limit still holds, and what the client sent is never parsed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_limit_holds_over_http2_cleartext() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let huge = format!(
        "{{\"email\":\"admin@adam.local\",\"password\":\"{}\"}}",
        "x".repeat(4 * 1024 * 1024)
    );
    let resp = h2
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(futures_stream(huge))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A body within the limit, also without a length, is read as usual.
    let small = json!({"email": "admin@adam.local", "password": "wrong"}).to_string();
    let resp = h2
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(futures_stream(small))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

fn futures_stream(s: String) -> reqwest::Body {
    // A body without Content-Length (chunked), sent in 8 KiB pieces.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = s
        .into_bytes()
        .chunks(8192)
        .map(|c| Ok(c.to_vec()))
        .collect();
    reqwest::Body::wrap_stream(tokio_stream_iter(chunks))
}

fn tokio_stream_iter(
    items: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + Sync + 'static {
    struct Iter(std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>);
    impl futures_core::Stream for Iter {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(items.into_iter())
}

#[tokio::test]
async fn cors_follows_backend_cors_origins() {
    let allowed = "https://app.example.com";
    let app = TestApp::spawn_with(Engine::Sqlite, &[("BACKEND_CORS_ORIGINS", allowed)]).await;
    let preflight = |origin: &'static str| {
        app.req(Method::OPTIONS, "/api/v1/auth/login", None)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight(allowed).await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], allowed);
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // Without BACKEND_CORS_ORIGINS: no cross-origin access at all.
    let closed = TestApp::spawn(Engine::Sqlite).await;
    let resp = closed
        .req(Method::GET, "/health", None)
        .header("origin", allowed)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn concurrent_refreshes_over_http_exactly_one_wins() {
    let app = TestApp::spawn(Engine::Postgres).await;
    let t = app.manager().await;
    let calls = (0..8).map(|_| {
        app.call(
            POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": t.refresh})),
        )
    });
    let results = futures_join_all(calls.collect()).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{results:?}");
    // The others lost a race (two windows of one app), not a theft: 401 saying so, and the
    // session lives on.
    for (s, b) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*s, StatusCode::UNAUTHORIZED);
        assert!(
            b["type"]
                .as_str()
                .unwrap()
                .ends_with("/problems/refresh-token-already-rotated"),
            "{b}"
        );
    }
    let winner = results.iter().find(|(s, _)| *s == StatusCode::OK).unwrap();
    let (s, _) = app
        .call(
            GET,
            "/api/v1/auth/me",
            Some(winner.1["access_token"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(f);
    }
    let mut out = Vec::new();
    // Poll them together so the requests are really concurrent.
    let joined = async {
        let mut pinned: Vec<_> = set.into_iter().map(Box::pin).collect();
        let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (i, f) in pinned.iter_mut().enumerate() {
                if results[i].is_none() {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => results[i] = Some(v),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        results
            .into_iter()
            .map(|r| r.expect("polled to completion"))
            .collect::<Vec<_>>()
    };
    out.extend(joined.await);
    out
}

#[tokio::test]
async fn readiness_follows_the_database_without_a_restart() {
    let app = TestApp::spawn(Engine::Postgres).await;
    assert_eq!(
        app.req(GET, "/ready", None).send().await.unwrap().status(),
        StatusCode::OK
    );
    app.db.drop_now().await;
    let resp = app.req(GET, "/ready", None).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        app.req(GET, "/health", None).send().await.unwrap().status(),
        StatusCode::OK
    );
    app.db.recreate().await;
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..20 {
        status = app.req(GET, "/ready", None).send().await.unwrap().status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn three_server_processes_share_one_postgres() {
    let db = helpers::TestDatabase::create(Engine::Postgres).await;
    let bin = env!("CARGO_BIN_EXE_adam-server");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("SECRET_KEY", helpers::SECRET)
            .env("PUBLIC_URL", "http://adam.test")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["migrate"]);
    run(&["seed"]);
    let mut servers = Vec::new();
    let mut bases = Vec::new();
    for _ in 0..3 {
        let (server, base) = ServerProcess::start(&db.url, &["serve", "--no-migrate"]).await;
        servers.push(server);
        bases.push(base);
    }
    let client = reqwest::Client::new();
    let post = |base: &str, path: &str, token: Option<&str>, body: Value| {
        let mut r = client.post(format!("{base}/api/v1{path}")).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let login = helpers::read(
        post(
            &bases[0],
            "/auth/login",
            None,
            json!({"email": "manager@premiumauto.com", "password": "Manager123!"}),
        )
        .await
        .unwrap(),
    )
    .await
    .1;
    let refreshed = helpers::read(
        post(
            &bases[1],
            "/auth/refresh",
            None,
            json!({"refresh_token": login["refresh_token"]}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(refreshed.0, StatusCode::OK);
    let access = refreshed.1["access_token"].as_str().unwrap().to_owned();
    let first_access = login["access_token"].as_str().unwrap().to_owned();
    for base in &bases {
        let s = client
            .get(format!("{base}/api/v1/auth/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s, StatusCode::OK);
    }
    // They share one key set: each publishes the same keys, and the token names one of them.
    let mut published = Vec::new();
    for base in &bases {
        let jwks: Value = client
            .get(format!("{base}/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut kids: Vec<String> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        kids.sort();
        published.push(kids);
    }
    assert_eq!(published[0].len(), 2, "{published:?}");
    assert!(
        published.iter().all(|p| p == &published[0]),
        "{published:?}"
    );
    assert!(published[0].contains(&keys::kid_of(&access)));
    let s = post(&bases[2], "/auth/logout-all", Some(&access), json!({}))
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::NO_CONTENT);
    for base in &bases {
        for token in [&access, &first_access] {
            let s = client
                .get(format!("{base}/api/v1/auth/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{base}");
        }
        let s = post(
            base,
            "/auth/refresh",
            None,
            json!({"refresh_token": refreshed.1["refresh_token"]}),
        )
        .await
        .unwrap()
        .status();
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
}

/// A real `adam-server` process, killed when dropped.
struct ServerProcess(std::process::Child);

impl ServerProcess {
    /// Starts the binary with `args` on a free port and waits until it is ready.
    async fn start(database_url: &str, args: &[&str]) -> (Self, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_adam-server"))
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("SECRET_KEY", helpers::SECRET)
            .env("PUBLIC_URL", "http://adam.test")
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = Self(child);
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client
                .get(format!("{base}/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
            {
                return (server, base);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{base} did not start");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let db = helpers::TestDatabase::create(Engine::Sqlite).await;
    let (mut server, base) = ServerProcess::start(&db.url, &["serve", "--seed"]).await;
    let client = reqwest::Client::new();
    // Eight sign-ins queue for two hashing threads: well over 50 ms of work in flight.
    let logins: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            let url = format!("{base}/api/v1/auth/login");
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"email": "manager@premiumauto.com", "password": "Manager123!"}))
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let pid = server.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    for l in logins {
        assert_eq!(
            l.await.unwrap().unwrap(),
            StatusCode::OK,
            "an in-flight request was cut off"
        );
    }
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = server.0.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(exited.expect("server exits after SIGTERM").success());
    // New connections are refused once it is gone.
    assert!(client.get(format!("{base}/health")).send().await.is_err());
}

/// `n` simultaneous wrong passwords for the manager, forwarded for `client`: (401s, 429s).
async fn guesses_at_once(app: &TestApp, n: usize, client: &str) -> (usize, usize) {
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..n {
        let request = app
            .req(POST, "/api/v1/auth/login", None)
            .header("x-forwarded-for", client)
            .json(&json!({"email": "manager@premiumauto.com", "password": "a wrong guess"}));
        attempts.spawn(async move { request.send().await.unwrap().status() });
    }
    let (mut invalid, mut throttled) = (0, 0);
    while let Some(status) = attempts.join_next().await {
        match status.unwrap() {
            StatusCode::UNAUTHORIZED => invalid += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("unexpected {other}"),
        }
    }
    (invalid, throttled)
}

async fn throttle_by_account_and_forwarded_address(engine: Engine) {
    let trusting = [
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("LOGIN_MAX_FAILURES", "3"),
    ];
    let app = TestApp::spawn_with(engine, &trusting).await;
    // 30 at once from one client: exactly the limit reach the password check.
    assert_eq!(guesses_at_once(&app, 30, "203.0.113.1").await, (3, 27));
    let login = |client: &'static str| {
        app.req(POST, "/api/v1/auth/login", None)
            .header("x-forwarded-for", client)
            .json(&json!({"email": "manager@premiumauto.com", "password": "Manager123!"}))
            .send()
    };
    let refused = login("203.0.113.1").await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().get("retry-after").is_some());
    // A stranger locks out only their own address.
    assert_eq!(
        login("198.51.100.2").await.unwrap().status(),
        StatusCode::OK
    );

    // Without TRUSTED_PROXIES the header is the client's word and is ignored: every guess comes
    // from the loopback peer.
    let app = TestApp::spawn_with(engine, &[("LOGIN_MAX_FAILURES", "3")]).await;
    let mut statuses = Vec::new();
    for n in 0..4 {
        let resp = app
            .req(POST, "/api/v1/auth/login", None)
            .header("x-forwarded-for", format!("203.0.113.{n}"))
            .json(&json!({"email": "manager@premiumauto.com", "password": "a wrong guess"}))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_by_account_and_forwarded_address_sqlite() {
    throttle_by_account_and_forwarded_address(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_by_account_and_forwarded_address_postgres() {
    throttle_by_account_and_forwarded_address(Engine::Postgres).await;
}

async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let body = json!({ "refresh_token": token });
    app.call(POST, "/api/v1/auth/refresh", None, Some(body))
        .await
}

async fn reuse_after_the_grace_revokes_the_session(engine: Engine) {
    let app = TestApp::spawn_with(engine, &[("REFRESH_REUSE_GRACE_SECONDS", "0")]).await;
    let t = app.manager().await;
    let (s, pair) = refresh(&app, &t.refresh).await;
    assert_eq!(s, StatusCode::OK);
    app.clock.advance(chrono::Duration::milliseconds(1100));
    let (s, body) = refresh(&app, &t.refresh).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        !body["type"].as_str().unwrap().contains("already-rotated"),
        "{body}"
    );
    let (s, _) = app
        .call(
            GET,
            "/api/v1/auth/me",
            Some(pair["access_token"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the whole session is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuse_after_the_grace_revokes_the_session_sqlite() {
    reuse_after_the_grace_revokes_the_session(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuse_after_the_grace_revokes_the_session_postgres() {
    reuse_after_the_grace_revokes_the_session(Engine::Postgres).await;
}

/// `adam-server healthcheck` (a container's HEALTHCHECK) succeeds against a running server on
/// HOST:PORT, `0.0.0.0` meaning this machine, and fails with one line where nothing answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_reports_whether_the_server_answers() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let check = |port: String| async move {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_adam-server"))
                .arg("healthcheck")
                .env("HOST", "0.0.0.0")
                .env("PORT", port)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let out = check(port).await;
    assert!(out.status.success(), "{out:?}");
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = nobody.local_addr().unwrap().port().to_string();
    drop(nobody);
    let out = check(closed).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.trim().lines().count() == 1 && stderr.contains("unhealthy"),
        "{stderr}"
    );
}
