//! Who is on the other end of a connection, decided in one place for REST, gRPC and anything
//! that keys on the client (the audit trail today, rate limits later).
//!
//! A forwarding header (`X-Forwarded-For`) is only believed when the socket peer is one of the
//! configured trusted proxies (`server.trusted_proxies`); otherwise anyone could name any
//! address. The same rule decides whether the trusted-gateway identity headers are read.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One CIDR block: `10.0.0.0/8`, `::1/128`, or a bare address (a block of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    network: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` is inside the block. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`)
    /// counts as its IPv4 address.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (address, prefix) = match s.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s, None),
        };
        let network = canonical(
            address
                .parse::<IpAddr>()
                .map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?,
        );
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0..={max}"))?,
        };
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The proxies whose forwarding headers are believed. Empty (the default): none, the client is
/// the socket peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// The client of a connection as far as it can be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress {
    /// The client: the socket peer, or what a trusted proxy says it forwarded for.
    pub ip: IpAddr,
    /// The socket peer is a trusted proxy (so headers it sets on behalf of the client, such as
    /// the gateway identity headers, may be read).
    pub via_trusted_proxy: bool,
}

impl TrustedProxies {
    /// Parses CIDR blocks.
    ///
    /// # Errors
    /// The first entry that is not an address or a CIDR block.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[must_use]
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client behind `peer`, given every `X-Forwarded-For` value of the request (each a
    /// comma-separated list, oldest hop first).
    ///
    /// Only a trusted peer's header is read, from the right: addresses of trusted proxies are
    /// skipped, and the first other address is the client (what is left of it may have been
    /// written by the client itself). An unparsable entry stops the walk at the last
    /// trustworthy hop.
    #[must_use]
    pub fn resolve<S: AsRef<str>>(&self, peer: IpAddr, forwarded_for: &[S]) -> ClientAddress {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return ClientAddress {
                ip: peer,
                via_trusted_proxy: false,
            };
        }
        let mut client = peer;
        let hops = forwarded_for
            .iter()
            .flat_map(|value| value.as_ref().split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        ClientAddress {
            ip: client,
            via_trusted_proxy: true,
        }
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| canonical(s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks_parse_and_match() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.200.0.1")));
        assert!(net.contains(ip("::ffff:10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        let one: IpNet = "::1".parse().unwrap();
        assert!(one.contains(ip("::1")));
        assert!(!one.contains(ip("::2")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("gateway".parse::<IpNet>().is_err());
        assert!(TrustedProxies::parse(&["10.0.0.0/8", "nope"]).is_err());
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let spoofed = none.resolve(ip("203.0.113.7"), &["6.6.6.6"]);
        assert_eq!(spoofed.ip, ip("203.0.113.7"));
        assert!(!spoofed.via_trusted_proxy);

        let proxies = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let direct = proxies.resolve(ip("203.0.113.7"), &["6.6.6.6"]);
        assert_eq!(direct.ip, ip("203.0.113.7"), "an untrusted peer's header");
        let via = proxies.resolve(ip("10.0.0.2"), &["6.6.6.6, 198.51.100.4, 10.0.0.9"]);
        assert_eq!(
            via.ip,
            ip("198.51.100.4"),
            "the first hop not a proxy, from the right"
        );
        assert!(via.via_trusted_proxy);
        let split = proxies.resolve(ip("10.0.0.2"), &["198.51.100.4", "10.0.0.9"]);
        assert_eq!(split.ip, ip("198.51.100.4"));
        let no_header = proxies.resolve(ip("10.0.0.2"), &[] as &[&str]);
        assert_eq!(no_header.ip, ip("10.0.0.2"));
        let garbage = proxies.resolve(ip("10.0.0.2"), &["junk, 10.0.0.3"]);
        assert_eq!(
            garbage.ip,
            ip("10.0.0.3"),
            "stops at the last trustworthy hop"
        );
        let port = proxies.resolve(ip("10.0.0.2"), &["[2001:db8::1]:443"]);
        assert_eq!(port.ip, ip("2001:db8::1"));
    }
}
