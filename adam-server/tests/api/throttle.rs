//! The sign-in throttle by account and (forwarded) address.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Engine, TestApp, MANAGER};
use crate::POST;

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
            .json(&json!({"email": MANAGER.0, "password": MANAGER.1}))
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
