//! The client's address behind proxies: counted from the right, never taken on the
//! client's word.
//!
//! Each proxy *appends* the address it received the request from to `X-Forwarded-For`
//! (or adds a `for=` element to RFC 7239's `Forwarded`), so the list reads
//! `client-written..., client, proxy2, ...` and only its right end is written by proxies
//! you run. The leftmost entry is whatever the client sent: trusting it lets a client
//! pick a fresh address, and so a fresh per-client budget, on every request.
//!
//! The chain is the header's addresses followed by the socket peer. The client is found
//! by walking it from the right past the proxies you trust: a fixed number of hops, or
//! every address inside networks you name. Zero trusted hops ignores the header.

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, HeaderName};
use ipnet::IpNet;

/// How a forwarding header lists addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// A comma-separated list of addresses (`X-Forwarded-For` and its relatives), in the
    /// header of this name.
    List(HeaderName),
    /// RFC 7239 `Forwarded`: `for=` parameters of comma-separated elements.
    Forwarded,
}

/// Which proxies may say where a request came from ([`Arg::trusted_proxies`]).
///
/// Each proxy *appends* the address it received the request from to `X-Forwarded-For`
/// (or adds a `for=` element to RFC 7239's `Forwarded`), so the list reads
/// `client-written..., client, proxy2, ...` and only its right end is written by proxies
/// you run: the leftmost entry is whatever the client sent. The client is found by walking
/// the list, then the socket peer, from the right past the proxies trusted here.
///
/// Deployment rules:
/// * Directly exposed (no proxy): use [`Arg::client_ip`] alone, or `Hops(0)`: forwarding
///   headers are ignored.
/// * Behind one load balancer or ingress that appends to `X-Forwarded-For`:
///   `Arg::client_ip().forwarded_by(X_FORWARDED_FOR)` (one hop is the default).
/// * Behind a CDN and then an ingress: `Hops(2)`; count every proxy that appends.
/// * Behind proxies whose addresses you know (a load balancer subnet, mesh sidecars):
///   `Networks(...)`, which also copes with a varying number of them.
/// * Trust no more hops than there are proxies that *always* append: one extra hop hands
///   clients the choice of their address again. Make sure clients cannot reach the service
///   around the proxies, or count them in `Networks` so that direct callers are seen by
///   their socket address.
///
/// [`Arg::trusted_proxies`]: super::Arg::trusted_proxies
/// [`Arg::client_ip`]: super::Arg::client_ip
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedProxies {
    /// This many proxies stand between the clients and the service, each appending to the
    /// header (the socket peer is the nearest). `Hops(0)` ignores the header.
    Hops(usize),
    /// Every address in these networks is a proxy of yours (a load balancer subnet, a
    /// mesh's sidecars); the client is the rightmost address outside them.
    Networks(Vec<IpNet>),
}

/// Where to read forwarded addresses and how far to trust them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Forwarding {
    pub syntax: Syntax,
    pub trust: TrustedProxies,
}

/// One address of the chain; `None` where an entry is not an address (`unknown`, an
/// obfuscated RFC 7239 node, garbage).
type Hop = Option<IpAddr>;

impl Forwarding {
    /// The client's address: the header's addresses and then the peer, walked from the
    /// right past the trusted proxies. Falls back to the peer when the chain is shorter
    /// than the trusted hops or an entry that must be read is not an address.
    pub(crate) fn client(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
        let peer = peer.map(|ip| ip.to_canonical());
        let mut chain = self.hops(headers);
        if let Some(peer) = peer {
            chain.push(Some(peer));
        }
        let found = match &self.trust {
            TrustedProxies::Hops(0) => None,
            TrustedProxies::Hops(n) => {
                // Without the peer (no connection info), the nearest proxy's entry is the
                // header's last: count the peer's place as taken.
                let skip = if peer.is_some() { *n } else { n - 1 };
                skip.checked_add(1)
                    .and_then(|back| chain.len().checked_sub(back))
                    .and_then(|i| chain[i])
            }
            TrustedProxies::Networks(nets) => {
                let trusted = |ip: &IpAddr| nets.iter().any(|n| n.contains(ip));
                let mut last_trusted = None;
                let mut client = None;
                for hop in chain.iter().rev() {
                    match hop {
                        Some(ip) if trusted(ip) => last_trusted = Some(*ip),
                        Some(ip) => {
                            client = Some(*ip);
                            break;
                        }
                        None => break,
                    }
                }
                client.or(last_trusted)
            }
        };
        found.or(peer)
    }

    /// The header's addresses, left to right, over every occurrence of the header.
    fn hops(&self, headers: &HeaderMap) -> Vec<Hop> {
        let name = match &self.syntax {
            Syntax::List(name) => name,
            Syntax::Forwarded => &http::header::FORWARDED,
        };
        let mut hops = Vec::new();
        for value in headers.get_all(name) {
            // Split the raw bytes: an entry that is not text (a client may write any byte
            // before the entries proxies append) is unknown, its neighbours still count.
            for entry in value.as_bytes().split(|b| *b == b',') {
                let Ok(entry) = std::str::from_utf8(entry) else {
                    hops.push(None);
                    continue;
                };
                hops.push(match self.syntax {
                    Syntax::List(_) => parse_node(entry.trim()),
                    Syntax::Forwarded => forwarded_for(entry),
                });
            }
        }
        hops
    }
}

