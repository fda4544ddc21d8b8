//! Refresh over HTTP: concurrent refreshes, the reuse grace.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Engine, TestApp};
use crate::{GET, POST};

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
