//! Settings of the engine that are not the signing key or the database URL.

use chrono::Duration;

use crate::db::StoreOptions;
use crate::hashing::HashCost;
use crate::password::PasswordPolicy;
use crate::tokens::TokenAudience;

/// How the engine behaves; [`Settings::default`] is the contract's defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Access token lifetime (`ACCESS_TOKEN_EXPIRE_MINUTES`, default 30 minutes).
    pub access_token_ttl: Duration,
    /// Refresh token lifetime (`REFRESH_TOKEN_EXPIRE_DAYS`, default 7 days). Each rotation issues
    /// a token with a fresh lifetime, so a session lives while it is used at least this often.
    pub refresh_token_ttl: Duration,
    /// Rules for new and changed passwords (`PASSWORD_MIN_LENGTH`).
    pub password_policy: PasswordPolicy,
    /// Issuer and audience written into and required of access tokens.
    pub token_audience: TokenAudience,
    /// Argon2id cost of new hashes.
    pub hash_cost: HashCost,
    /// Most password hashes computed at once; default: one per core.
    pub hash_concurrency: usize,
    /// Database pool settings.
    pub store: StoreOptions,
    /// How many failed sign-ins an email may have in a window before sign-in is refused (429).
    pub login_throttle: LoginThrottle,
}

/// Throttling of password guessing, per email, shared by every server on the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    /// Failures allowed within `window`; the next attempt is refused.
    pub max_failures: u32,
    /// How far back failures count.
    pub window: Duration,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::minutes(15),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::minutes(30),
            refresh_token_ttl: Duration::days(7),
            password_policy: PasswordPolicy::default(),
            token_audience: TokenAudience::default(),
            hash_cost: HashCost::OWASP,
            hash_concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            store: StoreOptions::default(),
            login_throttle: LoginThrottle::default(),
        }
    }
}
