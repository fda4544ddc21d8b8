//! Argon2id password hashing, off the async threads and bounded in concurrency.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::OsRng;
use tokio::sync::{OnceCell, Semaphore};

use crate::error::{Error, Result};
use crate::password::Password;

/// Argon2id cost parameters. The default is OWASP's minimum: 19 MiB, two passes, one lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism.
    pub parallelism: u32,
}

impl HashCost {
    /// OWASP's recommended minimum for argon2id (m = 19 MiB, t = 2, p = 1).
    pub const OWASP: HashCost = HashCost {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    fn params(&self) -> Result<Params> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| Error::Config(format!("argon2 parameters: {e}")))
    }

    fn is_met_by(&self, params: &Params) -> bool {
        params.m_cost() >= self.memory_kib
            && params.t_cost() >= self.iterations
            && params.p_cost() >= self.parallelism
    }
}

impl Default for HashCost {
    fn default() -> Self {
        Self::OWASP
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Whether the password matched.
    pub matches: bool,
    /// Whether the stored hash is weaker than the current cost and should be replaced.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords with argon2id.
///
/// Every hash runs on Tokio's blocking pool behind a semaphore with one permit per core, so a
/// flood of logins queues instead of starving the async workers or allocating 19 MiB per request.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    cost: HashCost,
    permits: Arc<Semaphore>,
    dummy: Arc<OnceCell<String>>,
}

impl PasswordHasher {
    /// A hasher with the given cost and at most `concurrency` hashes at once (at least one).
    pub fn new(cost: HashCost, concurrency: usize) -> Result<Self> {
        cost.params()?;
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(OnceCell::new()),
        })
    }

    /// A hasher with OWASP cost and one permit per available core.
    pub fn with_default_cost() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            cost: HashCost::OWASP,
            permits: Arc::new(Semaphore::new(cores)),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    /// The cost new hashes are made with.
    pub fn cost(&self) -> HashCost {
        self.cost
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("password hasher closed".into()))?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| Error::Internal(format!("password hashing task failed: {e}")))
    }

    /// Hashes `password` into a PHC string (`$argon2id$v=19$m=…`).
    pub async fn hash(&self, password: &Password) -> Result<String> {
        self.hash_str(password.expose()).await
    }

    /// Hashes a password that was accepted before (re-hashing after sign-in).
    pub(crate) async fn hash_str(&self, password: &str) -> Result<String> {
        let secret = password.to_owned();
        let params = self.cost.params()?;
        self.run(move || hash_blocking(&secret, params)).await?
    }

    /// Checks `password` against `stored`. With `stored = None` (unknown user) it verifies against a
    /// dummy hash of the same cost, so the answer takes as long either way, and reports no match.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verified> {
        let (phc, real) = match stored {
            Some(s) => (s.to_owned(), true),
            None => (self.dummy_hash().await?.clone(), false),
        };
        let candidate = password.to_owned();
        let cost = self.cost;
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return Verified {
                    matches: false,
                    needs_rehash: false,
                };
            };
            let matches = Argon2::default()
                .verify_password(candidate.as_bytes(), &parsed)
                .is_ok();
            let strong = parsed.algorithm.as_str() == "argon2id"
                && Params::try_from(&parsed).is_ok_and(|p| cost.is_met_by(&p));
            Verified {
                matches: matches && real,
                needs_rehash: matches && real && !strong,
            }
        })
        .await
    }

    async fn dummy_hash(&self) -> Result<&String> {
        let params = self.cost.params()?;
        self.dummy
            .get_or_try_init(|| async {
                self.run(move || hash_blocking("adam dummy password for timing", params))
                    .await?
            })
            .await
    }
}

fn hash_blocking(secret: &str, params: Params) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::PasswordPolicy;

    fn pw(s: &str) -> Password {
        PasswordPolicy::default().check(s.into()).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_cost_and_verify() {
        let h = PasswordHasher::with_default_cost();
        let phc = h.hash(&pw("Tr0ub4dor&3xyz")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let ok = h.verify("Tr0ub4dor&3xyz", Some(&phc)).await.unwrap();
        assert_eq!(
            ok,
            Verified {
                matches: true,
                needs_rehash: false
            }
        );
        let wrong = h.verify("tr0ub4dor&3xyz", Some(&phc)).await.unwrap();
        assert!(!wrong.matches, "no case folding");
        let truncated = h.verify("Tr0ub4dor&3xy", Some(&phc)).await.unwrap();
        assert!(!truncated.matches, "no truncation");
    }

    #[tokio::test]
    async fn unknown_user_never_matches() {
        let h = PasswordHasher::with_default_cost();
        let v = h
            .verify("adam dummy password for timing", None)
            .await
            .unwrap();
        assert!(!v.matches);
    }

    #[tokio::test]
    async fn weaker_hash_asks_for_rehash_only_when_it_matches() {
        let weak = HashCost {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        };
        let phc = PasswordHasher::new(weak, 1)
            .unwrap()
            .hash(&pw("Tr0ub4dor&3xyz"))
            .await
            .unwrap();
        let h = PasswordHasher::with_default_cost();
        assert!(
            h.verify("Tr0ub4dor&3xyz", Some(&phc))
                .await
                .unwrap()
                .needs_rehash
        );
        assert!(
            !h.verify("wrong password!", Some(&phc))
                .await
                .unwrap()
                .needs_rehash
        );
    }

    #[tokio::test]
    async fn garbage_hash_is_a_mismatch_not_a_panic() {
        let h = PasswordHasher::with_default_cost();
        assert!(
            !h.verify("whatever", Some("not a phc"))
                .await
                .unwrap()
                .matches
        );
    }
}
