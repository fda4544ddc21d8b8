//! `Email`: an address that has already been trimmed, case-folded and checked.

use std::fmt;

use crate::error::Error;

/// A normalised email address: trimmed, lower-case ASCII, one `@`, a dotted domain.
///
/// Emails are case-insensitive and unique in Adam, so two spellings of one address parse to the
/// same `Email`. Only ASCII addresses are accepted: internationalised addresses are rare in this
/// market, and rejecting them rules out look-alike characters and locale-dependent case folding.
///
/// ```
/// use adam_core::Email;
/// let e = Email::parse("  Principal@PremiumAuto.com ").unwrap();
/// assert_eq!(e.as_str(), "principal@premiumauto.com");
/// assert!(Email::parse("not-an-email").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Longest accepted address (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    /// Parses and normalises `raw`, or says what is wrong with it as [`Error::Invalid`] on `email`.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        Self::checked(raw.trim().to_ascii_lowercase())
    }

    /// An address read back from storage: checked as [`Email::parse`] checks it, and kept
    /// without a copy when it is already normalised (as every stored address is), so that a page
    /// of users allocates once per address, not twice.
    pub(crate) fn from_stored(stored: String) -> Result<Self, Error> {
        let normalised =
            stored.trim().len() == stored.len() && !stored.bytes().any(|b| b.is_ascii_uppercase());
        if normalised {
            Self::checked(stored)
        } else {
            Self::parse(&stored)
        }
    }

    /// Checks `s`, already trimmed and with its ASCII letters lower-case.
    fn checked(s: String) -> Result<Self, Error> {
        let bad = |why: &'static str| Error::invalid("email", why);
        if s.is_empty() {
            return Err(bad("must not be empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(bad("is longer than 254 characters"));
        }
        if !s.is_ascii() {
            return Err(bad("must contain only ASCII characters"));
        }
        let (local, domain) = s.split_once('@').ok_or_else(|| bad("must contain an @"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(bad("must have 1 to 64 characters before the @"));
        }
        let local_ok = local.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'/'
                        | b'='
                        | b'?'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'{'
                        | b'|'
                        | b'}'
                        | b'~'
                        | b'.'
                        | b'-'
                )
        }) && !local.starts_with('.')
            && !local.ends_with('.')
            // Byte pairs, not `contains("..")`: a substring searcher costs more to set up than
            // an address is long (a page of users checks a hundred).
            && !local.as_bytes().windows(2).any(|pair| pair == b"..");
        if !local_ok {
            return Err(bad("has characters not allowed before the @"));
        }
        let label_ok = |l: &[u8]| {
            !l.is_empty()
                && l.len() <= 63
                && l.first() != Some(&b'-')
                && l.last() != Some(&b'-')
                && l.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        };
        let domain = domain.as_bytes();
        let domain_ok = domain.contains(&b'.') && domain.split(|b| *b == b'.').all(label_ok);
        if !domain_ok {
            return Err(bad("must have a domain such as example.com after the @"));
        }
        Ok(Self(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the `Email`, returning the normalised address.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_case_and_whitespace() {
        let e = Email::parse(" Admin@AvatarAdam.COM\n").unwrap();
        assert_eq!(e.as_str(), "admin@avataradam.com");
        assert_eq!(e, Email::parse("admin@avataradam.com").unwrap());
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "   ",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@b..com",
            "a@-b.com",
            ".a@b.com",
            "a..b@c.com",
            "jos\u{e9}@example.com",
            "x'; DROP TABLE users;--@a.com",
        ] {
            let err = Email::parse(bad).expect_err(bad);
            assert!(
                matches!(err, Error::Invalid { field: "email", .. }),
                "{bad}"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn the_local_part_takes_letters_digits_dots_and_the_atext_symbols_only() {
        // RFC 5322's `atext` symbols; every other printable character is refused.
        let allowed = "!#$%&'*+/=?^_`{|}~.-";
        for c in (0x21u8..0x7f).map(char::from) {
            let address = format!("a{c}b@example.com");
            let taken = c.is_ascii_alphanumeric() || allowed.contains(c);
            assert_eq!(Email::parse(&address).is_ok(), taken, "{address}");
        }
    }

    #[test]
    fn a_stored_address_reads_as_its_parse() {
        for stored in [
            "manager@premiumauto.com",
            " Manager@PremiumAuto.com",
            "plain",
            "a@b",
        ] {
            assert_eq!(
                Email::from_stored(stored.to_owned()).ok(),
                Email::parse(stored).ok(),
                "{stored}"
            );
        }
    }

    proptest! {
        #[test]
        fn a_stored_string_reads_as_its_parse(s in any::<String>()) {
            prop_assert_eq!(Email::from_stored(s.clone()).ok(), Email::parse(&s).ok());
        }

        #[test]
        fn never_panics_and_output_is_normalised(s in any::<String>()) {
            if let Ok(e) = Email::parse(&s) {
                prop_assert_eq!(e.as_str(), e.as_str().trim().to_ascii_lowercase());
                prop_assert!(e.as_str().len() <= Email::MAX_LEN);
                prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e);
            }
        }

        #[test]
        fn accepts_ordinary_addresses(local in "[a-z0-9]{1,20}", domain in "[a-z0-9]{1,20}") {
            let raw = format!("{local}@{domain}.com");
            let parsed = Email::parse(&raw).unwrap();
            prop_assert_eq!(parsed.as_str(), raw.as_str());
        }
    }
}
