//! Where an [`Arg`](super::Arg) reads its value.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use http::{HeaderName, Request};
use percent_encoding::percent_decode_str;

use super::client_ip::Forwarding;
use crate::resource::matched_path;

/// The client address of requests whose address cannot be told (no connection info and
/// no usable forwarding header): they share this one value.
pub(super) const UNKNOWN_CLIENT: &str = "unknown";

/// A place in the request.
#[derive(Debug, Clone)]
pub(super) enum Source {
    PathParam(Cow<'static, str>),
    Header(HeaderName),
    Query(Cow<'static, str>),
    ClientIp { forwarded: Option<Forwarding> },
}

/// A value as found: text, or bytes that are not text.
pub(super) enum Text<'r> {
    Str(Cow<'r, str>),
    Bytes(&'r [u8]),
}

impl Source {
    pub(super) fn extract<'r, B>(&self, request: &'r Request<B>) -> Option<Text<'r>> {
        match self {
            Source::PathParam(name) => path_param(request, name).map(Text::Str),
            Source::Header(name) => {
                let value = request.headers().get(name)?;
                Some(match value.to_str() {
                    Ok(s) => Text::Str(Cow::Borrowed(s)),
                    Err(_) => Text::Bytes(value.as_bytes()),
                })
            }
            Source::Query(key) => {
                let query = request.uri().query()?;
                form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| Text::Str(Cow::Owned(v.into_owned())))
            }
            Source::ClientIp { forwarded } => {
                let peer = peer_ip(request).map(|ip| ip.to_canonical());
                let ip = match forwarded {
                    Some(f) => f.client(request.headers(), peer),
                    None => peer,
                };
                // Fail closed: requests whose address cannot be told share one value (and
                // so one budget) instead of escaping the rule.
                Some(Text::Str(match ip {
                    Some(ip) => Cow::Owned(ip.to_string()),
                    None => Cow::Borrowed(UNKNOWN_CLIENT),
                }))
            }
        }
    }
}

/// The value of path parameter `name`, percent-decoded. Nested routers see a path without
/// their prefix, so the original URI is used when axum recorded one.
fn path_param<'r, B>(request: &'r Request<B>, name: &str) -> Option<Cow<'r, str>> {
    let raw = param_in(matched_path(request)?, original_path(request), name)?;
    percent_decode_str(raw).decode_utf8().ok()
}

/// The part of `path` at the position of `{name}` in `route` (the rest of the path for
/// `{*name}`).
fn param_in<'p>(route: &str, path: &'p str, name: &str) -> Option<&'p str> {
    let mut segments = path.split('/');
    let mut consumed = 0usize;
    for pattern in route.split('/') {
        let segment = segments.next()?;
        if let Some(param) = pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            match param.strip_prefix('*') {
                Some(wildcard) if wildcard == name => return path.get(consumed..),
                None if param == name => return Some(segment),
                _ => {}
            }
        }
        consumed += segment.len() + 1;
    }
    None
}

#[cfg(feature = "axum")]
fn original_path<B>(request: &Request<B>) -> &str {
    match request.extensions().get::<axum::extract::OriginalUri>() {
        Some(original) => original.0.path(),
        None => request.uri().path(),
    }
}

#[cfg(not(feature = "axum"))]
fn original_path<B>(request: &Request<B>) -> &str {
    request.uri().path()
}

/// The peer address the server recorded in the request's extensions.
fn peer_ip<B>(request: &Request<B>) -> Option<IpAddr> {
    let extensions = request.extensions();
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip());
    }
    #[cfg(feature = "tonic")]
    if let Some(info) = extensions.get::<tonic::transport::server::TcpConnectInfo>() {
        return info.remote_addr().map(|a| a.ip());
    }
    extensions.get::<SocketAddr>().map(SocketAddr::ip)
}

#[cfg(test)]
mod tests {
    use super::super::Arg;
    use http::{HeaderName, Request};
    use sentinel_core::ParamValue;
    use std::net::SocketAddr;

    fn request(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap()
    }

    #[test]
    fn query_values_are_form_decoded_and_optionally_integers() {
        let req = request("/search?q=caf%C3%A9+au+lait&page=3&page=4");
        assert_eq!(Arg::query("q").value(&req), Some("café au lait".into()));
        assert_eq!(Arg::query("page").integer().value(&req), Some(3.into()));
        assert_eq!(Arg::query("page").value(&req), Some("3".into()));
        assert_eq!(Arg::query("missing").value(&req), None);
        assert_eq!(Arg::query("q").value(&request("/search")), None);
    }

    #[test]
    fn headers_are_strings_or_bytes() {
        let req = Request::get("/")
            .header("x-user", "ann")
            .header("x-raw", &[0xffu8, 0x41][..])
            .body(())
            .unwrap();
        let user = HeaderName::from_static("x-user");
        assert_eq!(Arg::header(user).value(&req), Some("ann".into()));
        let raw = HeaderName::from_static("x-raw");
        assert_eq!(
            Arg::header(raw).value(&req),
            Some(ParamValue::from(vec![0xffu8, 0x41]))
        );
    }

    #[test]
    fn client_ip_from_the_socket_or_a_trusted_header() {
        let mut req = Request::get("/")
            .header("x-forwarded-for", "203.0.113.9, 10.0.0.1")
            .body(())
            .unwrap();
        assert_eq!(
            Arg::client_ip().value(&req),
            Some("unknown".into()),
            "no address: one shared value, not a skipped rule"
        );
        req.extensions_mut()
            .insert("127.0.0.7:4000".parse::<SocketAddr>().unwrap());
        assert_eq!(Arg::client_ip().value(&req), Some("127.0.0.7".into()));
        let xff = HeaderName::from_static("x-forwarded-for");
        let one_proxy = Arg::client_ip().forwarded_by(xff.clone());
        assert_eq!(
            one_proxy.value(&req),
            Some("10.0.0.1".into()),
            "the address the nearest proxy appended, not the client-written first one"
        );
        let two = Arg::client_ip()
            .forwarded_by(xff)
            .trusted_proxies(super::super::TrustedProxies::Hops(2));
        assert_eq!(two.value(&req), Some("203.0.113.9".into()));
        req.headers_mut()
            .insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(one_proxy.value(&req), Some("127.0.0.7".into()));
    }

    #[test]
    fn path_parameters_line_up_with_the_route() {
        use super::param_in;
        assert_eq!(param_in("/items/{id}", "/items/42", "id"), Some("42"));
        assert_eq!(param_in("/items/{id}", "/items/42", "other"), None);
        assert_eq!(
            param_in(
                "/{shop}/items/{id}/reviews",
                "/acme/items/7/reviews",
                "shop"
            ),
            Some("acme")
        );
        assert_eq!(
            param_in("/files/{*path}", "/files/a/b.txt", "path"),
            Some("a/b.txt")
        );
        assert_eq!(param_in("/items/{id}", "/items", "id"), None);
    }

    #[test]
    fn no_path_parameters_without_a_matched_route() {
        assert_eq!(Arg::path_param("id").value(&request("/items/4")), None);
    }
}
