//! Cluster flow rules against a backend the test drives by hand, on a manual clock.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::*;
use crate::flow::{ControlBehavior, FlowRule, RelationStrategy, TokenCalculateStrategy};
use crate::{BlockType, ManualClock, Sentinel};

/// A backend whose leases the test fills and whose state it sets.
#[derive(Debug, Default, Clone)]
struct HandBackend {
    leases: Arc<Mutex<Option<ClusterLeases>>>,
}

impl ClusterBackend for HandBackend {
    fn attach(&self, leases: ClusterLeases) {
        *self.leases.lock() = Some(leases);
    }
    fn state(&self) -> LeaseState {
        LeaseState::Healthy
    }
}

impl HandBackend {
    fn lease(&self, flow_id: &str) -> Arc<ClusterLease> {
        let leases = self.leases.lock().clone().expect("attached");
        leases
            .leases()
            .into_iter()
            .find(|l| l.flow_id() == flow_id)
            .expect("a lease for the flow id")
    }
}

fn cluster_rule(resource: &str, threshold: f64, config: ClusterConfig) -> FlowRule {
    FlowRule {
        resource: resource.into(),
        threshold,
        cluster_mode: true,
        cluster_config: Some(config),
        ..Default::default()
    }
}

fn global(flow_id: &str) -> ClusterConfig {
    ClusterConfig {
        flow_id: flow_id.into(),
        threshold_type: ThresholdType::Global,
        ..Default::default()
    }
}

fn admitted(s: &Sentinel, resource: &str, tries: usize) -> usize {
    (0..tries)
        .filter(|_| s.entry(resource).try_enter().is_ok())
        .count()
}

fn with_backend() -> (ManualClock, Sentinel, HandBackend) {
    let clock = ManualClock::new();
    let backend = HandBackend::default();
    let s = Sentinel::builder()
        .clock(clock.clone())
        .cluster_backend(backend.clone())
        .build();
    (clock, s, backend)
}

