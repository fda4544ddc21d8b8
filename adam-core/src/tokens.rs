//! Access tokens: JWTs signed with Ed25519 (RFC 9068 profile), which any service holding the
//! published public keys can check and none can mint.

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::caller::{Amr, Caller};
use crate::error::{Error, Result};
use crate::ids::{DealershipId, SessionId, UserId};
use crate::jwk::{Jwk, JwkSet};
use crate::placement::Placement;
use crate::role::Role;

#[cfg(feature = "engine")]
pub use crate::keys::secret::MIN_SECRET_LEN;

/// The `typ` header of every access token (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The only signing algorithm Adam issues or accepts.
pub const ALGORITHM: &str = "EdDSA";

/// Most clock skew tolerated when checking `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: i64 = 10;

/// Longest token text considered at all.
const MAX_TOKEN_LEN: usize = 4096;

/// The claims of an Adam access token, as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    /// The user.
    pub(crate) sub: UserId,
    /// The user's role when the token was issued.
    pub(crate) role: Role,
    /// The user's dealership; `None` for a system admin.
    pub(crate) dealership_id: Option<DealershipId>,
    /// The session the token belongs to.
    pub(crate) sid: SessionId,
    /// How the user signed in (RFC 8176).
    pub(crate) amr: Amr,
    /// Issued at (seconds since the epoch).
    pub(crate) iat: i64,
    /// Not valid before (seconds since the epoch).
    pub(crate) nbf: i64,
    /// Expires at (seconds since the epoch).
    pub(crate) exp: i64,
    /// Issuer.
    pub(crate) iss: String,
    /// Audience.
    pub(crate) aud: String,
    /// Unique token id.
    pub(crate) jti: Uuid,
    /// The OpenID Connect client the token was issued to (RFC 9068 §2.2); absent for the API's
    /// own tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<String>,
    /// The scopes granted to that client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<String>,
}

impl AccessClaims {
    /// Whether the token is within its validity at `now` (with [`LEEWAY_SECONDS`] each way).
    pub(crate) fn time_check(&self, now: DateTime<Utc>) -> Result<()> {
        // Times a clock cannot show (beyond year 262,000, say) are no token of ours, however
        // signed: refused here rather than failing later where they are read as times.
        let representable = |t: i64| DateTime::from_timestamp(t, 0).is_some();
        if ![self.exp, self.iat, self.nbf]
            .into_iter()
            .all(representable)
        {
            return Err(Error::unauthorized("token times out of range"));
        }
        let t = now.timestamp();
        if self.exp <= t - LEEWAY_SECONDS {
            return Err(Error::unauthorized("token expired"));
        }
        if self.nbf > t + LEEWAY_SECONDS {
            return Err(Error::unauthorized("token not yet valid"));
        }
        Ok(())
    }

    /// The read-only caller these claims speak for.
    pub(crate) fn caller(&self) -> Result<Caller> {
        let placement = Placement::new(self.role, self.dealership_id)
            .map_err(|_| Error::unauthorized("invalid token"))?;
        Ok(Caller::new(
            self.sub, placement, self.sid, self.amr, self.exp,
        ))
    }
}

/// A private Ed25519 key that signs access tokens, with its `kid`. Never leaves the engine.
pub(crate) struct Signer {
    kid: String,
    /// The encoded JOSE header, the same for every token of this key.
    header: String,
    /// The parsed key pair: parsing PKCS#8 derives the public key, which would double the cost
    /// of each signature if done per token.
    pair: ring::signature::Ed25519KeyPair,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer(kid={})", self.kid)
    }
}

/// A freshly generated key pair: the private key as PKCS#8 (to be sealed), its public JWK, and
/// the public key as stored (`signing_keys.public_key`).
pub(crate) struct NewKeyPair {
    pub(crate) pkcs8: Zeroizing<Vec<u8>>,
    pub(crate) jwk: Jwk,
    pub(crate) public: Vec<u8>,
}

