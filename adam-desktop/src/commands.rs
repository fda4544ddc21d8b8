//! The Tauri commands the UI calls. Each is a thin wrapper over [`Session`]; none returns a token.

use std::sync::Arc;

use adam_api::{
    AuditPage, CodeRequest, Dealership, DealershipUpdate, DisableTotpRequest, Invitation,
    InvitationCreate, MfaStatus, Paged, Passkey, PasswordConfirmation, RecoveryCodes, Role,
    SessionList, TotpEnrollment, User, UserCreate, UserUpdate,
};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::error::DesktopError;
use crate::session::{EnrolledSignIn, Profile, Session, SignInStep, NO_BODY};

type Shared<'a> = State<'a, Arc<Session>>;
type Answer<T> = Result<T, DesktopError>;

/// The server address in use.
#[tauri::command]
pub async fn server_url(session: Shared<'_>) -> Answer<String> {
    Ok(session.server_url().await)
}

/// Changes the server address (signed out only).
#[tauri::command]
pub async fn set_server_url(session: Shared<'_>, url: String) -> Answer<String> {
    session.set_server_url(&url).await
}

/// Silent sign-in with the stored refresh token; `null` when there is none or it is dead.
#[tauri::command]
pub async fn restore_session(session: Shared<'_>) -> Answer<Option<Profile>> {
    session.restore().await
}

/// Sign in with email and password: signed in, or the second step the server asks for.
#[tauri::command]
pub async fn sign_in(session: Shared<'_>, email: String, password: String) -> Answer<SignInStep> {
    session.begin_sign_in(&email, &password).await
}

/// "Sign in with your browser": the system browser signs in at Adam (RFC 8252).
#[tauri::command]
pub async fn sign_in_with_browser(session: Shared<'_>) -> Answer<Profile> {
    session.sign_in_with_browser().await
}

/// "Forgot password?": asks the server to mail a reset link to `email`.
#[tauri::command]
pub async fn request_password_reset(session: Shared<'_>, email: String) -> Answer<()> {
    session.request_password_reset(&email).await
}

/// The second step of a sign-in: six digits from the authenticator app, or a recovery code.
#[tauri::command]
pub async fn sign_in_code(session: Shared<'_>, code: String) -> Answer<SignInStep> {
    session.sign_in_with_code(&code).await
}

/// The last step of a sign-in whose password was set by someone else: the new password.
#[tauri::command]
pub async fn sign_in_new_password(session: Shared<'_>, new_password: String) -> Answer<Profile> {
    session.sign_in_with_new_password(&new_password).await
}

/// At a sign-in that must set up a second factor: the secret and QR code for the app.
#[tauri::command]
pub async fn sign_in_enroll(session: Shared<'_>) -> Answer<Enrollment> {
    session.enroll_at_sign_in().await.map(Enrollment::from)
}

/// At a sign-in that must set up a second factor: the app's first code signs in.
#[tauri::command]
pub async fn sign_in_enroll_confirm(session: Shared<'_>, code: String) -> Answer<EnrolledSignIn> {
    session.confirm_enrollment_at_sign_in(&code).await
}

/// What the UI shows of a new TOTP secret: the secret to type, and the QR code as a data URL
/// for an `<img>` (an SVG shown as an image runs no script, whatever the server sent).
#[derive(Serialize)]
pub struct Enrollment {
    secret: String,
    otpauth_uri: String,
    qr_image: String,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrollment(<redacted>)")
    }
}

impl From<TotpEnrollment> for Enrollment {
    fn from(e: TotpEnrollment) -> Self {
        use base64::Engine as _;
        let svg = base64::engine::general_purpose::STANDARD.encode(e.qr_svg.as_bytes());
        Self {
            secret: e.secret,
            otpauth_uri: e.otpauth_uri,
            qr_image: format!("data:image/svg+xml;base64,{svg}"),
        }
    }
}

/// My second factor: on or off, recovery codes left, whether it is required of me.
#[tauri::command]
pub async fn mfa_status(session: Shared<'_>) -> Answer<MfaStatus> {
    session.call(Method::GET, "/auth/mfa", NO_BODY).await
}

