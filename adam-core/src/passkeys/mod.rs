//! Passkeys (WebAuthn Level 3, with webauthn-rs): registering them on one's profile, listing and
//! removing them, and signing in with one, without an email (discoverable credentials).
//!
//! Every ceremony's state is stored ([`store`]), so any server on the database finishes what
//! another started; it is spent by the first submission of its answer, right or wrong, and lives
//! five minutes. User verification is required at registration and sign-in, so a passkey sign-in
//! is multi-factor (`amr` `[K, "mfa"]`). The signature counter must move forward: a counter that
//! goes backwards (a cloned authenticator) is refused and recorded as `passkey_cloned`.

pub(crate) mod party;
pub(crate) mod store;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, Credential, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, WebauthnError,
};
use webauthn_rs::Webauthn;

use crate::audit::events::{Check, Event, LoginFailure, UserRef};
use crate::caller::{KeyKind, SignInMethod};
use crate::db::{Intent, Tx};
use crate::engine::Adam;
use crate::error::{Error, Result};
use crate::origin::ClientInfo;
use crate::rbac::Principal;
use crate::second_factor::store as mfa;
use crate::second_factor::SignIn;
use crate::signin::throttle::store as throttle;
use crate::users::store as users;

pub use party::RelyingParty;

/// How long a ceremony may take, from its options to its answer.
pub const CEREMONY_TTL_SECONDS: i64 = 300;
/// How recent a sign-in must be to register or remove a passkey.
pub const RECENT_SIGN_IN_SECONDS: i64 = 300;
/// Longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Most sign-in ceremonies one client address may start in [`CEREMONY_TTL_SECONDS`]: options
/// cost no hash, so this bounds what strangers can make the database keep, not guessing.
pub const SIGN_IN_CEREMONIES_PER_ADDRESS: u64 = 100;
/// Largest credential (a WebAuthn response as JSON) considered, in bytes.
pub const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// A passkey as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyInfo {
    /// Its id, for removal.
    pub id: Uuid,
    /// The name its owner gave it.
    pub name: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last signed in (none yet: `None`).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<store::PasskeyRow> for PasskeyInfo {
    fn from(r: store::PasskeyRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// A started ceremony: its id (to send back with the answer) and the options for the browser's
/// `navigator.credentials` (WebAuthn's `PublicKeyCredentialCreationOptionsJSON` or
/// `PublicKeyCredentialRequestOptionsJSON`).
#[derive(Debug, Clone, PartialEq)]
pub struct Ceremony {
    /// The ceremony's id.
    pub id: Uuid,
    /// The `publicKey` options.
    pub public_key: Value,
}

/// The answer when passkeys are off.
fn off() -> Error {
    Error::conflict(
        "passkeys are off: the server's PUBLIC_URL has an IP address for its host, and WebAuthn \
         needs a domain name (set PUBLIC_URL to a name, e.g. http://localhost:8000)",
    )
}

fn ceremony_gone() -> Error {
    Error::invalid(
        "ceremony_id",
        "is unknown, used already or expired; start again",
    )
}

fn internal(what: &str) -> impl FnOnce(serde_json::Error) -> Error + '_ {
    move |e| Error::Internal(format!("{what}: {e}"))
}

/// A passkey's name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
fn checked_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid("name", "is longer than 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name)
}

/// `credential` as the WebAuthn response type `T`, or [`Error::Invalid`] naming `credential`.
fn parse_credential<T: serde::de::DeserializeOwned>(credential: &Value) -> Result<T> {
    let too_big = serde_json::to_vec(credential)
        .map(|v| v.len() > MAX_CREDENTIAL_BYTES)
        .unwrap_or(true);
    if too_big {
        return Err(Error::invalid("credential", "is too large"));
    }
    T::deserialize(credential).map_err(|e| {
        Error::invalid(
            "credential",
            format!("is not a WebAuthn response in its JSON form: {e}"),
        )
    })
}

/// What a stored passkey says of itself.
fn credential_of(stored: &str) -> Result<Passkey> {
    serde_json::from_str(stored).map_err(internal("stored passkey"))
}

impl Adam {
    /// The relying party, or [`Error::Conflict`] saying passkeys are off.
    fn relying_party(&self) -> Result<&Webauthn> {
        self.passkeys.as_deref().ok_or_else(off)
    }

    /// Whether passkeys are on (the relying party has a domain name).
    pub fn passkeys_enabled(&self) -> bool {
        self.passkeys.is_some()
    }

    /// [`Error::ReauthenticationRequired`] unless the caller's session signed in (or
    /// re-authenticated) within [`RECENT_SIGN_IN_SECONDS`].
    async fn recent_sign_in(
        &self,
        tx: &mut Tx,
        caller: &Principal,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let at = crate::oidc::store::authenticated_at(tx, caller.session_id())
            .await?
            .ok_or_else(|| Error::unauthorized("the session has ended"))?;
        if now - at > Duration::seconds(RECENT_SIGN_IN_SECONDS) {
            return Err(Error::ReauthenticationRequired);
        }
        Ok(())
    }

    /// The caller's passkeys, oldest first.
    pub async fn passkeys(&self, caller: &Principal) -> Result<Vec<PasskeyInfo>> {
        self.relying_party()?;
        let mut tx = self.begin_system_for(caller, Intent::Read).await?;
        let rows = store::of_user(&mut tx, caller.user_id()).await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(PasskeyInfo::from).collect())
    }

    /// Starts registering a passkey for the caller, who must have signed in within
    /// [`RECENT_SIGN_IN_SECONDS`] ([`Error::ReauthenticationRequired`]): the options ask for a
    /// discoverable credential with user verification and no attestation, and exclude the
    /// caller's passkeys. Finish with [`Adam::register_passkey`] within
    /// [`CEREMONY_TTL_SECONDS`], from the same session.
    #[tracing::instrument(skip_all, fields(user = %caller.user_id()))]
    pub async fn start_passkey_registration(&self, caller: &Principal) -> Result<Ceremony> {
        let party = self.relying_party()?;
        let now = self.now();
        let user = caller.user_id();
        let mut tx = self.begin_system_for(caller, Intent::Write).await?;
        self.recent_sign_in(&mut tx, caller, now).await?;
        let profile = users::get(&mut tx, user).await?;
        let excluded = passkeys_of(&mut tx, user)
            .await?
            .iter()
            .map(|p| p.cred_id().clone())
            .collect();
        let (options, state) = party
            .start_passkey_registration(
                user.as_uuid(),
                profile.email.as_str(),
                &profile.full_name,
                Some(excluded),
            )
            .map_err(|e| Error::Internal(format!("passkey options: {e}")))?;
        let mut public_key =
            serde_json::to_value(&options.public_key).map_err(internal("registration options"))?;
        // Sign-in without an email needs a discoverable credential (webauthn-rs asks for none;
        // its state does not depend on it).
        if let Some(selection) = public_key
            .get_mut("authenticatorSelection")
            .and_then(Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "required".into());
            selection.insert("requireResidentKey".into(), true.into());
        }
        let purpose = store::Purpose::Register {
            user,
            session: caller.session_id(),
        };
        keep(
            tx,
            purpose,
            &state,
            public_key,
            &caller.origin().address(),
            now,
        )
        .await
    }

    /// Finishes the caller's registration `ceremony` with the browser's `credential` (its
    /// `toJSON()` form) under `name`. The ceremony is spent by this call whatever its outcome;
    /// a credential that does not check (wrong origin or relying party, no user verification,
    /// another ceremony's challenge) is [`Error::Invalid`] naming `credential`, and a ceremony
    /// that is not the caller's, spent or expired, one naming `ceremony_id`. Records
    /// `passkey.registered`.
    #[tracing::instrument(skip_all, fields(user = %caller.user_id()))]
    pub async fn register_passkey(
        &self,
        caller: &Principal,
        ceremony: Uuid,
        credential: &Value,
        name: &str,
    ) -> Result<PasskeyInfo> {
        let party = self.relying_party()?;
        let name = checked_name(name)?;
        let response: RegisterPublicKeyCredential = parse_credential(credential)?;
        let now = self.now();
        let user = caller.user_id();
        let mut tx = self.begin_system_for(caller, Intent::Write).await?;
        self.recent_sign_in(&mut tx, caller, now).await?;
        let purpose = store::Purpose::Register {
            user,
            session: caller.session_id(),
        };
        let state = store::spend_ceremony(&mut tx, ceremony, purpose, now)
            .await?
            .ok_or_else(ceremony_gone)?;
        let state: PasskeyRegistration =
            serde_json::from_str(&state).map_err(internal("registration state"))?;
        let passkey = match party.finish_passkey_registration(&response, &state) {
            Ok(passkey) => passkey,
            Err(e) => {
                // The ceremony stays spent.
                tx.commit().await?;
                return Err(Error::invalid(
                    "credential",
                    format!("was not accepted: {}", refusal(&e)),
                ));
            }
        };
        let internals = Credential::from(passkey.clone());
        let stored = serde_json::to_string(&passkey).map_err(internal("passkey"))?;
        let id = Uuid::new_v4();
        store::insert(
            &mut tx,
            &store::NewPasskey {
                id,
                user,
                credential_id: passkey.cred_id().as_ref(),
                name,
                credential: &stored,
                sign_count: internals.counter,
                backup_eligible: internals.backup_eligible,
            },
            now,
        )
        .await?;
        tx.record(Event::PasskeyRegistered {
            user: UserRef::placed(user, caller.placement()),
            passkey: id,
            name: name.to_owned(),
        })
        .await?;
        tx.commit().await?;
        Ok(PasskeyInfo {
            id,
            name: name.to_owned(),
            created_at: crate::db::ts(now),
            last_used_at: None,
        })
    }

    /// Removes the caller's passkey `id` ([`Error::NotFound`] if it is not theirs); needs a
    /// sign-in within [`RECENT_SIGN_IN_SECONDS`]. Records `passkey.removed`.
    #[tracing::instrument(skip_all, fields(user = %caller.user_id()))]
    pub async fn remove_passkey(&self, caller: &Principal, id: Uuid) -> Result<()> {
        self.relying_party()?;
        let now = self.now();
        let user = caller.user_id();
        let mut tx = self.begin_system_for(caller, Intent::Write).await?;
        self.recent_sign_in(&mut tx, caller, now).await?;
        if !store::delete(&mut tx, user, id).await? {
            return Err(Error::NotFound);
        }
        tx.record(Event::PasskeyRemoved {
            user: UserRef::placed(user, caller.placement()),
            passkey: id,
        })
        .await?;
        tx.commit().await
    }

    /// Starts a passkey sign-in from `origin`: options with no credentials listed (the browser
    /// offers the user's passkeys for this site), user verification required. At most
    /// [`SIGN_IN_CEREMONIES_PER_ADDRESS`] per client address in [`CEREMONY_TTL_SECONDS`]
    /// (then [`Error::TooManyAttempts`]), counted exactly across servers.
    #[tracing::instrument(skip_all)]
    pub async fn start_passkey_sign_in(&self, origin: &ClientInfo) -> Result<Ceremony> {
        let party = self.relying_party()?;
        let now = self.now();
        let window = Duration::seconds(CEREMONY_TTL_SECONDS);
        let address = origin.address();
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        store::lock_address(&mut tx, &address).await?;
        if store::started_from(&mut tx, &address, now - window).await?
            >= SIGN_IN_CEREMONIES_PER_ADDRESS
        {
            return Err(Error::TooManyAttempts {
                retry_after_secs: window.num_seconds().unsigned_abs(),
            });
        }
        let (mut options, state) = party
            .start_discoverable_authentication()
            .map_err(|e| Error::Internal(format!("passkey options: {e}")))?;
        // A button the user presses, not conditional mediation: the browser asks at once.
        options.mediation = None;
        let public_key =
            serde_json::to_value(&options.public_key).map_err(internal("sign-in options"))?;
        keep(
            tx,
            store::Purpose::SignIn,
            &state,
            public_key,
            &address,
            now,
        )
        .await
    }

    /// Finishes a passkey sign-in: `credential` (the browser's assertion, `toJSON()` form) for
    /// `ceremony`. The ceremony is spent by this call whatever its outcome. The passkey names its
    /// user; the assertion must check against it (signature, origin, relying party, user
    /// verification, this ceremony's challenge) and its counter must move forward, and the user
    /// and their dealership must be active: else [`Error::PasskeyRefused`] (a counter that went
    /// backwards is recorded as `passkey_cloned`, any other refusal as `passkey_failed`).
    /// Success opens a session with `amr` `[K, "mfa"]`, or asks a user whose password was set by
    /// someone else for a new one first ([`SignIn::PasswordChangeRequired`]).
    #[tracing::instrument(skip_all)]
    pub async fn sign_in_with_passkey(
        &self,
        ceremony: Uuid,
        credential: &Value,
        origin: &ClientInfo,
    ) -> Result<SignIn> {
        let party = self.relying_party()?;
        let assertion: PublicKeyCredential = parse_credential(credential)?;
        let now = self.now();
        let state: DiscoverableAuthentication = self
            .spend(origin, ceremony, store::Purpose::SignIn, now)
            .await?;

        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        let found = match party.identify_discoverable_authentication(&assertion) {
            Ok((handle, credential_id)) => store::by_credential(&mut tx, credential_id)
                .await?
                .filter(|row| row.user_id == handle),
            Err(_) => None,
        };
        let Some(row) = found else {
            return self.refuse(tx, None, LoginFailure::PasskeyFailed).await;
        };
        let user: crate::ids::UserId = row.user_id.into();
        let account = mfa::get(&mut tx, user).await?;
        let subject = Some(account.subject());
        if !account.may_sign_in {
            return self.refuse(tx, subject, LoginFailure::PasskeyFailed).await;
        }
        let checked = take_assertion(&mut tx, &row, now, |passkey| {
            party.finish_discoverable_authentication_v2(&assertion, state, passkey)
        })
        .await?;
        let kind = match checked {
            Ok(kind) => kind,
            Err(reason) => return self.refuse(tx, subject, reason).await,
        };
        throttle::clear_account(&mut tx, &account.email).await?;
        let method = SignInMethod::Passkey(kind);
        if account.must_change_password {
            let token = self
                .require_new_password(&mut tx, user, method, now)
                .await?;
            tx.commit().await?;
            return Ok(SignIn::PasswordChangeRequired(token));
        }
        let (live, refresh) = self
            .open_session(&mut tx, user, account.placement()?, origin, method, now)
            .await?;
        tx.commit().await?;
        Ok(SignIn::Tokens(self.pair(live, refresh).await?))
    }

    /// For the `mfa_token` of a right password whose user has a passkey: a ceremony that lists
    /// their passkeys, as the second step. Finish with [`Adam::sign_in_with_passkey_second_step`]
    /// within [`CEREMONY_TTL_SECONDS`]. A spent, expired or unknown token is
    /// [`Error::MfaTokenInvalid`].
    #[tracing::instrument(skip_all)]
    pub async fn start_passkey_second_step(
        &self,
        mfa_token: &str,
        origin: &ClientInfo,
    ) -> Result<Ceremony> {
        let party = self.relying_party()?;
        let (_, challenge, _) = self
            .challenge(
                mfa_token,
                |p| p == mfa::Purpose::Verify,
                crate::second_factor::ChallengeUse::Read,
            )
            .await?;
        let user = challenge.user;
        let now = self.now();
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        let keys = passkeys_of(&mut tx, user).await?;
        if keys.is_empty() {
            return Err(Error::conflict("this user has no passkey: use a code"));
        }
        let (options, state) = party
            .start_passkey_authentication(&keys)
            .map_err(|e| Error::Internal(format!("passkey options: {e}")))?;
        let public_key =
            serde_json::to_value(&options.public_key).map_err(internal("second-step options"))?;
        let purpose = store::Purpose::SecondStep { user };
        keep(tx, purpose, &state, public_key, &origin.address(), now).await
    }

    /// The second step of a sign-in with a passkey: `credential` (the assertion) for
    /// `ceremony`, started for `mfa_token`. Counted as a code check of the token (five refusals
    /// spend it); the ceremony is spent whatever the outcome. A
    /// refused assertion is [`Error::PasskeyRefused`] (the token lives on); success spends the
    /// token and opens a session with `amr` `["pwd", K, "mfa"]`.
    #[tracing::instrument(skip_all)]
    pub async fn sign_in_with_passkey_second_step(
        &self,
        mfa_token: &str,
        ceremony: Uuid,
        credential: &Value,
        origin: &ClientInfo,
    ) -> Result<SignIn> {
        let party = self.relying_party()?;
        let assertion: PublicKeyCredential = parse_credential(credential)?;
        let (digest, challenge, row) = self
            .challenge(
                mfa_token,
                |p| p == mfa::Purpose::Verify,
                crate::second_factor::ChallengeUse::CheckCode,
            )
            .await?;
        let user = challenge.user;
        let now = self.now();
        let state: PasskeyAuthentication = self
            .spend(origin, ceremony, store::Purpose::SecondStep { user }, now)
            .await?;
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        let found = store::by_credential(&mut tx, assertion.get_credential_id())
            .await?
            .filter(|k| k.user_id == user.as_uuid());
        let checked = match found {
            None => Ok(Err(LoginFailure::PasskeyFailed)),
            Some(key) => {
                // The state lists the user's passkeys already.
                take_assertion(&mut tx, &key, now, |_| {
                    party.finish_passkey_authentication(&assertion, &state)
                })
                .await
            }
        }?;
        let kind = match checked {
            Ok(kind) => kind,
            Err(reason) => {
                drop(tx);
                // Counted against the token like a wrong code: the fifth spends it.
                let mut tx = self.begin_system_from(origin, Intent::Write).await?;
                mfa::fail_challenge(&mut tx, &digest).await?;
                return self.refuse(tx, Some(row.subject()), reason).await;
            }
        };
        if !mfa::spend_challenge(&mut tx, &digest, now).await? {
            return Err(Error::MfaTokenInvalid);
        }
        self.complete_sign_in(
            tx,
            &row,
            user,
            origin,
            SignInMethod::PasswordAndPasskey(kind),
            now,
        )
        .await
    }

    /// Spends `ceremony` of `purpose` in a unit of work of its own, committed so that it stays
    /// spent whatever follows, and answers webauthn-rs's state; a ceremony that is not of
    /// `purpose`, spent or expired is [`Error::Invalid`] naming `ceremony_id`.
    async fn spend<T: serde::de::DeserializeOwned>(
        &self,
        origin: &ClientInfo,
        ceremony: Uuid,
        purpose: store::Purpose,
        now: DateTime<Utc>,
    ) -> Result<T> {
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        let state = store::spend_ceremony(&mut tx, ceremony, purpose, now)
            .await?
            .ok_or_else(ceremony_gone)?;
        tx.commit().await?;
        serde_json::from_str(&state).map_err(internal("ceremony state"))
    }

    /// Records a refused passkey sign-in in `tx`, commits, and answers
    /// [`Error::PasskeyRefused`].
    async fn refuse(
        &self,
        mut tx: Tx,
        user: Option<UserRef>,
        reason: LoginFailure,
    ) -> Result<SignIn> {
        tx.record(Event::LoginFailed {
            reason,
            check: Check::SignIn,
            user,
        })
        .await?;
        tx.commit().await?;
        Err(Error::PasskeyRefused)
    }
}

