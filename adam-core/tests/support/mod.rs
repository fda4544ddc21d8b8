//! Test support: a fresh, migrated database per test on SQLite or PostgreSQL, dropped afterwards.

#![allow(dead_code, missing_debug_implementations, clippy::unwrap_used)]

use std::path::PathBuf;

use adam_core::tokens::SigningKey;
use adam_core::{Adam, Email, Name, NewUser, Principal, Role, Settings, User};

pub const SECRET: &[u8] = b"test secret key of more than thirty-two bytes";

/// Where tests create their PostgreSQL databases (`ADAM_TEST_POSTGRES_URL`, a maintenance database).
pub fn postgres_admin_url() -> String {
    std::env::var("ADAM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

enum Cleanup {
    Sqlite(PathBuf),
    Postgres { admin_url: String, name: String },
}

/// A migrated engine on a database of its own.
pub struct TestDb {
    pub adam: Adam,
    pub url: String,
    cleanup: Cleanup,
}

impl std::ops::Deref for TestDb {
    type Target = Adam;
    fn deref(&self) -> &Adam {
        &self.adam
    }
}

fn db_name() -> String {
    format!("adam_test_{}", uuid::Uuid::new_v4().simple())
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!("{}.db", db_name()));
        let url = format!("sqlite://{}", path.display());
        Self::open(url, Cleanup::Sqlite(path)).await
    }

    pub async fn postgres() -> Self {
        let admin_url = postgres_admin_url();
        let name = db_name();
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .expect("PostgreSQL must be running for the storage tests (ADAM_TEST_POSTGRES_URL)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("ADAM_TEST_POSTGRES_URL needs a database path"),
        };
        Self::open(url, Cleanup::Postgres { admin_url, name }).await
    }

    async fn open(url: String, cleanup: Cleanup) -> Self {
        let adam = Adam::connect(
            &url,
            SigningKey::hs256(SECRET).unwrap(),
            Settings::default(),
        )
        .await
        .unwrap();
        adam.migrate_up().await.unwrap();
        adam.seed().await.unwrap();
        Self { adam, url, cleanup }
    }

    /// Signs in and returns the caller as the server would see them.
    pub async fn principal(&self, email: &str, password: &str) -> Principal {
        let pair = self.adam.login(email, password).await.unwrap();
        self.adam.authenticate(&pair.access_token).await.unwrap()
    }

    pub async fn admin(&self) -> Principal {
        self.principal("admin@avataradam.com", "Admin123!@#").await
    }

    pub async fn principal_of_premium(&self) -> Principal {
        self.principal("principal@premiumauto.com", "Principal123!")
            .await
    }

    pub async fn manager_of_premium(&self) -> Principal {
        self.principal("manager@premiumauto.com", "Manager123!")
            .await
    }

    /// Creates a user as `by`, with password `Passw0rd-for-tests`.
    pub async fn add_user(
        &self,
        by: &Principal,
        email: &str,
        role: Role,
        dealership: Option<adam_core::DealershipId>,
    ) -> User {
        self.adam
            .create_user(
                by,
                NewUser {
                    email: Email::parse(email).unwrap(),
                    password: self.adam.password_policy().check(PASSWORD.into()).unwrap(),
                    full_name: Name::parse("full_name", "Test Person").unwrap(),
                    role,
                    dealership_id: dealership,
                },
            )
            .await
            .unwrap()
    }
}

pub const PASSWORD: &str = "Passw0rd-for-tests";

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; drop the database from a thread of its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        if let Ok(mut conn) =
                            <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await
                        {
                            let _ = sqlx::query(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .execute(&mut conn)
                            .await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Runs each test body once on SQLite and once on PostgreSQL, as `<name>::sqlite` and
/// `<name>::postgres`.
#[macro_export]
macro_rules! on_both_engines {
    ($(async fn $name:ident($db:ident: TestDb) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $db = $crate::support::TestDb::sqlite().await;
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let $db = $crate::support::TestDb::postgres().await;
                    $body
                }
            }
        )*
    };
}
