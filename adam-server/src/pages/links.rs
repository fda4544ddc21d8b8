//! `/invite/{token}` and `/reset/{token}`: the pages of the links mailed to staff. Opening one
//! (GET) shows its form and spends nothing, however often a mail scanner opens it; only
//! submitting the form, with its anti-forgery token, does.

use adam_core::{Adam, Error};
use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{handler, Request, Response};
use serde::Deserialize;

use super::csrf::Csrf;
use super::{forged, form_html, message};
use crate::api::origin;

/// What the pages' handlers share.
#[derive(Clone)]
pub(crate) struct Pages {
    pub(crate) adam: Adam,
}

/// The form that sets a password: an invitation's first, or a reset's new one.
#[derive(Template)]
#[template(path = "pages/password_form.html")]
struct PasswordForm<'a> {
    title: &'a str,
    intro: String,
    error: Option<String>,
    action: String,
    csrf: String,
    email: &'a str,
    min_length: usize,
    ask_code: bool,
    submit: &'a str,
}

/// A submitted password form; fields a browser left out are `None`.
#[derive(Deserialize)]
pub(crate) struct Submitted {
    csrf: Option<String>,
    new_password: Option<String>,
    confirm: Option<String>,
    code: Option<String>,
}

const UNUSABLE: &str = "This link cannot be used";

/// The form page, with the browser's anti-forgery token.
fn form_page(req: &Request, status: StatusCode, form: PasswordForm<'_>) -> Response {
    form_html(req, status, |csrf| PasswordForm { csrf, ..form })
}

/// The answer to an error of the engine on a link's page (`form` re-shows the form for input
/// the user can correct).
fn failed(e: Error, form: impl FnOnce(String) -> Response) -> Response {
    match e {
        Error::LinkUnusable(problem) => message(
            StatusCode::GONE,
            UNUSABLE,
            problem.says(),
            Some("Ask for a new link: your administrator can resend an invitation, and the sign-in screen sends a new password-reset link."),
        ),
        Error::Invalid { field, reason } => {
            let what = match field {
                "code" => "Code",
                _ => "Password",
            };
            form(format!("{what}: {reason}"))
        }
        Error::MfaCodeInvalid => form("The code is incorrect or was used already.".into()),
        Error::TooManyAttempts { .. } => message(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Too many failed attempts; try again later.",
            None,
        ),
        Error::Conflict(reason) => message(StatusCode::CONFLICT, UNUSABLE, &reason, None),
        other => super::failed(&other),
    }
}

/// The two passwords of the form, the same and present, or what to say.
fn chosen(form: &Submitted) -> Result<&str, String> {
    super::chosen(form.new_password.as_deref(), form.confirm.as_deref())
}

// ---- /reset/{token} ----

fn reset_form<'a>(
    adam: &Adam,
    token: &str,
    email: &'a str,
    ask_code: bool,
    error: Option<String>,
) -> PasswordForm<'a> {
    PasswordForm {
        title: "Choose a new password",
        intro: format!(
            "For {email}. Setting it signs you out everywhere{}.",
            if ask_code {
                "; your second factor is asked too"
            } else {
                ""
            }
        ),
        error,
        action: format!("/reset/{token}"),
        csrf: String::new(),
        email,
        min_length: adam.password_policy().min_len(),
        ask_code,
        submit: "Set the new password",
    }
}

#[handler]
pub(crate) async fn open_reset(
    req: &Request,
    Path(token): Path<String>,
    Data(pages): Data<&Pages>,
) -> Response {
    match pages.adam.open_password_reset(&token).await {
        Ok(link) => form_page(
            req,
            StatusCode::OK,
            reset_form(
                &pages.adam,
                &token,
                link.email.as_str(),
                link.second_factor,
                None,
            ),
        ),
        Err(e) => failed(e, |_| message(StatusCode::GONE, UNUSABLE, "", None)),
    }
}

#[handler]
pub(crate) async fn complete_reset(
    req: &Request,
    Path(token): Path<String>,
    Data(pages): Data<&Pages>,
    Form(submitted): Form<Submitted>,
) -> Response {
    if !Csrf::matches(req, submitted.csrf.as_deref()) {
        return forged();
    }
    let adam = &pages.adam;
    let link = match adam.open_password_reset(&token).await {
        Ok(link) => link,
        Err(e) => return failed(e, |_| message(StatusCode::GONE, UNUSABLE, "", None)),
    };
    let email = link.email.as_str().to_owned();
    let again = |error: String| {
        form_page(
            req,
            StatusCode::UNPROCESSABLE_ENTITY,
            reset_form(adam, &token, &email, link.second_factor, Some(error)),
        )
    };
    let password = match chosen(&submitted) {
        Ok(p) => p,
        Err(error) => return again(error),
    };
    let code = submitted.code.as_deref().filter(|c| !c.trim().is_empty());
    match adam
        .complete_password_reset(&token, password, code, &origin(req))
        .await
    {
        // Every earlier session has ended; this browser is signed in to `/account` only.
        Ok(pair) => super::session::start(adam, pair).await,
        Err(e) => failed(e, again),
    }
}

// ---- /invite/{token} ----

fn invitation_form<'a>(
    adam: &Adam,
    token: &str,
    link: &'a adam_core::InvitationLink,
    error: Option<String>,
) -> PasswordForm<'a> {
    let place = match &link.dealership_name {
        Some(d) => format!(" at {d}"),
        None => String::new(),
    };
    PasswordForm {
        title: "Welcome to Adam",
        intro: format!(
            "{}, choose the password you will sign in with as {}{place}.",
            link.full_name,
            link.email.as_str()
        ),
        error,
        action: format!("/invite/{token}"),
        csrf: String::new(),
        email: link.email.as_str(),
        min_length: adam.password_policy().min_len(),
        ask_code: false,
        submit: "Create my account",
    }
}

#[handler]
pub(crate) async fn open_invitation(
    req: &Request,
    Path(token): Path<String>,
    Data(pages): Data<&Pages>,
) -> Response {
    match pages.adam.open_invitation(&token).await {
        Ok(link) => form_page(
            req,
            StatusCode::OK,
            invitation_form(&pages.adam, &token, &link, None),
        ),
        Err(e) => failed(e, |_| message(StatusCode::GONE, UNUSABLE, "", None)),
    }
}

#[handler]
pub(crate) async fn accept_invitation(
    req: &Request,
    Path(token): Path<String>,
    Data(pages): Data<&Pages>,
    Form(submitted): Form<Submitted>,
) -> Response {
    if !Csrf::matches(req, submitted.csrf.as_deref()) {
        return forged();
    }
    let adam = &pages.adam;
    let link = match adam.open_invitation(&token).await {
        Ok(link) => link,
        Err(e) => return failed(e, |_| message(StatusCode::GONE, UNUSABLE, "", None)),
    };
    let again = |error: String| {
        form_page(
            req,
            StatusCode::UNPROCESSABLE_ENTITY,
            invitation_form(adam, &token, &link, Some(error)),
        )
    };
    let password = match chosen(&submitted) {
        Ok(p) => p,
        Err(error) => return again(error),
    };
    match adam.accept_invitation(&token, password, &origin(req)).await {
        // Signed in to `/account`, or, where a second factor is required, on to enrolling it.
        Ok(signed_in) => {
            super::signin::advance(req, adam, signed_in, link.email.as_str(), Vec::new()).await
        }
        Err(e) => failed(e, again),
    }
}
