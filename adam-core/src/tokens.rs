//! Access tokens: signed JWTs (RFC 9068 profile) that other services can verify without a database.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, SessionId, UserId};
use crate::placement::Placement;
use crate::role::Role;

/// The `typ` header of every access token (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Most clock skew tolerated when checking `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: i64 = 10;

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
}

impl AccessClaims {
    /// The read-only caller these claims speak for.
    pub(crate) fn caller(&self) -> Result<Caller> {
        let placement = Placement::new(self.role, self.dealership_id)
            .map_err(|_| Error::unauthorized("invalid token"))?;
        Ok(Caller::new(self.sub, placement, self.sid, self.exp))
    }
}

/// Key material for signing access tokens.
///
/// Today only HS256 keyed from `SECRET_KEY`; an asymmetric variant (EdDSA) can join this enum
/// without changing the issuing or verifying API.
#[derive(Clone)]
pub struct SigningKey(Arc<KeyInner>);

struct KeyInner {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// Shortest secret accepted unless the caller opts out (for local development only).
pub const MIN_SECRET_LEN: usize = 32;

impl SigningKey {
    /// An HS256 key from a secret of at least [`MIN_SECRET_LEN`] bytes.
    pub fn hs256(secret: &[u8]) -> Result<Self> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(Error::Config(format!(
                "SECRET_KEY must be at least {MIN_SECRET_LEN} bytes"
            )));
        }
        Ok(Self::hs256_unchecked(secret))
    }

    /// An HS256 key from any non-empty secret. Meant for `DEBUG` set-ups only.
    pub fn hs256_allow_short(secret: &[u8]) -> Result<Self> {
        if secret.is_empty() {
            return Err(Error::Config("SECRET_KEY must not be empty".into()));
        }
        Ok(Self::hs256_unchecked(secret))
    }

    fn hs256_unchecked(secret: &[u8]) -> Self {
        // The kid names the key without revealing it: a short digest of a labelled hash.
        let digest = Sha256::new()
            .chain_update(b"adam access-token key id\0")
            .chain_update(secret)
            .finalize();
        let kid = format!(
            "hs256-{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..9])
        );
        Self(Arc::new(KeyInner {
            kid,
            algorithm: Algorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }))
    }

    /// The key id written into the `kid` header.
    pub fn kid(&self) -> &str {
        &self.0.kid
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({:?}, kid={})", self.0.algorithm, self.0.kid)
    }
}

/// Who issues tokens and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAudience {
    /// The `iss` claim.
    pub issuer: String,
    /// The `aud` claim.
    pub audience: String,
}

impl Default for TokenAudience {
    fn default() -> Self {
        Self {
            issuer: "adam".into(),
            audience: "adam-api".into(),
        }
    }
}

/// Issues access tokens: the engine's own, never handed to a caller.
#[derive(Debug, Clone)]
pub(crate) struct AccessTokenIssuer {
    key: SigningKey,
    names: TokenAudience,
    ttl: Duration,
}

impl AccessTokenIssuer {
    /// An issuer signing with `key`, tokens living `ttl`.
    pub(crate) fn new(key: SigningKey, names: TokenAudience, ttl: Duration) -> Self {
        Self { key, names, ttl }
    }

    /// Lifetime of the tokens issued.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs a token for the given subject, valid from `now` for the configured lifetime.
    pub(crate) fn issue(
        &self,
        sub: UserId,
        placement: Placement,
        sid: SessionId,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let claims = AccessClaims {
            sub,
            role: placement.role(),
            dealership_id: placement.dealership_id(),
            sid,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + self.ttl).timestamp(),
            iss: self.names.issuer.clone(),
            aud: self.names.audience.clone(),
            jti: Uuid::new_v4(),
        };
        self.sign(&claims)
    }

    /// Signs claims with this issuer's key and headers.
    pub(crate) fn sign(&self, claims: &AccessClaims) -> Result<String> {
        let mut header = Header::new(self.key.0.algorithm);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header.kid = Some(self.key.0.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key.0.encoding)
            .map_err(|e| Error::Internal(format!("signing access token: {e}")))
    }

    /// A verifier for the tokens this issuer makes.
    pub(crate) fn verifier(&self) -> AccessTokenVerifier {
        AccessTokenVerifier::new(self.key.clone(), self.names.clone())
    }
}

