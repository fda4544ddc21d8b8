//! Pages served to a browser (contract: "Pages in the browser"): rendered on the server from
//! askama templates, usable without JavaScript, each with a strict `Content-Security-Policy`,
//! no framing, no referrer (their addresses hold link tokens), and an anti-forgery token in
//! every form.
//!
//! `/signin` and `/account` (with the browser session in `__Host-adam_session`),
//! `/invite/{token}` and `/reset/{token}`, the pages of the links mailed to staff, and the
//! OpenID Connect provider's browser steps, `/oauth2/authorize` and `/oauth2/logout`.

mod account;
mod authorize;
mod csrf;
mod links;
mod logout;
mod session;
mod signin;

use adam_core::{Adam, Error};
use askama::Template;
use poem::http::{header, HeaderValue, StatusCode};
use poem::{get, Endpoint, EndpointExt, Response, Route};

/// The stylesheet of every page.
const STYLESHEET: &str = include_str!("../../templates/pages/adam.css");

/// The pages' one script: the passkey ceremonies of `/signin` and `/account`.
const PASSKEYS_JS: &str = include_str!("../../templates/pages/passkeys.js");

/// What every page answer carries.
const CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

/// The pages' routes, added to the server's.
pub(crate) fn add(route: Route, adam: &Adam) -> Route {
    let state = links::Pages { adam: adam.clone() };
    route
        .at(
            "/invite/:token",
            page(
                get(links::open_invitation).post(links::accept_invitation),
                &state,
            ),
        )
        .at(
            "/reset/:token",
            page(get(links::open_reset).post(links::complete_reset), &state),
        )
        .at(
            "/signin",
            page(get(signin::show).post(signin::submit), &state),
        )
        .at(
            "/account",
            page(get(account::show).post(account::submit), &state),
        )
        .at(
            "/oauth2/authorize",
            page(get(authorize::show).post(authorize::submit), &state),
        )
        .at(
            "/oauth2/logout",
            page(get(logout::show).post(logout::submit), &state),
        )
        .at(
            "/account/passkey-options",
            page(poem::post(account::passkey_options), &state),
        )
        .at("/assets/adam.css", page(get(stylesheet), &state))
        .at("/assets/passkeys.js", page(get(passkeys_js), &state))
}

/// A page's endpoint with the headers every page answer carries.
fn page(
    endpoint: impl Endpoint + 'static,
    state: &links::Pages,
) -> impl Endpoint<Output = Response> {
    endpoint
        .data(state.clone())
        .map_to_response()
        .after(|result| async move {
            let mut response = result.unwrap_or_else(|e| e.into_response());
            let h = response.headers_mut();
            // A page whose form leads on to an application says so itself ([`form_leads_to`]).
            h.entry("content-security-policy")
                .or_insert(HeaderValue::from_static(CSP));
            h.insert("x-frame-options", HeaderValue::from_static("DENY"));
            h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
            h.insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            h.entry(header::CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("no-store"));
            Ok(response)
        })
}

/// Lets the forms of `response` lead on to `uri`'s origin: browsers hold the redirect that
/// follows a form's submission to `form-action` too, and the sign-in, consent and sign-out forms
/// of an OpenID Connect request end in a redirect to the application. Only the server ever
/// redirects there, and only to a URI the application registered.
fn form_leads_to(response: &mut Response, uri: &str) {
    let Ok(url) = url::Url::parse(uri) else {
        return;
    };
    let origin = url.origin().ascii_serialization();
    if origin == "null" || origin.contains([';', ',', '\'', ' ']) {
        return;
    }
    let csp = CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert("content-security-policy", value);
    }
}

/// `uri` with `pairs` added to its query (form-encoded), as an application's redirect and
/// post-logout URIs receive them.
fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(pairs);
    let query = query.finish();
    if query.is_empty() {
        return uri.to_owned();
    }
    let joint = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{joint}{query}")
}

#[poem::handler]
fn stylesheet() -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(STYLESHEET)
}

#[poem::handler]
fn passkeys_js() -> Response {
    Response::builder()
        .content_type("text/javascript; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(PASSKEYS_JS)
}

/// A passkey ceremony's answer as the page's script put it in a form: the ceremony's id and the
/// credential (JSON); `None` when either is missing or unreadable.
fn ceremony_answer(
    ceremony_id: Option<&str>,
    credential: Option<&str>,
) -> Option<(uuid::Uuid, serde_json::Value)> {
    let id = ceremony_id?.parse().ok()?;
    let credential = serde_json::from_str(credential?).ok()?;
    Some((id, credential))
}

/// The answer to a form posted without its anti-forgery token: 403, nothing changed.
fn forged() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Not sent",
        "This form could not be checked: it was not sent from this page, or your browser \
         refused its cookie. Open the page again and send it from there.",
        None,
    )
}

/// The page for an error the user cannot correct on the form: the API's status for it, and
/// nothing of the server's internals.
fn failed(e: &Error) -> Response {
    let status = crate::error::status_of(e);
    if status.is_server_error() {
        tracing::error!(error = %e, "a page failed");
    }
    message(
        status,
        "Something went wrong",
        "The server could not finish this; nothing was changed. Try again shortly.",
        None,
    )
}

/// The two passwords of a form, the same and present, or what to say.
fn chosen<'a>(password: Option<&'a str>, confirm: Option<&str>) -> Result<&'a str, String> {
    match (password, confirm) {
        (Some(p), Some(c)) if p == c => Ok(p),
        (Some(_), Some(_)) => Err("The two passwords differ.".into()),
        _ => Err("Password: is required.".into()),
    }
}

/// A page with a form, rendered with the browser's anti-forgery token (`page` receives it), the
/// cookie set where the browser has none yet.
fn form_html<T: Template>(
    req: &poem::Request,
    status: StatusCode,
    page: impl FnOnce(String) -> T,
) -> Response {
    let csrf = csrf::Csrf::for_form(req);
    let mut response = html(status, &page(csrf.token));
    if let Some(cookie) = csrf.set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A rendered template as an HTML answer with `status`.
fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .content_type("text/plain; charset=utf-8")
                .body("internal error")
        }
    }
}

/// A page that only says something: how a step went, or why it cannot go on.
#[derive(Template)]
#[template(path = "pages/message.html")]
struct Message<'a> {
    title: &'a str,
    text: &'a str,
    next: Option<&'a str>,
    link: Option<Link<'a>>,
    good: bool,
}

/// Where a [`Message`] leads: a same-site path and what its button says.
#[derive(Clone, Copy)]
struct Link<'a> {
    href: &'a str,
    label: &'a str,
}

/// [`Message`] as an answer.
fn message(status: StatusCode, title: &str, text: &str, next: Option<&str>) -> Response {
    html(
        status,
        &Message {
            title,
            text,
            next,
            link: None,
            good: status.is_success(),
        },
    )
}

/// [`message`] with a button that leads on.
fn message_leading(status: StatusCode, title: &str, text: &str, link: Link<'_>) -> Response {
    html(
        status,
        &Message {
            title,
            text,
            next: None,
            link: Some(link),
            good: status.is_success(),
        },
    )
}
