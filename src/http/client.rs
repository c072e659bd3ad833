//! Who sent a request. Behind a reverse proxy the TCP peer is the proxy, so every customer
//! would share its address (and its rate limits). When the peer is one of
//! `server.trusted_proxies`, the client address comes from the one header the proxy is known
//! to set (`server.forwarded_header`: `X-Forwarded-For` by default, or RFC 7239 `Forwarded`):
//! the right-most hop that is not itself a trusted proxy, so a client cannot forge an address
//! by sending the header itself. The other header is never read, because proxies pass through
//! what they do not set (Caddy forwards a client's `Forwarded` untouched). The scheme and host
//! come from `X-Forwarded-Proto`/`-Host`, or `Forwarded`'s `proto`/`host`. An untrusted peer's
//! forwarding headers are ignored.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

/// Which forwarding header the trusted proxies set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host` (nginx, Caddy, HAProxy, Traefik).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded`.
    Forwarded,
}

impl ForwardedHeader {
    /// Parses `server.forwarded_header`.
    pub fn parse(s: &str) -> Option<ForwardedHeader> {
        match s.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Some(ForwardedHeader::XForwardedFor),
            "forwarded" => Some(ForwardedHeader::Forwarded),
            _ => None,
        }
    }
}

/// Reverse proxies whose forwarding headers are believed (none by default), and the header
/// they set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Parses `server.trusted_proxies`: addresses or CIDR blocks separated by commas or spaces
    /// (`127.0.0.1, ::1, 10.0.0.0/8`).
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        list.split([',', ' ', '\t'])
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{s}` is not an address or CIDR block"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|nets| TrustedProxies {
                nets,
                header: ForwardedHeader::default(),
            })
    }

    /// The same proxies, which set `header`.
    pub fn with_header(mut self, header: ForwardedHeader) -> TrustedProxies {
        self.header = header;
        self
    }

    /// Whether the list is empty (forwarding headers are never read).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is a trusted proxy (an IPv4-mapped IPv6 peer counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The request's origin as shopd believes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address (the TCP peer unless a trusted proxy forwarded another).
    pub addr: Option<IpAddr>,
    /// The TCP peer (the proxy, behind one).
    pub peer: Option<IpAddr>,
    /// `https` or `http` as the client used it, when a trusted proxy said so.
    pub scheme: Option<String>,
    /// The host the client asked for, when a trusted proxy said so.
    pub host: Option<String>,
}

/// Decides the client of a request from its peer and headers.
pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &TrustedProxies) -> ClientInfo {
    let peer = peer.map(canonical);
    let direct = ClientInfo {
        addr: peer,
        peer,
        scheme: None,
        host: None,
    };
    let Some(p) = peer.filter(|p| trusted.contains(*p)) else {
        return direct;
    };
    let (hops, proto, host) = match trusted.header {
        ForwardedHeader::Forwarded => {
            let f = Forwarded::read(headers);
            (f.hops, f.proto, f.host)
        }
        ForwardedHeader::XForwardedFor => (
            list(headers, "x-forwarded-for"),
            list(headers, "x-forwarded-proto").pop(),
            list(headers, "x-forwarded-host").pop(),
        ),
    };
    ClientInfo {
        addr: Some(rightmost_untrusted(p, &hops, trusted)),
        peer,
        scheme: proto
            .map(|s| s.to_ascii_lowercase())
            .filter(|s| s == "http" || s == "https"),
        host: host.filter(|h| valid_host(h)),
    }
}

/// Walks the hops from the proxy outwards and stops at the first address that is not a
/// trusted proxy. A hop that is no address (`unknown`, an obfuscated name) ends the walk at
/// the proxy that reported it.
fn rightmost_untrusted(peer: IpAddr, hops: &[String], trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_node(hop) else {
            return client;
        };
        client = ip;
        if !trusted.contains(ip) {
            return ip;
        }
    }
    client
}

/// Every comma-separated value of every `name` header, in order.
fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// What RFC 7239 `Forwarded` headers say: the `for` of every element in order, and the
/// `proto`/`host` of the right-most element that has them (the nearest proxy's statement).
struct Forwarded {
    hops: Vec<String>,
    proto: Option<String>,
    host: Option<String>,
}

impl Forwarded {
    fn read(headers: &HeaderMap) -> Forwarded {
        let elements = list(headers, "forwarded");
        let mut f = Forwarded {
            hops: Vec::new(),
            proto: None,
            host: None,
        };
        for element in elements {
            for pair in element.split(';') {
                let Some((k, v)) = pair.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"').to_owned();
                match k.trim().to_ascii_lowercase().as_str() {
                    "for" => f.hops.push(v),
                    "proto" => f.proto = Some(v),
                    "host" => f.host = Some(v),
                    _ => {}
                }
            }
        }
        f
    }
}

/// An address from a hop: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`, `2001:db8::1`.
fn parse_node(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok().map(canonical);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    let (host, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// A host name or address with an optional port, nothing that could break a URL.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn client(peer: &str, trusted: &str, pairs: &[(&str, &str)]) -> ClientInfo {
        let t = TrustedProxies::parse(trusted).expect("trusted");
        resolve(Some(ip(peer)), &headers(pairs), &t)
    }

    fn client_7239(peer: &str, trusted: &str, pairs: &[(&str, &str)]) -> ClientInfo {
        let t = TrustedProxies::parse(trusted)
            .expect("trusted")
            .with_header(ForwardedHeader::Forwarded);
        resolve(Some(ip(peer)), &headers(pairs), &t)
    }

    #[test]
    fn untrusted_peers_headers_are_ignored() {
        let c = client(
            "203.0.113.9",
            "127.0.0.1",
            &[
                ("x-forwarded-for", "1.2.3.4"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert_eq!(c.addr, Some(ip("203.0.113.9")));
        assert_eq!((c.scheme, c.host), (None, None));
        let c = client_7239("203.0.113.9", "", &[("forwarded", "for=1.2.3.4")]);
        assert_eq!(c.addr, Some(ip("203.0.113.9")));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        // The client forged 6.6.6.6; the proxy appended the real address.
        let c = client(
            "127.0.0.1",
            "127.0.0.1, 10.0.0.0/8",
            &[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.2.3")],
        );
        assert_eq!(c.addr, Some(ip("198.51.100.7")));
        let c = client(
            "::ffff:127.0.0.1",
            "127.0.0.1",
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "198.51.100.7"),
            ],
        );
        assert_eq!(c.addr, Some(ip("198.51.100.7")), "headers are concatenated");
        assert_eq!(c.peer, Some(ip("127.0.0.1")));
        let c = client("127.0.0.1", "127.0.0.1", &[]);
        assert_eq!(c.addr, Some(ip("127.0.0.1")), "no header: the proxy itself");
        let c = client(
            "127.0.0.1",
            "127.0.0.1, 10.0.0.0/8",
            &[("x-forwarded-for", "unknown, 10.0.0.5")],
        );
        assert_eq!(
            c.addr,
            Some(ip("10.0.0.5")),
            "the walk stops at what is no address"
        );
    }

    /// Only the configured header is read: a `Forwarded` a proxy passed through from the client
    /// changes nothing by default, and `X-Forwarded-For` nothing when `Forwarded` is configured.
    #[test]
    fn only_the_configured_header_is_read() {
        let forged = [
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7"),
        ];
        assert_eq!(
            client("127.0.0.1", "127.0.0.1", &forged).addr,
            Some(ip("198.51.100.7"))
        );
        let forged = [
            ("forwarded", "for=198.51.100.7"),
            ("x-forwarded-for", "6.6.6.6"),
        ];
        assert_eq!(
            client_7239("127.0.0.1", "127.0.0.1", &forged).addr,
            Some(ip("198.51.100.7"))
        );
    }

    #[test]
    fn forwarded_carries_ports_brackets_and_quotes() {
        let c = client_7239(
            "127.0.0.1",
            "127.0.0.1",
            &[
                ("x-forwarded-for", "9.9.9.9"),
                (
                    "forwarded",
                    "for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https;host=shop.example.com",
                ),
            ],
        );
        assert_eq!(c.addr, Some(ip("2001:db8:cafe::17")));
        assert_eq!(c.scheme.as_deref(), Some("https"));
        assert_eq!(c.host.as_deref(), Some("shop.example.com"));
        let c = client_7239(
            "127.0.0.1",
            "127.0.0.1",
            &[("forwarded", "for=\"192.0.2.60:47011\"")],
        );
        assert_eq!(c.addr, Some(ip("192.0.2.60")));
    }

    #[test]
    fn scheme_and_host_are_checked() {
        let c = client(
            "127.0.0.1",
            "127.0.0.1",
            &[
                ("x-forwarded-proto", "javascript"),
                ("x-forwarded-host", "evil.example/<script>"),
            ],
        );
        assert_eq!((c.scheme, c.host), (None, None));
        let c = client(
            "127.0.0.1",
            "127.0.0.1",
            &[
                ("x-forwarded-proto", "HTTPS"),
                ("x-forwarded-host", "shop.example.com:8443"),
            ],
        );
        assert_eq!(c.scheme.as_deref(), Some("https"));
        assert_eq!(c.host.as_deref(), Some("shop.example.com:8443"));
    }

    #[test]
    fn the_list_is_checked() {
        assert!(TrustedProxies::parse("").expect("empty").is_empty());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        let t = TrustedProxies::parse("fd00::/8 192.168.1.1").expect("list");
        assert!(t.contains(ip("fd12::1")) && t.contains(ip("192.168.1.1")));
        assert!(!t.contains(ip("192.168.1.2")));
    }
}