/// Verifies access tokens offline: signature, algorithm, `typ`, `kid`, `iss`, `aud`, `exp`, `nbf`.
///
/// It needs no database, so other services can link `adam-core` and check Adam's tokens
/// in-process. It yields a read-only [`Caller`] for the service's own checks; it cannot know
/// whether a session was revoked since the token was issued, and the engine's use cases do not
/// accept its caller: only the engine's full check ([`crate::Adam::authenticate`]) makes the
/// [`crate::Principal`] they take.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use adam_core::tokens::{AccessTokenVerifier, SigningKey, TokenAudience};
/// use adam_core::{Adam, Role, Settings};
/// let secret = b"an example secret of at least 32 bytes!";
/// let adam = Adam::connect("sqlite::memory:", SigningKey::hs256(secret).unwrap(), Settings::default())
///     .await
///     .unwrap();
/// adam.migrate_up().await.unwrap();
/// adam.seed().await.unwrap();
/// let pair = adam.login("manager@premiumauto.com", "Manager123!").await.unwrap();
///
/// let verifier = AccessTokenVerifier::new(SigningKey::hs256(secret).unwrap(), TokenAudience::default());
/// let caller = verifier.verify(&pair.access_token).unwrap();
/// assert_eq!(caller.role(), Role::FiManager);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct AccessTokenVerifier {
    key: SigningKey,
    names: TokenAudience,
    validation: Validation,
}

impl AccessTokenVerifier {
    /// A verifier that accepts only tokens signed by `key` for `names`.
    pub fn new(key: SigningKey, names: TokenAudience) -> Self {
        // The algorithm comes from our key, never from the token. Time claims are checked by us
        // against an explicit `now` (jsonwebtoken's defaults: 60 s leeway, nbf unchecked).
        let mut validation = Validation::new(key.0.algorithm);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.set_issuer(&[names.issuer.as_str()]);
        validation.set_audience(&[names.audience.as_str()]);
        Self {
            key,
            names,
            validation,
        }
    }

    /// The issuer and audience this verifier insists on.
    pub fn names(&self) -> &TokenAudience {
        &self.names
    }

    /// Verifies `token` as of the current time.
    pub fn verify(&self, token: &str) -> Result<Caller> {
        self.verify_at(token, Utc::now())
    }

    /// Verifies `token` as of `now`. Every failure is [`Error::Unauthorized`].
    pub fn verify_at(&self, token: &str, now: DateTime<Utc>) -> Result<Caller> {
        self.claims_at(token, now)?.caller()
    }

    /// The claims of `token`, verified as of the current time.
    pub(crate) fn claims(&self, token: &str) -> Result<AccessClaims> {
        self.claims_at(token, Utc::now())
    }