impl Signer {
    /// Generates a new Ed25519 key pair.
    pub(crate) fn generate() -> Result<NewKeyPair> {
        use ring::signature::{Ed25519KeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| Error::Internal("cannot generate an Ed25519 key".into()))?;
        let pkcs8 = Zeroizing::new(doc.as_ref().to_vec());
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| Error::Internal("generated key does not parse".into()))?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| Error::Internal("Ed25519 public key is not 32 bytes".into()))?;
        Ok(NewKeyPair {
            pkcs8,
            jwk: Jwk::new(public),
            public: public.to_vec(),
        })
    }

    /// The signer of a stored private key (PKCS#8), checked against its public half.
    pub(crate) fn from_pkcs8(kid: &str, pkcs8: &[u8], public: &[u8]) -> Result<Self> {
        use ring::signature::{Ed25519KeyPair, KeyPair};
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| Error::Internal(format!("signing key {kid} does not parse")))?;
        if pair.public_key().as_ref() != public {
            return Err(Error::Internal(format!(
                "signing key {kid}: private and public halves differ"
            )));
        }
        Ok(Self {
            kid: kid.to_owned(),
            header: jws_header(ALGORITHM, ACCESS_TOKEN_TYPE, kid),
            pair,
        })
    }

    /// Signs `claims` as an access token (JWS compact serialization, RFC 7515 §7.1).
    pub(crate) fn sign(&self, claims: &AccessClaims) -> Result<String> {
        self.sign_encoded(&self.header, claims)
    }

    /// Signs `claims` as a JWT of type `typ` (an ID token's `JWT`, a logout token's
    /// `logout+jwt`): never an access token's type, so neither can pass for the other.
    pub(crate) fn sign_as(&self, typ: &str, claims: &impl Serialize) -> Result<String> {
        debug_assert_ne!(typ, ACCESS_TOKEN_TYPE);
        self.sign_encoded(&jws_header(ALGORITHM, typ, &self.kid), claims)
    }

    fn sign_encoded(&self, header: &str, claims: &impl Serialize) -> Result<String> {
        compact_jws(header, claims, |input| Ok(self.pair.sign(input)))
    }
}

/// The encoded JOSE header of a token signed with `alg` by the key `kid`, of type `typ`.
pub(crate) fn jws_header(alg: &str, typ: &str, kid: &str) -> String {
    let header = serde_json::json!({ "alg": alg, "typ": typ, "kid": kid });
    B64.encode(header.to_string())
}

/// A JWS in compact serialization (RFC 7515 §7.1): the encoded `header`, the claims, and what
/// `sign` makes of the two.
pub(crate) fn compact_jws<S: AsRef<[u8]>>(
    header: &str,
    claims: &impl Serialize,
    sign: impl FnOnce(&[u8]) -> Result<S>,
) -> Result<String> {
    let claims = serde_json::to_vec(claims)
        .map_err(|e| Error::Internal(format!("encoding token claims: {e}")))?;
    let mut token = format!("{header}.{}", B64.encode(claims));
    let signature = sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&B64.encode(signature));
    Ok(token)
}

/// What the benchmarks measure of signing, which is otherwise the engine's alone.
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench {
    use super::*;

    /// A fresh key and the claims of a typical token.
    #[derive(Debug)]
    pub struct SignProbe(Signer, AccessClaims);

    impl SignProbe {
        /// A new key pair and claims for a dealer principal.
        pub fn new() -> Self {
            let pair = Signer::generate().expect("key generation");
            let signer = Signer::from_pkcs8(pair.jwk.kid(), &pair.pkcs8, &pair.public)
                .expect("a fresh key parses");
            let claims = AccessTokenIssuer::new(TokenAudience::default(), Duration::minutes(30))
                .claims(
                    UserId::new(),
                    Placement::DealerPrincipal(DealershipId::new()),
                    SessionId::new(),
                    Amr::Password,
                    Utc::now(),
                );
            Self(signer, claims)
        }

        /// Signs the claims, as every sign-in and refresh does.
        pub fn sign(&self) -> String {
            self.0.sign(&self.1).expect("signing")
        }
    }

    impl Default for SignProbe {
        fn default() -> Self {
            Self::new()
        }
    }
}