#[test]
fn cluster_fields_read_java_integers_names_and_numeric_flow_ids() {
    let rules: Vec<FlowRule> = serde_json::from_str(
        r#"[{"resource": "POST /checkout", "threshold": 1000, "clusterMode": true,
             "clusterConfig": {"flowId": 111, "thresholdType": 1,
                               "fallbackToLocalWhenFail": false, "fallbackThreshold": 250,
                               "burst": 50}},
            {"resource": "r", "threshold": 10, "clusterMode": true,
             "clusterConfig": {"flowId": "orders", "thresholdType": "AvgLocal"}}]"#,
    )
    .unwrap();
    let c = rules[0].cluster_config.as_ref().unwrap();
    assert_eq!(c.flow_id, "111");
    assert_eq!(c.threshold_type, ThresholdType::Global);
    assert!(!c.fallback_to_local_when_fail);
    assert_eq!((c.fallback_threshold, c.burst), (Some(250.0), Some(50)));
    let d = rules[1].cluster_config.as_ref().unwrap();
    assert_eq!(d.threshold_type, ThresholdType::AvgLocal);
    assert!(d.fallback_to_local_when_fail, "defaults to true");
    // Written back with Java's integers, and read again unchanged.
    let text = serde_json::to_string(&rules).unwrap();
    assert!(text.contains(r#""thresholdType":1"#), "{text}");
    assert_eq!(serde_json::from_str::<Vec<FlowRule>>(&text).unwrap(), rules);
    // A local rule writes no cluster fields.
    let local = serde_json::to_string(&FlowRule::default()).unwrap();
    assert!(!local.contains("cluster"), "{local}");
    let e = serde_json::from_str::<ClusterConfig>(r#"{"flowId": 1.5}"#).unwrap_err();
    assert!(e.to_string().contains("flow id"), "{e}");
}

#[test]
fn validation_names_the_cluster_field_at_fault() {
    let ok = cluster_rule("r", 10.0, global("f"));
    assert_eq!(ok.validate(), Ok(()));
    let field = |r: FlowRule| r.validate().unwrap_err().field;
    assert_eq!(
        field(FlowRule {
            cluster_config: None,
            ..ok.clone()
        }),
        "clusterConfig"
    );
    assert_eq!(
        field(cluster_rule("r", 10.0, global(" "))),
        "clusterConfig.flowId"
    );
    assert_eq!(
        field(FlowRule {
            control_behavior: ControlBehavior::Throttling,
            max_queueing_time_ms: 10,
            ..ok.clone()
        }),
        "controlBehavior"
    );
    assert_eq!(
        field(FlowRule {
            token_calculate_strategy: TokenCalculateStrategy::WarmUp,
            warm_up_period_sec: 10,
            ..ok.clone()
        }),
        "tokenCalculateStrategy"
    );
    assert_eq!(
        field(FlowRule {
            relation_strategy: RelationStrategy::AssociatedResource,
            ref_resource: "other".into(),
            ..ok.clone()
        }),
        "relationStrategy"
    );
    let burst = ClusterConfig {
        burst: Some(0),
        ..global("f")
    };
    assert_eq!(field(cluster_rule("r", 10.0, burst)), "clusterConfig.burst");
    let fallback = ClusterConfig {
        fallback_threshold: Some(-1.0),
        ..global("f")
    };
    assert_eq!(
        field(cluster_rule("r", 10.0, fallback)),
        "clusterConfig.fallbackThreshold"
    );
    // Cluster fields without clusterMode are inert, as in Java.
    let inert = FlowRule {
        cluster_mode: false,
        cluster_config: Some(global("")),
        ..ok
    };
    assert_eq!(inert.validate(), Ok(()));
    let s = Sentinel::new();
    let e = s
        .load_flow_rules(vec![cluster_rule("r", 1.0, global(""))])
        .unwrap_err();
    assert!(e.to_string().contains("clusterConfig.flowId"), "{e}");
}

#[test]
fn without_a_backend_a_cluster_rule_limits_locally_at_its_fallback_threshold() {
    let clock = ManualClock::new();
    let s = Sentinel::builder().clock(clock.clone()).build();
    let fallback = ClusterConfig {
        fallback_threshold: Some(5.0),
        ..global("a")
    };
    s.load_flow_rules(vec![
        cluster_rule("a", 100.0, fallback),
        cluster_rule("b", 7.0, global("b")),
    ])
    .unwrap();
    assert_eq!(admitted(&s, "a", 50), 5);
    assert_eq!(
        admitted(&s, "b", 50),
        7,
        "Global without live instances: the threshold"
    );
    let e = s.entry("a").try_enter().unwrap_err();
    assert_eq!(e.block_type(), BlockType::Flow);
    assert!(e.retry_after().is_some());
    clock.advance(Duration::from_secs(1));
    assert_eq!(admitted(&s, "a", 50), 5);
}

#[test]
fn a_healthy_lease_admits_exactly_its_tokens_and_counts_demand() {
    let (_clock, s, backend) = with_backend();
    s.load_flow_rules(vec![cluster_rule("r", 1000.0, global("f"))])
        .unwrap();
    let lease = backend.lease("f");
    assert_eq!(lease.state(), LeaseState::Healthy);
    assert_eq!(admitted(&s, "r", 5), 0, "no tokens leased yet");
    lease.add_tokens(3);
    lease.set_retry_after(Duration::from_millis(7));
    assert_eq!(admitted(&s, "r", 10), 3);
    let e = s.entry("r").try_enter().unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_millis(7)));
    assert_eq!(lease.take_demand(), 16, "admitted and refused alike");
    assert_eq!(lease.take_demand(), 0);
    // A batch larger than the lease takes nothing.
    lease.add_tokens(2);
    assert!(s.entry("r").batch(3).try_enter().is_err());
    assert_eq!(lease.tokens(), 2);
    assert_eq!(lease.take_tokens(10), 2, "expired tokens are taken back");
    assert_eq!(lease.tokens(), 0);
}

#[test]
fn a_degraded_lease_limits_at_the_fallback_share_or_passes_when_told_to() {
    let (clock, s, backend) = with_backend();
    let open = ClusterConfig {
        fallback_to_local_when_fail: false,
        ..global("open")
    };
    s.load_flow_rules(vec![
        cluster_rule("r", 100.0, global("f")),
        cluster_rule("o", 100.0, open),
    ])
    .unwrap();
    let lease = backend.lease("f");
    lease.set_live_instances(4);
    lease.set_state(LeaseState::Degraded);
    assert_eq!(lease.fallback_threshold(), 25.0);
    assert_eq!(admitted(&s, "r", 100), 25, "100 / 4 live instances");
    assert_eq!(lease.take_fallback_admissions(), 25);
    clock.advance(Duration::from_secs(1));
    lease.set_live_instances(2);
    assert_eq!(admitted(&s, "r", 100), 50);
    // Healthy again: the lease decides (it is empty).
    lease.set_state(LeaseState::Healthy);
    assert_eq!(admitted(&s, "r", 10), 0);
    let open = backend.lease("open");
    open.set_state(LeaseState::Degraded);
    assert_eq!(
        admitted(&s, "o", 500),
        500,
        "fallbackToLocalWhenFail: false passes"
    );
}

