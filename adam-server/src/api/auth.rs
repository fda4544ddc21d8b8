//! `/auth`: sign-in, refresh, sign-out, and the caller's profile.

use adam_core::Adam;
use poem::Request;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiRequest, ApiResponse, OpenApi};

use super::schema::{
    EnrolledTokenPair, IntrospectRequest, Introspection, LoginRequest, MfaLoginRequest,
    MfaTokenRequest, PasswordChangeRequest, PasswordResetRequest, RefreshRequest, SessionList,
    TokenPairOut, TotpEnrollment, UserOut,
};
use super::serialized::Serialized;
use super::strict::Strict;
use super::{ApiTags, BearerAuth};
use crate::error::ApiError;

/// Sign-in and sessions.
#[derive(Debug)]
pub(crate) struct AuthApi {
    pub(crate) adam: Adam,
    /// Wakes the mail sender when a request queued a mail.
    pub(crate) bell: crate::mail::Mailbell,
}

/// A token pair, never to be stored by a cache (RFC 6749 §5.1).
#[derive(ApiResponse)]
pub(crate) enum Tokens {
    /// A new token pair: the access token for `Authorization: Bearer`, the refresh token for
    /// `/auth/refresh`.
    #[oai(status = 200)]
    Issued(
        Json<TokenPairOut>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

impl From<adam_core::TokenPair> for Tokens {
    fn from(pair: adam_core::TokenPair) -> Self {
        Self::Issued(Json(pair.into()), "no-store".into())
    }
}

/// A sign-in completed by enrolling, never to be stored by a cache.
#[derive(ApiResponse)]
pub(crate) enum EnrolledTokens {
    /// The token pair of the new session and the first recovery codes, shown this once.
    #[oai(status = 200)]
    Issued(
        Json<EnrolledTokenPair>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

/// A TOTP secret to add to an authenticator app, never to be stored by a cache.
#[derive(ApiResponse)]
pub(crate) enum Enrollment {
    /// The secret, its `otpauth://` URI and the URI's QR code.
    #[oai(status = 200)]
    Started(
        Json<TotpEnrollment>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

impl From<adam_core::TotpEnrollment> for Enrollment {
    fn from(e: adam_core::TotpEnrollment) -> Self {
        Self::Started(Json(e.into()), "no-store".into())
    }
}

/// The client's address and program, as the sessions list shows them.
pub(crate) fn origin(req: &Request) -> adam_core::ClientInfo {
    adam_core::ClientInfo {
        ip: crate::client::address(req),
        user_agent: req
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// An answer with no body.
#[derive(ApiResponse)]
pub(crate) enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// An answer that says only that the request was taken.
#[derive(ApiResponse)]
pub(crate) enum Accepted {
    /// Taken: if the email belongs to an active account, a mail is on its way.
    #[oai(status = 202)]
    Accepted,
}

/// A token to introspect, as JSON or as a form (RFC 7662 uses a form).
#[derive(ApiRequest)]
pub(crate) enum IntrospectBody {
    /// `{"token": "…"}`.
    Json(Json<Strict<IntrospectRequest>>),
    /// `token=…`.
    Form(Form<IntrospectRequest>),
}

/// What introspection says, never to be cached.
#[derive(ApiResponse)]
pub(crate) enum Introspected {
    /// `{active: false}` for anything but a live access token; otherwise its claims.
    #[oai(status = 200)]
    Answer(
        Json<Introspection>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Sign in
    ///
    /// Exchanges email and password for a token pair. Unknown email, wrong password and inactive
    /// account all answer 401 "Incorrect email or password". Repeated failures for an account
    /// from one client address, for an account from everywhere, or from one address for many
    /// accounts answer 429 with `Retry-After`. A user with a second factor gets, for the right
    /// password, 401 of type `/problems/mfa-required` with an `mfa_token` for
    /// `/auth/login/mfa`; one who must enroll first, `/problems/mfa-enrollment-required`.
    ///
    /// A web client may send `Adam-Refresh: cookie` here and on every route that answers a
    /// token pair: the answer then has no `refresh_token`, which is set instead in the cookie
    /// `__Host-adam_refresh` (HttpOnly, Secure, SameSite=Strict).
    #[oai(path = "/login", method = "post")]
    async fn login(
        &self,
        req: &Request,
        Json(body): Json<Strict<LoginRequest>>,
    ) -> Result<Tokens, ApiError> {
        let signed_in = self
            .adam
            .sign_in(&body.0.email, &body.0.password, &origin(req))
            .await?;
        if let Some(second) = ApiError::second_step(&signed_in, None) {
            return Err(second);
        }
        Ok(signed_in.into_tokens()?.into())
    }

    /// Sign in: the second factor
    ///
    /// The second step of a sign-in: the `mfa_token` of the 401 and a code (six digits from the
    /// authenticator app, or a recovery code). A wrong or replayed code answers 401 of type
    /// `/problems/mfa-code-invalid` (the token lives on); a spent, expired or unknown token
    /// `/problems/mfa-token-invalid` (start again with the password). Wrong codes count as
    /// sign-in failures (429 past the limit).
    #[oai(path = "/login/mfa", method = "post")]
    async fn login_mfa(
        &self,
        req: &Request,
        Json(body): Json<Strict<MfaLoginRequest>>,
    ) -> Result<Tokens, ApiError> {
        let body = body.0;
        let signed_in = self
            .adam
            .sign_in_with_code(&body.mfa_token, &body.code, &origin(req))
            .await?;
        if let Some(next) = ApiError::second_step(&signed_in, None) {
            return Err(next);
        }
        Ok(signed_in.into_tokens()?.into())
    }

    /// Sign in: start the required enrollment
    ///
    /// For a user who must have a second factor and has none, with the `mfa_token` of
    /// `/problems/mfa-enrollment-required`: a TOTP secret for the authenticator app (may be
    /// repeated; each call replaces the previous secret).
    #[oai(path = "/login/mfa/enroll", method = "post")]
    async fn login_mfa_enroll(
        &self,
        Json(body): Json<Strict<MfaTokenRequest>>,
    ) -> Result<Enrollment, ApiError> {
        Ok(self.adam.enroll_at_sign_in(&body.0.mfa_token).await?.into())
    }

    /// Sign in: confirm the required enrollment
    ///
    /// The first code of the enrollment turns the second factor on and completes the sign-in:
    /// the token pair and ten recovery codes, shown this once. Five wrong codes or five
    /// minutes spend the `mfa_token`.
    #[oai(path = "/login/mfa/enroll/confirm", method = "post")]
    async fn login_mfa_enroll_confirm(
        &self,
        req: &Request,
        Json(body): Json<Strict<MfaLoginRequest>>,
    ) -> Result<EnrolledTokens, ApiError> {
        let body = body.0;
        let enrolled = self
            .adam
            .confirm_enrollment_at_sign_in(&body.mfa_token, &body.code, &origin(req))
            .await?;
        if let Some(next) =
            ApiError::second_step(&enrolled.signed_in, Some(&enrolled.recovery_codes))
        {
            return Err(next);
        }
        let tokens = enrolled.signed_in.into_tokens()?;
        Ok(EnrolledTokens::Issued(
            Json((tokens, enrolled.recovery_codes).into()),
            "no-store".into(),
        ))
    }

    /// Sign in: a new password
    ///
    /// For a user whose password was set by someone else (`must_change_password`), after the
    /// password and the second factor: the `password_change_token` of
    /// `/problems/password-change-required` and the new password (the usual rules, and not the
    /// one set for them). Answers the token pair of the new session. A refused password answers
    /// 422 and uses one of the token's five attempts; a spent, expired or unknown token answers
    /// 401 `/problems/mfa-token-invalid` (start again with the password).
    #[oai(path = "/login/password", method = "post")]
    async fn login_password(
        &self,
        req: &Request,
        Json(body): Json<Strict<PasswordChangeRequest>>,
    ) -> Result<Tokens, ApiError> {
        let body = body.0;
        let pair = self
            .adam
            .change_password_at_sign_in(
                &body.password_change_token,
                &body.new_password,
                &origin(req),
            )
            .await?;
        Ok(pair.into())
    }

    /// Refresh tokens
    ///
    /// Spends the refresh token and returns a new pair of the same session. Presenting a spent
    /// token again revokes the whole session (401). A web client in cookie mode sends no body
    /// and the header `Adam-Refresh: cookie`: the token is read from `__Host-adam_refresh` (the
    /// cookie without the header: 403), and a refusal other than
    /// `/problems/refresh-token-already-rotated` clears the cookie.
    #[oai(path = "/refresh", method = "post")]
    async fn refresh(
        &self,
        req: &Request,
        Json(body): Json<Strict<RefreshRequest>>,
    ) -> Result<Tokens, ApiError> {
        let pair = self
            .adam
            .refresh_with(&body.0.refresh_token, &origin(req))
            .await?;
        Ok(pair.into())
    }

    /// Ask for a password reset
    ///
    /// 202 for any well-formed body, whether or not the account exists (nobody learns which
    /// emails have accounts). For an active account, a mail with a link to `/reset/{token}`
    /// (good for `PASSWORD_RESET_EXPIRE_MINUTES`, single use, the newest only). At most 3
    /// requests per account and 20 per client address an hour send mail; more answer 202 and
    /// send nothing. Without `SMTP_URL` nothing is sent and the server logs a warning.
    #[oai(path = "/password-reset", method = "post")]
    async fn password_reset(
        &self,
        req: &Request,
        Json(body): Json<Strict<PasswordResetRequest>>,
    ) -> Result<Accepted, ApiError> {
        let done = self
            .adam
            .request_password_reset(&body.0.email, &origin(req))
            .await?;
        match done {
            adam_core::ResetRequested::Queued => self.bell.ring(),
            adam_core::ResetRequested::MailOff => tracing::warn!(
                "a password reset was asked for, but no mail is sent: SMTP_URL is not set"
            ),
            adam_core::ResetRequested::Nothing => {}
        }
        Ok(Accepted::Accepted)
    }

    /// Sign out
    ///
    /// Revokes the session of the refresh token. An unknown token also answers 204. A web client
    /// in cookie mode sends no body and the header `Adam-Refresh: cookie`; the cookie is
    /// cleared.
    #[oai(path = "/logout", method = "post")]
    async fn logout(
        &self,
        req: &Request,
        Json(body): Json<Strict<RefreshRequest>>,
    ) -> Result<NoContent, ApiError> {
        self.adam
            .logout_with(&body.0.refresh_token, &origin(req))
            .await?;
        Ok(NoContent::Done)
    }

    /// My sessions
    ///
    /// The caller's live sessions, newest first; `current` marks the one making this request.
    #[oai(path = "/sessions", method = "get")]
    async fn sessions(&self, auth: BearerAuth) -> Result<Serialized<SessionList>, ApiError> {
        Ok(Serialized(
            self.adam.my_sessions(&auth.0.principal).await?.into(),
        ))
    }

    /// End one of my sessions
    ///
    /// Its refresh and access tokens stop working at once (the current session too). Another
    /// user's session, or one already ended, answers 404.
    #[oai(path = "/sessions/:id", method = "delete")]
    async fn end_session(
        &self,
        auth: BearerAuth,
        id: poem_openapi::param::Path<uuid::Uuid>,
    ) -> Result<NoContent, ApiError> {
        self.adam
            .end_my_session(&auth.0.principal, id.0.into())
            .await?;
        Ok(NoContent::Done)
    }

    /// Sign out everywhere
    ///
    /// Revokes every session of the caller; their access tokens stop working at once.
    #[oai(path = "/logout-all", method = "post")]
    async fn logout_all(&self, auth: BearerAuth) -> Result<NoContent, ApiError> {
        self.adam.logout_all(&auth.0.principal).await?;
        Ok(NoContent::Done)
    }

    /// Introspect a token (RFC 7662)
    ///
    /// Whether a token is a live access token (signature, expiry, and the session and user as
    /// they are now), with its claims if so. Needs no credentials: the caller holds the token
    /// already and learns only whether it is live.
    #[oai(path = "/introspect", method = "post")]
    async fn introspect(&self, body: IntrospectBody) -> Result<Introspected, ApiError> {
        let request = match body {
            IntrospectBody::Json(Json(Strict(b))) | IntrospectBody::Form(Form(b)) => b,
        };
        // Both bodies are read by serde, without the schema's bounds: they are checked here.
        let too_long = |s: &str, max: usize| s.chars().count() > max;
        if too_long(&request.token, 4096)
            || request
                .token_type_hint
                .as_deref()
                .is_some_and(|h| too_long(h, 64))
        {
            return Err(ApiError::from_status(
                poem::http::StatusCode::BAD_REQUEST,
                "token: at most 4096 characters; token_type_hint: at most 64",
            ));
        }
        let found = self.adam.introspect(&request.token).await?;
        Ok(Introspected::Answer(Json(found.into()), "no-store".into()))
    }

    /// What I may do to others
    ///
    /// The actions of the contract's vocabulary the caller may do to someone other than
    /// themself, and the roles they may give, computed from the role table that enforces them.
    /// Limits that depend on the target (a principal may turn `mfa_required` on but not off)
    /// still answer 403 at the action.
    #[oai(path = "/permissions", method = "get")]
    async fn permissions(&self, auth: BearerAuth) -> Result<Json<adam_api::Permissions>, ApiError> {
        Ok(Json(
            adam_core::rbac::permissions(auth.0.principal.placement()).into(),
        ))
    }

    /// My profile
    #[oai(path = "/me", method = "get")]
    async fn me(&self, auth: BearerAuth) -> Result<Json<UserOut>, ApiError> {
        // The security check read the caller's profile already.
        Ok(Json(auth.0.user.into()))
    }
}
