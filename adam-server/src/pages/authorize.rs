//! `/oauth2/authorize` (OpenID Connect Core §3.1.2, the code flow only): checks the request,
//! sends the browser through `/signin` where it must sign in, asks for consent (clients that are
//! not first-party) or a "Continue as …" (public clients, on single sign-on), and redirects back
//! with a code, `state` and `iss` (RFC 9207).
//!
//! An unknown client or a redirect URI the client did not register shows an error page and never
//! redirects; every other error redirects with `error`, `state` and `iss`.

use adam_core::oauth_clients::OAuthClient;
use adam_core::oidc::{AuthorizationRequest, Scopes};
use adam_core::{Adam, Error, Principal, User};
use askama::Template;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{handler, Request, Response};
use serde::Deserialize;

use super::csrf::Csrf;
use super::links::Pages;
use super::session::{self, see_other};
use super::{forged, form_html, message};

/// Longest authorization request (its query string) carried through the sign-in.
pub(super) const MAX_QUERY: usize = 4096;

/// The parameters of an authorization request, from the query (GET) or the form (POST).
/// Unknown parameters are ignored.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
    max_age: Option<String>,
    login_hint: Option<String>,
}

/// The consent or "Continue as" form, posted back to `/oauth2/authorize`.
#[derive(Debug, Deserialize)]
pub(crate) struct Decision {
    csrf: Option<String>,
    /// The authorization request, as its query string.
    request: Option<String>,
    /// `allow` or `deny`.
    decision: Option<String>,
}

/// The page that asks the user before the application receives a code.
#[derive(Template)]
#[template(path = "pages/authorize.html")]
struct AskPage {
    title: &'static str,
    csrf: String,
    request: String,
    app: String,
    name: String,
    email: String,
    /// What the application will receive, when it asks for consent.
    shares: Vec<&'static str>,
}

/// A request whose client and redirect URI are known good: errors from here on go back to the
/// client.
struct Checked {
    request: AuthorizationRequest,
    state: Option<String>,
    prompt_none: bool,
    prompt_login: bool,
    max_age: Option<i64>,
}

/// An error the client receives on its redirect URI.
struct Back<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
}

impl Back<'_> {
    fn with(&self, issuer: &str, pairs: &[(&str, &str)]) -> Response {
        let mut all = pairs.to_vec();
        if let Some(state) = self.state {
            all.push(("state", state));
        }
        all.push(("iss", issuer));
        see_other(&super::with_query(self.redirect_uri, &all))
    }

    fn error(&self, issuer: &str, error: &str, description: &str) -> Response {
        self.with(
            issuer,
            &[("error", error), ("error_description", description)],
        )
    }
}

/// The page for a request that cannot be sent back to its client.
fn not_sent_back(text: &str) -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "This sign-in link is not valid",
        text,
        Some("Go back to the application and try again; if this keeps happening, tell your administrator."),
    )
}

/// The `login_hint` of an authorization request's query, if any.
pub(super) fn login_hint(query: &str) -> Option<String> {
    parse(query).login_hint.filter(|h| h.len() <= 320)
}

/// The query without `prompt` and `max_age`: where the sign-in page sends a browser that has
/// just signed in (the new sign-in satisfies them).
pub(super) fn without_reauthentication(query: &str) -> String {
    let kept = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "prompt" && k != "max_age");
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish()
}

fn parse(query: &str) -> Params {
    serde_urlencoded::from_str(query).unwrap_or_default()
}

impl Params {
    /// The query string that asks for this request again.
    fn to_query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        let fields = [
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("response_type", &self.response_type),
            ("scope", &self.scope),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("prompt", &self.prompt),
            ("max_age", &self.max_age),
            ("login_hint", &self.login_hint),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }

