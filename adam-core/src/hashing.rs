//! Argon2id password hashing on a few dedicated threads, each reusing its own memory.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand_core::OsRng;
use tokio::sync::{mpsc, oneshot, OnceCell};

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

    /// The cheapest cost argon2id allows (8 KiB, one pass), for tests only: a test suite that
    /// signs in thousands of times would otherwise spend minutes hashing. Never for stored
    /// passwords; `adam-server` cannot be configured with it.
    pub const TEST_ONLY: HashCost = HashCost {
        memory_kib: 8,
        iterations: 1,
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

/// Work for a hashing thread; it gets the thread's reusable memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Jobs that may wait for a hashing thread; beyond this, callers wait to enqueue.
const QUEUE: usize = 4096;

/// How long a hashing thread keeps its argon2 memory with no job to do: a burst of sign-ins
/// reuses it, and a few seconds after the burst it goes back to the system.
const RELEASE_AFTER_IDLE: Duration = Duration::from_secs(5);

/// Hashes and verifies passwords with argon2id.
///
/// Hashing runs on a fixed number of dedicated threads (about one per core), never on the async
/// workers. Each thread keeps one argon2 memory block and reuses it while jobs keep coming, so a
/// flood of logins queues instead of starving other requests, and memory stays at threads × cost
/// however long the flood lasts; an idle thread gives its block back. Clones share the threads;
/// they stop when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    cost: HashCost,
    queue_timeout: Duration,
    jobs: mpsc::Sender<Job>,
    dummy: Arc<OnceCell<String>>,
    /// How many hashing threads hold their argon2 memory now.
    holding: Arc<AtomicUsize>,
}

impl PasswordHasher {
    /// A hasher with the given cost and `threads` hashing threads (at least one).
    pub fn new(cost: HashCost, threads: usize) -> Result<Self> {
        Self::releasing_after(cost, threads, RELEASE_AFTER_IDLE)
    }

