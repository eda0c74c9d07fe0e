//! Who the client is behind load balancers: one rule for every part of the gateway that cares
//! (the providers' source allowlists, the per-source limits of unauthenticated callers, and the
//! `X-Forwarded-For` sent upstream).
//!
//! The client is the TCP peer, unless the peer is a trusted proxy (`[proxies] trusted`): then it
//! is the right-most address of `X-Forwarded-For` that is not a trusted proxy (RFC 7239 §5.2 and
//! §8.3 semantics: every proxy appends the address it saw, so only the addresses our own proxies
//! appended can be believed, read from the right). The left-most entry is whatever the caller
//! wrote and is never believed.

use std::net::IpAddr;

use http::{HeaderMap, HeaderValue};

/// A set of IP addresses and CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidrSet(Vec<(IpAddr, u8)>);

impl CidrSet {
    /// From config strings (validated already with `config::check_cidrs`; invalid ones are
    /// skipped).
    pub fn parse(list: &[String]) -> CidrSet {
        CidrSet(
            list.iter()
                .filter_map(|s| crate::config::parse_cidr(s))
                .map(|(ip, prefix)| (canonical(ip), prefix))
                .collect(),
        )
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is in one of the blocks (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|(net, prefix)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                u32::from(*n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                u128::from(*n) & mask == u128::from(a) & mask
            }
            _ => false,
        })
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as a dual-stack socket reports IPv4 peers)
/// as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The proxies whose `X-Forwarded-For` is believed (`[proxies] trusted`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(CidrSet);

/// The client of a request, as the edge found it (request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client's address.
    pub ip: IpAddr,
    /// The `X-Forwarded-For` to send upstream: the client, then every trusted proxy on the way,
    /// the peer last. Nothing the caller wrote beyond that is kept.
    pub forwarded_for: HeaderValue,
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";

impl TrustedProxies {
    /// From the config list of addresses and CIDR blocks.
    pub fn new(list: &[String]) -> TrustedProxies {
        TrustedProxies(CidrSet::parse(list))
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.contains(ip)
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
        self.client_of(peer, None, headers)
    }

    /// [`Self::client`], with the peer's address already formatted (`ConnInfo::peer_ip`): a
    /// request from an untrusted peer, the usual case, then formats nothing.
    pub fn client_of(
        &self,
        peer: IpAddr,
        peer_value: Option<&HeaderValue>,
        headers: &HeaderMap,
    ) -> ClientAddr {
        let peer = canonical(peer);
        // The believed chain, right to left: the peer, then what each trusted hop says it saw.
        let mut chain = vec![peer];
        if self.trusts(peer) {
            // Every X-Forwarded-For field, in order, is one comma-separated list (RFC 9110 §5.3).
            let listed: Vec<&[u8]> = headers
                .get_all(X_FORWARDED_FOR)
                .iter()
                .flat_map(|v| v.as_bytes().split(|b| *b == b','))
                .map(<[u8]>::trim_ascii)
                .collect();
            for entry in listed.iter().rev() {
                // An entry that is no address ends what can be believed: the last trusted hop
                // is then the client as far as we can tell.
                let Some(ip) = parse_entry(entry) else { break };
                chain.push(ip);
                if !self.trusts(ip) {
                    break;
                }
            }
        }
        let ip = chain.last().copied().unwrap_or(peer);
        if let (1, Some(v)) = (chain.len(), peer_value) {
            return ClientAddr {
                ip,
                forwarded_for: v.clone(),
            };
        }
        let text: Vec<String> = chain.iter().rev().map(IpAddr::to_string).collect();
        let forwarded_for = HeaderValue::try_from(text.join(", "))
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        ClientAddr { ip, forwarded_for }
    }
}

/// One `X-Forwarded-For` entry: an IPv4 or IPv6 address, optionally with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`), as some proxies write them.
fn parse_entry(entry: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(entry).ok()?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (v6, _port) = rest.split_once(']')?;
        return v6.parse::<IpAddr>().ok().map(canonical);
    }
    let (v4, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    v4.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(xffs: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xffs {
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cidr_sets_match_blocks_and_mapped_addresses() {
        let a = CidrSet::parse(&["10.0.0.0/8".into(), "2001:db8::1".into()]);
        assert!(a.contains(ip("10.2.3.4")));
        assert!(a.contains(ip("::ffff:10.2.3.4")));
        assert!(!a.contains(ip("11.0.0.1")));
        assert!(a.contains(ip("2001:db8::1")));
        assert!(!a.contains(ip("2001:db8::2")));
        assert!(!CidrSet::parse(&[]).contains(ip("1.2.3.4")));
        assert!(CidrSet::parse(&["0.0.0.0/0".into()]).contains(ip("1.2.3.4")));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let p = TrustedProxies::new(&["10.0.0.0/8".into()]);
        let c = p.client(ip("203.0.113.9"), &headers(&["198.51.100.1"]));
        assert_eq!(c.ip, ip("203.0.113.9"));
        assert_eq!(c.forwarded_for, "203.0.113.9");
        // Without trusted proxies nobody's header is believed.
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("10.0.0.1"), &headers(&["198.51.100.1"])).ip,
            ip("10.0.0.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_address_is_the_client() {
        let p = TrustedProxies::new(&["10.0.0.0/8".into(), "fd00::/8".into()]);
        // The caller forged the left-most entry; the load balancer appended the real address.
        let c = p.client(
            ip("10.0.0.2"),
            &headers(&["1.1.1.1, 203.0.113.7", "10.1.1.1"]),
        );
        assert_eq!(c.ip, ip("203.0.113.7"));
        assert_eq!(c.forwarded_for, "203.0.113.7, 10.1.1.1, 10.0.0.2");
        // Ports and brackets, as some proxies write them.
        let c = p.client(ip("::ffff:10.0.0.2"), &headers(&["[2001:db8::7]:4711"]));
        assert_eq!(c.ip, ip("2001:db8::7"));
        let c = p.client(ip("fd00::1"), &headers(&["192.0.2.1:80"]));
        assert_eq!(c.ip, ip("192.0.2.1"));
        // Garbage stops the walk at the last trusted hop.
        let c = p.client(ip("10.0.0.2"), &headers(&["203.0.113.7, unknown"]));
        assert_eq!(c.ip, ip("10.0.0.2"));
        assert_eq!(c.forwarded_for, "10.0.0.2");
        // A trusted peer that forwards nothing is its own client.
        assert_eq!(
            p.client(ip("10.0.0.2"), &HeaderMap::new()).ip,
            ip("10.0.0.2")
        );
        // Only trusted hops all the way: the left-most one.
        let c = p.client(ip("10.0.0.2"), &headers(&["10.9.9.9"]));
        assert_eq!(c.ip, ip("10.9.9.9"));
    }
}