/// Start turning my second factor on (after my password): the secret and QR code.
#[tauri::command]
pub async fn mfa_start(session: Shared<'_>, current_password: String) -> Answer<Enrollment> {
    let body = PasswordConfirmation { current_password };
    session
        .call::<TotpEnrollment>(Method::POST, "/auth/mfa/totp", Some(&body))
        .await
        .map(Enrollment::from)
}

/// Finish turning my second factor on with the app's first code: my recovery codes, once.
#[tauri::command]
pub async fn mfa_confirm(session: Shared<'_>, code: String) -> Answer<RecoveryCodes> {
    let body = CodeRequest { code };
    session
        .call(Method::POST, "/auth/mfa/totp/confirm", Some(&body))
        .await
}

/// Turn my second factor off (password and a code); my other devices are signed out.
#[tauri::command]
pub async fn mfa_disable(
    session: Shared<'_>,
    current_password: String,
    code: String,
) -> Answer<()> {
    let body = DisableTotpRequest {
        current_password,
        code,
    };
    session
        .call_with_no_content(Method::POST, "/auth/mfa/totp/disable", Some(&body))
        .await
}

/// New recovery codes (with a code); the old ones stop working.
#[tauri::command]
pub async fn mfa_new_codes(session: Shared<'_>, code: String) -> Answer<RecoveryCodes> {
    let body = CodeRequest { code };
    session
        .call(Method::POST, "/auth/mfa/recovery-codes", Some(&body))
        .await
}

/// Reset a user's second factor (a lost phone): admins and principals; their sessions end.
#[tauri::command]
pub async fn reset_user_mfa(session: Shared<'_>, id: String) -> Answer<()> {
    let id = id_of(&id, "not a user id")?;
    session
        .call_no_content(Method::DELETE, &format!("/users/{id}/mfa"))
        .await
}

/// Require a second factor of a dealership's users, or (admins) stop requiring it.
#[tauri::command]
pub async fn set_dealership_mfa(
    session: Shared<'_>,
    id: String,
    required: bool,
) -> Answer<Dealership> {
    let id = id_of(&id, "not a dealership id")?;
    let body = DealershipUpdate {
        mfa_required: Some(required),
        ..DealershipUpdate::default()
    };
    session
        .call(Method::PATCH, &format!("/dealerships/{id}"), Some(&body))
        .await
}

/// Sign out on this device.
#[tauri::command]
pub async fn sign_out(session: Shared<'_>) -> Answer<()> {
    session.sign_out().await
}

/// Sign out on every device.
#[tauri::command]
pub async fn sign_out_everywhere(session: Shared<'_>) -> Answer<()> {
    session.sign_out_everywhere().await
}

/// My profile.
#[tauri::command]
pub async fn profile(session: Shared<'_>) -> Answer<Profile> {
    session.profile().await
}

/// Change my name.
#[tauri::command]
pub async fn update_profile(session: Shared<'_>, full_name: String) -> Answer<Profile> {
    let changes = UserUpdate {
        full_name: Some(full_name),
        ..UserUpdate::default()
    };
    session.update_me(&changes).await?;
    session.profile().await
}

/// Change my password (the server checks the current one).
#[tauri::command]
pub async fn change_password(
    session: Shared<'_>,
    current_password: String,
    new_password: String,
) -> Answer<()> {
    let changes = UserUpdate {
        password: Some(new_password),
        current_password: Some(current_password),
        ..UserUpdate::default()
    };
    session.update_me(&changes).await?;
    Ok(())
}

/// What the Users tab shows: the users and the dealerships the caller can see.
#[derive(Debug, Serialize)]
pub struct UsersView {
    users: Paged<User>,
    dealerships: Paged<Dealership>,
}

