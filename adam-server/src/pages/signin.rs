//! `/signin`: email and password, then the code (or a recovery code), enrollment where a
//! second factor is required, and a new password where one was set by someone else; then the
//! browser session and `/account`. Every step answers as the API does (the same throttles, the
//! same one message for a failed sign-in); the step tokens travel in the form, the session's
//! tokens never reach the page.

use adam_core::{Adam, Error, SignIn};
use askama::Template;
use poem::http::{header, StatusCode};
use poem::web::{Data, Form, Query};
use poem::{handler, Request, Response};
use serde::Deserialize;

use super::csrf::Csrf;
use super::links::Pages;
use super::session;
use super::{forged, form_html};
use crate::api::origin;

/// The step a sign-in form is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Password,
    Code,
    Enroll,
    NewPassword,
    /// Signed in; the page shows the recovery codes of a new second factor.
    Done,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Code => "code",
            Self::Enroll => "enroll",
            Self::NewPassword => "new_password",
            Self::Done => "done",
        }
    }

    fn is_done(self) -> bool {
        self == Self::Done
    }
}

/// The sign-in page at one of its steps.
#[derive(Template)]
#[template(path = "pages/signin.html")]
pub(super) struct SignInPage {
    title: &'static str,
    step: Step,
    error: Option<String>,
    csrf: String,
    email: String,
    mfa_token: Option<String>,
    qr_svg: Option<String>,
    secret: Option<String>,
    recovery_codes: Vec<String>,
    min_length: usize,
    /// The OpenID Connect request this sign-in continues (its query string), carried through
    /// every step.
    authorize: Option<String>,
    /// Whether "Sign in with a passkey" is offered (passkeys are on).
    passkeys: bool,
    /// Whether the code step offers the user's passkey instead.
    second_passkey: bool,
    /// Why the page is shown, when that is not plain (signing in again).
    notice: Option<&'static str>,
}

impl SignInPage {
    fn at(step: Step, email: &str, mfa_token: Option<&str>) -> Self {
        Self {
            title: match step {
                Step::Password | Step::Code => "Sign in",
                Step::Enroll => "Set up your second factor",
                Step::NewPassword => "Choose your password",
                Step::Done => "Signed in",
            },
            step,
            error: None,
            csrf: String::new(),
            email: email.to_owned(),
            mfa_token: mfa_token.map(str::to_owned),
            qr_svg: None,
            secret: None,
            recovery_codes: Vec::new(),
            min_length: 0,
            authorize: None,
            passkeys: false,
            second_passkey: false,
            notice: None,
        }
    }

    fn for_request(mut self, authorize: Option<&str>) -> Self {
        self.authorize = authorize.map(str::to_owned);
        self
    }

    fn saying(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }
}

/// A submitted sign-in form; fields a browser left out are `None`.
#[derive(Deserialize)]
pub(crate) struct Submitted {
    csrf: Option<String>,
    step: Option<String>,
    email: Option<String>,
    password: Option<String>,
    mfa_token: Option<String>,
    code: Option<String>,
    ceremony_id: Option<String>,
    credential: Option<String>,
    new_password: Option<String>,
    confirm: Option<String>,
    authorize: Option<String>,
}

/// The query of `/signin`: the OpenID Connect request it continues.
#[derive(Deserialize)]
pub(crate) struct SignInQuery {
    authorize: Option<String>,
    /// Present (`?again=1`) when a signed-in user signs in again for a change that needs a
    /// recent sign-in; the session is kept, re-authenticated.
    again: Option<String>,
}

/// The sign-in page of a signed-in user who must sign in again (a passkey change needs a
/// sign-in of the last five minutes).
pub(super) const AGAIN: &str = "/signin?again=1";

/// The page, with the browser's anti-forgery token.
pub(super) fn render(req: &Request, status: StatusCode, page: SignInPage) -> Response {
    let back_to = page
        .authorize
        .as_deref()
        .and_then(super::authorize::redirect_uri_of);
    let passkeys = req
        .data::<Pages>()
        .is_some_and(|p| p.adam.passkeys_enabled());
    let mut response = form_html(req, status, |csrf| SignInPage {
        csrf,
        passkeys,
        ..page
    });
    if let Some(uri) = back_to {
        super::form_leads_to(&mut response, &uri);
    }
    response
}

