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
use super::{forged, form_html, message, message_leading, Link};

/// One session in the list.
struct SessionLine {
    id: String,
    created_at: String,
    from: String,
    two_step: bool,
    by_passkey: bool,
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
    /// The user's passkeys; `None` where passkeys are off.
    passkeys: Option<Vec<PasskeyLine>>,
}

/// One passkey in the list.
struct PasskeyLine {
    id: String,
    name: String,
    created_at: String,
    last_used: String,
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
    passkey: Option<String>,
    name: Option<String>,
    ceremony_id: Option<String>,
    credential: Option<String>,
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
    let passkeys = if adam.passkeys_enabled() {
        match adam.passkeys(&me).await {
            Ok(keys) => Some(
                keys.into_iter()
                    .map(|k| PasskeyLine {
                        id: k.id.to_string(),
                        name: k.name,
                        created_at: k.created_at.format("%Y-%m-%d").to_string(),
                        last_used: k.last_used_at.map_or_else(
                            || "not used yet".to_owned(),
                            |t| format!("last used {}", t.format("%Y-%m-%d %H:%M UTC")),
                        ),
                    })
                    .collect(),
            ),
            Err(e) => return super::failed(&e),
        }
    } else {
        None
    };
    let apps = apps
        .into_iter()
        .map(|a| AppLine {
            client_id: a.client_id,
            name: a.name,
            allowed_at: a.allowed_at.format("%Y-%m-%d").to_string(),
        })
        .collect();
    let has_passkey = passkeys
        .as_ref()
        .is_some_and(|k: &Vec<PasskeyLine>| !k.is_empty());
    let second_factor = match (mfa.totp_enabled, mfa.required) {
        (true, _) => "On (an authenticator app)",
        (false, _) if has_passkey => "A passkey (it is a second factor by itself)",
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
            by_passkey: s.amr.used_passkey(),
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
        passkeys,
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
        Some("passkey_register") => {
            let answer =
                super::ceremony_answer(form.ceremony_id.as_deref(), form.credential.as_deref());
            let Some((ceremony, credential)) = answer else {
                return unknown_action();
            };
            let name = form.name.as_deref().unwrap_or("");
            return match adam
                .register_passkey(&me, ceremony, &credential, name)
                .await
            {
                Ok(_) => see_other("/account"),
                Err(e) => passkey_refused(&e),
            };
        }
        Some("passkey_remove") => {
            let Some(id) = form
                .passkey
                .as_deref()
                .and_then(|p| p.parse::<uuid::Uuid>().ok())
            else {
                return unknown_action();
            };
            return match adam.remove_passkey(&me, id).await {
                Ok(()) | Err(adam_core::Error::NotFound) => see_other("/account"),
                Err(e) => passkey_refused(&e),
            };
        }
        _ => return unknown_action(),
    };
    signed_out(&me, ended)
}

/// The way back to a fresh sign-in, for a change that needs one.
const SIGN_IN_AGAIN: Link<'static> = Link {
    href: super::signin::AGAIN,
    label: "Sign in again",
};

const BACK_TO_ACCOUNT: Link<'static> = Link {
    href: "/account",
    label: "Back to your account",
};

/// What a refused passkey change shows.
fn passkey_refused(e: &adam_core::Error) -> Response {
    match e {
        adam_core::Error::ReauthenticationRequired => message_leading(
            StatusCode::FORBIDDEN,
            "Sign in again first",
            "Adding or removing a passkey needs a sign-in of the last five minutes. Nothing was \
             changed: sign in again, then try once more.",
            SIGN_IN_AGAIN,
        ),
        adam_core::Error::Invalid { .. } | adam_core::Error::Conflict(_) => message_leading(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The passkey was not added",
            &e.to_string(),
            BACK_TO_ACCOUNT,
        ),
        other => super::failed(other),
    }
}

/// `POST /account/passkey-options`: the options of a new passkey for the browser's session, as
/// JSON for the page's script. The anti-forgery token comes in the `X-Adam-Csrf` header (a
/// custom header: another site's page cannot send it without a CORS preflight we refuse).
#[handler]
pub(crate) async fn passkey_options(req: &Request, Data(pages): Data<&Pages>) -> Response {
    let field = req
        .headers()
        .get("x-adam-csrf")
        .and_then(|v| v.to_str().ok());
    if !Csrf::matches(req, field) {
        return json_problem(&adam_core::Error::forbidden(
            "the anti-forgery token is missing or wrong: reload the page",
        ));
    }
    let adam = &pages.adam;
    let Some((me, _)) = session::signed_in(adam, req).await else {
        return json_problem(&adam_core::Error::unauthorized("not signed in"));
    };
    match adam.start_passkey_registration(&me).await {
        Ok(c) => {
            let body = adam_api::PasskeyCeremony::from(c);
            Response::builder()
                .content_type("application/json")
                .body(serde_json::to_string(&body).unwrap_or_default())
        }
        Err(e) => json_problem(&e),
    }
}

/// A core error as the API's problem document, for the page's script.
fn json_problem(e: &adam_core::Error) -> Response {
    let status = crate::error::status_of(e);
    let detail = match e {
        adam_core::Error::Unauthorized(_) => "sign in first".to_owned(),
        e if status.is_server_error() => {
            tracing::error!(error = %e, "passkey options failed");
            "internal error".to_owned()
        }
        e => e.to_string(),
    };
    let mut body = serde_json::json!({"status": status.as_u16(), "detail": detail});
    if matches!(e, adam_core::Error::ReauthenticationRequired) {
        // The script offers the way to a fresh sign-in.
        body["type"] = adam_api::problems::REAUTHENTICATION_REQUIRED.into();
        body["next"] = SIGN_IN_AGAIN.href.into();
    }
    Response::builder()
        .status(status)
        .content_type("application/problem+json")
        .body(body.to_string())
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
