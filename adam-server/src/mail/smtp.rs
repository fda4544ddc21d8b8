//! `SMTP_URL`: which SMTP server, how it is reached, and as whom.

use std::fmt;
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, Tokio1Executor};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtp://`: STARTTLS, required (the mail is not sent over a server that does not offer it).
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Tls,
    /// `smtp+plain://`: no TLS, for a relay on the same host or in tests.
    Plain,
}

/// A parsed `SMTP_URL`. Its `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    /// How the connection is protected.
    pub security: Security,
    /// The server's host name or address.
    pub host: String,
    /// Its port (587, 465 or 25 unless given).
    pub port: u16,
    user: Option<(String, String)>,
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpUrl")
            .field("security", &self.security)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl SmtpUrl {
    /// Reads `smtp://user:pass@host:587`, `smtps://…:465` or `smtp+plain://host:port`; the
    /// error says what is wrong, without the password.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim())
            .map_err(|e| format!("is not a URL ({e}); expected smtp://user:pass@host:587"))?;
        let (security, default_port) = match url.scheme() {
            "smtp" => (Security::StartTls, 587),
            "smtps" => (Security::Tls, 465),
            "smtp+plain" => (Security::Plain, 25),
            other => {
                return Err(format!(
                    "unknown scheme {other:?}: use smtp:// (STARTTLS), smtps:// (TLS) or \
                     smtp+plain:// (no TLS)"
                ))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("names no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err("must be only scheme://user:pass@host:port".into());
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| "has a user name or password that is not UTF-8".to_owned())
        };
        let user = match (url.username(), url.password()) {
            ("", None) => None,
            (u, Some(p)) => Some((decode(u)?, decode(p)?)),
            (_, None) => return Err("names a user without a password".into()),
        };
        Ok(Self {
            security,
            host,
            port: url.port().unwrap_or(default_port),
            user,
        })
    }

    /// A connection pool to the server, as the URL says.
    pub(crate) fn transport(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        let builder = match self.security {
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.host),
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&self.host),
            Security::Plain => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                &self.host,
            )),
        };
        let builder = match builder {
            Ok(b) => b,
            // Only a host name that TLS cannot name: the attempt fails and says so each time.
            Err(e) => {
                tracing::error!(error = %e, host = %self.host, "SMTP_URL: TLS cannot be set up for this host");
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("invalid.invalid")
            }
        };
        let builder = builder
            .port(self.port)
            .timeout(Some(Duration::from_secs(30)));
        match &self.user {
            Some((u, p)) => builder
                .credentials(Credentials::new(u.clone(), p.clone()))
                .build(),
            None => builder.build(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_schemes_and_their_default_ports() {
        let s = SmtpUrl::parse("smtp://mailer:p%40ss@mail.example.com").unwrap();
        assert_eq!(
            (s.security, s.port, s.host.as_str()),
            (Security::StartTls, 587, "mail.example.com")
        );
        assert_eq!(s.user, Some(("mailer".into(), "p@ss".into())));
        assert!(
            !format!("{s:?}").contains("p@ss"),
            "Debug hides the password"
        );
        let s = SmtpUrl::parse("smtps://u:p@mail.example.com").unwrap();
        assert_eq!((s.security, s.port), (Security::Tls, 465));
        let s = SmtpUrl::parse("smtp+plain://127.0.0.1:2525").unwrap();
        assert_eq!((s.security, s.port, s.user), (Security::Plain, 2525, None));
    }

    #[test]
    fn bad_urls_say_why_without_the_password() {
        for bad in [
            "http://mail.example.com",
            "smtp://",
            "smtp://u@host",
            "mail.example.com",
            "smtp://u:secret@host/path",
        ] {
            let e = SmtpUrl::parse(bad).unwrap_err();
            assert!(!e.contains("secret"), "{e}");
        }
    }
}
