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

/// The process's cgroup path for a controller, from `/proc/self/cgroup` (lines of
/// `hierarchy:controllers:path`; cgroup v2 has the one line `0::path`). `None` when the
/// file does not name it.
fn own_cgroup<'a>(proc_cgroup: &'a str, controller: Option<&str>) -> Option<&'a str> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controller {
            None => controllers.is_empty(),
            Some(c) => controllers.split(',').any(|x| x == c),
        };
        matches.then_some(path)
    })
}

/// The cgroup directories from the process's own (`path` under `mount`) up to the mount
/// itself. A path that does not exist under the mount (a cgroup namespace shows the
/// container's cgroup as the root) leaves the mount alone.
fn own_and_ancestors(mount: &Path, path: Option<&str>) -> Vec<PathBuf> {
    let own = mount.join(path.unwrap_or("/").trim_start_matches('/'));
    if !own.starts_with(mount) || !own.is_dir() {
        return vec![mount.to_path_buf()];
    }
    own.ancestors()
        .take_while(|d| d.starts_with(mount))
        .map(Path::to_path_buf)
        .collect()
}

/// The smallest CPU limit among `dirs` whose `usage` file exists: (CPUs, directory).
fn smallest_limit(
    dirs: &[PathBuf],
    limit: impl Fn(&Path) -> Option<f64>,
    has_usage: impl Fn(&Path) -> bool,
) -> Option<(f64, PathBuf)> {
    dirs.iter()
        .filter_map(|d| limit(d).map(|cpus| (cpus, d.clone())))
        .filter(|(_, d)| has_usage(d))
        .min_by(|a, b| a.0.total_cmp(&b.0))
}

impl CpuSource {
    /// Finds the source under a filesystem root (`/` in production, a fixture directory in
    /// tests). The process's cgroup is the one `/proc/self/cgroup` names; the limit in
    /// force is the smallest found from that cgroup up to the root (a pod-level limit
    /// counts), and usage is read where that limit is set.
    pub fn detect(root: &Path) -> CpuSource {
        let proc_cgroup = fs::read_to_string(root.join("proc/self/cgroup")).unwrap_or_default();
        let v2 = root.join("sys/fs/cgroup");
        let dirs = own_and_ancestors(&v2, own_cgroup(&proc_cgroup, None));
        let v2_limit = |d: &Path| {
            let max = read_trimmed(&d.join("cpu.max"))?;
            let mut parts = max.split_whitespace();
            quota_cpus(parts.next()?, parts.next()?)
        };
        if let Some((cpus, dir)) = smallest_limit(&dirs, v2_limit, |d| d.join("cpu.stat").exists())
        {
            return CpuSource::CgroupV2 { dir, cpus };
        }
        let cpu_path = own_cgroup(&proc_cgroup, Some("cpu"));
        let acct_path = own_cgroup(&proc_cgroup, Some("cpuacct"));
        for (cpu, acct) in [
            ("sys/fs/cgroup/cpu,cpuacct", "sys/fs/cgroup/cpu,cpuacct"),
            ("sys/fs/cgroup/cpu", "sys/fs/cgroup/cpuacct"),
        ] {
            let (cpu, acct) = (root.join(cpu), root.join(acct));
            let dirs = own_and_ancestors(&cpu, cpu_path);
            let v1_limit = |d: &Path| {
                quota_cpus(
                    &read_trimmed(&d.join("cpu.cfs_quota_us"))?,
                    &read_trimmed(&d.join("cpu.cfs_period_us"))?,
                )
            };
            // Usage comes from the cpuacct hierarchy, at the limiting cgroup's place in it,
            // else at the process's own.
            let acct_dir = |d: &Path| {
                let at_limit = acct.join(d.strip_prefix(&cpu).unwrap_or(Path::new("")));
                if at_limit.join("cpuacct.usage").exists() {
                    Some(at_limit)
                } else {
                    own_and_ancestors(&acct, acct_path)
                        .into_iter()
                        .next()
                        .filter(|d| d.join("cpuacct.usage").exists())
                }
            };
            if let Some((cpus, dir)) = smallest_limit(&dirs, v1_limit, |d| acct_dir(d).is_some())
                && let Some(acct) = acct_dir(&dir)
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
    fn cgroup_v2_limit_is_found_in_the_process_own_cgroup() {
        let root = fixture("v2own");
        write(&root, "proc/self/cgroup", "0::/system.slice/shop.service\n");
        write(&root, "sys/fs/cgroup/cpu.stat", "usage_usec 1\n");
        let own = "sys/fs/cgroup/system.slice/shop.service";
        write(&root, &format!("{own}/cpu.max"), "50000 100000\n");
        write(&root, &format!("{own}/cpu.stat"), "usage_usec 1\n");
        write(&root, "sys/fs/cgroup/system.slice/cpu.max", "max 100000\n");
        let found = CpuSource::detect(&root);
        assert_eq!(
            found,
            CpuSource::CgroupV2 {
                dir: root.join(own),
                cpus: 0.5
            }
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn cgroup_v2_takes_the_smallest_limit_up_to_the_root() {
        let root = fixture("v2pod");
        write(&root, "proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
        let pod = "sys/fs/cgroup/kubepods/pod1";
        write(&root, &format!("{pod}/cpu.max"), "150000 100000\n");
        write(&root, &format!("{pod}/cpu.stat"), "usage_usec 1\n");
        write(&root, &format!("{pod}/ctr/cpu.max"), "max 100000\n");
        write(&root, &format!("{pod}/ctr/cpu.stat"), "usage_usec 1\n");
        write(&root, "sys/fs/cgroup/kubepods/cpu.max", "400000 100000\n");
        write(&root, "sys/fs/cgroup/kubepods/cpu.stat", "usage_usec 1\n");
        let found = CpuSource::detect(&root);
        assert_eq!(
            found,
            CpuSource::CgroupV2 {
                dir: root.join(pod),
                cpus: 1.5
            },
            "the pod's 1.5 CPUs, not the container's none or the parent's 4"
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn cgroup_v1_walks_up_from_the_process_own_cgroup() {
        let root = fixture("v1own");
        write(
            &root,
            "proc/self/cgroup",
            "5:memory:/x\n4:cpu,cpuacct:/kubepods/pod2/ctr\n",
        );
        let pod = "sys/fs/cgroup/cpu,cpuacct/kubepods/pod2";
        write(&root, &format!("{pod}/cpu.cfs_quota_us"), "25000\n");
        write(&root, &format!("{pod}/cpu.cfs_period_us"), "100000\n");
        write(&root, &format!("{pod}/cpuacct.usage"), "0\n");
        write(&root, &format!("{pod}/ctr/cpu.cfs_quota_us"), "-1\n");
        write(&root, &format!("{pod}/ctr/cpu.cfs_period_us"), "100000\n");
        write(&root, &format!("{pod}/ctr/cpuacct.usage"), "0\n");
        let found = CpuSource::detect(&root);
        assert_eq!(
            found,
            CpuSource::CgroupV1 {
                acct: root.join(pod),
                cpus: 0.25
            }
        );
        fs::remove_dir_all(root).unwrap();
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
