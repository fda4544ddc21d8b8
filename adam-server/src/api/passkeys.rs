//! `/auth/passkeys` and `/auth/login/passkey`: the caller's passkeys, and the WebAuthn
//! ceremonies in their JSON forms for web clients of the API.

use adam_core::Adam;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::{origin, NoContent, Tokens};
use super::schema::{
    MfaTokenRequest, Passkey, PasskeyCeremony, PasskeyRegistration, PasskeySecondStep,
    PasskeySignIn,
};
use super::strict::Strict;
use super::{ApiTags, BearerAuth};
use crate::error::ApiError;

/// The caller's passkeys and passkey sign-in.
#[derive(Debug)]
pub(crate) struct PasskeysApi {
    pub(crate) adam: Adam,
}

/// A started ceremony, never to be stored by a cache.
#[derive(ApiResponse)]
pub(crate) enum Started {
    /// The ceremony's id and the options for the browser.
    #[oai(status = 200)]
    Options(
        Json<PasskeyCeremony>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

impl From<adam_core::Ceremony> for Started {
    fn from(c: adam_core::Ceremony) -> Self {
        Self::Options(Json(c.into()), "no-store".into())
    }
}

/// A registered passkey.
#[derive(ApiResponse)]
pub(crate) enum Registered {
    /// The new passkey.
    #[oai(status = 201)]
    Created(Json<Passkey>),
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl PasskeysApi {
    /// My passkeys
    ///
    /// Oldest first. Where passkeys are off (the server's `PUBLIC_URL` has an IP address for its
    /// host), every passkey route answers 409 saying so.
    #[oai(path = "/passkeys", method = "get")]
    async fn list(&self, auth: BearerAuth) -> Result<Json<Vec<Passkey>>, ApiError> {
        let keys = self.adam.passkeys(&auth.0.principal).await?;
        Ok(Json(keys.into_iter().map(Into::into).collect()))
    }

    /// Remove one of my passkeys
    ///
    /// Needs a sign-in of the last five minutes (else 403 of type
    /// `/problems/reauthentication-required`); another user's passkey answers 404.
    #[oai(path = "/passkeys/:id", method = "delete")]
    async fn remove(&self, auth: BearerAuth, id: Path<uuid::Uuid>) -> Result<NoContent, ApiError> {
        self.adam.remove_passkey(&auth.0.principal, id.0).await?;
        Ok(NoContent::Done)
    }

    /// Register a passkey: the options
    ///
    /// Starts a registration for the caller, who must have signed in within the last five
    /// minutes (else 403 of type `/problems/reauthentication-required`): `publicKey` asks for a
    /// discoverable credential with user verification, attestation `none`, and excludes the
    /// caller's passkeys. Finish within five minutes with `POST /auth/passkeys/register`.
    #[oai(path = "/passkeys/register/options", method = "post")]
    async fn register_options(&self, auth: BearerAuth) -> Result<Started, ApiError> {
        Ok(self
            .adam
            .start_passkey_registration(&auth.0.principal)
            .await?
            .into())
    }

    /// Register a passkey
    ///
    /// The browser's credential for the ceremony, and a name (1 to 64 characters). The
    /// ceremony is spent by this request whatever its outcome. A credential that does not check
    /// (another origin or relying party, no user verification, another ceremony's challenge)
    /// answers 422 naming `credential`; a ceremony that is not this session's, used or expired,
    /// 422 naming `ceremony_id`; a passkey registered already, 409.
    #[oai(path = "/passkeys/register", method = "post")]
    async fn register(
        &self,
        auth: BearerAuth,
        Json(body): Json<Strict<PasskeyRegistration>>,
    ) -> Result<Registered, ApiError> {
        let body = body.0;
        let key = self
            .adam
            .register_passkey(
                &auth.0.principal,
                body.ceremony_id,
                &body.credential,
                &body.name,
            )
            .await?;
        Ok(Registered::Created(Json(key.into())))
    }

    /// Sign in with a passkey: the options
    ///
    /// No email: the browser offers the user's passkeys for this site. Throttled per client
    /// address (429 with `Retry-After`). Finish within five minutes with
    /// `POST /auth/login/passkey`.
    #[oai(path = "/login/passkey/options", method = "post")]
    async fn sign_in_options(&self, req: &Request) -> Result<Started, ApiError> {
        Ok(self.adam.start_passkey_sign_in(&origin(req)).await?.into())
    }

    /// Sign in with a passkey
    ///
    /// The browser's assertion for the ceremony: a token pair with `amr` `["hwk", "mfa"]` (or
    /// `swk` for a passkey that may be synced), a multi-factor sign-in that no second step
    /// follows. The ceremony is spent by this request whatever its outcome. An unknown or
    /// removed passkey, an assertion that does not check, a signature counter that went
    /// backwards, or a user who may not sign in: 401. A user whose password was set by someone
    /// else gets 401 of type `/problems/password-change-required` first, as at `/auth/login`.
    #[oai(path = "/login/passkey", method = "post")]
    async fn sign_in(
        &self,
        req: &Request,
        Json(body): Json<Strict<PasskeySignIn>>,
    ) -> Result<Tokens, ApiError> {
        let body = body.0;
        let signed_in = self
            .adam
            .sign_in_with_passkey(body.ceremony_id, &body.credential, &origin(req))
            .await?;
        if let Some(next) = ApiError::second_step(&signed_in, None) {
            return Err(next);
        }
        Ok(signed_in.into_tokens()?.into())
    }

    /// Sign in: a passkey as the second step, the options
    ///
    /// For the `mfa_token` of `/problems/mfa-required` whose `mfa_methods` include `passkey`:
    /// a ceremony listing the user's passkeys. A spent, expired or unknown token answers 401 of
    /// type `/problems/mfa-token-invalid`.
    #[oai(path = "/login/mfa/passkey/options", method = "post")]
    async fn second_step_options(
        &self,
        req: &Request,
        Json(body): Json<Strict<MfaTokenRequest>>,
    ) -> Result<Started, ApiError> {
        Ok(self
            .adam
            .start_passkey_second_step(&body.0.mfa_token, &origin(req))
            .await?
            .into())
    }

    /// Sign in: a passkey as the second step
    ///
    /// The assertion for that ceremony: a token pair with `amr` `["pwd", "hwk", "mfa"]` (or
    /// `swk`). A refused assertion answers 401 and counts like a wrong code (the fifth spends
    /// the `mfa_token`); the ceremony is spent either way.
    #[oai(path = "/login/mfa/passkey", method = "post")]
    async fn second_step(
        &self,
        req: &Request,
        Json(body): Json<Strict<PasskeySecondStep>>,
    ) -> Result<Tokens, ApiError> {
        let body = body.0;
        let signed_in = self
            .adam
            .sign_in_with_passkey_second_step(
                &body.mfa_token,
                body.ceremony_id,
                &body.credential,
                &origin(req),
            )
            .await?;
        if let Some(next) = ApiError::second_step(&signed_in, None) {
            return Err(next);
        }
        Ok(signed_in.into_tokens()?.into())
    }
}
