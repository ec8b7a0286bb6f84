//! A simulated shop: most item ids are requested a few times a second, a handful of hot
//! ones hundreds of times. A hot-parameter rule limits every item id to 20 requests a
//! second (with a burst of 10), except the flagship item, which may take 200. The hot items
//! get limited; the long tail passes untouched.
//!
//! ```text
//! cargo run --release --example hotspot
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use sentinel_core::hotspot::{HotspotRule, MetricType};
use sentinel_core::{ManualClock, ParamValue, Sentinel, TrafficType};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A manual clock lets the example replay 5 seconds of traffic instantly.
    let clock = ManualClock::new();
    let sentinel = Sentinel::builder().clock(clock.clone()).build();
    sentinel.load_hotspot_rules(vec![HotspotRule {
        id: "per-item".into(),
        resource: "GET /items/{id}".into(),
        metric_type: MetricType::Qps,
        param_index: 0,
        threshold: 20,
        burst_count: 10,
        duration_in_sec: 1,
        specific_items: [(ParamValue::from("flagship-phone"), 200)]
            .into_iter()
            .collect(),
        ..Default::default()
    }])?;

    // Requests per second per item: three hot items and a long tail of 2,000.
    let hot = [
        ("flagship-phone", 300u32),
        ("limited-sneaker", 150),
        ("viral-mug", 80),
    ];
    let tail: Vec<String> = (0..2000).map(|i| format!("item-{i:04}")).collect();

    let mut passed: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let (mut tail_pass, mut tail_block) = (0u32, 0u32);
    for second in 0..5 {
        // Interleave the traffic over the second in 1 ms steps.
        for ms in 0..1000u32 {
            for (item, rate) in hot {
                if ms % (1000 / rate) == 0 {
                    let ok = sentinel
                        .entry("GET /items/{id}")
                        .traffic(TrafficType::Inbound)
                        .arg(item)
                        .try_enter()
                        .is_ok();
                    let e = passed.entry(format!("{second}s {item}")).or_default();
                    if ok { e.0 += 1 } else { e.1 += 1 }
                }
            }
            // Each tail item is asked for 3 times a second.
            for item in tail.iter().skip((ms % 334) as usize * 6).take(6) {
                match sentinel
                    .entry("GET /items/{id}")
                    .arg(item.as_str())
                    .try_enter()
                {
                    Ok(_) => tail_pass += 1,
                    Err(_) => tail_block += 1,
                }
            }
            clock.advance(Duration::from_millis(1));
        }
    }
    println!("{:<24} {:>7} {:>8}", "second / item", "passed", "blocked");
    for (k, (p, b)) in &passed {
        println!("{k:<24} {p:>7} {b:>8}");
    }
    println!(
        "long tail ({} items): {tail_pass} passed, {tail_block} blocked",
        tail.len()
    );
    println!(
        "values tracked by the rule: {:?}",
        sentinel.hotspot_tracked_values("GET /items/{id}")
    );
    Ok(())
}
