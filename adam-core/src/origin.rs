//! Where a request comes from: a leaf type that the use cases, the role table and storage share.

use std::net::IpAddr;

/// Where a sign-in comes from, as the server saw it: kept with the session for its user to see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client address (after trusted proxies).
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header, as sent.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The longest user agent kept, in characters (contract: "Sessions").
    pub const MAX_USER_AGENT: usize = 256;

    /// The user agent as kept: cut to [`Self::MAX_USER_AGENT`] characters, control
    /// characters dropped, `None` when nothing is left.
    /// The client address as text (empty when unknown), as throttles count it.
    pub(crate) fn address(&self) -> String {
        self.ip.map(|a| a.to_string()).unwrap_or_default()
    }

    pub(crate) fn user_agent(&self) -> Option<String> {
        let kept: String = self
            .user_agent
            .as_deref()?
            .chars()
            .filter(|c| !c.is_control())
            .take(Self::MAX_USER_AGENT)
            .collect();
        let kept = kept.trim();
        (!kept.is_empty()).then(|| kept.to_owned())
    }
}
