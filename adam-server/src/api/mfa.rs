//! `/auth/mfa`: the caller's own second factor.

use adam_core::Adam;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::{Enrollment, NoContent};
use super::schema::{
    CodeRequest, DisableTotpRequest, MfaStatus, PasswordConfirmation, RecoveryCodes,
};
use super::strict::Strict;
use super::{ApiTags, BearerAuth};
use crate::error::ApiError;

/// The caller's second factor.
#[derive(Debug)]
pub(crate) struct MfaApi {
    pub(crate) adam: Adam,
}

/// New recovery codes, never to be stored by a cache.
#[derive(ApiResponse)]
pub(crate) enum Codes {
    /// Ten recovery codes, shown this once; any earlier ones are void.
    #[oai(status = 200)]
    Issued(
        Json<RecoveryCodes>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

impl From<adam_core::RecoveryCodes> for Codes {
    fn from(c: adam_core::RecoveryCodes) -> Self {
        Self::Issued(Json(c.into()), "no-store".into())
    }
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl MfaApi {
    /// My second factor
    ///
    /// Whether TOTP is on, how many recovery codes are left, and whether a second factor is
    /// required of the caller (by their dealership or role).
    #[oai(path = "/mfa", method = "get")]
    async fn status(&self, auth: BearerAuth) -> Result<Json<MfaStatus>, ApiError> {
        Ok(Json(self.adam.mfa_status(&auth.0.principal).await?.into()))
    }

    /// Start a TOTP enrollment
    ///
    /// After the current password (wrong: 422 naming `current_password`, counted like a failed
    /// sign-in): a new secret for the authenticator app. Nothing changes until it is confirmed
    /// with a first code; calling again starts over. TOTP on already: 409 (turn it off first).
    #[oai(path = "/mfa/totp", method = "post")]
    async fn start(
        &self,
        auth: BearerAuth,
        Json(body): Json<Strict<PasswordConfirmation>>,
    ) -> Result<Enrollment, ApiError> {
        let enrollment = self
            .adam
            .start_totp_enrollment(&auth.0.principal, &body.0.current_password)
            .await?;
        Ok(enrollment.into())
    }

    /// Confirm the TOTP enrollment
    ///
    /// The first code from the app turns TOTP on; the answer holds ten recovery codes, shown
    /// this once. A wrong code: 422 naming `code`; nothing pending: 409.
    #[oai(path = "/mfa/totp/confirm", method = "post")]
    async fn confirm(
        &self,
        auth: BearerAuth,
        Json(body): Json<Strict<CodeRequest>>,
    ) -> Result<Codes, ApiError> {
        let codes = self
            .adam
            .confirm_totp_enrollment(&auth.0.principal, &body.0.code)
            .await?;
        Ok(codes.into())
    }

    /// Turn TOTP off
    ///
    /// With the current password and a code (six digits or a recovery code); ends the caller's
    /// other sessions. 403 when a second factor is required of the caller; 409 when it is off;
    /// a wrong password or code: 422.
    #[oai(path = "/mfa/totp/disable", method = "post")]
    async fn disable(
        &self,
        auth: BearerAuth,
        Json(body): Json<Strict<DisableTotpRequest>>,
    ) -> Result<NoContent, ApiError> {
        let body = body.0;
        self.adam
            .disable_totp(&auth.0.principal, &body.current_password, &body.code)
            .await?;
        Ok(NoContent::Done)
    }

    /// New recovery codes
    ///
    /// With a code (six digits or a recovery code): ten new recovery codes; the old ones are
    /// void. A wrong code: 422 naming `code`; TOTP off: 409.
    #[oai(path = "/mfa/recovery-codes", method = "post")]
    async fn recovery_codes(
        &self,
        auth: BearerAuth,
        Json(body): Json<Strict<CodeRequest>>,
    ) -> Result<Codes, ApiError> {
        let codes = self
            .adam
            .regenerate_recovery_codes(&auth.0.principal, &body.0.code)
            .await?;
        Ok(codes.into())
    }
}
