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

/// A kind of mailed link: how its page opens it, what its form says, and what submitting the
/// form does. Opening and submitting are the same for both kinds ([`open`], [`submit`]).
trait Link: Sized {
    /// What the link's page shows, read without spending it.
    async fn open(adam: &Adam, token: &str) -> adam_core::Result<Self>;
    /// The form, with `error` when it is shown again.
    fn form<'a>(&'a self, adam: &Adam, token: &str, error: Option<String>) -> PasswordForm<'a>;
    /// Spends the link with the chosen `password` (and `code`, where asked for).
    async fn spend(
        &self,
        adam: &Adam,
        req: &Request,
        token: &str,
        password: &str,
        code: Option<&str>,
    ) -> adam_core::Result<Response>;
}

/// The page of a link: its form, or why it cannot be used. Spends nothing.
async fn open<L: Link>(req: &Request, adam: &Adam, token: &str) -> Response {
    match L::open(adam, token).await {
        Ok(link) => form_page(req, StatusCode::OK, link.form(adam, token, None)),
        Err(e) => failed(e, |_| message(StatusCode::GONE, UNUSABLE, "", None)),
    }
}

/// A submitted link form: checked against its anti-forgery cookie, then the link spent.
async fn submit<L: Link>(req: &Request, adam: &Adam, token: &str, form: &Submitted) -> Response {
    if !Csrf::matches(req, form.csrf.as_deref()) {
        return forged();
    }
    let link = match L::open(adam, token).await {
        Ok(link) => link,
        Err(e) => return failed(e, |_| message(StatusCode::GONE, UNUSABLE, "", None)),
    };
    let again = |error: String| {
        form_page(
            req,
            StatusCode::UNPROCESSABLE_ENTITY,
            link.form(adam, token, Some(error)),
        )
    };
    let password = match super::chosen(form.new_password.as_deref(), form.confirm.as_deref()) {
        Ok(p) => p,
        Err(error) => return again(error),
    };
    let code = form.code.as_deref().filter(|c| !c.trim().is_empty());
    match link.spend(adam, req, token, password, code).await {
        Ok(done) => done,
        Err(e) => failed(e, again),
    }
}

/// `/reset/{token}`.
impl Link for adam_core::ResetLink {
    async fn open(adam: &Adam, token: &str) -> adam_core::Result<Self> {
        adam.open_password_reset(token).await
    }

    fn form<'a>(&'a self, adam: &Adam, token: &str, error: Option<String>) -> PasswordForm<'a> {
        PasswordForm {
            title: "Choose a new password",
            intro: format!(
                "For {}. Setting it signs you out everywhere{}.",
                self.email.as_str(),
                if self.second_factor {
                    "; your second factor is asked too"
                } else {
                    ""
                }
            ),
            error,
            action: format!("/reset/{token}"),
            csrf: String::new(),
            email: self.email.as_str(),
            min_length: adam.password_policy().min_len(),
            ask_code: self.second_factor,
            submit: "Set the new password",
        }
    }

    async fn spend(
        &self,
        adam: &Adam,
        req: &Request,
        token: &str,
        password: &str,
        code: Option<&str>,
    ) -> adam_core::Result<Response> {
        let pair = adam
            .complete_password_reset(token, password, code, &origin(req))
            .await?;
        // Every earlier session has ended; this browser is signed in to `/account` only.
        Ok(super::session::start(req, adam, pair, None).await)
    }
}

/// `/invite/{token}`.
impl Link for adam_core::InvitationLink {
    async fn open(adam: &Adam, token: &str) -> adam_core::Result<Self> {
        adam.open_invitation(token).await
    }

    fn form<'a>(&'a self, adam: &Adam, token: &str, error: Option<String>) -> PasswordForm<'a> {
        let place = match &self.dealership_name {
            Some(d) => format!(" at {d}"),
            None => String::new(),
        };
        PasswordForm {
            title: "Welcome to Adam",
            intro: format!(
                "{}, choose the password you will sign in with as {}{place}.",
                self.full_name,
                self.email.as_str()
            ),
            error,
            action: format!("/invite/{token}"),
            csrf: String::new(),
            email: self.email.as_str(),
            min_length: adam.password_policy().min_len(),
            ask_code: false,
            submit: "Create my account",
        }
    }

    async fn spend(
        &self,
        adam: &Adam,
        req: &Request,
        token: &str,
        password: &str,
        _code: Option<&str>,
    ) -> adam_core::Result<Response> {
        let signed_in = adam
            .accept_invitation(token, password, &origin(req))
            .await?;
        // Signed in to `/account`, or, where a second factor is required, on to enrolling it.
        Ok(
            super::signin::advance(req, adam, signed_in, self.email.as_str(), Vec::new(), None)
                .await,
        )
    }
}

#[handler]
pub(crate) async fn open_reset(
    req: &Request,
    Path(token): Path<String>,
    Data(pages): Data<&Pages>,
) -> Response {
    open::<adam_core::ResetLink>(req, &pages.adam, &token).await
}

#[handler]
pub(crate) async fn complete_reset(
    req: &Request,
    Path(token): Path<String>,
    Data(pages): Data<&Pages>,
    Form(form): Form<Submitted>,
) -> Response {
    submit::<adam_core::ResetLink>(req, &pages.adam, &token, &form).await
}

#[handler]
pub(crate) async fn open_invitation(
    req: &Request,
    Path(token): Path<String>,
    Data(pages): Data<&Pages>,
) -> Response {
    open::<adam_core::InvitationLink>(req, &pages.adam, &token).await
}

#[handler]
pub(crate) async fn accept_invitation(
    req: &Request,
    Path(token): Path<String>,
    Data(pages): Data<&Pages>,
    Form(form): Form<Submitted>,
) -> Response {
    submit::<adam_core::InvitationLink>(req, &pages.adam, &token, &form).await
}
