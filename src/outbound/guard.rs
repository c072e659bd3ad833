//! The SSRF guard: a webhook URL must be `https` and every address its host resolves to must
//! be a public unicast address — never loopback, private, link-local (which holds the cloud
//! metadata address 169.254.169.254), unique-local, CGNAT, multicast or reserved. The check runs
//! at registration and again at every delivery, on the addresses the connection will actually
//! use (the sender's resolver applies it), so a name that later resolves elsewhere (DNS
//! rebinding) is refused too. `webhooks.allow_private_targets` lifts it (tests, private setups).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What targets are allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Allow private and loopback addresses and plain `http` (tests, an internal network).
    pub allow_private: bool,
}

/// Why a URL is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a URL shopd can call.
    #[error("{0}")]
    Invalid(String),
    /// The host resolves (or is) an address shopd does not call.
    #[error("{0} is not a public address")]
    Address(IpAddr),
    /// The host does not resolve.
    #[error("`{0}` does not resolve")]
    Unresolved(String),
}

/// Whether shopd may connect to `ip` at all under the strict policy.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments 192.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || a >= 240) // reserved 240/4
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || ip.segments()[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d
}

/// Checks one resolved address against `policy`.
pub fn check_ip(ip: IpAddr, policy: Policy) -> Result<(), Refused> {
    if policy.allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(Refused::Address(ip))
    }
}

/// Parses and checks a URL's form: `https` (or `http` when private targets are allowed), a
/// host, no credentials, at most 2,048 characters; an IP-literal host is checked here.
pub fn check_url(raw: &str, policy: Policy) -> Result<reqwest::Url, Refused> {
    if raw.len() > 2048 {
        return Err(Refused::Invalid("a URL has at most 2048 characters".into()));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| Refused::Invalid(format!("not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        _ => return Err(Refused::Invalid("the URL must use https".into())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Invalid(
            "the URL must not carry credentials".into(),
        ));
    }
    match url.host() {
        None => return Err(Refused::Invalid("the URL needs a host".into())),
        Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), policy)?,
        Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), policy)?,
        Some(url::Host::Domain(_)) => {}
    }
    Ok(url)
}

/// Resolves the URL's host and checks every address (registration time).
pub async fn check_resolved(url: &reqwest::Url, policy: Policy) -> Result<(), Refused> {
    let Some(host) = url.host_str() else {
        return Err(Refused::Invalid("the URL needs a host".into()));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs = resolve(host, port, policy).await?;
    if addrs.is_empty() {
        return Err(Refused::Unresolved(host.to_owned()));
    }
    Ok(())
}

/// Resolves `host` and refuses the whole answer if any address is not allowed (so a name
/// cannot smuggle one private address among public ones).
pub async fn resolve(host: &str, port: u16, policy: Policy) -> Result<Vec<SocketAddr>, Refused> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| Refused::Unresolved(host.to_owned()))?
        .collect();
    for a in &addrs {
        check_ip(a.ip(), policy)?;
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused() {
        let strict = Policy::default();
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "240.0.0.1",
        ] {
            let ip: IpAddr = bad.parse().expect("ip");
            assert!(check_ip(ip, strict).is_err(), "{bad} must be refused");
        }
        for good in ["93.184.215.14", "1.1.1.1", "2606:4700::1111"] {
            let ip: IpAddr = good.parse().expect("ip");
            assert!(check_ip(ip, strict).is_ok(), "{good} is public");
        }
        assert!(
            check_ip(
                "127.0.0.1".parse().expect("ip"),
                Policy {
                    allow_private: true
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn urls_need_https_a_host_and_no_credentials() {
        let strict = Policy::default();
        assert!(check_url("https://hooks.example.com/x", strict).is_ok());
        assert!(check_url("http://hooks.example.com/x", strict).is_err());
        assert!(check_url("https://user:pw@hooks.example.com/", strict).is_err());
        assert!(check_url("https://127.0.0.1/", strict).is_err());
        assert!(check_url("https://[::1]/", strict).is_err());
        assert!(check_url("ftp://example.com/", strict).is_err());
        assert!(check_url("not a url", strict).is_err());
        let open = Policy {
            allow_private: true,
        };
        assert!(check_url("http://127.0.0.1:9/", open).is_ok());
    }
}
