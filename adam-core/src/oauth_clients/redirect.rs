//! Redirect URIs of OpenID Connect clients (contract: "OpenID Connect provider"): which may be
//! registered, and whether a presented one is a registered one. They match exactly, byte for
//! byte, except the port of a loopback IP literal (RFC 8252 §7.3: a native app listens on
//! whatever port it gets). Only `https`, or `http` on `127.0.0.1` or `[::1]`; no fragment
//! (RFC 6749 §3.1.2), no user info. Nothing is normalised: `/a/../b` is not `/b`.

use std::fmt;

/// Longest URI accepted.
pub const MAX_URI_LEN: usize = 2000;

/// The loopback hosts whose port may differ.
const LOOPBACK: [&str; 2] = ["http://127.0.0.1", "http://[::1]"];

/// A URI that may be registered as a redirect (or post-logout redirect, or back-channel logout)
/// URI.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl fmt::Debug for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedirectUri({})", self.0)
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<RedirectUri> for String {
    fn from(u: RedirectUri) -> Self {
        u.0
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

/// A loopback URI split where its port goes: (`http://127.0.0.1`, the rest after any port).
fn loopback_parts(uri: &str) -> Option<(&'static str, &str)> {
    LOOPBACK.iter().find_map(|host| {
        let rest = uri.strip_prefix(host)?;
        let rest = match rest.strip_prefix(':') {
            Some(port) => {
                let digits = port.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 || digits > 5 {
                    return None;
                }
                &port[digits..]
            }
            None => rest,
        };
        (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')).then_some((*host, rest))
    })
}

impl RedirectUri {
    /// Checks a URI for registration: `https://host…`, or `http://127.0.0.1…` / `http://[::1]…`
    /// with any port; at most [`MAX_URI_LEN`] characters, printable ASCII, no fragment, no user
    /// info.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        if text.len() > MAX_URI_LEN {
            return Err("is longer than 2000 characters");
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be printable ASCII without spaces");
        }
        if text.contains('#') {
            return Err("must not have a fragment (#)");
        }
        if loopback_parts(text).is_some() {
            return Ok(Self(text.to_owned()));
        }
        let Some(rest) = text.strip_prefix("https://") else {
            return Err("must be https://, or http:// on 127.0.0.1 or [::1]");
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return Err("must name a host (and no user info)");
        }
        Ok(Self(text.to_owned()))
    }

    /// The URI's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this URI: the same text, or, for a loopback IP literal, the same
    /// text but for the port.
    pub fn matches(&self, presented: &str) -> bool {
        if self.0 == presented {
            return true;
        }
        match (loopback_parts(&self.0), loopback_parts(presented)) {
            (Some((host, rest)), Some((other_host, other_rest))) => {
                host == other_host && rest == other_rest && !presented.contains('#')
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_a_loopback_ip_literal_may_be_registered() {
        for ok in [
            "https://portal.dealer.example/callback",
            "https://portal.dealer.example:8443/cb?x=1",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:8080/callback",
            "http://[::1]:1234/",
        ] {
            assert!(RedirectUri::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://portal.dealer.example/callback",
            "http://localhost:8080/callback",
            "http://127.0.0.1.evil.example/callback",
            "http://127.0.0.1:/cb",
            "http://127.0.0.1@evil.example/cb",
            "https://user@portal.dealer.example/cb",
            "https:///cb",
            "https://portal.dealer.example/cb#frag",
            "https://portal.dealer.example/c b",
            "com.dealer.app:/callback",
            "javascript:alert(1)",
            "",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
        assert!(RedirectUri::parse(&format!("https://a.example/{}", "x".repeat(2000))).is_err());
    }

    #[test]
    fn uris_match_exactly_but_for_a_loopback_port() {
        let web = RedirectUri::parse("https://portal.dealer.example/callback").unwrap();
        assert!(web.matches("https://portal.dealer.example/callback"));
        for other in [
            "https://portal.dealer.example/callback/",
            "https://portal.dealer.example/callbackx",
            "https://portal.dealer.example/callback?x=1",
            "https://portal.dealer.example/Callback",
            "https://portal.dealer.example:443/callback",
            "https://portal.dealer.example/a/../callback",
            "https://portal.dealer.example.evil.example/callback",
        ] {
            assert!(!web.matches(other), "prefix or variant matched: {other}");
        }
        let native = RedirectUri::parse("http://127.0.0.1/callback").unwrap();
        assert!(native.matches("http://127.0.0.1:53111/callback"));
        assert!(native.matches("http://127.0.0.1/callback"));
        for other in [
            "http://127.0.0.1:53111/callback/x",
            "http://[::1]:53111/callback",
            "http://127.0.0.1:53111/callback#x",
            "http://127.0.0.1:531111/callback",
            "http://127.0.0.1.evil.example:53111/callback",
            "https://127.0.0.1:53111/callback",
        ] {
            assert!(!native.matches(other), "{other}");
        }
    }
}
