//! The server-side layer: every request is an Inbound entry of its resource.

mod layer;

pub use layer::SentinelLayer;

use crate::args::NoArgs;
use crate::block::HttpBlockResponse;
use crate::classify::ServerErrors;
use crate::guarded::{Guarded, Respond};
use crate::resource::RouteName;

/// The service [`SentinelLayer`] makes: blocked requests get the response of the block
/// handler `H`, errors are the wrapped service's own. With the defaults of
/// [`SentinelLayer::new`] its type is `SentinelService<S>`.
pub type SentinelService<S, R = RouteName, A = NoArgs, C = ServerErrors, H = HttpBlockResponse> =
    Guarded<S, R, A, C, Respond<H>>;
