//! `SECRET_KEY` and what is sealed with it: the one key-encryption piece of Adam.
//!
//! Nothing secret is stored in the clear. The private halves of the signing keys (and, with the
//! second factor, TOTP secrets) are sealed with ChaCha20-Poly1305 under a key derived from
//! `SECRET_KEY` by HKDF-SHA256, one derived key per purpose, with the row's id as associated
//! data so a sealed value cannot be moved to another row. A copy of the database alone opens
//! nothing. Both primitives come from `ring`, which the TLS stack already links.
//!
//! After `SECRET_KEY` changes, the former one ([`SecretKey::with_previous`]) still opens what
//! it sealed, and whatever it opens is sealed again under the new one.

use std::fmt;
use std::sync::Arc;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Shortest `SECRET_KEY` accepted unless the embedder opts out (for local development only).
pub const MIN_SECRET_LEN: usize = 32;

/// The key material everything at rest is sealed with (`SECRET_KEY`), and optionally the former
/// one (`SECRET_KEY_PREVIOUS`). Its `Debug` output never shows the bytes.
///
/// ```
/// use adam_core::SecretKey;
/// let key = SecretKey::new(b"a secret of at least thirty-two bytes..").unwrap();
/// assert!(SecretKey::new(b"short").is_err());
/// assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
/// ```
#[derive(Clone)]
pub struct SecretKey {
    current: Arc<Zeroizing<Vec<u8>>>,
    previous: Option<Arc<Zeroizing<Vec<u8>>>>,
}

impl SecretKey {
    /// A key of at least [`MIN_SECRET_LEN`] bytes.
    pub fn new(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(Error::Config(format!(
                "SECRET_KEY must be at least {MIN_SECRET_LEN} bytes"
            )));
        }
        Ok(Self::unchecked(bytes))
    }

    /// A key of any non-empty length. Meant for `DEBUG` set-ups only.
    pub fn allow_short(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::Config("SECRET_KEY must not be empty".into()));
        }
        Ok(Self::unchecked(bytes))
    }

    fn unchecked(bytes: &[u8]) -> Self {
        Self {
            current: Arc::new(Zeroizing::new(bytes.to_vec())),
            previous: None,
        }
    }

    /// The same key, also able to open what `previous` (the former `SECRET_KEY`) sealed; such
    /// values are sealed again under this key when the engine meets them.
    #[must_use]
    pub fn with_previous(self, previous: SecretKey) -> Self {
        Self {
            current: self.current,
            previous: Some(previous.current),
        }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// What a sealed value is, so that a value sealed for one purpose never opens as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// The private half of a token signing key.
    SigningKey,
    /// A user's TOTP secret.
    TotpSecret,
    /// What a mail waiting in the outbox says (its link among it).
    Mail,
}

impl Purpose {
    fn info(self) -> &'static [u8] {
        match self {
            Self::SigningKey => b"adam/v1/signing-key",
            Self::TotpSecret => b"adam/v1/totp-secret",
            Self::Mail => b"adam/v1/mail",
        }
    }
}

/// The first byte of every sealed value: the format, so it can change later.
const FORMAT_V1: u8 = 1;

/// Seals and opens values of one [`Purpose`].
pub(crate) struct Sealer {
    current: LessSafeKey,
    previous: Option<LessSafeKey>,
    random: SystemRandom,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("previous", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

/// Which key opened a sealed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SealedBy {
    /// The current `SECRET_KEY`.
    Current,
    /// Only the former one: the value should be sealed again.
    Previous,
}

/// A value opened by [`Sealer::open`].
pub(crate) struct Opened {
    /// The plaintext, wiped from memory when dropped.
    pub(crate) plaintext: Zeroizing<Vec<u8>>,
    /// Which key opened it.
    pub(crate) by: SealedBy,
}

fn derive(secret: &[u8], purpose: Purpose) -> LessSafeKey {
    struct Len;
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            CHACHA20_POLY1305.key_len()
        }
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"adam key encryption").extract(secret);
    let info = [purpose.info()];
    let mut key = Zeroizing::new([0u8; 32]);
    // Expanding 32 bytes from SHA-256 cannot fail (the limit is 255 blocks).
    #[allow(clippy::expect_used)]
    prk.expand(&info, Len)
        .and_then(|okm| okm.fill(&mut key[..]))
        .expect("HKDF-SHA256 expands 32 bytes");
    #[allow(clippy::expect_used)]
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key[..]).expect("a 32-byte key");
    LessSafeKey::new(unbound)
}

