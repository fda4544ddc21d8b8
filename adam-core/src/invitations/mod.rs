//! Invitations: an admin or principal invites someone by email; the link (mailed, or handed
//! to the inviter when no mail is sent) opens `/invite/{token}`, where the invitee chooses a
//! password and becomes a user with the invited role and dealership.
//!
//! Who may invite whom is the rule for creating that user ([`crate::rbac::authorize_invite`]).
//! An email with an account or an open invitation cannot be invited again (409). Accepting
//! checks it all again: the dealership is active, the inviter still may create this user, the
//! email is still free; and an invitation is revoked when its inviter is deactivated, demoted
//! or moved, or its dealership deactivated (deleting the dealership deletes it).

pub(crate) mod store;

pub use crate::mail::MailStatus;

use chrono::{DateTime, Utc};

use crate::audit::events::{Event, InvitationEvent, UserRef};
use crate::caller::{Amr, SignInMethod};
use crate::db::{Intent, Tx};
use crate::dealerships::store as dealerships;
use crate::email::Email;
use crate::engine::Adam;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, InvitationId, SessionId, UserId};
use crate::links::{self, LinkProblem, LinkToken, INVITATION_PREFIX};
use crate::mail::{store as outbox, MailContent, MailKind};
use crate::models::{Name, Page, PageRequest, User};
use crate::origin::ClientInfo;
use crate::password::Password;
use crate::placement::Placement;
use crate::rbac::{self, Principal};
use crate::role::Role;
use crate::second_factor::SignIn;
use crate::users::store as users;

/// Who to invite, and as what.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    /// Their email: the invitation goes there and becomes their sign-in.
    pub email: Email,
    /// Their name.
    pub full_name: Name,
    /// The role they will have.
    pub role: Role,
    /// Their dealership; a dealer principal may omit it to mean their own.
    pub dealership_id: Option<DealershipId>,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl InvitationStatus {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// An invitation, as its inviter's side sees it (never its link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Its id.
    pub id: InvitationId,
    /// Who is invited.
    pub email: Email,
    /// Their name.
    pub full_name: String,
    /// The role and dealership they will have.
    pub placement: Placement,
    /// Who invited them (`None` once that user is deleted... or never known).
    pub invited_by: Option<UserId>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When its link stops working.
    pub expires_at: DateTime<Utc>,
    /// Where it stands now.
    pub status: InvitationStatus,
    /// How its latest mail went.
    pub mail_status: MailStatus,
}

/// A new or renewed invitation, and its link when no mail carries it (for the inviter to hand
/// over; shown once).
#[derive(Debug, Clone)]
pub struct Invited {
    /// The invitation.
    pub invitation: Invitation,
    /// The link's token when no mail is sent.
    pub link: Option<LinkToken>,
}

/// An open invitation, as its page shows it.
#[derive(Debug, Clone)]
pub struct InvitationLink {
    /// Who is invited.
    pub email: Email,
    /// Their name.
    pub full_name: String,
    /// The role offered.
    pub role: Role,
    /// The dealership's name (none for a system admin).
    pub dealership_name: Option<String>,
    /// The new user must set up a second factor before the first sign-in completes.
    pub second_factor_required: bool,
}

/// Where an invitation stands at `now`: the one reading of its row's times.
fn status_of(row: &store::Row, now: DateTime<Utc>) -> InvitationStatus {
    if row.accepted_at.is_some() {
        InvitationStatus::Accepted
    } else if row.revoked_at.is_some() {
        InvitationStatus::Revoked
    } else if row.lapsed_at.is_some() || row.expires_at <= now {
        InvitationStatus::Expired
    } else {
        InvitationStatus::Pending
    }
}

/// The role and dealership an invitation offers.
fn placement_of(row: &store::Row) -> Result<Placement> {
    Placement::new(parse_role(&row.role)?, row.dealership_id.map(Into::into))
}

fn to_invitation(row: store::Row, now: DateTime<Utc>) -> Result<Invitation> {
    let status = status_of(&row, now);
    Ok(Invitation {
        id: row.id.into(),
        email: Email::parse(&row.email)?,
        placement: placement_of(&row)?,
        full_name: row.full_name,
        invited_by: row.invited_by.map(Into::into),
        created_at: row.created_at,
        expires_at: row.expires_at,
        status,
        mail_status: MailStatus::parse(&row.mail_status)?,
    })
}

