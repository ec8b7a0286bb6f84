//! Measurements of the machine and process that system rules and memory-adaptive flow
//! rules depend on.
//!
//! Rules read the latest values through [`SystemMetricsSource`], which must be cheap (an
//! atomic load): sampling happens elsewhere. [`ProcessMetrics`] samples the operating system
//! on a background thread; [`ManualSystemMetrics`] lets tests set values that take effect on
//! the very next entry.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::cpu::{CpuSampler, CpuSource};

/// The latest system measurements.
pub trait SystemMetricsSource: Send + Sync + 'static {
    /// Resident memory of this process, bytes.
    fn rss_bytes(&self) -> u64;

    /// The 1-minute load average of the machine.
    fn load1(&self) -> f64;

    /// CPU usage in `[0, 1]`, against the container's CPU limit where one applies.
    fn cpu_usage(&self) -> f64;

    /// Called when a rule starts depending on these metrics, so a sampling source can start
    /// its work only when needed.
    fn ensure_started(&self) {}

    /// The values measured so far, for metrics and introspection (never read on the hot
    /// path): a value nobody has measured yet is `None`, so that it is left out of reports
    /// instead of showing as 0. The default takes every value as measured; a source that
    /// may have nothing yet (one that samples lazily) overrides it.
    fn reading(&self) -> SystemReading {
        SystemReading {
            rss_bytes: Some(self.rss_bytes()),
            load1: Some(self.load1()),
            cpu_usage: Some(self.cpu_usage()),
        }
    }
}

/// The values a [`SystemMetricsSource`] has measured ([`SystemMetricsSource::reading`]);
/// each is `None` until a sampler, or a setter of [`ManualSystemMetrics`], produced it.
///
/// ```
/// use sentinel_core::system::{ManualSystemMetrics, SystemMetricsSource, SystemReading};
/// let m = ManualSystemMetrics::new();
/// assert_eq!(m.reading(), SystemReading::default(), "nothing measured yet");
/// m.set_load(1.5);
/// assert_eq!((m.reading().load1, m.reading().cpu_usage), (Some(1.5), None));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SystemReading {
    /// Resident memory of this process, bytes.
    pub rss_bytes: Option<u64>,
    /// The 1-minute load average of the machine.
    pub load1: Option<f64>,
    /// CPU usage in `[0, 1]`.
    pub cpu_usage: Option<f64>,
}

/// An `f64` in an atomic.
#[derive(Debug, Default)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }
    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Relaxed)
    }
}

/// The latest values, shared between a source and its sampler, and which of them have
/// been set (`MEASURED_*` bits).
#[derive(Debug, Default)]
struct Latest {
    rss: AtomicU64,
    load1: AtomicF64,
    cpu: AtomicF64,
    measured: AtomicU8,
}

const MEASURED_RSS: u8 = 1;
const MEASURED_LOAD: u8 = 2;
const MEASURED_CPU: u8 = 4;

/// Values set by hand; they apply to the very next entry. Clones share the values.
///
/// ```
/// use sentinel_core::system::{ManualSystemMetrics, SystemMetricsSource};
/// let m = ManualSystemMetrics::new();
/// m.set_cpu_usage(0.95);
/// m.set_load(4.0);
/// m.set_rss_bytes(512 << 20);
/// assert_eq!((m.cpu_usage(), m.load1(), m.rss_bytes()), (0.95, 4.0, 512 << 20));
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualSystemMetrics {
    latest: Arc<Latest>,
}

impl ManualSystemMetrics {
    /// All values zero, and none measured ([`SystemMetricsSource::reading`]) until set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the process's resident memory.
    pub fn set_rss_bytes(&self, bytes: u64) {
        self.latest.rss.store(bytes, Relaxed);
        self.latest.measured.fetch_or(MEASURED_RSS, Relaxed);
    }

    /// Sets the 1-minute load average.
    pub fn set_load(&self, load1: f64) {
        self.latest.load1.set(load1);
        self.latest.measured.fetch_or(MEASURED_LOAD, Relaxed);
    }

    /// Sets the CPU usage (a ratio in `[0, 1]`).
    pub fn set_cpu_usage(&self, usage: f64) {
        self.latest.cpu.set(usage);
        self.latest.measured.fetch_or(MEASURED_CPU, Relaxed);
    }
}

impl SystemMetricsSource for ManualSystemMetrics {
    fn rss_bytes(&self) -> u64 {
        self.latest.rss.load(Relaxed)
    }
    fn load1(&self) -> f64 {
        self.latest.load1.get()
    }
    fn cpu_usage(&self) -> f64 {
        self.latest.cpu.get()
    }
    fn reading(&self) -> SystemReading {
        let measured = self.latest.measured.load(Relaxed);
        let has = |bit: u8| measured & bit != 0;
        SystemReading {
            rss_bytes: has(MEASURED_RSS).then(|| self.rss_bytes()),
            load1: has(MEASURED_LOAD).then(|| self.load1()),
            cpu_usage: has(MEASURED_CPU).then(|| self.cpu_usage()),
        }
    }
}

