//! What an entry declares about itself: its direction and the kind of resource.

/// Direction of the traffic an entry represents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TrafficType {
    /// A request this service receives. Counted on the instance's inbound node and
    /// checked by system rules.
    Inbound,
    /// A call this service makes (the default, as in sentinel-golang).
    #[default]
    Outbound,
}

/// What a resource is, for the metric log's classification column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResourceType {
    /// Anything else (the default).
    #[default]
    Common = 0,
    /// An HTTP endpoint.
    Web = 1,
    /// An RPC method.
    Rpc = 2,
    /// An API gateway route.
    ApiGateway = 3,
    /// A database query.
    DbSql = 4,
    /// A cache call.
    Cache = 5,
    /// A message-queue operation.
    Mq = 6,
}
