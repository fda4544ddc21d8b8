//! Anti-forgery tokens for the pages' forms: a random value in the `__Host-adam_csrf` cookie
//! (bound to the browser) that every form repeats in a hidden field; a POST whose field does not
//! match its cookie changes nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use poem::http::HeaderValue;
use poem::Request;
use rand_core::{OsRng, RngCore};
use subtle::ConstantTimeEq;

/// The cookie's name: `__Host-` makes the browser keep it to this origin, `Secure`, `Path=/`.
pub(super) const COOKIE: &str = "__Host-adam_csrf";

/// The browser's anti-forgery token: the one its cookie holds, or a new one to set.
pub(super) struct Csrf {
    /// The value the form repeats.
    pub(super) token: String,
    /// `Set-Cookie` to send when the token is new.
    pub(super) set_cookie: Option<HeaderValue>,
}

fn from_cookie(req: &Request) -> Option<String> {
    crate::cookies::read(req, COOKIE).filter(|v| {
        v.len() == 43
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

impl Csrf {
    /// The token for a page about to show a form.
    pub(super) fn for_form(req: &Request) -> Self {
        if let Some(token) = from_cookie(req) {
            return Self {
                token,
                set_cookie: None,
            };
        }
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let cookie = format!("{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict");
        Self {
            set_cookie: HeaderValue::from_str(&cookie).ok(),
            token,
        }
    }

    /// Whether a submitted form's `field` matches the browser's cookie (in constant time).
    pub(super) fn matches(req: &Request, field: Option<&str>) -> bool {
        match (from_cookie(req), field) {
            (Some(cookie), Some(field)) => bool::from(cookie.as_bytes().ct_eq(field.as_bytes())),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_is_256_bits_and_its_cookie_is_host_only() {
        let req = Request::builder().finish();
        let csrf = Csrf::for_form(&req);
        assert_eq!(csrf.token.len(), 43);
        let cookie = csrf.set_cookie.unwrap();
        let cookie = cookie.to_str().unwrap();
        assert!(
            cookie.starts_with("__Host-adam_csrf=")
                && cookie.contains("Secure")
                && cookie.contains("Path=/")
        );
        assert!(!cookie.contains("Domain"));
    }

    #[test]
    fn a_form_matches_only_its_own_cookie() {
        let token = "A".repeat(43);
        let req = Request::builder()
            .header("cookie", format!("other=1; {COOKIE}={token}"))
            .finish();
        assert!(Csrf::matches(&req, Some(&token)));
        assert!(!Csrf::matches(&req, Some(&"B".repeat(43))));
        assert!(!Csrf::matches(&req, None));
        assert!(!Csrf::matches(&Request::builder().finish(), Some(&token)));
        assert_eq!(
            Csrf::for_form(&req).token,
            token,
            "the browser's token is kept"
        );
    }
}