impl Adam {
    /// Invites someone (`POST /invitations`): the rule for creating that user applies; an email
    /// with an account or a pending invitation is [`Error::Conflict`]. With mail on, the mail is
    /// queued with the invitation; otherwise the answer carries the link.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id()))]
    pub async fn invite(&self, caller: &Principal, new: NewInvitation) -> Result<Invited> {
        let placement = rbac::authorize_invite(caller, new.role, new.dealership_id)?;
        let now = self.now();
        // The invitation and its mail are written together, in the engine's scope (the outbox
        // is the engine's); the role table above decided what the caller may do.
        let mut tx = self.begin_system_for(caller, Intent::Write).await?;
        let dealership_name = match placement.dealership_id() {
            Some(d) => match dealerships::get(&mut tx, d).await {
                Ok(d) if d.is_active => Some(d.name),
                Ok(_) => {
                    return Err(Error::invalid(
                        "dealership_id",
                        "the dealership is inactive",
                    ))
                }
                Err(Error::NotFound) => {
                    return Err(Error::invalid("dealership_id", "no such dealership"))
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        if users::email_taken(&mut tx, &new.email).await? {
            return Err(Error::conflict("a user with this email exists"));
        }
        store::lapse_expired(&mut tx, new.email.as_str(), now).await?;
        let token = LinkToken::generate(INVITATION_PREFIX);
        let expires_at = now + self.settings.invitation_ttl;
        let inviter = users::get(&mut tx, caller.user_id()).await?;
        let (mail_id, mail_status) = self
            .queue_invitation_mail(
                &mut tx,
                &new.email,
                new.full_name.as_str(),
                placement,
                dealership_name,
                &inviter,
                &token,
                expires_at,
                now,
            )
            .await?;
        let row = store::Row {
            id: uuid::Uuid::new_v4(),
            email: new.email.as_str().to_owned(),
            full_name: new.full_name.as_str().to_owned(),
            role: placement.role().as_str().to_owned(),
            dealership_id: placement.dealership_id().map(|d| d.as_uuid()),
            invited_by: Some(caller.user_id().as_uuid()),
            created_at: now,
            expires_at,
            accepted_at: None,
            revoked_at: None,
            lapsed_at: None,
            mail_id,
            mail_status: mail_status.as_str().to_owned(),
        };
        store::insert(&mut tx, &row, &token.digest()).await?;
        tx.record(invitation_event(InvitationEvent::Created, &row)?)
            .await?;
        let stored = store::get(&mut tx, row.id).await?;
        tx.commit().await?;
        Ok(Invited {
            invitation: to_invitation(stored, now)?,
            link: (!self.settings.mail_enabled).then_some(token),
        })
    }

    /// The invitations the caller can see (`GET /invitations`), newest first.
    pub async fn list_invitations(
        &self,
        caller: &Principal,
        page: PageRequest,
    ) -> Result<Page<Invitation>> {
        rbac::authorize_list_invitations(caller)?;
        let now = self.now();
        let mut tx = self.begin_for(caller, Intent::Read).await?;
        let (rows, total) = store::list(&mut tx, page).await?;
        tx.commit().await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(|r| to_invitation(r, now))
                .collect::<Result<_>>()?,
            total,
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    /// A new link for an invitation not accepted or revoked (an expired one too), with a new
    /// expiry; the old link stops working (`POST /invitations/{id}/resend`).
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id()))]
    pub async fn resend_invitation(&self, caller: &Principal, id: InvitationId) -> Result<Invited> {
        let (row, placement) = self.managed_invitation(caller, id).await?;
        let now = self.now();
        let mut tx = self.begin_system_for(caller, Intent::Write).await?;
        let email = Email::parse(&row.email)?;
        if users::email_taken(&mut tx, &email).await? {
            return Err(Error::conflict("a user with this email exists"));
        }
        let dealership_name = match placement.dealership_id() {
            Some(d) => Some(dealerships::get(&mut tx, d).await?.name),
            None => None,
        };
        let token = LinkToken::generate(INVITATION_PREFIX);
        let expires_at = now + self.settings.invitation_ttl;
        let inviter = users::get(&mut tx, caller.user_id()).await?;
        outbox::cancel(&mut tx, row.mail_id, now).await?;
        let (mail_id, mail_status) = self
            .queue_invitation_mail(
                &mut tx,
                &email,
                &row.full_name,
                placement,
                dealership_name,
                &inviter,
                &token,
                expires_at,
                now,
            )
            .await?;
        let renewed = store::renew(
            &mut tx,
            row.id,
            &token.digest(),
            expires_at,
            (mail_id, mail_status.as_str()),
        )
        .await?;
        if !renewed {
            return Err(Error::conflict("the invitation was accepted or revoked"));
        }
        tx.record(invitation_event(InvitationEvent::Resent, &row)?)
            .await?;
        let stored = store::get(&mut tx, row.id).await?;
        tx.commit().await?;
        Ok(Invited {
            invitation: to_invitation(stored, now)?,
            link: (!self.settings.mail_enabled).then_some(token),
        })
    }

    /// Revokes an invitation not accepted yet (`DELETE /invitations/{id}`): its link stops
    /// working and its queued mail is not sent. Revoking a revoked one changes nothing.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id()))]
    pub async fn revoke_invitation(&self, caller: &Principal, id: InvitationId) -> Result<()> {
        let (row, _) = self.managed_invitation(caller, id).await?;
        if row.accepted_at.is_some() {
            return Err(Error::conflict("the invitation was accepted already"));
        }
        let now = self.now();
        let mut tx = self.begin_system_for(caller, Intent::Write).await?;
        if let Some(mail) = store::revoke(&mut tx, row.id, now).await? {
            outbox::cancel(&mut tx, mail, now).await?;
            tx.record(invitation_event(InvitationEvent::Revoked, &row)?)
                .await?;
        }
        tx.commit().await
    }

    /// What the page of an invitation link shows; opening it spends nothing.
    pub async fn open_invitation(&self, token: &str) -> Result<InvitationLink> {
        let (row, placement) = self.invitation_of(token).await?;
        let mut tx = self.begin_system(Intent::Read).await?;
        let dealership = match placement.dealership_id() {
            Some(d) => Some(dealerships::get(&mut tx, d).await?),
            None => None,
        };
        tx.commit().await?;
        let requires = dealership.as_ref().is_some_and(|d| d.mfa_required);
        Ok(InvitationLink {
            email: Email::parse(&row.email)?,
            full_name: row.full_name,
            role: placement.role(),
            dealership_name: dealership.map(|d| d.name),
            second_factor_required: placement
                .must_use_second_factor(&self.settings.mfa_required_roles, requires),
        })
    }

    /// Accepts an invitation with the invitee's chosen `password`: checks everything again,
    /// creates the user (email proven, `invited_by` noted), records `user.created` and
    /// `invitation.accepted` (by the new user), and signs them in; where a second factor is
    /// required, the answer is [`SignIn::EnrollmentRequired`]. Of concurrent acceptances of
    /// one link exactly one succeeds; the others are [`Error::LinkUnusable`].
    #[tracing::instrument(skip_all)]
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: &str,
        origin: &ClientInfo,
    ) -> Result<SignIn> {
        let (row, placement) = self.invitation_of(token).await?;
        let password: Password = self
            .settings
            .password_policy
            .check_field("password", password.to_owned())?;
        let email = Email::parse(&row.email)?;
        let hash = self.hasher.hash(&password).await?;
        let now = self.now();
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        if let Some(problem) = self.no_longer_valid(&mut tx, &row, placement).await? {
            store::revoke(&mut tx, row.id, now).await?;
            tx.commit().await?;
            return Err(Error::LinkUnusable(problem));
        }
        if users::email_taken(&mut tx, &email).await? {
            return Err(Error::conflict("a user with this email exists already"));
        }
        if !store::accept(&mut tx, row.id, now).await? {
            return Err(Error::LinkUnusable(LinkProblem::Spent));
        }
        let user = User {
            id: UserId::new(),
            email,
            full_name: row.full_name.clone(),
            placement,
            is_active: true,
            mfa_enabled: false,
            last_sign_in_at: None,
            created_at: now,
            updated_at: now,
        };
        users::insert(&mut tx, &user, &hash, false).await?;
        users::invited_by(&mut tx, user.id, row.invited_by.map(Into::into)).await?;
        users::email_proven(&mut tx, user.id, now).await?;
        tx.record(Event::UserCreated {
            user: UserRef::from(&user),
        })
        .await?;
        tx.record(invitation_event(InvitationEvent::Accepted(user.id), &row)?)
            .await?;
        let creds = users::Credentials {
            user_id: user.id,
            placement,
            password_hash: String::new(),
            may_sign_in: true,
            totp_on: false,
            has_passkey: false,
            dealership_requires: self.dealership_requires(&mut tx, placement).await?,
            must_change_password: false,
        };
        if let Some(second) = self.second_step(&mut tx, &creds, now).await? {
            tx.commit().await?;
            return Ok(second);
        }
        let (live, refresh) = self
            .open_session(
                &mut tx,
                user.id,
                placement,
                origin,
                SignInMethod::Password,
                now,
            )
            .await?;
        tx.commit().await?;
        Ok(SignIn::Tokens(self.pair(live, refresh).await?))
    }
}

