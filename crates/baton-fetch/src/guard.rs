//! The SSRF guard: fetch tasks may not reach loopback, private, link-local, cloud-metadata or
//! otherwise special addresses, unless `BATON_FETCH_ALLOW_PRIVATE=true`.
//!
//! Three doors are watched: host names (checked after DNS resolution, by [`GuardedResolver`], so
//! a name pointing at 10.0.0.1 is refused and DNS rebinding gains nothing: the addresses checked
//! are the ones connected to), literal IP addresses in URLs (they skip DNS, so [`check_url`]
//! checks them before sending), and redirects (checked by the same function at every hop).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why `ip` must not be fetched, or `None` for an ordinary public address.
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "cloud metadata",
        _ if ip.is_broadcast() => "broadcast",
        (0, _, _) => "unspecified (0.0.0.0/8)",
        (10, _, _) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "carrier-grade NAT (100.64.0.0/10)",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local (169.254.0.0/16)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay anycast",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // IPv4 inside IPv6: the IPv4 address is what gets reached.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let segments = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    Some(match segments {
        // ::a.b.c.d, IPv4-compatible (deprecated).
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible (::/96)",
        // NAT64 translates to the embedded IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            return classify_v4(embedded(hi, lo));
        }
        [0x64, 0xff9b, 1, ..] => "NAT64 local use (64:ff9b:1::/48)",
        [0x100, 0, 0, 0, ..] => "discard-only (100::/64)",
        [0x2001, 0x0db8, ..] => "documentation (2001:db8::/32)",
        [0x2001, 0, ..] => "Teredo (2001::/32)",
        [0x2001, 0x0002, 0, ..] => "benchmarking (2001:2::/48)",
        // 6to4 carries an IPv4 address in its second and third segments.
        [0x2002, hi, lo, ..] => return classify_v4(embedded(hi, lo)),
        [s, ..] if s & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        [s, ..] if s & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        [s, ..] if s & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        [s, ..] if s & 0xff00 == 0xff00 => "multicast (ff00::/8)",
        _ => return None,
    })
}

/// A destination the guard refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub host: String,
    pub address: IpAddr,
    pub reason: &'static str,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host == self.address.to_string() {
            String::new()
        } else {
            format!("{} resolves to ", self.host)
        };
        write!(
            f,
            "refused to fetch: {host}{} is a {} address; fetch tasks may only reach public \
             addresses unless BATON_FETCH_ALLOW_PRIVATE=true",
            self.address, self.reason
        )
    }
}

impl std::error::Error for Blocked {}

/// Refuses a URL whose host is a literal IP address of a refused kind (names are checked by the
/// resolver once resolved).
pub fn check_url(url: &Url) -> Result<(), Blocked> {
    let Some(host) = url.host_str() else {
        return Ok(());
    };
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    match literal.parse::<IpAddr>() {
        Ok(address) => match classify(address) {
            Some(reason) => Err(Blocked {
                host: address.to_string(),
                address,
                reason,
            }),
            None => Ok(()),
        },
        Err(_) => Ok(()),
    }
}

/// Resolves names with the system resolver, then drops every refused address; a name left with
/// none fails with [`Blocked`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = resolved
                .into_iter()
                .partition(|addr| classify(addr.ip()).is_none());
            match (allowed.is_empty(), refused.first()) {
                (true, Some(first)) => Err(Box::new(Blocked {
                    host,
                    address: first.ip(),
                    reason: classify(first.ip()).unwrap_or("private"),
                })
                    as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// The refusal somewhere in an error's chain of causes, if that is why it failed.
pub fn find_blocked<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Blocked> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = current {
        if let Some(blocked) = cause.downcast_ref::<Blocked>() {
            return Some(blocked);
        }
        current = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(ip: &str) -> Option<&'static str> {
        classify(ip.parse().unwrap())
    }

    #[test]
    fn every_special_ipv4_range_is_refused() {
        for (ip, why) in [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("10.0.0.1", "private"),
            ("10.255.255.255", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.254", "carrier-grade NAT"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("169.254.0.1", "link-local"),
            ("169.254.169.254", "cloud metadata"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.8", "IETF"),
            ("192.0.2.10", "documentation"),
            ("192.168.0.1", "private"),
            ("192.168.255.255", "private"),
            ("198.18.0.1", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
        ] {
            let got = reason(ip);
            assert!(
                got.is_some_and(|r| r.contains(why)),
                "{ip}: expected {why}, got {got:?}"
            );
        }
    }

    #[test]
    fn every_special_ipv6_range_is_refused() {
        for (ip, why) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            ("::ffff:192.168.1.1", "private"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "cloud metadata"),
            ("64:ff9b:1::1", "NAT64"),
            ("100::1", "discard"),
            ("2001:db8::1", "documentation"),
            ("2001::1", "Teredo"),
            ("2002:7f00:1::1", "loopback"),
            ("2002:a00:1::", "private"),
            ("fc00::1", "unique local"),
            ("fd00:ec2::254", "unique local"),
            ("fdff:ffff::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
        ] {
            let got = reason(ip);
            assert!(
                got.is_some_and(|r| r.contains(why)),
                "{ip}: expected {why}, got {got:?}"
            );
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.167.1.1",
            "192.169.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4007:80e::200e",
            "::ffff:1.1.1.1",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(reason(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn urls_with_literal_addresses_are_checked() {
        for url in [
            "http://127.0.0.1:8080/x",
            "http://[::1]/x",
            "http://[::ffff:10.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            // The URL parser normalises these IPv4 spellings to 127.0.0.1 and 10.0.0.1.
            "http://2130706433/",
            "http://0x7f.1/",
            "http://012.0.0.1/",
        ] {
            let blocked = check_url(&Url::parse(url).unwrap()).unwrap_err();
            assert!(
                blocked.to_string().contains("BATON_FETCH_ALLOW_PRIVATE"),
                "{blocked}"
            );
        }
        for url in [
            "https://example.com/x",
            "http://1.1.1.1/",
            "http://[2606:4700::1]/",
        ] {
            assert!(check_url(&Url::parse(url).unwrap()).is_ok(), "{url}");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_refused_addresses_fail_after_resolution() {
        // `localhost` resolves from the hosts file: no traffic leaves the machine.
        let err = GuardedResolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost is refused");
        let blocked = find_blocked(err.as_ref()).expect("a Blocked error");
        assert_eq!(blocked.host, "localhost");
        assert!(blocked.address.is_loopback());
        assert!(blocked.to_string().contains("localhost resolves to"));
    }
}
