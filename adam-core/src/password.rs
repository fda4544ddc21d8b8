//! The password policy and `Password`, a candidate that has already passed it.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use crate::error::Error;

/// Thirty thousand passwords most often seen in breaches, lower-case, one per line.
/// Source: the frequency list of the `zxcvbn` crate (MIT), see `data/README.md`.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().filter(|l| !l.is_empty()).collect())
}

/// The rules a new or changed password must meet (NIST SP 800-63B): a length range counted in
/// characters, no composition rules, and not a commonly used password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    min_len: usize,
}

impl PasswordPolicy {
    /// The contract's floor: no configuration may go below it.
    pub const MIN_LEN_FLOOR: usize = 8;
    /// The longest password accepted.
    pub const MAX_LEN: usize = 128;

    /// A policy with the given minimum length, which must lie in `8..=128`.
    pub fn new(min_len: usize) -> Result<Self, Error> {
        if !(Self::MIN_LEN_FLOOR..=Self::MAX_LEN).contains(&min_len) {
            return Err(Error::Config(format!(
                "PASSWORD_MIN_LENGTH must be between {} and {}",
                Self::MIN_LEN_FLOOR,
                Self::MAX_LEN
            )));
        }
        Ok(Self { min_len })
    }

    /// The minimum length in characters.
    pub fn min_len(&self) -> usize {
        self.min_len
    }

    /// Checks `raw` exactly as typed (no trimming, no case folding) and wraps it in a [`Password`].
    ///
    /// The common-password list is compared case-insensitively, since `Password1` is as guessable
    /// as `password1`.
    ///
    /// ```
    /// use adam_core::PasswordPolicy;
    /// let policy = PasswordPolicy::default();
    /// assert!(policy.check("correct horse battery staple".into()).is_ok());
    /// assert!(policy.check("short".into()).is_err());
    /// assert!(policy.check("password123".into()).is_err());
    /// ```
    pub fn check(&self, raw: String) -> Result<Password, Error> {
        self.check_field("password", raw)
    }

    /// Like [`check`](Self::check), naming `field` in the error.
    pub fn check_field(&self, field: &'static str, raw: String) -> Result<Password, Error> {
        let chars = raw.chars().count();
        if chars < self.min_len {
            return Err(Error::invalid(
                field,
                format!("must be at least {} characters long", self.min_len),
            ));
        }
        if chars > Self::MAX_LEN {
            return Err(Error::invalid(
                field,
                format!("must be at most {} characters long", Self::MAX_LEN),
            ));
        }
        if raw.chars().any(|c| c == '\0') {
            return Err(Error::invalid(field, "must not contain NUL characters"));
        }
        if common_passwords().contains(raw.to_lowercase().as_str()) {
            return Err(Error::invalid(
                field,
                "is too common; choose one that is harder to guess",
            ));
        }
        Ok(Password(raw))
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_len: Self::MIN_LEN_FLOOR,
        }
    }
}

/// A password that meets the [`PasswordPolicy`]. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// The password as typed, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_shipped_and_large() {
        assert!(common_passwords().len() >= 10_000);
        assert!(common_passwords().contains("password"));
    }

    #[test]
    fn length_is_counted_in_characters_and_bounded() {
        let p = PasswordPolicy::default();
        assert!(p.check("Zq9!xw2".into()).is_err(), "7 chars");
        assert!(p.check("Zq9!xw2#".into()).is_ok(), "8 chars");
        // Eight characters, sixteen bytes: long enough.
        assert!(p.check("ßßßßßßßß".into()).is_ok());
        assert!(p.check("a".repeat(128)).is_ok());
        assert!(p.check("a".repeat(129)).is_err());
    }

    #[test]
    fn no_composition_rules_and_no_trimming() {
        let p = PasswordPolicy::default();
        assert!(p.check("all lower case words".into()).is_ok());
        let pw = p.check("  spaced out  ".into()).unwrap();
        assert_eq!(pw.expose(), "  spaced out  ");
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        let p = PasswordPolicy::default();
        for common in [
            "password1",
            "Password1",
            "QWERTY123",
            "iloveyou",
            "12345678",
        ] {
            let err = p.check(common.into()).expect_err(common);
            assert!(matches!(
                err,
                Error::Invalid {
                    field: "password",
                    ..
                }
            ));
        }
    }

    #[test]
    fn configured_minimum_applies_and_has_a_floor() {
        let p = PasswordPolicy::new(15).unwrap();
        assert!(p.check("fourteen chars".into()).is_err());
        assert!(p.check("fifteen chars!!".into()).is_ok());
        assert!(PasswordPolicy::new(7).is_err());
        assert!(PasswordPolicy::new(129).is_err());
    }

    #[test]
    fn debug_never_prints_the_value() {
        let pw = PasswordPolicy::default()
            .check("sup3r-secret-value".into())
            .unwrap();
        assert!(!format!("{pw:?}").contains("secret"));
    }
}
