//! The browser session's cookie, `__Host-adam_session` (`HttpOnly; Secure; SameSite=Lax;
//! Path=/`): it holds the secret of an ordinary Adam session the pages opened
//! ([`adam_core::Adam::open_browser_session`]).

use adam_core::{Adam, Principal, TokenPair, User};
use poem::http::{header, HeaderValue, StatusCode};
use poem::{Request, Response};

/// The cookie's name.
pub(super) const COOKIE: &str = "__Host-adam_session";

/// Who the browser is signed in as, if its cookie holds a live session.
pub(super) async fn signed_in(adam: &Adam, req: &Request) -> Option<(Principal, User)> {
    let value = crate::cookies::read(req, COOKIE)?;
    adam.browser_principal(&value).await.ok()
}

/// A `303 See Other` to `to`.
pub(super) fn see_other(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .finish()
}

/// Hands the session a sign-in opened to the browser: the `Set-Cookie` that holds it until the
/// session ends at the latest. The tokens never reach the page.
pub(super) async fn cookie(adam: &Adam, pair: TokenPair) -> adam_core::Result<HeaderValue> {
    let session = adam.open_browser_session(pair).await?;
    let seconds = (session.expires_at - adam.settings().clock.now())
        .num_seconds()
        .max(0);
    let cookie = format!(
        "{COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={seconds}",
        session.token.expose()
    );
    HeaderValue::from_str(&cookie)
        .map_err(|_| adam_core::Error::Internal("a session cookie is not a header value".into()))
}

/// [`cookie`], then on to `/account`.
pub(super) async fn start(adam: &Adam, pair: TokenPair) -> Response {
    match cookie(adam, pair).await {
        Ok(cookie) => {
            let mut response = see_other("/account");
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(e) => super::failed(&e),
    }
}

/// Makes the browser forget its session cookie.
pub(super) fn forget(response: &mut Response) {
    let cookie = format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}
