//! Refresh tokens: opaque, random, and known to the database only by their hash.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// Prefix of every refresh token, so secret scanners and people can recognise one.
pub const REFRESH_TOKEN_PREFIX: &str = "adam_rt_";

/// A freshly minted refresh token: 256 random bits. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// Draws a new token from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(format!(
            "{REFRESH_TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// The token to hand to the client, once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest stored in the database.
    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of(&self.0)
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// SHA-256 of a refresh token as presented. The token has 256 bits of entropy, so a fast hash
/// is enough: nothing can be guessed from the digest.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenDigest(pub(crate) Vec<u8>);

impl TokenDigest {
    /// The digest of whatever a client presented.
    pub fn of(presented: &str) -> Self {
        Self(Sha256::digest(presented.as_bytes()).to_vec())
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenDigest(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let a = RefreshToken::generate();
        let b = RefreshToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with(REFRESH_TOKEN_PREFIX));
        assert_eq!(a.expose().len(), REFRESH_TOKEN_PREFIX.len() + 43);
        assert_eq!(a.digest(), TokenDigest::of(a.expose()));
        assert_ne!(a.digest(), b.digest());
        assert!(!format!("{a:?}").contains(&a.expose()[8..]));
    }
}