    /// Checks the request: an unknown client or redirect URI is a page; anything else wrong is
    /// a redirect back with its error (boxed: an answer is large beside the request).
    async fn check(&self, adam: &Adam) -> Result<Checked, Box<Response>> {
        let issuer = &adam.settings().token_audience.issuer;
        let client: OAuthClient = match self.client_id.as_deref() {
            None => {
                return Err(Box::new(not_sent_back(
                    "It names no application (client_id).",
                )))
            }
            Some(id) => match adam.oauth_client(id).await {
                Ok(c) => c,
                Err(Error::NotFound) => {
                    return Err(Box::new(not_sent_back(
                        "It names an application Adam does not know.",
                    )))
                }
                Err(e) => return Err(Box::new(super::failed(&e))),
            },
        };
        let Some(redirect_uri) = self
            .redirect_uri
            .as_deref()
            .filter(|r| client.redirect_uri(r).is_some())
        else {
            return Err(Box::new(not_sent_back(
                "It would send you back to an address the application did not register.",
            )));
        };
        let back = Back {
            redirect_uri,
            state: self.state.as_deref(),
        };
        let refuse =
            |error: &str, description: &str| Err(Box::new(back.error(issuer, error, description)));
        if self.response_type.as_deref() != Some("code") {
            return refuse(
                "unsupported_response_type",
                "only the authorization code flow (response_type=code)",
            );
        }
        let scopes = match Scopes::parse(self.scope.as_deref().unwrap_or("")) {
            Ok(s) => s,
            Err(_) => return refuse("invalid_scope", "scope must contain openid"),
        };
        if self.code_challenge_method.as_deref() != Some("S256") {
            return refuse(
                "invalid_request",
                "PKCE is required: code_challenge with code_challenge_method=S256",
            );
        }
        let request = match AuthorizationRequest::new(
            client,
            redirect_uri,
            scopes,
            self.code_challenge.as_deref().unwrap_or(""),
            self.nonce.as_deref(),
        ) {
            Ok(r) => r,
            Err(e) => return refuse("invalid_request", &e.to_string()),
        };
        let prompts: Vec<&str> = self
            .prompt
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|p| !p.is_empty())
            .collect();
        let prompt_none = prompts.contains(&"none");
        if prompt_none && prompts.len() > 1 {
            return refuse("invalid_request", "prompt=none stands alone");
        }
        let max_age = match self.max_age.as_deref() {
            None => None,
            Some(text) => match text.parse::<i64>() {
                Ok(n) if n >= 0 => Some(n),
                _ => {
                    return refuse(
                        "invalid_request",
                        "max_age must be a whole number of seconds",
                    )
                }
            },
        };
        Ok(Checked {
            request,
            state: self.state.clone(),
            prompt_none,
            prompt_login: prompts.contains(&"login"),
            max_age,
        })
    }
}

impl Checked {
    fn back(&self) -> Back<'_> {
        Back {
            redirect_uri: &self.request.redirect_uri,
            state: self.state.as_deref(),
        }
    }
}

/// The code, sent back to the client.
async fn issue(adam: &Adam, checked: &Checked, me: &Principal, consented: bool) -> Response {
    let issuer = &adam.settings().token_audience.issuer;
    match adam.issue_code(me, &checked.request, consented).await {
        Ok(code) => checked.back().with(issuer, &[("code", code.expose())]),
        Err(Error::Forbidden(why)) => checked.back().error(issuer, "access_denied", &why),
        Err(e) => super::failed(&e),
    }
}

/// With a browser session: the code, or the page that asks first. `fresh`: the user signed in
/// for this very request (no "Continue as" then).
async fn decide(
    req: &Request,
    adam: &Adam,
    params: &Params,
    checked: &Checked,
    me: &Principal,
    user: &User,
    fresh: bool,
) -> Response {
    let issuer = &adam.settings().token_audience.issuer;
    let client = &checked.request.client;
    if !client.admits(me.placement()) {
        return checked.back().error(
            issuer,
            "access_denied",
            "this application is not open to you",
        );
    }
    let consent = match adam
        .consent_needed(me, client, checked.request.scopes)
        .await
    {
        Ok(c) => c,
        Err(e) => return super::failed(&e),
    };
    let confirm = client.public && !fresh;
    if !consent && !confirm {
        return issue(adam, checked, me, false).await;
    }
    if checked.prompt_none {
        let (error, why) = if consent {
            (
                "consent_required",
                "the user has not allowed this application",
            )
        } else {
            (
                "interaction_required",
                "the user must confirm this application",
            )
        };
        return checked.back().error(issuer, error, why);
    }
    let request = params.to_query();
    let mut page = form_html(req, StatusCode::OK, |csrf| AskPage {
        title: if consent {
            "Allow this application?"
        } else {
            "Continue to this application?"
        },
        csrf,
        request,
        app: client.name.clone(),
        name: user.full_name.clone(),
        email: user.email.as_str().to_owned(),
        shares: if consent {
            checked.request.scopes.described()
        } else {
            Vec::new()
        },
    });
    super::form_leads_to(&mut page, &checked.request.redirect_uri);
    page
}