    /// [`PasswordHasher::new`] whose threads give their memory back after `idle` without a job.
    pub(crate) fn releasing_after(cost: HashCost, threads: usize, idle: Duration) -> Result<Self> {
        let blocks = cost.params()?.block_count();
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let holding = Arc::new(AtomicUsize::new(0));
        let cannot_start =
            |e: std::io::Error| Error::Internal(format!("cannot start a hashing thread: {e}"));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            let holding = Arc::clone(&holding);
            // A clock for the idle wait, the thread's own.
            let timer = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .map_err(cannot_start)?;
            std::thread::Builder::new()
                .name(format!("adam-argon2-{i}"))
                .spawn(move || {
                    yield_to_requests();
                    // Allocated on the first job, so an idle server does not hold it.
                    let mut memory: Vec<Block> = Vec::new();
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match rx.lock() {
                            Ok(mut rx) if memory.is_empty() => rx.blocking_recv(),
                            Ok(mut rx) => {
                                match timer
                                    .block_on(async { tokio::time::timeout(idle, rx.recv()).await })
                                {
                                    Ok(job) => job,
                                    Err(_) => {
                                        memory = Vec::new();
                                        holding.fetch_sub(1, Ordering::AcqRel);
                                        continue;
                                    }
                                }
                            }
                            Err(_) => None,
                        };
                        let Some(job) = job else { break };
                        if memory.len() < blocks {
                            if memory.is_empty() {
                                holding.fetch_add(1, Ordering::AcqRel);
                            }
                            memory.resize(blocks, Block::default());
                        }
                        job(&mut memory);
                    }
                })
                .map_err(cannot_start)?;
        }
        Ok(Self {
            cost,
            queue_timeout: Duration::from_secs(10),
            jobs: tx,
            dummy: Arc::new(OnceCell::new()),
            holding,
        })
    }

    /// How many hashing threads hold their argon2 memory now (each the cost's `memory_kib`):
    /// what the hasher adds to the process's memory at this moment.
    pub fn threads_holding_memory(&self) -> usize {
        self.holding.load(Ordering::Acquire)
    }

    /// The same hasher, with jobs that wait longer than `timeout` for a thread given up:
    /// [`Error::Busy`] instead of a password check that would come too late to be of use.
    #[must_use]
    pub fn with_queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = timeout;
        self
    }

    /// A hasher with OWASP cost and [`default_threads`] threads.
    pub fn with_default_cost() -> Result<Self> {
        Self::new(HashCost::OWASP, default_threads())
    }

    /// The cost new hashes are made with.
    pub fn cost(&self) -> HashCost {
        self.cost
    }

    /// Runs `job` on a hashing thread. A job that has not started by its deadline is given up
    /// ([`Error::Busy`], at the deadline); one that has started is awaited. A job whose caller
    /// stopped waiting (its client went away) is not run.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T> {
        const QUEUED: u8 = 0;
        const STARTED: u8 = 1;
        const GIVEN_UP: u8 = 2;
        let deadline = tokio::time::Instant::now() + self.queue_timeout;
        let busy = || Error::Busy {
            retry_after_secs: self.queue_timeout.as_secs().max(1),
        };
        let state = Arc::new(AtomicU8::new(QUEUED));
        let (tx, mut rx) = oneshot::channel();
        let job: Job = Box::new({
            let state = state.clone();
            move |memory| {
                let start =
                    state.compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire);
                if start.is_ok() && !tx.is_closed() {
                    let _ = tx.send(job(memory));
                }
            }
        });
        match tokio::time::timeout_at(deadline, self.jobs.send(job)).await {
            Err(_) => return Err(busy()),
            Ok(Err(_)) => return Err(Error::Internal("password hasher stopped".into())),
            Ok(Ok(())) => {}
        }
        let stopped = || Error::Internal("password hashing job failed".into());
        tokio::select! {
            done = &mut rx => done.map_err(|_| stopped()),
            () = tokio::time::sleep_until(deadline) => {
                if state.compare_exchange(QUEUED, GIVEN_UP, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                    return Err(busy());
                }
                // It started just in time: its answer is worth waiting for.
                rx.await.map_err(|_| stopped())
            }
        }
    }

    /// Hashes `password` into a PHC string (`$argon2id$v=19$m=…`).
    pub async fn hash(&self, password: &Password) -> Result<String> {
        self.hash_str(password.expose()).await
    }

    /// Hashes a password that was accepted before (re-hashing after sign-in).
    pub(crate) async fn hash_str(&self, password: &str) -> Result<String> {
        let secret = password.to_owned();
        let params = self.cost.params()?;
        self.run(move |memory| hash_with(&secret, params, memory))
            .await?
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
        self.run(move |memory| {
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return Verified {
                    matches: false,
                    needs_rehash: false,
                };
            };
            let matches = verify_with(&candidate, &parsed, memory).unwrap_or(false);
            let strong = parsed.algorithm.as_str() == "argon2id"
                && Params::try_from(&parsed).is_ok_and(|p| cost.is_met_by(&p));
            Verified {
                matches: matches && real,
                needs_rehash: matches && real && !strong,
            }
        })
        .await
    }

    /// Makes the dummy hash now (the engine calls this when it starts). It costs nothing: the
    /// dummy needs this hasher's parameters and a salt, not a computed hash, so no hashing thread
    /// takes its argon2 memory before the first sign-in.
    pub async fn warm_up(&self) -> Result<()> {
        self.dummy_hash().await.map(drop)
    }

    /// What an unknown email's password is checked against: a PHC string of this hasher's cost
    /// with a random salt and a random output, which no password matches (and whose match would
    /// be ignored). Checking it costs what checking a stored hash costs.
    async fn dummy_hash(&self) -> Result<&String> {
        self.dummy
            .get_or_try_init(|| async {
                let params = self.cost.params()?;
                let mut output = [0u8; 32];
                rand_core::RngCore::fill_bytes(&mut OsRng, &mut output);
                phc_string(&params, &SaltString::generate(&mut OsRng), &output)
            })
            .await
    }
}

/// How much lower than the server's other threads the hashing threads run, in `nice` steps.
/// The scheduler then gives a hashing thread about a tenth of a core that a request's thread
/// also wants (the weights of nice 0 and 10 are 1024 and 110), and the whole core when nothing
/// else wants it: a flood of sign-ins queues behind the requests that need no hash instead of
/// slowing them, and sign-ins run at full speed on an otherwise idle server.
pub const HASHING_NICENESS: i32 = 10;