/// The users I can see, optionally searched, with the dealerships I can see.
#[tauri::command]
pub async fn list_users(session: Shared<'_>, query: Option<String>) -> Answer<UsersView> {
    let q = query.unwrap_or_default();
    let path = if q.trim().is_empty() {
        "/users/?limit=100".to_owned()
    } else {
        format!("/users/?limit=100&q={}", encode(q.trim()))
    };
    let users = session.call(Method::GET, &path, NO_BODY).await?;
    let dealerships = session
        .call(Method::GET, "/dealerships/?limit=100", NO_BODY)
        .await?;
    Ok(UsersView { users, dealerships })
}

/// A new user, as the form sends it.
#[derive(Deserialize)]
pub struct NewUserForm {
    email: String,
    full_name: String,
    role: Role,
    password: String,
    dealership_id: Option<String>,
    /// Whether the new user must choose their own password at first sign-in (the form's box,
    /// ticked unless the admin unticks it).
    #[serde(default)]
    must_change_password: Option<bool>,
}

impl std::fmt::Debug for NewUserForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserForm")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Create a user (admins and principals, within what the server allows).
#[tauri::command]
pub async fn create_user(session: Shared<'_>, user: NewUserForm) -> Answer<User> {
    let dealership_id = match user.dealership_id.filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(id_of(&d, "dealership_id: not a dealership id")?),
    };
    let body = UserCreate {
        email: user.email,
        full_name: user.full_name,
        role: user.role,
        password: user.password,
        dealership_id,
        must_change_password: user.must_change_password,
    };
    session.call(Method::POST, "/users/", Some(&body)).await
}

/// A new invitation, as the form sends it.
#[derive(Debug, Deserialize)]
pub struct InvitationForm {
    email: String,
    full_name: String,
    role: Role,
    dealership_id: Option<String>,
}

/// Invite someone by mail (admins and principals): the answer holds `invite_url` to hand over
/// when the server sends no mail.
#[tauri::command]
pub async fn invite_user(session: Shared<'_>, invitation: InvitationForm) -> Answer<Invitation> {
    let dealership_id = match invitation.dealership_id.filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(id_of(&d, "dealership_id: not a dealership id")?),
    };
    let body = InvitationCreate {
        email: invitation.email,
        full_name: invitation.full_name,
        role: invitation.role,
        dealership_id,
    };
    session
        .call(Method::POST, "/invitations", Some(&body))
        .await
}

/// The invitations I can see, newest first.
#[tauri::command]
pub async fn list_invitations(session: Shared<'_>) -> Answer<Paged<Invitation>> {
    session
        .call(Method::GET, "/invitations?limit=100", NO_BODY)
        .await
}

/// Send an invitation again: a new link, the old one void, a new expiry.
#[tauri::command]
pub async fn resend_invitation(session: Shared<'_>, id: String) -> Answer<Invitation> {
    let id = id_of(&id, "not an invitation id")?;
    session
        .call(Method::POST, &format!("/invitations/{id}/resend"), NO_BODY)
        .await
}

/// Withdraw an invitation: its link stops working.
#[tauri::command]
pub async fn revoke_invitation(session: Shared<'_>, id: String) -> Answer<()> {
    let id = id_of(&id, "not an invitation id")?;
    session
        .call_no_content(Method::DELETE, &format!("/invitations/{id}"))
        .await
}

/// Export the access review (who can reach customer information) as CSV into the downloads
/// folder (`XDG_DOWNLOAD_DIR`, else the system's); answers the file's path.
#[tauri::command]
pub async fn export_access_review(app: tauri::AppHandle, session: Shared<'_>) -> Answer<String> {
    use tauri::Manager as _;
    let csv = session.call_text("/users/review?format=csv").await?;
    let dir = match std::env::var_os("XDG_DOWNLOAD_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => app
            .path()
            .download_dir()
            .map_err(|e| DesktopError::Other(format!("no downloads folder: {e}")))?,
    };
    let path = dir.join(format!(
        "access-review-{}.csv",
        chrono::Utc::now().format("%Y-%m-%d-%H%M%S")
    ));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, csv))
        .map_err(|e| DesktopError::Other(format!("could not write {}: {e}", path.display())))?;
    Ok(path.display().to_string())
}

/// Changes to a user, as the form sends them.
#[derive(Debug, Deserialize)]
pub struct UserChanges {
    full_name: Option<String>,
    role: Option<Role>,
    is_active: Option<bool>,
}

