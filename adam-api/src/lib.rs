//! # adam-api
//!
//! The request and response bodies of Adam's REST API (`/api/v1`), defined once: `adam-server`
//! documents and parses them (feature `server`), and clients such as
//! `adam-desktop` send and read them with serde alone.
//!
//! ```
//! let body = adam_api::LoginRequest {
//!     email: "manager@premiumauto.com".into(),
//!     password: "Manager123!".into(),
//! };
//! let json = serde_json::to_value(&body).unwrap();
//! assert_eq!(json["email"], "manager@premiumauto.com");
//! assert!(!format!("{body:?}").contains("Manager123!"));
//! ```

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "server")]
mod convert;
mod maybe;
mod passkeys;
mod rfc3339;

pub use passkeys::{
    Passkey, PasskeyCeremony, PasskeyRegistration, PasskeySecondStep, PasskeySignIn,
};

#[cfg(feature = "openapi")]
pub use poem_openapi::types::MaybeUndefined;

#[cfg(not(feature = "openapi"))]
pub use maybe::MaybeUndefined;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees and changes everything; has no dealership.
    SystemAdmin,
    /// Runs one dealership.
    DealerPrincipal,
    /// Sees only their own profile.
    FiManager,
}

impl Role {
    /// The contract's spelling of the role, as JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SystemAdmin => "system_admin",
            Self::DealerPrincipal => "dealer_principal",
            Self::FiManager => "fi_manager",
        }
    }
}

/// The ends of the problem types (RFC 9457 `type`, URI references relative to the server) that
/// clients act on. The server writes them, the desktop app reads them: one definition.
pub mod problems {
    /// A refresh that lost a race to another window of the same app; the session lives.
    pub const ALREADY_ROTATED: &str = "/problems/refresh-token-already-rotated";
    /// A right password that needs a second factor.
    pub const MFA_REQUIRED: &str = "/problems/mfa-required";
    /// A right password whose user must enroll a second factor first.
    pub const MFA_ENROLLMENT_REQUIRED: &str = "/problems/mfa-enrollment-required";
    /// A wrong or replayed code at the second step.
    pub const MFA_CODE_INVALID: &str = "/problems/mfa-code-invalid";
    /// A spent, expired or unknown `mfa_token`.
    pub const MFA_TOKEN_INVALID: &str = "/problems/mfa-token-invalid";
    /// A right password that was set by someone else: choose a new one with the
    /// `password_change_token` at `/auth/login/password`.
    pub const PASSWORD_CHANGE_REQUIRED: &str = "/problems/password-change-required";
    /// Registering or removing a passkey with a sign-in older than five minutes: sign in again.
    pub const REAUTHENTICATION_REQUIRED: &str = "/problems/reauthentication-required";
}

/// Email and password.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields, example))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's email, in any case.
    pub email: String,
    /// The password, exactly as set.
    pub password: String,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "openapi")]
impl poem_openapi::types::Example for LoginRequest {
    fn example() -> Self {
        Self {
            email: "you@your-dealership.example".into(),
            password: "your password".into(),
        }
    }
}

/// A refresh token.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last `TokenPair`.
    pub refresh_token: String,
}

impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshRequest(<redacted>)")
    }
}

/// Tokens answering a sign-in or refresh.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TokenPair {
    /// JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Opaque token for `/auth/refresh`; single use.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// What the caller may do to others (`GET /auth/permissions`), from the role table that enforces
/// it: a client shows or hides actions by it and never re-derives the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Permissions {
    /// Actions of the contract's vocabulary (`users.read`, `users.create`, `users.update`,
    /// `users.delete`, `users.sessions.manage`, `users.mfa.reset`, `dealerships.create`,
    /// `dealerships.update`, `dealerships.delete`, `dealerships.mfa_required.set`, `audit.read`,
    /// `users.review`, `invitations.manage`)
    /// that the caller may do to someone other than themself; empty for an F&I manager.
    pub actions: Vec<String>,
    /// The roles the caller may give a user.
    pub assignable_roles: Vec<Role>,
}

