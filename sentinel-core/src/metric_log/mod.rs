//! Sentinel's metric log: one line per resource per second, in the format existing
//! Sentinel tooling reads, in files rolled by day and size with a seek index.
//!
//! Enable it with [`SentinelBuilder::metric_log`](crate::SentinelBuilder::metric_log); read
//! it back with [`MetricSearcher`].
//!
//! ```no_run
//! use sentinel_core::Sentinel;
//! use sentinel_core::metric_log::{MetricLogConfig, MetricSearcher};
//!
//! let s = Sentinel::builder()
//!     .metric_log(MetricLogConfig::new("/var/log/sentinel", "shop"))
//!     .build();
//! // ... traffic ...
//! let lines = MetricSearcher::new("/var/log/sentinel", "shop")
//!     .find(1_767_225_600_000, 1_767_225_660_000, Some("GET /items"))
//!     .unwrap();
//! ```

mod files;
mod line;
mod listener;

pub(crate) use files::MetricLogWriter;
pub use files::{MetricLogConfig, MetricSearcher};
pub use line::MetricLine;
pub use listener::{SecondFigures, SecondListener};

#[cfg(test)]
mod tests;
