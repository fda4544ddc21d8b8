//! # adam-core
//!
//! Sign-in, roles and tenancy for car-dealership services: the engine behind `adam-server`,
//! and a library other Rust services link to check Adam's tokens, roles and dealerships.
//!
//! - [`Adam`] is the engine: sign-in, refresh-token rotation, sign-out, and the user and
//!   dealership use cases, each starting with its permission check.
//!   [`Adam::authenticate`] is the full check of an access token (signature, then the live
//!   session and user in the database); the [`Principal`] it returns is the only caller the use
//!   cases accept.
//! - Access tokens are signed with Ed25519 keys kept in the database ([`keyring`]), their
//!   private halves sealed under `SECRET_KEY` ([`SecretKey`]), and published as a JWKS.
//!   Other services check a caller in one of three ways ([`check`]): in-process with the
//!   database, offline against the JWKS ([`tokens::AccessTokenVerifier`]), or by
//!   introspection; each yields a read-only [`Caller`] for the service's own rules.
//! - [`rbac`] holds the contract's role table as pure functions; [`Placement`] is a role with
//!   its dealership, so that a system admin with a dealership cannot be written down.
//! - System operations that act for no caller: [`Adam::migrate_up`], [`Adam::seed`],
//!   [`Adam::purge_expired`], [`Adam::ready`].
//!
//! Storage is PostgreSQL or SQLite, picked from the database URL, and is not public: every
//! change goes through a use case. On PostgreSQL, row-level security confines each transaction
//! to its caller's dealership as a second wall (see `ARCHITECTURE.md`).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use adam_core::{Adam, SecretKey, Settings};
//!
//! let key = SecretKey::new(b"a secret of at least thirty-two bytes..").unwrap();
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
// Without the engine, the helpers the engine shares with the token checks go unused.
#![cfg_attr(not(feature = "engine"), allow(dead_code))]

#[cfg(feature = "engine")]
pub mod audit;
mod caller;
pub mod check;
pub mod clock;
#[cfg(feature = "engine")]
mod db;
#[cfg(feature = "engine")]
mod dealerships;
pub mod email;
#[cfg(feature = "engine")]
mod engine;
pub mod error;
#[cfg(any(feature = "poem", feature = "axum"))]
pub mod guard;
#[cfg(feature = "engine")]
pub mod hashing;
pub mod ids;
#[cfg(feature = "engine")]
mod invitations;
pub mod jwk;
#[cfg(feature = "engine")]
mod keys;
#[cfg(feature = "engine")]
pub mod links;
#[cfg(feature = "engine")]
pub mod mail;
pub mod models;
#[cfg(feature = "engine")]
pub mod oauth_clients;
#[cfg(feature = "engine")]
pub mod oidc;
mod origin;
#[cfg(feature = "engine")]
mod passkeys;
pub mod password;
#[cfg(feature = "engine")]
mod password_reset;
mod placement;
pub mod rbac;
#[cfg(any(feature = "jwks", feature = "introspection"))]
pub mod remote;
pub mod role;
#[cfg(feature = "engine")]
mod second_factor;
#[cfg(feature = "engine")]
pub mod seed;
#[cfg(feature = "engine")]
mod sessions;
#[cfg(feature = "engine")]
pub mod settings;
#[cfg(feature = "engine")]
mod signin;
pub mod tokens;
#[cfg(feature = "engine")]
mod user_ref;
#[cfg(feature = "engine")]
mod users;

#[cfg(feature = "engine")]
pub use keys::keyring;
#[cfg(feature = "engine")]
pub use sessions::refresh;

#[cfg(feature = "engine")]
pub use audit::{AuditCursor, AuditEvent, AuditFilter, AuditLimit, AuditPage};
pub use caller::{Amr, Caller, KeyKind};
pub use check::CheckCaller;
pub use clock::{Clock, TestClock};
#[cfg(feature = "engine")]
pub use db::{Engine, MigrationState, StoreOptions};

pub use email::Email;
#[cfg(feature = "engine")]
pub use engine::{Adam, TokenPair};
pub use error::{Error, Result};
pub use ids::{DealershipId, InvitationId, SessionId, UserId};
#[cfg(feature = "engine")]
pub use invitations::{
    Invitation, InvitationLink, InvitationStatus, Invited, MailStatus, NewInvitation,
};
#[cfg(feature = "engine")]
pub use keys::secret::{SecretKey, MIN_SECRET_LEN};
#[cfg(feature = "engine")]
pub use keys::Introspection;
pub use models::{
    Dealership, DealershipPatch, Name, NewDealership, NewUser, Page, PageRequest, User, UserFilter,
    UserPatch, FORMAT_CHARS,
};
pub use origin::ClientInfo;
#[cfg(feature = "engine")]
pub use passkeys::{
    Ceremony, PasskeyInfo, RelyingParty, CEREMONY_TTL_SECONDS,
    MAX_NAME_CHARS as MAX_PASSKEY_NAME_CHARS, RECENT_SIGN_IN_SECONDS,
    SIGN_IN_CEREMONIES_PER_ADDRESS,
};
pub use password::{Password, PasswordPolicy};
#[cfg(feature = "engine")]
pub use password_reset::{ResetLink, ResetRequested};
pub use placement::Placement;
pub use rbac::Principal;
pub use role::Role;
#[cfg(feature = "engine")]
pub use second_factor::{
    Enrolled, MfaStatus, MfaToken, RecoveryCodes, SecondFactors, SignIn, TotpEnrollment,
    MFA_TOKEN_PREFIX, MFA_TOKEN_TTL_SECONDS,
};
#[cfg(feature = "engine")]
pub use sessions::{BrowserSession, SessionInfo, BROWSER_SESSION_PREFIX};
#[cfg(feature = "engine")]
pub use settings::Settings;
#[cfg(feature = "engine")]
pub use users::{AccessReview, ReviewEntry};