/// Who issues tokens and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAudience {
    /// The `iss` claim: the server's public URL (`PUBLIC_URL`).
    pub issuer: String,
    /// The `aud` claim.
    pub audience: String,
}

impl TokenAudience {
    /// The audience of every Adam access token.
    pub const AUDIENCE: &'static str = "adam-api";

    /// The audience of the access tokens of OpenID Connect clients that are not first-party:
    /// good at the userinfo endpoint only, never at the API.
    pub fn userinfo_audience(&self) -> String {
        format!("{}/oauth2/userinfo", self.issuer)
    }

    /// Tokens issued by the server at `public_url` (trailing `/` dropped) for Adam's API.
    pub fn of_issuer(public_url: &str) -> Self {
        Self {
            issuer: public_url.trim_end_matches('/').to_owned(),
            audience: Self::AUDIENCE.into(),
        }
    }
}

impl Default for TokenAudience {
    fn default() -> Self {
        Self::of_issuer("http://127.0.0.1:8000")
    }
}

/// Makes the claims of new access tokens: the engine's own, never handed to a caller.
#[derive(Debug, Clone)]
pub(crate) struct AccessTokenIssuer {
    names: TokenAudience,
    ttl: Duration,
}

impl AccessTokenIssuer {
    /// Tokens for `names`, living `ttl`.
    pub(crate) fn new(names: TokenAudience, ttl: Duration) -> Self {
        Self { names, ttl }
    }

    /// The claims of a token for the given subject, valid from `now` for the configured
    /// lifetime.
    pub(crate) fn claims(
        &self,
        sub: UserId,
        placement: Placement,
        sid: SessionId,
        amr: Amr,
        now: DateTime<Utc>,
    ) -> AccessClaims {
        AccessClaims {
            sub,
            role: placement.role(),
            dealership_id: placement.dealership_id(),
            sid,
            amr,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + self.ttl).timestamp(),
            iss: self.names.issuer.clone(),
            aud: self.names.audience.clone(),
            jti: Uuid::new_v4(),
            client_id: None,
            scope: None,
        }
    }
}

/// Verifies access tokens offline against a set of public keys: signature (EdDSA only, never
/// the algorithm the token names), `typ`, `kid`, `iss`, `aud`, `exp`, `nbf`.
///
/// It needs no database and no secret, so other services can check Adam's tokens in-process
/// with the keys of `/.well-known/jwks.json` (see also the `jwks` feature's fetching verifier).
/// It yields a read-only [`Caller`]; it cannot know whether a session was revoked since the
/// token was issued, and the engine's use cases do not accept its caller: only the engine's
/// full check ([`crate::Adam::authenticate`]) makes the [`crate::Principal`] they take.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use adam_core::tokens::{AccessTokenVerifier, TokenAudience};
/// use adam_core::{Adam, Role, SecretKey, Settings};
/// let secret = SecretKey::new(b"an example secret of at least 32 bytes!").unwrap();
/// let adam = Adam::connect("sqlite::memory:", secret, Settings::default()).await.unwrap();
/// adam.migrate_up().await.unwrap();
/// adam.seed().await.unwrap();
/// let pair = adam.login("manager@premiumauto.com", "Manager123!").await.unwrap();
///
/// // What another service holds: the published keys, the issuer and the audience.
/// let jwks = adam.jwks().await.unwrap();
/// let verifier = AccessTokenVerifier::new(&jwks, adam.settings().token_audience.clone());
/// let caller = verifier.verify(&pair.access_token).unwrap();
/// assert_eq!(caller.role(), Role::FiManager);
/// # });
/// ```
#[derive(Clone)]
pub struct AccessTokenVerifier {
    keys: HashMap<String, DecodingKey>,
    names: TokenAudience,
    validation: Validation,
}

