//! The signing keys as the engine holds them: loaded from the database, reloaded every
//! [`RELOAD_EVERY`], made when missing, rotated when due, and the rules of rotation.
//!
//! Rules (the contract's "Signing keys"), for each algorithm on its own (Ed25519 always; RSA once
//! a client registered for RS256 ID tokens needs it):
//! - there is always one `current` key (it signs) and one `next` key (published, not signing);
//! - a rotation retires the current key, promotes the next one and makes a new next one; the
//!   next key may sign only after it has been published for [`crate::Settings::key_publish_lead`]
//!   (the JWKS `max-age`), unless forced;
//! - a retired key verifies and is published until every token it signed has expired;
//! - of several servers rotating at once, exactly one does: the retirement is a conditional
//!   `UPDATE` that only one transaction can win;
//! - a revoked key stops verifying at once here, and on every server at its next reload.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::audit::events::Event;
use crate::db::{Db, Intent, Scope, Tx};
use crate::error::{Error, Result};
use crate::jwk::{Jwk, JwkSet};
use crate::keys::rsa::{RsaSigner, EXPONENT};
use crate::keys::secret::{SealedBy, Sealer};
use crate::keys::store::{self as signing_keys, KeyRow};
use crate::tokens::{AccessClaims, AccessTokenVerifier, Signer, TokenAudience, LEEWAY_SECONDS};

/// How often every engine reloads the keys from the database: a rotation or revocation made by
/// another server takes effect here within this time (the contract allows 60 s).
pub const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// How soon after the last reload a token naming an unknown `kid` may cause another one.
const UNKNOWN_KID_RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Most verified tokens remembered per key set.
const CACHE_CAPACITY: usize = 10_000;

/// How long a retired key stays after its retirement beyond the token lifetime: servers that
/// have not reloaded yet may sign with it for up to [`RELOAD_EVERY`].
const RETIRED_MARGIN: Duration = Duration::minutes(2);

pub use crate::keys::state::{KeyState, SigningAlg};

/// A signing key as `adam-server keys list` shows it: never its private half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyInfo {
    /// The key id (RFC 7638 thumbprint of the public key).
    pub kid: String,
    /// What it signs with.
    pub alg: SigningAlg,
    /// Its state.
    pub state: KeyState,
    /// When it was made (and published).
    pub created_at: DateTime<Utc>,
    /// When it began to sign.
    pub activated_at: Option<DateTime<Utc>>,
    /// When it stopped signing.
    pub retired_at: Option<DateTime<Utc>>,
    /// For a retired key: when its last token expires and it is dropped.
    pub published_until: Option<DateTime<Utc>>,
}

/// What a rotation did to the keys of one algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The algorithm of the keys.
    pub alg: SigningAlg,
    /// The key that was current and is now retired.
    pub retired: String,
    /// The former next key, now current.
    pub current: String,
    /// The new next key.
    pub next: String,
}

/// Who asks for a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rotate {
    /// `adam-server keys rotate`, refused while the next key is too young unless `force`.
    ByHand { force: bool },
    /// A running engine, because the current key is old: only while that is still so.
    WhenDue,
}

/// How the keys behave; from [`crate::Settings`].
#[derive(Debug, Clone)]
pub(crate) struct KeyPolicy {
    pub(crate) names: TokenAudience,
    pub(crate) token_ttl: Duration,
    pub(crate) rotate_after: Option<Duration>,
    pub(crate) publish_lead: Duration,
    pub(crate) reload_every: std::time::Duration,
}

