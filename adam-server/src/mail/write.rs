//! What a mail says, in a plain-text and an HTML part (askama templates under
//! `templates/mail/`): the link, what it is for and until when; never a password or code.

use adam_core::mail::{MailKind, OutgoingMail};
use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;

/// An invitation mail's facts.
#[derive(Template)]
#[template(path = "mail/invitation.txt")]
struct InvitationText<'a> {
    m: &'a Facts<'a>,
}

#[derive(Template)]
#[template(path = "mail/invitation.html")]
struct InvitationHtml<'a> {
    m: &'a Facts<'a>,
}

#[derive(Template)]
#[template(path = "mail/reset.txt")]
struct ResetText<'a> {
    m: &'a Facts<'a>,
}

#[derive(Template)]
#[template(path = "mail/reset.html")]
struct ResetHtml<'a> {
    m: &'a Facts<'a>,
}

/// What the templates show.
struct Facts<'a> {
    full_name: &'a str,
    link: String,
    expires: String,
    role: &'a str,
    dealership: Option<&'a str>,
    invited_by: Option<&'a str>,
}

/// Writes mails whose links point at the server's public URL.
#[derive(Debug)]
pub(super) struct Writer {
    public_url: String,
}

impl Writer {
    pub(super) fn new(public_url: String) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The message for `mail`, from `from`; an error names what could not be written.
    pub(super) fn message(&self, from: &Mailbox, mail: &OutgoingMail) -> Result<Message, String> {
        let c = &mail.content;
        let page = match c.kind {
            MailKind::Invitation => "invite",
            MailKind::PasswordReset => "reset",
        };
        let facts = Facts {
            full_name: &c.full_name,
            link: format!("{}/{page}/{}", self.public_url, c.token.expose()),
            expires: c.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            role: c.role.map_or("", |r| r.in_words()),
            dealership: c.dealership_name.as_deref(),
            invited_by: c.invited_by.as_deref(),
        };
        let (subject, text, html) = match c.kind {
            MailKind::Invitation => (
                "You are invited to Adam",
                InvitationText { m: &facts }.render(),
                InvitationHtml { m: &facts }.render(),
            ),
            MailKind::PasswordReset => (
                "Reset your Adam password",
                ResetText { m: &facts }.render(),
                ResetHtml { m: &facts }.render(),
            ),
        };
        let (text, html) = (
            text.map_err(|e| e.to_string())?,
            html.map_err(|e| e.to_string())?,
        );
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| format!("the recipient's address: {e}"))?;
        Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| e.to_string())
    }
}
