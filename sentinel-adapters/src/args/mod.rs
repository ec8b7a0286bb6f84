//! Hot-parameter arguments taken from a request.
//!
//! A hot-parameter rule limits each value of one argument of its resource (an item id, a
//! user, a client address). An argument extractor ([`RequestArgs`]) adds those values to
//! the entry: positionally (the rule's `paramIndex`) or under a key (the rule's
//! `paramKey`).
//!
//! ```
//! use http::{HeaderName, Request};
//! use sentinel_adapters::{Arg, RequestArgs};
//! use sentinel_core::{ParamValue, Sentinel};
//!
//! // Argument 0: the `id` query value, as an integer; attachment "user": a header.
//! let args = (
//!     Arg::query("id").integer(),
//!     Arg::header(HeaderName::from_static("x-user")).attachment("user"),
//! );
//! let req = Request::get("/items?id=42").header("x-user", "ann").body(()).unwrap();
//! assert_eq!(Arg::query("id").integer().value(&req), Some(ParamValue::from(42)));
//!
//! let sentinel = Sentinel::new();
//! let entry = args.add_args(&req, sentinel.entry("GET /items")).try_enter().unwrap();
//! assert_eq!(entry.args(), &[ParamValue::from(42)]);
//! ```
//!
//! Positional arguments are numbered in the order they are added, and a value the request
//! lacks is not added (the rule then skips the request), so a missing value shifts the
//! ones after it: when several optional values are extracted, send them as attachments.

pub(crate) mod client_ip;
mod source;

use std::borrow::Cow;

use http::{HeaderName, Request};
use sentinel_core::{EntryBuilder, ParamValue};

pub use client_ip::TrustedProxies;
use client_ip::{Forwarding, Syntax};
use source::Source;

/// The de-facto standard forwarding header.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Adds hot-parameter arguments of a request to its entry.
///
/// Implemented by [`NoArgs`] (the default), [`Arg`], tuples of up to four extractors
/// (added in order), and closures `Fn(&Request<B>) -> Option<ParamValue>` (one positional
/// argument).
pub trait RequestArgs<B> {
    /// Adds the arguments of `request` to `entry`.
    fn add_args<'a>(&self, request: &Request<B>, entry: EntryBuilder<'a>) -> EntryBuilder<'a>;
}

/// No arguments (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoArgs;

impl<B> RequestArgs<B> for NoArgs {
    #[inline]
    fn add_args<'a>(&self, _request: &Request<B>, entry: EntryBuilder<'a>) -> EntryBuilder<'a> {
        entry
    }
}

impl<B, F> RequestArgs<B> for F
where
    F: Fn(&Request<B>) -> Option<ParamValue>,
{
    fn add_args<'a>(&self, request: &Request<B>, entry: EntryBuilder<'a>) -> EntryBuilder<'a> {
        match self(request) {
            Some(value) => entry.arg(value),
            None => entry,
        }
    }
}

macro_rules! tuple_args {
    ($($name:ident),+) => {
        impl<B, $($name: RequestArgs<B>),+> RequestArgs<B> for ($($name,)+) {
            fn add_args<'a>(&self, request: &Request<B>, entry: EntryBuilder<'a>) -> EntryBuilder<'a> {
                #[allow(non_snake_case)]
                let ($($name,)+) = self;
                $(let entry = $name.add_args(request, entry);)+
                entry
            }
        }
    };
}
tuple_args!(A1);
tuple_args!(A1, A2);
tuple_args!(A1, A2, A3);
tuple_args!(A1, A2, A3, A4);

/// One value taken from a request: a path parameter, a header, a query value or the
/// client's IP address. Values are strings unless [`Arg::integer`] asks for integers;
/// they are positional arguments unless [`Arg::attachment`] names a key.
#[derive(Debug, Clone)]
pub struct Arg {
    source: Source,
    key: Option<Cow<'static, str>>,
    integer: bool,
}

impl Arg {
    fn new(source: Source) -> Self {
        Arg {
            source,
            key: None,
            integer: false,
        }
    }

