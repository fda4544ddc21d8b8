//! # adam-core
//!
//! Sign-in, roles and tenancy for car-dealership services: the engine behind `adam-server`,
//! and a library other Rust services link to check Adam's tokens, roles and dealerships.
//!
//! - [`Adam`] is the engine: sign-in, refresh-token rotation, sign-out, and the user and
//!   dealership use cases, each starting with its permission check.
//! - [`tokens::AccessTokenVerifier`] checks access tokens offline, for services that have only
//!   the shared `SECRET_KEY`; [`Principal::from_claims`] turns the claims into a caller.
//! - [`rbac`] holds the contract's role table as pure functions.
//!
//! Storage is PostgreSQL or SQLite, picked from the database URL.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use adam_core::{Adam, Settings, tokens::SigningKey};
//!
//! let key = SigningKey::hs256(b"a secret of at least thirty-two bytes..").unwrap();
//! let adam = Adam::connect("sqlite::memory:", key, Settings::default()).await.unwrap();
//! adam.migrate_up().await.unwrap();
//! adam.seed().await.unwrap();
//!
//! let pair = adam.login("admin@avataradam.com", "Admin123!@#").await.unwrap();
//! let caller = adam.authenticate(&pair.access_token).await.unwrap();
//! assert_eq!(caller.role(), adam_core::Role::SystemAdmin);
//!
//! adam.logout(pair.refresh_token.expose()).await.unwrap();
//! assert!(adam.authenticate(&pair.access_token).await.is_err());
//! # });
//! ```

#![deny(missing_docs)]

pub mod email;
pub mod error;
pub mod hashing;
pub mod ids;
pub mod models;
pub mod password;
pub mod rbac;
pub mod refresh;
pub mod role;
pub mod seed;
mod service;
pub mod settings;
pub mod store;
pub mod tokens;

pub use email::Email;
pub use error::{Error, Result};
pub use ids::{DealershipId, SessionId, UserId};
pub use models::{
    Dealership, DealershipPatch, Name, NewDealership, NewUser, Page, PageRequest, User, UserFilter,
    UserPatch,
};
pub use password::{Password, PasswordPolicy};
pub use rbac::Principal;
pub use role::Role;
pub use service::{Adam, TokenPair};
pub use settings::Settings;
