//! The server's side: bodies to and from adam-core's types, validated on the way in.

use adam_core::{Email, Error, Name, PasswordPolicy};
use poem_openapi::types::{ParseFromJSON, ToJSON};

use crate::{
    AuditActor, AuditEvent, AuditPage, AuditSubject, Dealership, DealershipUpdate, IdTokenAlg,
    Introspection, Invitation, InvitationCreate, InvitationStatus, Jwk, Jwks, MailStatus,
    MaybeUndefined, OAuthClient, OAuthClientCreate, OAuthClientUpdate, Paged, Role, Session,
    SessionList, TokenPair, User, UserCreate, UserUpdate,
};
use adam_core::oauth_clients as clients;

impl From<IdTokenAlg> for clients::IdTokenAlg {
    fn from(a: IdTokenAlg) -> Self {
        match a {
            IdTokenAlg::EdDsa => Self::EdDSA,
            IdTokenAlg::Rs256 => Self::RS256,
        }
    }
}

impl From<clients::IdTokenAlg> for IdTokenAlg {
    fn from(a: clients::IdTokenAlg) -> Self {
        match a {
            clients::IdTokenAlg::EdDSA => Self::EdDsa,
            clients::IdTokenAlg::RS256 => Self::Rs256,
        }
    }
}

impl OAuthClient {
    /// A client as the API writes it, with its secret when it was just issued.
    pub fn of(c: clients::OAuthClient, secret: Option<&adam_core::links::LinkToken>) -> Self {
        let uris = |list: Vec<clients::RedirectUri>| list.into_iter().map(String::from).collect();
        Self {
            client_id: c.client_id,
            name: c.name,
            redirect_uris: uris(c.redirect_uris),
            post_logout_redirect_uris: uris(c.post_logout_redirect_uris),
            backchannel_logout_uri: c.backchannel_logout_uri.map(String::from),
            public: c.public,
            first_party: c.first_party,
            allowed_roles: c.allowed_roles.into_iter().map(Into::into).collect(),
            dealership_ids: c.dealership_ids.into_iter().map(|d| d.as_uuid()).collect(),
            id_token_signed_response_alg: c.id_token_alg.into(),
            created_at: c.created_at,
            client_secret: secret.map(|s| s.expose().to_owned()),
        }
    }
}

impl OAuthClientCreate {
    /// Into the core request (the URIs are checked by the engine, naming their field).
    pub fn into_core(self) -> Result<clients::NewClient, Error> {
        Ok(clients::NewClient {
            client_id: self.client_id,
            name: Name::parse("name", &self.name)?,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris.unwrap_or_default(),
            backchannel_logout_uri: self.backchannel_logout_uri,
            public: self.public.unwrap_or(false),
            first_party: self.first_party.unwrap_or(false),
            allowed_roles: self
                .allowed_roles
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            dealership_ids: self
                .dealership_ids
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            id_token_alg: self.id_token_signed_response_alg.unwrap_or_default().into(),
        })
    }
}

impl OAuthClientUpdate {
    /// Into the core change.
    pub fn into_core(self) -> Result<clients::ClientPatch, Error> {
        Ok(clients::ClientPatch {
            name: self
                .name
                .as_deref()
                .map(|n| Name::parse("name", n))
                .transpose()?,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            backchannel_logout_uri: match self.backchannel_logout_uri {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(u) => Some(Some(u)),
            },
            first_party: self.first_party,
            allowed_roles: self
                .allowed_roles
                .map(|r| r.into_iter().map(Into::into).collect()),
            dealership_ids: self
                .dealership_ids
                .map(|d| d.into_iter().map(Into::into).collect()),
            id_token_alg: self.id_token_signed_response_alg.map(Into::into),
        })
    }
}

impl From<Role> for adam_core::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::SystemAdmin => Self::SystemAdmin,
            Role::DealerPrincipal => Self::DealerPrincipal,
            Role::FiManager => Self::FiManager,
        }
    }
}

impl From<adam_core::Role> for Role {
    fn from(r: adam_core::Role) -> Self {
        match r {
            adam_core::Role::SystemAdmin => Self::SystemAdmin,
            adam_core::Role::DealerPrincipal => Self::DealerPrincipal,
            adam_core::Role::FiManager => Self::FiManager,
        }
    }
}

