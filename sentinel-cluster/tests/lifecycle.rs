//! The backend's life against a real Redis: starting (Connecting), attaching again,
//! serving one instance at a time, a Redis that answers PING but refuses scripts,
//! heartbeats with a long horizon, and the status after a flow id change.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use sentinel_cluster::{Health, RedisBackend};
use sentinel_core::cluster::{ClusterConfig, ThresholdType};
use sentinel_core::flow::FlowRule;
use sentinel_core::{ManualClock, Sentinel};
use support::wait_for;

fn rule(resource: &str, threshold: f64, flow_id: &str, fallback: Option<f64>) -> FlowRule {
    FlowRule {
        resource: resource.into(),
        threshold,
        cluster_mode: true,
        cluster_config: Some(ClusterConfig {
            flow_id: flow_id.into(),
            threshold_type: ThresholdType::Global,
            fallback_threshold: fallback,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn offer(s: &Sentinel, resource: &str, n: usize) -> usize {
    (0..n)
        .filter(|_| s.entry(resource).try_enter().is_ok())
        .count()
}

fn manual(url: &str) -> RedisBackend {
    RedisBackend::builder(url)
        .manual_refill(true)
        .build()
        .unwrap()
}

fn instance(backend: &RedisBackend) -> Sentinel {
    Sentinel::builder()
        .clock(ManualClock::new())
        .cluster_backend(backend.clone())
        .build()
}

#[tokio::test]
async fn a_starting_instance_admits_only_granted_tokens_until_a_real_failure() {
    let Some(redis) = support::redis() else {
        return;
    };
    let backend = manual(&redis.url());
    let s = instance(&backend);
    s.load_flow_rules(vec![rule("r", 1000.0, "start", None)])
        .unwrap();
    assert_eq!(backend.status().health, Health::Connecting);
    assert_eq!(offer(&s, "r", 2000), 0, "no whole threshold of its own");
    backend.refill_now().await;
    assert_eq!(backend.status().health, Health::Healthy);
    let admitted = offer(&s, "r", 2000);
    let granted = backend.status().tokens_granted as usize;
    assert!(
        admitted > 0 && admitted == granted,
        "{admitted} of {granted}"
    );

    // Redis that never answers: Connecting until the failures degrade it.
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = manual(&format!("redis://{}/", hole.local_addr().unwrap()));
    let s = instance(&dead);
    s.load_flow_rules(vec![rule("r", 1000.0, "start", Some(7.0))])
        .unwrap();
    dead.refill_now().await;
    assert_eq!(dead.status().health, Health::Connecting, "one failure");
    assert_eq!(offer(&s, "r", 100), 0);
    dead.refill_now().await;
    assert_eq!(dead.status().health, Health::Degraded);
    assert_eq!(offer(&s, "r", 100), 7, "the fallback after real failures");
}

#[test]
fn a_backend_attached_again_after_its_instance_was_dropped_or_shut_down_refills() {
    let Some(redis) = support::redis() else {
        return;
    };
    let backend = RedisBackend::builder(redis.url()).build().unwrap();
    let serves = |s: &Sentinel| {
        s.load_flow_rules(vec![rule("r", 1000.0, "again", Some(0.0))])
            .unwrap();
        wait_for(Duration::from_secs(5), || offer(s, "r", 1) == 1).is_some()
    };
    let first = Sentinel::builder().cluster_backend(backend.clone()).build();
    assert!(serves(&first));
    drop(first);
    // The task ends once its instance is gone: no lease calls for a second.
    assert!(
        wait_for(Duration::from_secs(5), || backend
            .status()
            .leases_per_second
            == 0)
        .is_some()
    );
    let second = Sentinel::builder().cluster_backend(backend.clone()).build();
    assert!(serves(&second), "refilled after the instance was dropped");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(backend.shutdown());
    assert_eq!(backend.status().health, Health::Degraded);
    let third = Sentinel::builder().cluster_backend(backend.clone()).build();
    assert!(serves(&third), "refilled after a shutdown");
    assert_eq!(backend.status().health, Health::Healthy);
}

#[tokio::test]
async fn a_backend_serves_the_last_instance_and_the_one_before_limits_locally() {
    let Some(redis) = support::redis() else {
        return;
    };
    let backend = manual(&redis.url());
    let first = instance(&backend);
    first
        .load_flow_rules(vec![rule("r", 1000.0, "two", Some(5.0))])
        .unwrap();
    let second = instance(&backend);
    second
        .load_flow_rules(vec![rule("r", 1000.0, "two", Some(5.0))])
        .unwrap();
    backend.refill_now().await;
    assert_eq!(offer(&first, "r", 50), 5, "detached: its local fallback");
    assert!(
        offer(&second, "r", 50) > 0,
        "the last one spends leased tokens"
    );
}

#[test]
fn a_redis_that_answers_ping_but_refuses_scripts_stays_degraded() {
    let Some(redis) = support::redis() else {
        return;
    };
    let backend = RedisBackend::builder(redis.url()).build().unwrap();
    let s = Sentinel::builder().cluster_backend(backend.clone()).build();
    s.load_flow_rules(vec![rule("r", 1000.0, "replica", Some(3.0))])
        .unwrap();
    let health = || backend.status().health;
    assert!(wait_for(Duration::from_secs(5), || health() == Health::Healthy).is_some());
    let cases: [(&[&str], &[&str]); 2] = [
        (
            &["REPLICAOF", "127.0.0.1", "1"],
            &["REPLICAOF", "NO", "ONE"],
        ),
        (
            &["CONFIG", "SET", "maxmemory", "1"],
            &["CONFIG", "SET", "maxmemory", "0"],
        ),
    ];
    for (set, reset) in cases {
        redis.command(set).unwrap();
        assert!(
            wait_for(Duration::from_secs(5), || health() == Health::Degraded).is_some(),
            "{set:?}"
        );
        // Probes (every 50 to 500 ms) answer PING but fail their scripts.
        assert!(
            wait_for(Duration::from_millis(1500), || health() != Health::Degraded).is_none(),
            "{set:?}: no flapping"
        );
        assert!(offer(&s, "r", 100) <= 3, "the fallback limits");
        redis.command(reset).unwrap();
        assert!(wait_for(Duration::from_secs(5), || health() == Health::Healthy).is_some());
    }
}

#[test]
fn heartbeats_keep_their_cadence_with_a_long_horizon() {
    let Some(redis) = support::redis() else {
        return;
    };
    let backend = RedisBackend::builder(redis.url())
        .lease_horizon(Duration::from_secs(20))
        .instance_id("slow")
        .build()
        .unwrap();
    let s = Sentinel::builder().cluster_backend(backend.clone()).build();
    s.load_flow_rules(vec![rule("r", 1000.0, "long", None)])
        .unwrap();
    let score = || match redis.command(&["ZSCORE", "{8:sentinel:long}:members", "slow"]) {
        Ok(redis::Value::BulkString(b)) => String::from_utf8(b).unwrap().parse::<u64>().ok(),
        _ => None,
    };
    assert!(wait_for(Duration::from_secs(5), || score().is_some()).is_some());
    let first = score().unwrap();
    // Within the 3 s live window, whatever the horizon.
    assert!(
        wait_for(Duration::from_millis(2500), || score()
            .is_some_and(|s| s > first))
        .is_some(),
        "a second heartbeat within the live window"
    );
}

#[tokio::test]
async fn the_status_forgets_flow_ids_no_rule_names() {
    let Some(redis) = support::redis() else {
        return;
    };
    let backend = manual(&redis.url());
    let s = instance(&backend);
    s.load_flow_rules(vec![rule("r", 1000.0, "old", None)])
        .unwrap();
    backend.refill_now().await;
    let ids = || {
        backend
            .status()
            .live_instances
            .into_iter()
            .map(|(id, _)| id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(), ["old"]);
    s.load_flow_rules(vec![rule("r", 1000.0, "new", None)])
        .unwrap();
    backend.refill_now().await;
    assert!(!ids().contains(&"old".to_string()), "{:?}", ids());
}

#[tokio::test]
async fn prefixes_and_flow_ids_never_share_a_bucket_by_their_separator() {
    let Some(redis) = support::redis() else {
        return;
    };
    let with_prefix = |prefix: &str| {
        RedisBackend::builder(redis.url())
            .key_prefix(prefix)
            .build()
            .unwrap()
    };
    let (a, b) = (with_prefix("app1:eu"), with_prefix("app1"));
    let take = |backend: RedisBackend, flow_id: &'static str| async move {
        backend
            .grant(flow_id, 1.0, 5, 5, 0, None)
            .await
            .unwrap()
            .granted
    };
    assert_eq!(take(a, "checkout").await, 5);
    assert_eq!(take(b, "eu:checkout").await, 5, "a bucket of its own");
}

#[tokio::test]
async fn the_highest_rates_grant_every_token_with_a_burst_of_one() {
    let Some(redis) = support::redis() else {
        return;
    };
    let backend = RedisBackend::builder(redis.url()).build().unwrap();
    // Near 1.8e15 µs a double holds a quarter µs: sub-µs parts of the spacing used to
    // vanish (a grant of 0 every time at the highest rates).
    let t0 = Duration::from_secs(1_800_000_000);
    let max = sentinel_core::cluster::MAX_CLUSTER_RATE_PER_SEC;
    for rate in [max, max * 0.3, max * 0.7] {
        let step = Duration::from_micros((1e6 / rate).ceil() as u64);
        let flow_id = format!("fast-{rate}");
        let mut granted = 0;
        for i in 0..100 {
            let now = Some(t0 + step * i);
            granted += backend
                .grant(&flow_id, rate, 1, 1, 0, now)
                .await
                .unwrap()
                .granted;
        }
        assert_eq!(granted, 100, "{rate}/s: one token a step");
    }
}

#[tokio::test]
async fn a_quiet_lease_holds_a_share_of_the_burst() {
    let Some(redis) = support::redis() else {
        return;
    };
    let backend = manual(&redis.url());
    let s = instance(&backend);
    // Burst: a fifth of 1000; a quarter of it for the only instance.
    s.load_flow_rules(vec![rule("r", 1000.0, "quiet", None)])
        .unwrap();
    backend.refill_now().await;
    assert_eq!(offer(&s, "r", 100), 50, "the first entries pass at once");
}

#[test]
fn a_replaced_backend_stops_refilling_and_heartbeating() {
    let Some(redis) = support::redis() else {
        return;
    };
    let backend = |id: &str| {
        RedisBackend::builder(redis.url())
            .instance_id(id)
            .build()
            .unwrap()
    };
    let (a, b) = (backend("a"), backend("b"));
    let s = Sentinel::builder().cluster_backend(a.clone()).build();
    s.load_flow_rules(vec![rule("r", 1000.0, "replaced", None)])
        .unwrap();
    assert!(wait_for(Duration::from_secs(5), || a.status().leases_per_second > 0).is_some());
    s.attach_cluster(b.clone());
    assert!(
        wait_for(Duration::from_secs(5), || a.status().leases_per_second == 0).is_some(),
        "the replaced backend stopped its lease calls"
    );
    let beat = || match redis.command(&["ZSCORE", "{8:sentinel:replaced}:members", "a"]) {
        Ok(redis::Value::BulkString(b)) => String::from_utf8(b).unwrap().parse::<u64>().ok(),
        _ => None,
    };
    let last = beat();
    assert!(
        wait_for(Duration::from_millis(1500), || beat() != last).is_none(),
        "and its heartbeats"
    );
    // Once what the first one leased is spent, the new one leases.
    let serves = wait_for(Duration::from_secs(5), || {
        offer(&s, "r", 100);
        b.status().tokens_granted > 0
    });
    assert!(serves.is_some(), "the new one serves");
}