/// Lowers the calling (hashing) thread's priority by [`HASHING_NICENESS`], within the range
/// an unprivileged process may set (up to 19). On Linux a thread's niceness is its own.
#[cfg(target_os = "linux")]
fn yield_to_requests() {
    use rustix::process::{getpriority_process, setpriority_process};
    let me = Some(rustix::thread::gettid());
    let now = getpriority_process(me).unwrap_or(0);
    if let Err(e) = setpriority_process(me, (now + HASHING_NICENESS).min(19)) {
        tracing::warn!(error = %e, "cannot lower the hashing thread's priority");
    }
}

/// Elsewhere the hashing threads run at the process's priority.
#[cfg(not(target_os = "linux"))]
fn yield_to_requests() {}

/// How many hashing threads a server runs by default: one fewer than the cores (at least one),
/// so that a flood of sign-ins leaves a core to the requests that need no hash (`HASH_THREADS`).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// Runs argon2 in `memory`, growing it only for a stored hash costlier than ours (and then only
/// for that call).
fn argon2_into(
    argon: &Argon2<'_>,
    params: &Params,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
    memory: &mut [Block],
) -> std::result::Result<(), argon2::Error> {
    let needed = params.block_count();
    if needed <= memory.len() {
        argon.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..needed])
    } else {
        let mut larger = vec![Block::default(); needed];
        argon.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut larger[..])
    }
}

fn hash_with(secret: &str, params: Params, memory: &mut [Block]) -> Result<String> {
    let internal = |e: &dyn std::fmt::Display| Error::Internal(format!("argon2: {e}"));
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| internal(&e))?;
    let mut out = [0u8; 32];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon2_into(&argon, &params, secret, salt_bytes, &mut out, memory).map_err(|e| internal(&e))?;
    phc_string(&params, &salt, &out)
}

/// The PHC string of an argon2id hash `output` made with `params` and `salt`.
fn phc_string(params: &Params, salt: &SaltString, output: &[u8]) -> Result<String> {
    let internal = |e: &dyn std::fmt::Display| Error::Internal(format!("argon2: {e}"));
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| internal(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(output).map_err(|e| internal(&e))?),
    };
    Ok(phc.to_string())
}

fn verify_with(candidate: &str, parsed: &PasswordHash<'_>, memory: &mut [Block]) -> Option<bool> {
    let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
    let version = parsed
        .version
        .map_or(Some(Version::V0x13), |v| Version::try_from(v).ok())?;
    let params = Params::try_from(parsed).ok()?;
    let expected = parsed.hash?;
    let mut salt_buf = [0u8; 64];
    let salt = parsed.salt?.decode_b64(&mut salt_buf).ok()?;
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    argon2_into(&argon, &params, candidate, salt, &mut out, memory).ok()?;
    // `Output` compares in constant time.
    Some(Output::new(&out).ok()? == expected)
}

