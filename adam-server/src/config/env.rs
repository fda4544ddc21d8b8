//! The environment as serde reads it: one field per variable, each of a type that parses and
//! checks its own text. serde maps names to fields and, through `serde_path_to_error`, names the
//! variable a bad value came from; the error is one line (`PORT: must be a number from 0 to
//! 65535`). Empty values count as unset; variables Adam does not know are ignored.

use std::net::IpAddr;

use serde::de::{self, value::MapDeserializer, Deserializer};
use serde::Deserialize;

use super::ConfigError;
use crate::client::TrustedProxies;

/// A variable's text parsed into `Self`, or a one-line reason.
pub(super) trait FromVar: Sized {
    /// Parses the (trimmed) text of a variable.
    fn from_var(text: &str) -> Result<Self, String>;
}

/// Any [`FromVar`] as a serde field.
pub(super) struct Var<T>(pub(super) T);

impl<'de, T: FromVar> Deserialize<'de> for Var<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        T::from_var(text.trim()).map(Var).map_err(de::Error::custom)
    }
}

/// A whole number from `MIN` to `MAX`.
pub(super) struct Whole<const MIN: i64, const MAX: i64>(pub(super) i64);

impl<const MIN: i64, const MAX: i64> FromVar for Whole<MIN, MAX> {
    fn from_var(text: &str) -> Result<Self, String> {
        match text.parse::<i64>() {
            Ok(n) if (MIN..=MAX).contains(&n) => Ok(Self(n)),
            _ => Err(format!("must be a whole number from {MIN} to {MAX}")),
        }
    }
}

/// `PASSWORD_MIN_LENGTH`: within what the password policy allows.
pub(super) type PasswordLength = Whole<
    { adam_core::PasswordPolicy::MIN_LEN_FLOOR as i64 },
    { adam_core::PasswordPolicy::MAX_LEN as i64 },
>;

/// `Option<Var<Whole<…>>>` read with a default.
pub(super) fn whole<const MIN: i64, const MAX: i64>(
    v: &Option<Var<Whole<MIN, MAX>>>,
    default: i64,
) -> i64 {
    v.as_ref().map_or(default, |Var(Whole(n))| *n)
}

impl FromVar for String {
    fn from_var(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
impl FromVar for bool {
    fn from_var(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err("must be true or false".into()),
        }
    }
}

impl FromVar for IpAddr {
    fn from_var(text: &str) -> Result<Self, String> {
        text.parse()
            .map_err(|_| "must be an IP address such as 127.0.0.1 or 0.0.0.0".into())
    }
}

impl FromVar for u16 {
    fn from_var(text: &str) -> Result<Self, String> {
        text.parse()
            .map_err(|_| "must be a number from 0 to 65535".into())
    }
}

/// `PUBLIC_URL`: an http(s) URL with a host and no query or fragment; the trailing `/` dropped.
pub(super) struct PublicUrl(pub(super) String);

impl FromVar for PublicUrl {
    fn from_var(text: &str) -> Result<Self, String> {
        let v = text.trim_end_matches('/');
        let ok = v
            .split_once("://")
            .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
            .is_some_and(|(_, rest)| {
                let host = rest.split('/').next().unwrap_or_default();
                !host.is_empty()
                    && !rest.contains(|c: char| c.is_whitespace() || c == '?' || c == '#')
                    && !host.contains('@')
            });
        if ok {
            Ok(Self(v.to_owned()))
        } else {
            Err(format!(
                "{v:?} is not a URL such as https://auth.example.com"
            ))
        }
    }
}

/// `WEBAUTHN_RP_ID`: a domain name (lower case, no scheme, port or path; never an IP address,
/// which WebAuthn refuses).
pub(super) struct RpId(pub(super) String);

impl FromVar for RpId {
    fn from_var(text: &str) -> Result<Self, String> {
        let ok = !text.is_empty()
            && text.len() <= 253
            && text.parse::<IpAddr>().is_err()
            && !text.starts_with('.')
            && !text.ends_with('.')
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && text
                .split('.')
                .all(|label| !label.is_empty() && label.len() <= 63);
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "{text:?} is not a domain name such as auth.example.com (lower case; WebAuthn \
                 refuses IP addresses)"
            ))
        }
    }
}

/// `BACKEND_CORS_ORIGINS`: comma-separated origins (`https://app.example.com`).
pub(super) struct Origins(pub(super) Vec<String>);