    /// The value of path parameter `name` of the axum route (`id` in `/items/{id}`;
    /// `{*rest}` takes the rest of the path), percent-decoded. Needs axum's
    /// `MatchedPath`: requests routed elsewhere have no path parameters.
    ///
    /// The value is a string, which a hot-parameter rule's `specificItems` match only
    /// with `valKind: 1` (String); add [`Arg::integer`] for items with `valKind: 0` (Int):
    ///
    /// ```
    /// use sentinel_adapters::Arg;
    /// use sentinel_core::ParamValue;
    /// use sentinel_core::hotspot::{HotspotRule, MetricType};
    ///
    /// // `/items/42` gives the integer 42: the item `{"valKind": 0, "valStr": "42"}`.
    /// let id = Arg::path_param("id").integer();
    /// let rule = HotspotRule {
    ///     resource: "GET /items/{id}".into(),
    ///     metric_type: MetricType::Qps,
    ///     threshold: 50,
    ///     specific_items: [(ParamValue::from(42), 5)].into(),
    ///     ..Default::default()
    /// };
    /// # let _ = (id, rule);
    /// ```
    pub fn path_param(name: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Source::PathParam(name.into()))
    }

    /// The value of a request header (the first, if repeated). Values that are not
    /// visible ASCII are taken as bytes.
    pub fn header(name: HeaderName) -> Self {
        Self::new(Source::Header(name))
    }

    /// The value of query key `key` (the first, if repeated), form-decoded.
    pub fn query(key: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Source::Query(key.into()))
    }

    /// The client's IP address, as a string: from axum's `ConnectInfo<SocketAddr>`
    /// (serve with `into_make_service_with_connect_info`), tonic's `TcpConnectInfo` (with
    /// the `tonic` feature) or a plain `SocketAddr` request extension. IPv4-mapped IPv6
    /// addresses are written as IPv4. A request whose address cannot be told (no
    /// connection info, no usable forwarding header) gets the value `"unknown"`: such
    /// requests share one budget rather than escape the rule.
    pub fn client_ip() -> Self {
        Self::new(Source::ClientIp { forwarded: None })
    }

    /// For [`Arg::client_ip`] behind proxies that append to a list header such as
    /// `x-forwarded-for`: the client is the address the nearest trusted proxy appended,
    /// counted from the right end of the list (one proxy, the socket peer, unless
    /// [`Arg::trusted_proxies`] says otherwise). Entries the client wrote itself sit to the
    /// left of it and are never used. See [`TrustedProxies`] for how to deploy it.
    pub fn forwarded_by(self, header: HeaderName) -> Self {
        self.forwarding(Syntax::List(header), None)
    }

    /// For [`Arg::client_ip`] behind proxies that add RFC 7239 `Forwarded` elements
    /// (`for=192.0.2.60;proto=https`), counted from the right as with
    /// [`Arg::forwarded_by`].
    pub fn forwarded(self) -> Self {
        self.forwarding(Syntax::Forwarded, None)
    }

    /// For [`Arg::client_ip`]: which proxies in front of the service to trust: a number
    /// of hops ([`TrustedProxies::Hops`]; 0 ignores forwarding headers) or the networks
    /// they live in ([`TrustedProxies::Networks`]). Reads `x-forwarded-for` unless
    /// [`Arg::forwarded`] or [`Arg::forwarded_by`] chose another header.
    pub fn trusted_proxies(self, trust: TrustedProxies) -> Self {
        self.forwarding(Syntax::List(X_FORWARDED_FOR), Some(trust))
    }

    /// Sets the forwarding header (kept if already chosen and `trust` is given) and trust.
    fn forwarding(mut self, syntax: Syntax, trust: Option<TrustedProxies>) -> Self {
        if let Source::ClientIp { forwarded } = &mut self.source {
            *forwarded = Some(match (forwarded.take(), trust) {
                (Some(f), Some(trust)) => Forwarding { trust, ..f },
                (Some(f), None) => Forwarding { syntax, ..f },
                (None, trust) => Forwarding {
                    syntax,
                    trust: trust.unwrap_or(TrustedProxies::Hops(1)),
                },
            });
        }
        self
    }

    /// Sends the value as the attachment `key` (a rule's `paramKey`) instead of as the
    /// next positional argument.
    pub fn attachment(mut self, key: impl Into<Cow<'static, str>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Values that are decimal integers become integer values (so a rule's specific
    /// item `{valKind: 0, valStr: "42"}` matches `/items/42`); others stay strings.
    /// Without it, items of `valKind: 0` never match values from requests (the rule warns
    /// once through `tracing` when it sees such a value).
    pub fn integer(mut self) -> Self {
        self.integer = true;
        self
    }

    /// The value this argument takes from `request`, if the request has one.
    pub fn value<B>(&self, request: &Request<B>) -> Option<ParamValue> {
        let text = self.source.extract(request)?;
        Some(match text {
            source::Text::Str(s) if self.integer => match s.parse::<i64>() {
                Ok(i) => ParamValue::from(i),
                Err(_) => ParamValue::from(s.into_owned()),
            },
            source::Text::Str(s) => ParamValue::from(s.into_owned()),
            source::Text::Bytes(b) => ParamValue::from(b),
        })
    }
}

impl<B> RequestArgs<B> for Arg {
    fn add_args<'a>(&self, request: &Request<B>, entry: EntryBuilder<'a>) -> EntryBuilder<'a> {
        match (self.value(request), &self.key) {
            (None, _) => entry,
            (Some(value), None) => entry.arg(value),
            (Some(value), Some(key)) => entry.attachment(key.clone(), value),
        }
    }
}