impl From<adam_core::rbac::Permissions> for crate::Permissions {
    fn from(p: adam_core::rbac::Permissions) -> Self {
        Self {
            actions: p.actions.into_iter().map(str::to_owned).collect(),
            assignable_roles: p.assignable_roles.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<adam_core::TokenPair> for TokenPair {
    fn from(p: adam_core::TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            refresh_token: p.refresh_token.expose().to_owned(),
            token_type: "bearer".into(),
            expires_in: p.expires_in,
        }
    }
}

impl From<adam_core::User> for User {
    fn from(u: adam_core::User) -> Self {
        let (role, dealership_id) = (u.role(), u.dealership_id());
        Self {
            id: u.id.as_uuid(),
            email: u.email.into_string(),
            full_name: u.full_name,
            role: role.into(),
            dealership_id: dealership_id.map(|d| d.as_uuid()),
            is_active: u.is_active,
            mfa_enabled: u.mfa_enabled,
            last_sign_in_at: u.last_sign_in_at,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

impl From<adam_core::AccessReview> for crate::AccessReview {
    fn from(r: adam_core::AccessReview) -> Self {
        Self {
            items: r
                .items
                .into_iter()
                .map(|e| crate::ReviewEntry {
                    mfa_enabled: e.user.mfa_enabled,
                    last_sign_in_at: e.user.last_sign_in_at,
                    user: e.user.into(),
                    dealership_name: e.dealership_name,
                    live_sessions: e.live_sessions,
                    invited_by: e.invited_by.map(Email::into_string),
                })
                .collect(),
            generated_at: r.generated_at,
        }
    }
}

impl From<adam_core::SessionInfo> for Session {
    fn from(s: adam_core::SessionInfo) -> Self {
        Self {
            id: s.id.as_uuid(),
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            ip: s.ip,
            user_agent: s.user_agent,
            amr: s.amr.into(),
            current: s.current,
        }
    }
}

impl From<Vec<adam_core::SessionInfo>> for SessionList {
    fn from(items: Vec<adam_core::SessionInfo>) -> Self {
        Self {
            items: items.into_iter().map(Session::from).collect(),
        }
    }
}

impl From<adam_core::Dealership> for Dealership {
    fn from(d: adam_core::Dealership) -> Self {
        Self {
            id: d.id.as_uuid(),
            name: d.name,
            is_active: d.is_active,
            mfa_required: d.mfa_required,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

impl<T, O: From<T> + ParseFromJSON + ToJSON> From<adam_core::Page<T>> for Paged<O> {
    fn from(p: adam_core::Page<T>) -> Self {
        Self {
            items: p.items.into_iter().map(Into::into).collect(),
            total: p.total,
            limit: p.limit,
            offset: p.offset,
        }
    }
}

impl UserCreate {
    /// Validates into the core request.
    pub fn into_core(self, policy: &PasswordPolicy) -> Result<adam_core::NewUser, Error> {
        Ok(adam_core::NewUser {
            email: Email::parse(&self.email)?,
            password: policy.check(self.password)?,
            full_name: Name::parse("full_name", &self.full_name)?,
            role: self.role.into(),
            dealership_id: self.dealership_id.map(Into::into),
            must_change_password: self.must_change_password.unwrap_or(false),
        })
    }
}

impl InvitationCreate {
    /// Validates into the core request.
    pub fn into_core(self) -> Result<adam_core::NewInvitation, Error> {
        Ok(adam_core::NewInvitation {
            email: Email::parse(&self.email)?,
            full_name: Name::parse("full_name", &self.full_name)?,
            role: self.role.into(),
            dealership_id: self.dealership_id.map(Into::into),
        })
    }
}

impl Invitation {
    /// An invitation as the API writes it, with its link (`{public_url}/invite/{token}`) when
    /// no mail carries it.
    pub fn of(
        i: adam_core::Invitation,
        link: Option<&adam_core::links::LinkToken>,
        public_url: &str,
    ) -> Self {
        Self {
            id: i.id.as_uuid(),
            email: i.email.into_string(),
            full_name: i.full_name,
            role: i.placement.role().into(),
            dealership_id: i.placement.dealership_id().map(|d| d.as_uuid()),
            invited_by: i.invited_by.map(|u| u.as_uuid()),
            created_at: i.created_at,
            expires_at: i.expires_at,
            status: match i.status {
                adam_core::InvitationStatus::Pending => InvitationStatus::Pending,
                adam_core::InvitationStatus::Accepted => InvitationStatus::Accepted,
                adam_core::InvitationStatus::Revoked => InvitationStatus::Revoked,
                adam_core::InvitationStatus::Expired => InvitationStatus::Expired,
            },
            mail_status: match i.mail_status {
                adam_core::MailStatus::NotSent => MailStatus::NotSent,
                adam_core::MailStatus::Queued => MailStatus::Queued,
                adam_core::MailStatus::Sent => MailStatus::Sent,
                adam_core::MailStatus::Failed => MailStatus::Failed,
            },
            invite_url: link
                .map(|t| format!("{}/invite/{}", public_url.trim_end_matches('/'), t.expose())),
        }
    }
}

impl From<adam_core::Invitation> for Invitation {
    fn from(i: adam_core::Invitation) -> Self {
        Self::of(i, None, "")
    }
}

impl UserUpdate {
    /// Validates into the core patch.
    pub fn into_core(self, policy: &PasswordPolicy) -> Result<adam_core::UserPatch, Error> {
        Ok(adam_core::UserPatch {
            email: self.email.as_deref().map(Email::parse).transpose()?,
            full_name: self
                .full_name
                .as_deref()
                .map(|n| Name::parse("full_name", n))
                .transpose()?,
            password: self.password.map(|p| policy.check(p)).transpose()?,
            current_password: self.current_password,
            role: self.role.map(Into::into),
            is_active: self.is_active,
            dealership_id: match self.dealership_id {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(d) => Some(Some(d.into())),
            },
            must_change_password: self.must_change_password,
        })
    }
}

impl DealershipUpdate {
    /// Validates into the core patch.
    pub fn into_core(self) -> Result<adam_core::DealershipPatch, Error> {
        Ok(adam_core::DealershipPatch {
            name: self
                .name
                .as_deref()
                .map(|n| Name::parse("name", n))
                .transpose()?,
            is_active: self.is_active,
            mfa_required: self.mfa_required,
        })
    }
}

impl From<adam_core::MfaStatus> for crate::MfaStatus {
    fn from(s: adam_core::MfaStatus) -> Self {
        Self {
            totp_enabled: s.totp_enabled,
            recovery_codes_left: u32::try_from(s.recovery_codes_left).unwrap_or(u32::MAX),
            required: s.required,
        }
    }
}

impl From<adam_core::TotpEnrollment> for crate::TotpEnrollment {
    fn from(e: adam_core::TotpEnrollment) -> Self {
        Self {
            secret: e.secret.as_str().to_owned(),
            otpauth_uri: e.otpauth_uri.as_str().to_owned(),
            qr_svg: e.qr_svg,
        }
    }
}

impl From<adam_core::RecoveryCodes> for crate::RecoveryCodes {
    fn from(c: adam_core::RecoveryCodes) -> Self {
        Self {
            recovery_codes: c.codes().to_vec(),
        }
    }
}

impl From<(adam_core::TokenPair, adam_core::RecoveryCodes)> for crate::EnrolledTokenPair {
    fn from((tokens, codes): (adam_core::TokenPair, adam_core::RecoveryCodes)) -> Self {
        let pair = TokenPair::from(tokens);
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: pair.token_type,
            expires_in: pair.expires_in,
            recovery_codes: codes.codes().to_vec(),
        }
    }
}

impl From<Option<adam_core::Introspection>> for Introspection {
    fn from(found: Option<adam_core::Introspection>) -> Self {
        let Some(i) = found else {
            return Self::inactive();
        };
        Self {
            active: true,
            sub: Some(i.sub.as_uuid()),
            role: Some(i.role.into()),
            dealership_id: i.dealership_id.map(|d| d.as_uuid()),
            sid: Some(i.sid.as_uuid()),
            amr: Some(i.amr.values().iter().map(|v| (*v).to_owned()).collect()),
            exp: Some(i.exp.timestamp()),
            iat: Some(i.iat.timestamp()),
            iss: Some(i.iss),
            aud: Some(i.aud),
            token_type: Some("access_token".into()),
        }
    }
}

impl From<&adam_core::jwk::Jwk> for Jwk {
    fn from(k: &adam_core::jwk::Jwk) -> Self {
        use adam_core::jwk::PublicKey;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        use base64::Engine as _;
        let (kty, crv, x, n, e) = match k.key() {
            PublicKey::Ed25519(x) => (
                "OKP",
                Some("Ed25519".into()),
                Some(B64.encode(x)),
                None,
                None,
            ),
            PublicKey::Rsa { n, e } => {
                ("RSA", None, None, Some(B64.encode(n)), Some(B64.encode(e)))
            }
        };
        Self {
            kty: kty.into(),
            crv,
            x,
            n,
            e,
            kid: k.kid().to_owned(),
            alg: k.alg().into(),
            use_: "sig".into(),
        }
    }
}

impl From<&adam_core::jwk::JwkSet> for Jwks {
    fn from(set: &adam_core::jwk::JwkSet) -> Self {
        Self {
            keys: set.keys.iter().map(Jwk::from).collect(),
        }
    }
}

impl From<adam_core::AuditEvent> for AuditEvent {
    fn from(e: adam_core::AuditEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            action: e.action,
            actor: e.actor.map(|a| AuditActor {
                id: a.id.as_uuid(),
                email: a.email,
            }),
            dealership_id: e.dealership_id.map(|d| d.as_uuid()),
            subject: e.subject.map(|s| AuditSubject {
                kind: s.kind,
                id: s.id,
            }),
            session_id: e.session_id.map(|s| s.as_uuid()),
            ip: e.ip,
            user_agent: e.user_agent,
            details: e.details,
        }
    }
}

impl From<adam_core::AuditPage> for AuditPage {
    fn from(p: adam_core::AuditPage) -> Self {
        Self {
            items: p.items.into_iter().map(AuditEvent::from).collect(),
            next_cursor: p.next_cursor.map(|c| c.encode()),
        }
    }
}

impl From<adam_core::PasskeyInfo> for crate::Passkey {
    fn from(p: adam_core::PasskeyInfo) -> Self {
        Self {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

impl From<adam_core::Ceremony> for crate::PasskeyCeremony {
    fn from(c: adam_core::Ceremony) -> Self {
        Self {
            ceremony_id: c.id,
            public_key: c.public_key,
        }
    }
}