/// Byte-wise equality without an early exit (codes, secrets' digests).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::PasswordPolicy;

    fn pw(s: &str) -> Password {
        PasswordPolicy::default().check(s.into()).unwrap()
    }

    #[tokio::test]
    async fn the_dummy_hash_costs_what_a_stored_hash_costs_and_nothing_matches_it() {
        let h = PasswordHasher::with_default_cost().unwrap();
        let dummy = h.dummy_hash().await.unwrap().clone();
        let parsed = PasswordHash::new(&dummy).unwrap();
        assert_eq!(parsed.algorithm, argon2::ARGON2ID_IDENT);
        assert!(HashCost::OWASP.is_met_by(&Params::try_from(&parsed).unwrap()));
        let stored = h.hash(&pw("correct horse battery")).await.unwrap();
        assert_eq!(
            PasswordHash::new(&stored).unwrap().params,
            parsed.params,
            "the same parameters, so the same work"
        );
        let v = h.verify("correct horse battery", None).await.unwrap();
        assert!(!v.matches && !v.needs_rehash);
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_cost_and_verify() {
        let h = PasswordHasher::with_default_cost().unwrap();
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
        let h = PasswordHasher::with_default_cost().unwrap();
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
        let h = PasswordHasher::with_default_cost().unwrap();
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
    async fn hashes_interoperate_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let h = PasswordHasher::with_default_cost().unwrap();
        let ours = h.hash(&pw("Tr0ub4dor&3xyz")).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"Tr0ub4dor&3xyz", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"Tr0ub4dor&3xyZ", &parsed)
            .is_err());
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(
            h.verify("correct horse", Some(&theirs))
                .await
                .unwrap()
                .matches
        );
        assert!(
            !h.verify("correct horsE", Some(&theirs))
                .await
                .unwrap()
                .matches
        );
    }

    #[tokio::test]
    async fn many_concurrent_jobs_all_complete() {
        let h = PasswordHasher::new(
            HashCost {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            2,
        )
        .unwrap();
        let phc = h.hash(&pw("Tr0ub4dor&3xyz")).await.unwrap();
        let jobs: Vec<_> = (0..64)
            .map(|i| {
                let h = h.clone();
                let phc = phc.clone();
                tokio::spawn(async move {
                    let candidate = if i % 2 == 0 { "Tr0ub4dor&3xyz" } else { "nope" };
                    h.verify(candidate, Some(&phc)).await.unwrap().matches == (i % 2 == 0)
                })
            })
            .collect();
        for j in jobs {
            assert!(j.await.unwrap());
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_below_the_other_threads() {
        use rustix::process::getpriority_process;
        let hasher = PasswordHasher::new(HashCost::OWASP, 1).unwrap();
        let ours = getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let theirs = hasher
            .run(|_| getpriority_process(Some(rustix::thread::gettid())))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(theirs, (ours + HASHING_NICENESS).min(19));
    }

    #[tokio::test]
    async fn a_hashing_thread_keeps_its_memory_while_busy_and_gives_it_back_when_idle() {
        let keeping =
            PasswordHasher::releasing_after(HashCost::OWASP, 1, Duration::from_secs(3600)).unwrap();
        assert_eq!(
            keeping.threads_holding_memory(),
            0,
            "nothing before the first job"
        );
        keeping.hash_str("correct horse").await.unwrap();
        assert_eq!(keeping.threads_holding_memory(), 1);

        let releasing =
            PasswordHasher::releasing_after(HashCost::OWASP, 1, Duration::ZERO).unwrap();
        releasing.hash_str("correct horse").await.unwrap();
        let mut spins = 0u64;
        while releasing.threads_holding_memory() != 0 {
            spins += 1;
            assert!(spins < 50_000_000, "the idle thread kept its memory");
            std::thread::yield_now();
        }
    }

    #[tokio::test]
    async fn garbage_hash_is_a_mismatch_not_a_panic() {
        let h = PasswordHasher::with_default_cost().unwrap();
        assert!(
            !h.verify("whatever", Some("not a phc"))
                .await
                .unwrap()
                .matches
        );
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_check_that_cannot_start_in_time_is_given_up_at_its_deadline() {
        // One thread, busy for seconds with a costly hash: at 60 iterations a fast core finished
        // it within the 500 ms this test relies on (seen in CI), at 240 it takes 2 s or more.
        let slow = HashCost {
            memory_kib: 19 * 1024,
            iterations: 240,
            parallelism: 1,
        };
        let patient = PasswordHasher::new(slow, 1)
            .unwrap()
            .with_queue_timeout(Duration::from_secs(600));
        let hurried = patient
            .clone()
            .with_queue_timeout(Duration::from_millis(200));
        let first = tokio::spawn({
            let h = patient.clone();
            async move { h.hash_str("the first password").await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let waited = hurried.verify("a guess", None).await;
        assert!(
            matches!(
                waited,
                Err(Error::Busy {
                    retry_after_secs: 1
                })
            ),
            "{waited:?}"
        );
        assert!(
            !first.is_finished(),
            "the answer came at the deadline, not when the thread was free"
        );
        // The check that had started completes.
        assert!(first.await.unwrap().unwrap().starts_with("$argon2id$"));
    }
}