impl fmt::Debug for AccessTokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenVerifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("names", &self.names)
            .finish()
    }
}

/// The header of a token, as far as we look at it.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    /// Headers that would let the token name its own key, or demand extensions we do not know:
    /// any of them present refuses the token.
    #[serde(default)]
    jku: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    jwk: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    x5u: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    x5c: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

impl RawHeader {
    /// The decoded header (first part) of `token`; `None` when it is not one.
    fn of(token: &str) -> Option<Self> {
        let header = token.split('.').next()?;
        if header.len() > MAX_TOKEN_LEN {
            return None;
        }
        serde_json::from_slice(&B64.decode(header).ok()?).ok()
    }
}

impl AccessTokenVerifier {
    /// A verifier that accepts only tokens for `names` signed by one of the Ed25519 keys of
    /// `jwks` (its RSA keys sign ID tokens, never access tokens).
    pub fn new(jwks: &JwkSet, names: TokenAudience) -> Self {
        let keys = jwks
            .keys
            .iter()
            .filter_map(|k| Some((k.kid().to_owned(), DecodingKey::from_ed_der(k.ed25519()?))))
            .collect();
        // The algorithm is ours, never the token's. Time claims are checked by us against an
        // explicit `now` (jsonwebtoken's defaults: 60 s leeway, nbf unchecked).
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.set_issuer(&[names.issuer.as_str()]);
        validation.set_audience(&[names.audience.as_str()]);
        Self {
            keys,
            names,
            validation,
        }
    }

    /// A verifier that also accepts tokens for `also` (the userinfo endpoint's audience, where
    /// the tokens of clients that are not first-party are good too).
    pub(crate) fn also_for(mut self, also: &str) -> Self {
        self.validation
            .set_audience(&[self.names.audience.as_str(), also]);
        self
    }

    /// The issuer and audience this verifier insists on.
    pub fn names(&self) -> &TokenAudience {
        &self.names
    }

