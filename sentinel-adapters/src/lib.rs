//! Tower layers, axum helpers and gRPC status mapping for Sentinel (work in progress: see the
//! project issues). Today the crate re-exports the engine it will build on.
pub use sentinel_core;
