//! The engine and its use cases. Every use case that acts for a caller takes a [`Principal`]
//! and has one shape: open a unit of work in the caller's scope, read, authorize (the role
//! table, [`crate::rbac`]), write, end the sessions the change invalidates
//! ([`crate::sessions::revocation`]), record the event ([`crate::audit::events`]), commit.

use std::fmt;
use std::sync::Arc;

use crate::db::{self, Db, Engine, Intent, MigrationState, Pool, Scope};
use crate::error::Result;
use crate::hashing::PasswordHasher;
use crate::keys::keyring::{KeyPolicy, KeyRing};
use crate::keys::secret::{Purpose, Sealer, SecretKey};
use crate::password::PasswordPolicy;
use crate::rbac::Principal;
use crate::sessions::live_checks::LiveChecks;
use crate::sessions::refresh::RefreshToken;
use crate::settings::Settings;
use crate::tokens::AccessTokenIssuer;

/// The pair of tokens a sign-in or refresh answers with.
#[derive(Clone)]
pub struct TokenPair {
    /// A signed JWT for the `Authorization: Bearer` header.
    pub access_token: String,
    /// An opaque token to exchange for a new pair; spent on use.
    pub refresh_token: RefreshToken,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &self.refresh_token)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The Adam engine: storage, password hashing and token keys behind the contract's use cases.
///
/// Cheap to clone; clones share the database pool and the hashing limit. Keeps no state of its
/// own, so any number of engines (in any number of processes) can share one PostgreSQL database.
#[derive(Clone)]
pub struct Adam {
    pub(crate) db: Db,
    /// On PostgreSQL, gathers the live-session checks of concurrent requests.
    pub(crate) live_checks: Option<LiveChecks>,
    pub(crate) hasher: PasswordHasher,
    pub(crate) issuer: AccessTokenIssuer,
    pub(crate) keys: Arc<KeyRing>,
    /// Seals TOTP secrets.
    pub(crate) totp: Arc<Sealer>,
    /// Seals what queued mail says.
    pub(crate) mail: Arc<Sealer>,
    pub(crate) settings: Arc<Settings>,
    /// The WebAuthn relying party, where passkeys are on.
    pub(crate) passkeys: Option<Arc<webauthn_rs::Webauthn>>,
}

