//! The relying party: which site passkeys belong to (`WEBAUTHN_RP_ID`) and which origins may
//! use them.

use webauthn_rs::prelude::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::error::{Error, Result};

/// Where passkeys work: `id` is the relying-party id (a domain: WebAuthn refuses IP addresses),
/// `origins` the exact origins (`scheme://host[:port]`) whose pages may use them, each on `id`'s
/// domain. Changing `id` makes every registered passkey unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// The relying-party id, e.g. `adam.dealer.example`.
    pub id: String,
    /// The name authenticators show beside the account.
    pub name: String,
    /// The accepted origins; the first is the server's own (`PUBLIC_URL`).
    pub origins: Vec<String>,
}

impl RelyingParty {
    /// The relying party of `public_url`'s host, with that origin alone; `None` where the host
    /// is an IP address (WebAuthn refuses those) or the URL has no host.
    pub fn of_public_url(public_url: &str, name: &str) -> Option<Self> {
        let url = Url::parse(public_url).ok()?;
        let host = url.domain()?.to_owned();
        Some(Self {
            id: host,
            name: name.to_owned(),
            origins: vec![url.origin().ascii_serialization()],
        })
    }

    /// Whether `origin` (`scheme://host[:port]`) lies on this party's domain: the id itself or
    /// a subdomain of it.
    pub fn covers(&self, origin: &str) -> bool {
        Url::parse(origin)
            .ok()
            .and_then(|u| u.domain().map(str::to_owned))
            .is_some_and(|d| d == self.id || d.ends_with(&format!(".{}", self.id)))
    }

    /// The WebAuthn relying party, or [`Error::Config`] naming what is wrong.
    pub(crate) fn build(&self) -> Result<Webauthn> {
        let bad = |what: String| Error::Config(format!("passkeys: {what}"));
        let mut origins = Vec::with_capacity(self.origins.len());
        for origin in &self.origins {
            let url = Url::parse(origin).map_err(|e| bad(format!("origin {origin:?}: {e}")))?;
            if !self.covers(origin) {
                return Err(bad(format!(
                    "origin {origin:?} is not on the relying party's domain {:?}",
                    self.id
                )));
            }
            origins.push(url);
        }
        let (first, rest) = origins
            .split_first()
            .ok_or_else(|| bad("no origin".into()))?;
        let mut builder = WebauthnBuilder::new(&self.id, first)
            .map_err(|e| bad(format!("relying-party id {:?}: {e}", self.id)))?
            .rp_name(&self.name);
        for origin in rest {
            builder = builder.append_allowed_origin(origin);
        }
        builder.build().map_err(|e| bad(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::RelyingParty;

    #[test]
    fn ip_addresses_have_no_relying_party_and_names_do() {
        assert_eq!(
            RelyingParty::of_public_url("http://127.0.0.1:8000", "Adam"),
            None
        );
        assert_eq!(
            RelyingParty::of_public_url("http://[::1]:8000", "Adam"),
            None
        );
        let rp = RelyingParty::of_public_url("http://localhost:8000/", "Adam").unwrap();
        assert_eq!(rp.id, "localhost");
        assert_eq!(rp.origins, ["http://localhost:8000"]);
        assert!(rp.build().is_ok());
    }

    #[test]
    fn origins_off_the_domain_are_refused() {
        let rp = RelyingParty {
            id: "adam.dealer.example".into(),
            name: "Adam".into(),
            origins: vec![
                "https://adam.dealer.example".into(),
                "https://crm.adam.dealer.example".into(),
            ],
        };
        assert!(rp.build().is_ok());
        assert!(rp.covers("https://adam.dealer.example:8443"));
        assert!(!rp.covers("https://evil-adam.dealer.example.com"));
        assert!(!rp.covers("https://notadam.dealer.example"));
        let wrong = RelyingParty {
            origins: vec!["https://elsewhere.example".into()],
            ..rp
        };
        assert!(wrong.build().is_err());
    }
}
