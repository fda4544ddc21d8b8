//! Recovery codes: ten single-use codes of 12 Crockford base32 characters (60 bits), shown once
//! as `XXXX-XXXX-XXXX`, typed in any case with or without dashes.
//!
//! Stored per OWASP ASVS 5.0 6.5.2 (under 112 bits: argon2id with a salt). Each stored code keeps
//! its first four characters in clear as a lookup prefix, so that a typed code is checked
//! against the one hash it can match instead of all ten.

use std::fmt;

use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// How many codes a user gets at a time.
pub(crate) const COUNT: usize = 10;
/// Characters of a code, without dashes.
const LEN: usize = 12;
/// Characters of the public lookup prefix.
const LOOKUP_LEN: usize = 4;
/// Crockford's base32 alphabet: no I, L, O or U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A recovery code, normalised (12 upper-case characters of the alphabet). Its `Debug` never
/// shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RecoveryCode(Zeroizing<String>);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

impl RecoveryCode {
    /// A new code from the operating system's random source.
    pub(crate) fn generate() -> Self {
        let bits = OsRng.next_u64();
        let code: String = (0..LEN)
            .map(|i| char::from(ALPHABET[((bits >> (5 * i)) & 31) as usize]))
            .collect();
        Self(Zeroizing::new(code))
    }

    /// A typed code, normalised the Crockford way (case ignored; dashes and spaces dropped; I and
    /// L read as 1, O as 0), or `None` when it cannot be a recovery code.
    pub(crate) fn parse(typed: &str) -> Option<Self> {
        let mut code = Zeroizing::new(String::with_capacity(LEN));
        for c in typed.chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' => continue,
                'I' | 'L' => '1',
                'O' => '0',
                c => c,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || code.len() == LEN {
                return None;
            }
            code.push(c);
        }
        (code.len() == LEN).then_some(Self(code))
    }

    /// The normalised code, as hashed.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The code as shown to the user: `XXXX-XXXX-XXXX`.
    pub(crate) fn display(&self) -> String {
        format!("{}-{}-{}", &self.0[..4], &self.0[4..8], &self.0[8..])
    }

    /// The public prefix its stored hash is found by.
    pub(crate) fn lookup(&self) -> &str {
        &self.0[..LOOKUP_LEN]
    }
}

/// One stored code: its lookup prefix and its argon2id PHC hash.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StoredCode {
    pub(crate) lookup: String,
    pub(crate) hash: String,
}

impl fmt::Debug for StoredCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoredCode(<redacted>)")
    }
}

/// The stored form of a user's unused codes: one `LOOKUP HASH` line each.
pub(crate) fn encode(codes: &[StoredCode]) -> String {
    codes
        .iter()
        .map(|c| format!("{} {}", c.lookup, c.hash))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The codes of a stored text; lines that are not a code are skipped.
pub(crate) fn decode(stored: &str) -> Vec<StoredCode> {
    stored
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(lookup, hash)| StoredCode {
            lookup: lookup.to_owned(),
            hash: hash.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_twelve_crockford_characters_shown_in_three_groups() {
        let code = RecoveryCode::generate();
        assert_eq!(code.expose().len(), 12);
        assert!(code.expose().bytes().all(|b| ALPHABET.contains(&b)));
        let shown = code.display();
        assert_eq!(shown.len(), 14);
        assert_eq!(shown.matches('-').count(), 2);
        assert_ne!(RecoveryCode::generate(), code);
        assert!(!format!("{code:?}").contains(code.expose()));
    }

    #[test]
    fn typed_codes_ignore_case_and_dashes() {
        let code = RecoveryCode::parse("ABCD-EFGH-JKMN").unwrap();
        assert_eq!(code.expose(), "ABCDEFGHJKMN");
        assert_eq!(RecoveryCode::parse("abcdefghjkmn"), Some(code.clone()));
        assert_eq!(RecoveryCode::parse(" abcd efgh-jkmn "), Some(code.clone()));
        assert_eq!(
            RecoveryCode::parse("0O1I-L000-0000").unwrap().expose(),
            "001110000000"
        );
        assert_eq!(code.lookup(), "ABCD");
        for bad in [
            "",
            "ABCD-EFGH-JKM",
            "ABCD-EFGH-JKMNP",
            "ABCD-EFGH-JKMU",
            "ÄBCD-EFGH-JKMN",
        ] {
            assert_eq!(RecoveryCode::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn stored_codes_round_trip() {
        let codes = vec![
            StoredCode {
                lookup: "ABCD".into(),
                hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".into(),
            },
            StoredCode {
                lookup: "WXYZ".into(),
                hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$b3RoZXI".into(),
            },
        ];
        assert_eq!(decode(&encode(&codes)), codes);
        assert!(decode("").is_empty());
    }
}