#[test]
fn a_refusal_by_a_later_check_gives_the_tokens_back() {
    let (_clock, s, backend) = with_backend();
    s.load_flow_rules(vec![cluster_rule("r", 1000.0, global("f"))])
        .unwrap();
    s.load_isolation_rules(vec![crate::isolation::IsolationRule {
        resource: "r".into(),
        threshold: 1,
        ..Default::default()
    }])
    .unwrap();
    let lease = backend.lease("f");
    lease.add_tokens(5);
    let held = s.entry("r").try_enter().unwrap();
    assert_eq!(
        s.entry("r").try_enter().unwrap_err().block_type(),
        BlockType::Isolation
    );
    assert_eq!(lease.tokens(), 4, "only the admitted entry spent a token");
    drop(held);
}

#[test]
fn a_reloaded_rule_keeps_its_lease_and_updates_its_limits() {
    let (_clock, s, backend) = with_backend();
    s.load_flow_rules(vec![cluster_rule("r", 100.0, global("f"))])
        .unwrap();
    let lease = backend.lease("f");
    lease.add_tokens(9);
    s.load_flow_rules(vec![cluster_rule("r", 300.0, global("f"))])
        .unwrap();
    let again = backend.lease("f");
    assert!(Arc::ptr_eq(&lease, &again));
    assert_eq!(again.spec().threshold, 300.0);
    assert_eq!(again.tokens(), 9, "tokens already leased stay");
    s.load_flow_rules(vec![]).unwrap();
    let leases = backend.leases.lock().clone().unwrap();
    drop((lease, again));
    assert!(leases.leases().is_empty(), "a removed rule's lease is gone");
}

#[test]
fn the_spec_computes_rates_bursts_and_fallbacks() {
    let spec = ClusterSpec {
        flow_id: "f".into(),
        threshold: 100.0,
        interval_ms: 500,
        threshold_type: ThresholdType::AvgLocal,
        burst: None,
        fallback_threshold: None,
        fallback_to_local_when_fail: true,
    };
    assert_eq!(spec.fleet_rate_per_sec(3), 600.0);
    assert_eq!(
        spec.burst(3),
        60,
        "a fifth of the threshold, per live instance"
    );
    assert_eq!(spec.fallback_threshold(3), 100.0);
    let global = ClusterSpec {
        threshold_type: ThresholdType::Global,
        ..spec
    };
    assert_eq!(global.fleet_rate_per_sec(3), 200.0);
    assert_eq!(global.burst(3), 20);
    assert_eq!(global.fallback_threshold(4), 25.0);
    assert_eq!(global.fallback_threshold(0), 100.0);
}

#[test]
fn a_connecting_lease_spends_leased_tokens_only() {
    let clock = ManualClock::new();
    let backend = StateBackend(LeaseState::Connecting, HandBackend::default());
    let s = Sentinel::builder()
        .clock(clock.clone())
        .cluster_backend(backend.clone())
        .build();
    s.load_flow_rules(vec![cluster_rule("r", 100.0, global("f"))])
        .unwrap();
    let lease = backend.1.lease("f");
    assert_eq!(lease.state(), LeaseState::Connecting);
    assert_eq!(
        admitted(&s, "r", 100),
        0,
        "no fallback of its own before the first grant"
    );
    lease.add_tokens(4);
    assert_eq!(admitted(&s, "r", 100), 4);
}

/// A backend whose leases start in a given state.
#[derive(Debug, Clone)]
struct StateBackend(LeaseState, HandBackend);

impl ClusterBackend for StateBackend {
    fn attach(&self, leases: ClusterLeases) {
        self.1.attach(leases);
    }
    fn state(&self) -> LeaseState {
        self.0
    }
}

#[test]
fn a_replaced_backend_loses_the_leases_and_a_detached_one_leaves_them_local() {
    let (_clock, s, first) = with_backend();
    s.load_flow_rules(vec![cluster_rule(
        "r",
        1000.0,
        ClusterConfig {
            fallback_threshold: Some(3.0),
            ..global("f")
        },
    )])
    .unwrap();
    let old = first.leases.lock().clone().unwrap();
    assert!(old.is_alive());
    let second = HandBackend::default();
    s.attach_cluster(second.clone());
    assert!(!old.is_alive(), "the replaced backend's leases are stale");
    assert!(
        old.leases().is_empty(),
        "so it refills and heartbeats nothing"
    );
    old.detach();
    let lease = second.lease("f");
    assert_eq!(
        lease.state(),
        LeaseState::Healthy,
        "a stale detach does nothing"
    );
    let current = second.leases.lock().clone().unwrap();
    assert!(current.same_attachment(&current.clone()) && !current.same_attachment(&old));
    current.detach();
    assert_eq!(lease.state(), LeaseState::NoBackend);
    assert!(!current.is_alive());
    assert_eq!(admitted(&s, "r", 10), 3, "the local fallback");
    s.load_flow_rules(vec![cluster_rule("other", 1000.0, global("g"))])
        .unwrap();
    assert!(
        current.leases().is_empty(),
        "the instance forgot the backend"
    );
}