impl Sealer {
    /// The sealer of `purpose` under `secret`.
    pub(crate) fn new(secret: &SecretKey, purpose: Purpose) -> Self {
        Self {
            current: derive(&secret.current, purpose),
            previous: secret.previous.as_ref().map(|p| derive(p, purpose)),
            random: SystemRandom::new(),
        }
    }

    /// Seals `plaintext`, bound to `row` (the id of the row that stores it).
    pub(crate) fn seal(&self, plaintext: &[u8], row: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| Error::Internal("no randomness for a nonce".into()))?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
        sealed.push(FORMAT_V1);
        sealed.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.current
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(row),
                &mut body,
            )
            .map_err(|_| Error::Internal("sealing failed".into()))?;
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    /// Opens what [`Sealer::seal`] sealed for `row`, with the current key or else the former
    /// one. `None` when neither opens it (another `SECRET_KEY`, or a changed value).
    pub(crate) fn open(&self, sealed: &[u8], row: &[u8]) -> Option<Opened> {
        let (&format, rest) = sealed.split_first()?;
        if format != FORMAT_V1 || rest.len() < NONCE_LEN + aead::MAX_TAG_LEN {
            return None;
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let try_key = |key: &LessSafeKey| {
            let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
            let mut buf = Zeroizing::new(body.to_vec());
            let len = key
                .open_in_place(nonce, Aad::from(row), &mut buf[..])
                .ok()?
                .len();
            buf.truncate(len);
            Some(buf)
        };
        if let Some(plaintext) = try_key(&self.current) {
            return Some(Opened {
                plaintext,
                by: SealedBy::Current,
            });
        }
        let plaintext = try_key(self.previous.as_ref()?)?;
        Some(Opened {
            plaintext,
            by: SealedBy::Previous,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SecretKey {
        SecretKey::new(s.as_bytes()).unwrap()
    }

    const A: &str = "the first secret key, thirty-two bytes or more";
    const B: &str = "the second secret key, thirty-two bytes or more";

    #[test]
    fn sealed_values_open_only_with_their_key_row_and_purpose() {
        let s = Sealer::new(&key(A), Purpose::SigningKey);
        let sealed = s.seal(b"private", b"row-1").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"private"));
        let opened = s.open(&sealed, b"row-1").unwrap();
        assert_eq!(&opened.plaintext[..], b"private");
        assert_eq!(opened.by, SealedBy::Current);
        assert!(s.open(&sealed, b"row-2").is_none(), "bound to its row");
        let other_purpose = Sealer::new(&key(A), Purpose::TotpSecret);
        assert!(other_purpose.open(&sealed, b"row-1").is_none());
        let other_key = Sealer::new(&key(B), Purpose::SigningKey);
        assert!(other_key.open(&sealed, b"row-1").is_none());
        let mut changed = sealed.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert!(s.open(&changed, b"row-1").is_none());
        assert!(s.open(&[], b"row-1").is_none());
        assert!(s.open(&sealed[..10], b"row-1").is_none());
    }

    #[test]
    fn the_former_key_still_opens_and_says_so() {
        let old = Sealer::new(&key(A), Purpose::SigningKey);
        let sealed = old.seal(b"private", b"row").unwrap();
        let new = Sealer::new(&key(B).with_previous(key(A)), Purpose::SigningKey);
        let opened = new.open(&sealed, b"row").unwrap();
        assert_eq!(&opened.plaintext[..], b"private");
        assert_eq!(opened.by, SealedBy::Previous);
        let resealed = new.seal(&opened.plaintext, b"row").unwrap();
        assert_eq!(new.open(&resealed, b"row").unwrap().by, SealedBy::Current);
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let s = Sealer::new(&key(A), Purpose::SigningKey);
        assert_ne!(s.seal(b"x", b"r").unwrap(), s.seal(b"x", b"r").unwrap());
    }

    #[test]
    fn short_keys_need_an_explicit_opt_out() {
        assert!(SecretKey::new(b"short").is_err());
        assert!(SecretKey::allow_short(b"short").is_ok());
        assert!(SecretKey::allow_short(b"").is_err());
    }
}
