//! The ID token's claims (OpenID Connect Core §2), as Adam signs them.

use serde::Serialize;

use crate::ids::{DealershipId, SessionId, UserId};
use crate::role::Role;

/// The `typ` header of an ID token: never an access token's, so neither passes for the other.
pub(crate) const ID_TOKEN_TYPE: &str = "JWT";

/// The claims of an ID token.
#[derive(Debug, Serialize)]
pub(crate) struct IdClaims<'a> {
    pub(crate) iss: &'a str,
    pub(crate) sub: UserId,
    pub(crate) aud: &'a str,
    pub(crate) exp: i64,
    pub(crate) iat: i64,
    pub(crate) auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) nonce: Option<&'a str>,
    pub(crate) amr: &'static [&'static str],
    /// The browser session: the same for every client signed in through it (Back-Channel
    /// Logout's `sid`).
    pub(crate) sid: SessionId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<&'a str>,
    pub(crate) role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dealership_id: Option<DealershipId>,
}

/// What `/oauth2/logout` reads of an `id_token_hint`: whose session it names, for which client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    /// The user.
    pub sub: UserId,
    /// The browser session.
    pub sid: SessionId,
    /// The client it was issued to.
    pub client_id: String,
}

#[derive(serde::Deserialize)]
struct HintClaims {
    sub: UserId,
    sid: SessionId,
    aud: String,
}

/// Reads an ID token Adam signed with one of `jwks`'s keys for `issuer`, expired or not (a
/// logout hint may be old): of type `JWT`, and of the algorithm of the key its `kid` names
/// (EdDSA or RS256), never the one its header asks for. Anything else is `None`.
pub(crate) fn read_hint(
    token: &str,
    jwks: &crate::jwk::JwkSet,
    issuer: &str,
) -> Option<IdTokenHint> {
    use crate::jwk::PublicKey;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    if token.len() > 4096 {
        return None;
    }
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.typ.as_deref() != Some(ID_TOKEN_TYPE) {
        return None;
    }
    let jwk = jwks.find(&header.kid?)?;
    let (alg, key) = match jwk.key() {
        PublicKey::Ed25519(x) => (Algorithm::EdDSA, DecodingKey::from_ed_der(x)),
        PublicKey::Rsa { n, e } => (Algorithm::RS256, DecodingKey::from_rsa_raw_components(n, e)),
    };
    if header.alg != alg {
        return None;
    }
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    validation.set_issuer(&[issuer]);
    let data = jsonwebtoken::decode::<HintClaims>(token, &key, &validation).ok()?;
    Some(IdTokenHint {
        sub: data.claims.sub,
        sid: data.claims.sid,
        client_id: data.claims.aud,
    })
}