/// A user. Never carries a password or hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct User {
    /// Identifier.
    pub id: Uuid,
    /// Normalised email.
    pub email: String,
    /// Display name.
    pub full_name: String,
    /// Role.
    pub role: Role,
    /// Dealership; null for a system admin.
    pub dealership_id: Option<Uuid>,
    /// Inactive users cannot sign in.
    pub is_active: bool,
    /// Whether the user signs in with a second factor (TOTP is on).
    pub mfa_enabled: bool,
    /// The latest completed sign-in (UTC); null until the first.
    #[serde(default, serialize_with = "rfc3339::serialize_or_null")]
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// Creation time (UTC).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
}

/// One user in the access review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ReviewEntry {
    /// The user.
    pub user: User,
    /// Their dealership's name; null for a system admin.
    pub dealership_name: Option<String>,
    /// Whether they sign in with a second factor.
    pub mfa_enabled: bool,
    /// Their latest completed sign-in (UTC); null if never.
    #[serde(default, serialize_with = "rfc3339::serialize_or_null")]
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// How many of their sessions are live now.
    pub live_sessions: u64,
    /// The email of who invited them; null unless they came by invitation.
    pub invited_by: Option<String>,
}

/// The access review (contract: "Access review and inactive users"): who can reach the
/// dealership's customer information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct AccessReview {
    /// Every user the reviewer can see, by email.
    pub items: Vec<ReviewEntry>,
    /// When the review was read (UTC).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub generated_at: DateTime<Utc>,
}

impl AccessReview {
    /// The CSV header, as the contract names the columns.
    pub const CSV_HEADER: &'static str = "id,email,full_name,role,dealership_id,dealership_name,\
        is_active,mfa_enabled,last_sign_in_at,live_sessions,invited_by_email,created_at";

    /// The review as CSV (RFC 4180, CRLF line ends): the header, then a line per user. A cell
    /// that a spreadsheet would run as a formula (beginning with `=`, `+`, `-` or `@`) is
    /// prefixed with `'`.
    pub fn to_csv(&self) -> String {
        let mut out = String::with_capacity(64 + self.items.len() * 160);
        out.push_str(Self::CSV_HEADER);
        out.push_str("\r\n");
        for e in &self.items {
            let u = &e.user;
            let cells = [
                u.id.to_string(),
                u.email.clone(),
                u.full_name.clone(),
                u.role.as_str().to_owned(),
                u.dealership_id.map(|d| d.to_string()).unwrap_or_default(),
                e.dealership_name.clone().unwrap_or_default(),
                u.is_active.to_string(),
                e.mfa_enabled.to_string(),
                e.last_sign_in_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default(),
                e.live_sessions.to_string(),
                e.invited_by.clone().unwrap_or_default(),
                u.created_at.to_rfc3339(),
            ];
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&csv_cell(cell));
            }
            out.push_str("\r\n");
        }
        out
    }
}

/// One CSV cell: defused against formulas, quoted when it holds a comma, quote or line break.
fn csv_cell(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if defused.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// A live session: one sign-in (contract: "Sessions").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Session {
    /// Identifier (the `sid` of its tokens).
    pub id: Uuid,
    /// When it signed in (UTC).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// When it was last refreshed (UTC); its sign-in if never.
    #[serde(serialize_with = "rfc3339::serialize")]
    pub last_used_at: DateTime<Utc>,
    /// When it ends unless refreshed before (UTC).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub expires_at: DateTime<Utc>,
    /// The client address it signed in from; null if unknown.
    pub ip: Option<String>,
    /// The program it signed in with (at most 256 characters); null if it did not say.
    pub user_agent: Option<String>,
    /// How it signed in (RFC 8176): `["pwd"]` or `["pwd", "otp"]`.
    pub amr: Vec<String>,
    /// Whether this is the caller's own session.
    pub current: bool,
}

/// Live sessions, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct SessionList {
    /// The sessions.
    pub items: Vec<Session>,
}

/// Who did what an audit event records, as they were when they did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct AuditActor {
    /// The user (who may since have been deleted).
    pub id: Uuid,
    /// Their email when they acted; null if it was not known.
    pub email: Option<String>,
}

/// What an audit event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct AuditSubject {
    /// `user` or `dealership`.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", oai(rename = "type"))]
    pub kind: String,
    /// Its identifier.
    pub id: Uuid,
}

