//! What a queued mail is: its kind and what it says.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::links::LinkToken;
use crate::role::Role;

/// What a mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// An invitation to join: the link opens `/invite/{token}`.
    Invitation,
    /// A password reset the recipient asked for: the link opens `/reset/{token}`.
    PasswordReset,
}

impl MailKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// What a mail says: enough to write it, and nothing the recipient should not read (never a
/// password or code). Its `Debug` hides the link.
#[derive(Clone, Serialize, Deserialize)]
pub struct MailContent {
    /// What the mail is for.
    pub kind: MailKind,
    /// The link's token.
    #[serde(with = "token_text")]
    pub token: LinkToken,
    /// The recipient's name.
    pub full_name: String,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// Invitations: the role offered.
    pub role: Option<Role>,
    /// Invitations: the dealership's name (none for a system admin).
    pub dealership_name: Option<String>,
    /// Invitations: who invited them.
    pub invited_by: Option<String>,
}

impl fmt::Debug for MailContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailContent")
            .field("kind", &self.kind)
            .field("token", &self.token)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

mod token_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::links::LinkToken;

    pub(super) fn serialize<S: Serializer>(t: &LinkToken, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.expose())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<LinkToken, D::Error> {
        String::deserialize(d).map(LinkToken::from_sealed)
    }
}

/// A mail taken from the outbox to send now.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    /// Its row; hand it back to [`crate::Adam::mail_sent`] or [`crate::Adam::mail_failed`].
    pub id: Uuid,
    /// The recipient's address.
    pub to: String,
    /// What it says.
    pub content: MailContent,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
}

/// How an invitation's latest mail went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStatus {
    /// No mail is sent (no `SMTP_URL`): the inviter hands the link over.
    NotSent,
    /// Waiting in the outbox, or being retried.
    Queued,
    /// Handed to the SMTP server.
    Sent,
    /// Given up after retrying.
    Failed,
}

impl MailStatus {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotSent => "not_sent",
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> crate::error::Result<Self> {
        match s {
            "not_sent" => Ok(Self::NotSent),
            "queued" => Ok(Self::Queued),
            "sent" => Ok(Self::Sent),
            "failed" => Ok(Self::Failed),
            other => Err(crate::error::Error::Internal(format!(
                "unknown mail status {other:?}"
            ))),
        }
    }
}
