//! Passkeys: the caller's list, and the WebAuthn ceremonies in their JSON forms (contract:
//! "Passkeys (WebAuthn Level 3)").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::rfc3339;

/// One of the caller's passkeys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Passkey {
    /// Identifier, for `DELETE /auth/passkeys/{id}`.
    pub id: Uuid,
    /// The name its owner gave it.
    pub name: String,
    /// When it was registered (UTC).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// When it last signed in (UTC); null if never.
    #[serde(default, serialize_with = "rfc3339::serialize_or_null")]
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A started WebAuthn ceremony: send `publicKey` to `navigator.credentials.create()` or
/// `.get()` (`PublicKeyCredential.parseCreationOptionsFromJSON` /
/// `parseRequestOptionsFromJSON`), then the credential with `ceremony_id`. Five minutes, single
/// use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct PasskeyCeremony {
    /// The ceremony, to send back with the credential.
    pub ceremony_id: Uuid,
    /// WebAuthn's `PublicKeyCredentialCreationOptionsJSON` or
    /// `PublicKeyCredentialRequestOptionsJSON`.
    #[serde(rename = "publicKey")]
    #[cfg_attr(feature = "openapi", oai(rename = "publicKey"))]
    pub public_key: Value,
}

/// The browser's new credential for a registration ceremony, and the passkey's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegistration {
    /// From `POST /auth/passkeys/register/options`.
    pub ceremony_id: Uuid,
    /// The `PublicKeyCredential`'s `toJSON()` (a `RegistrationResponseJSON`).
    pub credential: Value,
    /// A name to tell it by (1 to 64 characters), e.g. "Work laptop".
    pub name: String,
}

/// The browser's assertion for a sign-in ceremony.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct PasskeySignIn {
    /// From `POST /auth/login/passkey/options`.
    pub ceremony_id: Uuid,
    /// The `PublicKeyCredential`'s `toJSON()` (an `AuthenticationResponseJSON`).
    pub credential: Value,
}

/// The second step of a sign-in with a passkey: the `mfa_token` of the password's 401 and the
/// browser's assertion for the ceremony started with it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct PasskeySecondStep {
    /// From the 401 of `/auth/login`.
    pub mfa_token: String,
    /// From `POST /auth/login/mfa/passkey/options`.
    pub ceremony_id: Uuid,
    /// The `PublicKeyCredential`'s `toJSON()` (an `AuthenticationResponseJSON`).
    pub credential: Value,
}

impl std::fmt::Debug for PasskeySecondStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeySecondStep")
            .field("mfa_token", &"<redacted>")
            .field("ceremony_id", &self.ceremony_id)
            .finish_non_exhaustive()
    }
}