/// Internals of invitations.
impl Adam {
    /// Queues the invitation mail when mail is on; answers the mail and its status.
    #[allow(clippy::too_many_arguments)]
    async fn queue_invitation_mail(
        &self,
        tx: &mut Tx,
        email: &Email,
        full_name: &str,
        placement: Placement,
        dealership_name: Option<String>,
        inviter: &User,
        token: &LinkToken,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(Option<uuid::Uuid>, MailStatus)> {
        if !self.settings.mail_enabled {
            return Ok((None, MailStatus::NotSent));
        }
        let content = MailContent {
            kind: MailKind::Invitation,
            token: token.clone(),
            full_name: full_name.to_owned(),
            expires_at,
            role: Some(placement.role()),
            dealership_name,
            invited_by: Some(inviter.full_name.clone()),
        };
        let id = self.queue_mail(tx, email.as_str(), &content, now).await?;
        Ok((Some(id), MailStatus::Queued))
    }

    /// An invitation the caller can see and may manage (the rule for creating its user).
    async fn managed_invitation(
        &self,
        caller: &Principal,
        id: InvitationId,
    ) -> Result<(store::Row, Placement)> {
        rbac::authorize_list_invitations(caller)?;
        let mut tx = self.begin_for(caller, Intent::Read).await?;
        let row = store::get(&mut tx, id.as_uuid()).await?;
        tx.commit().await?;
        let role = parse_role(&row.role)?;
        let placement =
            rbac::authorize_invite(caller, role, row.dealership_id.map(DealershipId::from))?;
        Ok((row, placement))
    }

    /// The open invitation a link's token names, or why the link does not work.
    async fn invitation_of(&self, token: &str) -> Result<(store::Row, Placement)> {
        let digest = links::presented(token, INVITATION_PREFIX)
            .ok_or(Error::LinkUnusable(LinkProblem::Unknown))?;
        let now = self.now();
        let mut tx = self.begin_system(Intent::Read).await?;
        let row = store::find(&mut tx, &digest).await?;
        tx.commit().await?;
        let Some(row) = row else {
            return Err(Error::LinkUnusable(LinkProblem::Unknown));
        };
        let problem = match status_of(&row, now) {
            InvitationStatus::Pending => None,
            InvitationStatus::Accepted => Some(LinkProblem::Spent),
            InvitationStatus::Revoked => Some(LinkProblem::Revoked),
            InvitationStatus::Expired => Some(LinkProblem::Expired),
        };
        if let Some(p) = problem {
            return Err(Error::LinkUnusable(p));
        }
        let placement = placement_of(&row)?;
        Ok((row, placement))
    }

    /// Why an open invitation may no longer be accepted: its dealership is gone or inactive, or
    /// its inviter is gone, inactive, or may no longer create this user.
    async fn no_longer_valid(
        &self,
        tx: &mut Tx,
        row: &store::Row,
        placement: Placement,
    ) -> Result<Option<LinkProblem>> {
        if let Some(d) = placement.dealership_id() {
            match dealerships::get(tx, d).await {
                Ok(d) if d.is_active => {}
                Ok(_) | Err(Error::NotFound) => return Ok(Some(LinkProblem::Revoked)),
                Err(e) => return Err(e),
            }
        }
        let Some(inviter) = row.invited_by else {
            return Ok(Some(LinkProblem::Revoked));
        };
        let inviter = match users::get(tx, inviter.into()).await {
            Ok(u) if u.is_active => u,
            Ok(_) | Err(Error::NotFound) => return Ok(Some(LinkProblem::Revoked)),
            Err(e) => return Err(e),
        };
        let as_inviter = Principal::new(
            inviter.id,
            inviter.placement,
            SessionId::new(),
            Amr::Password,
        );
        if rbac::authorize_invite(&as_inviter, placement.role(), placement.dealership_id()).is_err()
        {
            return Ok(Some(LinkProblem::Revoked));
        }
        Ok(None)
    }

    /// Whether `placement`'s dealership requires a second factor.
    async fn dealership_requires(&self, tx: &mut Tx, placement: Placement) -> Result<bool> {
        match placement.dealership_id() {
            Some(d) => Ok(dealerships::get(tx, d).await?.mfa_required),
            None => Ok(false),
        }
    }
}

fn invitation_event(what: InvitationEvent, row: &store::Row) -> Result<Event> {
    Ok(Event::Invitation {
        what,
        invitation: row.id,
        dealership: row.dealership_id.map(Into::into),
        email: row.email.clone(),
        role: parse_role(&row.role)?,
    })
}

fn parse_role(s: &str) -> Result<Role> {
    s.parse()
        .map_err(|_| Error::Internal(format!("an invitation holds an unknown role {s:?}")))
}
