//! Configuration from the environment (and `.env`), validated once at start-up: read by serde
//! ([`env::Env`]), then checked across variables here.

mod env;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use adam_core::hashing::HashCost;
use adam_core::settings::LoginThrottle;
use adam_core::tokens::TokenAudience;
use adam_core::{Engine, PasswordPolicy, SecretKey, Settings, StoreOptions};

use crate::client::TrustedProxies;
use crate::listen::ConnectionLimits;
use env::{whole, Env, Origins, PublicUrl, Roles, RpId, SqlIdentifier, Var};

/// A configuration value that stops start-up; its `Display` is the one line the user sees.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    /// The variable at fault.
    pub variable: String,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        reason: reason.into(),
    }
}

/// Where the token signing key comes from.
#[derive(Clone)]
pub enum SecretSource {
    /// `SECRET_KEY` was given.
    Given(String),
    /// Not given: kept in (or generated into) this file beside the SQLite database.
    File(PathBuf),
    /// Not given, in-memory SQLite: a fresh key for this process only.
    Ephemeral,
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Given(_) => f.write_str("Given(<redacted>)"),
            Self::File(p) => write!(f, "File({})", p.display()),
            Self::Ephemeral => f.write_str("Ephemeral"),
        }
    }
}

/// Everything `adam-server` reads from its environment. Its `Debug` hides the database
/// password and the secret key.
#[derive(Clone)]
pub struct Config {
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `SECRET_KEY`, or where to keep a generated one.
    pub secret: SecretSource,
    /// `SECRET_KEY_PREVIOUS`: the former `SECRET_KEY`, whose sealed keys are sealed again.
    pub secret_previous: Option<String>,
    /// `PUBLIC_URL`, without a trailing `/`; `None` (SQLite only): `http://HOST:PORT`, with the
    /// port actually bound.
    pub public_url: Option<String>,
    /// `SIGNING_KEY_ROTATION_DAYS` (0: never).
    pub signing_key_rotation_days: i64,
    /// `HOST`.
    pub host: IpAddr,
    /// `PORT`.
    pub port: u16,
    /// `ACCESS_TOKEN_EXPIRE_MINUTES`.
    pub access_token_expire_minutes: i64,
    /// `REFRESH_TOKEN_EXPIRE_DAYS`: how long an unused session lives.
    pub refresh_token_expire_days: i64,
    /// `SESSION_MAX_MINUTES`: how long any session lives, however active.
    pub session_max_minutes: i64,
    /// `AUDIT_RETENTION_DAYS`: audit events older than this are deleted (once a day).
    pub audit_retention_days: i64,
    /// `INACTIVE_USER_DAYS`: users who have not signed in for this many days are deactivated
    /// (once a day); 0 is off.
    pub inactive_user_days: i64,
    /// `BACKEND_CORS_ORIGINS`.
    pub cors_origins: Vec<String>,
    /// `WEBAUTHN_RP_ID`; `None`: the host of the public URL, where that is a name.
    pub webauthn_rp_id: Option<String>,
    /// `PASSWORD_MIN_LENGTH`.
    pub password_min_length: usize,
    /// `DEBUG`.
    pub debug: bool,
    /// `DATABASE_APP_ROLE`: the PostgreSQL role ordinary requests run as.
    pub database_app_role: String,
    /// `LOGIN_MAX_FAILURES`: failures per account and client address within the window.
    pub login_max_failures: u32,
    /// `LOGIN_FAILURE_WINDOW_MINUTES`.
    pub login_failure_window_minutes: i64,
    /// `LOGIN_MAX_FAILURES_PER_IP`: failures per client address within the window.
    pub login_max_failures_per_ip: u32,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// `REFRESH_REUSE_GRACE_SECONDS`.
    pub refresh_reuse_grace_seconds: i64,
    /// `MAX_CONNECTIONS`, `MAX_CONNECTIONS_PER_ADDRESS`, `HEADER_READ_TIMEOUT_SECONDS`,
    /// `REQUEST_TIMEOUT_SECONDS`, `IDLE_TIMEOUT_SECONDS`.
    pub connections: ConnectionLimits,
    /// `HASH_QUEUE_TIMEOUT_SECONDS`: longest wait for a password check before 503.
    pub hash_queue_timeout: Duration,
    /// `HASH_THREADS`: password hashes computed at once (default: one fewer than the cores).
    pub hash_threads: usize,
    /// `MFA_REQUIRED_ROLES`: roles that must sign in with a second factor everywhere.
    pub mfa_required_roles: Vec<adam_core::Role>,
    /// How often the signing keys are read again ([`adam_core::keyring::RELOAD_EVERY`]; not
    /// read from the environment: tests shorten it).
    pub key_reload: Duration,
    /// Where the engine reads the time (the system clock; not read from the environment: tests
    /// move a [`adam_core::TestClock`] instead of sleeping).
    pub clock: adam_core::Clock,
    /// Argon2id cost of new password hashes ([`HashCost::OWASP`]; not read from the
    /// environment: tests use [`HashCost::TEST_ONLY`]).
    pub hash_cost: HashCost,
    /// `SMTP_URL`: where mail goes; none, no mail is sent.
    pub smtp: Option<crate::mail::SmtpUrl>,
    /// `MAIL_FROM`, if given (otherwise [`Config::mail_from`] derives it from the public URL).
    pub mail_from: Option<lettre::message::Mailbox>,
    /// `INVITATION_EXPIRE_HOURS`.
    pub invitation_expire_hours: i64,
    /// `PASSWORD_RESET_EXPIRE_MINUTES`.
    pub password_reset_expire_minutes: i64,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url_password(&self.database_url))
            .field("database_app_role", &self.database_app_role)
            .field("secret", &self.secret)
            .field(
                "secret_previous",
                &self.secret_previous.as_ref().map(|_| "<redacted>"),
            )
            .field("public_url", &self.public_url)
            .field("signing_key_rotation_days", &self.signing_key_rotation_days)
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "access_token_expire_minutes",
                &self.access_token_expire_minutes,
            )
            .field("refresh_token_expire_days", &self.refresh_token_expire_days)
            .field("session_max_minutes", &self.session_max_minutes)
            .field("audit_retention_days", &self.audit_retention_days)
            .field("inactive_user_days", &self.inactive_user_days)
            .field("mfa_required_roles", &self.mfa_required_roles)
            .field("cors_origins", &self.cors_origins)
            .field("password_min_length", &self.password_min_length)
            .field("debug", &self.debug)
            .field("login_max_failures", &self.login_max_failures)
            .field(
                "login_failure_window_minutes",
                &self.login_failure_window_minutes,
            )
            .field("login_max_failures_per_ip", &self.login_max_failures_per_ip)
            .field("trusted_proxies", &self.trusted_proxies)
            .field(
                "refresh_reuse_grace_seconds",
                &self.refresh_reuse_grace_seconds,
            )
            .field("connections", &self.connections)
            .field("hash_queue_timeout", &self.hash_queue_timeout)
            .field("hash_threads", &self.hash_threads)
            .field("key_reload", &self.key_reload)
            .field("clock", &self.clock)
            .field("hash_cost", &self.hash_cost)
            .field("smtp", &self.smtp)
            .field("mail_from", &self.mail_from)
            .field("invitation_expire_hours", &self.invitation_expire_hours)
            .field(
                "password_reset_expire_minutes",
                &self.password_reset_expire_minutes,
            )
            .finish()
    }
}