    /// The claims of `token`, verified as of `now`.
    pub(crate) fn claims_at(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims> {
        let reject = |why: &'static str| Error::unauthorized(why);
        let header = jsonwebtoken::decode_header(token).map_err(|_| reject("malformed token"))?;
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
                || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(reject("not an access token"));
        }
        if header.alg != self.key.0.algorithm {
            return Err(reject("unexpected signing algorithm"));
        }
        if header.kid.as_deref() != Some(self.key.kid()) {
            return Err(reject("unknown signing key"));
        }
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &self.key.0.decoding, &self.validation)
                .map_err(|_| reject("invalid token"))?;
        let claims = data.claims;
        let t = now.timestamp();
        if claims.exp <= t - LEEWAY_SECONDS {
            return Err(reject("token expired"));
        }
        if claims.nbf > t + LEEWAY_SECONDS {
            return Err(reject("token not yet valid"));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    fn issuer() -> AccessTokenIssuer {
        AccessTokenIssuer::new(
            SigningKey::hs256(SECRET).unwrap(),
            TokenAudience::default(),
            Duration::minutes(30),
        )
    }

    fn token_at(now: DateTime<Utc>) -> String {
        issuer()
            .issue(
                UserId::new(),
                Placement::DealerPrincipal(DealershipId::new()),
                SessionId::new(),
                now,
            )
            .unwrap()
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

    #[test]
    fn round_trip_carries_every_claim_and_header() {
        let now = Utc::now();
        let t = token_at(now);
        let (h, p, _) = parts(&t);
        assert_eq!(h["typ"], "at+jwt");
        assert_eq!(h["alg"], "HS256");
        assert!(h["kid"].as_str().unwrap().starts_with("hs256-"));
        for claim in [
            "sub",
            "role",
            "dealership_id",
            "sid",
            "iat",
            "nbf",
            "exp",
            "iss",
            "aud",
            "jti",
        ] {
            assert!(p.get(claim).is_some(), "missing {claim}");
        }
        let c = issuer().verifier().claims_at(&t, now).unwrap();
        assert_eq!(c.role, Role::DealerPrincipal);
        assert_eq!(c.exp - c.iat, 1800);
    }

    #[test]
    fn expiry_and_not_before_are_checked_with_small_leeway() {
        let now = Utc::now();
        let t = token_at(now);
        let v = issuer().verifier();
        assert!(v
            .claims_at(&t, now + Duration::minutes(30) + Duration::seconds(5))
            .is_ok());
        assert!(unauthorized(v.claims_at(
            &t,
            now + Duration::minutes(30) + Duration::seconds(11)
        )));
        assert!(v.claims_at(&t, now - Duration::seconds(5)).is_ok());
        assert!(unauthorized(v.claims_at(&t, now - Duration::seconds(11))));
        assert!(unauthorized(v.claims_at(&t, now + Duration::days(1))));
    }

    #[test]
    fn alg_none_is_rejected() {
        let t = token_at(Utc::now());
        let (mut h, p, _) = parts(&t);
        h["alg"] = "none".into();
        assert!(unauthorized(issuer().verifier().claims(&join(&h, &p, ""))));
    }

    #[test]
    fn changed_payload_is_rejected() {
        let t = token_at(Utc::now());
        let (h, mut p, sig) = parts(&t);
        p["role"] = "system_admin".into();
        p["dealership_id"] = serde_json::Value::Null;
        assert!(unauthorized(
            issuer().verifier().claims(&join(&h, &p, &sig))
        ));
    }

    #[test]
    fn foreign_key_is_rejected_even_with_our_kid() {
        let now = Utc::now();
        let other = AccessTokenIssuer::new(
            SigningKey::hs256(b"another secret that is also 32 bytes long").unwrap(),
            TokenAudience::default(),
            Duration::minutes(30),
        );
        let t = other
            .issue(UserId::new(), Placement::SystemAdmin, SessionId::new(), now)
            .unwrap();
        assert!(unauthorized(issuer().verifier().claims_at(&t, now)));
        let (mut h, p, sig) = parts(&t);
        h["kid"] = issuer().key.kid().into();
        assert!(unauthorized(
            issuer().verifier().claims_at(&join(&h, &p, &sig), now)
        ));
    }

    #[test]
    fn wrong_typ_iss_or_aud_is_rejected() {
        let now = Utc::now();
        let i = issuer();
        let v = i.verifier();
        // typ: re-sign a correct payload under a plain JWT header.
        let (_, p, _) = parts(&token_at(now));
        let claims: AccessClaims = serde_json::from_value(p).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(i.key.kid().to_owned());
        for typ in [None, Some("JWT"), Some("rt+jwt")] {
            header.typ = typ.map(Into::into);
            let t =
                jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(SECRET)).unwrap();
            assert!(unauthorized(v.claims_at(&t, now)), "typ {typ:?}");
        }
        let mut bad_iss = claims.clone();
        bad_iss.iss = "someone-else".into();
        assert!(unauthorized(v.claims_at(&i.sign(&bad_iss).unwrap(), now)));
        let mut bad_aud = claims;
        bad_aud.aud = "another-api".into();
        assert!(unauthorized(v.claims_at(&i.sign(&bad_aud).unwrap(), now)));
    }

    #[test]
    fn other_algorithms_are_rejected_even_if_signed_with_our_secret() {
        let now = Utc::now();
        let (_, p, _) = parts(&token_at(now));
        let claims: AccessClaims = serde_json::from_value(p).unwrap();
        let mut header = Header::new(Algorithm::HS512);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header.kid = Some(issuer().key.kid().to_owned());
        let t = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(SECRET)).unwrap();
        assert!(unauthorized(issuer().verifier().claims_at(&t, now)));
    }

    #[test]
    fn short_secrets_are_refused_unless_allowed() {
        assert!(SigningKey::hs256(b"short").is_err());
        assert!(SigningKey::hs256_allow_short(b"short").is_ok());
        assert!(SigningKey::hs256_allow_short(b"").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in any::<String>()) {
            prop_assert!(unauthorized(issuer().verifier().claims(&s)));
        }

        #[test]
        fn jwt_shaped_garbage_never_panics(a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,200}", c in "[A-Za-z0-9_-]{0,60}") {
            let token = format!("{}.{}.{}", a, b, c);
            prop_assert!(unauthorized(issuer().verifier().claims(&token)));
        }
    }
}