/// One security event (contract: "Audit log").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct AuditEvent {
    /// Identifier.
    pub id: Uuid,
    /// When it happened (UTC).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub at: DateTime<Utc>,
    /// What happened: `login.succeeded`, `user.updated`, `session.ended`, …
    pub action: String,
    /// Who did it; null for the system (a timer, the command line) or an unknown account.
    pub actor: Option<AuditActor>,
    /// The dealership it belongs to (its subject's); null for system-wide events.
    pub dealership_id: Option<Uuid>,
    /// What it is about; null when it is about nothing in particular (a key rotation).
    pub subject: Option<AuditSubject>,
    /// The session it was done in, or the session it started or ended.
    pub session_id: Option<Uuid>,
    /// The client address; null if unknown.
    pub ip: Option<String>,
    /// The client program (at most 256 characters); null if it did not say.
    pub user_agent: Option<String>,
    /// The action's details (changed fields, from → to values, reasons); never a secret.
    pub details: serde_json::Value,
}

/// A page of audit events, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct AuditPage {
    /// The events.
    pub items: Vec<AuditEvent>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Paged<
    #[cfg(feature = "openapi")] T: poem_openapi::types::ParseFromJSON + poem_openapi::types::ToJSON,
    #[cfg(not(feature = "openapi"))] T,
> {
    /// This page.
    pub items: Vec<T>,
    /// Matching items in all (only those the caller can see).
    pub total: u64,
    /// Page size.
    pub limit: u32,
    /// Items skipped.
    pub offset: u64,
}

/// A new user.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    /// Email, unique regardless of case.
    pub email: String,
    /// Initial password: 8 to 128 characters, not a common password.
    pub password: String,
    /// Display name.
    pub full_name: String,
    /// Role.
    pub role: Role,
    /// Dealership; required unless the role is `system_admin` (a principal may omit it: their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dealership_id: Option<Uuid>,
    /// The user must choose a new password at their first sign-in (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub must_change_password: Option<bool>,
}

impl fmt::Debug for UserCreate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserCreate")
            .field("email", &self.email)
            .field("full_name", &self.full_name)
            .field("role", &self.role)
            .field("dealership_id", &self.dealership_id)
            .finish_non_exhaustive()
    }
}

/// Someone to invite (`POST /invitations`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct InvitationCreate {
    /// Their email: the invitation goes there and becomes their sign-in.
    pub email: String,
    /// Their name.
    pub full_name: String,
    /// The role they will have.
    pub role: Role,
    /// Their dealership; required unless the role is `system_admin` (a principal may omit it:
    /// their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dealership_id: Option<Uuid>,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    /// Its link works.
    Pending,
    /// The invitee became a user.
    Accepted,
    /// Revoked by someone, or because its inviter or dealership changed.
    Revoked,
    /// Its link ran out (a resend opens it again).
    Expired,
}

/// How an invitation's latest mail went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
#[serde(rename_all = "snake_case")]
pub enum MailStatus {
    /// No mail is sent (no `SMTP_URL`): the inviter hands `invite_url` over.
    NotSent,
    /// Waiting in the outbox, or being retried.
    Queued,
    /// Handed to the SMTP server.
    Sent,
    /// Given up after retrying for 24 hours.
    Failed,
}

/// An invitation (never its link, except `invite_url` in the answer that made it when no mail
/// is sent).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Invitation {
    /// Identifier.
    pub id: Uuid,
    /// Who is invited.
    pub email: String,
    /// Their name.
    pub full_name: String,
    /// The role they will have.
    pub role: Role,
    /// Their dealership; null for a system admin.
    pub dealership_id: Option<Uuid>,
    /// The id of the user who invited them; null once that user is deleted.
    pub invited_by: Option<Uuid>,
    /// When it was made (UTC).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// When its link stops working (UTC).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub expires_at: DateTime<Utc>,
    /// Where it stands.
    pub status: InvitationStatus,
    /// How its latest mail went.
    pub mail_status: MailStatus,
    /// The link to hand to the invitee, in the answer of `POST /invitations` and of a resend
    /// when no mail is sent (no `SMTP_URL`); absent otherwise. Shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", oai(skip_serializing_if_is_none))]
    pub invite_url: Option<String>,
}