    /// Whether a key named `kid` is known.
    pub fn knows(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The `kid` a token names in its header, without checking anything else: for a verifier
    /// that fetches keys it does not know yet.
    pub fn kid_of(token: &str) -> Option<String> {
        RawHeader::of(token)?.kid
    }

    /// Verifies `token` as of the current time.
    pub fn verify(&self, token: &str) -> Result<Caller> {
        self.verify_at(token, Utc::now())
    }

    /// Verifies `token` as of `now`. Every failure is [`Error::Unauthorized`].
    pub fn verify_at(&self, token: &str, now: DateTime<Utc>) -> Result<Caller> {
        self.claims_at(token, now)?.caller()
    }

    /// The claims of `token`, verified as of `now`.
    pub(crate) fn claims_at(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims> {
        let reject = |why: &'static str| Error::unauthorized(why);
        if token.len() > MAX_TOKEN_LEN {
            return Err(reject("malformed token"));
        }
        let header = RawHeader::of(token).ok_or_else(|| reject("malformed token"))?;
        if header.alg != ALGORITHM {
            return Err(reject("unexpected signing algorithm"));
        }
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
                || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(reject("not an access token"));
        }
        let names_its_own_key = header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
            || header.crit.is_some();
        if names_its_own_key {
            return Err(reject("token header names its own key"));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or_else(|| reject("unknown signing key"))?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
            .map_err(|_| reject("invalid token"))?;
        data.claims.time_check(now)?;
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct Fixture {
        signer: Signer,
        jwk: Jwk,
        pkcs8: Zeroizing<Vec<u8>>,
        issuer: AccessTokenIssuer,
    }

    fn fixture() -> Fixture {
        let pair = Signer::generate().unwrap();
        let signer =
            Signer::from_pkcs8(pair.jwk.kid(), &pair.pkcs8, pair.jwk.ed25519().unwrap()).unwrap();
        Fixture {
            signer,
            jwk: pair.jwk,
            pkcs8: pair.pkcs8,
            issuer: AccessTokenIssuer::new(TokenAudience::default(), Duration::minutes(30)),
        }
    }

    impl Fixture {
        fn verifier(&self) -> AccessTokenVerifier {
            AccessTokenVerifier::new(
                &JwkSet {
                    keys: vec![self.jwk.clone()],
                },
                TokenAudience::default(),
            )
        }

        fn claims_at(&self, now: DateTime<Utc>) -> AccessClaims {
            self.issuer.claims(
                UserId::new(),
                Placement::DealerPrincipal(DealershipId::new()),
                SessionId::new(),
                Amr::Password,
                now,
            )
        }

        fn token_at(&self, now: DateTime<Utc>) -> String {
            self.signer.sign(&self.claims_at(now)).unwrap()
        }
    }

    fn unauthorized(r: Result<AccessClaims>) -> bool {
        matches!(r, Err(Error::Unauthorized(_)))
    }

    fn parts(token: &str) -> (serde_json::Value, serde_json::Value, String) {
        let mut it = token.split('.');
        let h = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
        let p = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
        (h, p, it.next().unwrap().to_owned())
    }

    fn join(h: &serde_json::Value, p: &serde_json::Value, sig: &str) -> String {
        format!(
            "{}.{}.{}",
            B64.encode(serde_json::to_vec(h).unwrap()),
            B64.encode(serde_json::to_vec(p).unwrap()),
            sig
        )
    }

    /// `header.payload` MACed with HMAC-SHA256 under `key`.
    fn hs256(h: &serde_json::Value, p: &serde_json::Value, key: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(h).unwrap()),
            B64.encode(serde_json::to_vec(p).unwrap())
        );
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key),
            input.as_bytes(),
        );
        format!("{input}.{}", B64.encode(tag.as_ref()))
    }

    #[test]
    fn round_trip_carries_every_claim_and_header() {
        let f = fixture();
        let now = Utc::now();
        let t = f.token_at(now);
        let (h, p, _) = parts(&t);
        assert_eq!(h["typ"], "at+jwt");
        assert_eq!(h["alg"], "EdDSA");
        assert_eq!(h["kid"], f.jwk.kid());
        for claim in [
            "sub",
            "role",
            "dealership_id",
            "sid",
            "amr",
            "iat",
            "nbf",
            "exp",
            "iss",
            "aud",
            "jti",
        ] {
            assert!(p.get(claim).is_some(), "missing {claim}");
        }
        assert_eq!(p["amr"], serde_json::json!(["pwd"]));
        let c = f.verifier().claims_at(&t, now).unwrap();
        assert_eq!(c.role, Role::DealerPrincipal);
        assert_eq!(c.exp - c.iat, 1800);
    }

    #[test]
    fn expiry_and_not_before_are_checked_with_small_leeway() {
        let f = fixture();
        let now = Utc::now();
        let t = f.token_at(now);
        let v = f.verifier();
        let end = now + Duration::minutes(30);
        assert!(v.claims_at(&t, end + Duration::seconds(5)).is_ok());
        assert!(unauthorized(v.claims_at(&t, end + Duration::seconds(11))));
        assert!(v.claims_at(&t, now - Duration::seconds(5)).is_ok());
        assert!(unauthorized(v.claims_at(&t, now - Duration::seconds(11))));
        assert!(unauthorized(v.claims_at(&t, now + Duration::days(1))));
    }

    #[test]
    fn alg_none_is_rejected() {
        let f = fixture();
        let (mut h, p, _) = parts(&f.token_at(Utc::now()));
        for alg in ["none", "None", "NONE", ""] {
            h["alg"] = alg.into();
            assert!(unauthorized(
                f.verifier().claims_at(&join(&h, &p, ""), Utc::now())
            ));
        }
    }

    #[test]
    fn changed_payload_is_rejected() {
        let f = fixture();
        let (h, mut p, sig) = parts(&f.token_at(Utc::now()));
        p["role"] = "system_admin".into();
        p["dealership_id"] = serde_json::Value::Null;
        assert!(unauthorized(
            f.verifier().claims_at(&join(&h, &p, &sig), Utc::now())
        ));
    }

    #[test]
    fn validly_signed_times_no_clock_can_show_are_rejected() {
        let f = fixture();
        let now = Utc::now();
        // Year 262,144 and beyond: a timestamp chrono cannot represent.
        let far = 8_210_298_412_800_i64;
        for set in [
            (|c: &mut AccessClaims, t| c.exp = t) as fn(&mut AccessClaims, i64),
            |c, t| c.iat = t,
            |c, t| c.nbf = -t,
        ] {
            let mut claims = f.claims_at(now);
            set(&mut claims, far);
            let token = f.signer.sign(&claims).unwrap();
            assert!(unauthorized(f.verifier().claims_at(&token, now)));
        }
    }

    #[test]
    fn a_token_of_another_key_is_rejected_even_under_our_kid() {
        let ours = fixture();
        let theirs = fixture();
        let now = Utc::now();
        let t = theirs.token_at(now);
        assert!(unauthorized(ours.verifier().claims_at(&t, now)));
        // Signed by their key, labelled with our kid.
        let forged =
            Signer::from_pkcs8(ours.jwk.kid(), &theirs.pkcs8, theirs.jwk.ed25519().unwrap())
                .unwrap()
                .sign(&ours.claims_at(now))
                .unwrap();
        assert_eq!(parts(&forged).0["kid"], ours.jwk.kid());
        assert!(unauthorized(ours.verifier().claims_at(&forged, now)));
    }

    #[test]
    fn hs256_macs_with_the_public_key_in_any_encoding_are_rejected() {
        let f = fixture();
        let now = Utc::now();
        let (mut h, p, _) = parts(&f.token_at(now));
        let x = B64.encode(f.jwk.ed25519().unwrap());
        let jwk_json = serde_json::to_string(&f.jwk).unwrap();
        // SubjectPublicKeyInfo of an Ed25519 key (RFC 8410): a fixed prefix, then the key.
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(f.jwk.ed25519().unwrap());
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&spki)
        );
        let encodings: [&[u8]; 6] = [
            f.jwk.ed25519().unwrap(),
            x.as_bytes(),
            jwk_json.as_bytes(),
            &spki,
            pem.as_bytes(),
            pem.trim_end().as_bytes(),
        ];
        for alg in ["HS256", "HS384", "HS512"] {
            h["alg"] = alg.into();
            for key in encodings {
                let t = hs256(&h, &p, key);
                assert!(unauthorized(f.verifier().claims_at(&t, now)), "{alg}");
            }
        }
    }

    /// The algorithm is refused by our own header check, before jsonwebtoken (which refuses it
    /// too): each layer is seen doing its part.
    #[test]
    fn any_alg_but_eddsa_is_refused_by_the_header_check_itself() {
        let f = fixture();
        let now = Utc::now();
        let (mut h, p, _) = parts(&f.token_at(now));
        for alg in ["HS256", "RS256", "ES256", "none", "eddsa"] {
            h["alg"] = alg.into();
            let refused = f
                .verifier()
                .claims_at(&hs256(&h, &p, f.jwk.ed25519().unwrap()), now);
            assert!(
                matches!(&refused, Err(Error::Unauthorized(r)) if r == "unexpected signing algorithm"),
                "{alg}: {refused:?}"
            );
        }
    }

    #[test]
    fn headers_that_bring_their_own_key_are_rejected() {
        // An attacker's key pair, offered in the header, signing under our kid.
        let ours = fixture();
        let theirs = fixture();
        let now = Utc::now();
        let claims = ours.claims_at(now);
        let genuine = ours.signer.sign(&claims).unwrap();
        assert!(ours.verifier().claims_at(&genuine, now).is_ok());
        let (h, p, _) = parts(&genuine);
        let their_jwk = serde_json::to_value(&theirs.jwk).unwrap();
        for (name, value) in [
            ("jwk", their_jwk),
            ("jku", "https://attacker.example/jwks.json".into()),
            ("x5u", "https://attacker.example/cert.pem".into()),
            ("x5c", serde_json::json!(["MIIB"])),
            ("crit", serde_json::json!(["exp"])),
        ] {
            let mut h = h.clone();
            h[name] = value;
            // Even with our genuine signature over the new header and payload it is refused:
            // re-sign the changed header with our own key to prove the header alone decides.
            let input = format!(
                "{}.{}",
                B64.encode(serde_json::to_vec(&h).unwrap()),
                B64.encode(serde_json::to_vec(&p).unwrap())
            );
            let pair = ring::signature::Ed25519KeyPair::from_pkcs8(&ours.pkcs8).unwrap();
            let ours_signed = format!("{input}.{}", B64.encode(pair.sign(input.as_bytes())));
            assert!(
                unauthorized(ours.verifier().claims_at(&ours_signed, now)),
                "{name}"
            );
            let pair = ring::signature::Ed25519KeyPair::from_pkcs8(&theirs.pkcs8).unwrap();
            let theirs_signed = format!("{input}.{}", B64.encode(pair.sign(input.as_bytes())));
            assert!(
                unauthorized(ours.verifier().claims_at(&theirs_signed, now)),
                "{name}"
            );
        }
    }

    #[test]
    fn wrong_typ_iss_or_aud_is_rejected() {
        let f = fixture();
        let now = Utc::now();
        let v = f.verifier();
        let claims = f.claims_at(now);
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(&f.pkcs8).unwrap();
        for typ in [None, Some("JWT"), Some("rt+jwt")] {
            let mut h = serde_json::json!({"alg": "EdDSA", "kid": f.jwk.kid()});
            if let Some(typ) = typ {
                h["typ"] = typ.into();
            }
            let input = format!(
                "{}.{}",
                B64.encode(serde_json::to_vec(&h).unwrap()),
                B64.encode(serde_json::to_vec(&claims).unwrap())
            );
            let t = format!("{input}.{}", B64.encode(pair.sign(input.as_bytes())));
            assert!(unauthorized(v.claims_at(&t, now)), "typ {typ:?}");
        }
        let mut bad_iss = claims.clone();
        bad_iss.iss = "https://someone-else.example".into();
        assert!(unauthorized(
            v.claims_at(&f.signer.sign(&bad_iss).unwrap(), now)
        ));
        let mut bad_aud = claims;
        bad_aud.aud = "another-api".into();
        assert!(unauthorized(
            v.claims_at(&f.signer.sign(&bad_aud).unwrap(), now)
        ));
    }

    #[test]
    fn a_private_key_that_does_not_match_its_public_half_is_refused() {
        let a = fixture();
        let b = fixture();
        assert!(Signer::from_pkcs8("x", &a.pkcs8, b.jwk.ed25519().unwrap()).is_err());
        assert!(Signer::from_pkcs8("x", b"not a key", a.jwk.ed25519().unwrap()).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in any::<String>()) {
            let f = fixture();
            prop_assert!(unauthorized(f.verifier().claims_at(&s, Utc::now())));
        }

        #[test]
        fn jwt_shaped_garbage_never_panics(a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,200}", c in "[A-Za-z0-9_-]{0,60}") {
            let f = fixture();
            let token = format!("{}.{}.{}", a, b, c);
            prop_assert!(unauthorized(f.verifier().claims_at(&token, Utc::now())));
        }
    }
}
