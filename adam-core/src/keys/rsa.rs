//! RSA keys for the ID tokens of clients registered for RS256 (OpenID Connect Core §15.1), on
//! aws-lc-rs: it makes RSA keys and signs in constant time (the `rsa` crate does not,
//! RUSTSEC-2023-0071; ring signs but cannot make keys).
//!
//! Stored as the other keys are: the PKCS#8 private half sealed, the public half as its modulus
//! (`signing_keys.public_key`). aws-lc makes every key with the exponent 65537, which is
//! checked again whenever a private half is opened.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::jwk::Jwk;
use crate::tokens::{compact_jws, jws_header, NewKeyPair, ACCESS_TOKEN_TYPE};

/// The exponent of every RSA key Adam makes, big-endian.
pub(crate) const EXPONENT: [u8; 3] = [1, 0, 1];

/// A private RSA key that signs RS256 ID tokens, with its `kid`. Never an access token: those
/// are EdDSA only, and no verifier of Adam's takes an RSA key.
pub(crate) struct RsaSigner {
    kid: String,
    pair: KeyPair,
}

impl fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaSigner(kid={})", self.kid)
    }
}

/// The public key of `pair`: its modulus and exponent, big-endian.
fn public_parts(pair: &KeyPair) -> (Vec<u8>, Vec<u8>) {
    let public = pair.public_key();
    (
        public.modulus().big_endian_without_leading_zero().to_vec(),
        public.exponent().big_endian_without_leading_zero().to_vec(),
    )
}

impl RsaSigner {
    /// Makes a new 2048-bit key pair.
    pub(crate) fn generate() -> Result<NewKeyPair> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| Error::Internal("cannot generate an RSA key".into()))?;
        let der: Pkcs8V1Der<'static> = pair
            .as_der()
            .map_err(|_| Error::Internal("cannot encode an RSA key".into()))?;
        let (n, e) = public_parts(&pair);
        if e != EXPONENT {
            return Err(Error::Internal("RSA key with another exponent".into()));
        }
        Ok(NewKeyPair {
            pkcs8: Zeroizing::new(der.as_ref().to_vec()),
            jwk: Jwk::rsa(&n, &e),
            public: n,
        })
    }

    /// The signer of a stored private key (PKCS#8), checked against its stored modulus.
    pub(crate) fn from_pkcs8(kid: &str, pkcs8: &[u8], modulus: &[u8]) -> Result<Self> {
        let pair = KeyPair::from_pkcs8(pkcs8)
            .map_err(|_| Error::Internal(format!("signing key {kid} does not parse")))?;
        let (n, e) = public_parts(&pair);
        if n != modulus || e != EXPONENT {
            return Err(Error::Internal(format!(
                "signing key {kid}: private and public halves differ"
            )));
        }
        Ok(Self {
            kid: kid.to_owned(),
            pair,
        })
    }

    /// Signs `claims` as a JWT of type `typ` with RS256 (RSASSA-PKCS1-v1_5, SHA-256).
    pub(crate) fn sign_as(&self, typ: &str, claims: &impl Serialize) -> Result<String> {
        debug_assert_ne!(typ, ACCESS_TOKEN_TYPE);
        compact_jws(&jws_header("RS256", typ, &self.kid), claims, |input| {
            let mut signature = vec![0; self.pair.public_modulus_len()];
            self.pair
                .sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    input,
                    &mut signature,
                )
                .map_err(|_| Error::Internal("RSA signature failed".into()))?;
            Ok(signature)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    #[test]
    fn a_new_key_signs_what_its_published_half_verifies_and_nothing_else_does() {
        let pair = RsaSigner::generate().unwrap();
        let signer = RsaSigner::from_pkcs8(pair.jwk.kid(), &pair.pkcs8, &pair.public).unwrap();
        let token = signer
            .sign_as("JWT", &serde_json::json!({"sub": "s", "aud": "a"}))
            .unwrap();
        let v = serde_json::to_value(&pair.jwk).unwrap();
        let key =
            DecodingKey::from_rsa_components(v["n"].as_str().unwrap(), v["e"].as_str().unwrap())
                .unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_required_spec_claims::<&str>(&[]);
        validation.set_audience(&["a"]);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(pair.jwk.kid()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).is_ok());
        // Another key's modulus is not this key's public half.
        let other = RsaSigner::generate().unwrap();
        assert!(RsaSigner::from_pkcs8("x", &pair.pkcs8, &other.public).is_err());
        assert!(RsaSigner::from_pkcs8("x", b"not a key", &pair.public).is_err());
    }
}
