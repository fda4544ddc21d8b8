//! A service that checks its callers **by introspection**: one call to the Adam server's
//! `POST /api/v1/auth/introspect` per request, so a signed-out session is refused at once. It
//! needs only the server's URL, and no key or database.
//!
//! Run against a running server:
//! `ADAM_URL=http://127.0.0.1:8000 cargo run -p adam-server --example introspection`

#[path = "common/mod.rs"]
mod common;

use adam_core::guard::poem::RequireCaller;
use adam_core::remote::IntrospectionClient;
use adam_core::Caller;
use poem::web::Data;
use poem::{get, handler, EndpointExt, Route};
use reqwest::StatusCode;

/// The service's own route: the deals of the caller's dealership.
#[handler]
fn deals(caller: Data<&Caller>) -> String {
    common::deals_of(&caller)
}

/// Starts the service, guarded by introspection at `adam_url`, and runs the demonstration.
pub async fn run(adam_url: &str) -> Result<Vec<String>, String> {
    let client = IntrospectionClient::new(adam_url).map_err(|e| e.to_string())?;
    let app = Route::new().at("/deals", get(deals).with(RequireCaller::new(client)));
    let base = common::serve_poem(app).await?;
    common::demo(adam_url, &format!("{base}/deals"), StatusCode::UNAUTHORIZED).await
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
    async fn against_a_real_server_a_signed_out_session_is_refused_at_once() {
        let server = TestServer::start(Engine::Sqlite, &[]).await;
        let lines = super::run(&server.base).await.unwrap();
        assert_eq!(lines.len(), 4);
    }
}