impl fmt::Debug for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invitation")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("status", &self.status)
            .field("mail_status", &self.mail_status)
            .finish_non_exhaustive()
    }
}

/// A password reset request (`POST /auth/password-reset`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    /// The account's email, in any case.
    pub email: String,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// New email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// New password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Your current password: required when changing your own password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_password: Option<String>,
    /// New role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Activate or deactivate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// New dealership (null only for a system admin).
    #[serde(default, skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub dealership_id: MaybeUndefined<Uuid>,
    /// With a `password` set for someone else: they must choose a new one at their next sign-in
    /// (default false). Refused (422) without such a `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub must_change_password: Option<bool>,
}

impl fmt::Debug for UserUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("UserUpdate")
            .field("email", &self.email)
            .field("full_name", &self.full_name)
            .field("password", &set(&self.password))
            .field("current_password", &set(&self.current_password))
            .field("role", &self.role)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

/// A dealership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Dealership {
    /// Identifier.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Users of an inactive dealership cannot sign in.
    pub is_active: bool,
    /// Whether its users must sign in with a second factor.
    pub mfa_required: bool,
    /// Creation time (UTC).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
}

/// A new dealership.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct DealershipCreate {
    /// Name, unique regardless of case.
    pub name: String,
}

/// How a client's ID tokens are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
pub enum IdTokenAlg {
    /// Ed25519 (the default).
    #[default]
    #[cfg_attr(feature = "openapi", oai(rename = "EdDSA"))]
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// RSA with SHA-256, for clients that accept nothing else.
    #[cfg_attr(feature = "openapi", oai(rename = "RS256"))]
    #[serde(rename = "RS256")]
    Rs256,
}

/// An OpenID Connect client (`/oauth-clients`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct OAuthClient {
    /// The protocol's client id.
    pub client_id: String,
    /// The application's name (shown on the consent page).
    pub name: String,
    /// Where authorization answers may go: matched exactly, but for the port of a loopback IP
    /// literal.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards.
    pub post_logout_redirect_uris: Vec<String>,
    /// Where back-channel logout tokens are posted; null for none.
    pub backchannel_logout_uri: Option<String>,
    /// A public client (single-page or native app) has no secret.
    pub public: bool,
    /// A first-party client asks no consent; its access tokens are good at `/api/v1`.
    pub first_party: bool,
    /// The roles that may sign in to it; empty: every role.
    pub allowed_roles: Vec<Role>,
    /// The dealerships whose staff may sign in to it; empty: every dealership.
    pub dealership_ids: Vec<Uuid>,
    /// How its ID tokens are signed.
    pub id_token_signed_response_alg: IdTokenAlg,
    /// When it was registered (UTC).
    pub created_at: DateTime<Utc>,
    /// A confidential client's secret: only in the answer that registered it or gave it a new
    /// one, shown that once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", oai(skip_serializing_if_is_none))]
    pub client_secret: Option<String>,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A client to register.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct OAuthClientCreate {
    /// 3 to 64 of `a-z 0-9 . _ -`; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The application's name.
    pub name: String,
    /// At least one: `https://…`, or `http://127.0.0.1…` / `http://[::1]…` (any port).
    pub redirect_uris: Vec<String>,
    /// The same rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// The same rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// No secret (default false: a secret is issued and shown once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_party: Option<bool>,
    /// Default: every role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_roles: Option<Vec<Role>>,
    /// Default: every dealership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dealership_ids: Option<Vec<Uuid>>,
    /// Default `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<IdTokenAlg>,
}

/// Changes to a client; absent or null leaves a field as it is (but `backchannel_logout_uri`,
/// which null removes).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct OAuthClientUpdate {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New redirect URIs (at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    /// New post-logout redirect URIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// A new back-channel logout URI; null: none.
    #[serde(default, skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub backchannel_logout_uri: MaybeUndefined<String>,
    /// First party or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_party: Option<bool>,
    /// New allowed roles (empty: every role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_roles: Option<Vec<Role>>,
    /// New dealerships (empty: every dealership).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dealership_ids: Option<Vec<Uuid>>,
    /// A new ID token algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<IdTokenAlg>,
}

