//! Memory stays bounded, in values and in bytes: one million distinct 1 KB values, then
//! 4,000 distinct 100 KB values (what a client sending made-up headers can do), through
//! one hot-parameter rule tracking up to 20,000 values. Prints the values
//! tracked and the growth of the process's resident memory (Linux: /proc/self/status).
//!
//! A value longer than 64 bytes is kept as a 128-bit keyed digest, so the rule holds at
//! most about 200 bytes per value whatever the values' sizes.
//!
//! ```text
//! cargo run --release --example hotspot_memory
//! ```

use sentinel_core::hotspot::{HotspotRule, MetricType};
use sentinel_core::{ManualClock, Sentinel};

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Sends `count` distinct values of `size` bytes and prints what the rule holds.
fn flood(sentinel: &Sentinel, count: u64, size: usize) {
    let before = rss_kib();
    let mut value = vec![b'v'; size];
    for i in 0..count {
        // Each value differs in its first 8 bytes and owns its own allocation, as a header
        // value taken from a request does.
        value[..8].copy_from_slice(&i.to_be_bytes());
        let text = String::from_utf8_lossy(&value).into_owned();
        drop(sentinel.entry("GET /search").arg(text).try_enter());
    }
    let after = rss_kib();
    println!(
        "{count} distinct values of {size} bytes ({:.0} MiB sent): values tracked {:?}",
        mib(count * size as u64 / 1024),
        sentinel.hotspot_tracked_values("GET /search")
    );
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "  resident memory {:.1} MiB -> {:.1} MiB, grew {:.1} MiB",
            mib(b),
            mib(a),
            mib(a.saturating_sub(b))
        ),
        _ => println!("  resident memory: not available on this platform"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sentinel = Sentinel::builder().clock(ManualClock::new()).build();
    sentinel.load_hotspot_rules(vec![HotspotRule {
        resource: "GET /search".into(),
        metric_type: MetricType::Qps,
        threshold: 5,
        params_max_capacity: 20_000,
        ..Default::default()
    }])?;
    flood(&sentinel, 1_000_000, 1024);
    flood(&sentinel, 4_000, 100 * 1024);
    Ok(())
}
