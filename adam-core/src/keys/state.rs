//! The states of a signing key: a leaf type, shared by the key ring and its storage, which
//! decodes it where it reads a row.

use std::fmt;

use crate::error::{Error, Result};

/// The state of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Signs new tokens.
    Current,
    /// Signs no more; published until every token it signed has expired.
    Retired,
}

impl KeyState {
    /// The state's name, as `keys list` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retired => "retired",
        }
    }
}

/// A state as stored (`signing_keys.state`): anything else is no key of ours.
impl TryFrom<String> for KeyState {
    type Error = Error;
    fn try_from(stored: String) -> Result<Self> {
        match stored.as_str() {
            "next" => Ok(Self::Next),
            "current" => Ok(Self::Current),
            "retired" => Ok(Self::Retired),
            other => Err(Error::Internal(format!("unknown key state {other:?}"))),
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
