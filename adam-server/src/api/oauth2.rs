//! The OpenID Connect provider's JSON endpoints (contract: "OpenID Connect provider"):
//! `/oauth2/token`, `/oauth2/userinfo` and `/oauth2/revoke`. They follow their RFCs, not the
//! JSON API's conventions: form bodies, unknown parameters ignored, errors as RFC 6749 §5.2 JSON
//! (userinfo: RFC 6750 `WWW-Authenticate`). The browser steps (`/oauth2/authorize`,
//! `/oauth2/logout`) are pages (`crate::pages`).

use adam_core::oauth_clients::OAuthClient;
use adam_core::oidc::{GrantTokens, UserInfo as CoreUserInfo};
use adam_core::{Adam, Error};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use poem::{Request, RequestBody};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::Type;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::ApiTags;
use crate::error::{ApiError, Problem};

/// A form body as these endpoints read it: whatever the `Content-Type`, a body that is not a
/// readable form is `None`, answered `invalid_request` in the RFC's form (not the API's
/// problem documents).
pub(crate) struct OAuthForm<T>(Option<T>);

impl<'a, T: Type + DeserializeOwned + Send> ApiExtractor<'a> for OAuthForm<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/x-www-form-urlencoded",
                schema: T::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let bytes = body.take()?.into_vec().await?;
        Ok(Self(serde_urlencoded::from_bytes(&bytes).ok()))
    }
}

/// The server's own trouble, the only answers of these endpoints outside their RFCs.
#[derive(Debug, ApiResponse)]
pub(crate) enum ServerTrouble {
    /// The body is larger than 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// Something failed on our side; details are in the server log.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// The database is unavailable; wait `Retry-After` seconds.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(
        Json<Problem>,
        /// Seconds to wait before trying again.
        #[oai(header = "Retry-After")]
        String,
    ),
}

impl From<Error> for ServerTrouble {
    fn from(e: Error) -> Self {
        match ApiError::from(e) {
            ApiError::Unavailable(p, after) => Self::Unavailable(p, after),
            ApiError::PayloadTooLarge(p) => Self::PayloadTooLarge(p),
            ApiError::Internal(p) => Self::Internal(p),
            other => {
                tracing::error!(answer = ?other, "an OpenID Connect endpoint met an error it does not expect");
                Self::Internal(Json(Problem::new(
                    poem::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error",
                )))
            }
        }
    }
}

/// The OpenID Connect endpoints that answer JSON.
#[derive(Debug)]
pub(crate) struct OAuth2Api {
    pub(crate) adam: Adam,
}

/// A token request (RFC 6749 §4.1.3 and §6). Every field is optional here so that a missing
/// one is answered in the RFC's form (`invalid_request`).
#[derive(Debug, Object, Deserialize)]
pub(crate) struct TokenRequest {
    /// `authorization_code` or `refresh_token`.
    grant_type: Option<String>,
    /// The code from the redirect (`authorization_code`).
    code: Option<String>,
    /// The redirect URI the code was asked for, exactly (`authorization_code`).
    redirect_uri: Option<String>,
    /// The PKCE verifier (`authorization_code`).
    code_verifier: Option<String>,
    /// The refresh token (`refresh_token`).
    refresh_token: Option<String>,
    /// The client, when it does not authenticate with HTTP Basic.
    client_id: Option<String>,
    /// A confidential client's secret (`client_secret_post`).
    client_secret: Option<String>,
}

/// A revocation request (RFC 7009 §2.1).
#[derive(Debug, Object, Deserialize)]
pub(crate) struct RevokeRequest {
    /// The refresh or access token to revoke.
    token: Option<String>,
    /// A hint, ignored: Adam looks the token up as either.
    token_type_hint: Option<String>,
    /// The client, when it does not authenticate with HTTP Basic.
    client_id: Option<String>,
    /// A confidential client's secret (`client_secret_post`).
    client_secret: Option<String>,
}

/// A userinfo request sent as a form (RFC 6750 §2.2).
#[derive(Debug, Object, Deserialize)]
pub(crate) struct UserInfoForm {
    /// The access token, when not in the `Authorization` header.
    access_token: Option<String>,
}

