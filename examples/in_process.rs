//! A service that links adam-core and checks its callers **in-process, with the database**:
//! the full check of `adam-server` itself (signature, then the live session and user), so a
//! signed-out session or a deactivated user is refused at once. It needs the server's
//! `DATABASE_URL`, `SECRET_KEY` and `PUBLIC_URL`.
//!
//! Run against a running server (same database and key):
//! `ADAM_URL=http://127.0.0.1:8000 DATABASE_URL=sqlite://adam.db SECRET_KEY=… \
//!  cargo run -p adam-server --example in_process`

#[path = "common/mod.rs"]
mod common;

use adam_core::guard::poem::RequireCaller;
use adam_core::tokens::TokenAudience;
use adam_core::{Adam, Caller, SecretKey, Settings};
use poem::web::Data;
use poem::{get, handler, EndpointExt, Route};
use reqwest::StatusCode;

/// The service's own route: the deals of the caller's dealership.
#[handler]
fn deals(caller: Data<&Caller>) -> String {
    common::deals_of(&caller)
}

/// Connects to the server's database with its key, and runs the demonstration.
pub async fn run(adam_url: &str, database_url: &str, secret: &str) -> Result<Vec<String>, String> {
    let settings = Settings {
        token_audience: TokenAudience::of_issuer(adam_url),
        ..Settings::default()
    };
    let key = SecretKey::new(secret.as_bytes()).map_err(|e| e.to_string())?;
    let adam = Adam::connect(database_url, key, settings)
        .await
        .map_err(|e| e.to_string())?;
    // The service, guarded by the engine's full check.
    let app = Route::new().at("/deals", get(deals).with(RequireCaller::new(adam)));
    let base = common::serve_poem(app).await?;
    common::demo(adam_url, &format!("{base}/deals"), StatusCode::UNAUTHORIZED).await
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    common::report(
        run(
            &common::adam_url(),
            &env("DATABASE_URL"),
            &env("SECRET_KEY"),
        )
        .await,
    )
}

#[cfg(test)]
mod tests {
    use adam_testkit::server::TestServer;
    use adam_testkit::{Engine, SECRET};

    #[tokio::test]
    async fn against_a_real_server_a_signed_out_session_is_refused_at_once() {
        let server = TestServer::start(Engine::Sqlite, &[]).await;
        let lines = super::run(&server.base, &server.db.url, SECRET)
            .await
            .unwrap();
        assert_eq!(lines.len(), 4);
    }
}
