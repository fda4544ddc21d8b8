//! The tokens of the links Adam mails: an invitation (`/invite/{token}`) and a password reset
//! (`/reset/{token}`). Each is 256 random bits behind a prefix that says what it is; the
//! database keeps only its SHA-256 ([`crate::refresh::TokenDigest`]).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::{OsRng, RngCore};

use crate::sessions::refresh::TokenDigest;

/// Prefix of an invitation link's token.
pub const INVITATION_PREFIX: &str = "adam_inv_";
/// Prefix of a password-reset link's token.
pub const PASSWORD_RESET_PREFIX: &str = "adam_rst_";
/// Longest token text looked up (ours are 52 characters).
pub(crate) const MAX_LINK_TOKEN_LEN: usize = 128;

/// A link's bearer token: shown once (in the mail, or to the inviter when no mail is sent),
/// never logged. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

impl LinkToken {
    /// A new token with `prefix`.
    pub(crate) fn generate(prefix: &str) -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A token as stored in a sealed mail.
    pub(crate) fn from_sealed(text: String) -> Self {
        Self(text)
    }

    /// The token, for the link.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database keeps of it.
    pub(crate) fn digest(&self) -> TokenDigest {
        TokenDigest::of(&self.0)
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkToken(<redacted>)")
    }
}

/// The digest of a presented link token, or `None` when it cannot be one of ours.
pub(crate) fn presented(token: &str, prefix: &str) -> Option<TokenDigest> {
    (token.starts_with(prefix) && token.len() <= MAX_LINK_TOKEN_LEN && !token.contains('\0'))
        .then(|| TokenDigest::of(token))
}

/// Why a link cannot be used; the page that opened it says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    /// No such link (mistyped, or never issued).
    Unknown,
    /// Its time ran out.
    Expired,
    /// It was used already.
    Spent,
    /// It was revoked, or a newer link replaced it.
    Revoked,
}

impl LinkProblem {
    /// The problem in a few words, fit for a page.
    pub fn says(self) -> &'static str {
        match self {
            Self::Unknown => "This link is not valid.",
            Self::Expired => "This link has expired.",
            Self::Spent => "This link has been used already.",
            Self::Revoked => "This link was withdrawn or replaced by a newer one.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_are_long_random_prefixed_and_hidden() {
        let a = LinkToken::generate(INVITATION_PREFIX);
        let b = LinkToken::generate(INVITATION_PREFIX);
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), INVITATION_PREFIX.len() + 43);
        assert!(!format!("{a:?}").contains(&a.expose()[9..]));
        assert_eq!(presented(a.expose(), INVITATION_PREFIX), Some(a.digest()));
        assert_eq!(presented(a.expose(), PASSWORD_RESET_PREFIX), None);
        assert_eq!(presented("adam_inv_\0", INVITATION_PREFIX), None);
    }
}
