//! Test support shared by every crate of Adam: a fresh database per test on SQLite or on
//! PostgreSQL (dropped afterwards), an engine migrated and seeded on it, and with the `server`
//! feature a real `adam-server` listening on a free port. One place, so the core tests, the server
//! tests and the desktop app's tests start things the same way.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::path::PathBuf;

use adam_core::hashing::HashCost;
use adam_core::seed::ACCOUNTS;
pub use adam_core::Engine;
use adam_core::{Adam, SecretKey, Settings, TestClock};

pub mod authenticator;
pub mod passkey;
#[cfg(feature = "server")]
pub mod server;

/// The engine settings of a test: the defaults, with passwords hashed at
/// [`HashCost::TEST_ONLY`] (the production cost is kept by the tests that are about it).
pub fn settings() -> Settings {
    Settings {
        hash_cost: HashCost::TEST_ONLY,
        ..Settings::default()
    }
}

/// [`settings`] on the clock of `hand`.
pub fn settings_on(hand: &TestClock) -> Settings {
    Settings {
        clock: hand.clock(),
        ..settings()
    }
}

/// The seed accounts' email and password, from adam-core's `seed::ACCOUNTS` (one definition).
pub const ADMIN: (&str, &str) = (ACCOUNTS[0].email, ACCOUNTS[0].password);
/// The seeded dealer principal's email and password.
pub const PRINCIPAL: (&str, &str) = (ACCOUNTS[1].email, ACCOUNTS[1].password);
/// The seeded F&I manager's email and password.
pub const MANAGER: (&str, &str) = (ACCOUNTS[2].email, ACCOUNTS[2].password);

/// A secret of the right length for tests.
pub const SECRET: &str = "test secret key of more than thirty-two bytes";

/// Where tests create their PostgreSQL databases (`ADAM_TEST_POSTGRES_URL`, a maintenance
/// database such as `postgres://postgres@127.0.0.1:5432/postgres`).
pub fn postgres_admin_url() -> String {
    std::env::var("ADAM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Runs one statement on a PostgreSQL database (as the URL's role).
pub async fn pg_exec(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .expect("PostgreSQL must be running for the tests (ADAM_TEST_POSTGRES_URL)");
    sqlx::query(sql).execute(&mut conn).await.expect(sql);
}

/// Runs `sql` with text parameters directly on a test database, as the URL's role (bypassing
/// the engine: for tests that set up a state no use case can reach, such as an old hash).
/// Returns the first column of the first row, if the statement answers any.
pub async fn raw_sql(url: &str, sql: &str, binds: &[&str]) -> Option<String> {
    use sqlx::Connection;
    match Engine::of_url(url).expect("a test database URL") {
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            let mut q = sqlx::query_scalar::<_, String>(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_optional(&mut conn).await.expect(sql)
        }
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
            let mut q = sqlx::query_scalar::<_, String>(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_optional(&mut conn).await.expect(sql)
        }
    }
}

/// A database of the test's own, removed on drop: a file in the temporary directory (SQLite) or
/// a fresh database on the test server (PostgreSQL).
#[derive(Debug)]
pub struct TestDatabase {
    /// The `DATABASE_URL` of this database.
    pub url: String,
    engine: Engine,
    /// The SQLite database's own directory (the file, its journal and its key file inside).
    sqlite: Option<PathBuf>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// Creates an empty database on `engine`.
    pub async fn create(engine: Engine) -> Self {
        let name = format!("adam_test_{}", uuid::Uuid::new_v4().simple());
        match engine {
            Engine::Sqlite => {
                // A directory of its own, removed on drop: a server still stopping when the test
                // ends cannot open (and so create) the file again once its directory is gone.
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir(&dir).expect("a directory for the test database");
                Self {
                    url: format!("sqlite://{}", dir.join("adam.db").display()),
                    engine,
                    sqlite: Some(dir),
                    postgres: None,
                }
            }
            Engine::Postgres => {
                let admin = postgres_admin_url();
                pg_exec(&admin, &format!("CREATE DATABASE {name}")).await;
                let base = admin
                    .rsplit_once('/')
                    .expect("ADAM_TEST_POSTGRES_URL needs a database path")
                    .0
                    .to_owned();
                Self {
                    url: format!("{base}/{name}"),
                    engine,
                    sqlite: None,
                    postgres: Some((admin, name)),
                }
            }
        }
    }

    /// The engine this database runs on.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// An engine on this database, migrated and seeded, with the test secret.
    pub async fn engine_with(&self, settings: Settings) -> Adam {
        let adam = Adam::connect(
            &self.url,
            SecretKey::new(SECRET.as_bytes()).unwrap(),
            settings,
        )
        .await
        .unwrap();
        adam.migrate_up().await.unwrap();
        adam.seed().await.unwrap();
        adam
    }

    /// Drops the database while servers use it (PostgreSQL), to simulate an outage.
    pub async fn drop_now(&self) {
        if let Some((admin, name)) = &self.postgres {
            pg_exec(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
        }
    }

    /// Creates it again after [`TestDatabase::drop_now`].
    pub async fn recreate(&self) {
        if let Some((admin, name)) = &self.postgres {
            pg_exec(admin, &format!("CREATE DATABASE {name}")).await;
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.postgres.clone() {
            // Drop runs inside the test's runtime: drop the database from a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(pg_exec(
                    &admin,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ));
            })
            .join();
        }
    }
}

/// What a test runs against, made fresh for each engine by [`on_both_engines!`].
pub trait Fixture: Sized {
    /// A fresh fixture on `engine`.
    fn on(engine: Engine) -> impl Future<Output = Self> + Send;
}

/// Runs each test body once on SQLite and once on PostgreSQL, as `<name>::sqlite` and
/// `<name>::postgres`, each with a fresh [`Fixture`] of the named type.
#[macro_export]
macro_rules! on_both_engines {
    ($(async fn $name:ident($v:ident: $ty:ty) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $v = <$ty as $crate::Fixture>::on($crate::Engine::Sqlite).await;
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let $v = <$ty as $crate::Fixture>::on($crate::Engine::Postgres).await;
                    $body
                }
            }
        )*
    };
}
