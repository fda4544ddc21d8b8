//! Ready guards for an embedding service's HTTP routes (features `poem` and `axum`): take the
//! bearer token, check it with any [`CheckCaller`](crate::CheckCaller), and either hand the
//! handler the [`Caller`](crate::Caller) (as a request extension) or answer
//! `401 application/problem+json` with `WWW-Authenticate: Bearer` (503 when the check could not
//! be made).

/// The problem document and status for a failed check.
#[cfg(any(feature = "poem", feature = "axum"))]
fn refusal(e: &crate::Error) -> (u16, String) {
    let (status, title, detail) = match e {
        crate::Error::Unauthorized(_) => (
            401,
            "Unauthorized",
            "the access token is missing, invalid, expired or revoked",
        ),
        _ => (
            503,
            "Service Unavailable",
            "the access token cannot be checked now",
        ),
    };
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    });
    (status, body.to_string())
}

/// The token of an `Authorization: Bearer …` header value.
#[cfg(any(feature = "poem", feature = "axum"))]
fn bearer(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The guard for poem.
///
/// ```no_run
/// use adam_core::guard::poem::RequireCaller;
/// use adam_core::remote::JwksVerifier;
/// use adam_core::Caller;
/// use poem::{get, handler, web::Data, EndpointExt, Route};
///
/// #[handler]
/// fn whoami(caller: Data<&Caller>) -> String {
///     format!("{:?}", caller.role())
/// }
///
/// # fn f() -> adam_core::Result<()> {
/// let verifier = JwksVerifier::new("https://auth.example.com")?;
/// let app = Route::new().at("/whoami", get(whoami).with(RequireCaller::new(verifier)));
/// # Ok(()) }
/// ```
#[cfg(feature = "poem")]
pub mod poem {
    use std::sync::Arc;

    use poem::http::{header, StatusCode};
    use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

    use crate::check::CheckCaller;

    /// Middleware that lets only requests with a checked access token through, with the
    /// [`crate::Caller`] in the request's data (`Data<&Caller>`).
    #[derive(Debug)]
    pub struct RequireCaller<C>(Arc<C>);

    impl<C> RequireCaller<C> {
        /// A guard checking tokens with `check`.
        pub fn new(check: C) -> Self {
            Self(Arc::new(check))
        }
    }

    impl<C> Clone for RequireCaller<C> {
        fn clone(&self) -> Self {
            Self(self.0.clone())
        }
    }

    impl<E: Endpoint, C: CheckCaller + 'static> Middleware<E> for RequireCaller<C> {
        type Output = Guarded<E, C>;

        fn transform(&self, ep: E) -> Self::Output {
            Guarded {
                inner: ep,
                check: self.0.clone(),
            }
        }
    }

    /// An endpoint behind [`RequireCaller`].
    #[derive(Debug)]
    pub struct Guarded<E, C> {
        inner: E,
        check: Arc<C>,
    }

    impl<E: Endpoint, C: CheckCaller + 'static> Endpoint for Guarded<E, C> {
        type Output = Response;

        async fn call(&self, mut req: Request) -> Result<Response> {
            let token = super::bearer(req.header(header::AUTHORIZATION)).map(str::to_owned);
            let checked = match token {
                Some(t) => self.check.check(&t).await,
                None => Err(crate::Error::unauthorized("no bearer token")),
            };
            match checked {
                Ok(caller) => {
                    req.extensions_mut().insert(caller);
                    self.inner.call(req).await.map(IntoResponse::into_response)
                }
                Err(e) => {
                    let (status, body) = super::refusal(&e);
                    let mut resp = Response::builder()
                        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED))
                        .content_type("application/problem+json")
                        .body(body);
                    if status == 401 {
                        resp.headers_mut().insert(
                            header::WWW_AUTHENTICATE,
                            header::HeaderValue::from_static("Bearer"),
                        );
                    }
                    Ok(resp)
                }
            }
        }
    }
}

/// The guard for axum: a middleware function for `axum::middleware::from_fn_with_state`.
///
/// ```no_run
/// use std::sync::Arc;
/// use adam_core::guard::axum::require_caller;
/// use adam_core::remote::IntrospectionClient;
/// use adam_core::Caller;
/// use axum::{middleware, routing::get, Extension, Router};
///
/// async fn whoami(Extension(caller): Extension<Caller>) -> String {
///     format!("{:?}", caller.role())
/// }
///
/// # fn f() -> adam_core::Result<()> {
/// let check = Arc::new(IntrospectionClient::new("https://auth.example.com")?);
/// let app: Router = Router::new()
///     .route("/whoami", get(whoami))
///     .layer(middleware::from_fn_with_state(check, require_caller::<IntrospectionClient>));
/// # Ok(()) }
/// ```
#[cfg(feature = "axum")]
pub mod axum {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::http::{header, HeaderValue, StatusCode};
    use axum::middleware::Next;
    use axum::response::Response;

    use crate::check::CheckCaller;

    /// Lets only requests with a checked access token through, with the [`crate::Caller`] as a
    /// request extension (`Extension<Caller>`); otherwise 401 problem+json.
    pub async fn require_caller<C: CheckCaller + 'static>(
        State(check): State<Arc<C>>,
        mut req: Request,
        next: Next,
    ) -> Response {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let checked = match super::bearer(header).map(str::to_owned) {
            Some(t) => check.check(&t).await,
            None => Err(crate::Error::unauthorized("no bearer token")),
        };
        match checked {
            Ok(caller) => {
                req.extensions_mut().insert(caller);
                next.run(req).await
            }
            Err(e) => {
                let (status, body) = super::refusal(&e);
                let mut resp = Response::new(Body::from(body));
                *resp.status_mut() =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                if status == 401 {
                    resp.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                resp
            }
        }
    }
}

#[cfg(all(test, any(feature = "poem", feature = "axum")))]
mod tests {
    #[test]
    fn only_bearer_headers_carry_a_token() {
        assert_eq!(super::bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(super::bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(super::bearer(Some("Basic abc")), None);
        assert_eq!(super::bearer(Some("Bearer ")), None);
        assert_eq!(super::bearer(None), None);
    }
}
