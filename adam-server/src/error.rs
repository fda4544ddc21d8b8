//! Errors as RFC 9457 problem documents: the one place that decides every status code.

use adam_core::Error;
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[oai(rename = "type")]
    pub kind: String,
    /// The status's short description.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, for a person; names the field for invalid input.
    pub detail: String,
    /// With `…/problems/mfa-required` and `…/problems/mfa-enrollment-required` only: the
    /// opaque token of the second sign-in step (good for five minutes and five wrong codes).
    pub mfa_token: Option<String>,
    /// With `…/problems/mfa-required` only: what the second step takes (`totp`,
    /// `recovery_code`).
    pub mfa_methods: Option<Vec<String>>,
    /// With `…/problems/password-change-required` only: the opaque token for
    /// `/auth/login/password` (good for five minutes and five refused passwords).
    pub password_change_token: Option<String>,
    /// With `…/problems/password-change-required` after an enrollment at sign-in only: the new
    /// recovery codes, shown this once.
    pub recovery_codes: Option<Vec<String>>,
}

impl Problem {
    /// A problem for `status` with `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: detail.into(),
            mfa_token: None,
            mfa_methods: None,
            password_change_token: None,
            recovery_codes: None,
        }
    }
}

const BEARER: &str = "Bearer";

pub use adam_api::problems::{
    ALREADY_ROTATED, MFA_CODE_INVALID, MFA_ENROLLMENT_REQUIRED, MFA_REQUIRED, MFA_TOKEN_INVALID,
    PASSWORD_CHANGE_REQUIRED, REAUTHENTICATION_REQUIRED,
};

/// The one detail of every 401 but a failed sign-in.
const UNAUTHORIZED_DETAIL: &str = "missing, invalid, expired or revoked credentials";

/// Every error answer of the API.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed: bad JSON, a missing or mistyped field, a bad parameter.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing, invalid, expired or revoked credentials.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(
        Json<Problem>,
        /// Always `Bearer`.
        #[oai(header = "WWW-Authenticate")]
        String,
        /// `no-store` when the answer carries an `mfa_token`.
        #[oai(header = "Cache-Control")]
        Option<String>,
    ),
    /// The caller can see the resource but may not do this.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such resource in the caller's visible set.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The request conflicts with the current state (duplicate email, last admin, dealership in use).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The link from a mail is expired, revoked or spent.
    #[oai(status = 410, content_type = "application/problem+json")]
    Gone(Json<Problem>),
    /// The body is larger than 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// A field is invalid; `detail` names it.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Too many failed sign-ins for this email; wait `Retry-After` seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Problem>,
        /// Seconds to wait before trying again.
        #[oai(header = "Retry-After")]
        String,
    ),
    /// Something failed on our side; details are in the server log.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// The database is unavailable, or password checks are queued beyond their deadline; wait
    /// `Retry-After` seconds.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(
        Json<Problem>,
        /// Seconds to wait before trying again.
        #[oai(header = "Retry-After")]
        String,
    ),
}

impl ApiError {
    /// The answer for `status` with `detail`.
    pub fn from_status(status: StatusCode, detail: impl Into<String>) -> Self {
        let p = Json(Problem::new(status, detail));
        match status.as_u16() {
            400 => Self::BadRequest(p),
            401 => Self::Unauthorized(p, BEARER.into(), None),
            403 => Self::Forbidden(p),
            404 => Self::NotFound(p),
            409 => Self::Conflict(p),
            410 => Self::Gone(p),
            413 => Self::PayloadTooLarge(p),
            422 => Self::Unprocessable(p),
            429 => Self::TooManyRequests(p, "60".into()),
            503 => Self::Unavailable(p, "5".into()),
            _ => Self::Internal(p),
        }
    }
}

