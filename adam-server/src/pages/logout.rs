//! `/oauth2/logout` (OpenID Connect RP-Initiated Logout 1.0): ends the browser session, and with
//! it every application's grant in it, then returns to the application's registered
//! `post_logout_redirect_uri` with its `state`. Without a valid `id_token_hint` for this
//! browser's session it asks the user first (a link alone must not sign anyone out). A
//! `post_logout_redirect_uri` the client did not register is never followed.

use adam_core::Adam;
use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{handler, Request, Response};
use serde::Deserialize;

use super::csrf::Csrf;
use super::links::Pages;
use super::session::{self, see_other};
use super::{forged, form_html, message};

/// The parameters of a logout request (query or form); others are ignored.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
    csrf: Option<String>,
    confirm: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/logout.html")]
struct ConfirmPage {
    title: &'static str,
    csrf: String,
    name: Option<String>,
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
}

/// Where to go after signing out: the client's registered URI with `state`, or `None` for
/// Adam's own page. A URI the client (named by the hint or `client_id`) did not register is an
/// error page.
async fn destination(
    adam: &Adam,
    params: &Params,
    hint_client: Option<&str>,
) -> Result<Option<String>, Response> {
    let Some(uri) = params.post_logout_redirect_uri.as_deref() else {
        return Ok(None);
    };
    let refused = || {
        message(
            StatusCode::BAD_REQUEST,
            "This sign-out link is not valid",
            "It would send you to an address the application did not register. You are still signed in.",
            None,
        )
    };
    let client_id = match (hint_client, params.client_id.as_deref()) {
        (Some(h), Some(c)) if h != c => return Err(refused()),
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => return Err(refused()),
    };
    let client = match adam.oauth_client(client_id).await {
        Ok(c) => c,
        Err(_) => return Err(refused()),
    };
    if !client
        .post_logout_redirect_uris
        .iter()
        .any(|u| u.matches(uri))
    {
        return Err(refused());
    }
    let state: Vec<(&str, &str)> = params.state.iter().map(|s| ("state", s.as_str())).collect();
    Ok(Some(super::with_query(uri, &state)))
}

/// Ends the browser's session (if any) and goes on.
async fn sign_out(adam: &Adam, req: &Request, to: Option<String>) -> Response {
    if let Some((me, _)) = session::signed_in(adam, req).await {
        if let Err(e) = adam.end_my_session(&me, me.session_id()).await {
            if !matches!(e, adam_core::Error::NotFound) {
                return super::failed(&e);
            }
        }
    }
    let mut response = match to {
        Some(to) => see_other(&to),
        None => message(
            StatusCode::OK,
            "Signed out",
            "You are signed out of Adam and of the applications you opened through it.",
            None,
        ),
    };
    session::forget(&mut response);
    response
}

async fn logout(req: &Request, adam: &Adam, params: Params, posted: bool) -> Response {
    let hint = match params.id_token_hint.as_deref() {
        Some(token) => match adam.id_token_hint(token).await {
            Ok(h) => h,
            Err(e) => return super::failed(&e),
        },
        None => None,
    };
    let to = match destination(adam, &params, hint.as_ref().map(|h| h.client_id.as_str())).await {
        Ok(to) => to,
        Err(page) => return page,
    };
    let signed_in = session::signed_in(adam, req).await;
    // The hint names this browser's session (or the browser has none left to end): no need to
    // ask. A confirmed form, with its anti-forgery token, is the user's own request.
    let hinted = hint.as_ref().is_some_and(|h| match &signed_in {
        Some((me, _)) => me.session_id() == h.sid && me.user_id() == h.sub,
        None => true,
    });
    if posted && params.confirm.as_deref() == Some("yes") {
        if !Csrf::matches(req, params.csrf.as_deref()) {
            return forged();
        }
        return sign_out(adam, req, to).await;
    }
    if hinted || signed_in.is_none() {
        return sign_out(adam, req, to).await;
    }
    let name = signed_in.map(|(_, user)| user.full_name);
    let mut response = form_html(req, StatusCode::OK, |csrf| ConfirmPage {
        title: "Sign out",
        csrf,
        name,
        post_logout_redirect_uri: params.post_logout_redirect_uri.clone(),
        client_id: params
            .client_id
            .clone()
            .or_else(|| hint.map(|h| h.client_id)),
        state: params.state.clone(),
    });
    if let Some(uri) = &params.post_logout_redirect_uri {
        super::form_leads_to(&mut response, uri);
    }
    response
}

#[handler]
pub(crate) async fn show(
    req: &Request,
    Data(pages): Data<&Pages>,
    Query(params): Query<Params>,
) -> Response {
    logout(req, &pages.adam, params, false).await
}

#[handler]
pub(crate) async fn submit(
    req: &Request,
    Data(pages): Data<&Pages>,
    Form(params): Form<Params>,
) -> Response {
    logout(req, &pages.adam, params, true).await
}
