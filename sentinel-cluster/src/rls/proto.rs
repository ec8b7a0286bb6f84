//! The messages of `envoy.service.ratelimit.v3.RateLimitService`, written by hand with
//! the field numbers of Envoy's `rls.proto` (and of `ratelimit.proto`,
//! `google/protobuf/duration.proto` and `google/protobuf/wrappers.proto` it imports), so
//! neither `protoc` nor a generated crate is needed. Fields this service never reads or
//! writes are left out: prost skips them when decoding.

/// The gRPC path of the one method.
pub const SHOULD_RATE_LIMIT: &str = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";

/// `RateLimitRequest`: what Envoy asks for each request it filters.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RateLimitRequest {
    /// The configuration domain (the filter's `domain`); must not be empty.
    #[prost(string, tag = "1")]
    pub domain: String,
    /// The descriptors to check, each answered by one status in the same order.
    #[prost(message, repeated, tag = "2")]
    pub descriptors: Vec<RateLimitDescriptor>,
    /// Hits each descriptor consumes; 0 means 1.
    #[prost(uint32, tag = "3")]
    pub hits_addend: u32,
}

/// `envoy.extensions.common.ratelimit.v3.RateLimitDescriptor`: a list of key/value
/// entries, optionally with a limit of its own and a hit count of its own.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RateLimitDescriptor {
    /// The entries, outermost first.
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<Entry>,
    /// A limit sent by Envoy instead of the configured one.
    #[prost(message, optional, tag = "2")]
    pub limit: Option<RateLimitOverride>,
    /// Hits for this descriptor (`google.protobuf.UInt64Value`), overriding the
    /// request's; 0 checks without spending.
    #[prost(message, optional, tag = "3")]
    pub hits_addend: Option<u64>,
}

/// One `key: value` entry of a descriptor.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Entry {
    /// The descriptor key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value (may be empty).
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `RateLimitOverride`: a limit carried by the request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct RateLimitOverride {
    /// Requests allowed per unit.
    #[prost(uint32, tag = "1")]
    pub requests_per_unit: u32,
    /// The unit ([`Unit`] as i32).
    #[prost(enumeration = "Unit", tag = "2")]
    pub unit: i32,
}

/// `RateLimitResponse.RateLimit.Unit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Unit {
    /// Not set.
    Unknown = 0,
    /// Per second.
    Second = 1,
    /// Per minute.
    Minute = 2,
    /// Per hour.
    Hour = 3,
    /// Per day.
    Day = 4,
}

/// `RateLimitResponse.Code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Code {
    /// Not set.
    Unknown = 0,
    /// Within the limit.
    Ok = 1,
    /// Over the limit: Envoy answers 429.
    OverLimit = 2,
}

/// `RateLimitResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RateLimitResponse {
    /// OVER_LIMIT when any descriptor is over its limit, else OK ([`Code`] as i32).
    #[prost(enumeration = "Code", tag = "1")]
    pub overall_code: i32,
    /// One status per request descriptor, in the request's order.
    #[prost(message, repeated, tag = "2")]
    pub statuses: Vec<DescriptorStatus>,
    /// Headers Envoy adds to its response to the client.
    #[prost(message, repeated, tag = "3")]
    pub response_headers_to_add: Vec<HeaderValue>,
    /// Headers Envoy adds to the request it forwards upstream.
    #[prost(message, repeated, tag = "4")]
    pub request_headers_to_add: Vec<HeaderValue>,
    /// A body for Envoy's 429 answer (empty: Envoy's own).
    #[prost(bytes = "vec", tag = "5")]
    pub raw_body: Vec<u8>,
}

/// `envoy.config.core.v3.HeaderValue`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct HeaderValue {
    /// Header name.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Header value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `RateLimitResponse.DescriptorStatus`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DescriptorStatus {
    /// This descriptor's verdict ([`Code`] as i32).
    #[prost(enumeration = "Code", tag = "1")]
    pub code: i32,
    /// The limit that applied; absent when none did (unmatched, unlimited).
    #[prost(message, optional, tag = "2")]
    pub current_limit: Option<RateLimit>,
    /// Tokens left after this request.
    #[prost(uint32, tag = "3")]
    pub limit_remaining: u32,
    /// Time until the descriptor's budget is full again.
    #[prost(message, optional, tag = "4")]
    pub duration_until_reset: Option<ProtoDuration>,
}

/// `RateLimitResponse.RateLimit`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RateLimit {
    /// Requests allowed per unit.
    #[prost(uint32, tag = "1")]
    pub requests_per_unit: u32,
    /// The unit ([`Unit`] as i32).
    #[prost(enumeration = "Unit", tag = "2")]
    pub unit: i32,
    /// The limit's name from the configuration (may be empty).
    #[prost(string, tag = "3")]
    pub name: String,
}

/// `google.protobuf.Duration`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds past the seconds (0..1e9).
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl From<std::time::Duration> for ProtoDuration {
    fn from(d: std::time::Duration) -> Self {
        ProtoDuration {
            seconds: d.as_secs().min(i64::MAX as u64) as i64,
            nanos: d.subsec_nanos() as i32,
        }
    }
}

impl From<ProtoDuration> for std::time::Duration {
    /// Negative parts count as zero.
    fn from(d: ProtoDuration) -> Self {
        std::time::Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32)
    }
}
