//! The server-side layer: every request is an Inbound entry of its resource.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::SentinelLayer;
pub use service::SentinelService;
