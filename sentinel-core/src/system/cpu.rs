//! CPU usage of the container (or machine) the process runs in.
//!
//! Inside a container, usage must be measured against the container's CPU limit, not the
//! host's cores: with a quota of 2 CPUs on a 64-core host, 2 busy cores are 100 %, not 3 %.
//! The sampler reads, in order of preference:
//!
//! 1. cgroup v2: `cpu.stat` (`usage_usec`) against `cpu.max` (`quota period`);
//! 2. cgroup v1: `cpuacct.usage` (ns) against `cpu.cfs_quota_us` / `cpu.cfs_period_us`;
//! 3. `/proc/stat` (busy jiffies over all jiffies) when no CPU limit applies.
//!
//! Usage is a ratio in `[0, 1]` between two consecutive samples.

use std::fs;
use std::path::{Path, PathBuf};

/// Where the CPU figures come from.
#[derive(Debug, Clone, PartialEq)]
pub enum CpuSource {
    /// cgroup v2 with a quota of `cpus` CPUs.
    CgroupV2 {
        /// The cgroup directory.
        dir: PathBuf,
        /// CPUs allowed (quota / period).
        cpus: f64,
    },
    /// cgroup v1 with a quota of `cpus` CPUs.
    CgroupV1 {
        /// The `cpuacct` directory.
        acct: PathBuf,
        /// CPUs allowed (quota / period).
        cpus: f64,
    },
    /// The whole machine, from `/proc/stat`.
    ProcStat(PathBuf),
}

/// Two consecutive readings make a usage figure.
#[derive(Debug)]
pub struct CpuSampler {
    source: CpuSource,
    last: Option<(u64, u64)>,
}

