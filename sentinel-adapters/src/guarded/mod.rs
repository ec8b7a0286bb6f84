//! The guarded service both layers make: it admits each request, answers blocks as its
//! [`BlockMode`] says, and holds the entry in its [`ResponseFuture`].

mod future;
mod mode;
mod service;

pub use future::ResponseFuture;
pub use mode::{BlockMode, Respond};
pub use service::Guarded;
