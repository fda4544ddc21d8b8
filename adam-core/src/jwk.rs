//! Public signing keys as JSON Web Keys (RFC 7517, RFC 7518 §6.3, RFC 8037): what
//! `/.well-known/jwks.json` publishes and what an offline verifier reads.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde::de::Deserializer;
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Length of an Ed25519 public key, in bytes.
pub const ED25519_PUBLIC_KEY_LEN: usize = 32;

/// The shortest RSA modulus Adam publishes or reads, in bytes (2048 bits).
pub const RSA_MIN_MODULUS_LEN: usize = 256;

/// The longest RSA modulus read from a key set, in bytes (8192 bits).
const RSA_MAX_MODULUS_LEN: usize = 1024;

/// The public key a [`Jwk`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// An Ed25519 key (`kty: OKP`, `crv: Ed25519`, `alg: EdDSA`): it signs access tokens and
    /// the ID tokens of most clients.
    Ed25519([u8; ED25519_PUBLIC_KEY_LEN]),
    /// An RSA key (`kty: RSA`, `alg: RS256`): it signs only the ID tokens of clients registered
    /// for RS256, never an access token.
    Rsa {
        /// The modulus, big-endian, without leading zeros.
        n: Vec<u8>,
        /// The public exponent, big-endian, without leading zeros.
        e: Vec<u8>,
    },
}

/// The public half of a signing key, with its key id.
///
/// It can only hold a public key: it serializes as `{kty: "OKP", crv: "Ed25519", x, kid, alg:
/// "EdDSA", use: "sig"}` or `{kty: "RSA", n, e, kid, alg: "RS256", use: "sig"}` and never has a
/// private member.
///
/// ```
/// use adam_core::jwk::Jwk;
/// // RFC 8037, appendix A.2: the public key and, A.3, its thumbprint.
/// let jwk: Jwk = serde_json::from_str(
///     r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k"}"#,
/// ).unwrap();
/// let key = jwk.ed25519().unwrap();
/// assert_eq!(Jwk::thumbprint_of(key), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Jwk {
    kid: String,
    key: PublicKey,
}

impl Jwk {
    /// The Ed25519 key `public_key` named by its RFC 7638 thumbprint.
    pub fn new(public_key: [u8; ED25519_PUBLIC_KEY_LEN]) -> Self {
        Self {
            kid: Self::thumbprint_of(&public_key),
            key: PublicKey::Ed25519(public_key),
        }
    }

    /// The RSA key of modulus `n` and exponent `e` (big-endian) named by its RFC 7638
    /// thumbprint.
    pub fn rsa(n: &[u8], e: &[u8]) -> Self {
        let strip = |b: &[u8]| {
            let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            b[first..].to_vec()
        };
        let (n, e) = (strip(n), strip(e));
        // The required members in lexicographic order, no white space (RFC 7638 §3.2).
        let canonical = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            B64.encode(&e),
            B64.encode(&n)
        );
        Self {
            kid: B64.encode(Sha256::digest(canonical.as_bytes())),
            key: PublicKey::Rsa { n, e },
        }
    }

    /// The RFC 7638 thumbprint (SHA-256, base64url) of an Ed25519 public key: Adam's `kid`.
    pub fn thumbprint_of(public_key: &[u8; ED25519_PUBLIC_KEY_LEN]) -> String {
        // The required members in lexicographic order, no white space (RFC 7638 §3).
        let canonical = format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            B64.encode(public_key)
        );
        B64.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The JOSE algorithm the key signs with: `EdDSA` or `RS256`.
    pub fn alg(&self) -> &'static str {
        match self.key {
            PublicKey::Ed25519(_) => "EdDSA",
            PublicKey::Rsa { .. } => "RS256",
        }
    }

    /// The raw Ed25519 public key, if this is one.
    pub fn ed25519(&self) -> Option<&[u8; ED25519_PUBLIC_KEY_LEN]> {
        match &self.key {
            PublicKey::Ed25519(x) => Some(x),
            PublicKey::Rsa { .. } => None,
        }
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jwk({}, kid={})", self.alg(), self.kid)
    }
}

impl Serialize for Jwk {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Jwk", 6)?;
        match &self.key {
            PublicKey::Ed25519(x) => {
                st.serialize_field("kty", "OKP")?;
                st.serialize_field("crv", "Ed25519")?;
                st.serialize_field("x", &B64.encode(x))?;
            }
            PublicKey::Rsa { n, e } => {
                st.serialize_field("kty", "RSA")?;
                st.serialize_field("n", &B64.encode(n))?;
                st.serialize_field("e", &B64.encode(e))?;
            }
        }
        st.serialize_field("kid", &self.kid)?;
        st.serialize_field("alg", self.alg())?;
        st.serialize_field("use", "sig")?;
        st.end()
    }
}

/// A JWK as found in a key set, any type, before we decide whether it is ours to use.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    /// A private member: such a key is refused outright.
    #[serde(default)]
    d: Option<serde::de::IgnoredAny>,
}