/// What a step's error shows: the form again where the user can correct it, else a page.
fn refused(req: &Request, e: &Error, again: SignInPage) -> Response {
    let authorize = again.authorize.clone();
    match e {
        Error::InvalidCredentials
        | Error::PasskeyRefused
        | Error::MfaCodeInvalid
        | Error::TooManyAttempts { .. }
        | Error::Busy { .. }
        | Error::Invalid { .. } => {
            render(req, crate::error::status_of(e), again.saying(e.to_string()))
        }
        Error::MfaTokenInvalid => render(
            req,
            StatusCode::UNAUTHORIZED,
            SignInPage::at(Step::Password, "", None)
                .for_request(authorize.as_deref())
                .saying("This sign-in took too long or was finished already: start again."),
        ),
        other => super::failed(other),
    }
}

/// A passkey step whose form arrived without its whole answer: the form again, nothing spent.
fn incomplete(req: &Request, again: SignInPage) -> Response {
    render(
        req,
        StatusCode::UNPROCESSABLE_ENTITY,
        again.saying("The passkey's answer did not arrive whole: try again."),
    )
}

/// Where a sign-in goes after a step: the session, or the next step's form. `codes` are the
/// recovery codes of a second factor turned on in this step (shown once, with the next form or
/// before going on). With `authorize`, the finished sign-in goes on to the application.
pub(super) async fn advance(
    req: &Request,
    adam: &Adam,
    next: SignIn,
    email: &str,
    codes: Vec<String>,
    authorize: Option<&str>,
) -> Response {
    let mut page = match next {
        SignIn::Tokens(pair) if codes.is_empty() => {
            return session::start(req, adam, pair, authorize).await
        }
        SignIn::Tokens(pair) => {
            let mut page = SignInPage::at(Step::Done, email, None).for_request(
                authorize
                    .map(super::authorize::without_reauthentication)
                    .as_deref(),
            );
            page.recovery_codes = codes;
            let mut response = render(req, StatusCode::OK, page);
            match session::cookie(req, adam, pair).await {
                Ok(Some(cookie)) => {
                    response.headers_mut().append(header::SET_COOKIE, cookie);
                }
                Ok(None) => {}
                Err(e) => return super::failed(&e),
            };
            return response;
        }
        SignIn::CodeRequired(token, methods) => {
            let mut page = SignInPage::at(Step::Code, email, Some(token.expose()));
            page.second_passkey = methods.passkey;
            page
        }
        SignIn::EnrollmentRequired(token) => {
            let enrollment = match adam.enroll_at_sign_in(token.expose()).await {
                Ok(e) => e,
                Err(e) => {
                    return refused(
                        req,
                        &e,
                        SignInPage::at(Step::Password, email, None).for_request(authorize),
                    )
                }
            };
            let mut page = SignInPage::at(Step::Enroll, email, Some(token.expose()));
            page.qr_svg = Some(enrollment.qr_svg);
            page.secret = Some(enrollment.secret.to_string());
            page
        }
        SignIn::PasswordChangeRequired(token) => {
            let mut page = SignInPage::at(Step::NewPassword, email, Some(token.expose()));
            page.min_length = adam.password_policy().min_len();
            page
        }
    };
    page.recovery_codes = codes;
    render(req, StatusCode::OK, page.for_request(authorize))
}

