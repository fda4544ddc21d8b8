//! The REST API under `/api/v1` and the discovery documents under `/.well-known`: one
//! `#[OpenApi]` impl per resource.

use adam_core::{Adam, Principal, User};
use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::{OpenApiService, SecurityScheme, Tags};

mod audit;
mod auth;
mod dealerships;
pub(crate) mod document;
mod invitations;
mod mfa;
mod oauth2;
mod oauth_clients;
mod passkeys;
pub mod schema;
mod serialized;
mod strict;
mod users;
mod well_known;

pub(crate) use audit::AuditApi;
pub(crate) use auth::origin;
pub(crate) use auth::AuthApi;
pub(crate) use dealerships::DealershipsApi;
pub(crate) use invitations::InvitationsApi;
pub(crate) use mfa::MfaApi;
pub(crate) use oauth2::OAuth2Api;
pub(crate) use oauth_clients::OAuthClientsApi;
pub(crate) use passkeys::PasskeysApi;
pub(crate) use users::UsersApi;
pub(crate) use well_known::WellKnownApi;

/// Groups of operations in the documentation.
#[derive(Tags)]
pub(crate) enum ApiTags {
    /// Sign-in, token refresh and sign-out.
    Auth,
    /// Users, within the caller's dealership (or all, for system admins).
    Users,
    /// Dealerships: everyone sees their own; system admins manage all.
    Dealerships,
    /// The audit log: who signed in, who changed what, which sessions ended.
    Audit,
    /// The applications that sign staff in through Adam (OpenID Connect clients).
    Clients,
    /// Signing keys and server metadata, for services that check Adam's tokens themselves.
    Discovery,
    /// The OpenID Connect provider's token, userinfo and revocation endpoints.
    OpenIdConnect,
}

/// An access token from `/auth/login` or `/auth/refresh`, checked against the live session on
/// every request.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub(crate) struct BearerAuth(Caller);

/// The authenticated caller and their profile, read by the same query.
pub(crate) struct Caller {
    /// Who is calling.
    pub(crate) principal: Principal,
    /// Their profile as stored now.
    pub(crate) user: User,
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let adam = req
        .data::<Adam>()
        .ok_or_else(|| poem::Error::from_status(poem::http::StatusCode::INTERNAL_SERVER_ERROR))?;
    adam.authenticate_user(&bearer.token)
        .await
        .map(|(principal, user)| Caller {
            principal: principal.from_client(auth::origin(req)),
            user,
        })
        .map_err(crate::error::to_poem)
}

/// All operations the OpenAPI service serves
type Apis = (
    AuthApi,
    MfaApi,
    PasskeysApi,
    UsersApi,
    InvitationsApi,
    DealershipsApi,
    AuditApi,
    OAuthClientsApi,
    OAuth2Api,
    WellKnownApi,
);

/// The OpenAPI service of all resources, with their full paths (`/api/v1/…`, `/.well-known/…`).
pub(crate) fn service(adam: &Adam, bell: &crate::mail::Mailbell) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            AuthApi {
                adam: adam.clone(),
                bell: bell.clone(),
            },
            MfaApi { adam: adam.clone() },
            PasskeysApi { adam: adam.clone() },
            UsersApi { adam: adam.clone() },
            InvitationsApi {
                adam: adam.clone(),
                bell: bell.clone(),
            },
            DealershipsApi { adam: adam.clone() },
            AuditApi { adam: adam.clone() },
            OAuthClientsApi { adam: adam.clone() },
            OAuth2Api { adam: adam.clone() },
            WellKnownApi { adam: adam.clone() },
        ),
        "Adam",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Sign-in, roles and tenancy for dealership staff. Sign in with `POST /auth/login`, then \
         send the access token as `Authorization: Bearer <token>`. Errors are \
         `application/problem+json` (RFC 9457). Other services check access tokens against \
         `/.well-known/jwks.json` or with `POST /api/v1/auth/introspect`.",
    )
}
