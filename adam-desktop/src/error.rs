//! What a command can answer instead of a result: a `thiserror` enum the UI receives as
//! `{kind, message}`.

use serde::Serialize;

/// Why a desktop command failed. Never carries a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum DesktopError {
    /// Wrong email or password (the server does not say which).
    #[error("Incorrect email or password")]
    InvalidCredentials,
    /// The server asks us to slow down.
    #[error("Too many attempts; wait a moment and try again")]
    TooManyAttempts,
    /// The server could not be reached.
    #[error("Cannot reach the server at {0}")]
    Unreachable(String),
    /// The session ended (revoked, expired, or never started): sign in again.
    #[error("Your session has ended; please sign in again")]
    SignedOut,
    /// Another window of the app refreshed the sign-in first and the newer token could not be
    /// used either (the keyring entry is kept).
    #[error("Another window refreshed your sign-in; please sign in again")]
    AlreadyRotated,
    /// The code of the second sign-in step is wrong or was used already: try another.
    #[error("That code is not right, or was used already")]
    CodeInvalid,
    /// The second sign-in step expired (five minutes, or five wrong codes): sign in again.
    #[error("The sign-in has expired; enter your password again")]
    SignInExpired,
    /// The server refused: you may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The thing asked for does not exist (for you).
    #[error("Not found")]
    NotFound,
    /// The request conflicts with the current state (e.g. the email is taken).
    #[error("{0}")]
    Conflict(String),
    /// Invalid input; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The OS keyring failed.
    #[error("The system keyring is unavailable: {0}")]
    Keyring(String),
    /// Anything else the server or the app got wrong.
    #[error("{0}")]
    Other(String),
}

impl From<keyring_core::Error> for DesktopError {
    fn from(e: keyring_core::Error) -> Self {
        Self::Keyring(e.to_string())
    }
}
