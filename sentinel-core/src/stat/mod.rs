//! Lock-free sliding-window statistics.
//!
//! * cell-level counters reset themselves when time moves into a new bucket;
//! * [`StatNode`] holds a resource's striped 2 s ring of 100 ms buckets;
//! * [`LeapWindow`] is a window with its own interval, for rules that need one.

pub(crate) mod cell;
pub(crate) mod divisor;
mod node;
pub(crate) mod pass_window;
mod window;

pub use node::{
    BLOCK_TYPES, BUCKET_MS, Event, LifetimeCounts, RING, Span, StatNode, VIEW, block_type_index,
    default_stripes, epoch,
};
pub use window::LeapWindow;
