//! The grant arithmetic and lease refills against a real Redis, with time stepped by the
//! test (the scripts take the test's "now" instead of the Redis clock where noted).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sentinel_cluster::{Health, RedisBackend};
use sentinel_core::cluster::{ClusterConfig, ThresholdType};
use sentinel_core::flow::FlowRule;
use sentinel_core::{ManualClock, Sentinel};

/// A Unix time for the vectors, µs.
const T0: Duration = Duration::from_secs(1_800_000_000);

fn global_rule(resource: &str, flow_id: &str, threshold: f64, burst: Option<u64>) -> FlowRule {
    FlowRule {
        resource: resource.into(),
        threshold,
        cluster_mode: true,
        cluster_config: Some(ClusterConfig {
            flow_id: flow_id.into(),
            threshold_type: ThresholdType::Global,
            burst,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A shared "now" for the scripts of several backends.
#[derive(Clone)]
struct ScriptTime(Arc<AtomicU64>);

impl ScriptTime {
    fn new() -> Self {
        ScriptTime(Arc::new(AtomicU64::new(T0.as_micros() as u64)))
    }
    fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_micros() as u64, Ordering::SeqCst);
    }
}

/// An instance with a manually refilled backend on `url` whose scripts read `time`.
fn instance(url: &str, time: &ScriptTime, clock: ManualClock) -> (Sentinel, RedisBackend) {
    let t = time.0.clone();
    let backend = RedisBackend::builder(url)
        .manual_refill(true)
        .lease_expiry(Duration::from_secs(60))
        .script_clock(move || Duration::from_micros(t.load(Ordering::SeqCst)))
        .build()
        .unwrap();
    let sentinel = Sentinel::builder()
        .clock(clock)
        .cluster_backend(backend.clone())
        .build();
    (sentinel, backend)
}

fn offer(s: &Sentinel, resource: &str, n: usize) -> usize {
    (0..n)
        .filter(|_| s.entry(resource).try_enter().is_ok())
        .count()
}

#[tokio::test]
async fn the_grant_vectors_of_the_spec() {
    let Some(redis) = support::redis() else {
        return;
    };
    let backend = RedisBackend::builder(redis.url()).build().unwrap();
    // Rate 100/s (10,000 µs a token), burst 10: (at ms, want, refund) → (granted, left,
    // retry after µs); the last two give tokens back (a refund never fills past the burst).
    let vectors = [
        (0, 8, 0, (8, 2, 0)),
        (0, 8, 0, (2, 0, 10_000)),
        (10, 8, 0, (1, 0, 10_000)),
        (1000, 200, 0, (10, 0, 10_000)),
        (1000, 0, 4, (0, 4, 0)),
        (1000, 0, 50, (0, 10, 0)),
    ];
    for (ms, want, refund, (granted, left, retry_us)) in vectors {
        let at = Some(T0 + Duration::from_millis(ms));
        let g = backend
            .grant("vectors", 100.0, 10, want, refund, at)
            .await
            .unwrap();
        let what = format!("want {want}, refund {refund} at T0 + {ms} ms");
        assert_eq!((g.granted, g.left), (granted, left), "{what}: {g:?}");
        if want > 0 {
            assert_eq!(
                g.retry_after,
                Duration::from_micros(retry_us),
                "{what}: {g:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_script_is_loaded_again_after_a_script_flush() {
    let Some(redis) = support::redis() else {
        return;
    };
    let backend = RedisBackend::builder(redis.url()).build().unwrap();
    let now = Some(T0);
    assert_eq!(
        backend
            .grant("f", 10.0, 5, 1, 0, now)
            .await
            .unwrap()
            .granted,
        1
    );
    redis.command(&["SCRIPT", "FLUSH"]).unwrap();
    assert_eq!(
        backend
            .grant("f", 10.0, 5, 1, 0, now)
            .await
            .unwrap()
            .granted,
        1
    );
}

#[tokio::test]
async fn two_instances_share_the_burst_then_the_rate() {
    let Some(redis) = support::redis() else {
        return;
    };
    let time = ScriptTime::new();
    let (a, ba) = instance(&redis.url(), &time, ManualClock::new());
    let (b, bb) = instance(&redis.url(), &time, ManualClock::new());
    for s in [&a, &b] {
        s.load_flow_rules(vec![global_rule("pay", "pay", 100.0, Some(10))])
            .unwrap();
    }
    let mut total = 0;
    // t = 0: the burst, whoever asks.
    for _ in 0..3 {
        ba.refill_now().await;
        bb.refill_now().await;
        total += offer(&a, "pay", 20) + offer(&b, "pay", 20);
    }
    assert_eq!(ba.status().health, Health::Healthy);
    assert_eq!(total, 10, "together, the burst at t = 0");
    // The next second: one token per 10 ms.
    let mut more = 0;
    for _ in 0..100 {
        time.advance(Duration::from_millis(10));
        ba.refill_now().await;
        bb.refill_now().await;
        more += offer(&a, "pay", 5) + offer(&b, "pay", 5);
    }
    assert_eq!(more, 100, "together, the rate over the next second");
    assert!(a.entry("pay").try_enter().is_err() && b.entry("pay").try_enter().is_err());
    let (sa, sb) = (ba.status(), bb.status());
    assert_eq!(
        sa.tokens_granted + sb.tokens_granted,
        110,
        "every token granted was spent"
    );
    assert_eq!((sa.last_error, sa.redis_errors), (None, 0));
    assert!(sa.redis_latency.is_some());
    // B's first heartbeat came after A's: it saw both.
    assert_eq!(sb.live_instances, vec![("pay".to_string(), 2)]);
}

#[tokio::test]
async fn a_raised_threshold_applies_from_the_next_refill() {
    let Some(redis) = support::redis() else {
        return;
    };
    let time = ScriptTime::new();
    let (s, backend) = instance(&redis.url(), &time, ManualClock::new());
    s.load_flow_rules(vec![global_rule("r", "raise", 10.0, None)])
        .unwrap();
    let step = async || {
        time.advance(Duration::from_millis(100));
        backend.refill_now().await;
        let n = offer(&s, "r", 50);
        backend.refill_now().await;
        n + offer(&s, "r", 50)
    };
    step().await;
    assert_eq!(step().await, 1, "10/s: one token per 100 ms");
    s.load_flow_rules(vec![global_rule("r", "raise", 100.0, None)])
        .unwrap();
    assert_eq!(
        step().await,
        10,
        "100/s from the first refill after the change"
    );
}

#[tokio::test]
async fn instances_whose_clocks_are_five_seconds_apart_share_one_limit() {
    let Some(redis) = support::redis() else {
        return;
    };
    // The Redis server's clock decides; the instances' own clocks never reach Redis.
    let late = ManualClock::new();
    let early = ManualClock::new();
    early.advance(Duration::from_secs(5));
    let make = |clock: ManualClock| {
        let backend = RedisBackend::builder(redis.url())
            .manual_refill(true)
            .build()
            .unwrap();
        let s = Sentinel::builder()
            .clock(clock)
            .cluster_backend(backend.clone())
            .build();
        s.load_flow_rules(vec![global_rule("r", "clocks", 10.0, Some(5))])
            .unwrap();
        (s, backend)
    };
    let (a, ba) = make(late);
    let (b, bb) = make(early);
    let start = std::time::Instant::now();
    let mut total = 0;
    while start.elapsed() < Duration::from_millis(300) {
        ba.refill_now().await;
        bb.refill_now().await;
        total += offer(&a, "r", 3) + offer(&b, "r", 3);
    }
    let elapsed = start.elapsed().as_secs_f64();
    // At most the burst, the rate over the time spent, and the one-token leases.
    let bound = 5.0 + 10.0 * elapsed + 2.0;
    assert!(total >= 5, "{total}");
    assert!(total as f64 <= bound, "{total} admitted, bound {bound}");
}

#[tokio::test]
async fn unspent_tokens_of_an_expired_lease_are_refunded() {
    let Some(redis) = support::redis() else {
        return;
    };
    let time = ScriptTime::new();
    let t = time.0.clone();
    let backend = RedisBackend::builder(redis.url())
        .manual_refill(true)
        .lease_expiry(Duration::from_millis(30))
        .script_clock(move || Duration::from_micros(t.load(Ordering::SeqCst)))
        .build()
        .unwrap();
    let s = Sentinel::builder()
        .clock(ManualClock::new())
        .cluster_backend(backend.clone())
        .build();
    s.load_flow_rules(vec![global_rule("r", "refund", 100.0, Some(10))])
        .unwrap();
    backend.refill_now().await;
    assert_eq!(
        offer(&s, "r", 20),
        2,
        "the standing lease (a quarter of the burst), then refused: demand for the next"
    );
    backend.refill_now().await;
    assert_eq!(
        backend.status().tokens_granted,
        10,
        "the whole burst leased, 8 of it unspent"
    );
    // The Redis clock stands still; the lease expires in real time.
    let leased = std::time::Instant::now();
    support::wait_for(Duration::from_secs(2), || {
        leased.elapsed() > Duration::from_millis(40)
    });
    backend.refill_now().await;
    // The 8 unspent tokens went back to the bucket, and the standing 2 were leased again.
    let now = Some(Duration::from_micros(time.0.load(Ordering::SeqCst)));
    let g = backend
        .grant("refund", 100.0, 10, 100, 0, now)
        .await
        .unwrap();
    assert_eq!(g.granted, 6);
    assert_eq!(offer(&s, "r", 20), 2);
}
