//! Browser clients of the API (contract: "Browser clients of the API"): a web client that
//! sends `Adam-Refresh: cookie` keeps its refresh token in an `HttpOnly` cookie instead of page
//! script memory (RFC 10017's advice for browser-based applications).
//!
//! - A sign-in or refresh asked this way answers the token pair without `refresh_token` and sets
//!   `__Host-adam_refresh` (`HttpOnly; Secure; SameSite=Strict; Path=/`, expiring with the
//!   refresh token).
//! - `POST /auth/refresh` and `/auth/logout` with an empty body read the token from that cookie,
//!   and only with the header as well: a cross-site form cannot send it, and a cross-origin
//!   script must pass CORS first. A token in the body wins over the cookie.
//! - Logout, logout-all and a refresh refused for any reason but
//!   `refresh-token-already-rotated` clear the cookie.
//!
//! The handlers know nothing of it: this layer turns the cookie into the body the API expects
//! and the answer's token into the cookie.

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::error::{ApiError, ALREADY_ROTATED};

/// The cookie's name.
pub const COOKIE: &str = "__Host-adam_refresh";
/// The header that asks for cookie mode, and its one value.
pub const HEADER: &str = "adam-refresh";

/// The routes whose answer is a token pair.
const ISSUING: [&str; 6] = [
    "/api/v1/auth/login",
    "/api/v1/auth/login/mfa",
    "/api/v1/auth/login/mfa/enroll/confirm",
    "/api/v1/auth/login/password",
    "/api/v1/auth/login/passkey",
    "/api/v1/auth/refresh",
];
const REFRESH: &str = "/api/v1/auth/refresh";
const LOGOUT: &str = "/api/v1/auth/logout";
const LOGOUT_ALL: &str = "/api/v1/auth/logout-all";

/// Whether the request asks for cookie mode.
fn asks(req: &Request) -> bool {
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("cookie"))
}

/// The refresh cookie the request carries, if any.
fn cookie(req: &Request) -> Option<String> {
    crate::cookies::read(req, COOKIE).filter(|v| !v.is_empty())
}

/// Whether the request has no body (a browser's `fetch` without one sends `Content-Length: 0`).
fn bodiless(req: &Request) -> bool {
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok());
    match length {
        Some(n) => n.trim() == "0",
        None => !req.headers().contains_key(header::TRANSFER_ENCODING),
    }
}

fn set_cookie(response: &mut Response, value: &str, max_age: i64) {
    let text =
        format!("{COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    if let Ok(v) = HeaderValue::from_str(&text) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The cookie-mode layer around the whole application; `lifetime` is a refresh token's.
pub async fn layer<E: Endpoint>(
    ep: &E,
    mut req: Request,
    lifetime: std::time::Duration,
) -> poem::Result<Response> {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    if req.method() != Method::POST
        || !(ISSUING.contains(&path.as_str()) || path == LOGOUT || path == LOGOUT_ALL)
    {
        return ep.call(req).await.map(IntoResponse::into_response);
    }
    let asked = asks(&req);
    let carried = cookie(&req);
    // An empty body names its token by the cookie, and only with the header.
    if (path == REFRESH || path == LOGOUT) && bodiless(&req) {
        if let Some(token) = &carried {
            if !asked {
                return Ok(ApiError::from_status(
                    StatusCode::FORBIDDEN,
                    "the refresh cookie is read only with the header Adam-Refresh: cookie",
                )
                .into_response());
            }
            let body = serde_json::json!({ "refresh_token": token }).to_string();
            req.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            req.headers_mut().remove(header::CONTENT_LENGTH);
            req.set_body(body);
        }
    }
    let mut response = ep.call(req).await.map(IntoResponse::into_response)?;
    let status = response.status();
    if path == LOGOUT || path == LOGOUT_ALL {
        if status.is_success() && carried.is_some() {
            set_cookie(&mut response, "", 0);
        }
        return Ok(response);
    }
    if status == StatusCode::OK && asked {
        return Ok(into_cookie(response, lifetime).await);
    }
    if path == REFRESH && status.is_client_error() && carried.is_some() {
        return Ok(unless_rotated(response).await);
    }
    Ok(response)
}

/// A token pair answer with its refresh token moved into the cookie.
async fn into_cookie(response: Response, lifetime: std::time::Duration) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body.into_bytes().await {
        Ok(b) => b,
        Err(_) => return Response::from_parts(parts, poem::Body::empty()),
    };
    let mut value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return Response::from_parts(parts, bytes.into()),
    };
    let token = value
        .as_object_mut()
        .and_then(|o| o.remove("refresh_token"))
        .and_then(|t| t.as_str().map(str::to_owned));
    let mut response = Response::from_parts(parts, value.to_string().into());
    response.headers_mut().remove(header::CONTENT_LENGTH);
    if let Some(token) = token {
        set_cookie(
            &mut response,
            &token,
            i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
        );
    }
    response
}

/// A refused refresh clears the cookie, unless it lost a race to another window (its session
/// lives, and the other window holds the newer token).
async fn unless_rotated(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = body.into_bytes().await.unwrap_or_default();
    let rotated = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str().map(str::to_owned)))
        .is_some_and(|t| t.ends_with(ALREADY_ROTATED));
    let mut response = Response::from_parts(parts, bytes.into());
    if !rotated {
        set_cookie(&mut response, "", 0);
    }
    response
}