/// `scheme://user:***@host/…` for `scheme://user:password@host/…`; other URLs as they are.
fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl Config {
    /// Reads the process environment (variables whose name or value is not UTF-8 are not
    /// Adam's).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Reads configuration from `vars` (name, value): the environment, or a list in tests.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env = Env::read(vars)?;
        let debug = env.debug.is_some_and(|Var(d)| d);
        let database_url = env
            .database_url
            .map_or_else(|| "sqlite://adam.db".to_owned(), |Var(u)| u);
        let engine = Engine::of_url(&database_url).map_err(|_| {
            bad(
                "DATABASE_URL",
                "must start with postgres://, postgresql:// or sqlite:",
            )
        })?;
        if engine == Engine::Postgres {
            url_host_check(&database_url)?;
        }
        let long_enough = |variable: &'static str, key: String| {
            if key.len() < adam_core::MIN_SECRET_LEN && !debug {
                Err(bad(
                    variable,
                    "must be at least 32 bytes (a shorter key is allowed only with DEBUG=true)",
                ))
            } else {
                Ok(key)
            }
        };
        let secret = match env.secret_key {
            Some(Var(key)) => SecretSource::Given(long_enough("SECRET_KEY", key)?),
            None => match engine {
                Engine::Postgres => {
                    return Err(bad(
                        "SECRET_KEY",
                        "is required with PostgreSQL, so that every server shares it",
                    ))
                }
                Engine::Sqlite => match sqlite_path(&database_url) {
                    Some(db) => SecretSource::File(key_path_beside(&db)),
                    None => SecretSource::Ephemeral,
                },
            },
        };
        let secret_previous = env
            .secret_key_previous
            .map(|Var(key)| long_enough("SECRET_KEY_PREVIOUS", key))
            .transpose()?;
        let public_url = match env.public_url {
            Some(Var(PublicUrl(u))) => Some(u),
            None if engine == Engine::Postgres => {
                return Err(bad(
                    "PUBLIC_URL",
                    "is required with PostgreSQL, so that every server on the database names \
                     the same issuer (for example https://auth.example.com)",
                ))
            }
            None => None,
        };
        let seconds = |n: i64| Duration::from_secs(n.unsigned_abs());
        Ok(Self {
            smtp: env.smtp_url.map(|Var(s)| s),
            mail_from: env.mail_from.map(|Var(m)| m),
            invitation_expire_hours: whole(&env.invitation_expire_hours, 72),
            password_reset_expire_minutes: whole(&env.password_reset_expire_minutes, 30),
            mfa_required_roles: env
                .mfa_required_roles
                .map(|Var(Roles(r))| r)
                .unwrap_or_default(),
            secret_previous,
            public_url,
            signing_key_rotation_days: whole(&env.signing_key_rotation_days, 30),
            connections: ConnectionLimits {
                max_connections: whole(&env.max_connections, 4096).unsigned_abs() as usize,
                max_per_address: whole(&env.max_connections_per_address, 256).unsigned_abs()
                    as usize,
                request_timeout: seconds(whole(&env.request_timeout_seconds, 30)),
                header_read_timeout: seconds(whole(&env.header_read_timeout_seconds, 10)),
                idle_timeout: seconds(whole(&env.idle_timeout_seconds, 60)),
            },
            hash_queue_timeout: seconds(whole(&env.hash_queue_timeout_seconds, 10)),
            hash_threads: whole(
                &env.hash_threads,
                adam_core::hashing::default_threads() as i64,
            )
            .unsigned_abs() as usize,
            key_reload: adam_core::keyring::RELOAD_EVERY,
            clock: adam_core::Clock::system(),
            hash_cost: HashCost::OWASP,
            database_url,
            database_app_role: env.database_app_role.map_or_else(
                || StoreOptions::default().app_role,
                |Var(SqlIdentifier(r))| r,
            ),
            refresh_reuse_grace_seconds: whole(&env.refresh_reuse_grace_seconds, 10),
            login_max_failures: whole(&env.login_max_failures, 10).unsigned_abs() as u32,
            login_failure_window_minutes: whole(&env.login_failure_window_minutes, 15),
            login_max_failures_per_ip: whole(&env.login_max_failures_per_ip, 100).unsigned_abs()
                as u32,
            trusted_proxies: env.trusted_proxies.map(|Var(t)| t).unwrap_or_default(),
            secret,
            host: env.host.map_or(IpAddr::from([127, 0, 0, 1]), |Var(h)| h),
            port: env.port.map_or(8000, |Var(p)| p),
            access_token_expire_minutes: whole(&env.access_token_expire_minutes, 30),
            refresh_token_expire_days: whole(&env.refresh_token_expire_days, 7),
            session_max_minutes: whole(&env.session_max_minutes, 1440),
            audit_retention_days: whole(&env.audit_retention_days, 365),
            inactive_user_days: whole(&env.inactive_user_days, 0),
            webauthn_rp_id: env.webauthn_rp_id.map(|Var(RpId(id))| id),
            cors_origins: env
                .backend_cors_origins
                .map(|Var(Origins(o))| o)
                .unwrap_or_default(),
            password_min_length: whole(
                &env.password_min_length,
                PasswordPolicy::MIN_LEN_FLOOR as i64,
            )
            .unsigned_abs() as usize,
            debug,
        })
    }

    /// The engine settings this configuration asks for.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let password_policy = PasswordPolicy::new(self.password_min_length)
            .map_err(|e| bad("PASSWORD_MIN_LENGTH", e.to_string()))?;
        Ok(Settings {
            access_token_ttl: chrono::Duration::minutes(self.access_token_expire_minutes),
            refresh_token_ttl: chrono::Duration::days(self.refresh_token_expire_days),
            session_max: chrono::Duration::minutes(self.session_max_minutes),
            audit_retention: chrono::Duration::days(self.audit_retention_days),
            inactive_after: (self.inactive_user_days > 0)
                .then(|| chrono::Duration::days(self.inactive_user_days)),
            password_policy,
            refresh_reuse_grace: chrono::Duration::seconds(self.refresh_reuse_grace_seconds),
            hash_queue_timeout: self.hash_queue_timeout,
            hash_concurrency: self.hash_threads,
            key_reload: self.key_reload,
            login_throttle: LoginThrottle {
                max_failures: self.login_max_failures,
                window: chrono::Duration::minutes(self.login_failure_window_minutes),
                max_failures_per_address: self.login_max_failures_per_ip,
            },
            store: StoreOptions {
                app_role: self.database_app_role.clone(),
                ..StoreOptions::default()
            },
            token_audience: TokenAudience::of_issuer(&self.issuer()),
            mfa_required_roles: self.mfa_required_roles.clone(),
            clock: self.clock.clone(),
            hash_cost: self.hash_cost,
            key_rotation: (self.signing_key_rotation_days > 0)
                .then(|| chrono::Duration::days(self.signing_key_rotation_days)),
            mail_enabled: self.smtp.is_some(),
            invitation_ttl: chrono::Duration::hours(self.invitation_expire_hours),
            password_reset_ttl: chrono::Duration::minutes(self.password_reset_expire_minutes),
            passkeys: self.relying_party()?,
            ..Settings::default()
        })
    }

    /// Where passkeys work: `WEBAUTHN_RP_ID` (else the public URL's host, if it is a name: an
    /// IP address turns passkeys off), with the public URL's origin and those of
    /// `BACKEND_CORS_ORIGINS` on its domain.
    pub fn relying_party(&self) -> Result<Option<adam_core::RelyingParty>, ConfigError> {
        let issuer = self.issuer();
        let Some(own) = adam_core::RelyingParty::of_public_url(&issuer, "Adam") else {
            return match &self.webauthn_rp_id {
                None => Ok(None),
                Some(id) => Err(bad(
                    "WEBAUTHN_RP_ID",
                    format!("{id:?} cannot serve {issuer}: its host is an IP address"),
                )),
            };
        };
        let mut party = own;
        if let Some(id) = &self.webauthn_rp_id {
            party.id = id.clone();
            if !party.covers(&issuer) {
                return Err(bad(
                    "WEBAUTHN_RP_ID",
                    format!("{id:?} is not the domain of PUBLIC_URL ({issuer}) or one above it"),
                ));
            }
        }
        for origin in &self.cors_origins {
            if party.covers(origin) && !party.origins.contains(origin) {
                party.origins.push(origin.clone());
            }
        }
        Ok(Some(party))
    }

    /// The server's address as clients see it (the tokens' `iss`): `PUBLIC_URL`, or
    /// `http://HOST:PORT` (the loopback address when `HOST` is unspecified).
    pub fn issuer(&self) -> String {
        match &self.public_url {
            Some(u) => u.clone(),
            None => {
                let host = if self.host.is_unspecified() {
                    IpAddr::from([127, 0, 0, 1])
                } else {
                    self.host
                };
                format!("http://{}", std::net::SocketAddr::new(host, self.port))
            }
        }
    }

    /// The sender of every mail: `MAIL_FROM`, or `Adam <no-reply@HOST>` with the host of the
    /// public URL (`localhost` when that is an IP address).
    pub fn mail_from(&self) -> Result<lettre::message::Mailbox, ConfigError> {
        if let Some(from) = &self.mail_from {
            return Ok(from.clone());
        }
        let issuer = self.issuer();
        let host = url::Url::parse(&issuer)
            .ok()
            .and_then(|u| u.host().map(|h| h.to_owned()))
            .ok_or_else(|| bad("PUBLIC_URL", "names no host for the sender of mail"))?;
        // An address literal (`no-reply@[127.0.0.1]`) is valid SMTP but refused by many
        // servers and by lettre: a server known only by its address sends as `localhost`.
        let domain = match host {
            url::Host::Domain(d) => d,
            url::Host::Ipv4(_) | url::Host::Ipv6(_) => "localhost".to_owned(),
        };
        format!("Adam <no-reply@{domain}>").parse().map_err(|e| {
            bad(
                "MAIL_FROM",
                format!("cannot be made from PUBLIC_URL ({e}): set it"),
            )
        })
    }

    /// What the mail sender needs, when `SMTP_URL` is set.
    pub fn mail(&self) -> Result<Option<crate::mail::MailSettings>, ConfigError> {
        let Some(smtp) = &self.smtp else {
            return Ok(None);
        };
        Ok(Some(crate::mail::MailSettings {
            smtp: smtp.clone(),
            from: self.mail_from()?,
        }))
    }

    /// The secret key (with the former one, if given): given, read from its file, or generated
    /// into it (0600) on first start.
    pub fn secret_key(&self) -> Result<SecretKey, ConfigError> {
        let make = |variable: &'static str, bytes: &[u8]| {
            if self.debug {
                SecretKey::allow_short(bytes)
            } else {
                SecretKey::new(bytes)
            }
            .map_err(|e| bad(variable, e.to_string()))
        };
        let key = match &self.secret {
            SecretSource::Given(key) => make("SECRET_KEY", key.as_bytes())?,
            SecretSource::Ephemeral => {
                tracing::warn!(
                    "SECRET_KEY is not set: using a key for this process only (in-memory database)"
                );
                make("SECRET_KEY", generate_secret().as_bytes())?
            }
            SecretSource::File(path) => make("SECRET_KEY", load_or_create_key(path)?.as_bytes())?,
        };
        Ok(match &self.secret_previous {
            Some(previous) => key.with_previous(make("SECRET_KEY_PREVIOUS", previous.as_bytes())?),
            None => key,
        })
    }
}

