//! Lock-free sliding-window statistics.
//!
//! * [`cell`]-level counters reset themselves when time moves into a new bucket;
//! * [`StatNode`] holds a resource's striped 2 s ring of 100 ms buckets;
//! * [`LeapWindow`] is a window with its own interval, for rules that need one.

pub(crate) mod cell;
mod node;
mod window;

pub use node::{BUCKET_MS, Event, RING, Span, StatNode, VIEW, default_stripes, epoch};
pub use window::LeapWindow;
