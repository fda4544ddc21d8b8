//! The offline verifier's fetching rules, against a key-set server whose answers and fetches the
//! test controls: keys cached for their max-age, a refetch on an unknown `kid` at most every
//! `min_refetch_interval`, cached keys serving while refetches fail up to `max_stale`, then 503.

#![cfg(feature = "jwks")]
#![allow(clippy::unwrap_used)]

use adam_testkit::MANAGER;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adam_core::remote::{JwksOptions, JwksVerifier};
use adam_core::tokens::TokenAudience;
use adam_core::{Adam, Error, Settings};
use adam_testkit::{Engine, TestDatabase};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

/// Serves `/.well-known/jwks.json`: the key set it is given, or 503 while failing; counts fetches.
#[derive(Default)]
struct KeySetServer {
    keys: Mutex<Value>,
    fetches: AtomicUsize,
    failing: AtomicBool,
}

async fn jwks(
    State(s): State<Arc<KeySetServer>>,
) -> Result<([(header::HeaderName, &'static str); 1], String), StatusCode> {
    s.fetches.fetch_add(1, Ordering::SeqCst);
    if s.failing.load(Ordering::SeqCst) {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    let body = s.keys.lock().unwrap().to_string();
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}

/// An engine whose tokens name `issuer`, on a database of its own.
async fn engine(issuer: &str) -> (Adam, TestDatabase) {
    let db = TestDatabase::create(Engine::Sqlite).await;
    let settings = Settings {
        token_audience: TokenAudience::of_issuer(issuer),
        ..adam_testkit::settings()
    };
    (db.engine_with(settings).await, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_verifier_caches_refetches_sparingly_and_survives_an_outage_up_to_a_bound() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let server = Arc::new(KeySetServer::default());
    let app = Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(server.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (adam, _db) = engine(&issuer).await;
    *server.keys.lock().unwrap() = serde_json::to_value(adam.jwks().await.unwrap()).unwrap();
    // Another engine naming the same issuer: its keys are unknown to the key set served.
    let (stranger, _other_db) = engine(&issuer).await;
    let foreign = stranger
        .login(MANAGER.0, MANAGER.1)
        .await
        .unwrap()
        .access_token;
    let token = adam.login(MANAGER.0, MANAGER.1).await.unwrap().access_token;

    let options = JwksOptions {
        min_refetch_interval: Duration::from_millis(600),
        default_max_age: Duration::from_millis(300),
        max_stale: Duration::from_millis(1500),
    };
    let verifier = JwksVerifier::with_options(&issuer, options).unwrap();
    let fetches = || server.fetches.load(Ordering::SeqCst);

    // Fetched once, then served from the cache.
    verifier.verify(&token).await.unwrap();
    verifier.verify(&token).await.unwrap();
    assert_eq!(fetches(), 1);

    // An unknown kid: refused, with at most one refetch per interval however many arrive.
    tokio::time::sleep(Duration::from_millis(650)).await;
    let before = fetches();
    for _ in 0..20 {
        let refused = verifier.verify(&foreign).await;
        assert!(
            matches!(refused, Err(Error::Unauthorized(_))),
            "{refused:?}"
        );
    }
    assert_eq!(fetches() - before, 1, "one refetch for twenty unknown kids");
    tokio::time::sleep(Duration::from_millis(650)).await;
    assert!(verifier.verify(&foreign).await.is_err());
    assert_eq!(fetches() - before, 2, "the next interval allows one more");

    // The issuer is down: past the keys' max-age (and the refetch interval) a refetch is tried
    // and fails, and the cached keys keep serving...
    server.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(700)).await;
    verifier.verify(&token).await.unwrap();
    let during = fetches();
    assert!(during > before + 2, "a refetch was attempted");
    // ...up to max_stale after the last successful fetch; then the check is unavailable (503),
    // not trusted keys that may have been revoked since.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let stale = verifier.verify(&token).await;
    assert!(matches!(stale, Err(Error::Unavailable(_))), "{stale:?}");
    // Back up: served again.
    server.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(650)).await;
    verifier.verify(&token).await.unwrap();
}