impl ApiError {
    /// The 401 of a right password that needs a second step: the `mfa_token`, and for a user
    /// with a second factor, what it takes; or the `password_change_token` of a password that
    /// was set by someone else (with `recovery_codes`, when the step before was an enrollment).
    pub fn second_step(
        second: &adam_core::SignIn,
        recovery_codes: Option<&adam_core::RecoveryCodes>,
    ) -> Option<Self> {
        let (kind, token, methods, detail) = match second {
            adam_core::SignIn::Tokens(_) => return None,
            adam_core::SignIn::PasswordChangeRequired(t) => {
                let mut problem = Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "the password was set for you and must be changed: send a new one with the \
                     password_change_token to /auth/login/password",
                );
                problem.kind = PASSWORD_CHANGE_REQUIRED.into();
                problem.password_change_token = Some(t.expose().to_owned());
                problem.recovery_codes = recovery_codes.map(|c| c.codes().to_vec());
                return Some(Self::Unauthorized(
                    Json(problem),
                    BEARER.into(),
                    Some("no-store".into()),
                ));
            }
            adam_core::SignIn::CodeRequired(t, methods) => (
                MFA_REQUIRED,
                t,
                Some(methods.names().into_iter().map(str::to_owned).collect()),
                "a second factor is required: send a code with the mfa_token to /auth/login/mfa, \
                 or answer a passkey ceremony from /auth/login/mfa/passkey/options",
            ),
            adam_core::SignIn::EnrollmentRequired(t) => (
                MFA_ENROLLMENT_REQUIRED,
                t,
                None,
                "a second factor is required and not set up: enroll with the mfa_token at \
                 /auth/login/mfa/enroll",
            ),
        };
        let mut problem = Problem::new(StatusCode::UNAUTHORIZED, detail);
        problem.kind = kind.into();
        problem.mfa_token = Some(token.expose().to_owned());
        problem.mfa_methods = methods;
        Some(Self::Unauthorized(
            Json(problem),
            BEARER.into(),
            Some("no-store".into()),
        ))
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = status_of(&e);
        let problem = Json(Problem::new(status, client_detail(&e, status)));
        match e {
            Error::TooManyAttempts { retry_after_secs } => {
                Self::TooManyRequests(problem, retry_after_secs.to_string())
            }
            Error::Busy { retry_after_secs } => {
                Self::Unavailable(problem, retry_after_secs.to_string())
            }
            Error::RefreshTokenAlreadyRotated
            | Error::MfaCodeInvalid
            | Error::MfaTokenInvalid
            | Error::SecondFactorRequired
            | Error::PasswordChangeRequired => {
                let mut problem = problem;
                problem.0.kind = match e {
                    Error::RefreshTokenAlreadyRotated => ALREADY_ROTATED,
                    Error::MfaCodeInvalid => MFA_CODE_INVALID,
                    Error::MfaTokenInvalid => MFA_TOKEN_INVALID,
                    Error::PasswordChangeRequired => PASSWORD_CHANGE_REQUIRED,
                    _ => MFA_REQUIRED,
                }
                .into();
                Self::Unauthorized(problem, BEARER.into(), None)
            }
            Error::ReauthenticationRequired => {
                let mut problem = problem;
                problem.0.kind = REAUTHENTICATION_REQUIRED.into();
                Self::Forbidden(problem)
            }
            _ => Self::from_status(status, problem.0.detail),
        }
    }
}

/// What the client reads of a core error. 5xx details go to the log, never to the client.
fn client_detail(e: &Error, status: StatusCode) -> String {
    match e {
        Error::Storage(_)
        | Error::Migration(_)
        | Error::Internal(_)
        | Error::Config(_)
        | Error::Unavailable(_) => {
            tracing::error!(error = %e, "request failed");
            if status == StatusCode::SERVICE_UNAVAILABLE {
                "the database is unavailable".to_owned()
            } else {
                "internal error".to_owned()
            }
        }
        Error::NotFound => "not found".to_owned(),
        // Which check failed (signature, expiry, revoked session, …) is for the log, not for
        // whoever holds the token.
        Error::Unauthorized(reason) => {
            tracing::info!(reason = %reason, "unauthorized");
            UNAUTHORIZED_DETAIL.to_owned()
        }
        other => other.to_string(),
    }
}

/// The status for a core error.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::InvalidCredentials
        | Error::Unauthorized(_)
        | Error::RefreshTokenAlreadyRotated
        | Error::SecondFactorRequired
        | Error::MfaCodeInvalid
        | Error::MfaTokenInvalid
        | Error::PasskeyRefused => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) | Error::ReauthenticationRequired => StatusCode::FORBIDDEN,
        Error::NotFound => StatusCode::NOT_FOUND,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::LinkUnusable(_) => StatusCode::GONE,
        Error::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        e if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A core error as a poem error (for the security checker), rendered later by [`render`].
pub fn to_poem(e: Error) -> poem::Error {
    let status = status_of(&e);
    poem::Error::from_string(client_detail(&e, status), status)
}

/// Renders any error that escaped the handlers (routing, parsing, authentication, body limit) as
/// problem+json, so every error answer of the server has the same shape.
pub async fn render(err: poem::Error) -> Response {
    let status = err.status();
    let message = err.to_string();
    let original = err.into_response();
    // An `ApiError` returned by a handler arrives here already rendered: keep it whole.
    if original.content_type() == Some("application/problem+json") {
        return original;
    }
    let detail = if status.is_server_error() {
        tracing::error!(error = %message, "request failed");
        "internal error".to_owned()
    } else {
        message
    };
    let mut response = ApiError::from_status(status, detail).into_response();
    // Statuses without a variant of their own (405, 415, …) keep their code.
    response.set_status(status);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_check_given_up_is_503_with_retry_after() {
        let resp = ApiError::from(Error::Busy {
            retry_after_secs: 10,
        })
        .into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()["retry-after"], "10");
    }
}