impl FromVar for Origins {
    fn from_var(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                let o = o.trim_end_matches('/');
                let ok = (o.starts_with("http://") || o.starts_with("https://"))
                    && !o.contains(char::is_whitespace)
                    && o.split_once("://")
                        .is_some_and(|(_, h)| !h.is_empty() && !h.contains('/'));
                if ok {
                    Ok(o.to_owned())
                } else {
                    Err(format!(
                        "{o:?} is not an origin such as https://app.example.com"
                    ))
                }
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// `MFA_REQUIRED_ROLES`: comma-separated role names; empty entries skipped, repeats once.
pub(super) struct Roles(pub(super) Vec<adam_core::Role>);

impl FromVar for Roles {
    fn from_var(text: &str) -> Result<Self, String> {
        let mut roles = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let role = name.parse::<adam_core::Role>().map_err(|_| {
                "must be comma-separated roles: system_admin, dealer_principal, fi_manager"
                    .to_owned()
            })?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        Ok(Self(roles))
    }
}

/// `DATABASE_APP_ROLE`: a lower-case SQL identifier.
pub(super) struct SqlIdentifier(pub(super) String);

impl FromVar for SqlIdentifier {
    fn from_var(text: &str) -> Result<Self, String> {
        let ok = text.len() <= 63
            && text.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err("must be a lower-case SQL identifier (letters, digits and _)".into())
        }
    }
}

impl FromVar for TrustedProxies {
    fn from_var(text: &str) -> Result<Self, String> {
        Self::parse(text).map_err(|e| format!("must be comma-separated networks (CIDR): {e}"))
    }
}

impl FromVar for crate::mail::SmtpUrl {
    fn from_var(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

impl FromVar for lettre::message::Mailbox {
    fn from_var(text: &str) -> Result<Self, String> {
        text.parse()
            .map_err(|e| format!("must be an address such as Adam <no-reply@example.com>: {e}"))
    }
}

/// Every variable `adam-server` reads (contract: "Configuration"); absent or empty is `None`.
#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) struct Env {
    pub(super) debug: Option<Var<bool>>,
    pub(super) database_url: Option<Var<String>>,
    pub(super) database_app_role: Option<Var<SqlIdentifier>>,
    pub(super) secret_key: Option<Var<String>>,
    pub(super) secret_key_previous: Option<Var<String>>,
    pub(super) public_url: Option<Var<PublicUrl>>,
    pub(super) webauthn_rp_id: Option<Var<RpId>>,
    pub(super) host: Option<Var<IpAddr>>,
    pub(super) port: Option<Var<u16>>,
    pub(super) access_token_expire_minutes: Option<Var<Whole<1, 1440>>>,
    pub(super) refresh_token_expire_days: Option<Var<Whole<1, 365>>>,
    pub(super) session_max_minutes: Option<Var<Whole<1, 525_600>>>,
    pub(super) audit_retention_days: Option<Var<Whole<1, 36_500>>>,
    pub(super) inactive_user_days: Option<Var<Whole<0, 36_500>>>,
    pub(super) password_min_length: Option<Var<PasswordLength>>,
    pub(super) backend_cors_origins: Option<Var<Origins>>,
    pub(super) login_max_failures: Option<Var<Whole<1, 10_000>>>,
    pub(super) login_failure_window_minutes: Option<Var<Whole<1, 1440>>>,
    pub(super) login_max_failures_per_ip: Option<Var<Whole<1, 1_000_000>>>,
    pub(super) trusted_proxies: Option<Var<TrustedProxies>>,
    pub(super) refresh_reuse_grace_seconds: Option<Var<Whole<0, 300>>>,
    pub(super) max_connections: Option<Var<Whole<1, 1_000_000>>>,
    pub(super) max_connections_per_address: Option<Var<Whole<1, 1_000_000>>>,
    pub(super) request_timeout_seconds: Option<Var<Whole<1, 3600>>>,
    pub(super) header_read_timeout_seconds: Option<Var<Whole<1, 3600>>>,
    pub(super) idle_timeout_seconds: Option<Var<Whole<1, 3600>>>,
    pub(super) hash_queue_timeout_seconds: Option<Var<Whole<1, 600>>>,
    pub(super) hash_threads: Option<Var<Whole<1, 256>>>,
    pub(super) signing_key_rotation_days: Option<Var<Whole<0, 3650>>>,
    pub(super) mfa_required_roles: Option<Var<Roles>>,
    pub(super) smtp_url: Option<Var<crate::mail::SmtpUrl>>,
    pub(super) mail_from: Option<Var<lettre::message::Mailbox>>,
    pub(super) invitation_expire_hours: Option<Var<Whole<1, 720>>>,
    pub(super) password_reset_expire_minutes: Option<Var<Whole<1, 1440>>>,
}

/// A variable's text as serde sees it: a string, and `Some` where an `Option` is asked for.
struct Text(String);

impl<'de> de::IntoDeserializer<'de, de::value::Error> for Text {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for Text {
    type Error = de::value::Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_string(self.0)
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

impl Env {
    /// Reads `vars` (name, value); the first bad value stops it, naming its variable.
    pub(super) fn read(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let set = vars
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k, Text(v)));
        let de = MapDeserializer::<_, de::value::Error>::new(set);
        serde_path_to_error::deserialize(de).map_err(|e| ConfigError {
            variable: e.path().to_string(),
            reason: e.inner().to_string(),
        })
    }
}
