//! A real `adam-server` on a free port over a test database, started by the same
//! [`adam_server::Application::build`] as `main`.

use std::collections::HashMap;

use adam_core::TestClock;
use adam_server::{Application, Config, StartOptions};
use tokio::sync::oneshot;

use crate::{Engine, TestDatabase, SECRET};

/// The server configuration for a database, with `extra` variables on top.
pub fn config_for(url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), url.to_owned()),
        ("SECRET_KEY".into(), SECRET.into()),
        ("PORT".into(), "0".into()),
    ]);
    if matches!(Engine::of_url(url), Ok(Engine::Postgres)) {
        // Required with PostgreSQL; servers of one test share it.
        vars.insert("PUBLIC_URL".into(), "http://adam.test".into());
    }
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    let mut config = Config::from_vars(vars).expect("test config");
    config.hash_cost = adam_core::hashing::HashCost::TEST_ONLY;
    config
}

/// A running server over a database of its own, migrated and seeded; stopped on drop.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its database.
    pub db: TestDatabase,
    /// Its clock: move it instead of sleeping.
    pub clock: TestClock,
    stop: Option<oneshot::Sender<()>>,
}

impl TestServer {
    /// A server on a fresh database of `engine`, configured with `extra` variables.
    pub async fn start(engine: Engine, extra: &[(&str, &str)]) -> Self {
        let db = TestDatabase::create(engine).await;
        Self::start_on(db, extra).await
    }

    /// A server on `db`, configured with `extra` variables.
    pub async fn start_on(db: TestDatabase, extra: &[(&str, &str)]) -> Self {
        let config = config_for(&db.url, extra);
        Self::start_configured(db, config).await
    }

    /// A server on `db` with this configuration (from [`config_for`], then changed).
    pub async fn start_configured(db: TestDatabase, mut config: Config) -> Self {
        let clock = TestClock::new();
        config.clock = clock.clock();
        let app = Application::build(
            config,
            StartOptions {
                migrate: true,
                seed: true,
            },
        )
        .await
        .expect("the server starts");
        let base = format!("http://{}", app.address());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            base,
            db,
            clock,
            stop: Some(tx),
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
