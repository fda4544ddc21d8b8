//! Request and response bodies of the REST API, and their conversions to core types.

use adam_core::{Dealership, Email, Error, Name, Page, Role, User};
use chrono::{DateTime, Utc};
use poem_openapi::types::{MaybeUndefined, ParseFromJSON, ToJSON};
use poem_openapi::{Enum, Object};
use serde::Deserialize;
use uuid::Uuid;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub(crate) enum RoleDto {
    /// Sees and changes everything; has no dealership.
    SystemAdmin,
    /// Runs one dealership.
    DealerPrincipal,
    /// Sees only their own profile.
    FiManager,
}

impl From<RoleDto> for Role {
    fn from(r: RoleDto) -> Self {
        match r {
            RoleDto::SystemAdmin => Role::SystemAdmin,
            RoleDto::DealerPrincipal => Role::DealerPrincipal,
            RoleDto::FiManager => Role::FiManager,
        }
    }
}

impl From<Role> for RoleDto {
    fn from(r: Role) -> Self {
        match r {
            Role::SystemAdmin => RoleDto::SystemAdmin,
            Role::DealerPrincipal => RoleDto::DealerPrincipal,
            Role::FiManager => RoleDto::FiManager,
        }
    }
}

/// Email and password.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields, example)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    /// The account's email, in any case.
    pub email: String,
    /// The password, exactly as set.
    pub password: String,
}

impl poem_openapi::types::Example for LoginRequest {
    fn example() -> Self {
        Self {
            email: "admin@avataradam.com".into(),
            password: "Admin123!@#".into(),
        }
    }
}

/// A refresh token.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshRequest {
    /// The refresh token from the last `TokenPair`.
    pub refresh_token: String,
}

/// Tokens answering a sign-in or refresh.
#[derive(Object)]
pub(crate) struct TokenPairOut {
    /// JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Opaque token for `/auth/refresh`; single use.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

impl From<adam_core::TokenPair> for TokenPairOut {
    fn from(p: adam_core::TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            refresh_token: p.refresh_token.expose().to_owned(),
            token_type: "bearer".into(),
            expires_in: p.expires_in,
        }
    }
}

/// A user. Never carries a password or hash.
#[derive(Object)]
pub(crate) struct UserOut {
    /// Identifier.
    pub id: Uuid,
    /// Normalised email.
    pub email: String,
    /// Display name.
    pub full_name: String,
    /// Role.
    pub role: RoleDto,
    /// Dealership; null for a system admin.
    pub dealership_id: Option<Uuid>,
    /// Inactive users cannot sign in.
    pub is_active: bool,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        let (role, dealership_id) = (u.role(), u.dealership_id());
        Self {
            id: u.id.as_uuid(),
            email: u.email.into_string(),
            full_name: u.full_name,
            role: role.into(),
            dealership_id: dealership_id.map(|d| d.as_uuid()),
            is_active: u.is_active,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// One page of a list.
#[derive(Object)]
pub(crate) struct Paged<T: ParseFromJSON + ToJSON> {
    /// This page.
    pub items: Vec<T>,
    /// Matching items in all (only those the caller can see).
    pub total: u64,
    /// Page size.
    pub limit: u32,
    /// Items skipped.
    pub offset: u64,
}

impl<T, O: From<T> + ParseFromJSON + ToJSON> From<Page<T>> for Paged<O> {
    fn from(p: Page<T>) -> Self {
        Self {
            items: p.items.into_iter().map(Into::into).collect(),
            total: p.total,
            limit: p.limit,
            offset: p.offset,
        }
    }
}

/// A new user.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserCreate {
    /// Email, unique regardless of case.
    pub email: String,
    /// Initial password: 8 to 128 characters, not a common password.
    pub password: String,
    /// Display name.
    pub full_name: String,
    /// Role.
    pub role: RoleDto,
    /// Dealership; required unless the role is `system_admin` (a principal may omit it: their own).
    pub dealership_id: Option<Uuid>,
}

impl UserCreate {
    /// Validates into the core request.
    pub fn into_core(
        self,
        policy: &adam_core::PasswordPolicy,
    ) -> Result<adam_core::NewUser, Error> {
        Ok(adam_core::NewUser {
            email: Email::parse(&self.email)?,
            password: policy.check(self.password)?,
            full_name: Name::parse("full_name", &self.full_name)?,
            role: self.role.into(),
            dealership_id: self.dealership_id.map(Into::into),
        })
    }
}

/// Changes to a user; absent fields stay as they are.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserUpdate {
    /// New email.
    pub email: Option<String>,
    /// New display name.
    pub full_name: Option<String>,
    /// New password.
    pub password: Option<String>,
    /// Your current password: required when changing your own password.
    pub current_password: Option<String>,
    /// New role.
    pub role: Option<RoleDto>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// New dealership (null only for a system admin).
    #[serde(default)]
    pub dealership_id: MaybeUndefined<Uuid>,
}

impl UserUpdate {
    /// Validates into the core patch.
    pub fn into_core(
        self,
        policy: &adam_core::PasswordPolicy,
    ) -> Result<adam_core::UserPatch, Error> {
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
        })
    }
}

/// A dealership.
#[derive(Object)]
pub(crate) struct DealershipOut {
    /// Identifier.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Users of an inactive dealership cannot sign in.
    pub is_active: bool,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<Dealership> for DealershipOut {
    fn from(d: Dealership) -> Self {
        Self {
            id: d.id.as_uuid(),
            name: d.name,
            is_active: d.is_active,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// A new dealership.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub(crate) struct DealershipCreate {
    /// Name, unique regardless of case.
    pub name: String,
}

/// Changes to a dealership.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub(crate) struct DealershipUpdate {
    /// New name.
    pub name: Option<String>,
    /// Activate or deactivate (deactivating ends its users' sessions).
    pub is_active: Option<bool>,
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
        })
    }
}
