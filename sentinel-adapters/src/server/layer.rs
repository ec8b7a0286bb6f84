//! [`SentinelLayer`]: configuration of the server-side middleware.

use std::sync::Arc;

use sentinel_core::{ResourceType, Sentinel, TrafficType};
use tower_layer::Layer;

use super::SentinelService;
use crate::admission::Admission;
use crate::args::NoArgs;
use crate::block::HttpBlockResponse;
use crate::classify::{GrpcErrors, ServerErrors};
use crate::grpc::GrpcBlockResponse;
use crate::guarded::{Guarded, Respond};
use crate::resource::{PathName, RouteName, RouterOutside};

/// Guards a server: each request is an Inbound entry of its resource, decided when the
/// request is called (never in `poll_ready`). Blocked requests get a response from the
/// block handler without reaching the service; throttled ones wait on tokio's timer
/// (the service must be `Clone` for that, as axum routes and tonic servers are).
///
/// Clones share the one [`Sentinel`], so a limit holds across every clone a framework
/// makes.
///
/// ```
/// use axum::{Router, routing::get};
/// use sentinel_adapters::{Arg, SentinelLayer};
/// use sentinel_core::Sentinel;
///
/// async fn item() -> &'static str { "an item" }
///
/// let sentinel = Sentinel::new();
/// // Resources "GET /items/{id}"; 429/503 when blocked; 5xx count as errors. The item id
/// // is hot-parameter argument 0, as an integer (items with `valKind: 0` match it).
/// let app: Router = Router::new()
///     .route("/items/{id}", get(item))
///     .layer(SentinelLayer::new(sentinel.clone()).args(Arg::path_param("id").integer()));
/// ```
///
/// Apply it inside the router, with `Router::layer` or `Router::route_layer`, so that
/// requests carry their route: wrapped around a router from outside
/// (`SentinelLayer::new(..).layer(router)`), the layer sees requests before routing,
/// names them by their raw paths and warns once through `tracing`.
///
/// The type parameters are the request namer `R`, the argument extractor `A`, the
/// failure classifier `C` and the block handler `H`.
#[derive(Debug, Clone)]
pub struct SentinelLayer<R = RouteName, A = NoArgs, C = ServerErrors, H = HttpBlockResponse> {
    admission: Admission<R, A, C>,
    block: H,
    /// Shared by the layer's clones: it warns once if placed outside an axum router.
    outside: Arc<RouterOutside>,
}

impl SentinelLayer {
    /// An HTTP layer: resources `"{METHOD} {route}"` ([`RouteName`]), no arguments, 5xx
    /// responses and errors count as failures ([`ServerErrors`]), blocks answered 429 or
    /// 503 ([`HttpBlockResponse`]), resource type Web.
    pub fn new(sentinel: Sentinel) -> Self {
        SentinelLayer {
            admission: Admission {
                sentinel,
                resource: RouteName,
                args: NoArgs,
                classify: ServerErrors,
                traffic: TrafficType::Inbound,
                resource_type: ResourceType::Web,
            },
            block: HttpBlockResponse::default(),
            outside: Arc::default(),
        }
    }
}

impl SentinelLayer<PathName, NoArgs, GrpcErrors, GrpcBlockResponse> {
    /// A gRPC layer (for `tonic::transport::Server::builder().layer(...)`): resources named
    /// by the method path (`/shop.Inventory/Reserve`), non-OK `grpc-status` counts as a
    /// failure ([`GrpcErrors`]), blocks answered with a trailers-only RESOURCE_EXHAUSTED
    /// or UNAVAILABLE ([`GrpcBlockResponse`]), resource type Rpc.
    pub fn grpc(sentinel: Sentinel) -> Self {
        SentinelLayer::new(sentinel)
            .resource(PathName)
            .classify(GrpcErrors)
            .on_block(GrpcBlockResponse)
            .resource_type(ResourceType::Rpc)
    }
}

impl<R, A, C, H> SentinelLayer<R, A, C, H> {
    /// Names resources with `resource` (a [`ResourceName`](crate::ResourceName), such as
    /// a closure `Fn(&Request<B>) -> String`).
    pub fn resource<R2>(self, resource: R2) -> SentinelLayer<R2, A, C, H> {
        SentinelLayer {
            admission: self.admission.with_resource(resource),
            block: self.block,
            outside: self.outside,
        }
    }

    /// Takes hot-parameter arguments with `args` (a [`RequestArgs`](crate::RequestArgs):
    /// an [`Arg`](crate::Arg), a tuple of them, or a closure).
    pub fn args<A2>(self, args: A2) -> SentinelLayer<R, A2, C, H> {
        SentinelLayer {
            admission: self.admission.with_args(args),
            block: self.block,
            outside: self.outside,
        }
    }

    /// Judges responses with `classify` (a [`Classify`](crate::Classify), such as a
    /// closure `Fn(&Response<B>) -> bool`).
    pub fn classify<C2>(self, classify: C2) -> SentinelLayer<R, A, C2, H> {
        SentinelLayer {
            admission: self.admission.with_classify(classify),
            block: self.block,
            outside: self.outside,
        }
    }

    /// Answers blocked requests with `block` (a [`BlockHandler`](crate::BlockHandler),
    /// such as a closure `Fn(&BlockError, &Parts) -> Response<B>`).
    pub fn on_block<H2>(self, block: H2) -> SentinelLayer<R, A, C, H2> {
        SentinelLayer {
            admission: self.admission,
            block,
            outside: self.outside,
        }
    }

    /// The resource type recorded with entries (for the metric log).
    pub fn resource_type(mut self, resource_type: ResourceType) -> Self {
        self.admission.resource_type = resource_type;
        self
    }

    /// The instance the layer admits requests with.
    pub fn sentinel(&self) -> &Sentinel {
        &self.admission.sentinel
    }
}

impl<S, R: Clone, A: Clone, C: Clone, H: Clone> Layer<S> for SentinelLayer<R, A, C, H> {
    type Service = SentinelService<S, R, A, C, H>;

    fn layer(&self, inner: S) -> Self::Service {
        let outside = RouterOutside::applies::<S, R>().then(|| self.outside.clone());
        Guarded::new(
            inner,
            self.admission.clone(),
            Respond(self.block.clone()),
            outside,
        )
    }
}
