//! The client address of a request: the TCP peer, or, when the peer is a trusted proxy, the
//! rightmost address of `X-Forwarded-For` that is not a trusted proxy. Computed here once, for the
//! sign-in throttle (and the sessions and audit log to come).

use std::net::IpAddr;
use std::str::FromStr;

/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            (IpAddr::V6(_), IpAddr::V4(a)) => self.contains(IpAddr::V6(a.to_ipv6_mapped())),
            (IpAddr::V4(_), IpAddr::V6(a)) => a
                .to_ipv4_mapped()
                .is_some_and(|a| self.contains(IpAddr::V4(a))),
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has a bad prefix length"))?,
        };
        Ok(Self { network, prefix })
    }
}

/// The proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Parses a comma-separated list of networks.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Cidr::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `ip` is one of these proxies.
    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client address of a request from `peer` with these `X-Forwarded-For` values (in the
    /// order received).
    pub fn client_address<'a>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = forwarded_for
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut nearest = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => nearest = ip,
                Ok(ip) => return Some(ip),
                // Whatever stands beyond a malformed hop was not written by a trusted proxy.
                Err(_) => return Some(nearest),
            }
        }
        Some(nearest)
    }

    /// Whether `req` may be served: a request from a trusted proxy whose `X-Forwarded-For` is
    /// not a list of addresses (a byte beyond ASCII, a hop that is no address) cannot say who
    /// the client is, and is refused rather than counted against the proxy's own address.
    pub fn forwarding_is_readable(&self, req: &poem::Request) -> bool {
        let from_proxy = req
            .remote_addr()
            .as_socket_addr()
            .is_some_and(|a| self.trusts(a.ip()));
        !from_proxy
            || req.headers().get_all("x-forwarded-for").iter().all(|v| {
                v.to_str()
                    .is_ok_and(|v| v.split(',').all(|hop| hop.trim().parse::<IpAddr>().is_ok()))
            })
    }

    /// The client address of `req`, with these proxies trusted.
    pub fn client_of(&self, req: &poem::Request) -> Option<IpAddr> {
        self.client_address(
            req.remote_addr().as_socket_addr().map(|a| a.ip()),
            req.headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        )
    }
}

/// Refuses (400) a request from a trusted proxy whose `X-Forwarded-For` cannot be read
/// ([`TrustedProxies::forwarding_is_readable`]).
pub(crate) async fn refuse_unreadable_forwarding<E: poem::Endpoint>(
    ep: std::sync::Arc<E>,
    req: poem::Request,
    proxies: std::sync::Arc<TrustedProxies>,
) -> poem::Result<poem::Response> {
    use poem::IntoResponse;
    if !proxies.forwarding_is_readable(&req) {
        return Err(poem::Error::from_string(
            "X-Forwarded-For from a trusted proxy is not a list of addresses",
            poem::http::StatusCode::BAD_REQUEST,
        ));
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

/// The client address of a request to the application (whose trusted proxies it carries as
/// request data).
pub(crate) fn address(req: &poem::Request) -> Option<IpAddr> {
    match req.data::<TrustedProxies>() {
        Some(proxies) => proxies.client_of(req),
        None => TrustedProxies::default().client_of(req),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses() {
        let n: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(n.contains(ip("10.1.200.3")) && !n.contains(ip("10.2.0.1")));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::1")) && !v6.contains(ip("2001:db9::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")));
        assert!(n.contains(ip("::ffff:10.1.0.9")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0/8", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.1").unwrap();
        let peer = Some(ip("10.0.0.5"));
        // A stranger's header is ignored: the peer is the client.
        let stranger = Some(ip("198.51.100.9"));
        assert_eq!(
            proxies.client_address(stranger, ["1.2.3.4"].into_iter()),
            stranger
        );
        // Through trusted proxies: the rightmost untrusted hop; what the client wrote before it
        // does not count.
        assert_eq!(
            proxies.client_address(peer, ["6.6.6.6, 203.0.113.4, 192.0.2.1"].into_iter()),
            Some(ip("203.0.113.4"))
        );
        assert_eq!(
            proxies.client_address(peer, ["6.6.6.6", "203.0.113.4"].into_iter()),
            Some(ip("203.0.113.4"))
        );
        assert_eq!(proxies.client_address(peer, [].into_iter()), peer);
        assert_eq!(
            proxies.client_address(peer, ["junk, 192.0.2.1"].into_iter()),
            Some(ip("192.0.2.1"))
        );
        assert_eq!(
            TrustedProxies::default().client_address(peer, ["1.2.3.4"].into_iter()),
            peer
        );
        assert!(TrustedProxies::parse("10.0.0.0/8, bad").is_err());
    }
}
