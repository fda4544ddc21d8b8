//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA-1, 6 digits, 30-second
//! steps, one step of drift each way; the `otpauth://` URI authenticator apps read, and its QR
//! code as SVG.
//!
//! HMAC-SHA-1 is ring's (already the engine's cryptography); this module only counts steps and
//! truncates, and is tested against the RFC's own vectors.

use std::fmt;

use data_encoding::BASE32_NOPAD;
use rand_core::{OsRng, RngCore};
use ring::hmac;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Seconds per time step.
pub(crate) const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub(crate) const DIGITS: u32 = 6;
/// Bytes of a new secret: 160 bits, the length RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// The issuer authenticator apps show above the account.
pub(crate) const ISSUER: &str = "Adam";

/// A TOTP shared secret. Its `Debug` never shows it; its memory is wiped when dropped.
#[derive(Clone)]
pub(crate) struct TotpSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A new secret from the operating system's random source.
    pub(crate) fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_BYTES]);
        OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A secret from its bytes (as opened from storage).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// The raw bytes, to seal for storage.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as people type it into an authenticator app: RFC 4648 base32, no padding.
    pub(crate) fn base32(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE32_NOPAD.encode(&self.0))
    }

    /// The code for time step `step` with `digits` digits (RFC 4226 §5.3).
    fn code_at(&self, step: u64, digits: u32) -> u32 {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let mac = tag.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([
            mac[offset],
            mac[offset + 1],
            mac[offset + 2],
            mac[offset + 3],
        ]) & 0x7fff_ffff;
        binary % 10u32.pow(digits)
    }

    /// The time step `code` (six ASCII digits) is right for, at `unix_seconds` with one step of
    /// drift each way, or `None`. Every candidate step is computed and compared in constant time,
    /// so the answer's timing says nothing about which step matched or how close a guess was.
    pub(crate) fn matching_step(&self, code: &str, unix_seconds: i64) -> Option<i64> {
        let typed = parse_code(code)?;
        let now = unix_seconds.div_euclid(STEP_SECONDS);
        let mut found = None;
        for step in [now - 1, now, now + 1] {
            let Ok(counter) = u64::try_from(step) else {
                continue;
            };
            let expected = format!("{:06}", self.code_at(counter, DIGITS));
            if crate::hashing::constant_time_eq(expected.as_bytes(), typed.as_bytes()) {
                found = Some(step);
            }
        }
        found
    }

    /// The current code (for tests and examples that act as an authenticator app).
    #[cfg(test)]
    pub(crate) fn code_now(&self, unix_seconds: i64) -> String {
        let step = u64::try_from(unix_seconds.div_euclid(STEP_SECONDS)).unwrap_or(0);
        format!("{:06}", self.code_at(step, DIGITS))
    }
}

/// The code as six ASCII digits, or `None` for anything else.
fn parse_code(code: &str) -> Option<&str> {
    (code.len() == DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// Whether `code` has the shape of a TOTP code (six digits) rather than a recovery code.
pub(crate) fn looks_like_totp(code: &str) -> bool {
    parse_code(code.trim()).is_some()
}

/// The `otpauth://totp/…` URI of `secret` for `account` (Key Uri Format: issuer, SHA1, 6
/// digits, 30 s, all stated so that every app reads them alike).
pub(crate) fn otpauth_uri(secret: &TotpSecret, account: &str) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        issuer = percent_encode(ISSUER),
        account = percent_encode(account),
        secret = secret.base32().as_str(),
    ))
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The QR code of `uri` as a standalone SVG document.
pub(crate) fn qr_svg(uri: &str) -> Result<String> {
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| Error::Internal(format!("QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows: the key is the ASCII "12345678901234567890" and the codes
    /// have eight digits.
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890");
        for (time, code) in [
            (59_u64, 94_287_082_u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(secret.code_at(time / 30, 8), code, "T = {time}");
            // Six digits are the last six of eight.
            assert_eq!(secret.code_at(time / 30, 6), code % 1_000_000, "T = {time}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_one_step_of_drift_only() {
        let secret = TotpSecret::generate();
        let t = 1_700_000_000;
        let code = secret.code_now(t);
        assert_eq!(secret.matching_step(&code, t), Some(t / 30));
        assert_eq!(secret.matching_step(&code, t + 30), Some(t / 30));
        assert_eq!(secret.matching_step(&code, t - 30), Some(t / 30));
        assert_eq!(secret.matching_step(&code, t + 60), None);
        assert_eq!(secret.matching_step(&code, t - 60), None);
        assert_eq!(secret.matching_step("12345", t), None);
        assert_eq!(secret.matching_step("abcdef", t), None);
        assert_eq!(secret.matching_step(&format!("{code} "), t), None);
    }

    #[test]
    fn the_uri_states_every_parameter_and_encodes_the_account() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890");
        let uri = otpauth_uri(&secret, "ana+fi@premiumauto.com");
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/Adam:ana%2Bfi%40premiumauto.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Adam&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
        assert!(!format!("{secret:?}").contains("GEZ"));
    }
}
