//! The signed-in session: talks to adam-server over HTTP, keeps the access token in memory and
//! the refresh token in the keyring, and refreshes with one refresh in flight at a time.
//!
//! Nothing here depends on Tauri, so the logic is tested against a real server without a window.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use adam_api::problems::{
    ALREADY_ROTATED, MFA_CODE_INVALID, MFA_ENROLLMENT_REQUIRED, MFA_REQUIRED, MFA_TOKEN_INVALID,
    PASSWORD_CHANGE_REQUIRED,
};
use adam_api::{
    Dealership, EnrolledTokenPair, LoginRequest, MfaLoginRequest, MfaTokenRequest,
    PasswordChangeRequest, Permissions, Problem, RefreshRequest, TokenPair, TotpEnrollment, User,
    UserUpdate,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};

use crate::browser_sign_in;
use crate::error::DesktopError;
use crate::vault::Vault;

/// Server used when neither the settings nor `ADAM_SERVER_URL` name one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8000";

/// Refresh this long before the access token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// What the app remembers between runs, outside the keyring (nothing secret).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Remembered {
    /// The server address the user chose.
    pub server_url: Option<String>,
    /// The account whose refresh token is in the keyring.
    pub account: Option<String>,
}

/// The caller's profile as the UI shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Profile {
    /// User id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub full_name: String,
    /// Role (`system_admin`, `dealer_principal`, `fi_manager`).
    pub role: String,
    /// Dealership id, if any.
    pub dealership_id: Option<String>,
    /// Dealership name, if any.
    pub dealership_name: Option<String>,
    /// Whether the user signs in with a second factor.
    pub mfa_enabled: bool,
    /// What the user may do to others (`GET /auth/permissions`): the window shows or hides its
    /// actions by these and never re-derives the role table.
    pub actions: Vec<String>,
    /// The roles the user may give (`GET /auth/permissions`).
    pub assignable_roles: Vec<String>,
}

/// Where a sign-in with the right password stands.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "step", content = "profile", rename_all = "snake_case")]
pub enum SignInStep {
    /// Signed in.
    SignedIn(Profile),
    /// The server wants a code (six digits or a recovery code): [`Session::sign_in_with_code`].
    Code,
    /// The user must set up a second factor first: [`Session::enroll_at_sign_in`].
    Enroll,
    /// The password was set by someone else: the user chooses a new one
    /// ([`Session::sign_in_with_new_password`]).
    NewPassword,
}

/// What a step of a sign-in answered: done, or a new password to choose (its token kept here).
enum Next<R> {
    Done(R),
    /// With the recovery codes of an enrollment just confirmed, to show once.
    NewPassword(Vec<String>),
}

/// A sign-in that signed in by enrolling: the profile and the recovery codes to show once.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EnrolledSignIn {
    /// Signed in, or a new password to choose first.
    pub step: SignInStep,
    /// Ten recovery codes, shown this once.
    pub recovery_codes: Vec<String>,
}

/// The second step of a sign-in in progress: its account and `mfa_token`, kept here, never in
/// the web view.
struct PendingSignIn {
    account: String,
    mfa_token: String,
}

impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

struct Active {
    account: String,
    access: String,
    access_valid_until: Instant,
    refresh: String,
}

/// One signed-in user (or none) against one server.
#[derive(Debug)]
pub struct Session {
    http: reqwest::Client,
    server: RwLock<String>,
    settings_file: Option<PathBuf>,
    vault: Vault,
    /// Held across a refresh, so there is never more than one refresh in flight.
    active: Mutex<Option<Active>>,
    /// A sign-in waiting for its second factor.
    pending: Mutex<Option<PendingSignIn>>,
}

impl std::fmt::Debug for Active {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Active")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// Longest access-token lifetime believed from a server (a day): a larger `expires_in` from a
/// broken or malicious server must not overflow the clock.
const MAX_EXPIRES_IN: i64 = 24 * 60 * 60;

/// Checks a server address: `https://host[:port]`, no path; `http://` only for this machine
/// (loopback), since the password and the refresh token travel in it.
pub fn normalise_server(url: &str) -> Result<String, DesktopError> {
    let url = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| DesktopError::Invalid("server address: not a URL".into()))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => {
            return Err(DesktopError::Invalid(
                "server address: must name a host".into(),
            ))
        }
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(DesktopError::Invalid(
                "server address: must start with https:// (http:// only for this computer)".into(),
            ))
        }
        _ => {
            return Err(DesktopError::Invalid(
                "server address: must start with https://".into(),
            ))
        }
    }
    Ok(url.to_owned())
}

