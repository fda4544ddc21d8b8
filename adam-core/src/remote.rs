//! Checking tokens from another process, over HTTP: against the published key set
//! ([`JwksVerifier`], feature `jwks`) or by asking the server ([`IntrospectionClient`], feature
//! `introspection`).

#[cfg(feature = "jwks")]
pub use jwks::{JwksOptions, JwksVerifier};

#[cfg(feature = "introspection")]
pub use introspection::IntrospectionClient;

/// The HTTP client both use: rustls, a short timeout, no redirects (a key set or an answer must
/// come from the address configured, nowhere else).
fn client() -> crate::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| crate::Error::Config(format!("cannot build an HTTP client: {e}")))
}

#[cfg(feature = "jwks")]
mod jwks {
    use std::sync::{Arc, RwLock};
    use std::time::{Duration, Instant};

    use crate::caller::Caller;
    use crate::check::CheckCaller;
    use crate::error::{Error, Result};
    use crate::jwk::JwkSet;
    use crate::tokens::{AccessTokenVerifier, TokenAudience};

    /// How a [`JwksVerifier`] fetches and keeps keys.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct JwksOptions {
        /// Least time between two fetches caused by tokens naming an unknown `kid` (30 s): a
        /// flood of forged `kid`s costs the issuer one request per this time.
        pub min_refetch_interval: Duration,
        /// How long the keys are used without asking again, when the answer names no
        /// `max-age` (300 s).
        pub default_max_age: Duration,
        /// How long the last keys fetched keep serving while every refetch fails (1 h). Past it,
        /// checks fail with [`Error::Unavailable`] rather than trust keys that may have been
        /// revoked.
        pub max_stale: Duration,
    }

    impl Default for JwksOptions {
        fn default() -> Self {
            Self {
                min_refetch_interval: Duration::from_secs(30),
                default_max_age: Duration::from_secs(300),
                max_stale: Duration::from_secs(3600),
            }
        }
    }

    #[derive(Default)]
    struct Cached {
        verifier: Option<AccessTokenVerifier>,
        /// When the keys were last fetched successfully, and for how long they are fresh.
        fetched: Option<(Instant, Duration)>,
        /// When a fetch was last attempted.
        attempted: Option<Instant>,
    }

    struct Inner {
        client: reqwest::Client,
        url: String,
        names: TokenAudience,
        options: JwksOptions,
        cached: RwLock<Cached>,
        fetching: tokio::sync::Mutex<()>,
    }

    /// Checks Adam's access tokens offline against the server's published keys, fetched and
    /// cached: refetched when they are older than the answer's `max-age`, and on a token naming an
    /// unknown `kid` (at most every [`JwksOptions::min_refetch_interval`]). While a refetch
    /// fails, the cached keys keep serving up to [`JwksOptions::max_stale`].
    ///
    /// Needs only the server's public URL; a revoked session's tokens pass until they expire
    /// (use [`crate::Adam`] or the introspection client where that matters). Cheap to clone.
    ///
    /// ```no_run
    /// # async fn f() -> adam_core::Result<()> {
    /// use adam_core::remote::JwksVerifier;
    /// let verifier = JwksVerifier::new("https://auth.example.com")?;
    /// let caller = verifier.verify("eyJ…").await?;
    /// println!("{} ({:?})", caller.user_id(), caller.role());
    /// # Ok(()) }
    /// ```
    #[derive(Clone)]
    pub struct JwksVerifier(Arc<Inner>);

    impl std::fmt::Debug for JwksVerifier {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("JwksVerifier")
                .field("url", &self.0.url)
                .field("names", &self.0.names)
                .finish_non_exhaustive()
        }
    }

    impl JwksVerifier {
        /// Tokens issued by the Adam server at `issuer` (its `PUBLIC_URL`), checked against
        /// `{issuer}/.well-known/jwks.json`.
        pub fn new(issuer: &str) -> Result<Self> {
            Self::with_options(issuer, JwksOptions::default())
        }

        /// [`JwksVerifier::new`] with other fetching options.
        pub fn with_options(issuer: &str, options: JwksOptions) -> Result<Self> {
            let names = TokenAudience::of_issuer(issuer);
            Ok(Self(Arc::new(Inner {
                client: super::client()?,
                url: format!("{}/.well-known/jwks.json", names.issuer),
                names,
                options,
                cached: RwLock::new(Cached::default()),
                fetching: tokio::sync::Mutex::new(()),
            })))
        }

        /// The caller `token` speaks for.
        pub async fn verify(&self, token: &str) -> Result<Caller> {
            let (verifier, fresh) = self.keys().await?;
            match verifier.verify(token) {
                Err(Error::Unauthorized(_)) if !fresh => {
                    let kid = AccessTokenVerifier::kid_of(token);
                    if kid.is_some_and(|k| !verifier.knows(&k)) && self.may_refetch() {
                        self.refetch().await;
                        let (verifier, _) = self.keys().await?;
                        return verifier.verify(token);
                    }
                    verifier.verify(token)
                }
                other => other,
            }
        }

        fn may_refetch(&self) -> bool {
            let Ok(c) = self.0.cached.read() else {
                return false;
            };
            c.attempted
                .is_none_or(|t| t.elapsed() >= self.0.options.min_refetch_interval)
        }

        /// The verifier of the cached keys (fetched first when missing or past their
        /// `max-age`), and whether it was fetched just now.
        async fn keys(&self) -> Result<(AccessTokenVerifier, bool)> {
            let (usable, expired) = {
                let c = self
                    .0
                    .cached
                    .read()
                    .map_err(|_| Error::Internal("poisoned".into()))?;
                let expired = c.fetched.is_none_or(|(at, age)| at.elapsed() >= age);
                let usable = c.verifier.clone().filter(|_| {
                    c.fetched
                        .is_some_and(|(at, _)| at.elapsed() < self.0.options.max_stale)
                });
                (usable, expired)
            };
            if let (Some(v), false) = (&usable, expired) {
                return Ok((v.clone(), false));
            }
            if (usable.is_none() || self.may_refetch()) && self.refetch().await {
                let c = self
                    .0
                    .cached
                    .read()
                    .map_err(|_| Error::Internal("poisoned".into()))?;
                if let Some(v) = c.verifier.clone() {
                    return Ok((v, true));
                }
            }
            usable.map(|v| (v, false)).ok_or_else(|| {
                Error::Unavailable(format!("the key set at {} cannot be fetched", self.0.url))
            })
        }

        /// Fetches the key set once (concurrent callers share one fetch); true when it
        /// succeeded. A failure keeps the cached keys.
        async fn refetch(&self) -> bool {
            let before = self.0.cached.read().ok().and_then(|c| c.attempted);
            let _one = self.0.fetching.lock().await;
            // Someone else fetched while we waited.
            let now_attempted = self.0.cached.read().ok().and_then(|c| c.attempted);
            if now_attempted != before {
                return self
                    .0
                    .cached
                    .read()
                    .ok()
                    .and_then(|c| c.fetched)
                    .is_some_and(|(at, _)| Some(at) >= now_attempted);
            }
            let started = Instant::now();
            let fetched = self.fetch().await;
            let Ok(mut c) = self.0.cached.write() else {
                return false;
            };
            c.attempted = Some(started);
            match fetched {
                Ok((set, age)) => {
                    c.verifier = Some(AccessTokenVerifier::new(&set, self.0.names.clone()));
                    c.fetched = Some((started, age));
                    true
                }
                Err(e) => {
                    tracing::warn!(url = %self.0.url, error = %e, "fetching the key set failed");
                    false
                }
            }
        }

        async fn fetch(&self) -> Result<(JwkSet, Duration)> {
            let unavailable = |e: reqwest::Error| Error::Unavailable(e.without_url().to_string());
            let resp = self
                .0
                .client
                .get(&self.0.url)
                .send()
                .await
                .map_err(unavailable)?
                .error_for_status()
                .map_err(unavailable)?;
            let age = resp
                .headers()
                .get(reqwest::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .and_then(max_age)
                .map(|s| Duration::from_secs(s.clamp(30, 3600)))
                .unwrap_or(self.0.options.default_max_age);
            if resp.content_length().is_some_and(|l| l > 1 << 20) {
                return Err(Error::Unavailable("the key set is too large".into()));
            }
            let set = resp.json::<JwkSet>().await.map_err(unavailable)?;
            Ok((set, age))
        }
    }

    /// The `max-age` of a `Cache-Control` value, in seconds.
    fn max_age(v: &str) -> Option<u64> {
        v.split(',')
            .filter_map(|d| d.trim().strip_prefix("max-age="))
            .find_map(|n| n.trim().parse().ok())
    }

    impl CheckCaller for JwksVerifier {
        async fn check(&self, token: &str) -> Result<Caller> {
            self.verify(token).await
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn max_age_is_read_from_cache_control() {
            assert_eq!(super::max_age("public, max-age=300"), Some(300));
            assert_eq!(super::max_age("max-age=60"), Some(60));
            assert_eq!(super::max_age("no-store"), None);
        }
    }
}

#[cfg(feature = "introspection")]
mod introspection {
    use serde::Deserialize;
    use uuid::Uuid;

    use crate::caller::{Amr, Caller};
    use crate::check::CheckCaller;
    use crate::error::{Error, Result};
    use crate::ids::{DealershipId, SessionId, UserId};
    use crate::placement::Placement;
    use crate::role::Role;
    use crate::tokens::TokenAudience;

    /// Checks a token by asking the Adam server (`POST /api/v1/auth/introspect`, RFC 7662):
    /// one HTTP call per check, and a revoked session is refused at once.
    ///
    /// ```no_run
    /// # async fn f() -> adam_core::Result<()> {
    /// use adam_core::remote::IntrospectionClient;
    /// let client = IntrospectionClient::new("https://auth.example.com")?;
    /// let caller = client.verify("eyJ…").await?;
    /// # Ok(()) }
    /// ```
    #[derive(Debug, Clone)]
    pub struct IntrospectionClient {
        client: reqwest::Client,
        endpoint: String,
        names: TokenAudience,
    }

    #[derive(Deserialize)]
    struct Answer {
        active: bool,
        sub: Option<Uuid>,
        role: Option<Role>,
        dealership_id: Option<Uuid>,
        sid: Option<Uuid>,
        amr: Option<Amr>,
        exp: Option<i64>,
        iss: Option<String>,
        aud: Option<String>,
    }

    impl IntrospectionClient {
        /// Asks the Adam server at `issuer` (its `PUBLIC_URL`).
        pub fn new(issuer: &str) -> Result<Self> {
            let names = TokenAudience::of_issuer(issuer);
            Ok(Self {
                client: super::client()?,
                endpoint: format!("{}/api/v1/auth/introspect", names.issuer),
                names,
            })
        }

        /// The caller `token` speaks for, if the server says it is live.
        pub async fn verify(&self, token: &str) -> Result<Caller> {
            let unavailable = |e: reqwest::Error| Error::Unavailable(e.without_url().to_string());
            let answer: Answer = self
                .client
                .post(&self.endpoint)
                .json(&serde_json::json!({ "token": token }))
                .send()
                .await
                .map_err(unavailable)?
                .error_for_status()
                .map_err(unavailable)?
                .json()
                .await
                .map_err(unavailable)?;
            let inactive = || Error::unauthorized("token is not active");
            if !answer.active
                || answer.iss.as_deref() != Some(self.names.issuer.as_str())
                || answer.aud.as_deref() != Some(self.names.audience.as_str())
            {
                return Err(inactive());
            }
            let (Some(sub), Some(role), Some(sid), Some(amr), Some(exp)) =
                (answer.sub, answer.role, answer.sid, answer.amr, answer.exp)
            else {
                return Err(inactive());
            };
            let placement = Placement::new(role, answer.dealership_id.map(DealershipId::from))
                .map_err(|_| inactive())?;
            Ok(Caller::new(
                UserId::from(sub),
                placement,
                SessionId::from(sid),
                amr,
                exp,
            ))
        }
    }

    impl CheckCaller for IntrospectionClient {
        async fn check(&self, token: &str) -> Result<Caller> {
            self.verify(token).await
        }
    }
}
