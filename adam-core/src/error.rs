//! The one error type of `adam-core`: each variant names the contract answer it stands for.

use std::borrow::Cow;

/// What went wrong in a use case, as the contract classifies it.
///
/// Each variant maps to exactly one HTTP status in `adam-server`; other embedders can match on it
/// the same way. No variant ever carries a password, a token or a hash.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Login failed: unknown email, wrong password or inactive account, deliberately indistinct (401).
    #[error("Incorrect email or password")]
    InvalidCredentials,
    /// Too many failed sign-ins for this email recently; try again after `retry_after_secs` (429).
    #[error("Too many failed sign-in attempts; try again later")]
    TooManyAttempts {
        /// Seconds until the oldest counted failure leaves the window.
        retry_after_secs: u64,
    },
    /// The password checks are queued beyond their deadline: the server is too busy to check a
    /// password in time; try again after `retry_after_secs` (503). Nothing was counted or changed.
    #[error("The server is busy; try again shortly")]
    Busy {
        /// Seconds to wait before trying again.
        retry_after_secs: u64,
    },
    /// A token is missing, malformed, expired, revoked or otherwise not acceptable (401).
    #[error("{0}")]
    Unauthorized(Cow<'static, str>),
    /// A refresh token spent moments ago (within the reuse grace) was presented again: a lost
    /// race between two windows of one app, not a theft. The session stays alive; the client
    /// should use the token that won (401, problem type `refresh-token-already-rotated`).
    #[error("refresh token already rotated; use the newer one")]
    RefreshTokenAlreadyRotated,
    /// The password was right and a second step is needed: the embedder called a sign-in that
    /// cannot hand over an `mfa_token` ([`crate::Adam::login_with`]); use
    /// [`crate::Adam::sign_in`] (401).
    #[error("a second factor is required to sign in")]
    SecondFactorRequired,
    /// The password is right but was set by someone else: the sign-in needs a new one, which a
    /// caller that cannot hand over a `password_change_token` ([`crate::Adam::login_with`])
    /// cannot send; use [`crate::Adam::sign_in`] (401, problem type `password-change-required`).
    #[error("the password must be changed to sign in")]
    PasswordChangeRequired,
    /// The code of a second step is wrong, or was used already (401, problem type
    /// `mfa-code-invalid`); the `mfa_token` lives on until its fifth wrong code.
    #[error("the code is incorrect or was used already")]
    MfaCodeInvalid,
    /// The `mfa_token` is spent, expired or unknown: start again with the password (401, problem
    /// type `mfa-token-invalid`).
    #[error("the sign-in has expired; start again with your password")]
    MfaTokenInvalid,
    /// The action needs a sign-in of the last five minutes (registering or removing a passkey):
    /// 403, problem type `/problems/reauthentication-required`.
    #[error("sign in again first: this needs a sign-in of the last five minutes")]
    ReauthenticationRequired,
    /// A passkey sign-in was refused: an unknown, removed or cloned passkey, a signature or
    /// origin that does not check, or a user who may not sign in (401).
    #[error("the passkey was not accepted")]
    PasskeyRefused,
    /// A link from a mail (an invitation or a password reset) cannot be used, and why (410).
    #[cfg(feature = "engine")]
    #[error("{}", .0.says())]
    LinkUnusable(crate::links::LinkProblem),
    /// The caller can see the resource but may not do this to it (403).
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    /// The resource does not exist or lies outside the caller's visible set (404).
    #[error("not found")]
    NotFound,
    /// The request contradicts the current state: duplicate email, last admin, dealership in use (409).
    #[error("{0}")]
    Conflict(Cow<'static, str>),
    /// A field of the request is invalid; `field` names it as the client spelled it (422).
    #[error("{field}: {reason}")]
    Invalid {
        /// The request field at fault, e.g. `email` or `password`.
        field: &'static str,
        /// Why it is invalid, fit to show to the user.
        reason: Cow<'static, str>,
    },
    /// The configuration given to the engine is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The database could not be reached or answered an error the caller cannot fix (500 or 503).
    #[cfg(feature = "engine")]
    #[error("storage: {0}")]
    Storage(#[source] sqlx::Error),
    /// A service the check of a token depends on (the published key set, the introspection
    /// endpoint) could not be reached and nothing cached may stand in (503).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Applying or reverting migrations failed.
    #[cfg(feature = "engine")]
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A bug or an impossible state; details go to the log, never to the client (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// An [`Error::Invalid`] for `field` with a human-readable `reason`.
    pub fn invalid(field: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// An [`Error::Unauthorized`] with a short reason.
    pub fn unauthorized(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Unauthorized(reason.into())
    }

    /// A [`Error::Forbidden`] with a short reason.
    pub fn forbidden(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden(reason.into())
    }

    /// A [`Error::Conflict`] with a short reason.
    pub fn conflict(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Conflict(reason.into())
    }

    /// True when the database itself is unreachable (pool timed out, connection refused or
    /// cut, the server shutting down or its database gone), as opposed to a query error: the
    /// server answers 503 for these.
    pub fn is_unavailable(&self) -> bool {
        match self {
            #[cfg(feature = "engine")]
            Self::Storage(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed,
            ) => true,
            // PostgreSQL's connection exceptions (class 08), an administrator's or a crash's
            // shutdown and a server still starting (57P01–57P03), and a database that does not
            // exist (3D000: dropped, or not created yet).
            #[cfg(feature = "engine")]
            Self::Storage(sqlx::Error::Database(e)) => e.code().is_some_and(|code| {
                code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "3D000")
            }),
            Self::Unavailable(_) => true,
            _ => false,
        }
    }
}

#[cfg(feature = "engine")]
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Self::NotFound,
            other => Self::Storage(other),
        }
    }
}

/// The result type of `adam-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
