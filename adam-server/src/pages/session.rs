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

/// The browser's session after a sign-in: the secret its cookie holds now, and the
/// `Set-Cookie` to send when that is a new one.
pub(super) struct Opened {
    pub(super) secret: String,
    pub(super) set_cookie: Option<HeaderValue>,
}

/// Hands the session a sign-in opened to the browser: the `Set-Cookie` that holds it until the
/// session ends at the latest. The tokens never reach the page. A browser signed in as the
/// same user already keeps its session, now re-authenticated
/// ([`adam_core::Adam::open_browser_session_over`]).
pub(super) async fn open(req: &Request, adam: &Adam, pair: TokenPair) -> adam_core::Result<Opened> {
    let previous = crate::cookies::read(req, COOKIE);
    let Some(session) = adam
        .open_browser_session_over(pair, previous.as_deref())
        .await?
    else {
        return Ok(Opened {
            secret: previous.unwrap_or_default(),
            set_cookie: None,
        });
    };
    let seconds = (session.expires_at - adam.settings().clock.now())
        .num_seconds()
        .max(0);
    let cookie = format!(
        "{COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={seconds}",
        session.token.expose()
    );
    let set_cookie = HeaderValue::from_str(&cookie)
        .map_err(|_| adam_core::Error::Internal("a session cookie is not a header value".into()))?;
    Ok(Opened {
        secret: session.token.expose().to_owned(),
        set_cookie: Some(set_cookie),
    })
}

/// [`open`], only the `Set-Cookie`.
pub(super) async fn cookie(
    req: &Request,
    adam: &Adam,
    pair: TokenPair,
) -> adam_core::Result<Option<HeaderValue>> {
    open(req, adam, pair).await.map(|o| o.set_cookie)
}

/// [`open`], then on to the application an OpenID Connect request (`authorize`) names, or to
/// `/account`.
pub(super) async fn start(
    req: &Request,
    adam: &Adam,
    pair: TokenPair,
    authorize: Option<&str>,
) -> Response {
    let opened = match open(req, adam, pair).await {
        Ok(o) => o,
        Err(e) => return super::failed(&e),
    };
    let mut response = match authorize {
        Some(query) => super::authorize::after_sign_in(req, adam, query, &opened.secret).await,
        None => see_other("/account"),
    };
    if let Some(cookie) = opened.set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Makes the browser forget its session cookie.
pub(super) fn forget(response: &mut Response) {
    let cookie = format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}
