//! Measurements of the machine and the process (memory, load, container-aware CPU usage)
//! that system rules and memory-adaptive flow rules read. A leaf: it knows no rule.

mod cpu;
mod sources;

pub use cpu::{CpuSampler, CpuSource};
pub use sources::{ManualSystemMetrics, ProcessMetrics, SystemMetricsSource, SystemReading};