/// Where an authorization request (its query) would send the browser back to, as written.
pub(super) fn redirect_uri_of(query: &str) -> Option<String> {
    parse(query).redirect_uri
}

/// An authorization request from its parameters.
async fn authorize(req: &Request, adam: &Adam, params: Params) -> Response {
    let checked = match params.check(adam).await {
        Ok(c) => c,
        Err(page) => return *page,
    };
    let issuer = &adam.settings().token_audience.issuer;
    let signed_in = session::signed_in(adam, req).await;
    let again = match &signed_in {
        None => true,
        Some((me, _)) => {
            checked.prompt_login
                || match checked.max_age {
                    None => false,
                    Some(max) => match adam.authenticated_at(me).await {
                        Ok(at) => (adam.settings().clock.now() - at).num_seconds() > max,
                        Err(_) => true,
                    },
                }
        }
    };
    match signed_in {
        Some((me, user)) if !again => decide(req, adam, &params, &checked, &me, &user, false).await,
        _ if checked.prompt_none => {
            checked
                .back()
                .error(issuer, "login_required", "the user is not signed in")
        }
        _ => {
            let query = params.to_query();
            let target = url::form_urlencoded::Serializer::for_suffix(String::from("/signin?"), 8)
                .append_pair("authorize", &query)
                .finish();
            see_other(&target)
        }
    }
}

/// Where `/signin` sends a browser that has just signed in for an authorization request
/// (`query`): the request is checked again and decided for the new session (`session_secret`),
/// without another "Continue as".
pub(super) async fn after_sign_in(
    req: &Request,
    adam: &Adam,
    query: &str,
    session_secret: &str,
) -> Response {
    let params = parse(query);
    let checked = match params.check(adam).await {
        Ok(c) => c,
        Err(page) => return *page,
    };
    match adam.browser_principal(session_secret).await {
        Ok((me, user)) => decide(req, adam, &params, &checked, &me, &user, true).await,
        Err(e) => super::failed(&e),
    }
}

#[handler]
pub(crate) async fn show(req: &Request, Data(pages): Data<&Pages>) -> Response {
    let query = req.uri().query().unwrap_or("");
    if query.len() > MAX_QUERY {
        return not_sent_back("It is too long.");
    }
    authorize(req, &pages.adam, parse(query)).await
}

#[handler]
pub(crate) async fn submit(req: &Request, Data(pages): Data<&Pages>, body: String) -> Response {
    let adam = &pages.adam;
    if body.len() > MAX_QUERY * 2 {
        return not_sent_back("It is too long.");
    }
    let decision: Decision = serde_urlencoded::from_str(&body).unwrap_or(Decision {
        csrf: None,
        request: None,
        decision: None,
    });
    let Some(answer) = decision.decision.as_deref() else {
        // An authorization request sent as a form (OpenID Connect Core §3.1.2.1).
        return authorize(
            req,
            adam,
            serde_urlencoded::from_str(&body).unwrap_or_default(),
        )
        .await;
    };
    if !Csrf::matches(req, decision.csrf.as_deref()) {
        return forged();
    }
    let params = parse(decision.request.as_deref().unwrap_or(""));
    let checked = match params.check(adam).await {
        Ok(c) => c,
        Err(page) => return *page,
    };
    let Some((me, _)) = session::signed_in(adam, req).await else {
        // The session ended while the page was open: sign in again for the same request.
        return authorize(req, adam, params).await;
    };
    if answer == "allow" {
        issue(adam, &checked, &me, true).await
    } else {
        let issuer = &adam.settings().token_audience.issuer;
        checked
            .back()
            .error(issuer, "access_denied", "the user declined")
    }
}