impl Session {
    /// A session for the server in `settings_file` (if it names one), else `ADAM_SERVER_URL`,
    /// else [`DEFAULT_SERVER`].
    pub fn new(
        settings_file: Option<PathBuf>,
        env_server: Option<String>,
    ) -> Result<Self, DesktopError> {
        let remembered = read_settings(settings_file.as_ref());
        let server = remembered
            .server_url
            .or(env_server)
            .map(|s| normalise_server(&s))
            .transpose()?
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        // Never follow a redirect: it would carry the password or a token elsewhere.
        let http = reqwest::Client::builder()
            // What the user's list of sessions shows for this app.
            .user_agent(format!(
                "Adam Desktop/{} ({})",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS
            ))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| DesktopError::Other(e.to_string()))?;
        Ok(Self {
            http,
            server: RwLock::new(server),
            settings_file,
            vault: Vault,
            active: Mutex::new(None),
            pending: Mutex::new(None),
        })
    }

    /// The server address in use.
    pub async fn server_url(&self) -> String {
        self.server.read().await.clone()
    }

    /// Changes the server address (only while signed out) and remembers it.
    pub async fn set_server_url(&self, url: &str) -> Result<String, DesktopError> {
        let url = normalise_server(url)?;
        if self.active.lock().await.is_some() {
            return Err(DesktopError::Invalid(
                "sign out before changing the server address".into(),
            ));
        }
        *self.server.write().await = url.clone();
        let mut r = read_settings(self.settings_file.as_ref());
        r.server_url = Some(url.clone());
        write_settings(self.settings_file.as_ref(), &r);
        Ok(url)
    }

    /// Signs in silently with a stored refresh token. `Ok(None)`: nothing stored, or the stored
    /// token was revoked or expired (then it is deleted from the keyring).
    pub async fn restore(&self) -> Result<Option<Profile>, DesktopError> {
        let server = self.server_url().await;
        let remembered = read_settings(self.settings_file.as_ref());
        let Some(account) = remembered.account else {
            return Ok(None);
        };
        let Some(refresh) = self.vault.load(&server, &account).await? else {
            self.forget_account();
            return Ok(None);
        };
        let mut active = self.active.lock().await;
        match self.exchange_or_reload(&server, &account, &refresh).await {
            Ok(pair) => {
                self.vault
                    .save(&server, &account, &pair.refresh_token)
                    .await?;
                *active = Some(activate(account, pair));
            }
            Err(DesktopError::SignedOut) => {
                self.vault.delete(&server, &account).await?;
                self.forget_account();
                return Ok(None);
            }
            // Another window holds the newer token: leave its keyring entry alone.
            Err(DesktopError::AlreadyRotated) => return Ok(None),
            Err(e) => return Err(e),
        }
        drop(active);
        self.profile().await.map(Some)
    }

    /// Signs in with email and password, for an account that needs no second step (else
    /// [`DesktopError::Invalid`]); see [`Session::begin_sign_in`].
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Profile, DesktopError> {
        match self.begin_sign_in(email, password).await? {
            SignInStep::SignedIn(profile) => Ok(profile),
            SignInStep::Code | SignInStep::Enroll => Err(DesktopError::Invalid(
                "this account signs in with a second factor".into(),
            )),
            SignInStep::NewPassword => Err(DesktopError::Invalid(
                "this account must choose a new password".into(),
            )),
        }
    }

    /// Signs in with email and password: signed in (the refresh token goes to the keyring), or
    /// the second step the server asks for, whose `mfa_token` this session keeps.
    pub async fn begin_sign_in(
        &self,
        email: &str,
        password: &str,
    ) -> Result<SignInStep, DesktopError> {
        let server = self.server_url().await;
        *self.pending.lock().await = None;
        let resp = self
            .http
            .post(format!("{server}/api/v1/auth/login"))
            .json(&LoginRequest {
                email: email.to_owned(),
                password: password.to_owned(),
            })
            .send()
            .await
            .map_err(|_| DesktopError::Unreachable(server.clone()))?;
        let account = email.trim().to_lowercase();
        let pair: TokenPair = match resp.status() {
            StatusCode::OK => resp
                .json()
                .await
                .map_err(|e| DesktopError::Other(e.to_string()))?,
            StatusCode::UNAUTHORIZED => {
                let Ok(problem) = resp.json::<Problem>().await else {
                    return Err(DesktopError::InvalidCredentials);
                };
                let (step, token) = if problem.kind.ends_with(MFA_REQUIRED) {
                    (SignInStep::Code, problem.mfa_token)
                } else if problem.kind.ends_with(MFA_ENROLLMENT_REQUIRED) {
                    (SignInStep::Enroll, problem.mfa_token)
                } else if problem.kind.ends_with(PASSWORD_CHANGE_REQUIRED) {
                    (SignInStep::NewPassword, problem.password_change_token)
                } else {
                    return Err(DesktopError::InvalidCredentials);
                };
                let mfa_token = token.ok_or(DesktopError::InvalidCredentials)?;
                *self.pending.lock().await = Some(PendingSignIn { account, mfa_token });
                return Ok(step);
            }
            _ => return Err(error_from(resp).await),
        };
        self.establish(&server, account, pair)
            .await
            .map(SignInStep::SignedIn)
    }

    /// Asks the server to mail a password-reset link (`POST /auth/password-reset`). The answer
    /// is the same whether or not the account exists.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), DesktopError> {
        let server = self.server_url().await;
        let resp = self
            .http
            .post(format!("{server}/api/v1/auth/password-reset"))
            .json(&adam_api::PasswordResetRequest {
                email: email.trim().to_owned(),
            })
            .send()
            .await
            .map_err(|_| DesktopError::Unreachable(server.clone()))?;
        if resp.status() == StatusCode::ACCEPTED {
            Ok(())
        } else {
            Err(error_from(resp).await)
        }
    }

    /// The second step of a sign-in: a code from the authenticator app, or a recovery code.
    /// A wrong one is [`DesktopError::CodeInvalid`] (try again); an expired sign-in
    /// [`DesktopError::SignInExpired`] (start again with the password).
    pub async fn sign_in_with_code(&self, code: &str) -> Result<SignInStep, DesktopError> {
        let server = self.server_url().await;
        let (account, mfa_token) = self.pending_sign_in().await?;
        let body = MfaLoginRequest {
            mfa_token,
            code: code.trim().to_owned(),
        };
        match self.second_step(&server, "/auth/login/mfa", &body).await? {
            Next::Done(pair) => {
                *self.pending.lock().await = None;
                self.establish(&server, account, pair)
                    .await
                    .map(SignInStep::SignedIn)
            }
            Next::NewPassword(_) => Ok(SignInStep::NewPassword),
        }
    }

    /// The last step of a sign-in whose password was set by someone else: the new password
    /// (the server's rules; not the one set). A refused one is [`DesktopError::Invalid`] (try
    /// again; five refusals end the sign-in).
    pub async fn sign_in_with_new_password(
        &self,
        new_password: &str,
    ) -> Result<Profile, DesktopError> {
        let server = self.server_url().await;
        let (account, password_change_token) = self.pending_sign_in().await?;
        let body = PasswordChangeRequest {
            password_change_token,
            new_password: new_password.to_owned(),
        };
        match self
            .second_step(&server, "/auth/login/password", &body)
            .await?
        {
            Next::Done(pair) => {
                *self.pending.lock().await = None;
                self.establish(&server, account, pair).await
            }
            Next::NewPassword(_) => Err(DesktopError::SignInExpired),
        }
    }

    /// For a user who must set up a second factor at sign-in: the secret and QR code for their
    /// authenticator app (each call starts over with a new secret).
    pub async fn enroll_at_sign_in(&self) -> Result<TotpEnrollment, DesktopError> {
        let server = self.server_url().await;
        let (_, mfa_token) = self.pending_sign_in().await?;
        let body = MfaTokenRequest { mfa_token };
        match self
            .second_step(&server, "/auth/login/mfa/enroll", &body)
            .await?
        {
            Next::Done(enrollment) => Ok(enrollment),
            Next::NewPassword(_) => Err(DesktopError::SignInExpired),
        }
    }

    /// Confirms the enrollment at sign-in with the app's first code: signed in, with the
    /// recovery codes to show once.
    pub async fn confirm_enrollment_at_sign_in(
        &self,
        code: &str,
    ) -> Result<EnrolledSignIn, DesktopError> {
        let server = self.server_url().await;
        let (account, mfa_token) = self.pending_sign_in().await?;
        let body = MfaLoginRequest {
            mfa_token,
            code: code.trim().to_owned(),
        };
        let done: EnrolledTokenPair = match self
            .second_step(&server, "/auth/login/mfa/enroll/confirm", &body)
            .await?
        {
            Next::Done(done) => done,
            Next::NewPassword(recovery_codes) => {
                return Ok(EnrolledSignIn {
                    step: SignInStep::NewPassword,
                    recovery_codes,
                });
            }
        };
        *self.pending.lock().await = None;
        let pair = TokenPair {
            access_token: done.access_token,
            refresh_token: done.refresh_token,
            token_type: done.token_type,
            expires_in: done.expires_in,
        };
        let profile = self.establish(&server, account, pair).await?;
        Ok(EnrolledSignIn {
            step: SignInStep::SignedIn(profile),
            recovery_codes: done.recovery_codes,
        })
    }

    async fn pending_sign_in(&self) -> Result<(String, String), DesktopError> {
        self.pending
            .lock()
            .await
            .as_ref()
            .map(|p| (p.account.clone(), p.mfa_token.clone()))
            .ok_or(DesktopError::SignInExpired)
    }

    /// A call of the second sign-in step (no bearer token).
    async fn second_step<R: DeserializeOwned>(
        &self,
        server: &str,
        path: &str,
        body: &(impl Serialize + Sync),
    ) -> Result<Next<R>, DesktopError> {
        let resp = self
            .http
            .post(format!("{server}/api/v1{path}"))
            .json(body)
            .send()
            .await
            .map_err(|_| DesktopError::Unreachable(server.to_owned()))?;
        match resp.status() {
            StatusCode::OK => resp
                .json()
                .await
                .map(Next::Done)
                .map_err(|e| DesktopError::Other(e.to_string())),
            StatusCode::UNAUTHORIZED => {
                let problem = resp.json::<Problem>().await.ok();
                let kind = problem.as_ref().map(|p| p.kind.clone()).unwrap_or_default();
                if kind.ends_with(PASSWORD_CHANGE_REQUIRED) {
                    // The step before the new password: keep its token (and any recovery codes,
                    // to show once) in place of the spent one.
                    let problem = problem.ok_or(DesktopError::SignInExpired)?;
                    let token = problem
                        .password_change_token
                        .ok_or(DesktopError::SignInExpired)?;
                    if let Some(p) = self.pending.lock().await.as_mut() {
                        p.mfa_token = token;
                    }
                    return Ok(Next::NewPassword(
                        problem.recovery_codes.unwrap_or_default(),
                    ));
                }
                if kind.ends_with(MFA_CODE_INVALID) {
                    Err(DesktopError::CodeInvalid)
                } else {
                    if kind.ends_with(MFA_TOKEN_INVALID) || kind.is_empty() {
                        *self.pending.lock().await = None;
                    }
                    Err(DesktopError::SignInExpired)
                }
            }
            _ => Err(error_from(resp).await),
        }
    }

    /// Signs in through the system browser ([`browser_sign_in`]): the grant's refresh token
    /// goes to the keyring as a password sign-in's does.
    pub async fn sign_in_with_browser(&self) -> Result<Profile, DesktopError> {
        let server = self.server_url().await;
        let pair = browser_sign_in::sign_in(&self.http, &server).await?;
        let me: User = {
            let resp = self
                .http
                .get(format!("{server}/api/v1/auth/me"))
                .bearer_auth(&pair.access_token)
                .send()
                .await
                .map_err(|_| DesktopError::Unreachable(server.clone()))?;
            if !resp.status().is_success() {
                return Err(error_from(resp).await);
            }
            resp.json()
                .await
                .map_err(|e| DesktopError::Other(e.to_string()))?
        };
        self.establish(&server, me.email, pair).await
    }

    /// Keeps a new sign-in's tokens (the refresh token in the keyring) and answers the profile.
    async fn establish(
        &self,
        server: &str,
        account: String,
        pair: TokenPair,
    ) -> Result<Profile, DesktopError> {
        let mut active = self.active.lock().await;
        // One account at a time: a previous account's entry goes.
        let previous = read_settings(self.settings_file.as_ref()).account;
        if let Some(prev) = previous.filter(|p| *p != account) {
            self.vault.delete(server, &prev).await?;
        }
        self.vault
            .save(server, &account, &pair.refresh_token)
            .await?;
        let mut r = read_settings(self.settings_file.as_ref());
        r.account = Some(account.clone());
        write_settings(self.settings_file.as_ref(), &r);
        *active = Some(activate(account, pair));
        drop(active);
        self.profile().await
    }

    /// Signs out here: revokes the session on the server (best effort) and deletes the keyring entry.
    pub async fn sign_out(&self) -> Result<(), DesktopError> {
        let server = self.server_url().await;
        let taken = self.active.lock().await.take();
        let account = match taken {
            Some(a) if a.refresh.starts_with(browser_sign_in::GRANT_PREFIX) => {
                // Signed in through the browser: this app's grant ends, the browser stays
                // signed in to Adam and to the other applications.
                browser_sign_in::revoke(&self.http, &server, &a.refresh).await;
                Some(a.account)
            }
            Some(a) => {
                let _ = self
                    .http
                    .post(format!("{server}/api/v1/auth/logout"))
                    .json(&RefreshRequest {
                        refresh_token: a.refresh,
                    })
                    .send()
                    .await;
                Some(a.account)
            }
            None => read_settings(self.settings_file.as_ref()).account,
        };
        if let Some(account) = account {
            self.vault.delete(&server, &account).await?;
        }
        self.forget_account();
        Ok(())
    }

    /// Signs out on every device: revokes every session of the user, then forgets this one.
    pub async fn sign_out_everywhere(&self) -> Result<(), DesktopError> {
        let result = self.call_no_content(Method::POST, "/auth/logout-all").await;
        let server = self.server_url().await;
        let taken = self.active.lock().await.take();
        if let Some(a) = taken {
            self.vault.delete(&server, &a.account).await?;
        }
        self.forget_account();
        match result {
            Ok(_) | Err(DesktopError::SignedOut) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The caller's profile, with their dealership's name.
    pub async fn profile(&self) -> Result<Profile, DesktopError> {
        let me: User = self.call(Method::GET, "/auth/me", NO_BODY).await?;
        let dealership_name = match me.dealership_id {
            Some(id) => self
                .call::<Dealership>(Method::GET, &format!("/dealerships/{id}"), NO_BODY)
                .await
                .ok()
                .map(|d| d.name),
            None => None,
        };
        let allowed: Permissions = self.call(Method::GET, "/auth/permissions", NO_BODY).await?;
        Ok(Profile {
            id: me.id.to_string(),
            email: me.email,
            full_name: me.full_name,
            role: adam_api::Role::as_str(me.role).to_owned(),
            dealership_id: me.dealership_id.map(|d| d.to_string()),
            dealership_name,
            mfa_enabled: me.mfa_enabled,
            actions: allowed.actions,
            assignable_roles: allowed
                .assignable_roles
                .into_iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
        })
    }

    /// Changes the caller's own user record (`PATCH /users/{my id}`), e.g. name or password.
    pub async fn update_me(&self, changes: &UserUpdate) -> Result<User, DesktopError> {
        let me: User = self.call(Method::GET, "/auth/me", NO_BODY).await?;
        self.call(Method::PATCH, &format!("/users/{}", me.id), Some(changes))
            .await
    }

    /// An authorised API call (path under `/api/v1`) answering a JSON body. Refreshes the access
    /// token shortly before it expires and once after a 401; a refresh that fails ends the
    /// session.
    pub async fn call<R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<R, DesktopError> {
        let resp = self.authorised(method, path, body).await?;
        resp.json()
            .await
            .map_err(|e| DesktopError::Other(format!("unexpected answer from the server: {e}")))
    }

    /// An authorised GET answering text (the access review as CSV).
    pub async fn call_text(&self, path: &str) -> Result<String, DesktopError> {
        let resp = self.authorised(Method::GET, path, NO_BODY).await?;
        resp.text()
            .await
            .map_err(|e| DesktopError::Other(format!("unexpected answer from the server: {e}")))
    }

    /// An authorised API call answering no body (204).
    pub async fn call_no_content(&self, method: Method, path: &str) -> Result<(), DesktopError> {
        self.authorised(method, path, NO_BODY).await.map(drop)
    }

    /// An authorised API call with a body, answering none (204).
    pub async fn call_with_no_content(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<(), DesktopError> {
        self.authorised(method, path, body).await.map(drop)
    }

    async fn authorised(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<reqwest::Response, DesktopError> {
        let server = self.server_url().await;
        let token = self.fresh_access(&server).await?;
        let resp = self
            .send(&server, method.clone(), path, body, &token)
            .await?;
        let resp = if resp.status() == StatusCode::UNAUTHORIZED {
            let token = self.refresh_after(&server, &token).await?;
            self.send(&server, method, path, body, &token).await?
        } else {
            resp
        };
        match resp.status() {
            StatusCode::UNAUTHORIZED => {
                self.end_locally(&server).await;
                Err(DesktopError::SignedOut)
            }
            s if s.is_success() => Ok(resp),
            _ => Err(error_from(resp).await),
        }
    }

    async fn send(
        &self,
        server: &str,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
        token: &str,
    ) -> Result<reqwest::Response, DesktopError> {
        let mut req = self
            .http
            .request(method, format!("{server}/api/v1{path}"))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send()
            .await
            .map_err(|_| DesktopError::Unreachable(server.to_owned()))
    }

    /// The current access token, refreshed first if it is about to expire.
    async fn fresh_access(&self, server: &str) -> Result<String, DesktopError> {
        let mut guard = self.active.lock().await;
        let active = guard.as_mut().ok_or(DesktopError::SignedOut)?;
        if Instant::now() + REFRESH_MARGIN < active.access_valid_until {
            return Ok(active.access.clone());
        }
        self.refresh_locked(server, &mut guard).await
    }

    /// After a 401 with `stale`: refresh, unless another caller already did while we waited.
    async fn refresh_after(&self, server: &str, stale: &str) -> Result<String, DesktopError> {
        let mut guard = self.active.lock().await;
        match guard.as_ref() {
            None => Err(DesktopError::SignedOut),
            Some(a) if a.access != stale => Ok(a.access.clone()),
            Some(_) => self.refresh_locked(server, &mut guard).await,
        }
    }

    /// Spends the refresh token (the lock is held by the caller: one refresh in flight).
    async fn refresh_locked(
        &self,
        server: &str,
        guard: &mut tokio::sync::MutexGuard<'_, Option<Active>>,
    ) -> Result<String, DesktopError> {
        let Some(active) = guard.as_mut() else {
            return Err(DesktopError::SignedOut);
        };
        match self
            .exchange_or_reload(server, &active.account, &active.refresh)
            .await
        {
            Ok(pair) => {
                self.vault
                    .save(server, &active.account, &pair.refresh_token)
                    .await?;
                let account = active.account.clone();
                **guard = Some(activate(account, pair));
                Ok(guard.as_ref().map(|a| a.access.clone()).unwrap_or_default())
            }
            Err(DesktopError::SignedOut) => {
                let account = active.account.clone();
                **guard = None;
                self.vault.delete(server, &account).await?;
                self.forget_account();
                Err(DesktopError::SignedOut)
            }
            // Another window won and its token did not work for us either: sign out here only,
            // never deleting the entry the other window relies on.
            Err(DesktopError::AlreadyRotated) => {
                **guard = None;
                Err(DesktopError::SignedOut)
            }
            Err(e) => Err(e),
        }
    }

    /// Refreshes the access token now (the session otherwise does so shortly before it expires,
    /// or after a 401).
    pub async fn refresh_now(&self) -> Result<(), DesktopError> {
        let server = self.server_url().await;
        let mut guard = self.active.lock().await;
        self.refresh_locked(&server, &mut guard).await.map(drop)
    }

    /// [`Self::exchange`], and when another window of the app refreshed first
    /// (`refresh-token-already-rotated`), once more with the token it left in the keyring.
    async fn exchange_or_reload(
        &self,
        server: &str,
        account: &str,
        presented: &str,
    ) -> Result<TokenPair, DesktopError> {
        match self.exchange(server, presented).await {
            Err(DesktopError::AlreadyRotated) => match self.vault.load(server, account).await? {
                Some(newer) if newer != presented => self.exchange(server, &newer).await,
                _ => Err(DesktopError::AlreadyRotated),
            },
            other => other,
        }
    }

    async fn exchange(&self, server: &str, refresh: &str) -> Result<TokenPair, DesktopError> {
        if refresh.starts_with(browser_sign_in::GRANT_PREFIX) {
            return browser_sign_in::refresh(&self.http, server, refresh).await;
        }
        let resp = self
            .http
            .post(format!("{server}/api/v1/auth/refresh"))
            .json(&RefreshRequest {
                refresh_token: refresh.to_owned(),
            })
            .send()
            .await
            .map_err(|_| DesktopError::Unreachable(server.to_owned()))?;
        match resp.status() {
            StatusCode::OK => resp
                .json()
                .await
                .map_err(|e| DesktopError::Other(e.to_string())),
            StatusCode::UNAUTHORIZED => {
                let lost_race = resp
                    .json::<Problem>()
                    .await
                    .is_ok_and(|p| p.kind.ends_with(ALREADY_ROTATED));
                Err(if lost_race {
                    DesktopError::AlreadyRotated
                } else {
                    DesktopError::SignedOut
                })
            }
            _ => Err(error_from(resp).await),
        }
    }

    async fn end_locally(&self, server: &str) {
        let taken = self.active.lock().await.take();
        if let Some(a) = taken {
            let _ = self.vault.delete(server, &a.account).await;
        }
        self.forget_account();
    }

    fn forget_account(&self) {
        let mut r = read_settings(self.settings_file.as_ref());
        if r.account.take().is_some() {
            write_settings(self.settings_file.as_ref(), &r);
        }
    }
}

fn activate(account: String, pair: TokenPair) -> Active {
    Active {
        account,
        access: pair.access_token,
        access_valid_until: Instant::now()
            + Duration::from_secs(pair.expires_in.clamp(0, MAX_EXPIRES_IN).unsigned_abs()),
        refresh: pair.refresh_token,
    }
}

/// No request body.
pub const NO_BODY: Option<&()> = None;

async fn error_from(resp: reqwest::Response) -> DesktopError {
    let status = resp.status();
    let detail = resp
        .json::<Problem>()
        .await
        .map(|p| p.detail)
        .unwrap_or_else(|_| status.to_string());
    match status {
        StatusCode::UNAUTHORIZED => DesktopError::SignedOut,
        StatusCode::TOO_MANY_REQUESTS => DesktopError::TooManyAttempts,
        StatusCode::FORBIDDEN => DesktopError::Forbidden(detail),
        StatusCode::NOT_FOUND => DesktopError::NotFound,
        StatusCode::CONFLICT => DesktopError::Conflict(detail),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => DesktopError::Invalid(detail),
        _ => DesktopError::Other(format!("the server answered {status}")),
    }
}

fn read_settings(file: Option<&PathBuf>) -> Remembered {
    file.and_then(|f| std::fs::read(f).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_settings(file: Option<&PathBuf>, r: &Remembered) {
    let Some(file) = file else { return };
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match serde_json::to_vec_pretty(r) {
        Ok(bytes) => {
            if let Err(e) = std::fs::write(file, bytes) {
                tracing::warn!(error = %e, "cannot save settings");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot encode settings"),
    }
}
