//! Test support for the engine: a migrated, seeded engine on a database of its own (from
//! `adam-testkit`), and the seed accounts signed in as the server would see them.

#![allow(dead_code, missing_debug_implementations, clippy::unwrap_used)]

use adam_core::{Adam, Email, Name, NewUser, Principal, Role, TestClock, User};
use adam_testkit::{Engine, Fixture, TestDatabase};
use adam_testkit::{ADMIN, MANAGER, PRINCIPAL};

#[allow(unused_imports)]
pub use adam_testkit::raw_sql;

/// An engine on a database of its own.
pub struct TestDb {
    pub adam: Adam,
    pub db: TestDatabase,
    /// The engine's clock: tests move it instead of sleeping.
    pub clock: TestClock,
}

impl std::ops::Deref for TestDb {
    type Target = Adam;
    fn deref(&self) -> &Adam {
        &self.adam
    }
}

impl Fixture for TestDb {
    async fn on(engine: Engine) -> Self {
        let db = TestDatabase::create(engine).await;
        let clock = TestClock::new();
        let adam = db.engine_with(adam_testkit::settings_on(&clock)).await;
        Self { adam, db, clock }
    }
}

impl TestDb {
    /// The database URL (as its superuser owner, on PostgreSQL).
    pub fn url(&self) -> &str {
        &self.db.url
    }

    /// Signs in and returns the caller as the server would see them.
    pub async fn principal(&self, email: &str, password: &str) -> Principal {
        let pair = self.adam.login(email, password).await.unwrap();
        self.adam.authenticate(&pair.access_token).await.unwrap()
    }

    pub async fn admin(&self) -> Principal {
        self.principal(ADMIN.0, ADMIN.1).await
    }

    pub async fn principal_of_premium(&self) -> Principal {
        self.principal(PRINCIPAL.0, PRINCIPAL.1).await
    }

    pub async fn manager_of_premium(&self) -> Principal {
        self.principal(MANAGER.0, MANAGER.1).await
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
                    must_change_password: false,
                },
            )
            .await
            .unwrap()
    }
}

pub const PASSWORD: &str = "Passw0rd-for-tests";
