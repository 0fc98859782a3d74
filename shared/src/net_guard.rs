//! Which hosts a URL taken from a request may make us (or a provider) connect to:
//! the one classification behind the enqueue-time check of `callback_url` and
//! `cloud_init_url` ([`crate::request::check_outbound_url`]) and the worker's
//! delivery-time check of every address a callback host resolves to.
//!
//! An address is *global* when the IANA special-purpose registries (IPv4 and IPv6)
//! do not set it apart, written out here the way the standard library's unstable
//! `is_global` does, and stricter where a callback receiver can never live:
//!
//! - IPv4: not 0/8 (this network), 10/8, 100.64/10 (CGNAT), 127/8, 169.254/16,
//!   172.16/12, 192.0.0/24 (protocol assignments), 192.0.2/24, 192.88.99/24 (6to4
//!   relay anycast), 192.168/16, 198.18/15 (benchmarking), 198.51.100/24,
//!   203.0.113/24, 224/4 (multicast), 240/4 (reserved) and 255.255.255.255;
//! - IPv6: only global unicast (2000::/3) can be global, which leaves out ::, ::1,
//!   the IPv4-compatible ::/96, 100::/64 (discard), 5f00::/16 (SRv6), fc00::/7,
//!   fe80::/10, fec0::/10 (site-local) and ff00::/8 (multicast); within it not
//!   2001::/23 (protocol assignments: Teredo 2001::/32, benchmarking, ORCHID and
//!   ORCHIDv2, anycast services), 2001:db8::/32 and 3fff::/20 (documentation), and
//!   not 64:ff9b:1::/48 (local NAT64). Addresses that carry an IPv4 address to which
//!   traffic is delivered are judged by that address: IPv4-mapped ::ffff:0:0/96,
//!   NAT64 64:ff9b::/96 and 6to4 2002::/16.
//!
//! Names are judged by what they say (`localhost`, `*.localhost`, `*.local`,
//! `*.internal`, …, with or without the trailing dot, and single-label names, which
//! resolve through local search domains); what a name resolves to is judged at
//! connection time by the worker, with [`is_global`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is reachable on the public Internet (see the module docs).
pub fn is_global(ip: IpAddr) -> bool {
    special_purpose(ip).is_none()
}

/// The special-purpose block `ip` is in, when it is not global.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "\"this network\" (0.0.0.0/8)",
        (10, ..) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "shared address space (100.64.0.0/10)",
        (127, ..) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local (169.254.0.0/16)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) => "documentation (192.0.2.0/24)",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (198, 51, 100) => "documentation (198.51.100.0/24)",
        (203, 0, 113) => "documentation (203.0.113.0/24)",
        (224..=239, ..) => "multicast (224.0.0.0/4)",
        (255, 255, 255) if ip == Ipv4Addr::BROADCAST => "broadcast (255.255.255.255)",
        (240..=255, ..) => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let low_v4 = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return special_v4(v4).map(|_| "IPv4-mapped (::ffff:0:0/96) of a non-public IPv4 address");
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return special_v4(low_v4()).map(|_| "NAT64 (64:ff9b::/96) of a non-public IPv4 address");
    }
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return special_v4(v4).map(|_| "6to4 (2002::/16) of a non-public IPv4 address");
    }
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified (::)",
        [0, 0, 0, 0, 0, 0, 0, 1] => "loopback (::1)",
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible (::/96, deprecated)",
        [0x64, 0xff9b, 1, ..] => "local-use NAT64 (64:ff9b:1::/48)",
        [0x100, 0, 0, 0, ..] => "discard-only (100::/64)",
        [0x5f00, ..] => "SRv6 SIDs (5f00::/16)",
        [0xfc00..=0xfdff, ..] => "unique local (fc00::/7)",
        [0xfe80..=0xfebf, ..] => "link-local (fe80::/10)",
        [0xfec0..=0xfeff, ..] => "site-local (fec0::/10, deprecated)",
        [0xff00..=0xffff, ..] => "multicast (ff00::/8)",
        [0x2001, 0..=0x1ff, ..] => {
            "IETF protocol assignments (2001::/23: Teredo, benchmarking, ORCHID)"
        }
        [0x2001, 0xdb8, ..] => "documentation (2001:db8::/32)",
        [0x3fff, 0..=0x0fff, ..] => "documentation (3fff::/20)",
        [0x2000..=0x3fff, ..] => return None,
        _ => "not global unicast (outside 2000::/3)",
    })
}

/// Why a host name is refused before anything resolves it, if it is.
pub fn local_name(host: &str) -> Option<&'static str> {
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    const LOCAL_SUFFIXES: &[&str] = &[
        "localhost",
        "local",
        "localdomain",
        "internal",
        "intranet",
        "lan",
        "home.arpa",
    ];
    if name.is_empty() || name.ends_with('.') {
        return Some("an empty label");
    }
    if !name.contains('.') {
        return Some("a single-label name (resolved through local search domains)");
    }
    if name == "localhost.localdomain" || name.starts_with("ip6-local") {
        return Some("a loopback name");
    }
    LOCAL_SUFFIXES
        .iter()
        .any(|s| name.ends_with(&format!(".{s}")))
        .then_some("a local-only name (localhost, .local, .internal, …)")
}

/// Why `host` (as `url` parsed it) is refused as a destination, if it is: a
/// non-global address literal, or a local-only name.
pub fn refused_host(host: &url::Host<&str>) -> Option<String> {
    match host {
        url::Host::Ipv4(ip) => special_v4(*ip).map(|why| format!("{ip} is {why}")),
        url::Host::Ipv6(ip) => special_v6(*ip).map(|why| format!("{ip} is {why}")),
        url::Host::Domain(d) => local_name(d).map(|why| format!("{d} is {why}")),
    }
}

#[cfg(test)]
mod tests;
