//! The client-side layer: every call is an Outbound entry of the dependency it calls.

mod error;
mod fallback;
mod future;
mod layer;
mod service;

pub use error::ClientError;
pub use fallback::{Fallback, NoFallback, OnBlock};
pub use future::ResponseFuture;
pub use layer::SentinelClientLayer;
pub use service::SentinelClient;