/// Samples the operating system once per interval (default 1 s) on a background thread
/// that starts with the first rule needing it and stops when this source is dropped (with
/// the last handle on its `Sentinel`).
///
/// Memory is read from `/proc/self/status` (`VmRSS`), the load from `/proc/loadavg`, CPU
/// usage as described in [`CpuSource`]: the container's cgroup against its CPU limit, else
/// `/proc/stat`. Where those files do not exist (not Linux) the values read as 0, and
/// [`reading`](SystemMetricsSource::reading) reports them as not measured, as it does
/// every value before the sampler starts (CPU usage needs two samples, one interval
/// apart).
pub struct ProcessMetrics {
    /// The latest samples, in the same store the manual source uses.
    values: ManualSystemMetrics,
    interval: Duration,
    root: PathBuf,
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
            values: ManualSystemMetrics::new(),
            interval,
            root: PathBuf::from("/"),
            started: std::sync::Once::new(),
            stop: parking_lot::Mutex::new(None),
        }
    }

    /// Reads the system files under `root` instead of `/` (for tests and chroots).
    pub fn with_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }
}

/// One sampling pass over the system files.
struct Sampler {
    root: PathBuf,
    cpu: CpuSampler,
    epoch: Instant,
}

impl Sampler {
    fn new(root: PathBuf) -> Self {
        Sampler {
            cpu: CpuSampler::new(CpuSource::detect(&root)),
            root,
            epoch: Instant::now(),
        }
    }

    fn sample(&mut self, values: &ManualSystemMetrics) {
        if let Some(rss) = std::fs::read_to_string(self.root.join("proc/self/status"))
            .ok()
            .and_then(|s| parse_vm_rss(&s))
        {
            values.set_rss_bytes(rss);
        }
        if let Some(load) = std::fs::read_to_string(self.root.join("proc/loadavg"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
        {
            values.set_load(load);
        }
        if let Some(cpu) = self.cpu.sample(self.epoch.elapsed().as_micros() as u64) {
            values.set_cpu_usage(cpu);
        }
    }
}

impl SystemMetricsSource for ProcessMetrics {
    fn rss_bytes(&self) -> u64 {
        self.values.rss_bytes()
    }
    fn load1(&self) -> f64 {
        self.values.load1()
    }
    fn cpu_usage(&self) -> f64 {
        self.values.cpu_usage()
    }
    fn reading(&self) -> SystemReading {
        self.values.reading()
    }

    fn ensure_started(&self) {
        self.started.call_once(|| {
            let mut sampler = Sampler::new(self.root.clone());
            sampler.sample(&self.values);
            let (tx, rx) = mpsc::channel::<()>();
            let values = self.values.clone();
            let interval = self.interval;
            let spawned = std::thread::Builder::new()
                .name("sentinel-metrics".into())
                .spawn(move || {
                    // Runs until the sender is dropped with the source.
                    while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(interval) {
                        sampler.sample(&values);
                    }
                });
            match spawned {
                Ok(_) => *self.stop.lock() = Some(tx),
                Err(e) => tracing::error!(error = %e, "cannot start the system metrics sampler"),
            }
        });
    }
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl std::fmt::Debug for ProcessMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let measured = self.reading();
        f.debug_struct("ProcessMetrics")
            .field("rss_bytes", &measured.rss_bytes)
            .field("load1", &measured.load1)
            .field("cpu_usage", &measured.cpu_usage)
            .finish_non_exhaustive()
    }
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

    #[test]
    fn process_metrics_sample_files_under_a_root() {
        let root = std::env::temp_dir().join(format!("sentinel-pm-{}", std::process::id()));
        std::fs::create_dir_all(root.join("proc/self")).unwrap();
        std::fs::write(root.join("proc/self/status"), "VmRSS:\t 10 kB\n").unwrap();
        std::fs::write(root.join("proc/loadavg"), "3.25 2.00 1.00 1/100 4242\n").unwrap();
        let m = ProcessMetrics::with_interval(Duration::from_secs(3600)).with_root(&root);
        assert_eq!(m.rss_bytes(), 0, "nothing sampled before a rule needs it");
        assert_eq!(m.reading(), SystemReading::default());
        m.ensure_started();
        assert_eq!((m.rss_bytes(), m.load1()), (10 * 1024, 3.25));
        let reading = m.reading();
        assert_eq!(
            (reading.rss_bytes, reading.load1),
            (Some(10 * 1024), Some(3.25))
        );
        assert_eq!(reading.cpu_usage, None, "one sample gives no CPU usage yet");
        drop(m); // stops the sampler thread
        std::fs::remove_dir_all(root).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_read_this_machine() {
        let m = ProcessMetrics::default();
        m.ensure_started();
        assert!(m.rss_bytes() > 0);
    }
}
