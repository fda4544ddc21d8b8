//! Public signing keys as JSON Web Keys (RFC 7517, RFC 8037): what `/.well-known/jwks.json`
//! publishes and what an offline verifier reads.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde::de::Deserializer;
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Length of an Ed25519 public key, in bytes.
pub const ED25519_PUBLIC_KEY_LEN: usize = 32;

/// The public half of an Ed25519 signing key, with its key id.
///
/// It can only hold an Ed25519 public key: it serializes as `{kty: "OKP", crv: "Ed25519", x,
/// kid, alg: "EdDSA", use: "sig"}` and never has a private member.
///
/// ```
/// use adam_core::jwk::Jwk;
/// // RFC 8037, appendix A.2: the public key and, A.3, its thumbprint.
/// let jwk: Jwk = serde_json::from_str(
///     r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k"}"#,
/// ).unwrap();
/// assert_eq!(Jwk::thumbprint_of(jwk.public_key()), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Jwk {
    kid: String,
    x: [u8; ED25519_PUBLIC_KEY_LEN],
}

impl Jwk {
    /// The key `public_key` named by its RFC 7638 thumbprint.
    pub fn new(public_key: [u8; ED25519_PUBLIC_KEY_LEN]) -> Self {
        Self {
            kid: Self::thumbprint_of(&public_key),
            x: public_key,
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

    /// The public key, base64url (the JWK's `x`).
    pub fn x(&self) -> String {
        B64.encode(self.x)
    }

    /// The raw public key.
    pub fn public_key(&self) -> &[u8; ED25519_PUBLIC_KEY_LEN] {
        &self.x
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jwk(Ed25519, kid={})", self.kid)
    }
}

impl Serialize for Jwk {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Jwk", 6)?;
        st.serialize_field("kty", "OKP")?;
        st.serialize_field("crv", "Ed25519")?;
        st.serialize_field("x", &self.x())?;
        st.serialize_field("kid", &self.kid)?;
        st.serialize_field("alg", "EdDSA")?;
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
    /// The Ed25519 signature key this is, if it is one.
    fn ed25519(self) -> Option<Jwk> {
        let fits = self.kty == "OKP"
            && self.crv.as_deref() == Some("Ed25519")
            && self.alg.as_deref().is_none_or(|a| a == "EdDSA")
            && self.use_.as_deref().is_none_or(|u| u == "sig")
            && self.d.is_none();
        if !fits {
            return None;
        }
        let x: [u8; ED25519_PUBLIC_KEY_LEN] = B64.decode(self.x?).ok()?.try_into().ok()?;
        let kid = self.kid.filter(|k| !k.is_empty() && k.len() <= 128)?;
        Some(Jwk { kid, x })
    }
}

impl<'de> Deserialize<'de> for Jwk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawJwk::deserialize(d)?.ed25519().ok_or_else(|| {
            serde::de::Error::custom("not an Ed25519 signature key with a kid and no private part")
        })
    }
}

/// A JSON Web Key Set: `{keys: [...]}`.
///
/// Reading one keeps only the Ed25519 signature keys (an issuer may publish others for other
/// uses); writing one writes those.
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
            .filter_map(|v| serde_json::from_value::<RawJwk>(v).ok()?.ed25519())
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
    fn a_set_keeps_only_ed25519_signature_keys() {
        let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa"},
            {"kty": "OKP", "crv": "X25519", "x": B64.encode([1u8; 32]), "kid": "ecdh"},
            {"kty": "OKP", "crv": "Ed25519", "x": B64.encode([1u8; 32]), "kid": "enc", "use": "enc"},
            {"kty": "OKP", "crv": "Ed25519", "x": B64.encode([1u8; 32]), "kid": "priv", "d": "AA"},
            {"kty": "OKP", "crv": "Ed25519", "x": B64.encode([1u8; 31]), "kid": "short"},
            {"kty": "OKP", "crv": "Ed25519", "x": B64.encode([1u8; 32])},
            {"kty": "OKP", "crv": "Ed25519", "x": B64.encode([2u8; 32]), "kid": "good", "alg": "EdDSA"},
        ]}))
        .unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(set.find("good").is_some());
    }
}
