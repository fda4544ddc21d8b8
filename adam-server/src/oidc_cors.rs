//! CORS for the OpenID Connect endpoints a single-page application calls from the browser
//! (contract: "OpenID Connect provider"): discovery, the key set, `/oauth2/token`,
//! `/oauth2/userinfo` and `/oauth2/revoke` answer the origins of registered redirect URIs (a
//! loopback IP literal with any port, as its redirect URIs match), never with credentials. The
//! API's own CORS (`BACKEND_CORS_ORIGINS`, with credentials) does not apply to them.

use std::sync::Arc;

use adam_core::Adam;
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};

/// The paths this layer answers for.
fn covered(path: &str) -> bool {
    matches!(
        path.trim_end_matches('/'),
        "/.well-known/openid-configuration"
            | "/.well-known/jwks.json"
            | "/oauth2/token"
            | "/oauth2/userinfo"
            | "/oauth2/revoke"
    )
}

/// Whether a page at `origin` belongs to one of `redirect_uris`' origins.
fn allowed(origin: &str, redirect_uris: &[String]) -> bool {
    let Ok(origin) = url::Url::parse(origin) else {
        return false;
    };
    redirect_uris
        .iter()
        .filter_map(|u| url::Url::parse(u).ok())
        .any(|r| {
            let loopback = r.host().is_some_and(|h| {
                matches!(h, url::Host::Ipv4(a) if a.is_loopback())
                    || matches!(h, url::Host::Ipv6(a) if a.is_loopback())
            });
            r.scheme() == origin.scheme()
                && r.host() == origin.host()
                && (loopback || r.port_or_known_default() == origin.port_or_known_default())
        })
}

/// The layer: a preflight from an allowed origin is answered here; an actual request from one
/// gets `Access-Control-Allow-Origin`; anything else passes without CORS headers.
pub(crate) async fn layer<E: Endpoint>(
    ep: Arc<E>,
    req: Request,
    adam: Adam,
) -> poem::Result<Response> {
    let origin = req
        .header(header::ORIGIN)
        .filter(|_| covered(req.uri().path()))
        .map(str::to_owned);
    let Some(origin) = origin else {
        return ep.call(req).await.map(IntoResponse::into_response);
    };
    let ok = adam
        .redirect_uris()
        .await
        .is_ok_and(|uris| allowed(&origin, &uris));
    let preflight =
        req.method() == Method::OPTIONS && req.header("access-control-request-method").is_some();
    let mut response = if preflight {
        Response::builder().status(StatusCode::NO_CONTENT).finish()
    } else {
        ep.call(req).await.map(IntoResponse::into_response)?
    };
    let h = response.headers_mut();
    for name in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-expose-headers",
    ] {
        h.remove(name);
    }
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if ok {
        if let Ok(v) = HeaderValue::from_str(&origin) {
            h.insert("access-control-allow-origin", v);
        }
        if preflight {
            h.insert(
                "access-control-allow-methods",
                HeaderValue::from_static("GET, POST"),
            );
            h.insert(
                "access-control-allow-headers",
                HeaderValue::from_static("authorization, content-type"),
            );
            h.insert("access-control-max-age", HeaderValue::from_static("600"));
        } else {
            h.insert(
                "access-control-expose-headers",
                HeaderValue::from_static("www-authenticate"),
            );
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_redirect_uris_and_loopback_on_any_port() {
        let uris = [
            "https://portal.dealer.example/callback".to_owned(),
            "http://127.0.0.1/callback".to_owned(),
        ];
        assert!(allowed("https://portal.dealer.example", &uris));
        assert!(allowed("http://127.0.0.1:5173", &uris));
        assert!(!allowed("https://portal.dealer.example:8443", &uris));
        assert!(!allowed("http://portal.dealer.example", &uris));
        assert!(!allowed("https://evil.example", &uris));
        assert!(!allowed("http://localhost:5173", &uris));
        assert!(!allowed("null", &uris));
    }
}