fn read_trimmed(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

/// CPUs allowed by a quota and period; `None` for no limit.
fn quota_cpus(quota: &str, period: &str) -> Option<f64> {
    let quota: f64 = quota.parse().ok()?;
    let period: f64 = period.parse().ok()?;
    (quota > 0.0 && period > 0.0).then_some(quota / period)
}

impl CpuSource {
    /// Finds the source under a filesystem root (`/` in production, a fixture directory in
    /// tests).
    pub fn detect(root: &Path) -> CpuSource {
        let v2 = root.join("sys/fs/cgroup");
        if let Some(max) = read_trimmed(&v2.join("cpu.max")) {
            let mut parts = max.split_whitespace();
            let (quota, period) = (parts.next().unwrap_or("max"), parts.next().unwrap_or(""));
            if let Some(cpus) = quota_cpus(quota, period)
                && v2.join("cpu.stat").exists()
            {
                return CpuSource::CgroupV2 { dir: v2, cpus };
            }
        }
        for (cpu, acct) in [
            ("sys/fs/cgroup/cpu,cpuacct", "sys/fs/cgroup/cpu,cpuacct"),
            ("sys/fs/cgroup/cpu", "sys/fs/cgroup/cpuacct"),
        ] {
            let (cpu, acct) = (root.join(cpu), root.join(acct));
            let quota = read_trimmed(&cpu.join("cpu.cfs_quota_us"));
            let period = read_trimmed(&cpu.join("cpu.cfs_period_us"));
            if let (Some(q), Some(p)) = (quota, period)
                && let Some(cpus) = quota_cpus(&q, &p)
                && acct.join("cpuacct.usage").exists()
            {
                return CpuSource::CgroupV1 { acct, cpus };
            }
        }
        CpuSource::ProcStat(root.join("proc/stat"))
    }
}

impl CpuSampler {
    /// A sampler reading from `source`.
    pub fn new(source: CpuSource) -> Self {
        CpuSampler { source, last: None }
    }

    /// The source in use.
    pub fn source(&self) -> &CpuSource {
        &self.source
    }

    /// Reads (busy, total) in a common unit: for cgroups, CPU time used and the time the
    /// quota allows (from the monotonic wall time `wall_us`); for `/proc/stat`, busy and
    /// total jiffies.
    fn read(&self, wall_us: u64) -> Option<(u64, u64)> {
        match &self.source {
            CpuSource::CgroupV2 { dir, cpus } => {
                let stat = fs::read_to_string(dir.join("cpu.stat")).ok()?;
                let usage: u64 = stat
                    .lines()
                    .find_map(|l| l.strip_prefix("usage_usec "))?
                    .trim()
                    .parse()
                    .ok()?;
                Some((usage, (wall_us as f64 * cpus) as u64))
            }
            CpuSource::CgroupV1 { acct, cpus } => {
                let ns: u64 = read_trimmed(&acct.join("cpuacct.usage"))?.parse().ok()?;
                Some((ns / 1000, (wall_us as f64 * cpus) as u64))
            }
            CpuSource::ProcStat(path) => {
                let stat = fs::read_to_string(path).ok()?;
                let line = stat.lines().find(|l| l.starts_with("cpu "))?;
                let v: Vec<u64> = line
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal (guest is inside user)
                let total: u64 = v.iter().take(8).sum();
                let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
                Some((total.saturating_sub(idle), total))
            }
        }
    }

    /// Takes a sample at monotonic time `wall_us`; returns the usage since the previous
    /// sample (`None` for the first one or when nothing can be read).
    pub fn sample(&mut self, wall_us: u64) -> Option<f64> {
        let now = self.read(wall_us)?;
        let prev = self.last.replace(now)?;
        let busy = now.0.saturating_sub(prev.0) as f64;
        let total = now.1.saturating_sub(prev.1) as f64;
        (total > 0.0).then(|| (busy / total).clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }

    fn fixture(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sentinel-cpu-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    const PROC_STAT: &str = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n";
    const PROC_STAT_LATER: &str = "cpu  400 0 200 1000 100 0 0 0 0 0\ncpu0 1 2 3 4\n";

    #[test]
    fn cgroup_v2_with_a_quota_measures_against_the_quota() {
        let root = fixture("v2q");
        write(&root, "sys/fs/cgroup/cpu.max", "200000 100000\n");
        write(
            &root,
            "sys/fs/cgroup/cpu.stat",
            "usage_usec 1000000\nuser_usec 1\n",
        );
        let mut s = CpuSampler::new(CpuSource::detect(&root));
        assert!(matches!(s.source(), CpuSource::CgroupV2 { cpus, .. } if *cpus == 2.0));
        assert_eq!(
            s.sample(0),
            None,
            "the first sample has nothing to compare with"
        );
        // 1.5 s of CPU in 1 s of wall time with 2 CPUs allowed: 75 %.
        write(&root, "sys/fs/cgroup/cpu.stat", "usage_usec 2500000\n");
        let u = s.sample(1_000_000).unwrap();
        assert!((u - 0.75).abs() < 1e-9, "{u}");
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn cgroup_v2_without_a_quota_falls_back_to_proc_stat() {
        let root = fixture("v2max");
        write(&root, "sys/fs/cgroup/cpu.max", "max 100000\n");
        write(&root, "sys/fs/cgroup/cpu.stat", "usage_usec 1\n");
        write(&root, "proc/stat", PROC_STAT);
        let mut s = CpuSampler::new(CpuSource::detect(&root));
        assert!(matches!(s.source(), CpuSource::ProcStat(_)));
        s.sample(0);
        write(&root, "proc/stat", PROC_STAT_LATER);
        // busy 200 -> 600 (+400), total 1000 -> 1700 (+700)
        let u = s.sample(1).unwrap();
        assert!((u - 400.0 / 700.0).abs() < 1e-9, "{u}");
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn cgroup_v1_measures_against_the_cfs_quota() {
        let root = fixture("v1");
        write(
            &root,
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us",
            "50000\n",
        );
        write(
            &root,
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us",
            "100000\n",
        );
        write(&root, "sys/fs/cgroup/cpu,cpuacct/cpuacct.usage", "0\n");
        let mut s = CpuSampler::new(CpuSource::detect(&root));
        assert!(matches!(s.source(), CpuSource::CgroupV1 { cpus, .. } if *cpus == 0.5));
        s.sample(0);
        // 0.25 s of CPU in 1 s with half a CPU allowed: 50 %.
        write(
            &root,
            "sys/fs/cgroup/cpu,cpuacct/cpuacct.usage",
            "250000000\n",
        );
        let u = s.sample(1_000_000).unwrap();
        assert!((u - 0.5).abs() < 1e-9, "{u}");
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn cgroup_v1_without_a_quota_and_no_cgroup_fall_back_to_proc_stat() {
        let root = fixture("v1none");
        write(&root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
        write(
            &root,
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us",
            "100000\n",
        );
        write(&root, "sys/fs/cgroup/cpu,cpuacct/cpuacct.usage", "0\n");
        write(&root, "proc/stat", PROC_STAT);
        assert!(matches!(CpuSource::detect(&root), CpuSource::ProcStat(_)));
        let bare = fixture("bare");
        assert_eq!(
            CpuSource::detect(&bare),
            CpuSource::ProcStat(bare.join("proc/stat"))
        );
        fs::remove_dir_all(root).unwrap();
        fs::remove_dir_all(bare).unwrap();
    }

    #[test]
    fn usage_is_clamped_to_one() {
        let root = fixture("clamp");
        write(&root, "sys/fs/cgroup/cpu.max", "100000 100000\n");
        write(&root, "sys/fs/cgroup/cpu.stat", "usage_usec 0\n");
        let mut s = CpuSampler::new(CpuSource::detect(&root));
        s.sample(0);
        write(&root, "sys/fs/cgroup/cpu.stat", "usage_usec 5000000\n");
        assert_eq!(s.sample(1_000_000), Some(1.0));
        fs::remove_dir_all(root).unwrap();
    }
}
