//! Measurements of the machine and process that some rules depend on.
//!
//! Rules read the latest values through [`SystemMetricsSource`], which must be cheap (an
//! atomic load): sampling happens elsewhere. [`ProcessMetrics`] samples the operating system
//! on a background thread; [`ManualSystemMetrics`] lets tests set values that take effect on
//! the very next entry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::Duration;

/// The latest system measurements.
pub trait SystemMetricsSource: Send + Sync + 'static {
    /// Resident memory of this process, bytes.
    fn rss_bytes(&self) -> u64;

    /// Called when a rule starts depending on these metrics, so a sampling source can start
    /// its work only when needed.
    fn ensure_started(&self) {}
}

/// Values set by hand. Clones share the values.
///
/// ```
/// use sentinel_core::system_metrics::{ManualSystemMetrics, SystemMetricsSource};
/// let m = ManualSystemMetrics::new();
/// m.set_rss_bytes(512 << 20);
/// assert_eq!(m.rss_bytes(), 512 << 20);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualSystemMetrics {
    rss: Arc<AtomicU64>,
}

impl ManualSystemMetrics {
    /// All values zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the process's resident memory.
    pub fn set_rss_bytes(&self, bytes: u64) {
        self.rss.store(bytes, Relaxed);
    }
}

impl SystemMetricsSource for ManualSystemMetrics {
    fn rss_bytes(&self) -> u64 {
        self.rss.load(Relaxed)
    }
}

#[derive(Default)]
struct Latest {
    rss: AtomicU64,
}

/// Samples the operating system once per interval on a background thread that starts with
/// the first rule needing it and stops when this source is dropped.
///
/// Process memory is read from `/proc/self/status` (`VmRSS`); where that file does not
/// exist (not Linux), memory reads as 0.
pub struct ProcessMetrics {
    latest: Arc<Latest>,
    interval: Duration,
    started: std::sync::Once,
    stop: parking_lot::Mutex<Option<mpsc::Sender<()>>>,
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        Self::with_interval(Duration::from_secs(1))
    }
}

impl ProcessMetrics {
    /// A source that samples every `interval` once started.
    pub fn with_interval(interval: Duration) -> Self {
        ProcessMetrics {
            latest: Arc::new(Latest::default()),
            interval,
            started: std::sync::Once::new(),
            stop: parking_lot::Mutex::new(None),
        }
    }

    fn sample(latest: &Latest) {
        if let Some(rss) = read_rss_bytes() {
            latest.rss.store(rss, Relaxed);
        }
    }
}

impl SystemMetricsSource for ProcessMetrics {
    fn rss_bytes(&self) -> u64 {
        self.latest.rss.load(Relaxed)
    }

    fn ensure_started(&self) {
        self.started.call_once(|| {
            Self::sample(&self.latest);
            let (tx, rx) = mpsc::channel::<()>();
            let latest = self.latest.clone();
            let interval = self.interval;
            let spawned = std::thread::Builder::new()
                .name("sentinel-metrics".into())
                .spawn(move || {
                    // Runs until the sender is dropped with the source.
                    while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(interval) {
                        Self::sample(&latest);
                    }
                });
            match spawned {
                Ok(_) => *self.stop.lock() = Some(tx),
                Err(e) => tracing::error!(error = %e, "cannot start the system metrics sampler"),
            }
        });
    }
}

/// Resident set size from `/proc/self/status`.
fn read_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vm_rss() {
        let s = "Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t    2048 kB\n";
        assert_eq!(parse_vm_rss(s), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("nothing"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_sample_on_start() {
        let m = ProcessMetrics::default();
        assert_eq!(m.rss_bytes(), 0, "nothing sampled before a rule needs it");
        m.ensure_started();
        assert!(m.rss_bytes() > 0);
    }
}