/// The passkeys of `user`, as webauthn-rs reads them.
async fn passkeys_of(tx: &mut Tx, user: crate::ids::UserId) -> Result<Vec<Passkey>> {
    let rows = store::of_user(tx, user).await?;
    rows.iter().map(|r| credential_of(&r.credential)).collect()
}

/// Stores a new ceremony of `purpose` with webauthn-rs's `state`, from `address`, for
/// [`CEREMONY_TTL_SECONDS`], commits `tx`, and answers the ceremony with its options.
async fn keep(
    mut tx: Tx,
    purpose: store::Purpose,
    state: &impl serde::Serialize,
    public_key: Value,
    address: &str,
    now: DateTime<Utc>,
) -> Result<Ceremony> {
    let id = Uuid::new_v4();
    let state = serde_json::to_string(state).map_err(internal("ceremony state"))?;
    let expires = now + Duration::seconds(CEREMONY_TTL_SECONDS);
    store::create_ceremony(&mut tx, id, purpose, &state, address, now, expires).await?;
    tx.commit().await?;
    Ok(Ceremony { id, public_key })
}

/// Checks an assertion with `verify` against the stored passkey `key` and takes it in `tx`: the
/// user verified, the counter moved forward (a conditional UPDATE, so of two assertions checked
/// against one counter only one is taken), the passkey's record and last use updated. The
/// passkey's kind, or why it was refused.
async fn take_assertion(
    tx: &mut Tx,
    key: &store::PasskeyRow,
    now: DateTime<Utc>,
    verify: impl FnOnce(&Passkey) -> Result<AuthenticationResult, WebauthnError>,
) -> Result<std::result::Result<KeyKind, LoginFailure>> {
    let mut passkey = credential_of(&key.credential)?;
    let result = match verify(&passkey) {
        Ok(result) if result.user_verified() => result,
        Ok(_) => return Ok(Err(LoginFailure::PasskeyFailed)),
        Err(WebauthnError::CredentialPossibleCompromise) => {
            return Ok(Err(LoginFailure::PasskeyCloned))
        }
        Err(e) => {
            tracing::info!(reason = %refusal(&e), "passkey refused");
            return Ok(Err(LoginFailure::PasskeyFailed));
        }
    };
    passkey.update_credential(&result);
    let stored = serde_json::to_string(&passkey).map_err(internal("passkey"))?;
    if !store::used(tx, key.id, key.sign_count, result.counter(), &stored, now).await? {
        // Another assertion with this counter was taken meanwhile.
        return Ok(Err(LoginFailure::PasskeyCloned));
    }
    Ok(Ok(KeyKind::of_backup_eligible(
        result.backup_eligible() || key.backup_eligible,
    )))
}

/// Why webauthn-rs refused a response, in words fit for the caller (nothing secret: the
/// response is theirs).
fn refusal(e: &WebauthnError) -> String {
    match e {
        WebauthnError::InvalidRPOrigin => "it was made for another origin".into(),
        WebauthnError::InvalidRPIDHash => "it was made for another relying party".into(),
        WebauthnError::MismatchedChallenge => "it answers another ceremony's challenge".into(),
        WebauthnError::UserNotVerified => "the authenticator did not verify the user".into(),
        WebauthnError::CredentialPossibleCompromise => {
            "its signature counter went backwards".into()
        }
        other => other.to_string(),
    }
}
