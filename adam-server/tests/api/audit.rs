//! `GET /audit-events/`: what each role reads, the filters, keyset paging and bad queries.

use adam_testkit::on_both_engines;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{TestApp, ADMIN, MANAGER, PRINCIPAL};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PATCH: Method = Method::PATCH;

/// Every event `token` may read with `query`, page by page of `limit`.
async fn all_events(app: &TestApp, token: &str, query: &str, limit: u32) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/audit-events/?limit={limit}{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (s, page) = app.call(GET, &path, Some(token), None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize, "{page}");
        events.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return events,
        }
    }
}

fn at(e: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap()
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

async fn id_of(app: &TestApp, token: &str) -> Value {
    let (_, me) = app.call(GET, "/api/v1/auth/me", Some(token), None).await;
    me
}

on_both_engines! {
    async fn each_role_reads_its_part_of_the_audit_log(app: TestApp) {
        let admin = app.admin().await;
        let principal = app.principal().await;
        let manager_pair = app
            .login_with_agent(MANAGER.0, MANAGER.1, "Adam Desktop/1.0 (Linux)")
            .await;
        let manager = manager_pair.access.clone();
        let (s, _) = app
            .call(POST, "/api/v1/auth/login", None, Some(json!({"email": "manager@premiumauto.com", "password": "a wrong guess"})))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let me = id_of(&app, &manager).await;
        let manager_id = me["id"].as_str().unwrap().to_owned();
        let premium = me["dealership_id"].as_str().unwrap().to_owned();
        let admin_id = id_of(&app, &admin.access).await["id"].as_str().unwrap().to_owned();
        // Elsewhere: a dealership and its principal, made by the admin.
        let (s, other) = app
            .call(POST, "/api/v1/dealerships/", Some(&admin.access), Some(json!({"name": "Other Motors"})))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let other_id = other["id"].as_str().unwrap().to_owned();
        let (s, outsider) = app
            .call(POST, "/api/v1/users/", Some(&admin.access), Some(json!({
                "email": "boss@othermotors.com", "password": "Outsider-pass-1", "full_name": "Boss",
                "role": "dealer_principal", "dealership_id": other_id
            })))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{outsider}");
        app.login("boss@othermotors.com", "Outsider-pass-1").await;
        // The principal renames the manager.
        let (s, _) = app
            .call(PATCH, &format!("/api/v1/users/{manager_id}"), Some(&principal.access), Some(json!({"full_name": "Renamed"})))
            .await;
        assert_eq!(s, StatusCode::OK);

        // The admin sees everything, newest first, in the contract's shape.
        let everything = all_events(&app, &admin.access, "", 100).await;
        let ats: Vec<_> = everything.iter().map(at).collect();
        let mut sorted = ats.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(ats, sorted, "newest first");
        for member in ["id", "at", "action", "actor", "dealership_id", "subject", "session_id", "ip", "user_agent", "details"] {
            assert!(everything.iter().all(|e| e.get(member).is_some()), "{member} missing");
        }
        let renamed = everything.iter().find(|e| e["action"] == "user.updated").unwrap();
        assert_eq!(renamed["actor"]["email"], "principal@premiumauto.com");
        assert_eq!(renamed["subject"], json!({"type": "user", "id": manager_id}));
        assert_eq!(renamed["dealership_id"], premium);
        assert_eq!(renamed["details"]["fields"], json!(["full_name"]));
        let desktop = everything
            .iter()
            .find(|e| e["action"] == "login.succeeded" && e["user_agent"] == "Adam Desktop/1.0 (Linux)")
            .unwrap();
        assert_eq!((&desktop["actor"]["id"], &desktop["ip"]), (&json!(manager_id), &json!("127.0.0.1")));
        let failed = everything.iter().find(|e| e["action"] == "login.failed").unwrap();
        assert_eq!((&failed["actor"], &failed["subject"]["id"]), (&Value::Null, &json!(manager_id)));
        assert_eq!(failed["details"]["reason"], "bad_credentials");
        assert!(everything.iter().any(|e| e["action"] == "dealership.created" && e["actor"]["id"] == admin_id.as_str()));
        assert!(everything.iter().any(|e| e["dealership_id"] == other_id.as_str()));
        // None of the passwords or tokens this test used.
        let text = serde_json::to_string(&everything).unwrap();
        for secret in [
            MANAGER.1, PRINCIPAL.1, ADMIN.1, "Outsider-pass-1", "a wrong guess",
            admin.access.as_str(), admin.refresh.as_str(), manager.as_str(),
            manager_pair.refresh.as_str(), "argon2",
        ] {
            assert!(!text.contains(secret), "{secret} is in the audit log");
        }

        // The principal: exactly the events of Premium Auto, nothing of Other Motors.
        let theirs = all_events(&app, &principal.access, "", 100).await;
        let expected: Vec<&Value> = everything.iter().filter(|e| e["dealership_id"] == premium.as_str()).collect();
        assert_eq!(theirs.iter().collect::<Vec<_>>(), expected);
        assert!(actions(&theirs).contains(&"user.updated"));
        let none = all_events(&app, &principal.access, &format!("&dealership_id={other_id}"), 100).await;
        assert!(none.is_empty(), "{none:?}");

        // The manager: exactly the events they did or that are about them.
        let own = all_events(&app, &manager, "", 100).await;
        let expected: Vec<&Value> = everything
            .iter()
            .filter(|e| e["actor"]["id"] == manager_id.as_str() || e["subject"]["id"] == manager_id.as_str())
            .collect();
        assert_eq!(own.iter().collect::<Vec<_>>(), expected);
        assert!(actions(&own).contains(&"user.updated") && actions(&own).contains(&"login.failed"));

        // Filters narrow the admin's view to exactly the matching events.
        for (query, keep) in [
            ("&action=user.updated".to_owned(), Box::new(|e: &Value| e["action"] == "user.updated") as Box<dyn Fn(&Value) -> bool>),
            (format!("&actor_id={admin_id}"), Box::new(|e: &Value| e["actor"]["id"] == admin_id.as_str())),
            (format!("&subject_id={manager_id}"), Box::new(|e: &Value| e["subject"]["id"] == manager_id.as_str())),
            (format!("&dealership_id={other_id}"), Box::new(|e: &Value| e["dealership_id"] == other_id.as_str())),
        ] {
            let found = all_events(&app, &admin.access, &query, 100).await;
            let expected: Vec<&Value> = everything.iter().filter(|e| keep(e)).collect();
            assert!(!expected.is_empty(), "{query}");
            assert_eq!(found.iter().collect::<Vec<_>>(), expected, "{query}");
        }
        // since is inclusive, until exclusive.
        let pivot = renamed["at"].as_str().unwrap();
        let since = all_events(&app, &admin.access, &format!("&since={}", pivot.replace('+', "%2B")), 100).await;
        assert_eq!(since.last().unwrap()["id"], renamed["id"]);
        let until = all_events(&app, &admin.access, &format!("&until={}", pivot.replace('+', "%2B")), 100).await;
        assert!(until.iter().all(|e| at(e) < at(renamed)) && !until.is_empty());
        assert_eq!(since.len() + until.len(), everything.len());

        // Pages of two hold every event once, in the same order.
        let paged = all_events(&app, &admin.access, "", 2).await;
        assert_eq!(paged, everything);
    }

    async fn audit_export_writes_every_event_oldest_first_as_json_lines(app: TestApp) {
        let admin = app.admin().await;
        app.principal().await;
        let (s, _) = app
            .call(POST, "/api/v1/auth/login", None, Some(json!({"email": "manager@premiumauto.com", "password": "a wrong guess"})))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let export = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_adam-server"))
                .args(["audit", "export"])
                .args(args)
                .env("DATABASE_URL", &app.db.url)
                .env("SECRET_KEY", crate::helpers::SECRET)
                .env("PUBLIC_URL", "http://adam.test")
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        };
        let out = export(&[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // The API's events, in the API's shape, oldest first.
        let mut newest_first = all_events(&app, &admin.access, "", 100).await;
        newest_first.reverse();
        assert!(newest_first.len() >= 3);
        assert_eq!(lines, newest_first);
        // --since and --until bound it (since inclusive, until exclusive).
        let second = lines[1]["at"].as_str().unwrap();
        let out = export(&["--since", second]);
        assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), lines.len() - 1);
        let out = export(&["--until", second]);
        assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
        let out = export(&["--since", "yesterday"]);
        assert!(!out.status.success() && out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
    }

    async fn bad_audit_queries_are_refused_with_4xx(app: TestApp) {
        let admin = app.admin().await;
        for query in ["limit=0", "limit=101", "limit=-1", "cursor=garbage", "cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "cursor=00000000000000000000000000000000", "action=a%00b"] {
            let (s, body) = app.call(GET, &format!("/api/v1/audit-events/?{query}"), Some(&admin.access), None).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        }
        for query in ["since=yesterday", "actor_id=42", "limit=many"] {
            let (s, body) = app.call(GET, &format!("/api/v1/audit-events/?{query}"), Some(&admin.access), None).await;
            assert!(s.is_client_error(), "{query}: {s} {body}");
        }
        let (s, _) = app.call(GET, "/api/v1/audit-events/", None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
}

/// Sign-out by refresh token and a refresh token presented again after the grace are recorded
/// with the client's address and program, like everything done with an access token.
async fn token_events_keep_the_client(engine: crate::helpers::Engine) {
    let app = TestApp::spawn_with(engine, &[("REFRESH_REUSE_GRACE_SECONDS", "0")]).await;
    let admin = app.admin().await;
    let with_agent = |path: &str, token: &str| {
        app.req(POST, path, None)
            .header("user-agent", "Adam Desktop/2.0")
            .json(&json!({ "refresh_token": token }))
            .send()
    };
    let leaving = app.manager().await;
    assert_eq!(
        with_agent("/api/v1/auth/logout", &leaving.refresh)
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let stolen = app.principal().await;
    assert_eq!(
        with_agent("/api/v1/auth/refresh", &stolen.refresh)
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    app.clock.advance(chrono::Duration::milliseconds(1100));
    assert_eq!(
        with_agent("/api/v1/auth/refresh", &stolen.refresh)
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let events = all_events(&app, &admin.access, "", 100).await;
    let one = |action: &str, how: Option<&str>| {
        let found: Vec<&Value> = events
            .iter()
            .filter(|e| e["action"] == action && how.is_none_or(|h| e["details"]["how"] == h))
            .collect();
        assert_eq!(found.len(), 1, "{action} {how:?}: {events:?}");
        found[0].clone()
    };
    for (event, email) in [
        (
            one("session.ended", Some("logout")),
            "manager@premiumauto.com",
        ),
        (
            one("refresh.reuse_detected", None),
            "principal@premiumauto.com",
        ),
        (
            one("session.ended", Some("reuse")),
            "principal@premiumauto.com",
        ),
    ] {
        assert_eq!(event["ip"], "127.0.0.1", "{event}");
        assert_eq!(event["user_agent"], "Adam Desktop/2.0", "{event}");
        let subject = event["subject"]["id"].clone();
        let user = events
            .iter()
            .find(|e| e["action"] == "login.succeeded" && e["actor"]["email"] == email)
            .unwrap();
        assert_eq!(subject, user["actor"]["id"], "{event}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_events_keep_the_client_sqlite() {
    token_events_keep_the_client(crate::helpers::Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_events_keep_the_client_postgres() {
    token_events_keep_the_client(crate::helpers::Engine::Postgres).await;
}
