//! The states and algorithms of a signing key: leaf types, shared by the key ring, its storage
//! (which decodes them where it reads a row) and the clients registered for an algorithm.

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

/// What a signing key signs with. Access tokens are always EdDSA; a client's ID tokens are what
/// it registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum SigningAlg {
    /// Ed25519 (RFC 8037): Adam's own keys, the only ones that sign access tokens.
    #[default]
    EdDSA,
    /// RSA PKCS#1 v1.5 with SHA-256 (2048-bit keys), for clients that accept nothing else
    /// (OpenID Connect Core §15.1). Made when the first client registered for it needs one.
    RS256,
}

impl SigningAlg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::RS256 => "RS256",
        }
    }

    /// The algorithm a JOSE name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "EdDSA" => Some(Self::EdDSA),
            "RS256" => Some(Self::RS256),
            _ => None,
        }
    }
}

/// An algorithm as stored (`signing_keys.alg`).
impl TryFrom<String> for SigningAlg {
    type Error = Error;
    fn try_from(stored: String) -> Result<Self> {
        Self::parse(&stored).ok_or_else(|| Error::Internal(format!("unknown key alg {stored:?}")))
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