impl RawJwk {
    /// The Ed25519 or RSA signature key this is, if it is one.
    fn signature_key(self) -> Option<Jwk> {
        let for_signing = self.use_.as_deref().is_none_or(|u| u == "sig") && self.d.is_none();
        let kid = self.kid.filter(|k| !k.is_empty() && k.len() <= 128)?;
        let key = match self.kty.as_str() {
            "OKP"
                if self.crv.as_deref() == Some("Ed25519")
                    && self.alg.as_deref().is_none_or(|a| a == "EdDSA") =>
            {
                PublicKey::Ed25519(B64.decode(self.x?).ok()?.try_into().ok()?)
            }
            "RSA" if self.alg.as_deref().is_none_or(|a| a == "RS256") => {
                let n = B64.decode(self.n?).ok()?;
                let e = B64.decode(self.e?).ok()?;
                let sized = (RSA_MIN_MODULUS_LEN..=RSA_MAX_MODULUS_LEN).contains(&n.len())
                    && n.first() != Some(&0)
                    && (1..=8).contains(&e.len());
                if !sized {
                    return None;
                }
                PublicKey::Rsa { n, e }
            }
            _ => return None,
        };
        for_signing.then_some(Jwk { kid, key })
    }
}

impl<'de> Deserialize<'de> for Jwk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawJwk::deserialize(d)?.signature_key().ok_or_else(|| {
            serde::de::Error::custom(
                "not an Ed25519 or RSA signature key with a kid and no private part",
            )
        })
    }
}

/// A JSON Web Key Set: `{keys: [...]}`.
///
/// Reading one keeps only the Ed25519 and RSA signature keys (an issuer may publish others for
/// other uses); writing one writes those. Access tokens are verified with the Ed25519 keys only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// The key named `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

impl<'de> Deserialize<'de> for JwkSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            keys: Vec<serde_json::Value>,
        }
        let raw = Raw::deserialize(d)?;
        let keys = raw
            .keys
            .into_iter()
            .filter_map(|v| serde_json::from_value::<RawJwk>(v).ok()?.signature_key())
            .collect();
        Ok(Self { keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwk_round_trips_without_private_members() {
        let jwk = Jwk::new([7; 32]);
        let v = serde_json::to_value(&jwk).unwrap();
        assert_eq!(v["kty"], "OKP");
        assert_eq!(v["crv"], "Ed25519");
        assert_eq!(v["alg"], "EdDSA");
        assert_eq!(v["use"], "sig");
        assert_eq!(v["kid"], jwk.kid());
        assert_eq!(v.as_object().unwrap().len(), 6);
        assert_eq!(serde_json::from_value::<Jwk>(v).unwrap(), jwk);
    }

    #[test]
    fn an_rsa_jwk_round_trips_and_is_named_by_its_thumbprint() {
        // RFC 7638 §3.1: the example key and its thumbprint.
        let n = B64.decode("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw").unwrap();
        let jwk = Jwk::rsa(&n, &[1, 0, 1]);
        assert_eq!(jwk.kid(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(jwk.alg(), "RS256");
        assert_eq!(jwk.ed25519(), None);
        let v = serde_json::to_value(&jwk).unwrap();
        assert_eq!(v["kty"], "RSA");
        assert_eq!(v["e"], "AQAB");
        assert_eq!(v["use"], "sig");
        assert_eq!(v.as_object().unwrap().len(), 6);
        assert_eq!(serde_json::from_value::<Jwk>(v).unwrap(), jwk);
        // Leading zeros are not part of the key (RFC 7518 §6.3.1.1).
        assert_eq!(Jwk::rsa(&[&[0][..], &n].concat(), &[0, 1, 0, 1]), jwk);
    }

    #[test]
    fn a_set_keeps_only_signature_keys() {
        let big = B64.encode([7u8; 256]);
        let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "short-rsa"},
            {"kty": "RSA", "n": big, "e": "AQAB", "kid": "rsa-enc", "use": "enc"},
            {"kty": "RSA", "n": big, "e": "AQAB", "kid": "rsa-priv", "d": "AQAB"},
            {"kty": "RSA", "n": big, "e": "AQAB", "kid": "rsa-ps", "alg": "PS256"},
            {"kty": "RSA", "n": big, "e": "AQAB", "kid": "rsa", "alg": "RS256"},
            {"kty": "OKP", "crv": "X25519", "x": B64.encode([1u8; 32]), "kid": "ecdh"},
            {"kty": "OKP", "crv": "Ed25519", "x": B64.encode([1u8; 32]), "kid": "enc", "use": "enc"},
            {"kty": "OKP", "crv": "Ed25519", "x": B64.encode([1u8; 32]), "kid": "priv", "d": "AA"},
            {"kty": "OKP", "crv": "Ed25519", "x": B64.encode([1u8; 31]), "kid": "short"},
            {"kty": "OKP", "crv": "Ed25519", "x": B64.encode([1u8; 32])},
            {"kty": "OKP", "crv": "Ed25519", "x": B64.encode([2u8; 32]), "kid": "good", "alg": "EdDSA"},
        ]}))
        .unwrap();
        assert_eq!(set.keys.len(), 2);
        assert!(set.find("good").is_some_and(|k| k.ed25519().is_some()));
        assert!(set.find("rsa").is_some_and(|k| k.alg() == "RS256"));
    }
}
