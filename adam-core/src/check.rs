//! Three ways for another service to check a caller's access token, one trait.
//!
//! | way | needs | a revoked session stops |
//! |---|---|---|
//! | [`Adam`](crate::Adam) (in-process, with the database) | the database URL and `SECRET_KEY` | at once |
//! | [`AccessTokenVerifier`], or `JwksVerifier` (feature `jwks`) | the JWKS | when the token expires |
//! | `IntrospectionClient` (feature `introspection`) | the server's URL | at once (one HTTP call) |
//!
//! Each yields the same read-only [`Caller`] for the service's own rules. The guards for poem
//! and axum (features `poem` and `axum`) take any of them.

use std::future::Future;

use crate::caller::Caller;
use crate::error::Result;
use crate::tokens::AccessTokenVerifier;

/// Checks an access token and says who is calling. Every failure to check is
/// [`crate::Error::Unauthorized`]; other errors mean the check could not be made (the database
/// or the server is unreachable).
pub trait CheckCaller: Send + Sync {
    /// The caller `token` speaks for.
    fn check(&self, token: &str) -> impl Future<Output = Result<Caller>> + Send;
}

/// Offline, against a fixed set of keys.
impl CheckCaller for AccessTokenVerifier {
    async fn check(&self, token: &str) -> Result<Caller> {
        self.verify(token)
    }
}