/// Changes to a dealership.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct DealershipUpdate {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Activate or deactivate (deactivating ends its users' sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Require a second factor of its users (turning it on ends their sessions signed in
    /// without one); a dealer principal may only turn it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_required: Option<bool>,
}

/// An error answer (RFC 9457 `application/problem+json`), as a client reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request, naming the field at fault where there is one.
    pub detail: String,
    /// With `mfa-required` and `mfa-enrollment-required`: the token of the second step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// With `mfa-required`: the kinds of code the second step takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_methods: Option<Vec<String>>,
    /// With `password-change-required`: the token for `/auth/login/password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_change_token: Option<String>,
    /// With `password-change-required` after an enrollment at sign-in: the new recovery codes,
    /// shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

/// A body with one redacted field and a redacting `Debug`.
macro_rules! secret_body {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident: $max:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
        #[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[$fdoc])*
                #[cfg_attr(feature = "openapi", oai(validator(max_length = $max)))]
                pub $field: String,
            )+
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_body!(
    /// The new password of a sign-in that asked for one (`password-change-required`).
    PasswordChangeRequest {
        /// The `password_change_token` of the sign-in's 401 answer.
        password_change_token: 128,
        /// The new password: the usual rules, and not the one set for you.
        new_password: 128,
    }
);

secret_body!(
    /// The caller's current password, to start a TOTP enrollment.
    PasswordConfirmation {
        /// Your current password.
        current_password: 128,
    }
);

secret_body!(
    /// A code of the second factor: six digits from the authenticator app (or, where a route
    /// says so, a recovery code).
    CodeRequest {
        /// Six digits, or a recovery code `XXXX-XXXX-XXXX`.
        code: 64,
    }
);

secret_body!(
    /// Turning TOTP off: the current password and a code.
    DisableTotpRequest {
        /// Your current password.
        current_password: 128,
        /// Six digits, or a recovery code.
        code: 64,
    }
);

secret_body!(
    /// The second step of a sign-in.
    MfaLoginRequest {
        /// The `mfa_token` of the sign-in's 401 answer.
        mfa_token: 128,
        /// Six digits from the authenticator app, or a recovery code `XXXX-XXXX-XXXX`.
        code: 64,
    }
);

secret_body!(
    /// The `mfa_token` of a sign-in that must enroll first.
    MfaTokenRequest {
        /// The `mfa_token` of the sign-in's 401 answer.
        mfa_token: 128,
    }
);

/// A user's second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct MfaStatus {
    /// TOTP is on.
    pub totp_enabled: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
    /// A second factor is required of this user (by their dealership or role).
    pub required: bool,
}

/// What an authenticator app needs to add the account.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TotpEnrollment {
    /// The shared secret, base32 (RFC 4648, no padding), for typing into the app.
    pub secret: String,
    /// The `otpauth://totp/…` URI.
    pub otpauth_uri: String,
    /// The URI as a QR code: an SVG document.
    pub qr_svg: String,
}

impl fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpEnrollment(<redacted>)")
    }
}

/// Ten recovery codes, shown this once.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct RecoveryCodes {
    /// Each good for one sign-in, as `XXXX-XXXX-XXXX`.
    pub recovery_codes: Vec<String>,
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes(<{} redacted>)", self.recovery_codes.len())
    }
}

/// A sign-in completed by enrolling: the token pair and the first recovery codes.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct EnrolledTokenPair {
    /// JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Opaque token for `/auth/refresh`; single use.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Each good for one sign-in, as `XXXX-XXXX-XXXX`; shown this once.
    pub recovery_codes: Vec<String>,
}

