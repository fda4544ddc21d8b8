//! Signing keys (list, rotate, revoke, publish) and introspection: system operations and the
//! answers other services use to check Adam's tokens.

pub mod keyring;
pub(crate) mod rsa;
pub(crate) mod secret;
pub(crate) mod state;
pub(crate) mod store;

use chrono::{DateTime, Utc};

use crate::caller::Amr;
use crate::engine::Adam;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, SessionId, UserId};
use crate::jwk::JwkSet;
use crate::keys::keyring::{KeyState, Rotation, SigningKeyInfo};
use crate::role::Role;
use crate::tokens::AccessTokenVerifier;

/// What introspection (RFC 7662) says of a live access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    /// The user.
    pub sub: UserId,
    /// Their role, as the token says and the database confirms.
    pub role: Role,
    /// Their dealership (`None` for a system admin).
    pub dealership_id: Option<DealershipId>,
    /// The session.
    pub sid: SessionId,
    /// How they signed in.
    pub amr: Amr,
    /// When the token expires.
    pub exp: DateTime<Utc>,
    /// When it was issued.
    pub iat: DateTime<Utc>,
    /// Its issuer.
    pub iss: String,
    /// Its audience.
    pub aud: String,
}

impl Adam {
    /// The public keys to publish (`/.well-known/jwks.json`): next, current, and retired keys
    /// whose tokens may still be live.
    pub async fn jwks(&self) -> Result<JwkSet> {
        Ok(self.keys.get().await?.jwks().clone())
    }

    /// An offline verifier of this engine's tokens, with the keys published now.
    pub async fn offline_verifier(&self) -> Result<AccessTokenVerifier> {
        Ok(AccessTokenVerifier::new(
            &self.jwks().await?,
            self.settings.token_audience.clone(),
        ))
    }

    /// Makes the signing keys if there are none, opens them, and seals again under the current
    /// `SECRET_KEY` those only the former one opens. A system operation for start-up: a
    /// `SECRET_KEY` that opens none of them is [`Error::Config`] with one clear line.
    pub async fn open_signing_keys(&self) -> Result<Vec<SigningKeyInfo>> {
        let keys = self.keys.reload().await?.keys().to_vec();
        self.reseal_totp_secrets().await?;
        Ok(keys)
    }

    /// The signing keys, as stored now (`adam-server keys list`). Rotates first when a rotation
    /// is due, as a running server would.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyInfo>> {
        self.open_signing_keys().await
    }

    /// Reloads the keys (so that a rotation or revocation made elsewhere takes effect), rotating
    /// them when [`crate::Settings::key_rotation`] says the current one is old. Servers call this
    /// periodically; engines also do it on their own, on use, every
    /// [`crate::keys::keyring::RELOAD_EVERY`].
    pub async fn maintain_signing_keys(&self) -> Result<()> {
        self.keys.reload().await.map(drop)
    }

    /// Rotates the signing keys of every algorithm (`adam-server keys rotate`): the next key
    /// becomes current, the current one retired (it verifies until its tokens expire), a new
    /// next key is made. One [`Rotation`] per algorithm, EdDSA first. Refused with
    /// [`Error::Conflict`] while a next key has been published for less than
    /// [`crate::Settings::key_publish_lead`], unless `force`.
    pub async fn rotate_signing_keys(&self, force: bool) -> Result<Vec<Rotation>> {
        self.keys.get().await?;
        let rotation = self.keys.rotate(force, self.now()).await?;
        self.keys.reload().await?;
        Ok(rotation)
    }

    /// Revokes the signing key `kid` (`adam-server keys revoke`): it stops verifying at once
    /// here and within [`crate::keys::keyring::RELOAD_EVERY`] on every other server; if it was the
    /// current key, the next one takes its place. [`Error::NotFound`] for an unknown `kid`.
    pub async fn revoke_signing_key(&self, kid: &str) -> Result<KeyState> {
        self.keys.get().await?;
        let state = self.keys.revoke(kid, self.now()).await?;
        self.keys.reload().await?;
        Ok(state)
    }

    /// Introspection (RFC 7662): what a live access token says, or `None` for anything else
    /// (expired, a revoked session, an inactive or changed user, a refresh token, garbage).
    /// The full check of [`Adam::authenticate`]; only storage failures are errors.
    pub async fn introspect(&self, token: &str) -> Result<Option<Introspection>> {
        let claims = match self.keys.claims(token).await {
            Ok(c) => c,
            Err(Error::Unauthorized(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        match self.check_session(&claims).await {
            Ok(_) => {}
            Err(Error::Unauthorized(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
        let time = |t: i64| {
            DateTime::from_timestamp(t, 0).ok_or_else(|| Error::Internal("token time".into()))
        };
        Ok(Some(Introspection {
            sub: claims.sub,
            role: claims.role,
            dealership_id: claims.dealership_id,
            sid: claims.sid,
            amr: claims.amr,
            exp: time(claims.exp)?,
            iat: time(claims.iat)?,
            iss: claims.iss,
            aud: claims.aud,
        }))
    }
}