fn url_host_check(url: &str) -> Result<(), ConfigError> {
    // `postgres://` followed by something: the driver reports finer errors when it connects.
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or_default();
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(bad("DATABASE_URL", "is not a valid PostgreSQL URL"));
    }
    Ok(())
}

/// The file path of a SQLite URL, or `None` for an in-memory database.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

fn key_path_beside(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".secret_key");
    db.with_file_name(name)
}

fn generate_secret() -> String {
    use rand_core::RngCore;
    let mut bytes = [0u8; 48];
    rand_core::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Warns when the key file can be read by the group or others: whoever reads it can sign in as
/// anyone.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    "the key file {} is readable by others (mode {mode:o}); run chmod 600 on it",
                    path.display()
                );
            }
        }
    }
}

fn load_or_create_key(path: &Path) -> Result<String, ConfigError> {
    use std::io::Write;
    match std::fs::read_to_string(path) {
        Ok(k) if !k.trim().is_empty() => {
            warn_if_shared(path);
            return Ok(k.trim().to_owned());
        }
        Ok(_) => {
            return Err(bad(
                "SECRET_KEY",
                format!("key file {} is empty", path.display()),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(bad(
                "SECRET_KEY",
                format!("cannot read {}: {e}", path.display()),
            ))
        }
    }
    let key = generate_secret();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(path)
        .and_then(|mut f| f.write_all(key.as_bytes()).and_then(|()| f.sync_all()));
    match written {
        Ok(()) => {
            tracing::warn!(
                path = %path.display(),
                "SECRET_KEY is not set: generated one and kept it beside the database; set SECRET_KEY in production"
            );
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_key(path),
        Err(e) => Err(bad(
            "SECRET_KEY",
            format!("cannot create {}: {e}", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn debug_output_hides_the_database_password_and_the_key() {
        let c = config(&[
            (
                "DATABASE_URL",
                "postgres://adam:s3cret-pw@db.internal:5432/adam",
            ),
            ("SECRET_KEY", "a secret key that is long enough, 32+ bytes"),
            ("PUBLIC_URL", "https://auth.example.com"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret-pw") && !shown.contains("long enough"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://adam:***@db.internal:5432/adam"),
            "{shown}"
        );
        assert_eq!(redact_url_password("sqlite://adam.db"), "sqlite://adam.db");
    }

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(map)
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, "sqlite://adam.db");
        assert_eq!((c.host.to_string().as_str(), c.port), ("127.0.0.1", 8000));
        assert_eq!(
            (c.access_token_expire_minutes, c.refresh_token_expire_days),
            (30, 7)
        );
        assert_eq!(c.password_min_length, 8);
        assert_eq!(c.session_max_minutes, 1440);
        assert_eq!(c.audit_retention_days, 365);
        assert_eq!(c.inactive_user_days, 0);
        assert!(c.cors_origins.is_empty() && !c.debug);
        assert!(
            matches!(c.secret, SecretSource::File(ref p) if p == Path::new("adam.db.secret_key"))
        );
        assert!(c.smtp.is_none() && c.mail().unwrap().is_none());
        assert_eq!(
            (c.invitation_expire_hours, c.password_reset_expire_minutes),
            (72, 30)
        );
        assert_eq!(
            c.mail_from().unwrap().to_string(),
            "Adam <no-reply@localhost>"
        );
    }

    #[test]
    fn hash_threads_default_to_one_fewer_than_the_cores() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let c = config(&[]).unwrap();
        assert_eq!(c.hash_threads, cores.saturating_sub(1).max(1));
        let c = config(&[("HASH_THREADS", "3")]).unwrap();
        assert_eq!(c.settings().unwrap().hash_concurrency, 3);
        for bad in ["0", "-1", "many", "257"] {
            let e = config(&[("HASH_THREADS", bad)]).unwrap_err();
            assert_eq!(e.variable, "HASH_THREADS", "{e}");
        }
    }

    #[test]
    fn mail_settings_are_read_and_bad_ones_named() {
        let c = config(&[
            ("SMTP_URL", "smtp+plain://127.0.0.1:2525"),
            ("PUBLIC_URL", "https://auth.premiumauto.com"),
            ("INVITATION_EXPIRE_HOURS", "24"),
        ])
        .unwrap();
        let mail = c.mail().unwrap().unwrap();
        assert_eq!(mail.smtp.port, 2525);
        assert_eq!(
            mail.from.to_string(),
            "Adam <no-reply@auth.premiumauto.com>"
        );
        assert!(c.settings().unwrap().mail_enabled);
        assert_eq!(
            c.settings().unwrap().invitation_ttl,
            chrono::Duration::hours(24)
        );
        for (var, value) in [
            ("SMTP_URL", "http://mail.example.com"),
            ("MAIL_FROM", "not an address"),
            ("PASSWORD_RESET_EXPIRE_MINUTES", "-5"),
            ("INVITATION_EXPIRE_HOURS", "0"),
        ] {
            let e = config(&[(var, value)]).unwrap_err();
            assert_eq!(e.variable, var, "{e}");
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (k, v) in [
            ("DATABASE_URL", "mysql://x"),
            ("DATABASE_URL", "not a url"),
            ("PORT", "eighty"),
            ("PORT", "70000"),
            ("HOST", "local host"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "-5"),
            ("REFRESH_TOKEN_EXPIRE_DAYS", "0"),
            ("SESSION_MAX_MINUTES", "0"),
            ("AUDIT_RETENTION_DAYS", "0"),
            ("INACTIVE_USER_DAYS", "-1"),
            ("INACTIVE_USER_DAYS", "a month"),
            ("SESSION_MAX_MINUTES", "a day"),
            ("PASSWORD_MIN_LENGTH", "4"),
            ("DEBUG", "maybe"),
            ("BACKEND_CORS_ORIGINS", "app.example.com"),
            ("SECRET_KEY", "short"),
            ("MFA_REQUIRED_ROLES", "system_admin,owner"),
        ] {
            let err = config(&[(k, v)]).expect_err(k);
            assert_eq!(err.variable, k, "{k}={v}: {err}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn mfa_required_roles_are_a_list_of_role_names() {
        assert!(config(&[]).unwrap().mfa_required_roles.is_empty());
        let c = config(&[(
            "MFA_REQUIRED_ROLES",
            " system_admin, fi_manager,,system_admin ",
        )])
        .unwrap();
        assert_eq!(
            c.mfa_required_roles,
            vec![adam_core::Role::SystemAdmin, adam_core::Role::FiManager]
        );
        assert_eq!(
            c.settings().unwrap().mfa_required_roles,
            c.mfa_required_roles
        );
    }

    #[test]
    fn postgres_requires_a_secret_and_short_keys_need_debug() {
        let err = config(&[("DATABASE_URL", "postgres://u@h/db")]).unwrap_err();
        assert_eq!(err.variable, "SECRET_KEY");
        assert!(config(&[("SECRET_KEY", "short"), ("DEBUG", "true")]).is_ok());
        let c = config(&[(
            "BACKEND_CORS_ORIGINS",
            "https://a.example.com, http://localhost:5173/",
        )])
        .unwrap();
        assert_eq!(
            c.cors_origins,
            vec!["https://a.example.com", "http://localhost:5173"]
        );
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://adam.db"),
            Some(PathBuf::from("adam.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/adam.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/adam.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    #[test]
    fn public_url_is_required_with_postgres_and_checked() {
        let pg = [
            ("DATABASE_URL", "postgres://u@h/db"),
            ("SECRET_KEY", "a secret key that is long enough, 32+ bytes"),
        ];
        assert_eq!(config(&pg).unwrap_err().variable, "PUBLIC_URL");
        let with = |url: &str| {
            let mut vars = pg.to_vec();
            vars.push(("PUBLIC_URL", url));
            config(&vars)
        };
        assert_eq!(
            with("https://auth.example.com/").unwrap().issuer(),
            "https://auth.example.com"
        );
        for bad in [
            "auth.example.com",
            "ftp://x",
            "https://",
            "https://a?b",
            "https://u@h",
        ] {
            assert_eq!(with(bad).unwrap_err().variable, "PUBLIC_URL", "{bad}");
        }
        // SQLite: the address served, loopback when listening everywhere.
        let c = config(&[("HOST", "0.0.0.0"), ("PORT", "9000")]).unwrap();
        assert_eq!(c.issuer(), "http://127.0.0.1:9000");
        assert_eq!(
            c.settings().unwrap().token_audience.issuer,
            "http://127.0.0.1:9000"
        );
    }

    #[test]
    fn key_rotation_days_and_the_previous_key_are_read() {
        let c = config(&[("SIGNING_KEY_ROTATION_DAYS", "0")]).unwrap();
        assert_eq!(c.settings().unwrap().key_rotation, None);
        let c = config(&[]).unwrap();
        assert_eq!(
            c.settings().unwrap().key_rotation,
            Some(chrono::Duration::days(30))
        );
        assert_eq!(
            config(&[("SIGNING_KEY_ROTATION_DAYS", "-1")])
                .unwrap_err()
                .variable,
            "SIGNING_KEY_ROTATION_DAYS"
        );
        assert_eq!(
            config(&[("SECRET_KEY_PREVIOUS", "short")])
                .unwrap_err()
                .variable,
            "SECRET_KEY_PREVIOUS"
        );
        let c = config(&[(
            "SECRET_KEY_PREVIOUS",
            "the former secret key, also 32 bytes or more",
        )])
        .unwrap();
        assert!(!format!("{c:?}").contains("former secret"));
    }

    #[test]
    fn generated_key_is_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("adam-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("x.db");
        let c = config(&[("DATABASE_URL", &format!("sqlite://{}", db.display()))]).unwrap();
        let path = dir.join("x.db.secret_key");
        c.secret_key().unwrap();
        let first = std::fs::read(&path).unwrap();
        c.secret_key().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
