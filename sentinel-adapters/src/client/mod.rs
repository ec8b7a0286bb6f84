//! The client-side layer: every call is an Outbound entry of the dependency it calls.

mod error;
mod fallback;
mod layer;

pub use error::ClientError;
pub use fallback::{Fallback, NoFallback};
pub use layer::SentinelClientLayer;

use crate::args::NoArgs;
use crate::classify::ServerErrors;
use crate::guarded::Guarded;
use crate::resource::FixedName;

/// The service [`SentinelClientLayer`] makes: errors are [`ClientError`]s, and blocked
/// calls fail with [`ClientError::Blocked`] ([`NoFallback`]) or get a fallback response
/// ([`Fallback`]). With the defaults of [`SentinelClientLayer::new`] its type is
/// `SentinelClient<S>`.
pub type SentinelClient<S, R = FixedName, A = NoArgs, C = ServerErrors, F = NoFallback> =
    Guarded<S, R, A, C, F>;
