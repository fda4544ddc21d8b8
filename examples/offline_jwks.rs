//! A service that checks its callers **offline, against the published keys**: it fetches the
//! Adam server's `/.well-known/jwks.json` once, caches it, and then checks each token without
//! calling anyone. Fastest, and it needs only the server's URL; but a signed-out session's access
//! token keeps passing until it expires (30 minutes by default).
//!
//! Run against a running server:
//! `ADAM_URL=http://127.0.0.1:8000 cargo run -p adam-server --example offline_jwks`

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;

use adam_core::guard::axum::require_caller;
use adam_core::remote::JwksVerifier;
use adam_core::Caller;
use axum::routing::get;
use axum::{middleware, Extension, Router};
use reqwest::StatusCode;

/// The service's own route: the deals of the caller's dealership.
async fn deals(Extension(caller): Extension<Caller>) -> String {
    common::deals_of(&caller)
}

/// Starts the service, guarded by the key set of `adam_url`, and runs the demonstration.
pub async fn run(adam_url: &str) -> Result<Vec<String>, String> {
    let verifier = Arc::new(JwksVerifier::new(adam_url).map_err(|e| e.to_string())?);
    let app = Router::new()
        .route("/deals", get(deals))
        .layer(middleware::from_fn_with_state(
            verifier,
            require_caller::<JwksVerifier>,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    // Offline, the token stays valid after signing out: the trade-off of this way.
    common::demo(adam_url, &format!("{base}/deals"), StatusCode::OK).await
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::report(run(&common::adam_url()).await)
}

#[cfg(test)]
mod tests {
    use adam_testkit::server::TestServer;
    use adam_testkit::Engine;

    #[tokio::test]
    async fn against_a_real_server_tokens_pass_until_they_expire() {
        let server = TestServer::start(Engine::Sqlite, &[]).await;
        let lines = super::run(&server.base).await.unwrap();
        assert_eq!(lines.len(), 4);
    }
}
