//! PKCE (RFC 7636) with `S256` only: `plain` would hand the challenge's reader the verifier.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Whether `challenge` can be an `S256` challenge: the base64url (no padding) of 32 bytes.
pub(crate) fn is_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && B64.decode(challenge).is_ok_and(|b| b.len() == 32)
}

/// Whether `verifier` (43 to 128 unreserved characters, RFC 7636 §4.1) hashes to `challenge`,
/// compared in constant time.
pub(crate) fn verifies(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed
        && crate::hashing::constant_time_eq(
            B64.encode(Sha256::digest(verifier.as_bytes())).as_bytes(),
            challenge.as_bytes(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed apart: `base64url(sha256(VERIFIER))` by Python's hashlib.
    const VERIFIER: &str = "adam-test-verifier-0123456789-abcdefghijklmnop";
    const CHALLENGE: &str = "6B-oA4XQpjE-52KlIS-fwgDdBjrPScw_JUOet5qmufw";

    #[test]
    fn a_matching_verifier_verifies() {
        assert!(is_challenge(CHALLENGE));
        assert!(verifies(VERIFIER, CHALLENGE));
    }

    #[test]
    fn plain_and_wrong_verifiers_do_not() {
        // `plain`: the verifier as its own challenge.
        assert!(!verifies(CHALLENGE, CHALLENGE));
        assert!(!verifies(&VERIFIER.replace('d', "e"), CHALLENGE));
        assert!(!verifies("short", CHALLENGE));
        assert!(!verifies(&format!("{VERIFIER}!"), CHALLENGE));
        assert!(!is_challenge(VERIFIER));
        assert!(!is_challenge(&"A".repeat(44)));
    }
}
