//! Kubernetes: the custom resources' types and CRDs ([`crd`]) and the source that follows
//! them ([`KubeSource`]).

pub mod crd;
mod source;

pub use source::{KubeSource, KubeSourceBuilder};
