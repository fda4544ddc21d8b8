//! `/.well-known`: the published signing keys and the server's metadata, for services that check
//! Adam's tokens themselves.

use adam_core::Adam;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::schema::{Jwks, OpenIdConfiguration, ServerMetadata};
use super::ApiTags;
use crate::error::ApiError;

/// How long clients may cache the key set, in seconds: a new key is published at least this long
/// before it signs ([`adam_core::Settings::key_publish_lead`]), so no client meets a token whose
/// key it has not fetched.
pub(crate) fn jwks_max_age(adam: &Adam) -> i64 {
    adam.settings().key_publish_lead.num_seconds().clamp(0, 300)
}

/// Discovery documents.
#[derive(Debug)]
pub(crate) struct WellKnownApi {
    pub(crate) adam: Adam,
}

/// The key set, cacheable.
#[derive(ApiResponse)]
pub(crate) enum KeySet {
    /// The next, current and still-published retired keys; never a private member.
    #[oai(status = 200)]
    Published(
        Json<Jwks>,
        /// `public, max-age=N`, N at most 300.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[OpenApi(prefix_path = "/.well-known", tag = "ApiTags::Discovery")]
impl WellKnownApi {
    /// Signing keys (JWKS)
    ///
    /// The public Ed25519 keys that sign access tokens and ID tokens (`kty: OKP`, `crv:
    /// Ed25519`, `alg: EdDSA`) and, once a client registered for RS256 needs them, the RSA keys
    /// that sign its ID tokens only (`kty: RSA`, `n`, `e`, `alg: RS256`), by `kid`. A key is
    /// published before it signs and stays published until every token it signed has expired.
    #[oai(path = "/jwks.json", method = "get")]
    async fn jwks(&self) -> Result<KeySet, ApiError> {
        let keys = self.adam.jwks().await?;
        Ok(KeySet::Published(
            Json((&keys).into()),
            format!("public, max-age={}", jwks_max_age(&self.adam)),
        ))
    }

    /// OpenID Connect discovery
    ///
    /// The provider's endpoints and what it supports (OpenID Connect Discovery 1.0): the code
    /// flow with PKCE `S256`, ID tokens signed `EdDSA` or, for clients registered so, `RS256`.
    #[oai(path = "/openid-configuration", method = "get")]
    async fn openid_configuration(&self) -> Json<OpenIdConfiguration> {
        let issuer = &self.adam.settings().token_audience.issuer;
        Json(OpenIdConfiguration::of(issuer, &["EdDSA", "RS256"]))
    }

    /// Server metadata (RFC 8414)
    ///
    /// The issuer (the tokens' `iss`), where the keys are published and where tokens are
    /// introspected.
    #[oai(path = "/oauth-authorization-server", method = "get")]
    async fn metadata(&self) -> Json<ServerMetadata> {
        let issuer = self.adam.settings().token_audience.issuer.clone();
        Json(ServerMetadata {
            jwks_uri: format!("{issuer}/.well-known/jwks.json"),
            introspection_endpoint: format!("{issuer}/api/v1/auth/introspect"),
            issuer,
        })
    }
}