impl fmt::Debug for EnrolledTokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnrolledTokenPair(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_access_review_csv_defuses_formulas_and_quotes_what_needs_it() {
        let at = chrono::TimeZone::timestamp_opt(&Utc, 1_796_000_000, 0).unwrap();
        let user = User {
            id: Uuid::nil(),
            email: "=cmd@x.example".into(),
            full_name: "Doe, \"Jane\"".into(),
            role: Role::FiManager,
            dealership_id: None,
            is_active: true,
            mfa_enabled: false,
            last_sign_in_at: None,
            created_at: at,
            updated_at: at,
        };
        let review = AccessReview {
            items: vec![ReviewEntry {
                user,
                dealership_name: Some("+Premium".into()),
                mfa_enabled: false,
                last_sign_in_at: Some(at),
                live_sessions: 2,
                invited_by: Some("@boss@x.example".into()),
            }],
            generated_at: at,
        };
        let csv = review.to_csv();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], AccessReview::CSV_HEADER);
        assert_eq!(
            lines[1],
            "00000000-0000-0000-0000-000000000000,'=cmd@x.example,\"Doe, \"\"Jane\"\"\",fi_manager,,\
             '+Premium,true,false,2026-11-30T00:53:20+00:00,2,'@boss@x.example,2026-11-30T00:53:20+00:00"
        );
        assert_eq!(lines[2], "");
    }

    use super::*;

    #[test]
    fn partial_updates_send_only_what_they_change() {
        let rename = UserUpdate {
            full_name: Some("New Name".into()),
            ..UserUpdate::default()
        };
        assert_eq!(
            serde_json::to_string(&rename).unwrap(),
            r#"{"full_name":"New Name"}"#
        );
        let clear = UserUpdate {
            dealership_id: MaybeUndefined::Null,
            ..UserUpdate::default()
        };
        assert_eq!(
            serde_json::to_string(&clear).unwrap(),
            r#"{"dealership_id":null}"#
        );
        let parsed: UserUpdate = serde_json::from_str(r#"{"dealership_id":null}"#).unwrap();
        assert!(matches!(parsed.dealership_id, MaybeUndefined::Null));
        let parsed: UserUpdate = serde_json::from_str("{}").unwrap();
        assert!(parsed.dealership_id.is_undefined());
        assert!(serde_json::from_str::<UserUpdate>(r#"{"admin":true}"#).is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let update = UserUpdate {
            password: Some("hunter2-hunter2".into()),
            current_password: Some("old-secret-words".into()),
            ..UserUpdate::default()
        };
        let pair = TokenPair {
            access_token: "eyJ.access".into(),
            refresh_token: "adam_rt_secret".into(),
            token_type: "bearer".into(),
            expires_in: 1800,
        };
        let shown = format!("{update:?} {pair:?}");
        for secret in ["hunter2", "old-secret", "eyJ.access", "adam_rt_secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}

/// A token to introspect (RFC 7662), as JSON or as a form.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct IntrospectRequest {
    /// The token to check: an access token, or anything else (which is answered inactive).
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 4096)))]
    pub token: String,
    /// Optional hint (RFC 7662 §2.1); ignored: only access tokens are ever active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 64)))]
    pub token_type_hint: Option<String>,
}

impl fmt::Debug for IntrospectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectRequest").finish_non_exhaustive()
    }
}

/// What introspection says of a token (RFC 7662 §2.2): `{active: false}` for anything that is
/// not a live access token; otherwise its claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct Introspection {
    /// Whether the token is a live access token.
    pub active: bool,
    /// The user (when active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<Uuid>,
    /// Their role (when active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Their dealership; absent for a system admin and when inactive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dealership_id: Option<Uuid>,
    /// The session (when active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    /// How the user signed in (RFC 8176): `["pwd"]` or `["pwd", "otp"]` (when active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// Expiry, seconds since the epoch (when active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at, seconds since the epoch (when active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The issuer (when active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The audience (when active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Always `access_token` (when active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

impl Introspection {
    /// The answer for anything that is not a live access token.
    pub fn inactive() -> Self {
        Self {
            active: false,
            sub: None,
            role: None,
            dealership_id: None,
            sid: None,
            amr: None,
            exp: None,
            iat: None,
            iss: None,
            aud: None,
            token_type: None,
        }
    }
}

/// One public signing key (RFC 7517; Ed25519 as RFC 8037, RSA as RFC 7518 §6.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Jwk {
    /// `OKP` (Ed25519) or `RSA`.
    pub kty: String,
    /// `Ed25519`, for an `OKP` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", oai(skip_serializing_if_is_none))]
    pub crv: Option<String>,
    /// The Ed25519 public key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", oai(skip_serializing_if_is_none))]
    pub x: Option<String>,
    /// The RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", oai(skip_serializing_if_is_none))]
    pub n: Option<String>,
    /// The RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", oai(skip_serializing_if_is_none))]
    pub e: Option<String>,
    /// The key id: the RFC 7638 thumbprint.
    pub kid: String,
    /// `EdDSA` (access and ID tokens) or `RS256` (the ID tokens of clients registered so).
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    #[cfg_attr(feature = "openapi", oai(rename = "use"))]
    pub use_: String,
}