#[handler]
pub(crate) async fn show(
    req: &Request,
    Data(pages): Data<&Pages>,
    Query(query): Query<SignInQuery>,
) -> Response {
    let authorize = query
        .authorize
        .filter(|q| q.len() <= super::authorize::MAX_QUERY);
    // Signed in already: the account, unless an application asks for a new sign-in or the
    // user signs in again (the same user keeps the session, re-authenticated).
    if authorize.is_none() {
        if let Some((_, me)) = session::signed_in(&pages.adam, req).await {
            if query.again.is_none() {
                return session::see_other("/account");
            }
            let mut page = SignInPage::at(Step::Password, me.email.as_str(), None);
            page.title = "Sign in again";
            page.notice = Some("For your security, this change needs a sign-in of the last five minutes: sign in again with your password or a passkey.");
            return render(req, StatusCode::OK, page);
        }
    }
    let hint = authorize
        .as_deref()
        .and_then(super::authorize::login_hint)
        .unwrap_or_default();
    render(
        req,
        StatusCode::OK,
        SignInPage::at(Step::Password, &hint, None).for_request(authorize.as_deref()),
    )
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
    let origin = origin(req);
    let email = form.email.as_deref().unwrap_or("").trim();
    let token = form.mfa_token.as_deref().unwrap_or("");
    let code = form.code.as_deref().unwrap_or("").trim();
    let authorize = form
        .authorize
        .as_deref()
        .filter(|q| q.len() <= super::authorize::MAX_QUERY);
    let passkey_answer =
        super::ceremony_answer(form.ceremony_id.as_deref(), form.credential.as_deref());
    match form.step.as_deref() {
        Some("passkey") => {
            let again = SignInPage::at(Step::Password, "", None).for_request(authorize);
            let Some((ceremony, credential)) = passkey_answer else {
                return incomplete(req, again);
            };
            match adam
                .sign_in_with_passkey(ceremony, &credential, &origin)
                .await
            {
                Ok(next) => advance(req, adam, next, "", Vec::new(), authorize).await,
                Err(e) => refused(req, &e, again),
            }
        }
        Some("passkey_second") => {
            let mut again = SignInPage::at(Step::Code, email, Some(token)).for_request(authorize);
            again.second_passkey = true;
            let Some((ceremony, credential)) = passkey_answer else {
                return incomplete(req, again);
            };
            match adam
                .sign_in_with_passkey_second_step(token, ceremony, &credential, &origin)
                .await
            {
                Ok(next) => advance(req, adam, next, email, Vec::new(), authorize).await,
                Err(e) => refused(req, &e, again),
            }
        }
        Some("code") => match adam.sign_in_with_code(token, code, &origin).await {
            Ok(next) => advance(req, adam, next, email, Vec::new(), authorize).await,
            Err(e) => refused(
                req,
                &e,
                SignInPage::at(Step::Code, email, Some(token)).for_request(authorize),
            ),
        },
        Some("enroll") => match adam
            .confirm_enrollment_at_sign_in(token, code, &origin)
            .await
        {
            Ok(enrolled) => {
                let codes = enrolled.recovery_codes.codes().to_vec();
                advance(req, adam, enrolled.signed_in, email, codes, authorize).await
            }
            // The authenticator has the key already: the form asks for the code again only.
            Err(e) => refused(
                req,
                &e,
                SignInPage::at(Step::Enroll, email, Some(token)).for_request(authorize),
            ),
        },
        Some("new_password") => {
            let mut again =
                SignInPage::at(Step::NewPassword, email, Some(token)).for_request(authorize);
            again.min_length = adam.password_policy().min_len();
            let password =
                match super::chosen(form.new_password.as_deref(), form.confirm.as_deref()) {
                    Ok(p) => p,
                    Err(error) => {
                        return render(req, StatusCode::UNPROCESSABLE_ENTITY, again.saying(error))
                    }
                };
            match adam
                .change_password_at_sign_in(token, password, &origin)
                .await
            {
                Ok(pair) => session::start(req, adam, pair, authorize).await,
                Err(e) => refused(req, &e, again),
            }
        }
        _ => {
            let password = form.password.as_deref().unwrap_or("");
            match adam.sign_in(email, password, &origin).await {
                Ok(next) => advance(req, adam, next, email, Vec::new(), authorize).await,
                Err(e) => refused(
                    req,
                    &e,
                    SignInPage::at(Step::Password, email, None).for_request(authorize),
                ),
            }
        }
    }
}
