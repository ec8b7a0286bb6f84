//! [`SentinelClientLayer`]: configuration of the client-side middleware.

use std::sync::Arc;

use sentinel_core::{ResourceType, Sentinel, TrafficType};
use tower_layer::Layer;

use super::{Fallback, NoFallback, SentinelClient};
use crate::admission::Admission;
use crate::args::NoArgs;
use crate::classify::{GrpcErrors, ServerErrors};
use crate::grpc::GrpcBlockResponse;
use crate::guarded::Guarded;
use crate::resource::FixedName;

/// Guards a tower client (hyper's client, a tonic `Channel`, any
/// `Service<http::Request<B>>`): each call is an Outbound entry of the resource that names
/// the dependency. A blocked call fails with
/// [`ClientError::Blocked`](super::ClientError::Blocked) without reaching the client
/// (or gets a fallback response); errors and failed responses feed the dependency's
/// circuit breakers.
///
/// ```
/// use sentinel_adapters::{ClientError, SentinelClientLayer};
/// use sentinel_core::Sentinel;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let sentinel = Sentinel::new();
/// let client = service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::io::Error>(http::Response::new("stock: 3"))
/// });
/// let client = SentinelClientLayer::new(sentinel, "inventory").layer(client);
/// match client.oneshot(http::Request::new(())).await {
///     Ok(response) => assert_eq!(*response.body(), "stock: 3"),
///     Err(ClientError::Blocked(block)) => println!("inventory not called: {block}"),
///     Err(ClientError::Service(e)) => println!("inventory failed: {e}"),
/// }
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct SentinelClientLayer<R = FixedName, A = NoArgs, C = ServerErrors, F = NoFallback> {
    admission: Admission<R, A, C>,
    on_block: F,
}

impl SentinelClientLayer {
    /// An HTTP client layer: every call is an entry of `dependency`, errors and 5xx
    /// responses count as failures, blocked calls fail with
    /// [`ClientError::Blocked`](super::ClientError::Blocked).
    pub fn new(sentinel: Sentinel, dependency: impl Into<Arc<str>>) -> Self {
        SentinelClientLayer {
            admission: Admission {
                sentinel,
                resource: FixedName::new(dependency),
                args: NoArgs,
                classify: ServerErrors,
                traffic: TrafficType::Outbound,
                resource_type: ResourceType::Common,
            },
            on_block: NoFallback,
        }
    }
}

impl SentinelClientLayer<FixedName, NoArgs, GrpcErrors, Fallback<GrpcBlockResponse>> {
    /// A gRPC client layer (around a tonic `Channel`): non-OK `grpc-status` counts as a
    /// failure, and a blocked call gets a trailers-only RESOURCE_EXHAUSTED or
    /// UNAVAILABLE response, so the tonic client returns that `Status` to the caller.
    pub fn grpc(sentinel: Sentinel, dependency: impl Into<Arc<str>>) -> Self {
        SentinelClientLayer::new(sentinel, dependency)
            .classify(GrpcErrors)
            .fallback(GrpcBlockResponse)
            .resource_type(ResourceType::Rpc)
    }
}

impl<R, A, C, F> SentinelClientLayer<R, A, C, F> {
    /// Names resources with `resource` (a [`ResourceName`](crate::ResourceName)), for one
    /// resource per host or per gRPC method, say.
    pub fn resource<R2>(self, resource: R2) -> SentinelClientLayer<R2, A, C, F> {
        SentinelClientLayer {
            admission: self.admission.with_resource(resource),
            on_block: self.on_block,
        }
    }

    /// Takes hot-parameter arguments with `args` (a [`RequestArgs`](crate::RequestArgs)).
    pub fn args<A2>(self, args: A2) -> SentinelClientLayer<R, A2, C, F> {
        SentinelClientLayer {
            admission: self.admission.with_args(args),
            on_block: self.on_block,
        }
    }

    /// Judges responses with `classify` (a [`Classify`](crate::Classify)).
    pub fn classify<C2>(self, classify: C2) -> SentinelClientLayer<R, A, C2, F> {
        SentinelClientLayer {
            admission: self.admission.with_classify(classify),
            on_block: self.on_block,
        }
    }

    /// Answers blocked calls with the response of `handler` (a
    /// [`BlockHandler`](crate::BlockHandler)) instead of an error.
    pub fn fallback<H>(self, handler: H) -> SentinelClientLayer<R, A, C, Fallback<H>> {
        SentinelClientLayer {
            admission: self.admission,
            on_block: Fallback(handler),
        }
    }

    /// The resource type recorded with entries (for the metric log).
    pub fn resource_type(mut self, resource_type: ResourceType) -> Self {
        self.admission.resource_type = resource_type;
        self
    }

    /// The instance the layer admits calls with.
    pub fn sentinel(&self) -> &Sentinel {
        &self.admission.sentinel
    }
}

impl<S, R: Clone, A: Clone, C: Clone, F: Clone> Layer<S> for SentinelClientLayer<R, A, C, F> {
    type Service = SentinelClient<S, R, A, C, F>;

    fn layer(&self, inner: S) -> Self::Service {
        Guarded::new(inner, self.admission.clone(), self.on_block.clone(), None)
    }
}