/// The published signing keys: the next, current and still-published retired keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// The OpenID Connect provider's metadata (OpenID Connect Discovery 1.0 §3), at
/// `/.well-known/openid-configuration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct OpenIdConfiguration {
    /// The issuer: the server's public URL, the ID tokens' `iss`.
    pub issuer: String,
    /// Where the browser signs in (`/oauth2/authorize`).
    pub authorization_endpoint: String,
    /// Where codes and refresh tokens are exchanged (`/oauth2/token`).
    pub token_endpoint: String,
    /// Where an access token reads the user's claims (`/oauth2/userinfo`).
    pub userinfo_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
    /// RFC 7009 revocation (`/oauth2/revoke`).
    pub revocation_endpoint: String,
    /// RP-Initiated Logout (`/oauth2/logout`).
    pub end_session_endpoint: String,
    /// `["code"]`.
    pub response_types_supported: Vec<String>,
    /// `["query"]`.
    pub response_modes_supported: Vec<String>,
    /// `["authorization_code", "refresh_token"]`.
    pub grant_types_supported: Vec<String>,
    /// `["public"]`.
    pub subject_types_supported: Vec<String>,
    /// The ID tokens' algorithms.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// `openid`, `profile`, `email`, `offline_access`.
    pub scopes_supported: Vec<String>,
    /// The claims ID tokens and userinfo carry.
    pub claims_supported: Vec<String>,
    /// `["S256"]`: PKCE is required of every client, `plain` refused.
    pub code_challenge_methods_supported: Vec<String>,
    /// `client_secret_basic`, `client_secret_post`, and `none` for public clients.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// As for the token endpoint.
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// `none` and `login`.
    pub prompt_values_supported: Vec<String>,
    /// RFC 9207: every authorization response carries `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    /// Whether clients may register a back-channel logout URI.
    pub backchannel_logout_supported: bool,
    /// Whether logout tokens carry `sid`.
    pub backchannel_logout_session_supported: bool,
}

impl OpenIdConfiguration {
    /// The document of the provider at `issuer`, signing ID tokens with `algorithms`.
    pub fn of(issuer: &str, algorithms: &[&str]) -> Self {
        let list = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let auth_methods = list(&["client_secret_basic", "client_secret_post", "none"]);
        Self {
            issuer: issuer.to_owned(),
            authorization_endpoint: format!("{issuer}/oauth2/authorize"),
            token_endpoint: format!("{issuer}/oauth2/token"),
            userinfo_endpoint: format!("{issuer}/oauth2/userinfo"),
            jwks_uri: format!("{issuer}/.well-known/jwks.json"),
            revocation_endpoint: format!("{issuer}/oauth2/revoke"),
            end_session_endpoint: format!("{issuer}/oauth2/logout"),
            response_types_supported: list(&["code"]),
            response_modes_supported: list(&["query"]),
            grant_types_supported: list(&["authorization_code", "refresh_token"]),
            subject_types_supported: list(&["public"]),
            id_token_signing_alg_values_supported: list(algorithms),
            scopes_supported: list(&["openid", "profile", "email", "offline_access"]),
            claims_supported: list(&[
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "amr",
                "sid",
                "email",
                "email_verified",
                "name",
                "role",
                "dealership_id",
            ]),
            code_challenge_methods_supported: list(&["S256"]),
            token_endpoint_auth_methods_supported: auth_methods.clone(),
            revocation_endpoint_auth_methods_supported: auth_methods,
            prompt_values_supported: list(&["none", "login"]),
            authorization_response_iss_parameter_supported: true,
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
        }
    }
}

/// Authorization server metadata (RFC 8414), the part Adam has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ServerMetadata {
    /// The tokens' `iss`: the server's public URL.
    pub issuer: String,
    /// Where the signing keys are published.
    pub jwks_uri: String,
    /// Where tokens are introspected.
    pub introspection_endpoint: String,
}
