//! The contract's seed data: one dealership and one account of each role.

mod run;

use crate::role::Role;

/// Name of the seeded dealership.
pub const DEALERSHIP: &str = "Premium Auto";

/// A seeded account.
#[derive(Debug, Clone, Copy)]
pub struct SeedAccount {
    /// Sign-in email.
    pub email: &'static str,
    /// Initial password (change it in production).
    pub password: &'static str,
    /// Display name.
    pub full_name: &'static str,
    /// Role; every role but the system admin belongs to [`DEALERSHIP`].
    pub role: Role,
}

/// The seeded accounts.
pub const ACCOUNTS: [SeedAccount; 3] = [
    SeedAccount {
        email: "admin@avataradam.com",
        password: "Admin123!@#",
        full_name: "System Admin",
        role: Role::SystemAdmin,
    },
    SeedAccount {
        email: "principal@premiumauto.com",
        password: "Principal123!",
        full_name: "Dealer Principal",
        role: Role::DealerPrincipal,
    },
    SeedAccount {
        email: "manager@premiumauto.com",
        password: "Manager123!",
        full_name: "F&I Manager",
        role: Role::FiManager,
    },
];

/// What a seed run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Whether the dealership was created by this run.
    pub dealership_created: bool,
    /// Emails of the accounts created by this run.
    pub users_created: Vec<&'static str>,
}