/// One loaded key set: what signs, what verifies, what is published.
pub(crate) struct Loaded {
    at: Instant,
    signer: Signer,
    /// The RS256 signer of ID tokens, once RSA keys exist.
    rs256: Option<RsaSigner>,
    verifier: AccessTokenVerifier,
    /// The verifier of the userinfo endpoint: also the tokens of clients that are not
    /// first-party. Never through the cache, so none of those reaches the API by it.
    userinfo: AccessTokenVerifier,
    jwks: JwkSet,
    keys: Vec<SigningKeyInfo>,
    cache: VerifiedCache,
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("signer", &self.signer)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Loaded {
    pub(crate) fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Signs `claims` as a JWT of type `typ` (an ID token, a logout token) with `alg`.
    /// [`Error::Internal`] for RS256 when there is no RSA key: callers ask for
    /// [`KeyRing::get_for`] first.
    pub(crate) fn sign_as(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &impl serde::Serialize,
    ) -> Result<String> {
        match alg {
            SigningAlg::EdDSA => self.signer.sign_as(typ, claims),
            SigningAlg::RS256 => self
                .rs256
                .as_ref()
                .ok_or_else(|| Error::Internal("no RSA signing key".into()))?
                .sign_as(typ, claims),
        }
    }

    pub(crate) fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    pub(crate) fn keys(&self) -> &[SigningKeyInfo] {
        &self.keys
    }

    /// The verified claims of `token` as of `now`, from the cache when this exact token was
    /// verified before and has not expired.
    pub(crate) fn claims_at(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.cache.get(&digest, now) {
            return Ok(claims);
        }
        let claims = self.verifier.claims_at(token, now)?;
        self.cache.put(digest, &claims, now);
        Ok(claims)
    }

    /// The verified claims of `token` as the userinfo endpoint takes them, as of `now`.
    pub(crate) fn userinfo_claims(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims> {
        self.userinfo.claims_at(token, now)
    }
}

/// Tokens whose signature was checked, by the SHA-256 of their text. An entry is used only
/// while its token is within its validity (so none outlives its token), and the whole cache
/// goes with its key set at every reload (so a revoked key's tokens are not remembered). The
/// live-session check still runs on every request.
#[derive(Default)]
struct VerifiedCache(Mutex<HashMap<[u8; 32], AccessClaims>>);

impl VerifiedCache {
    fn get(&self, digest: &[u8; 32], now: DateTime<Utc>) -> Option<AccessClaims> {
        let map = self.0.lock().ok()?;
        let claims = map.get(digest)?;
        claims.time_check(now).is_ok().then(|| claims.clone())
    }

    fn put(&self, digest: [u8; 32], claims: &AccessClaims, now: DateTime<Utc>) {
        let Ok(mut map) = self.0.lock() else {
            return;
        };
        if map.len() >= CACHE_CAPACITY {
            let t = now.timestamp();
            map.retain(|_, c| c.exp > t - LEEWAY_SECONDS);
            if map.len() >= CACHE_CAPACITY {
                map.clear();
            }
        }
        map.insert(digest, claims.clone());
    }
}

/// The engine's signing keys.
pub(crate) struct KeyRing {
    db: Db,
    sealer: Sealer,
    policy: KeyPolicy,
    loaded: RwLock<Option<Arc<Loaded>>>,
    reloading: tokio::sync::Mutex<()>,
    /// Whether this engine was asked for RS256: RSA keys are made when missing.
    rsa_wanted: AtomicBool,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    pub(crate) fn new(db: Db, sealer: Sealer, policy: KeyPolicy) -> Self {
        Self {
            db,
            sealer,
            policy,
            loaded: RwLock::new(None),
            reloading: tokio::sync::Mutex::new(()),
            rsa_wanted: AtomicBool::new(false),
        }
    }

    fn snapshot(&self) -> Option<Arc<Loaded>> {
        self.loaded.read().ok().and_then(|l| l.clone())
    }

    /// The key set, reloaded first when it is older than [`RELOAD_EVERY`]. While one task
    /// reloads, others keep using the set they have.
    pub(crate) async fn get(&self) -> Result<Arc<Loaded>> {
        match self.snapshot() {
            Some(l) if l.at.elapsed() < self.policy.reload_every => Ok(l),
            Some(l) => match self.reloading.try_lock() {
                Ok(_guard) => self.reload_locked().await,
                Err(_) => Ok(l),
            },
            None => {
                let _guard = self.reloading.lock().await;
                match self.snapshot() {
                    Some(l) => Ok(l),
                    None => self.reload_locked().await,
                }
            }
        }
    }

    /// The key set, with a current key of `alg`: RSA keys are made (and published) the first
    /// time RS256 is asked for; from then on they are kept, rotated and revoked as the Ed25519
    /// keys are.
    pub(crate) async fn get_for(&self, alg: SigningAlg) -> Result<Arc<Loaded>> {
        let keys = self.get().await?;
        if alg == SigningAlg::EdDSA || keys.rs256.is_some() {
            return Ok(keys);
        }
        self.rsa_wanted.store(true, Ordering::Relaxed);
        self.reload().await
    }

    /// Reloads now, whatever the age of the set.
    pub(crate) async fn reload(&self) -> Result<Arc<Loaded>> {
        let _guard = self.reloading.lock().await;
        self.reload_locked().await
    }

    /// The verified claims of `token`; a token naming a key this server has not loaded yet (a
    /// rotation forced elsewhere moments ago) causes one early reload, at most every few
    /// seconds.
    pub(crate) async fn claims(&self, token: &str) -> Result<AccessClaims> {
        let keys = self.get().await?;
        let now = self.db.now();
        match keys.claims_at(token, now) {
            Err(Error::Unauthorized(_))
                if AccessTokenVerifier::kid_of(token)
                    .is_some_and(|kid| !keys.verifier.knows(&kid))
                    && keys.at.elapsed()
                        >= UNKNOWN_KID_RELOAD_EVERY.min(self.policy.reload_every) =>
            {
                let keys = match self.reloading.try_lock() {
                    Ok(_guard) => self.reload_locked().await?,
                    Err(_) => return keys.claims_at(token, now),
                };
                keys.claims_at(token, now)
            }
            other => other,
        }
    }

    async fn begin(&self, intent: Intent) -> Result<Tx> {
        self.db.begin(Scope::system(), intent).await
    }

    async fn reload_locked(&self) -> Result<Arc<Loaded>> {
        let now = self.db.now();
        let mut rows = self.read(now).await?;
        if !self.complete(&rows) {
            self.make_missing(now).await?;
            rows = self.read(now).await?;
        }
        if self
            .algs(&rows)
            .any(|alg| self.rotation_due(&rows, alg, now))
        {
            match self.rotate_as(Rotate::WhenDue, now).await {
                Ok(done) => {
                    for r in done {
                        tracing::info!(alg = %r.alg, retired = %r.retired, current = %r.current, "rotated the signing keys");
                    }
                }
                // Another server rotated first, or the next key is too young yet.
                Err(Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            rows = self.read(now).await?;
        }
        let loaded = Arc::new(self.open(rows).await?);
        if let Ok(mut slot) = self.loaded.write() {
            *slot = Some(loaded.clone());
        }
        Ok(loaded)
    }

    async fn read(&self, now: DateTime<Utc>) -> Result<Vec<KeyRow>> {
        let mut tx = self.begin(Intent::Read).await?;
        let rows = signing_keys::in_use(&mut tx, now).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The algorithms whose keys are kept: Ed25519 always, RSA once asked for or made.
    fn algs<'a>(&self, rows: &'a [KeyRow]) -> impl Iterator<Item = SigningAlg> + 'a {
        let rsa = self.rsa_wanted.load(Ordering::Relaxed)
            || rows.iter().any(|r| r.alg == SigningAlg::RS256);
        std::iter::once(SigningAlg::EdDSA).chain(rsa.then_some(SigningAlg::RS256))
    }

    /// Whether every algorithm kept has its current and next key.
    fn complete(&self, rows: &[KeyRow]) -> bool {
        self.algs(rows).all(|alg| {
            [KeyState::Current, KeyState::Next]
                .into_iter()
                .all(|state| find(rows, alg, state).is_some())
        })
    }

    fn rotation_due(&self, rows: &[KeyRow], alg: SigningAlg, now: DateTime<Utc>) -> bool {
        let Some(every) = self.policy.rotate_after else {
            return false;
        };
        let current = find(rows, alg, KeyState::Current);
        let next = find(rows, alg, KeyState::Next);
        match (current, next) {
            (Some(c), Some(n)) => {
                c.activated_at.unwrap_or(c.created_at) + every <= now
                    && n.created_at + self.policy.publish_lead <= now
            }
            _ => false,
        }
    }

    /// A new key of `alg`, sealed, stored in `state`; `None` when another transaction stored a
    /// key of that algorithm in that state first.
    async fn store_new(
        &self,
        tx: &mut Tx,
        alg: SigningAlg,
        state: KeyState,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let pair = match alg {
            SigningAlg::EdDSA => Signer::generate()?,
            SigningAlg::RS256 => RsaSigner::generate()?,
        };
        let kid = pair.jwk.kid().to_owned();
        let sealed = self.sealer.seal(&pair.pkcs8, kid.as_bytes())?;
        match signing_keys::insert(tx, &kid, alg, state, &pair.public, &sealed, now).await {
            Ok(()) => Ok(Some(kid)),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes the current and next keys of every algorithm kept if either is missing (a new
    /// database, the first RS256 client). Servers starting together race; the loser's insert
    /// breaks the one-key-per-state index and it reads the winner's keys.
    async fn make_missing(&self, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.begin(Intent::Write).await?;
        let rows = signing_keys::in_use(&mut tx, now).await?;
        let algs: Vec<SigningAlg> = self.algs(&rows).collect();
        for alg in algs {
            for state in [KeyState::Current, KeyState::Next] {
                if find(&rows, alg, state).is_some() {
                    continue;
                }
                match self.store_new(&mut tx, alg, state, now).await? {
                    Some(kid) => tracing::info!(%kid, %alg, %state, "made a signing key"),
                    // Another server made them: use its keys.
                    None => return Ok(()),
                }
            }
        }
        tx.commit().await
    }

    /// Rotates the keys of every algorithm: the next key becomes current, the current one
    /// retired, a new next is made. Refused ([`Error::Conflict`]) when a next key has been
    /// published for less than the publication lead (unless `force`), or when another server
    /// rotated since we read.
    pub(crate) async fn rotate(&self, force: bool, now: DateTime<Utc>) -> Result<Vec<Rotation>> {
        self.rotate_as(Rotate::ByHand { force }, now).await
    }

    /// One transaction for all algorithms: by hand, every one; when due, those that are.
    async fn rotate_as(&self, how: Rotate, now: DateTime<Utc>) -> Result<Vec<Rotation>> {
        let mut tx = self.begin(Intent::Write).await?;
        let rows = signing_keys::in_use(&mut tx, now).await?;
        let algs: Vec<SigningAlg> = self.algs(&rows).collect();
        let mut done = Vec::with_capacity(algs.len());
        for alg in algs {
            // Due, judged by what this transaction reads: a server that saw the rotation due
            // before another one made it must not rotate the fresh key again.
            if how == Rotate::WhenDue && !self.rotation_due(&rows, alg, now) {
                continue;
            }
            done.push(self.rotate_alg(&mut tx, &rows, alg, how, now).await?);
        }
        if done.is_empty() {
            return Err(Error::conflict("another server rotated the keys just now"));
        }
        signing_keys::drop_expired(&mut tx, now).await?;
        for r in &done {
            tx.record(Event::KeysRotated {
                alg: r.alg,
                retired: r.retired.clone(),
                current: r.current.clone(),
                next: r.next.clone(),
            })
            .await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn rotate_alg(
        &self,
        tx: &mut Tx,
        rows: &[KeyRow],
        alg: SigningAlg,
        how: Rotate,
        now: DateTime<Utc>,
    ) -> Result<Rotation> {
        let force = matches!(how, Rotate::ByHand { force: true });
        let (Some(current), Some(next)) = (
            find(rows, alg, KeyState::Current),
            find(rows, alg, KeyState::Next),
        ) else {
            return Err(Error::conflict(
                "there is no current and next key yet; start the server once first",
            ));
        };
        let published = now - next.created_at;
        if !force && published < self.policy.publish_lead {
            return Err(Error::conflict(format!(
                "the next {alg} key {} has been published for {} s; it may sign only after {} s \
                 (the JWKS max-age), so every client has it: try again later, or use --force",
                next.kid,
                published.num_seconds().max(0),
                self.policy.publish_lead.num_seconds()
            )));
        }
        let drop_after = now + self.policy.token_ttl + RETIRED_MARGIN;
        if signing_keys::retire_current(tx, &current.kid, now, drop_after).await? != 1 {
            return Err(Error::conflict("another server rotated the keys just now"));
        }
        if signing_keys::promote_next(tx, &next.kid, now).await? != 1 {
            return Err(Error::conflict("another server rotated the keys just now"));
        }
        let new_next = self
            .store_new(tx, alg, KeyState::Next, now)
            .await?
            .ok_or_else(|| Error::conflict("another server rotated the keys just now"))?;
        Ok(Rotation {
            alg,
            retired: current.kid.clone(),
            current: next.kid.clone(),
            next: new_next,
        })
    }

    /// Deletes the key `kid`: it stops verifying at once. A revoked current key is replaced by
    /// the next one (whatever its age: there must be a current key), a revoked next key by a
    /// new one. Returns the state the key had.
    pub(crate) async fn revoke(&self, kid: &str, now: DateTime<Utc>) -> Result<KeyState> {
        let mut tx = self.begin(Intent::Write).await?;
        let rows = signing_keys::in_use(&mut tx, now).await?;
        let Some(row) = rows.iter().find(|r| r.kid == kid) else {
            return Err(Error::NotFound);
        };
        let (alg, state) = (row.alg, row.state);
        if signing_keys::delete(&mut tx, kid).await? != 1 {
            return Err(Error::NotFound);
        }
        match state {
            KeyState::Current => {
                let next = find(&rows, alg, KeyState::Next)
                    .ok_or_else(|| Error::Internal("no next key to promote".into()))?;
                signing_keys::promote_next(&mut tx, &next.kid, now).await?;
                self.replace_next(&mut tx, alg, now).await?;
            }
            KeyState::Next => self.replace_next(&mut tx, alg, now).await?,
            KeyState::Retired => {}
        }
        tx.record(Event::KeysRevoked {
            kid: kid.to_owned(),
            state,
        })
        .await?;
        tx.commit().await?;
        Ok(state)
    }

    async fn replace_next(&self, tx: &mut Tx, alg: SigningAlg, now: DateTime<Utc>) -> Result<()> {
        self.store_new(tx, alg, KeyState::Next, now)
            .await?
            .map(drop)
            .ok_or_else(|| Error::conflict("another server changed the keys just now"))
    }

    /// Opens the stored keys into a usable set. A key sealed under the former `SECRET_KEY` is
    /// sealed again under the current one; a current key neither opens stops everything with
    /// one clear line.
    async fn open(&self, rows: Vec<KeyRow>) -> Result<Loaded> {
        let mut signer = None;
        let mut rs256 = None;
        let mut jwks = JwkSet::default();
        let mut keys = Vec::with_capacity(rows.len());
        let mut reseal = Vec::new();
        for row in rows {
            let state = row.state;
            let bad = || Error::Internal(format!("signing key {}: bad public key", row.kid));
            let jwk = match row.alg {
                SigningAlg::EdDSA => {
                    Jwk::new(row.public_key.as_slice().try_into().map_err(|_| bad())?)
                }
                SigningAlg::RS256 => {
                    if row.public_key.len() < crate::jwk::RSA_MIN_MODULUS_LEN {
                        return Err(bad());
                    }
                    Jwk::rsa(&row.public_key, &EXPONENT)
                }
            };
            if jwk.kid() != row.kid {
                return Err(Error::Internal(format!(
                    "signing key {}: its kid is not its thumbprint",
                    row.kid
                )));
            }
            let opened = self
                .sealer
                .open(&row.sealed_private_key, row.kid.as_bytes());
            match (&opened, state) {
                (None, KeyState::Current | KeyState::Next) => {
                    return Err(Error::Config(
                        "SECRET_KEY does not open the stored signing keys: set SECRET_KEY to the \
                         key they were made with, or that one as SECRET_KEY_PREVIOUS"
                            .into(),
                    ))
                }
                (None, KeyState::Retired) => {}
                (Some(o), _) => {
                    if o.by == SealedBy::Previous {
                        reseal.push((
                            row.kid.clone(),
                            row.sealed_private_key.clone(),
                            self.sealer.seal(&o.plaintext, row.kid.as_bytes())?,
                        ));
                    }
                    match (state, row.alg) {
                        (KeyState::Current, SigningAlg::EdDSA) => {
                            signer =
                                Some(Signer::from_pkcs8(&row.kid, &o.plaintext, &row.public_key)?)
                        }
                        (KeyState::Current, SigningAlg::RS256) => {
                            rs256 = Some(RsaSigner::from_pkcs8(
                                &row.kid,
                                &o.plaintext,
                                &row.public_key,
                            )?)
                        }
                        _ => {}
                    }
                }
            }
            jwks.keys.push(jwk);
            keys.push(SigningKeyInfo {
                kid: row.kid,
                alg: row.alg,
                state,
                created_at: row.created_at,
                activated_at: row.activated_at,
                retired_at: row.retired_at,
                published_until: row.drop_after,
            });
        }
        if !reseal.is_empty() {
            let mut tx = self.begin(Intent::Write).await?;
            for (kid, old, new) in &reseal {
                signing_keys::reseal(&mut tx, kid, old, new).await?;
            }
            tx.commit().await?;
            tracing::info!(
                keys = reseal.len(),
                "sealed signing keys again under the new SECRET_KEY"
            );
        }
        let signer = signer.ok_or_else(|| Error::Internal("no current signing key".into()))?;
        Ok(Loaded {
            at: Instant::now(),
            verifier: AccessTokenVerifier::new(&jwks, self.policy.names.clone()),
            userinfo: AccessTokenVerifier::new(&jwks, self.policy.names.clone())
                .also_for(&self.policy.names.userinfo_audience()),
            signer,
            rs256,
            jwks,
            keys,
            cache: VerifiedCache::default(),
        })
    }
}

/// The key of `alg` in `state` (next or current: there is at most one).
fn find(rows: &[KeyRow], alg: SigningAlg, state: KeyState) -> Option<&KeyRow> {
    rows.iter().find(|r| r.alg == alg && r.state == state)
}