/// The tokens of a successful token request.
#[derive(Debug, Object)]
pub(crate) struct TokenBody {
    /// Adam's access token: good at `/oauth2/userinfo`, and at the API for first-party clients.
    access_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// The ID token (EdDSA, or RS256 for clients registered so).
    id_token: String,
    /// With the scope `offline_access` only; spent on use, as the API's.
    #[oai(skip_serializing_if_is_none)]
    refresh_token: Option<String>,
    /// The scopes granted.
    scope: String,
}

/// An error in the form of RFC 6749 §5.2.
#[derive(Debug, Object)]
pub(crate) struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`, …
    error: String,
    /// What went wrong, for a developer.
    #[oai(skip_serializing_if_is_none)]
    error_description: Option<String>,
}

/// The challenge of a refused client (RFC 6749 §5.2).
const BASIC_CHALLENGE: &str = "Basic realm=\"adam\"";

impl OAuthError {
    fn invalid_client() -> Json<Self> {
        Self::new("invalid_client", "client authentication failed")
    }

    fn new(error: &str, description: &str) -> Json<Self> {
        Json(Self {
            error: error.into(),
            error_description: Some(description.into()),
        })
    }
}

/// The userinfo claims (OpenID Connect Core §5.3).
#[derive(Debug, Object)]
pub(crate) struct UserInfoBody {
    /// The user id.
    sub: uuid::Uuid,
    /// With the scope `email`.
    #[oai(skip_serializing_if_is_none)]
    email: Option<String>,
    /// With the scope `email`: whether the email was proved.
    #[oai(skip_serializing_if_is_none)]
    email_verified: Option<bool>,
    /// With the scope `profile`.
    #[oai(skip_serializing_if_is_none)]
    name: Option<String>,
    /// The user's role.
    role: String,
    /// The user's dealership; absent for a system admin.
    #[oai(skip_serializing_if_is_none)]
    dealership_id: Option<uuid::Uuid>,
}

impl From<CoreUserInfo> for UserInfoBody {
    fn from(u: CoreUserInfo) -> Self {
        Self {
            sub: u.sub.as_uuid(),
            email: u.email,
            email_verified: u.email_verified,
            name: u.name,
            role: u.role.as_str().into(),
            dealership_id: u.dealership_id.map(|d| d.as_uuid()),
        }
    }
}

const NO_STORE: &str = "no-store";

/// What the token endpoint answers.
#[derive(ApiResponse)]
pub(crate) enum TokenAnswer {
    /// The tokens.
    #[oai(status = 200)]
    Issued(
        Json<TokenBody>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
        /// Always `no-cache`.
        #[oai(header = "Pragma")]
        String,
    ),
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type` or `unauthorized_client`.
    #[oai(status = 400)]
    Refused(
        Json<OAuthError>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `invalid_client`: an unknown client, a wrong or missing secret, or a secret for a public
    /// client.
    #[oai(status = 401)]
    BadClient(
        Json<OAuthError>,
        /// `Basic realm="adam"`.
        #[oai(header = "WWW-Authenticate")]
        String,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

impl TokenAnswer {
    fn refused(error: &str, description: &str) -> Self {
        Self::Refused(OAuthError::new(error, description), NO_STORE.into())
    }

    fn bad_client() -> Self {
        Self::BadClient(
            OAuthError::invalid_client(),
            BASIC_CHALLENGE.into(),
            NO_STORE.into(),
        )
    }

    fn issued(tokens: GrantTokens) -> Self {
        Self::Issued(
            Json(TokenBody {
                access_token: tokens.access_token,
                token_type: "Bearer".into(),
                expires_in: tokens.expires_in,
                id_token: tokens.id_token,
                refresh_token: tokens.refresh_token.map(|t| t.expose().to_owned()),
                scope: tokens.scope,
            }),
            NO_STORE.into(),
            "no-cache".into(),
        )
    }
}

/// What the revocation endpoint answers.
#[derive(ApiResponse)]
pub(crate) enum RevokeAnswer {
    /// Revoked, or not a token of this client's (RFC 7009 answers both alike).
    #[oai(status = 200)]
    Done,
    /// `invalid_request`: no `token`.
    #[oai(status = 400)]
    Refused(Json<OAuthError>),
    /// `invalid_client`.
    #[oai(status = 401)]
    BadClient(
        Json<OAuthError>,
        /// `Basic realm="adam"`.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
}

/// What the userinfo endpoint answers.
#[derive(ApiResponse)]
pub(crate) enum UserInfoAnswer {
    /// The claims the token's scopes allow.
    #[oai(status = 200)]
    Claims(
        Json<UserInfoBody>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// No token, or one that is not good here (RFC 6750 §3).
    #[oai(status = 401)]
    Unauthorized(
        /// `Bearer error="invalid_token"`, or `Bearer` when none was sent.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
}

/// The client a request authenticates as: HTTP Basic (`client_secret_basic`, the id and secret
/// form-encoded, RFC 6749 §2.3.1), or `client_id` and `client_secret` in the form, or a public
/// client's bare `client_id`. Both ways at once, or neither, is `None`.
async fn client_of(
    adam: &Adam,
    req: &Request,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<Option<OAuthClient>, ServerTrouble> {
    let basic = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .map(|b| {
            let decoded = STANDARD.decode(b.trim()).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (id, secret) = text.split_once(':')?;
            Some((form_decode(id)?, form_decode(secret)?))
        });
    let (id, secret) = match (basic, form_secret) {
        (Some(None), _) => return Ok(None),
        (Some(Some(_)), Some(_)) => return Ok(None),
        (Some(Some((id, secret))), None) => {
            if form_id.is_some_and(|f| f != id) {
                return Ok(None);
            }
            (id, Some(secret))
        }
        (None, secret) => match form_id {
            Some(id) => (id.to_owned(), secret.map(str::to_owned)),
            None => return Ok(None),
        },
    };
    match adam.authenticate_client(&id, secret.as_deref()).await {
        Ok(client) => Ok(Some(client)),
        Err(Error::Unauthorized(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `application/x-www-form-urlencoded` decoding of one value (`+` is a space).
fn form_decode(text: &str) -> Option<String> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[OpenApi(prefix_path = "/oauth2", tag = "ApiTags::OpenIdConnect")]
impl OAuth2Api {
    /// Token endpoint
    ///
    /// Exchanges an authorization code (with the PKCE verifier and the redirect URI it was
    /// asked for) or a refresh token for tokens. Confidential clients authenticate with
    /// `client_secret_basic` or `client_secret_post`; public clients send `client_id` only. A
    /// code is good once, for 60 seconds; a code presented again revokes what it issued.
    #[oai(path = "/token", method = "post")]
    async fn token(
        &self,
        req: &Request,
        OAuthForm(body): OAuthForm<TokenRequest>,
    ) -> Result<TokenAnswer, ServerTrouble> {
        let Some(body) = body else {
            return Ok(TokenAnswer::refused(
                "invalid_request",
                "the body is not a form",
            ));
        };
        let Some(client) = client_of(
            &self.adam,
            req,
            body.client_id.as_deref(),
            body.client_secret.as_deref(),
        )
        .await?
        else {
            return Ok(TokenAnswer::bad_client());
        };
        let done = match body.grant_type.as_deref() {
            Some("authorization_code") => {
                let (Some(code), Some(redirect_uri), Some(verifier)) = (
                    body.code.as_deref(),
                    body.redirect_uri.as_deref(),
                    body.code_verifier.as_deref(),
                ) else {
                    return Ok(TokenAnswer::refused(
                        "invalid_request",
                        "code, redirect_uri and code_verifier are required",
                    ));
                };
                self.adam
                    .exchange_code(&client, code, redirect_uri, verifier)
                    .await
            }
            Some("refresh_token") => {
                let Some(token) = body.refresh_token.as_deref() else {
                    return Ok(TokenAnswer::refused(
                        "invalid_request",
                        "refresh_token is required",
                    ));
                };
                self.adam.refresh_grant(&client, token).await
            }
            Some(_) => {
                return Ok(TokenAnswer::refused(
                    "unsupported_grant_type",
                    "authorization_code and refresh_token only",
                ))
            }
            None => {
                return Ok(TokenAnswer::refused(
                    "invalid_request",
                    "grant_type is required",
                ))
            }
        };
        match done {
            Ok(tokens) => Ok(TokenAnswer::issued(tokens)),
            Err(Error::Unauthorized(why)) => Ok(TokenAnswer::refused("invalid_grant", &why)),
            Err(Error::RefreshTokenAlreadyRotated) => Ok(TokenAnswer::refused(
                "invalid_grant",
                "refresh token already rotated; use the newer one",
            )),
            Err(e @ (Error::Forbidden(_) | Error::Invalid { .. })) => {
                Ok(TokenAnswer::refused("invalid_grant", &e.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// UserInfo endpoint (GET)
    ///
    /// The signed-in user's claims, as the access token's scopes allow, while the grant it
    /// belongs to lives. The token goes in `Authorization: Bearer`.
    #[oai(path = "/userinfo", method = "get")]
    async fn userinfo(&self, req: &Request) -> Result<UserInfoAnswer, ServerTrouble> {
        self.answer_userinfo(bearer(req)).await
    }

    /// UserInfo endpoint (POST)
    ///
    /// As `GET`, with the token in `Authorization: Bearer` or in the form's `access_token`.
    #[oai(path = "/userinfo", method = "post")]
    async fn userinfo_post(
        &self,
        req: &Request,
        OAuthForm(body): OAuthForm<UserInfoForm>,
    ) -> Result<UserInfoAnswer, ServerTrouble> {
        let form_token = body.and_then(|b| b.access_token);
        let token = match (bearer(req), form_token) {
            (Some(_), Some(_)) => None,
            (Some(t), None) => Some(t),
            (None, form) => form,
        };
        self.answer_userinfo(token).await
    }

    /// Revocation endpoint (RFC 7009)
    ///
    /// Ends the grant a refresh or access token of the calling client belongs to: that
    /// client's tokens in that sign-in, and nothing else. A token that is not the client's is
    /// answered alike (200) and changes nothing.
    #[oai(path = "/revoke", method = "post")]
    async fn revoke(
        &self,
        req: &Request,
        OAuthForm(body): OAuthForm<RevokeRequest>,
    ) -> Result<RevokeAnswer, ServerTrouble> {
        let Some(body) = body else {
            return Ok(RevokeAnswer::Refused(OAuthError::new(
                "invalid_request",
                "the body is not a form",
            )));
        };
        let _ = &body.token_type_hint;
        let Some(client) = client_of(
            &self.adam,
            req,
            body.client_id.as_deref(),
            body.client_secret.as_deref(),
        )
        .await?
        else {
            return Ok(RevokeAnswer::BadClient(
                OAuthError::invalid_client(),
                BASIC_CHALLENGE.into(),
            ));
        };
        let Some(token) = body.token else {
            return Ok(RevokeAnswer::Refused(OAuthError::new(
                "invalid_request",
                "token is required",
            )));
        };
        self.adam.revoke_client_token(&client, &token).await?;
        Ok(RevokeAnswer::Done)
    }
}

/// The bearer token of the `Authorization` header, if any.
fn bearer(req: &Request) -> Option<String> {
    req.header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

impl OAuth2Api {
    async fn answer_userinfo(
        &self,
        token: Option<String>,
    ) -> Result<UserInfoAnswer, ServerTrouble> {
        let Some(token) = token else {
            return Ok(UserInfoAnswer::Unauthorized("Bearer realm=\"adam\"".into()));
        };
        match self.adam.userinfo(&token).await {
            Ok(info) => Ok(UserInfoAnswer::Claims(Json(info.into()), NO_STORE.into())),
            Err(Error::Unauthorized(_) | Error::Invalid { .. }) => {
                Ok(UserInfoAnswer::Unauthorized(
                    "Bearer realm=\"adam\", error=\"invalid_token\"".into(),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }
}