/// A later check that makes the lease healthy, then refuses the entry.
struct FlipThenRefuse(Arc<Mutex<Option<Arc<ClusterLease>>>>);

impl crate::pipeline::Check for FlipThenRefuse {
    fn order(&self) -> u32 {
        crate::pipeline::ORDER_FLOW + 1
    }
    fn check(&self, ctx: &crate::pipeline::CheckContext<'_>) -> crate::pipeline::Verdict {
        let Some(lease) = self.0.lock().clone() else {
            return crate::pipeline::Verdict::Pass;
        };
        lease.set_state(LeaseState::Healthy);
        crate::pipeline::Verdict::Block(crate::BlockError::new(
            BlockType::Custom(1),
            ctx.resource_arc(),
            "refused",
        ))
    }
}

#[test]
fn a_refused_entry_gives_back_along_the_route_it_took() {
    let (clock, s, backend) = with_backend();
    s.load_flow_rules(vec![cluster_rule(
        "r",
        1000.0,
        ClusterConfig {
            fallback_threshold: Some(2.0),
            ..global("f")
        },
    )])
    .unwrap();
    let lease = backend.lease("f");
    let flip = Arc::new(Mutex::new(None));
    s.add_check(Arc::new(FlipThenRefuse(flip.clone())));
    lease.set_state(LeaseState::Degraded);
    *flip.lock() = Some(lease.clone());
    for _ in 0..5 {
        lease.set_state(LeaseState::Degraded);
        assert!(s.entry("r").try_enter().is_err());
        assert_eq!(
            lease.tokens(),
            0,
            "the local pass is given back to the window"
        );
    }
    // The local window got its passes back: both fallback passes are free.
    *flip.lock() = None;
    lease.set_state(LeaseState::Degraded);
    clock.advance(Duration::from_millis(1));
    assert_eq!(admitted(&s, "r", 10), 2);
    // A lease token taken, then refused: given back to the lease.
    lease.set_state(LeaseState::Healthy);
    lease.add_tokens(1);
    *flip.lock() = Some(lease.clone());
    assert!(s.entry("r").try_enter().is_err());
    assert_eq!(lease.tokens(), 1);
}

#[test]
fn rules_sharing_a_flow_id_must_agree_on_its_limits() {
    let s = Sentinel::new();
    let same = vec![
        cluster_rule("a", 100.0, global("f")),
        cluster_rule("b", 100.0, global("f")),
        cluster_rule("c", 5.0, global("g")),
    ];
    assert_eq!(s.load_flow_rules(same), Ok(()));
    let avg = ClusterConfig {
        threshold_type: ThresholdType::AvgLocal,
        ..global("f")
    };
    let burst = ClusterConfig {
        burst: Some(3),
        ..global("f")
    };
    for other in [
        cluster_rule("b", 200.0, global("f")),
        cluster_rule("b", 100.0, avg),
        cluster_rule("b", 100.0, burst),
    ] {
        let e = s
            .load_flow_rules(vec![cluster_rule("a", 100.0, global("f")), other])
            .unwrap_err();
        let bad = &e.errors()[0];
        assert_eq!((bad.index, bad.error.field), (1, "clusterConfig.flowId"));
        assert!(bad.error.reason.contains("#0"), "{e}");
    }
}

#[test]
fn flow_ids_and_rates_are_bounded() {
    let field = |r: FlowRule| r.validate().unwrap_err().field;
    let long = "x".repeat(MAX_FLOW_ID_BYTES + 1);
    assert_eq!(
        field(cluster_rule("r", 10.0, global(&long))),
        "clusterConfig.flowId"
    );
    let longest = "x".repeat(MAX_FLOW_ID_BYTES);
    assert_eq!(cluster_rule("r", 10.0, global(&longest)).validate(), Ok(()));
    assert_eq!(
        cluster_rule("r", MAX_CLUSTER_RATE_PER_SEC, global("f")).validate(),
        Ok(())
    );
    assert_eq!(field(cluster_rule("r", 1e7, global("f"))), "threshold");
    let per_100ms = FlowRule {
        stat_interval_in_ms: 100,
        ..cluster_rule("r", MAX_CLUSTER_RATE_PER_SEC / 5.0, global("f"))
    };
    assert_eq!(field(per_100ms), "threshold", "the rate counts per second");
}