/// The `for=` node of one RFC 7239 element (`for=192.0.2.60;proto=http`), if it names an
/// address.
fn forwarded_for(element: &str) -> Hop {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(value.trim().trim_matches('"')))
            .flatten()
    })
}

/// An address with or without a port: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:443`; IPv4-mapped IPv6 (`::ffff:192.0.2.1`) as IPv4.
fn parse_node(node: &str) -> Hop {
    let ip = node
        .parse::<IpAddr>()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            node.strip_prefix('[')
                .and_then(|n| n.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn xff(trust: TrustedProxies) -> Forwarding {
        Forwarding {
            syntax: Syntax::List(HeaderName::from_static("x-forwarded-for")),
            trust,
        }
    }

    fn headers(name: &'static str, values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name, HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn hops_count_from_the_right_so_a_forged_left_end_is_ignored() {
        let h = headers("x-forwarded-for", &["203.0.113.1, 198.51.100.7"]);
        let peer = ip("10.0.0.2");
        assert_eq!(
            xff(TrustedProxies::Hops(1)).client(&h, peer),
            ip("198.51.100.7")
        );
        assert_eq!(
            xff(TrustedProxies::Hops(2)).client(&h, peer),
            ip("203.0.113.1")
        );
        assert_eq!(
            xff(TrustedProxies::Hops(0)).client(&h, peer),
            peer,
            "header ignored"
        );
        assert_eq!(
            xff(TrustedProxies::Hops(5)).client(&h, peer),
            peer,
            "fewer entries than proxies: the peer"
        );
        assert_eq!(
            xff(TrustedProxies::Hops(1)).client(&h, None),
            ip("198.51.100.7"),
            "without connection info the last entry is the nearest proxy's"
        );
    }

    #[test]
    fn repeated_headers_form_one_list() {
        let h = headers(
            "x-forwarded-for",
            &["203.0.113.1", "198.51.100.7, 10.0.0.9"],
        );
        assert_eq!(
            xff(TrustedProxies::Hops(2)).client(&h, ip("10.0.0.2")),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn trusted_networks_are_walked_past() {
        let nets = TrustedProxies::Networks(vec!["10.0.0.0/8".parse().unwrap()]);
        let h = headers("x-forwarded-for", &["203.0.113.1, 198.51.100.7, 10.1.2.3"]);
        assert_eq!(
            xff(nets.clone()).client(&h, ip("10.0.0.2")),
            ip("198.51.100.7")
        );
        let direct = HeaderMap::new();
        assert_eq!(
            xff(nets.clone()).client(&direct, ip("192.0.2.5")),
            ip("192.0.2.5"),
            "an untrusted peer is the client, whatever it wrote"
        );
        let forged = headers("x-forwarded-for", &["1.2.3.4"]);
        assert_eq!(xff(nets).client(&forged, ip("192.0.2.5")), ip("192.0.2.5"));
    }

    #[test]
    fn bytes_that_are_not_text_spoil_only_their_own_entry() {
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\x80, 198.51.100.7").unwrap(),
        );
        assert_eq!(
            xff(TrustedProxies::Hops(1)).client(&h, ip("10.0.0.2")),
            ip("198.51.100.7")
        );
        assert_eq!(
            xff(TrustedProxies::Hops(1)).client(&h, None),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let nets = TrustedProxies::Networks(vec!["10.0.0.0/8".parse().unwrap()]);
        let h = headers("x-forwarded-for", &["198.51.100.7"]);
        assert_eq!(
            xff(nets).client(&h, ip("::ffff:10.0.0.2")),
            ip("198.51.100.7")
        );
        let mapped = headers("x-forwarded-for", &["::ffff:198.51.100.7"]);
        assert_eq!(
            xff(TrustedProxies::Hops(1)).client(&mapped, ip("10.0.0.2")),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn absurd_hop_counts_fall_back_to_the_peer() {
        let h = headers("x-forwarded-for", &["198.51.100.7"]);
        let peer = ip("10.0.0.2");
        assert_eq!(xff(TrustedProxies::Hops(usize::MAX)).client(&h, peer), peer);
        assert_eq!(xff(TrustedProxies::Hops(usize::MAX)).client(&h, None), None);
    }

    #[test]
    fn garbage_where_an_address_is_needed_falls_back_to_the_peer() {
        let h = headers("x-forwarded-for", &["not-an-ip"]);
        assert_eq!(
            xff(TrustedProxies::Hops(1)).client(&h, ip("10.0.0.2")),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn rfc_7239_forwarded_elements() {
        let h = headers(
            "forwarded",
            &[
                r#"for=203.0.113.1, for="[2001:db8:cafe::17]:4711";proto=https, For=198.51.100.7:80;by=10.0.0.1"#,
            ],
        );
        let fwd = |n| Forwarding {
            syntax: Syntax::Forwarded,
            trust: TrustedProxies::Hops(n),
        };
        let peer = ip("10.0.0.2");
        assert_eq!(fwd(1).client(&h, peer), ip("198.51.100.7"));
        assert_eq!(fwd(2).client(&h, peer), ip("2001:db8:cafe::17"));
        let hidden = headers("forwarded", &["for=_hidden, for=unknown"]);
        assert_eq!(fwd(1).client(&hidden, peer), peer);
    }
}