impl fmt::Debug for Adam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adam")
            .field("engine", &self.db.engine())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Adam {
    /// Opens the database at `url` (`postgres://…` or `sqlite:…`) and builds an engine whose
    /// stored secrets (the signing keys' private halves) are sealed under `secret`. Does not
    /// migrate: call [`Adam::migrate_up`]. The signing keys are made or loaded on first use
    /// (or by [`Adam::open_signing_keys`]).
    pub async fn connect(url: &str, secret: SecretKey, settings: Settings) -> Result<Self> {
        let db = Db::connect(url, &settings.store, settings.clock.clone()).await?;
        let hasher = PasswordHasher::new(settings.hash_cost, settings.hash_concurrency)?
            .with_queue_timeout(settings.hash_queue_timeout);
        hasher.warm_up().await?;
        let issuer =
            AccessTokenIssuer::new(settings.token_audience.clone(), settings.access_token_ttl);
        let keys = KeyRing::new(
            db.clone(),
            Sealer::new(&secret, Purpose::SigningKey),
            KeyPolicy {
                names: settings.token_audience.clone(),
                token_ttl: settings.access_token_ttl,
                rotate_after: settings.key_rotation,
                publish_lead: settings.key_publish_lead,
                reload_every: settings.key_reload,
            },
        );
        let passkeys = match &settings.passkeys {
            Some(party) => Some(Arc::new(party.build()?)),
            None => None,
        };
        let live_checks = match &db.pool {
            Pool::Pg { pool, .. } => Some(LiveChecks::new(pool.clone())),
            Pool::Lite { .. } => None,
        };
        Ok(Self {
            db,
            live_checks,
            hasher,
            issuer,
            keys: Arc::new(keys),
            totp: Arc::new(Sealer::new(&secret, Purpose::TotpSecret)),
            mail: Arc::new(Sealer::new(&secret, Purpose::Mail)),
            settings: Arc::new(settings),
            passkeys,
        })
    }

    /// The current time, on the engine's clock.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.db.now()
    }

    /// What makes a session live now, besides its row ([`crate::sessions::store::LiveRule`]).
    pub(crate) fn live_rule(&self) -> crate::sessions::store::LiveRule<'_> {
        crate::sessions::store::LiveRule {
            now: self.now(),
            mfa_required_roles: &self.settings.mfa_required_roles,
        }
    }

    /// The database engine behind this engine.
    pub fn engine(&self) -> Engine {
        self.db.engine()
    }

    /// The password policy new and changed passwords must meet.
    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.settings.password_policy
    }

    /// The settings the engine runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Ok when the database answers.
    pub async fn ready(&self) -> Result<()> {
        self.db.ping().await
    }

    /// Applies pending migrations; returns the versions applied.
    pub async fn migrate_up(&self) -> Result<Vec<i64>> {
        self.db.migrate_up().await
    }

    /// Reverts the last applied migration.
    pub async fn migrate_down(&self) -> Result<Option<i64>> {
        self.db.migrate_down().await
    }

    /// Every migration with whether it is applied.
    pub async fn migration_status(&self) -> Result<Vec<MigrationState>> {
        self.db.migration_status().await
    }

    /// Deletes refresh tokens (and emptied sessions) and sign-in failures that expired over a
    /// day ago. A system operation: it acts for no caller.
    pub async fn purge_expired(&self) -> Result<u64> {
        let before = self.now() - chrono::Duration::days(1);
        let mut tx = self.db.begin(Scope::system(), Intent::Write).await?;
        let tokens = crate::sessions::store::purge_expired(&mut tx, before).await?;
        crate::second_factor::store::purge_challenges(&mut tx, before).await?;
        crate::oidc::store::purge_codes(&mut tx, before).await?;
        crate::passkeys::store::purge_ceremonies(&mut tx, before).await?;
        crate::signin::throttle::store::purge(&mut tx, before).await?;
        crate::signin::throttle::store::purge_notices(&mut tx, before).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// Closes the database pool.
    pub async fn close(&self) {
        self.db.close().await;
    }
}

impl Adam {
    /// Opens a unit of work in what `caller` can see.
    pub(crate) async fn begin_for(&self, caller: &Principal, intent: Intent) -> Result<db::Tx> {
        let mut tx = self
            .db
            .begin(
                Scope::of(caller.placement(), caller.user_id(), caller.session_id()),
                intent,
            )
            .await?;
        tx.origin = caller.origin().clone();
        Ok(tx)
    }

    /// Opens a unit of work of the engine's own on behalf of `caller` (a password or code
    /// check, whose throttle is the engine's): its events name the caller as actor.
    pub(crate) async fn begin_system_for(
        &self,
        caller: &Principal,
        intent: Intent,
    ) -> Result<db::Tx> {
        let mut tx = self.begin_system_from(caller.origin(), intent).await?;
        tx.scope.actor = Some((caller.user_id(), caller.session_id()));
        Ok(tx)
    }

    /// Opens a write unit of work of the engine's own that counts and reserves a password or
    /// code check from `origin` (the sign-in throttle), in one of the places kept for those
    /// ([`db::Db::begin_throttled`]); `caller`, if the check is theirs, is its events' actor.
    pub(crate) async fn begin_throttled(
        &self,
        origin: &crate::origin::ClientInfo,
        caller: Option<&Principal>,
    ) -> Result<db::Tx> {
        let mut tx = self
            .db
            .begin_throttled(Scope::system(), Intent::Write)
            .await?;
        tx.origin = origin.clone();
        tx.scope.actor = caller.map(|c| (c.user_id(), c.session_id()));
        Ok(tx)
    }

    /// Opens a unit of work of the engine's own for a request from `origin` that acts for no
    /// one yet (a sign-in): its events carry the client's address and user agent.
    pub(crate) async fn begin_system_from(
        &self,
        origin: &crate::origin::ClientInfo,
        intent: Intent,
    ) -> Result<db::Tx> {
        let mut tx = self.begin_system(intent).await?;
        tx.origin = origin.clone();
        Ok(tx)
    }

    /// Opens a unit of work of the engine's own.
    pub(crate) async fn begin_system(&self, intent: Intent) -> Result<db::Tx> {
        self.db.begin(Scope::system(), intent).await
    }
}
