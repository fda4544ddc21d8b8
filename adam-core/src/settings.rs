//! Settings of the engine that are not the signing key or the database URL.

use chrono::Duration;

use crate::clock::Clock;
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
    /// Most password hashes computed at once (`HASH_THREADS`); default
    /// [`crate::hashing::default_threads`]: one fewer than the cores, at least one.
    pub hash_concurrency: usize,
    /// Longest a password check may wait for a hashing thread before the use case answers
    /// [`crate::Error::Busy`] (`HASH_QUEUE_TIMEOUT_SECONDS`, default 10 s).
    pub hash_queue_timeout: std::time::Duration,
    /// Database pool settings.
    pub store: StoreOptions,
    /// When failed sign-ins refuse further attempts (429).
    pub login_throttle: LoginThrottle,
    /// How soon after being spent a refresh token presented again is a lost race between two
    /// windows of one app rather than a theft (`REFRESH_REUSE_GRACE_SECONDS`, default 10 s).
    pub refresh_reuse_grace: Duration,
    /// A session ends this long after sign-in, however active (`SESSION_MAX_MINUTES`, default
    /// 24 hours): no refresh past it, and no access token outlives it.
    pub session_max: Duration,
    /// A running engine rotates the signing keys when the current one is older than this
    /// (`SIGNING_KEY_ROTATION_DAYS`, default 30 days; `None`: never).
    pub key_rotation: Option<Duration>,
    /// How long a new signing key is published before it may sign: the `max-age` of the
    /// published key set, so that every client has it first (default 300 s).
    pub key_publish_lead: Duration,
    /// How often the signing keys are read again, so that a rotation or revocation made by
    /// another server (or `adam-server keys`) takes effect here (default
    /// [`crate::keys::keyring::RELOAD_EVERY`], 30 s).
    pub key_reload: std::time::Duration,
    /// Roles that must sign in with a second factor in every dealership
    /// (`MFA_REQUIRED_ROLES`, default none).
    pub mfa_required_roles: Vec<crate::role::Role>,
    /// Audit events older than this are deleted, at most once a day
    /// (`AUDIT_RETENTION_DAYS`, default 365 days).
    pub audit_retention: Duration,
    /// Whether mail is sent (`SMTP_URL` is set): invitations and password resets then queue
    /// their mail in the outbox ([`crate::Adam::next_mail`]). Without it, an invitation hands its
    /// link to the inviter and a password-reset request changes nothing.
    pub mail_enabled: bool,
    /// How long an invitation link works (`INVITATION_EXPIRE_HOURS`, default 72 hours).
    pub invitation_ttl: Duration,
    /// How long a password-reset link works (`PASSWORD_RESET_EXPIRE_MINUTES`, default 30
    /// minutes).
    pub password_reset_ttl: Duration,
    /// Active users with no sign-in, creation or reactivation for this long are deactivated
    /// ([`crate::Adam::deactivate_inactive_users`]; `INACTIVE_USER_DAYS`, default off).
    pub inactive_after: Option<Duration>,
    /// Where passkeys work ([`crate::RelyingParty`]; `WEBAUTHN_RP_ID` and the origins of
    /// `PUBLIC_URL` and `BACKEND_CORS_ORIGINS`). `None` (the default): passkeys are off, and their
    /// use cases answer [`crate::Error::Conflict`] saying so.
    pub passkeys: Option<crate::passkeys::party::RelyingParty>,
    /// Where the engine reads the time ([`Clock::system`] by default; a
    /// [`crate::TestClock`]'s in tests, which move it instead of sleeping).
    pub clock: Clock,
}

/// Throttling of password guessing, shared by every server on the database.
///
/// After `max_failures` failures for one account from one client address within `window`, that
/// address's attempts for that account are refused until the oldest ages out (a stranger locks
/// only their own address out); after [`LoginThrottle::ACCOUNT_FACTOR`] times as many for one
/// account from every address, every attempt for it is refused; after
/// `max_failures_per_address` failures from one address (many accounts tried), its attempts are
/// refused. Successful sign-ins count nowhere and clear their account's failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    /// Failures allowed per account and address within `window` (`LOGIN_MAX_FAILURES`).
    pub max_failures: u32,
    /// How far back failures count (`LOGIN_FAILURE_WINDOW_MINUTES`).
    pub window: Duration,
    /// Failures allowed per address within `window` (`LOGIN_MAX_FAILURES_PER_IP`).
    pub max_failures_per_address: u32,
}

impl LoginThrottle {
    /// How many times `max_failures` one account may fail from all addresses together.
    pub const ACCOUNT_FACTOR: u32 = 10;
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::minutes(15),
            max_failures_per_address: 100,
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
            hash_concurrency: crate::hashing::default_threads(),
            hash_queue_timeout: std::time::Duration::from_secs(10),
            store: StoreOptions::default(),
            login_throttle: LoginThrottle::default(),
            refresh_reuse_grace: Duration::seconds(10),
            session_max: Duration::minutes(1440),
            key_rotation: Some(Duration::days(30)),
            key_publish_lead: Duration::seconds(300),
            key_reload: crate::keys::keyring::RELOAD_EVERY,
            mfa_required_roles: Vec::new(),
            audit_retention: Duration::days(365),
            mail_enabled: false,
            invitation_ttl: Duration::hours(72),
            password_reset_ttl: Duration::minutes(30),
            inactive_after: None,
            passkeys: None,
            clock: Clock::system(),
        }
    }
}
