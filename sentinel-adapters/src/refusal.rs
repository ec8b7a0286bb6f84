//! What a block means to the caller: the one mapping HTTP statuses and gRPC codes follow.

use sentinel_core::BlockType;

/// What a block means to the caller, which both HTTP statuses and gRPC codes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Over a flow or hot-parameter limit: slow down.
    OverLimit,
    /// An authority rule refused the caller.
    Forbidden,
    /// A breaker, system protection, isolation or a custom check: try later.
    Unavailable,
}

impl Refusal {
    pub(crate) fn of(block_type: BlockType) -> Self {
        match block_type {
            BlockType::Flow | BlockType::HotSpotParamFlow => Refusal::OverLimit,
            BlockType::Authority => Refusal::Forbidden,
            // Breakers, system protection, isolation, custom checks and kinds to come: the
            // service cannot take the request now.
            _ => Refusal::Unavailable,
        }
    }
}