/// Change a user's name, role or active flag.
#[tauri::command]
pub async fn update_user(session: Shared<'_>, id: String, changes: UserChanges) -> Answer<User> {
    let id = id_of(&id, "not a user id")?;
    let body = UserUpdate {
        full_name: changes.full_name,
        role: changes.role,
        is_active: changes.is_active,
        ..UserUpdate::default()
    };
    session
        .call(Method::PATCH, &format!("/users/{id}"), Some(&body))
        .await
}

/// My live sessions (this device and others), newest first.
#[tauri::command]
pub async fn my_sessions(session: Shared<'_>) -> Answer<SessionList> {
    session.call(Method::GET, "/auth/sessions", NO_BODY).await
}

/// My passkeys (made in the browser: WebKitGTK has no WebAuthn), oldest first.
#[tauri::command]
pub async fn my_passkeys(session: Shared<'_>) -> Answer<Vec<Passkey>> {
    session.call(Method::GET, "/auth/passkeys", NO_BODY).await
}

/// Remove one of my passkeys: it signs in no more. Needs a sign-in of the last five minutes.
#[tauri::command]
pub async fn remove_passkey(session: Shared<'_>, id: String) -> Answer<()> {
    let id = id_of(&id, "not a passkey id")?;
    session
        .call_no_content(Method::DELETE, &format!("/auth/passkeys/{id}"))
        .await
}

/// Sign out one of my sessions on another device: its tokens stop working at once.
#[tauri::command]
pub async fn end_session(session: Shared<'_>, id: String) -> Answer<()> {
    let id = id_of(&id, "not a session id")?;
    session
        .call_no_content(Method::DELETE, &format!("/auth/sessions/{id}"))
        .await
}

/// Sign a user out on every device (admins and principals, within what the server allows).
#[tauri::command]
pub async fn end_user_sessions(session: Shared<'_>, id: String) -> Answer<()> {
    let id = id_of(&id, "not a user id")?;
    session
        .call_no_content(Method::DELETE, &format!("/users/{id}/sessions"))
        .await
}

/// Which audit events the Activity tab asks for; empty fields do not narrow.
#[derive(Debug, Default, Deserialize)]
pub struct ActivityFilter {
    /// Only this action (`user.updated`, …).
    action: Option<String>,
    /// Only what this user did.
    actor_id: Option<String>,
    /// Only what was done to this user.
    subject_id: Option<String>,
    /// From this time (RFC 3339), inclusive.
    since: Option<String>,
    /// Up to this time (RFC 3339), exclusive.
    until: Option<String>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// A page of the audit log (admins and principals: the Activity tab), newest first.
#[tauri::command]
pub async fn audit_events(session: Shared<'_>, filter: ActivityFilter) -> Answer<AuditPage> {
    let mut path = "/audit-events/?limit=50".to_owned();
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    for (name, value) in [("action", &filter.action), ("cursor", &filter.cursor)] {
        if let Some(v) = given(value) {
            path.push_str(&format!("&{name}={}", encode(&v)));
        }
    }
    for (name, value) in [
        ("actor_id", &filter.actor_id),
        ("subject_id", &filter.subject_id),
    ] {
        if let Some(v) = given(value) {
            path.push_str(&format!("&{name}={}", id_of(&v, "not a user id")?));
        }
    }
    for (name, value) in [("since", &filter.since), ("until", &filter.until)] {
        if let Some(v) = given(value) {
            let at = chrono::DateTime::parse_from_rfc3339(&v)
                .map_err(|_| DesktopError::Invalid(format!("{name}: not a date and time")))?;
            path.push_str(&format!("&{name}={}", encode(&at.to_rfc3339())));
        }
    }
    session.call(Method::GET, &path, NO_BODY).await
}

/// An id the UI sent, checked before it goes into a path.
fn id_of(text: &str, refusal: &str) -> Answer<uuid::Uuid> {
    uuid::Uuid::parse_str(text).map_err(|_| DesktopError::Invalid(refusal.into()))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
