//! `/account`, the same for every role: who you are, your second factor, your sessions (sign
//! out one, or all), the applications you allowed (withdraw one), sign out. Administration stays in the desktop app and the API.

use adam_core::{Principal, SessionId, User};
use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form};
use poem::{handler, Request, Response};
use serde::Deserialize;

use super::csrf::Csrf;
use super::links::Pages;
use super::session::{self, see_other};
use super::{forged, form_html, message};

/// One session in the list.
struct SessionLine {
    id: String,
    created_at: String,
    from: String,
    two_step: bool,
    current: bool,
}

#[derive(Template)]
#[template(path = "pages/account.html")]
struct AccountPage {
    title: &'static str,
    csrf: String,
    name: String,
    email: String,
    role: String,
    second_factor: &'static str,
    sessions: Vec<SessionLine>,
    apps: Vec<AppLine>,
}

/// An application the user allowed (OpenID Connect consent).
struct AppLine {
    client_id: String,
    name: String,
    allowed_at: String,
}

/// A submitted account form.
#[derive(Deserialize)]
pub(crate) struct Submitted {
    csrf: Option<String>,
    action: Option<String>,
    session: Option<String>,
    client_id: Option<String>,
}

/// A user agent as a line of the list: its first 48 characters.
fn short_agent(agent: &str) -> String {
    match agent.char_indices().nth(48) {
        Some((at, _)) => format!("{}…", &agent[..at]),
        None => agent.to_owned(),
    }
}

/// The user's role as the page lists it, capitalised (`Dealer principal`).
fn role_name(user: &User) -> String {
    let words = user.role().in_words();
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[handler]
pub(crate) async fn show(req: &Request, Data(pages): Data<&Pages>) -> Response {
    let adam = &pages.adam;
    let Some((me, user)) = session::signed_in(adam, req).await else {
        return see_other("/signin");
    };
    let (mfa, sessions, apps) = match tokio::try_join!(
        adam.mfa_status(&me),
        adam.my_sessions(&me),
        adam.allowed_apps(&me)
    ) {
        Ok(all) => all,
        Err(e) => return super::failed(&e),
    };
    let apps = apps
        .into_iter()
        .map(|a| AppLine {
            client_id: a.client_id,
            name: a.name,
            allowed_at: a.allowed_at.format("%Y-%m-%d").to_string(),
        })
        .collect();
    let second_factor = match (mfa.totp_enabled, mfa.required) {
        (true, _) => "On (an authenticator app)",
        (false, true) => "Off, but required: you will set it up at the next sign-in",
        (false, false) => "Off",
    };
    let sessions = sessions
        .into_iter()
        .map(|s| SessionLine {
            id: s.id.to_string(),
            created_at: s.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            from: [s.ip, s.user_agent.as_deref().map(short_agent)]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · "),
            two_step: s.amr.has_second_factor(),
            current: s.id == me.session_id(),
        })
        .collect();
    form_html(req, StatusCode::OK, |csrf| AccountPage {
        title: "Your account",
        csrf,
        name: user.full_name.clone(),
        email: user.email.as_str().to_owned(),
        role: role_name(&user),
        second_factor,
        sessions,
        apps,
    })
}

#[handler]
pub(crate) async fn submit(
    req: &Request,
    Data(pages): Data<&Pages>,
    Form(form): Form<Submitted>,
) -> Response {
    if !Csrf::matches(req, form.csrf.as_deref()) {
        return forged();
    }
    let adam = &pages.adam;
    let Some((me, _)) = session::signed_in(adam, req).await else {
        return see_other("/signin");
    };
    let ended = match form.action.as_deref() {
        Some("logout") => adam.end_my_session(&me, me.session_id()).await,
        Some("logout_all") => adam.logout_all(&me).await,
        Some("end") => {
            let Some(id) = form
                .session
                .as_deref()
                .and_then(|s| s.parse::<SessionId>().ok())
            else {
                return unknown_action();
            };
            return match adam.end_my_session(&me, id).await {
                Ok(()) => see_other("/account"),
                Err(e) => super::failed(&e),
            };
        }
        Some("revoke_app") => {
            let Some(client) = form.client_id.as_deref() else {
                return unknown_action();
            };
            return match adam.revoke_app(&me, client).await {
                Ok(()) | Err(adam_core::Error::NotFound) => see_other("/account"),
                Err(e) => super::failed(&e),
            };
        }
        _ => return unknown_action(),
    };
    signed_out(&me, ended)
}

fn unknown_action() -> Response {
    message(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Not understood",
        "This form asked for something the account page does not do; nothing was changed.",
        None,
    )
}

/// After signing this browser out: back to `/signin`, the cookie forgotten.
fn signed_out(me: &Principal, ended: adam_core::Result<()>) -> Response {
    match ended {
        Ok(()) => {
            tracing::debug!(session = %me.session_id(), "signed out in the browser");
            let mut response = see_other("/signin");
            session::forget(&mut response);
            response
        }
        Err(e) => super::failed(&e),
    }
}
